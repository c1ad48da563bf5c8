"""Sweeps: planning, a tiny sweep end to end, failed points recorded."""

from __future__ import annotations

import copy
import csv
import json

import pytest
import yaml

from flow.errors import ConfigError
from flow.sweep import load_sweep, plan_points, run_sweep
from tests.conftest import TINY, write_config


def _sweep(tmp_path, axes, until="compile", extra=None):
    write_config(tmp_path, copy.deepcopy(TINY), "base.yaml")
    data = {"name": "t", "base": "base.yaml", "axes": axes, "until": until, **(extra or {})}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_baseline_is_built_once_and_covers_every_width():
    points = plan_points({"method": ["baseline", "a2q"], "acc_bits": [10, 12], "seed": [0, 1]}, [])
    base = [p for p in points if p.values["method"] == "baseline"]
    assert len(base) == 2 and all(p.covers_bits == [10, 12] for p in base)
    assert "compile.wrap_bits=[10, 12]" in base[0].overrides
    assert len(points) == 2 + 4


def test_every_point_is_validated_before_running(tmp_path):
    path = _sweep(tmp_path, {"method": ["a2q"], "acc_bits": [5, 12]})
    with pytest.raises(
        ConfigError,
        match=r"point method=a2q,acc_bits=5: .*smallest P that "
        r"does is 6",
    ):
        load_sweep(path)
    bad = _sweep(tmp_path, {"method": ["a2q"]}, extra={"jobs": 2})
    with pytest.raises(ConfigError, match="jobs: unknown key"):
        load_sweep(bad)


def test_tiny_sweep_end_to_end_and_failed_point(tmp_path):
    path = _sweep(
        tmp_path,
        {"method": ["baseline", "a2q_plus"], "acc_bits": [11, 12], "export.atol": [0.0001, 0.0]},
    )
    summary = run_sweep(path, tmp_path / "build", jobs=2, quiet=True)
    rows = {(r["method"], r["acc_bits"], r["export.atol"]): r for r in summary["points"]}
    assert len(rows) == 8  # 2 baseline builds (each covering 2 widths) + 4 A2Q+ builds
    ok = [r for r in rows.values() if r["export.atol"] > 0]
    failed = [r for r in rows.values() if r["export.atol"] == 0]
    assert all(r["status"] == "ok" for r in ok)
    # atol 0 makes the export's QONNX-vs-Brevitas check fail: recorded, the others went on.
    assert all(r["status"] == "failed" for r in failed)
    assert all("export check failed" in r["error"] for r in failed)
    b11, b12 = rows[("baseline", 11, 0.0001)], rows[("baseline", 12, 0.0001)]
    assert b11["build_dir"] == b12["build_dir"]  # one baseline build for both widths
    assert b11["wrap_accuracy"] is not None and b12["wrap_accuracy"] is not None
    a12 = rows[("a2q_plus", 12, 0.0001)]
    assert a12["wrap_accuracy"] is None and a12["max_exact_bits"] is not None
    assert a12["exact_bits"]["fc1"] <= 12
    out = tmp_path / "build" / "sweeps" / "t"
    assert json.loads((out / "summary.json").read_text())["points"] == summary["points"]
    with open(out / "summary.csv") as f:
        assert len(list(csv.DictReader(f))) == 8
    groups = {(g["method"], g["acc_bits"]): g for g in summary["groups"]}
    assert groups[("a2q_plus", 12)]["seeds"] == 1
