"""Super-resolution (ESPCN, UNet) through every stage, on the embedded sample photos and on a
BSD300 fixture in its standard layout.

Tiny ESPCN and UNet builds run through simulation in the default suite (short training: the
checks are about the flow, not the PSNR); ESPCN's synthesis and report are slow.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from flow.config import layer_plans, load_config, parse_config
from flow.data.superres import psnr
from flow.errors import ConfigError
from flow.executor import execute_finn, image_nchw
from flow.metrics import as_images
from flow.util import read_json
from tests.conftest import TINY, write_bsd300, write_config
from tests.test_cnn import _build, _check_build, _check_synth

ESPCN = {
    **copy.deepcopy(TINY),
    "name": "tiny_espcn",
    "data": {"dataset": "samples", "tile": 8, "upscale": 2, "patches": 32, "test_tiles": 3},
    "model": {
        "arch": "espcn",
        "channels": [8, 8, 4],
        "weight_bits": 4,
        "act_bits": 4,
        "edge_weight_bits": 8,
        "residual": True,
    },
    "quant": {"method": "a2q_plus", "acc_bits": 12},
    "train": {"float_epochs": 2, "qat_epochs": 2, "batch_size": 16, "threads": 1},
    "export": {"check_samples": 6, "atol": 0.5},
    "compile": {"top_k": False, "folding": {"target_cycles_per_frame": 1024}},
    "hardware": {"sim_frames": 3, "synth_top": False},
}
UNET = {
    **copy.deepcopy(ESPCN),
    "name": "tiny_unet",
    "model": {**ESPCN["model"], "arch": "unet", "channels": [4, 8]},
}


@pytest.fixture(scope="module")
def espcn_build(tmp_path_factory):
    return _build(copy.deepcopy(ESPCN), tmp_path_factory.mktemp("espcn"), until="sim")


def _check_superres(cfg, build) -> dict:
    """PSNR everywhere, pixels equal from QONNX to the RTL; returns the hardware plan."""
    rows = _check_build(cfg, build, {"MVAU"})
    plans = layer_plans(cfg)
    # First and last layers: 8-bit weights, unconstrained; the hidden ones guaranteed.
    assert [rows[p.name]["weight_bits"] for p in plans] == [8] + [4] * (len(plans) - 2) + [8]
    assert not rows[plans[0].name]["guaranteed"] and not rows["out"]["guaranteed"]
    metrics = read_json(build / "train" / "metrics.json")
    assert metrics["metric"] == "psnr" and "quant_accuracy" not in metrics
    assert 5 < metrics["bicubic_psnr"] < 100 and 5 < metrics["quant_psnr"] < 100
    examples = np.load(build / "train" / "examples.npz")
    assert examples["low_res"].shape[2:] == (8, 8) and examples["quantized"].shape[2:] == (16, 16)
    check = read_json(build / "export" / "export_check.json")["fidelity"]
    assert check["metric"] == "psnr" and check["ok"]
    verify = read_json(build / "verify" / "verify.json")
    assert verify["output"] == "image" and verify["mismatches"] == 0
    assert verify["hw_psnr"] == pytest.approx(verify["qonnx_psnr"])
    # The accelerator's output stream is the image, channels-last, in integer pixels: scored
    # independently from FINN's execution of the HW graph it matches QONNX's PSNR.
    from qonnx.core.modelwrapper import ModelWrapper

    from flow.data.loading import load_data

    ds = load_data(cfg)
    hw = ModelWrapper(str(build / "compile" / "hw.onnx"))
    out_shape = hw.get_tensor_shape(hw.graph.output[0].name)
    assert out_shape == [1, 16, 16, 1]
    got = image_nchw(execute_finn(hw, ds.x_test), out_shape)
    images = as_images(got, ds.y_test)
    assert psnr(images, ds.y_test, groups=ds.test_groups) == pytest.approx(verify["hw_psnr"])
    # The global residual: an integer add of the upsampled input pixels and the 8-bit detail.
    sums = read_json(build / "compile" / "sums.json")
    assert [(s["op"], s["inputs"], s["hw_type"]) for s in sums] == [
        ("ElementwiseAdd", ["UINT8", "INT8"], "INT10")
    ]
    sim = read_json(build / "sim" / "sim.json")
    assert sim["metric"] == "psnr" and sim["mismatches_vs_qonnx"] == 0
    plan = read_json(build / "hardware" / "exact" / "plan.json")
    ops = [n["op_type"] for n in plan["nodes"]]
    # The net's upsamplings and the residual's.
    assert ops.count("UpsampleNearestNeighbour") == sum(p.spec.upsample > 1 for p in plans) + 1
    assert {"DuplicateStreams", "ElementwiseAdd"} <= set(ops)
    perf = read_json(build / "compile" / "report" / "estimate_network_performance.json")
    assert 0.8 * perf["max_cycles"] <= sim["cycles_per_frame"] <= 1.25 * perf["max_cycles"]
    return plan


def test_espcn_samples_through_every_stage(espcn_build):
    cfg, build = espcn_build
    plan = _check_superres(cfg, build)
    ups = [n["params"] for n in plan["nodes"] if n["op_type"] == "UpsampleNearestNeighbour"]
    assert sorted((p["IN_H"], p["SCALE"], p["CHANNELS"]) for p in ups) == [(8, 2, 1), (8, 2, 4)]


def test_unet_samples_through_every_stage(tmp_path):
    cfg, build = _build(copy.deepcopy(UNET), tmp_path, until="sim")
    plan = _check_superres(cfg, build)
    concat = [n for n in plan["nodes"] if n["op_type"] == "StreamingConcat"]
    assert len(concat) == 1
    p = concat[0]["params"]
    assert (p["CHANNELS0"], p["CHANNELS1"], p["PIXELS"]) == (4, 4, 64)
    assert p["WIDTH0"] == p["WIDTH1"] == p["OUT_WIDTH"] == 4  # one shared quantizer
    # Both joins (skip concat, residual add) have a short branch buffering a whole frame.
    fifos = {n["name"]: n["params"]["DEPTH"] for n in plan["nodes"] if n["op_type"] == "FIFO"}
    assert max(fifos.values()) >= 64


def test_bsd300_fixture_trains_and_exports(tmp_path):
    data = copy.deepcopy(ESPCN)
    data["name"] = "bsd_espcn"
    data["data"] = {
        "dataset": "bsd300",
        "path": str(write_bsd300(tmp_path / "data", n_train=3, n_test=2)),
        "tile": 8,
        "patches": 8,
        "test_tiles": 2,
    }
    cfg, build = _build(data, tmp_path / "build", until="export")
    metrics = read_json(build / "train" / "metrics.json")
    assert (metrics["train_samples"], metrics["test_samples"]) == (24, 4)
    assert read_json(build / "export" / "export_check.json")["ok"]


def test_bsd300_wrong_layout_names_what_is_missing(tmp_path):
    root = write_bsd300(tmp_path / "data") / "BSDS300"
    (root / "iids_test.txt").unlink()
    data = copy.deepcopy(ESPCN)
    data["data"] = {"dataset": "bsd300", "path": str(root)}
    with pytest.raises(ConfigError, match=r"data\.path: .*missing iids_test\.txt"):
        load_config(write_config(tmp_path, data))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": {"residual": True}, "data": {"dataset": "digits"}}, "model.residual: only"),
        ({"compile": {"top_k": True}}, "compile.top_k: espcn outputs an image"),
        ({"model": {"arch": "cnv"}}, "model.arch: cnv is a classifier"),
        ({"data": {"dataset": "digits"}, "model": {"residual": False}}, "model.arch: espcn is"),
        ({"model": {"arch": "unet", "channels": [4, 8, 8, 8, 8]}}, "data.tile: 5 UNet levels"),
        ({"model": {"arch": "unet", "channels": [4]}}, "a UNet needs at least two levels"),
        ({"data": {"upscale": 5}}, r"data.upscale: must be in 2..4"),
    ],
)
def test_superres_config_errors(change, message):
    data = copy.deepcopy(ESPCN)
    for key, value in change.items():
        data[key] = {**data[key], **value}
    with pytest.raises(ConfigError, match=message):
        parse_config(data)


@pytest.mark.slow
def test_espcn_synthesizes_and_reports(espcn_build):
    from flow.pipeline import run_pipeline

    cfg, build = espcn_build
    run_pipeline(cfg, build.parent, show_progress=False)
    synth = _check_synth(build)
    layers = synth["variants"]["exact"]["layers"]
    assert {e["op_type"] for e in layers.values()} >= {"UpsampleNearestNeighbour", "ElementwiseAdd"}
    html = (build / "report" / "report.html").read_text()
    assert "PSNR" in html and "bicubic" in html
    assert (build / "report" / "fig_examples.png").exists()
