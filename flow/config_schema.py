"""The JSON Schema of a build config, for editors (``a2q schema``).

Generated from the config dataclasses (:mod:`flow.config`) by pydantic, with what the loader
checks added: unknown keys are errors (``additionalProperties: false``) and numbers lie in
their key's range (``minimum`` / ``maximum`` from the same table the loader uses). The
cross-checks between keys (layer names, folding divisors, feasible P) stay the loader's: an
editor flags the typos and ranges, ``a2q run`` the rest. ``configs/a2q-config.schema.json``
is this schema, kept equal to it by a test; a YAML file names it with
``# yaml-language-server: $schema=<path to it>``. :func:`config_reference` renders the same
schema as a Markdown table for people (``a2q config``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

from flow.config import RANGES, BuildConfig, to_dict
from flow.sources import CONFIG_DIR

SCHEMA_FILE = CONFIG_DIR / "a2q-config.schema.json"
_TYPES = {"integer": "int", "number": "float", "string": "str", "boolean": "bool", "null": "null"}


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


def config_reference() -> str:
    """Markdown table of every key of a build config: its dotted name (``*`` stands for any
    layer name), type, default (as written in YAML) and the values allowed, from
    :func:`config_schema`; the defaults are those of the config dataclasses."""
    schema = config_schema()
    defaults = to_dict(BuildConfig(name=""))
    rows = ["| Key | Type | Default | Allowed |", "| --- | --- | --- | --- |"]
    for key, node in _leaves(schema, schema, ""):
        if key == "name":  # the one key without a default value
            default = "the config file's name without `.yaml`"
        else:
            default = f"`{_yaml(_default(defaults, key, node))}`"
        types, allowed = zip(*map(_branch, node.get("anyOf", [node])), strict=True)
        kinds, values = " or ".join(dict.fromkeys(types)), "; ".join(filter(None, allowed))
        rows.append(f"| `{key}` | {kinds} | {default} | {values} |")
    return "\n".join(rows) + "\n"


def _leaves(schema: dict, node: dict, prefix: str) -> Iterator[tuple[str, dict]]:
    """(dotted key, schema node) of every value a config file sets, in the dataclasses' order."""
    for name, child in _resolve(schema, node)["properties"].items():
        target = _resolve(schema, child)
        if "properties" in target:  # a section
            yield from _leaves(schema, target, f"{prefix}{name}.")
        elif isinstance(target.get("additionalProperties"), dict):  # layer name -> section
            yield from _leaves(schema, target["additionalProperties"], f"{prefix}{name}.*.")
        else:
            yield prefix + name, child


def _default(defaults: dict, key: str, node: dict) -> Any:
    """The default of ``key``: the dataclasses' (which pydantic leaves out of the schema when
    computed, e.g. a list's), or the schema's within a per-layer section."""
    if ".*." in key:
        return node.get("default")
    for part in key.split("."):
        defaults = defaults[part]
    return defaults


def _branch(node: dict) -> tuple[str, str]:
    """(type, values allowed) of one branch of a schema node."""
    if node.get("type") == "array":
        kind, allowed = _branch(node["items"])
        return f"list of {kind}", f"each {allowed}" if allowed else ""
    kind = _TYPES[node["type"]]
    if "enum" in node or "const" in node:
        return kind, ", ".join(f"`{v}`" for v in node.get("enum", [node.get("const")]))
    if "minimum" in node:
        return kind, f"{_yaml(node['minimum'])} to {_yaml(node['maximum'])}"
    return kind, ""


def _yaml(value: Any) -> str:
    """``value`` as YAML writes it inline (``null``, ``true``, ``1.0e-08``, ``[256, 256]``)."""
    return yaml.safe_dump(value, default_flow_style=True).removesuffix("...\n").strip()
