"""The integer executor on CNN HW graphs: bit-exact with FINN's Python execution.

Small HW graphs are built directly from FINN's fpgadataflow custom ops (random integer
weights and thresholds), executed by FINN (``execute_finn``) and by ``IntegerGraph``.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.util.basic import qonnx_make_model

from flow.executor import IntegerGraph, execute_finn, graph_input, wrap
from flow.ops.thresholding import _threshold, _ThresholdTable
from flow.passes import hw_layer_summary
from flow.verify import sum_ranges, worst_case_check

HW = "finn.custom_op.fpgadataflow"


@pytest.fixture(scope="module", autouse=True)
def _finn(tmp_path_factory):
    from flow.finn_compat import finn_api, init_finn

    init_finn(tmp_path_factory.mktemp("finn"))
    finn_api()


class Graph:
    """A HW graph under construction: tensors with shapes and FINN datatypes, nodes in order."""

    def __init__(self, shape: list[int], dtype: str) -> None:
        self.rng = np.random.default_rng(0)
        self.nodes: list = []
        self.tensors: dict[str, tuple[list[int], str]] = {"inp": (shape, dtype)}
        self.inits: dict[str, tuple[np.ndarray, str]] = {}
        self.last = "inp"

    def node(self, op: str, ins: list[str], out_shape, out_dtype: str, /, n_out=1, **attrs):
        i = len(self.nodes)
        outs = [f"t{i}_{k}" for k in range(n_out)]
        for t in outs:
            self.tensors[t] = (list(out_shape), out_dtype)
        self.nodes.append(
            helper.make_node(
                op, ins, outs, name=f"{op}_{i}", domain=HW, backend="fpgadataflow", **attrs
            )
        )
        self.last = outs[0]
        return outs[0] if n_out == 1 else outs

    def init(self, name: str, value: np.ndarray, dtype: str) -> str:
        self.inits[name] = (value.astype(np.float32), dtype)
        return name

    def pad(self, src: str, pad: list[int]) -> str:
        (_, h, w, c), dt = self.tensors[src]
        shape = [1, h + pad[0] + pad[2], w + pad[1] + pad[3], c]
        return self.node(
            "FMPadding",
            [src],
            shape,
            dt,
            ImgDim=[h, w],
            Padding=pad,
            NumChannels=c,
            SIMD=1,
            inputDataType=dt,
        )

    def swg(self, src: str, k, s, depthwise=0, dilation=(1, 1)) -> str:
        (_, h, w, c), dt = self.tensors[src]
        oh = (h - dilation[0] * (k[0] - 1) - 1) // s[0] + 1
        ow = (w - dilation[1] * (k[1] - 1) - 1) // s[1] + 1
        return self.node(
            "ConvolutionInputGenerator",
            [src],
            [1, oh, ow, k[0] * k[1] * c],
            dt,
            ConvKernelDim=list(k),
            IFMChannels=c,
            IFMDim=[h, w],
            OFMDim=[oh, ow],
            SIMD=1,
            Stride=list(s),
            Dilation=list(dilation),
            inputDataType=dt,
            outputDataType=dt,
            depthwise=depthwise,
        )

    def mvau(self, src: str, mh: int, wdt="INT4", flatten=False) -> str:
        shape, dt = self.tensors[src]
        mw = int(np.prod(shape[1:])) if flatten else shape[-1]
        vectors = [1] if flatten else shape[:-1]
        w = self.rng.integers(DataType[wdt].min(), DataType[wdt].max() + 1, size=(mw, mh))
        name = self.init(f"w{len(self.nodes)}", w, wdt)
        return self.node(
            "MVAU",
            [src, name],
            [*vectors, mh],
            "INT32",
            MW=mw,
            MH=mh,
            PE=1,
            SIMD=1,
            inputDataType=dt,
            weightDataType=wdt,
            outputDataType="INT32",
            accDataType="INT32",
            noActivation=1,
            numInputVectors=vectors,
        )

    def vvau(self, src: str, k, pe: int, weights=None, acc="INT32") -> str:
        (_, h, w, kc), dt = self.tensors[src]
        c = kc // (k[0] * k[1])
        if weights is None:
            weights = self.rng.integers(-8, 8, size=(c, 1, *k))
        name = self.init(f"w{len(self.nodes)}", weights, "INT4")
        return self.node(
            "VVAU",
            [src, name],
            [1, h, w, c],
            acc,
            PE=pe,
            SIMD=1,
            Dim=[h, w],
            Channels=c,
            Kernel=list(k),
            inputDataType=dt,
            weightDataType="INT4",
            outputDataType=acc,
            accDataType=acc,
            noActivation=1,
        )

    def thresholds(
        self, src: str, steps: int, odt: str, act: int, lo: int, hi: int, per_channel=True
    ) -> str:
        shape, dt = self.tensors[src]
        c = shape[-1]
        t = np.sort(self.rng.integers(lo, hi, size=(c if per_channel else 1, steps)), axis=1)
        name = self.init(f"thr{len(self.nodes)}", t, "INT32")
        return self.node(
            "Thresholding",
            [src, name],
            shape,
            odt,
            PE=1,
            NumChannels=c,
            numSteps=steps,
            inputDataType=dt,
            weightDataType="INT32",
            outputDataType=odt,
            ActVal=act,
            numInputVectors=shape[:-1],
        )

    def model(self, out: str | None = None) -> ModelWrapper:
        """The graph up to the node producing ``out`` (default: the last), as a model."""
        out = out or self.last
        upto = next(i for i, n in enumerate(self.nodes) if out in n.output)
        nodes = self.nodes[: upto + 1]
        used = {t for n in nodes for t in [*n.input, *n.output]}

        def vi(t):
            return helper.make_tensor_value_info(t, TensorProto.FLOAT, self.tensors[t][0])

        inner = [vi(t) for t in self.tensors if t in used and t not in ("inp", out)]
        inner += [
            helper.make_tensor_value_info(n, TensorProto.FLOAT, v.shape)
            for n, (v, _) in self.inits.items()
            if n in used
        ]
        graph = helper.make_graph(nodes, "g", [vi("inp")], [vi(out)], value_info=inner)
        m = ModelWrapper(qonnx_make_model(graph))
        for t, (_, dt) in self.tensors.items():
            if t in used:
                m.set_tensor_datatype(t, DataType[dt])
        for n, (v, dt) in self.inits.items():
            if n not in used:
                continue
            m.set_initializer(n, v)
            m.set_tensor_datatype(n, DataType[dt])
        return m


def _nchw(g: Graph, n: int, hi: int, seed: int = 1) -> np.ndarray:
    (_, h, w, c), _ = g.tensors["inp"]
    return np.random.default_rng(seed).integers(0, hi + 1, size=(n, c, h, w))


def _both(model: ModelWrapper, x: np.ndarray):
    ours = IntegerGraph(hw_layer_summary(model)).run(x)
    finn = execute_finn(model, x)
    return ours, finn


def test_graph_input_layouts():
    x = np.arange(2 * 3 * 2 * 2).reshape(2, 3, 2, 2)  # NCHW
    nhwc = graph_input(x, [1, 2, 2, 3])
    assert nhwc.shape == (2, 2, 2, 3)
    assert nhwc[1, 0, 1].tolist() == [13, 17, 21]  # sample 1, h=0, w=1, channels 0..2
    assert graph_input(x, [1, 12]).tolist() == x.reshape(2, 12).tolist()


def test_conv_chain_matches_finn():
    # Asymmetric padding, non-square kernel and stride, a per-pixel MVAU, signed thresholds,
    # a flattening MVAU: the logits must equal FINN's, every sample.
    g = Graph([1, 6, 5, 2], "UINT4")
    t = g.pad("inp", [1, 0, 2, 1])  # -> 9 x 6
    t = g.swg(t, (3, 2), (2, 1))  # -> 4 x 5 windows of 3*2*2
    assert g.tensors[t][0] == [1, 4, 5, 12]
    t = g.mvau(t, 4)
    t = g.thresholds(t, 7, "INT3", -4, -60, 60)
    t = g.mvau(t, 5, flatten=True)
    model = g.model()
    x = _nchw(g, 5, 15)
    ours, finn = _both(model, x)
    assert ours.outputs.shape == finn.shape == (5, 5)
    assert np.array_equal(ours.outputs, finn.astype(np.int64))
    assert ours.dot_products == {"MVAU_2": 5 * 20 * 4, "MVAU_4": 5 * 5}
    assert len(np.unique(ours.outputs)) > 5  # not a degenerate comparison


def test_dilated_window_and_label_select_match_finn():
    g = Graph([1, 7, 7, 3], "UINT8")
    t = g.swg("inp", (2, 2), (1, 1), dilation=(2, 3))  # -> 5 x 4
    assert g.tensors[t][0] == [1, 5, 4, 12]
    g.mvau(t, 6, wdt="INT3")
    model = g.model()
    x = _nchw(g, 3, 255)
    ours, finn = _both(model, x)
    assert np.array_equal(ours.outputs, finn.astype(np.int64))

    g = Graph([1, 1, 1, 12], "UINT4")
    t = g.mvau("inp", 7)
    t = g.node(
        "LabelSelect",
        [t],
        [1, 1],
        "UINT8",
        Labels=7,
        PE=1,
        K=1,
        inputDataType="INT32",
        outputDataType="UINT8",
    )
    x = _nchw(g, 8, 15)
    ours, finn = _both(g.model(), x)
    assert ours.outputs.shape == (8, 1)
    assert np.array_equal(ours.outputs, finn.astype(np.int64))


def test_depthwise_vvau_matches_finn():
    g = Graph([1, 6, 6, 3], "UINT3")
    t = g.pad("inp", [1, 1, 1, 1])
    t = g.swg(t, (3, 3), (2, 2), depthwise=1)  # -> 3 x 3 windows of 9*3, (kh, kw, c)
    t = g.vvau(t, (3, 3), pe=3)
    t = g.thresholds(t, 40, "UINT6", 0, -80, 80)  # more steps than the per-step loop takes
    model = g.model()
    x = _nchw(g, 4, 7)
    ours, finn = _both(model, x)
    assert np.array_equal(ours.outputs, finn.astype(np.int64))
    assert len(np.unique(ours.outputs)) > 5


def test_vvau_without_window_reads_pe_groups_like_finn():
    # Fed by no sliding window, FINN's VVAU takes its input as (C/PE, K, PE) groups.
    g = Graph([1, 2, 2, 4 * 4], "UINT4")
    g.vvau("inp", (2, 2), pe=2)
    x = _nchw(g, 3, 15)
    ours, finn = _both(g.model(), x)
    assert np.array_equal(ours.outputs, finn.astype(np.int64))


def test_maxpool_and_global_acc_pool_match_finn():
    g = Graph([1, 8, 6, 5], "UINT4")
    t = g.swg("inp", (2, 2), (2, 2), depthwise=1)  # -> 4 x 3 windows of 2*2*5
    t = g.node(
        "Pool",
        [t],
        [1, 4, 3, 5],
        "UINT4",
        Channels=5,
        PE=1,
        KernelSize=[2, 2],
        Function="MaxPool",
        OutImgDims=[4, 3],
        InputDataType="UINT4",
        OutputDataType="UINT4",
    )
    pooled = t
    g.node(
        "GlobalAccPool",
        [t],
        [1, 1, 1, 5],
        "UINT8",
        NumChannels=5,
        PE=1,
        inputDataType="UINT4",
        numInputVectors=[1, 4, 3],
    )
    x = _nchw(g, 4, 15)
    ours, finn = _both(g.model(), x)
    assert np.array_equal(ours.outputs, finn.astype(np.int64))
    xs = graph_input(x, [1, 8, 6, 5])
    expected = xs.reshape(4, 4, 2, 3, 2, 5).max(axis=(2, 4)).sum(axis=(1, 2))
    assert ours.outputs.tolist() == expected.tolist()
    ours_pool, finn_pool = _both(g.model(out=pooled), x)
    assert np.array_equal(ours_pool.outputs, finn_pool.astype(np.int64))


def test_residual_fork_and_add_match_finn():
    # DuplicateStreams -> (conv + thresholds, identity) -> ElementwiseAdd -> GlobalAccPool.
    g = Graph([1, 4, 4, 3], "INT4")
    a, b = g.node(
        "DuplicateStreams",
        ["inp"],
        [1, 4, 4, 3],
        "INT4",
        n_out=2,
        NumChannels=3,
        PE=1,
        NumOutputStreams=2,
        inputDataType="INT4",
        numInputVectors=[1, 4, 4],
    )
    t = g.pad(a, [1, 1, 1, 1])
    t = g.swg(t, (3, 3), (1, 1))
    t = g.mvau(t, 3)
    t = g.thresholds(t, 15, "INT4", -8, -70, 70)
    s = g.node(
        "ElementwiseAdd",
        [t, b],
        [1, 4, 4, 3],
        "INT5",
        lhs_dtype="INT4",
        rhs_dtype="INT4",
        out_dtype="INT5",
        lhs_shape=[1, 4, 4, 3],
        rhs_shape=[1, 4, 4, 3],
        out_shape=[1, 4, 4, 3],
    )
    g.node(
        "GlobalAccPool",
        [s],
        [1, 1, 1, 3],
        "INT9",
        NumChannels=3,
        PE=1,
        inputDataType="INT5",
        numInputVectors=[1, 4, 4],
    )
    model = g.model()
    x = _nchw(g, 4, 7) - np.random.default_rng(2).integers(0, 9, size=(4, 3, 4, 4))
    summary = hw_layer_summary(model)
    graph = IntegerGraph(summary)
    ours = graph.run(x)
    finn = execute_finn(model, x)
    assert np.array_equal(ours.outputs, finn.astype(np.int64))
    assert len(np.unique(ours.outputs)) > 5
    sums = sum_ranges(graph, summary, ours)
    assert [r["op_type"] for r in sums] == ["ElementwiseAdd", "GlobalAccPool"]
    add, gap = sums
    assert (add["datatype_min"], add["datatype_max"]) == (-16, 15)
    assert add["fits"] and gap["fits"]
    assert (gap["observed_min"], gap["observed_max"]) == (ours.outputs.min(), ours.outputs.max())
    # The same sums against a declared type too narrow for them.
    summary[graph.nodes_of("GlobalAccPool")[0]]["out_dtypes"] = ["INT3"]
    assert not sum_ranges(graph, summary, ours)[1]["fits"]


@pytest.mark.filterwarnings("ignore:The values of tensor")  # FINN: 945 is not an INT10
def test_vvau_wrap_counts_known_overflow():
    # One 3x3 window, 2 channels: channel 0 has weights 7 (max 9*7*15 = 945), channel 1
    # weights 1 (max 135). A 10-bit accumulator holds -512..511: only channel 0 overflows,
    # and only for the all-15 samples.
    w = np.stack([np.full((1, 3, 3), 7), np.ones((1, 3, 3))]).astype(np.int64)
    g = Graph([1, 3, 3, 2], "UINT4")
    t = g.swg("inp", (3, 3), (1, 1), depthwise=1)
    g.vvau(t, (3, 3), pe=2, weights=w, acc="INT10")
    model = g.model()
    summary = hw_layer_summary(model)
    graph = IntegerGraph(summary)
    assert graph.mac_nodes == ["VVAU_1"]
    assert summary["VVAU_1"]["exact_range"] == [0, 945]
    x = np.stack([np.full((2, 3, 3), 15), np.zeros((2, 3, 3)), np.full((2, 3, 3), 15)])
    x[1, 1] = 15  # channel 1 only: 135 fits
    res = graph.run(x, {"VVAU_1": 10})
    assert res.overflow_events == {"VVAU_1": 2}
    assert res.dot_products == {"VVAU_1": 6}
    assert res.outputs.tolist() == [[945 - 1024, 135], [0, 135], [945 - 1024, 135]]
    assert wrap(np.array(945), 10) == -79
    exact = graph.run(x)
    assert exact.overflow_events == {"VVAU_1": 0}
    assert np.array_equal(exact.outputs, execute_finn(model, x).astype(np.int64))
    rows = worst_case_check(summary)
    assert rows == [
        {
            "node": "VVAU_1",
            "hw_acc_bits": 10,
            "channels": 2,
            "worst_min": 0,
            "worst_max": 945,
            "fits": False,
            "overflowing_channels": [0],
        }
    ]
    summary["VVAU_1"]["accDataType"] = "INT11"
    assert worst_case_check(summary)[0]["fits"]


def test_large_values_stay_exact():
    # Dot products beyond float32 and float64 exactness are still exact (int64).
    g = Graph([1, 1, 1, 64], "INT32")
    g.mvau("inp", 3, wdt="INT16")
    graph = IntegerGraph(hw_layer_summary(g.model()))
    rng = np.random.default_rng(3)
    for hi in (1 << 20, 1 << 31):
        x = rng.integers(-hi, hi, size=(5, 64, 1, 1))
        w = g.inits["w0"][0].astype(np.int64)
        expected = x.reshape(5, 64).astype(object) @ w.astype(object)
        assert graph.run(x).outputs.tolist() == expected.tolist()


def test_threshold_helpers_equal_brute_force():
    rng = np.random.default_rng(4)
    h = rng.integers(-300, 300, size=(7, 3, 5))
    for steps in (3, 40):
        for rows in (5, 1):
            t = rng.integers(-250, 250, size=(rows, steps))  # unsorted on purpose
            brute = (h[..., None] >= t).sum(-1)
            assert np.array_equal(_threshold(h, t), brute)
            assert np.array_equal(_ThresholdTable(t, 0, False)(h), brute)
            assert np.array_equal(_ThresholdTable(t, -2, True)(h), 2 * (brute - 2) - 1)
