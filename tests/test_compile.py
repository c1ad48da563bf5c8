"""Compile stage: exact widths against an independent oracle, verification, errors."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from onnx import helper
from qonnx.core.modelwrapper import ModelWrapper

from flow.cli import main
from flow.compile import compile_model
from flow.config import CompileConfig, FoldingConfig, LayerFolding, layer_plans
from flow.errors import CompileError
from flow.executor import IntegerGraph, wrap
from flow.qonnx_weights import exported_integer_weights
from flow.verify import worst_case_check


def _oracle_bits(q: np.ndarray, xmax: int) -> int:
    """Exact signed width of the per-channel ranges of q (out, in) for inputs in [0, xmax]."""
    q = q.astype(np.int64)
    hi = np.maximum(q * xmax, 0).sum(1).max()
    lo = np.minimum(q * xmax, 0).sum(1).min()
    bits = 1
    while not (-(2 ** (bits - 1)) <= lo and hi <= 2 ** (bits - 1) - 1):
        bits += 1
    return bits


def test_widths_equal_independent_oracle(tiny_build):
    cfg, out = tiny_build
    rows = json.loads((out / "compile" / "accumulators.json").read_text())
    ints = exported_integer_weights(ModelWrapper(str(out / "export" / "model.onnx")))
    plans = layer_plans(cfg)
    assert [r["name"] for r in rows] == [p.name for p in plans]
    for row, plan, (_, q) in zip(rows, plans, ints, strict=True):
        oracle = _oracle_bits(q, 2**plan.input_bits - 1)
        assert row["exact_bits"] == row["hw_acc_bits"] == oracle, row["name"]
        assert row["K"] == plan.in_features and row["input_bits"] == plan.input_bits
        if plan.constrained:
            assert row["guaranteed"]
            assert row["exact_bits"] <= row["target_bits"] < row["datatype_bound_bits"]
        else:
            assert not row["guaranteed"] and row["target_bits"] is None
        if row["threshold_bits"] is not None:
            assert row["threshold_bits"] <= row["hw_acc_bits"] + 1


def test_hw_graph_matches_qonnx_and_never_overflows(tiny_build):
    _, out = tiny_build
    c = out / "compile"
    verify = json.loads((out / "verify" / "verify.json").read_text())
    assert verify["ok"] and verify["mismatches"] == 0 and verify["samples"] == 360
    assert verify["hw_vs_integer_model_mismatches"] == 0
    assert verify["hw_accuracy"] == verify["qonnx_accuracy"]
    overflow = json.loads((out / "verify" / "overflow.json").read_text())
    assert all(r["fits"] for r in overflow["worst_case"])
    assert all(v["overflow_events"] == 0 for v in overflow["test_set_at_hw_widths"].values())
    # The study forces the policy layer (fc1) below its exact width: overflow must appear.
    study = {r["acc_bits"]: r for r in overflow["wrap_study"]}
    assert [*study] == [8, 9, 10, 11, 12]
    exact = study[12]["layers"]["fc1"]["exact_bits"]
    assert study[12]["overflow_events"] == 0
    assert study[exact - 3]["overflow_events"] > 0
    for name in (
        "estimate_layer_resources",
        "estimate_layer_cycles",
        "estimate_network_performance",
    ):
        assert (c / "report" / f"{name}.json").exists()
    hw = ModelWrapper(str(c / "hw.onnx"))
    assert [n.op_type for n in hw.graph.node] == [
        "MVAU",
        "Thresholding",
        "MVAU",
        "Thresholding",
        "MVAU",
        "LabelSelect",
    ]


def test_overflow_checker_finds_hand_built_overflow():
    # One channel, K=3, weights 7, 4-bit unsigned inputs: the max dot product is 315, but the
    # accumulator is declared 7 bits (-64..63).
    summary = {
        "MVAU_0": {
            "op_type": "MVAU",
            "inputDataType": "UINT4",
            "accDataType": "INT7",
            "weights": [[7, -2], [7, 1], [7, 0]],
            "exact_width": 10,
        },
    }
    rows = worst_case_check(summary)
    assert rows == [
        {
            "node": "MVAU_0",
            "hw_acc_bits": 7,
            "channels": 2,
            "worst_min": -30,
            "worst_max": 315,
            "fits": False,
            "overflowing_channels": [0],
        }
    ]
    graph = IntegerGraph(summary)
    x = np.array([[15, 15, 15], [1, 2, 3], [0, 15, 0]])
    res = graph.run(x, {"MVAU_0": 7})
    assert res.overflow_events == {"MVAU_0": 2}  # 315 and 105 overflow, the rest fit
    assert res.outputs[0, 0] == 315 - 2 * 128 == wrap(np.array(315), 7)
    assert res.outputs[1].tolist() == [42, 0]
    assert wrap(np.array([63, 64, -64, -65]), 7).tolist() == [63, -64, -64, 63]


def test_unsupported_op_names_node(tiny_build, tmp_path):
    _, out = tiny_build
    model = onnx.load(str(out / "export" / "model.onnx"))
    old = model.graph.output[0].name
    model.graph.node.append(helper.make_node("Sin", [old], ["y_sin"], name="odd_sin"))
    model.graph.output[0].name = "y_sin"
    path = tmp_path / "odd.onnx"
    onnx.save(model, str(path))
    cc = CompileConfig(top_k=False)
    with pytest.raises(
        CompileError,
        match=r"cannot map to a hardware layer: .*\(Sin\)\. "
        r"Supported: MatMul/Gemm",
    ):
        compile_model(path, tmp_path / "c", cc, "UINT5")


def test_bad_folding_on_external_model(tiny_build, tmp_path):
    _, out = tiny_build
    layers = {"MVAU_0": LayerFolding(pe=3), "MVAU_1": LayerFolding(), "MVAU_2": LayerFolding()}
    cc = CompileConfig(folding=FoldingConfig(layers=layers))
    with pytest.raises(CompileError, match="PE=3 must divide 32 outputs"):
        compile_model(out / "export" / "model.onnx", tmp_path / "c", cc, "UINT5")


def test_external_brevitas_export_compiles(tmp_path, capsys):
    """A QONNX file from someone else's Brevitas script: learned input scale, no A2Q."""
    from brevitas.export import export_qonnx
    from brevitas.nn import QuantIdentity, QuantLinear, QuantReLU
    from brevitas.quant import Int8WeightPerTensorFloat

    torch.manual_seed(1)
    net = torch.nn.Sequential(
        torch.nn.Flatten(),
        QuantIdentity(return_quant_tensor=True),
        QuantLinear(64, 16, bias=False, weight_quant=Int8WeightPerTensorFloat, weight_bit_width=3),
        torch.nn.BatchNorm1d(16),
        QuantReLU(bit_width=3, return_quant_tensor=True),
        QuantLinear(16, 10, bias=False, weight_quant=Int8WeightPerTensorFloat, weight_bit_width=3),
    )
    net.train()
    net(torch.randint(0, 17, (32, 1, 8, 8)).float())  # calibrate BN and activation scales
    net.eval()
    path = tmp_path / "theirs.onnx"
    export_qonnx(net, input_t=torch.zeros(1, 1, 8, 8), export_path=str(path))
    out = tmp_path / "out"
    assert (
        main(
            [
                "compile",
                str(path),
                "--config",
                "configs/tfc_digits.yaml",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    rows = json.loads((out / "accumulators.json").read_text())
    assert [r["K"] for r in rows] == [64, 16]
    assert all(r["target_bits"] is None and not r["guaranteed"] for r in rows)
    assert all(r["hw_acc_bits"] == r["exact_bits"] for r in rows)
    hw = ModelWrapper(str(out / "hw.onnx"))
    # The learned input quantizer is not the identity: it stays as a Thresholding layer.
    assert [n.op_type for n in hw.graph.node][:2] == ["Thresholding", "MVAU"]
    assert "hw acc" in capsys.readouterr().out


def test_all_zero_layer_still_compiles_and_warns(tiny_build, tmp_path, caplog):
    _, out = tiny_build
    model = ModelWrapper(str(out / "export" / "model.onnx"))
    # Zero the weights of the second MAC layer (as A2Q at too small a P does).
    weight_quants = [
        n
        for n in model.graph.node
        if n.op_type == "Quant" and model.get_initializer(n.input[0]) is not None
    ]
    w = weight_quants[1].input[0]
    model.set_initializer(w, 0 * model.get_initializer(w))
    path = tmp_path / "zero.onnx"
    model.save(str(path))
    result = compile_model(path, tmp_path / "c", CompileConfig(), "UINT5")
    row = result["accumulators"][1]
    assert row["exact_range"] == [0, 0] and row["hw_acc_bits"] == row["exact_bits"] == 1
    assert "MVAU_1: every weight is zero" in caplog.text
