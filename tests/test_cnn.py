"""Convolutional networks through every stage: CNV on digits (trained), MobileNetV1 and
ResNet-18 on a CIFAR-10 fixture (randomly initialised, no dataset needed).

The CNV build runs through simulation in the default suite; its synthesis (every node and
both variants) and the two CIFAR architectures (their streamlining alone takes a minute or
more) are slow and run with ``make test-all``.
"""

from __future__ import annotations

import copy

import pytest

from flow.config import layer_plans, parse_config
from flow.pipeline import run_pipeline
from flow.util import read_json
from tests.conftest import TINY, write_cifar10

CNV = {
    **copy.deepcopy(TINY),
    "name": "tiny_cnv",
    "model": {"arch": "cnv", "channels": [4, 4, 8, 8], "hidden": [16], "act_bits": 4},
    "quant": {"method": "a2q_plus", "acc_bits": 11},
    "compile": {"folding": {"target_cycles_per_frame": 512}},
    "hardware": {"sim_frames": 12, "synth_top": False},
}


def _build(data: dict, root, until: str | None = None):
    cfg = parse_config(data)
    run_pipeline(cfg, root, until=until, show_progress=False)
    return cfg, root / cfg.name


@pytest.fixture(scope="module")
def cnv_build(tmp_path_factory):
    return _build(copy.deepcopy(CNV), tmp_path_factory.mktemp("cnv"), until="sim")


def _check_synth(build) -> dict:
    synth = read_json(build / "synth" / "synth.json")
    exact, wide = synth["variants"]["exact"]["top"], synth["variants"]["acc32"]["top"]
    assert exact["lut"] > 0 and wide["lut"] > exact["lut"] and synth["lut_ratio"] > 1
    return synth


def _check_build(cfg, build, mac_ops: set[str]) -> dict:
    """What every CNN build must show; returns the accumulator rows by layer name."""
    plans = layer_plans(cfg)
    acc = read_json(build / "compile" / "accumulators.json")
    assert [r["name"] for r in acc] == [p.name for p in plans]
    assert {r["op"] for r in acc} == mac_ops
    for row, plan in zip(acc, plans, strict=True):
        # Every conv/dense layer sits at its exact width; constrained ones are guaranteed.
        assert row["hw_acc_bits"] == row["exact_bits"], row["name"]
        assert (row["K"], row["MH"]) == (plan.in_features, plan.out_features)
        if plan.constrained:
            assert row["guaranteed"] and row["exact_bits"] <= plan.acc_bits
    verify = read_json(build / "verify" / "verify.json")
    assert verify["ok"] and verify["mismatches"] == 0
    assert verify["hw_vs_integer_model_mismatches"] == 0
    overflow = read_json(build / "verify" / "overflow.json")
    assert all(r["fits"] for r in overflow["worst_case"])
    assert {r["node"] for r in overflow["worst_case"]} == {r["node"] for r in acc}
    sim = read_json(build / "sim" / "sim.json")
    assert sim["bit_exact"] and sim["mismatches"] == 0 and sim["worst_case_ok"]
    assert set(sim["worst_case_rtl"]) == {r["node"] for r in acc}
    return {r["name"]: r for r in acc}


def test_cnv_digits_through_every_stage(cnv_build):
    cfg, build = cnv_build
    rows = _check_build(cfg, build, {"MVAU"})
    assert rows["conv1"]["K"] == 36 and rows["fc0"]["K"] == 2 * 2 * 8
    plan = read_json(build / "hardware" / "exact" / "plan.json")
    ops = {n["op_type"] for n in plan["nodes"]}
    assert {"ConvolutionInputGenerator", "FMPadding", "Pool", "MVAU", "Thresholding"} <= ops
    # FINN's SIMD choices are aligned to whole channel groups, so no window is starved down
    # to a common divisor of its channels and its MVAU's SIMD.
    windows = [n["params"] for n in plan["nodes"] if n["op_type"] == "ConvolutionInputGenerator"]
    assert all(p["SIMD"] == p["CHANNELS"] for p in windows if not p["DEPTHWISE"])
    # The throughput of the RTL is what FINN's cycle model predicts for the folding, within
    # the sliding windows' row-refill gaps.
    sim = read_json(build / "sim" / "sim.json")
    perf = read_json(build / "compile" / "report" / "estimate_network_performance.json")
    assert 0.8 * perf["max_cycles"] <= sim["cycles_per_frame"] <= 1.25 * perf["max_cycles"]


@pytest.mark.slow
def test_cnv_digits_synthesizes(cnv_build):
    cfg, build = cnv_build
    run_pipeline(cfg, build.parent, show_progress=False)
    synth = _check_synth(build)
    layers = synth["variants"]["exact"]["layers"]
    assert {e["op_type"] for e in layers.values()} >= {"ConvolutionInputGenerator", "Pool"}
    assert (build / "report" / "report.html").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("arch", "width", "mac_ops", "joins"),
    [
        ("mobilenetv1", 0.125, {"MVAU", "VVAU"}, set()),
        ("resnet18", 0.0625, {"MVAU"}, {"DuplicateStreams", "ElementwiseAdd"}),
    ],
)
def test_cifar_cnn_random_init_through_every_stage(tmp_path, arch, width, mac_ops, joins):
    data = copy.deepcopy(TINY)
    data.update(
        name=f"rand_{arch}",
        data={"dataset": "cifar10", "path": str(write_cifar10(tmp_path / "data", 8, 6))},
        model={"arch": arch, "width": width, "weight_bits": 4, "act_bits": 4},
        quant={"method": "a2q_plus", "acc_bits": 14},
        # No float training; one QAT epoch (3 steps on random images) only calibrates the
        # activation scales, so the weights stay essentially at their random init.
        train={"float_epochs": 0, "qat_epochs": 1, "batch_size": 16, "threads": 2, "qat_lr": 1e-6},
        export={"check_samples": 6},
        compile={"folding": {"target_cycles_per_frame": 40000}},
        hardware={"sim_frames": 2, "sim_stalls": False, "synth_top": False},
    )
    cfg, build = _build(data, tmp_path / "build")
    rows = _check_build(cfg, build, mac_ops)
    _check_synth(build)
    plan = read_json(build / "hardware" / "exact" / "plan.json")
    ops = {n["op_type"] for n in plan["nodes"]}
    assert {"GlobalAccPool", "ConvolutionInputGenerator"} | joins <= ops
    sums = read_json(build / "compile" / "sums.json")
    assert {s["op"] for s in sums} >= {"GlobalAccPool"} | ({"ElementwiseAdd"} & joins)
    if arch == "mobilenetv1":
        assert {r["op"] for n, r in rows.items() if n.startswith("dw")} == {"VVAU"}
