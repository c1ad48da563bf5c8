"""The JSON Schema of a build config, for editors (``a2q schema``).

Generated from the config dataclasses (:mod:`flow.config`) by pydantic, with what the loader
checks added: unknown keys are errors (``additionalProperties: false``) and numbers lie in
their key's range (``minimum`` / ``maximum`` from the same table the loader uses). The
cross-checks between keys (layer names, folding divisors, feasible P) stay the loader's: an
editor flags the typos and ranges, ``a2q run`` the rest. ``configs/a2q-config.schema.json``
is this schema, kept equal to it by a test; a YAML file names it with
``# yaml-language-server: $schema=<path to it>``.
"""

from __future__ import annotations

from typing import Any

from flow.config import RANGES, BuildConfig

SCHEMA_FILE = "configs/a2q-config.schema.json"


def config_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a build config YAML file."""
    from pydantic import TypeAdapter

    schema = TypeAdapter(BuildConfig).json_schema()
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": "a2q-flow build config",
    }
    schema.pop("required", None)  # name: the file's stem when left out
    for node in (schema, *schema["$defs"].values()):
        node["additionalProperties"] = False
    for path, (lo, hi) in RANGES.items():
        for branch in _numbers(_property(schema, path)):
            branch["minimum"], branch["maximum"] = lo, hi
    return schema


def _resolve(schema: dict, node: dict) -> dict:
    ref = node.get("$ref")
    return schema["$defs"][ref.rsplit("/", 1)[1]] if ref else node


def _property(schema: dict, path: str) -> dict:
    """The schema node of a range table key path (``quant.layers.*.acc_bits``,
    ``model.hidden[]``)."""
    node = schema
    for part in path.split("."):
        node = _resolve(schema, node)
        items = part.endswith("[]")
        if part == "*":  # any key of a mapping
            node = node["additionalProperties"]
            continue
        node = node["properties"][part.removesuffix("[]")]
        if items:
            node = node["items"]
    return node


def _numbers(node: dict) -> list[dict]:
    """The integer / number branches of a node (one, or those of an ``anyOf``)."""
    branches = node.get("anyOf", [node])
    return [b for b in branches if b.get("type") in ("integer", "number")]
