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
    tiny = report["benchmarks"]["tiny"]
    assert tiny["wall_seconds"] < 30 and tiny["rerun_seconds"] < 30
    timings = json.loads((out / "timings.json").read_text())
    assert tiny["stage_seconds"] == {s: t["seconds"] for s, t in timings.items()}
    assert tiny["synth_runs"] == synth["runs"]
    assert [b["modules"] for b in tiny["synth_batches"]] == [
        len(b["modules"]) for b in synth["batches"]
    ]
    assert (
        "data.path: dataset 'cifar10' needs a path"
        in (report["benchmarks"]["resnet18_cifar10"]["skipped"])
    )


def test_sim_takes_its_reference_outputs_from_verify(tiny_build, monkeypatch):
    import numpy as np
    from qonnx.core.modelwrapper import ModelWrapper

    from flow import artifacts, simulate

    cfg, out = tiny_build
    saved = artifacts.VERIFY_OUTPUTS.read(out)
    verify = json.loads((out / "verify" / "verify.json").read_text())
    assert len(saved["hw"]) == len(saved["qonnx"]) == verify["samples"]
    hw_model = ModelWrapper(str(artifacts.HW_ONNX.at(out)))
    x = np.zeros((3, 1))

    def no_finn(model, x):
        raise AssertionError("the verify stage's outputs cover these frames")

    monkeypatch.setattr(simulate, "execute_finn", no_finn)
    hw, ref = simulate._reference_outputs(out, hw_model, x)
    assert np.array_equal(hw, saved["hw"][:3]) and np.array_equal(ref, saved["qonnx"][:3])
    # More frames than verify ran: both are executed here.
    monkeypatch.setattr(simulate, "execute_finn", lambda model, x: np.ones((len(x), 2)))
    hw, ref = simulate._reference_outputs(out, hw_model, np.zeros((len(saved["hw"]) + 1, 1)))
    assert hw.shape == ref.shape == (len(saved["hw"]) + 1, 2)


def test_another_build_of_the_root_reuses_every_synthesized_node(tiny_build, tmp_path, monkeypatch):
    from flow import synthesize as syn
    from flow.hw import batch

    cfg, out = tiny_build
    cache = syn.synth_cache_dir(out)
    assert cache == out.parent / ".synth-cache" and any(cache.glob("*.json"))

    def no_yosys(*args, **kwargs):
        raise AssertionError("every node is in the shared cache")

    monkeypatch.setattr(batch, "run_tool", no_yosys)
    variants = {v: out / "hardware" / v for v in ("exact", "acc32")}
    again = syn.run_synthesis(variants, tmp_path / "synth", cache_dir=cache)
    first = json.loads((out / "synth" / "synth.json").read_text())
    assert again["runs"]["synthesized"] == 0
    for v in variants:
        assert again["variants"][v]["top"]["lut"] == first["variants"][v]["top"]["lut"]
    monkeypatch.setenv("A2Q_SYNTH_CACHE", str(tmp_path / "elsewhere"))
    assert syn.synth_cache_dir(out) == tmp_path / "elsewhere"
