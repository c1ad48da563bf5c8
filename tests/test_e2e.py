"""The tiny MLP through every stage, as CI runs it: figures checked against a stored baseline."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from flow.inspect import inspect_build
from tests.synthesis_baselines import check_against_baseline, write_baseline

BASELINE = Path(__file__).parent / "baselines" / "tiny_synth.json"
TOLERANCES = {"lut": 0.15, "ff": 0.15, "bram36": 0.5, "dsp": 0.0}


def test_every_stage_ran(tiny_build):
    _, out = tiny_build
    stages = ["train", "export", "compile", "verify", "hardware", "sim", "synth"]
    assert all((out / s / ".stage.json").exists() for s in stages)
    timings = json.loads((out / "timings.json").read_text())
    assert set(stages) <= set(timings)
    text = inspect_build(out)
    assert "accumulator widths" in text and "LUT" in text


def test_synthesis_and_the_32_bit_comparison(tiny_build):
    _, out = tiny_build
    synth = json.loads((out / "synth" / "synth.json").read_text())
    assert synth["part"] == "xc7z020clg400-1" and "not Vivado" in synth["flow"]
    exact, wide = synth["variants"]["exact"], synth["variants"]["acc32"]
    assert exact["top"]["lut"] > 0 and exact["top"]["ff"] > 0 and exact["top"]["dsp"] == 0
    # Narrow accumulators must save logic against 32-bit ones.
    assert synth["lut_ratio"] > 1.0 and synth["ff_ratio"] > 1.0
    assert synth["lut_ratio"] == pytest.approx(wide["top"]["lut"] / exact["top"]["lut"], abs=1e-4)
    for node, fig in exact["layers"].items():
        if node.startswith("MVAU"):
            assert fig["estimate"] is not None and "estimate_delta_lut" in fig


def test_resources_match_stored_baseline(tiny_build):
    """hls4ml style: a change that blows up (or collapses) area is caught."""
    _, out = tiny_build
    synth = json.loads((out / "synth" / "synth.json").read_text())
    if os.environ.get("A2Q_UPDATE_BASELINES"):
        write_baseline(synth, BASELINE)
    problems = check_against_baseline(synth, BASELINE, TOLERANCES)
    assert not problems, "\n".join(problems)


def test_bench_collects_the_figures(tiny_build, tmp_path):
    from flow.bench import bench_entry, run_bench
    from tests.conftest import write_config

    cfg, out = tiny_build
    entry = bench_entry(out)
    synth = json.loads((out / "synth" / "synth.json").read_text())
    assert entry["bit_exact"] is True and entry["lut_ratio"] == synth["lut_ratio"]
    assert entry["lut"] == synth["variants"]["exact"]["top"]["lut"]
    assert set(entry["hw_acc_bits"]) == {"fc0", "fc1", "fc2"} and entry["guaranteed"] == ["fc1"]
    # A cached build: run_bench re-runs nothing and writes the JSON.
    from tests.conftest import TINY

    path = write_config(tmp_path, TINY, "tiny.yaml")
    # A benchmark whose dataset this machine lacks is listed as skipped, with the reason.
    no_data = Path("configs/resnet18_cifar10.yaml")
    report = run_bench([path, no_data], out.parent, tmp_path / "bench.json")
    assert json.loads((tmp_path / "bench.json").read_text()) == report
    assert report["benchmarks"]["tiny"]["wall_seconds"] < 30
    assert (
        "data.path: dataset 'cifar10' needs a path"
        in (report["benchmarks"]["resnet18_cifar10"]["skipped"])
    )
