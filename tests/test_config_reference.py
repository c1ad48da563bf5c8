"""`a2q config`: the reference lists every key of the config dataclasses, its default and range."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator
from typing import Any

import yaml

from flow.cli import main
from flow.config import RANGES, BuildConfig
from flow.config_schema import config_reference


def _leaves(cls: type, value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, default) of every leaf of the config dataclass ``cls``; a mapping of layer
    name to a section is ``*`` (the section's defaults)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint, default = hints[f.name], getattr(value, f.name)
        if dataclasses.is_dataclass(hint):
            yield from _leaves(hint, default, f"{prefix}{f.name}.")
        elif typing.get_origin(hint) is dict and dataclasses.is_dataclass(typing.get_args(hint)[1]):
            section = typing.get_args(hint)[1]
            yield from _leaves(section, section(), f"{prefix}{f.name}.*.")
        else:
            yield prefix + f.name, default


def _yaml(value: float) -> str:
    return yaml.safe_dump(value).removesuffix("...\n").strip()


def _table(text: str) -> dict[str, list[str]]:
    """The reference's rows by key: [type, default, allowed]."""
    lines = text.splitlines()
    assert lines[0] == "| Key | Type | Default | Allowed |"
    rows = [[c.strip() for c in line.strip("|").split(" | ")] for line in lines[2:]]
    return {key.strip("`"): rest for key, *rest in rows}


def test_the_reference_covers_every_key_with_its_default_and_range(capsys):
    assert main(["config"]) == 0
    text = capsys.readouterr().out
    assert text == config_reference()
    table = _table(text)
    leaves = dict(_leaves(BuildConfig, BuildConfig(name="tiny")))
    assert list(table) == list(leaves)  # every key, in the dataclasses' order
    for key, default in leaves.items():
        kind, shown, allowed = table[key]
        if key != "name":  # the file's stem
            # What the reference shows is what a config file writes for the default.
            assert yaml.safe_load(shown.strip("`")) == default, key
    for path, (lo, hi) in RANGES.items():
        key = path.removesuffix("[]")
        assert f"{_yaml(lo)} to {_yaml(hi)}" in table[key][2], key
    assert table["seed"] == ["int", "`0`", "0 to 2147483647"]
    assert table["model.weight_bits"] == ["int", "`4`", "2 to 8"]
    assert table["model.hidden"] == ["list of int", "`[256, 256, 256]`", "each 1 to 65536"]
    assert table["hardware.synth_jobs"] == ["int", "`2`", "1 to 64"]
    assert table["compile.folding.target_cycles_per_frame"] == [
        "int or null",
        "`1024`",
        "1 to 1000000000",
    ]
    assert table["train.lr"][2] == "1.0e-08 to 10.0"
    assert table["quant.layers.*.acc_bits"] == ["int or null", "`null`", "2 to 32"]
    assert table["quant.method"][2] == "`baseline`, `a2q`, `a2q_plus`, `datatype`"
    assert table["train.ep_init"] == ["bool or str", "`auto`", "`auto`"]
