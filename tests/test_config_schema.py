"""The config's JSON Schema: what editors check is what the loader checks (keys, types, ranges)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from flow.cli import main
from flow.config_schema import SCHEMA_FILE, config_schema


def _errors(data: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(config_schema())
    return sorted(e.message for e in validator.iter_errors(data))


def test_the_shipped_schema_file_is_current(capsys):
    assert json.loads(Path(SCHEMA_FILE).read_text()) == config_schema()
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == config_schema()


def test_shipped_configs_validate_and_mistakes_do_not():
    jsonschema.Draft202012Validator.check_schema(config_schema())
    configs = sorted(Path("configs").glob("*.yaml"))
    assert len(configs) >= 6
    for path in configs:
        assert _errors(yaml.safe_load(path.read_text())) == [], path
    assert _errors({"modle": {}}) == [
        "Additional properties are not allowed ('modle' was unexpected)"
    ]
    # Optional numbers: in their range or null.
    assert _errors({"quant": {"layers": {"fc1": {"acc_bits": 1}}}}) == [
        "1 is not valid under any of the given schemas"
    ]
    assert _errors({"quant": {"layers": {"fc1": {"acc_bits": 2}}}}) == []
    assert _errors({"data": {"limit": 0}}) == ["0 is not valid under any of the given schemas"]
    assert _errors({"model": {"hidden": [64, 0]}}) == ["0 is less than the minimum of 1"]
    assert _errors({"quant": {"method": "a2q+"}}) == [
        "'a2q+' is not one of ['baseline', 'a2q', 'a2q_plus', 'datatype']"
    ]
