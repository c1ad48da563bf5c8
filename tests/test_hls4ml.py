"""The hls4ml bridge (flow/hls4ml_bridge.py, ``a2q hls4ml``): hls4ml 1.3.0 reads the model it
writes, with the config it writes, and its C simulation gives the HW graph's class on every
test digit, with our exact accumulator widths."""

from __future__ import annotations

import copy
import re
import sys

import numpy as np
import pytest
import yaml
from onnx import TensorProto, helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.util.basic import qonnx_make_model

from flow import artifacts
from flow.cli import main
from flow.data.loading import load_data
from flow.hls4ml_bridge import Hls4mlError, export_hls4ml, hls4ml_model
from flow.passes import (
    ConstWeightGemmToMatMul,
    MoveReshapeBeforeQuant,
    MoveWeightScaleAfterMatMul,
)
from tests.conftest import TINY


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """The tiny MLP built until verify: (config, build folder)."""
    from flow.config import parse_config
    from flow.pipeline import run_pipeline

    root = tmp_path_factory.mktemp("hls4ml")
    cfg = parse_config(copy.deepcopy(TINY))
    run_pipeline(cfg, root, until="verify", show_progress=False)
    return cfg, root / "tiny"


def _width(precision: str) -> int:
    """The width of an hls4ml precision string (``fixed<13,13>``, ``ufixed<4,4,RND_CONV,SAT>``)."""
    return int(re.match(r"u?fixed<(\d+),", precision).group(1))


def test_hls4ml_gives_the_hw_graph_class_on_every_test_digit(build, tmp_path):
    import hls4ml
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    cfg, b = build
    result = export_hls4ml(b)
    assert result["model"] == b / "hls4ml" / "model.onnx"
    assert not list((b / "hls4ml").glob(".*tmp"))
    # The steps hls4ml's documentation asks for, on the file as written, change nothing.
    written = ModelWrapper(str(result["model"]))
    model = cleanup_model(written)
    model = cleanup_model(
        model.transform(ConvertToChannelsLastAndClean()).transform(GemmToMatMul())
    )
    ops = [(n.name, n.op_type) for n in model.graph.node]
    assert ops == [(n.name, n.op_type) for n in written.graph.node]

    text = result["config"].read_text()
    assert text.startswith("# hls_config for hls4ml") and "export/model.onnx (" in text
    config = yaml.safe_load(text)
    accs = artifacts.ACCUMULATORS.read(b)
    accum = [p["accum"] for p in _precisions(config) if "accum" in p]
    assert [_width(a) for a in accum] == [r["hw_acc_bits"] for r in accs]

    hls = hls4ml.converters.convert_from_onnx_model(
        model, output_dir=str(tmp_path / "prj"), backend="Vitis", hls_config=config
    )
    dense = [layer for layer in hls.get_layers() if layer.class_name == "Dense"]
    assert [d.types["accum_t"].precision.width for d in dense] == [r["hw_acc_bits"] for r in accs]
    hls.compile()
    ds = load_data(cfg)
    x = np.ascontiguousarray(ds.x_test.reshape(len(ds.x_test), -1), dtype=np.float32)
    predicted = np.asarray(hls.predict(x)).argmax(axis=1)
    hw = artifacts.VERIFY_OUTPUTS.read(b)["hw"].reshape(-1)
    assert len(predicted) == len(hw) == 360
    assert int((predicted != hw).sum()) == 0
    # hls4ml's own inference (every type "auto") is wider than our exact accumulators.
    for row in result["layers"]:
        assert _width(row["hls4ml_inferred_accum"]) > row["hw_acc_bits"], row


def _precisions(config: dict) -> list[dict]:
    return [layer.get("Precision") or {} for layer in config["LayerName"].values()]


def test_rewritten_model_computes_what_the_export_does(build):
    cfg, b = build
    original = artifacts.QONNX.read(b)
    rewritten = hls4ml_model(original)
    ops = {n.op_type for n in rewritten.graph.node}
    assert ops == {"Quant", "MatMul", "Mul", "BatchNormalization", "Relu"}
    x = load_data(cfg).x_test[:16].astype(np.float32)
    for sample in x:
        a = execute_onnx(original, {original.graph.input[0].name: sample[None]})
        r = execute_onnx(rewritten, {rewritten.graph.input[0].name: sample.reshape(1, -1)})
        np.testing.assert_allclose(
            r[rewritten.graph.output[0].name],
            a[original.graph.output[0].name],
            rtol=1e-5,
            atol=1e-5,
        )
    # Nothing is left for the rewrites: they say so.
    for rewrite in (MoveReshapeBeforeQuant, ConstWeightGemmToMatMul, MoveWeightScaleAfterMatMul):
        assert not rewrite().apply(rewritten)[1]


def _quant(name: str, x: str, out: str, scale: np.ndarray, bits: int, signed: int = 1):
    inits = [
        helper.make_tensor(f"{name}_s", TensorProto.FLOAT, scale.shape, scale.ravel()),
        helper.make_tensor(f"{name}_z", TensorProto.FLOAT, [], [0.0]),
        helper.make_tensor(f"{name}_b", TensorProto.FLOAT, [], [float(bits)]),
    ]
    node = helper.make_node(
        "Quant", [x, f"{name}_s", f"{name}_z", f"{name}_b"], [out], name,
        domain="qonnx.custom_op.general", signed=signed, narrow=signed, rounding_mode="ROUND",
    )  # fmt: skip
    return node, inits


def _mlp_graph() -> ModelWrapper:
    """x (1,2,3) -> Quant (one scale) -> flatten -> Gemm(W quantized per output channel,
    transB, bias C): the shapes Brevitas exports and hls4ml cannot read as they are."""
    rng = np.random.default_rng(0)
    q_in, in_inits = _quant("qin", "x", "xq", np.array(0.25, dtype=np.float32), 4, 0)
    scale = np.array([[0.5], [0.25], [0.125]], dtype=np.float32)
    q_w, w_inits = _quant("qw", "w", "wq", scale, 4)
    w = helper.make_tensor("w", TensorProto.FLOAT, [3, 6], rng.normal(size=18).astype(np.float32))
    c = helper.make_tensor("c", TensorProto.FLOAT, [3], [0.5, -1.0, 2.0])
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [1, 6])
    nodes = [
        q_in,
        helper.make_node("Reshape", ["xq", "shape"], ["flat"], "flatten"),
        q_w,
        helper.make_node("Gemm", ["flat", "wq", "c"], ["y"], "fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        [w, c, shape, *in_inits, *w_inits],
    )
    return ModelWrapper(qonnx_make_model(graph, producer_name="test")).transform(InferShapes())


def test_rewrites_keep_a_biased_per_channel_gemm_behind_a_flatten_exact():
    original = _mlp_graph()
    x = np.random.default_rng(1).uniform(0, 4, size=(1, 2, 3)).astype(np.float32)
    want = execute_onnx(original, {"x": x})["y"]
    rewritten = hls4ml_model(ModelWrapper(original.model.SerializeToString()))
    assert [n.op_type for n in rewritten.graph.node] == ["Quant", "Quant", "MatMul", "Mul", "Add"]
    assert rewritten.get_tensor_shape(rewritten.graph.input[0].name) == [1, 6]
    got = execute_onnx(rewritten, {rewritten.graph.input[0].name: x.reshape(1, 6)})
    np.testing.assert_allclose(got[rewritten.graph.output[0].name], want, rtol=1e-6)
    matmul = rewritten.graph.node[2]
    w = [rewritten.get_initializer(t) for t in rewritten.find_producer(matmul.input[1]).input[:2]]
    assert np.array_equal(w[0], np.rint(w[0])) and w[1] == 1  # integer weights, scale 1


def test_conv_nets_are_refused_naming_the_node():
    w = helper.make_tensor("w", TensorProto.FLOAT, [2, 1, 3, 3], np.ones(18, dtype=np.float32))
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="conv0", pads=[1, 1, 1, 1])],
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4])],
        [w],
    )
    model = ModelWrapper(helper.make_model(graph))
    says = r"cnv/export/model.onnx: node Conv_0 \(Conv\) cannot be bridged .* not supported"
    with pytest.raises(Hls4mlError, match=says):
        hls4ml_model(model, "cnv/export/model.onnx")


def test_a_build_not_compiled_is_an_error_exit(tmp_path, capsys):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(TINY))
    assert main(["hls4ml", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "the export stage has not finished" in err
    assert main(["hls4ml", str(tmp_path / "nowhere")]) == 2
    assert "no such build folder" in capsys.readouterr().err


def test_missing_hls4ml_says_how_to_install_it(build, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "hls4ml", None)
    assert main(["hls4ml", str(build[1])]) == 2
    assert "hls4ml is not installed: pip install hls4ml==1.3.0" in capsys.readouterr().err
