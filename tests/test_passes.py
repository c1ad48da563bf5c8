"""Tests of flow.passes on small hand-built qonnx/FINN graphs with hand-computed oracles."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.util.basic import qonnx_make_model

from flow.errors import CompileError
from flow.passes import (
    HOST_TAIL_KEY,
    AnnotateInputDatatype,
    ExactAccumulatorWidth,
    RemoveIdentityInputThreshold,
    SplitOffHostTail,
    apply_host_tail,
    exact_accumulator_range,
    hw_layer_summary,
)

HW = "finn.custom_op.fpgadataflow"

# (MW=3, MH=2): one column per output channel.
W = np.array([[1, -2], [3, 4], [-5, 0]], dtype=np.float32)
# Oracle by hand for UINT2 inputs x in [0, 3]:
#   column 0 (1, 3, -5):  min = -5*3 = -15, max = (1+3)*3 = 12
#   column 1 (-2, 4, 0):  min = -2*3 = -6,  max = 4*3 = 12
#   layer range [-15, 12] -> INT5 (-16..15). FINN rounds a graph-final MVAU to INT8.
# For INT2 inputs x in [-2, 1]:
#   column 0: min = -2 - 6 - 5 = -13, max = 1 + 3 + 10 = 14
#   column 1: min = -2 - 8 + 0 = -10, max = 4 + 4 + 0 = 8
#   layer range [-13, 14] -> INT5.
THRESHOLDS = np.array([[-100.0, 2.5, 13.0], [-3.2, 0.0, 50.0]], dtype=np.float32)


def _vi(name: str, shape: list[int]):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def mvau_model(idt: str = "UINT2", with_thresholds: bool = False, no_act: int = 1) -> ModelWrapper:
    """inp (1,3) -> MVAU(W) [-> Thresholding(THRESHOLDS)] -> out."""
    mvau = helper.make_node(
        "MVAU",
        ["inp", "W"],
        ["acc"],
        domain=HW,
        backend="fpgadataflow",
        MW=3,
        MH=2,
        SIMD=1,
        PE=1,
        inputDataType=idt,
        weightDataType="INT4",
        outputDataType="INT32",
        accDataType="INT32",
        noActivation=no_act,
        name="MVAU_0",
    )
    nodes = [mvau]
    out = "acc"
    if with_thresholds:
        nodes.append(
            helper.make_node(
                "Thresholding",
                ["acc", "T"],
                ["act"],
                domain=HW,
                backend="fpgadataflow",
                NumChannels=2,
                PE=1,
                numSteps=3,
                inputDataType="INT32",
                weightDataType="FLOAT32",
                outputDataType="UINT2",
                ActVal=0,
                name="Thresholding_0",
            )
        )
        out = "act"
    graph = helper.make_graph(nodes, "g", [_vi("inp", [1, 3])], [_vi(out, [1, 2])])
    model = ModelWrapper(qonnx_make_model(graph))
    model.set_initializer("W", W)
    model.set_tensor_datatype("W", DataType["INT4"])
    model.set_tensor_datatype("inp", DataType[idt])
    if with_thresholds:
        model.set_initializer("T", THRESHOLDS)
    return model.transform(InferShapes())


def run_all_inputs(model: ModelWrapper, idt: str) -> np.ndarray:
    """Outputs for every input vector of the datatype's range (exhaustive, 3 inputs)."""
    dt = DataType[idt]
    values = range(int(dt.min()), int(dt.max()) + 1)
    outs = []
    for xs in itertools.product(values, repeat=3):
        x = np.array([xs], dtype=np.float32)
        outs.append(execute_onnx(model, {"inp": x})[model.graph.output[0].name])
    return np.concatenate(outs)


@pytest.mark.parametrize(("idt", "expected"), [("UINT2", (-15, 12)), ("INT2", (-13, 14))])
def test_exact_accumulator_range_matches_hand_oracle(idt, expected):
    dt = DataType[idt]
    q = W.astype(int).tolist()
    assert exact_accumulator_range(q, int(dt.min()), int(dt.max())) == expected


@pytest.mark.parametrize("idt", ["UINT2", "INT2"])
def test_exact_width_is_int5_and_not_rounded_to_8(idt):
    model, changed = ExactAccumulatorWidth().apply(mvau_model(idt))
    inst = getCustomOp(model.graph.node[0])
    assert changed
    assert inst.get_nodeattr("accDataType") == "INT5"
    assert inst.get_nodeattr("outputDataType") == "INT5"
    assert model.get_tensor_datatype("acc") == DataType["INT5"]
    # Brute force: every reachable accumulator value fits INT5, and the range is reached.
    acc = run_all_inputs(model, idt)
    lo, hi = exact_accumulator_range(W.astype(int).tolist(), *map(int, _range(idt)))
    assert acc.min() == lo and acc.max() == hi


def _range(idt: str) -> tuple[float, float]:
    dt = DataType[idt]
    return dt.min(), dt.max()


def test_finn_rounds_the_last_mvau_up_to_8_bits_and_we_do_not():
    pytest.importorskip("finn")
    from flow.finn_compat import finn_api

    model = mvau_model("UINT2").transform(finn_api().MinimizeAccumulatorWidth())
    assert getCustomOp(model.graph.node[0]).get_nodeattr("accDataType") == "INT8"
    model = model.transform(ExactAccumulatorWidth())
    assert getCustomOp(model.graph.node[0]).get_nodeattr("accDataType") == "INT5"


def test_exact_width_is_idempotent():
    model = mvau_model("UINT2", with_thresholds=True).transform(ExactAccumulatorWidth())
    _, changed = ExactAccumulatorWidth().apply(model)
    assert not changed


def test_thresholds_are_clipped_to_the_reachable_range_without_changing_outputs():
    model = mvau_model("UINT2", with_thresholds=True)
    before = run_all_inputs(model, "UINT2")
    model = model.transform(ExactAccumulatorWidth())
    # ceil, then clip to [-15, 12 + 1]
    np.testing.assert_array_equal(
        model.get_initializer("T"), np.array([[-15, 3, 13], [-3, 0, 13]], dtype=np.float32)
    )
    thr = getCustomOp(model.graph.node[1])
    assert thr.get_nodeattr("inputDataType") == "INT5"
    assert thr.get_nodeattr("weightDataType") == "INT5"
    assert model.get_tensor_datatype("T") == DataType["INT5"]
    np.testing.assert_array_equal(run_all_inputs(model, "UINT2"), before)


def test_embedded_activation_is_refused_with_the_node_name():
    with pytest.raises(CompileError, match="MVAU_0: MVAU with an embedded activation"):
        mvau_model("UINT2", no_act=0).transform(ExactAccumulatorWidth())


def test_non_integer_weights_are_refused():
    model = mvau_model("UINT2")
    model.set_initializer("W", W + 0.5)
    with pytest.raises(CompileError, match="MVAU_0 weights must hold integers, found e.g. 1.5"):
        model.transform(ExactAccumulatorWidth())


def test_float_input_is_refused():
    model = mvau_model("UINT2")
    model.set_tensor_datatype("inp", DataType["FLOAT32"])
    with pytest.raises(CompileError, match="input datatype must be integer, not FLOAT32"):
        model.transform(ExactAccumulatorWidth())


def test_layer_summary_reports_ints_and_widths():
    model = mvau_model("UINT2", with_thresholds=True).transform(ExactAccumulatorWidth())
    summary = hw_layer_summary(model)
    assert list(summary) == ["MVAU_0", "Thresholding_0"]
    mvau = summary["MVAU_0"]
    assert mvau["weights"] == W.astype(int).tolist()
    assert (mvau["exact_range"], mvau["exact_width"], mvau["accDataType"]) == ([-15, 12], 5, "INT5")
    thr = summary["Thresholding_0"]
    assert thr["thresholds"] == [[-15, 3, 13], [-3, 0, 13]]
    assert (thr["ActVal"], thr["outputDataType"], thr["weightDataType"]) == (0, "UINT2", "INT5")
    json.dumps(summary)  # plain data only


def input_quant_model(thresholds: np.ndarray) -> ModelWrapper:
    """inp (1,4) -> MultiThreshold (input quantizer) -> Mul(2) -> out."""
    mt = helper.make_node(
        "MultiThreshold",
        ["inp", "T"],
        ["q"],
        domain="qonnx.custom_op.general",
        out_dtype="UINT8",
        name="MT_0",
    )
    mul = helper.make_node("Mul", ["q", "two"], ["out"], name="Mul_0")
    graph = helper.make_graph([mt, mul], "g", [_vi("inp", [1, 4])], [_vi("out", [1, 4])])
    model = ModelWrapper(qonnx_make_model(graph))
    model.set_initializer("T", thresholds.astype(np.float32))
    model.set_initializer("two", np.array(2.0, dtype=np.float32))
    return model


STEP_255 = np.arange(255, dtype=np.float32)[None, :] + 0.5  # Brevitas uint8, scale 1


@pytest.mark.parametrize("idt", ["UINT8", "UINT5"])
def test_identity_input_threshold_is_removed(idt):
    model = input_quant_model(STEP_255).transform(AnnotateInputDatatype(idt))
    model = model.transform(RemoveIdentityInputThreshold())
    assert [n.op_type for n in model.graph.node] == ["Mul"]
    assert model.graph.node[0].input[0] == "inp"


def test_clipping_input_threshold_is_kept():
    # 254 steps: clips 255 to 254, so it is not the identity on UINT8.
    model = input_quant_model(STEP_255[:, :254]).transform(AnnotateInputDatatype("UINT8"))
    model, changed = RemoveIdentityInputThreshold().apply(model)
    assert not changed
    assert [n.op_type for n in model.graph.node] == ["MultiThreshold", "Mul"]


def test_input_threshold_is_kept_on_float_input():
    _, changed = RemoveIdentityInputThreshold().apply(input_quant_model(STEP_255))
    assert not changed


def test_annotate_input_sets_type_and_reports_change():
    model = input_quant_model(STEP_255)
    model, changed = AnnotateInputDatatype("UINT8").apply(model)
    assert changed and model.get_tensor_datatype("inp") == DataType["UINT8"]
    _, changed = AnnotateInputDatatype("UINT8").apply(model)
    assert not changed


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("UINT99X", "QONNX datatype name such as 'UINT8', not 'UINT99X'"),
        ("FLOAT32", "integer type .* not 'FLOAT32'"),
    ],
)
def test_annotate_input_rejects_bad_types(name, message):
    with pytest.raises(CompileError, match=message):
        AnnotateInputDatatype(name)


def tail_model() -> ModelWrapper:
    """inp (1,3) -> MatMul(W) -> Mul(per-channel scale) -> Add(bias) -> out."""
    nodes = [
        helper.make_node("MatMul", ["inp", "W"], ["acc"], name="MatMul_0"),
        helper.make_node("Mul", ["acc", "s"], ["scaled"], name="Mul_0"),
        helper.make_node("Add", ["scaled", "b"], ["out"], name="Add_0"),
    ]
    graph = helper.make_graph(nodes, "g", [_vi("inp", [1, 3])], [_vi("out", [1, 2])])
    model = ModelWrapper(qonnx_make_model(graph))
    model.set_initializer("W", W)
    model.set_initializer("s", np.array([[0.5, 0.25]], dtype=np.float32))
    model.set_initializer("b", np.array([1.0], dtype=np.float32))
    model = model.transform(InferShapes())
    model.set_tensor_datatype("acc", DataType["INT5"])
    return model


def test_host_tail_is_split_off_and_replays_exactly():
    model = tail_model()
    x = np.array([[1, 2, 3]], dtype=np.float32)
    expected = execute_onnx(model, {"inp": x})["out"]
    model = model.transform(SplitOffHostTail())
    assert [n.op_type for n in model.graph.node] == ["MatMul"]
    assert model.graph.output[0].name == "acc"
    assert model.get_tensor_datatype("acc") == DataType["INT5"]
    tail = json.loads(model.get_metadata_prop(HOST_TAIL_KEY))
    assert [op["op_type"] for op in tail] == ["Mul", "Add"]
    acc = execute_onnx(model, {"inp": x})["acc"]
    np.testing.assert_array_equal(acc, x @ W)
    np.testing.assert_array_equal(apply_host_tail(tail, acc), expected)


def test_split_host_tail_leaves_a_graph_without_tail_unchanged():
    model = mvau_model("UINT2")
    _, changed = SplitOffHostTail().apply(model)
    assert not changed


def test_init_finn_uses_the_given_build_dir(tmp_path: Path):
    pytest.importorskip("finn")
    from finn.util.settings import get_settings

    from flow.finn_compat import init_finn

    init_finn(tmp_path / "finn")
    assert get_settings().finn_build_dir == (tmp_path / "finn").resolve()
    assert (tmp_path / "finn").is_dir()


def _chain_model() -> ModelWrapper:
    """inp (1,3) -> MVAU_0 (4 ch) -> Thresholding_0 -> MVAU_1 (3 ch) -> Thresholding_1 ->
    MVAU_2 (2 ch) -> out, with channels made to be pruned (see the test)."""
    w0 = np.array([[1, 0, 2, 0], [-1, 0, 1, 0], [2, 0, -3, 0]], dtype=np.float32)
    w1 = np.array([[0, 1, -2], [0, 2, 1], [0, 0, 0], [0, -1, 3]], dtype=np.float32)
    w2 = np.array([[1, -1], [2, 0], [-1, 3]], dtype=np.float32)
    t0 = np.array([[0.5, 2, 4], [-1, 0.5, 2], [1, 2, 3], [1, 2, 3]], dtype=np.float32)
    t1 = np.array([[-2, 1, 3], [0.5, 1, 5], [-1, 2, 4]], dtype=np.float32)

    def mvau(name, i, o, mw, mh, idt):
        return helper.make_node(
            "MVAU", [i, f"W{name}"], [o], domain=HW, backend="fpgadataflow", MW=mw, MH=mh,
            SIMD=1, PE=1, inputDataType=idt, weightDataType="INT4", outputDataType="INT32",
            accDataType="INT32", noActivation=1, name=f"MVAU_{name}",
        )  # fmt: skip

    def thr(name, i, o, ch):
        return helper.make_node(
            "Thresholding", [i, f"T{name}"], [o], domain=HW, backend="fpgadataflow",
            NumChannels=ch, PE=1, numSteps=3, inputDataType="INT32", weightDataType="FLOAT32",
            outputDataType="UINT2", ActVal=0, name=f"Thresholding_{name}",
        )  # fmt: skip

    nodes = [
        mvau("0", "inp", "a0", 3, 4, "UINT2"), thr("0", "a0", "h0", 4),
        mvau("1", "h0", "a1", 4, 3, "UINT2"), thr("1", "a1", "h1", 3),
        mvau("2", "h1", "out", 3, 2, "UINT2"),
    ]  # fmt: skip
    graph = helper.make_graph(nodes, "g", [_vi("inp", [1, 3])], [_vi("out", [1, 2])])
    model = ModelWrapper(qonnx_make_model(graph))
    for name, w in (("W0", w0), ("W1", w1), ("W2", w2)):
        model.set_initializer(name, w)
        model.set_tensor_datatype(name, DataType["INT4"])
    model.set_initializer("T0", t0)
    model.set_initializer("T1", t1)
    model.set_tensor_datatype("inp", DataType["UINT2"])
    return model.transform(InferShapes())


def test_dead_and_unread_channels_are_pruned_and_the_outputs_do_not_change():
    from flow.passes import PruneDeadChannels

    model = _chain_model()
    before = run_all_inputs(model, "UINT2")
    prune = PruneDeadChannels()
    pruned = model.transform(prune)
    # Layer 0: channel 1 always outputs 1 (acc 0 >= -1): moved into Thresholding_1; channel 2
    # is read by no weight of layer 1; channel 3 always outputs 0. Only channel 0 is left.
    # Layer 1: channel 0 is constant 1 but MVAU_2 has no thresholds after it: it stays.
    assert prune.pruned == {"MVAU_0": 3} and prune.folded == {"MVAU_0": 1}
    inst = {n.name: getCustomOp(n) for n in pruned.graph.node}
    assert inst["MVAU_0"].get_nodeattr("MH") == 1 and inst["MVAU_1"].get_nodeattr("MW") == 1
    assert inst["Thresholding_0"].get_nodeattr("NumChannels") == 1
    assert inst["MVAU_1"].get_nodeattr("MH") == 3
    assert pruned.get_tensor_shape("h0") == [1, 1]
    # Channel 1 of layer 0 (value 1) weighed (0, 2, 1) into layer 1's outputs.
    t1 = pruned.get_initializer("T1")
    assert np.array_equal(t1, np.array([[-2, 1, 3], [-1.5, -1, 3], [-2, 1, 3]], dtype=np.float32))
    assert np.array_equal(run_all_inputs(pruned, "UINT2"), before)
    # A fixed point: nothing more to remove.
    again = PruneDeadChannels()
    pruned.transform(again)
    assert again.pruned == {}
