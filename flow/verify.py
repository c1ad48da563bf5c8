"""Independent verification of a compiled HW graph (no FINN code is used here).

- ``IntegerGraph`` executes the HW graph's integer semantics exactly in numpy (padding,
  sliding windows, MVAU/VVAU dot products, threshold counting, pools, forks and residual
  adds, top-1), by tensor name so DAGs work, optionally wrapping chosen accumulators to P bits
  and counting the dot products that overflow. Samples enter through :func:`graph_input`.
- Worst-case check: for every MAC layer (MVAU, VVAU) and output channel, the two input
  vectors that reach the extremes of the dot product (``bounds.worst_case_inputs``),
  evaluated in Python ints, must fit the hardware accumulator.
- Fidelity: FINN's Python execution of ``hw.onnx`` and our executor against the exported
  QONNX model on the test set (``verify.json``).
- Wrap-around study: accumulators forced to narrower widths, overflow events per layer and
  the accuracy wrap-around leaves (``overflow.json``) — the motivation for A2Q. The same file
  holds every residual add's and global pool's observed range against its datatype.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from flow import artifacts, bounds
from flow.config import BuildConfig, LayerPlan, layer_plans
from flow.data.loading import load_data
from flow.errors import CompileError
from flow.metrics import PSNR, metric_for, score
from flow.passes import apply_host_tail, hw_layer_summary

log = logging.getLogger(__name__)


def wrap(values: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement wrap-around of int64 values to ``bits`` bits."""
    half = 1 << (bits - 1)
    return ((values + half) % (1 << bits)) - half


def overflows(values: np.ndarray, bits: int) -> np.ndarray:
    """Mask of values outside the signed ``bits``-bit range."""
    half = 1 << (bits - 1)
    return (values < -half) | (values > half - 1)


def graph_input(x: np.ndarray, shape) -> np.ndarray:
    """A batch of dataset samples (NCHW, or that order flattened) as a HW graph's input.

    ``shape`` is the graph input's shape, batch first. A 4-D HW graph input is NHWC, so the
    samples are transposed from NCHW; any other rank takes the samples' NCHW element order
    as it is (an MLP's flattened image). Returns ``(N, *shape[1:])``, dtype of ``x``.
    """
    x = np.asarray(x)
    shape = [int(d) for d in shape]
    if len(shape) == 4:
        _, h, w, c = shape
        return x.reshape(len(x), c, h, w).transpose(0, 2, 3, 1)
    return x.reshape(len(x), *shape[1:])


@dataclass
class RunResult:
    """Outputs of an integer run and, per MAC node, its overflow count and dot-product count.

    ``ranges``: per node, the ``(min, max)`` of its (first) output over the batch.
    ``accumulators``: per MAC node its (wrapped) accumulator outputs, only when asked for.
    """

    outputs: np.ndarray
    overflow_events: dict[str, int]
    dot_products: dict[str, int]
    accumulators: dict[str, np.ndarray]
    ranges: dict[str, tuple[int, int]] = field(default_factory=dict)


_MAC_OPS = ("MVAU", "VVAU")
# Element budgets of the largest tensor of one chunk of samples, and of a sliding window's
# expansion (a sub-batch of it): small enough to stay cache- and allocator-friendly.
_CHUNK_ELEMENTS = 1 << 20
_WINDOW_ELEMENTS = 1 << 22
# Thresholds compared one step at a time up to this many steps, by a search beyond.
_THRESHOLD_LOOP_STEPS = 32
# Largest lookup table (channels x threshold span) a Thresholding node is run with.
_THRESHOLD_LUT_ENTRIES = 1 << 22
# Integers up to these magnitudes are exact in float32 / float64, sums of them included.
_F32_EXACT, _F64_EXACT = 1 << 24, 1 << 53


def _mag(lo: int, hi: int) -> int:
    return max(abs(lo), abs(hi))


def _compact(h: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``h`` as float32 when its values (in [lo, hi]) are exact there: cheaper to move."""
    return h.astype(np.float32) if _mag(lo, hi) < _F32_EXACT else h.astype(np.int64, copy=False)


def _exact_dtype(bound: int) -> type:
    """The cheapest dtype whose arithmetic is exact on integers up to ``bound``."""
    if bound < _F32_EXACT:
        return np.float32
    return np.float64 if bound < _F64_EXACT else np.int64


def _threshold(h: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per element, how many of its channel's thresholds (``t``: (C or 1, steps)) it reaches.

    Channels are the last axis. FINN's MultiThreshold counts ``x >= t`` over all steps, which
    does not depend on the order of the thresholds. ``h`` holds integers (any dtype).
    """
    h = h.astype(np.int64, copy=False)
    steps = t.shape[1]
    if steps <= _THRESHOLD_LOOP_STEPS:
        small = _mag(int(h.min(initial=0)), int(h.max(initial=0))) < 1 << 31
        small = small and _mag(int(t.min()), int(t.max())) < 1 << 31
        hs, ts = (h.astype(np.int32), t.astype(np.int32)) if small else (h, t)
        out = np.zeros(h.shape, dtype=np.int16)
        for s in range(steps):
            out += hs >= ts[:, s]
        return out
    ts = np.sort(t, axis=1)
    lo, hi = int(ts.min()), int(ts.max())
    xc = np.clip(h, lo - 1, hi) - (lo - 1)  # in [0, span): the count is unchanged
    if ts.shape[0] == 1:
        return np.searchsorted(ts[0] - (lo - 1), xc, side="right")
    span = hi - lo + 2
    offsets = np.arange(ts.shape[0], dtype=np.int64) * span
    flat = (ts - (lo - 1) + offsets[:, None]).reshape(-1)
    pos = np.searchsorted(flat, xc + offsets, side="right")
    return pos - np.arange(ts.shape[0], dtype=np.int64) * steps


class _ThresholdTable:
    """A Thresholding node as a lookup table: output per (channel, clipped input value).

    Inputs below the lowest threshold reach none of them and inputs above the highest
    reach all, so clipping to ``[tmin - 1, tmax]`` leaves every count unchanged.
    """

    def __init__(self, t: np.ndarray, act_val: int, bipolar: bool) -> None:
        ts = np.sort(t, axis=1)
        self.lo, self.hi = int(ts.min()) - 1, int(ts.max())
        span = self.hi - self.lo + 1
        values = np.arange(self.lo, self.hi + 1, dtype=np.int64)
        counts = np.stack([np.searchsorted(row, values, side="right") for row in ts])
        y = counts + act_val
        y = 2 * y - 1 if bipolar else y
        small = _mag(int(y.min()), int(y.max())) < _F32_EXACT
        self.table = y.astype(np.float32 if small else np.int64)
        self.table = self.table.reshape(-1)
        self.offsets = np.arange(len(ts), dtype=np.int64) * span - self.lo
        self.index_dtype = np.int32 if len(ts) * span < 1 << 31 else np.int64

    def __call__(self, h: np.ndarray) -> np.ndarray:
        idx = np.empty(h.shape, dtype=self.index_dtype)
        np.clip(h, self.lo, self.hi, out=idx, casting="unsafe")
        idx += self.offsets.astype(self.index_dtype)
        return self.table.take(idx)


def _im2col(h: np.ndarray, e: dict) -> np.ndarray:
    """FINN's ConvolutionInputGenerator (qonnx Im2Col): NHWC -> (N, OH, OW, KH*KW*C).

    The element order of a window is (kh, kw, c), depthwise or not.
    """
    (ih, iw), c = e["IFMDim"], int(e["IFMChannels"])
    (kh, kw), (sh, sw) = e["ConvKernelDim"], e["Stride"]
    dh, dw = e.get("Dilation", [1, 1])
    oh, ow = e["OFMDim"]
    h = h.reshape(len(h), ih, iw, c)
    win = np.lib.stride_tricks.sliding_window_view(
        h, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(1, 2)
    )  # (N, IH', IW', C, KH', KW')
    win = win[:, : (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw, :, ::dh, ::dw]
    if win.shape[1:3] != (oh, ow):
        raise CompileError(f"verify: {e['op_type']} window count {win.shape[1:3]} != OFMDim")
    return win.transpose(0, 1, 2, 4, 5, 3).reshape(len(h), oh, ow, kh * kw * c)


def _with_streams(summary: dict[str, dict]) -> dict[str, dict]:
    """``summary`` as it is when it names its streams, else (a hand-written chain of flat
    nodes) with each node reading the previous one's output, shapes left to the data."""
    if all("inputs" in e for e in summary.values()):
        return summary
    out, prev = {}, "global_in"
    for name, e in summary.items():
        out[name] = {
            "inputs": [prev],
            "outputs": [f"{name}_out"],
            "in_shapes": [[1, -1]],
            "out_shapes": [[1, -1]],
            "out_dtypes": [e.get("outputDataType", "")],
            **e,
        }
        prev = f"{name}_out"
    return out


@dataclass
class _Windows:
    """A sliding window's output, expanded for a range of samples when read."""

    h: np.ndarray  # the (compact) NHWC input
    e: dict

    def take(self, a: int, b: int) -> np.ndarray:
        return _im2col(self.h[a:b], self.e)


# Nodes that only move values: their output range is bounded by their input's.
_MOVERS = (
    "FMPadding",
    "ConvolutionInputGenerator",
    "DuplicateStreams",
    "UpsampleNearestNeighbour",
    "StreamingConcat",
)


class IntegerGraph:
    """The integer semantics of a HW graph from ``hw_layer_summary``, evaluated by tensor.

    Nodes run in summary (graph) order on batches ``(N, ...)`` of integers, each reading its
    stream inputs by name, so forks (``DuplicateStreams``) and joins (``ElementwiseAdd``)
    work. Every tensor has the node's NHWC stream shape with the batch first. Values are
    exact integers throughout; small ones travel as float32 (and MACs run in float BLAS)
    only where every value and partial sum is exactly representable, else in int64.
    """

    SUPPORTED = (
        "MVAU",
        "VVAU",
        "Thresholding",
        "LabelSelect",
        "FMPadding",
        "ConvolutionInputGenerator",
        "Pool",
        "GlobalAccPool",
        "DuplicateStreams",
        "ElementwiseAdd",
        "UpsampleNearestNeighbour",
        "StreamingConcat",
    )
    _POOL_FUNCTIONS = ("MaxPool", "AccPool")

    def __init__(self, summary: dict[str, dict]) -> None:
        self.nodes = list(_with_streams(summary).items())
        if not self.nodes:
            raise CompileError("verify: the HW graph has no HW nodes")
        producers: dict[str, str] = {}
        for name, e in self.nodes:
            op = e["op_type"]
            if op not in self.SUPPORTED:
                raise CompileError(
                    f"verify: node {name} ({op}) has no integer model; supported: "
                    f"{', '.join(self.SUPPORTED)}"
                )
            if op == "Pool" and e.get("Function") not in self._POOL_FUNCTIONS:
                raise CompileError(f"verify: {name}: Pool function {e.get('Function')!r}")
            if op == "ElementwiseAdd" and len(e["inputs"]) != 2:
                raise CompileError(f"verify: {name}: ElementwiseAdd needs two stream inputs")
            for t in e["inputs"]:
                if t not in producers and t != self.nodes[0][1]["inputs"][0]:
                    raise CompileError(
                        f"verify: {name} reads {t}, which no earlier HW node produces "
                        "(a non-HW node in the graph, or node names that are not unique)"
                    )
            for t in e["outputs"]:
                producers[t] = op
        first, last = self.nodes[0][1], self.nodes[-1][1]
        self.input_name: str = first["inputs"][0]
        self.input_shape: list[int] = first["in_shapes"][0]
        self.output_name: str = last["outputs"][0]
        self.output_shape: list[int] = last["out_shapes"][0]
        self._producers = producers
        self._weights = {
            n: np.asarray(e["weights"], dtype=np.int64)
            for n, e in self.nodes
            if e["op_type"] in _MAC_OPS
        }
        self._wsum = {n: int(np.abs(w).sum(axis=0).max()) for n, w in self._weights.items()}
        self._wmax = {n: int(np.abs(w).max()) for n, w in self._weights.items()}
        self._thresholds = {
            n: np.asarray(e["thresholds"], dtype=np.int64)
            for n, e in self.nodes
            if e["op_type"] == "Thresholding"
        }
        self._tables = {
            n: _ThresholdTable(t, int(summary[n].get("ActVal", 0)), self._bipolar(summary[n]))
            for n, t in self._thresholds.items()
            if t.size and t.shape[0] * (int(t.max()) - int(t.min()) + 2) <= _THRESHOLD_LUT_ENTRIES
        }
        # A chunk of samples runs through the whole graph; sliding-window outputs (K times
        # their input) are only expanded for sub-batches of it, inside their consumer.
        windows = [e for _, e in self.nodes if e["op_type"] == "ConvolutionInputGenerator"]
        expanded = {t for e in windows for t in e["outputs"]}
        per_sample = max(
            abs(int(np.prod(shape[1:])))
            for _, e in self.nodes
            for t, shape in zip(
                e["inputs"] + e["outputs"], e["in_shapes"] + e["out_shapes"], strict=True
            )
            if t not in expanded
        )
        per_window = max([abs(int(np.prod(e["out_shapes"][0][1:]))) for e in windows], default=1)
        self.chunk = max(1, _CHUNK_ELEMENTS // per_sample)
        self.sub_chunk = max(1, _WINDOW_ELEMENTS // per_window)
        # Tensors no later node reads, freed after node i.
        last_use: dict[str, int] = {}
        for i, (_, e) in enumerate(self.nodes):
            for t in e["inputs"]:
                last_use[t] = i
        self._dead_after: list[list[str]] = [[] for _ in self.nodes]
        for t, i in last_use.items():
            if t != self.output_name:
                self._dead_after[i].append(t)

    @staticmethod
    def _bipolar(e: dict) -> bool:
        return e["out_dtypes"][0] == "BIPOLAR"

    @property
    def mac_nodes(self) -> list[str]:
        """MVAU and VVAU nodes in graph order."""
        return [n for n, e in self.nodes if e["op_type"] in _MAC_OPS]

    def nodes_of(self, *op_types: str) -> list[str]:
        """Names of the nodes of these op types, in graph order."""
        return [n for n, e in self.nodes if e["op_type"] in op_types]

    def run(
        self,
        x: np.ndarray,
        acc_bits: dict[str, int] | None = None,
        *,
        keep_accumulators: bool = False,
    ) -> RunResult:
        """Run a batch of dataset samples (NCHW); ``acc_bits`` wraps those MAC accumulators.

        ``ranges`` of the result: per node its output's (min, max) over the batch, for nodes
        that only move values (padding, sliding window, fork) their input's range (a bound).
        """
        acc_bits = acc_bits or {}
        xin = graph_input(x, self.input_shape)
        events = {n: 0 for n in self.mac_nodes}
        dots = {n: 0 for n in self.mac_nodes}
        ranges: dict[str, tuple[int, int]] = {}
        accs: dict[str, list[np.ndarray]] = {n: [] for n in self.mac_nodes}
        outs = []
        for start in range(0, len(xin), self.chunk):
            x0 = np.asarray(xin[start : start + self.chunk], dtype=np.int64)
            env = {self.input_name: (x0, int(x0.min(initial=0)), int(x0.max(initial=0)))}
            for i, (name, e) in enumerate(self.nodes):
                y, yr = self._apply(name, e, [env[t] for t in e["inputs"]], len(x0))
                if name in events:  # y: exact integers, in float where they fit
                    bits = acc_bits.get(name)
                    dots[name] += int(y.size)
                    if bits:
                        y = y.astype(np.int64)
                        events[name] += int(overflows(y, bits).sum())
                        y = wrap(y, bits)
                    if keep_accumulators:
                        accs[name].append(y.astype(np.int64))
                if yr is None:
                    yr = (int(y.min(initial=0)), int(y.max(initial=0))) if y.size else (0, 0)
                old = ranges.get(name, yr)
                ranges[name] = (min(old[0], yr[0]), max(old[1], yr[1]))
                for t in e["outputs"]:
                    env[t] = (y, *yr)
                for t in self._dead_after[i]:
                    env.pop(t, None)
            out = env[self.output_name][0]
            if isinstance(out, _Windows):
                out = out.take(0, len(x0))
            outs.append(out.reshape(len(out), -1).astype(np.int64))
        accumulators = {n: np.concatenate(v) for n, v in accs.items() if v}
        outputs = np.concatenate(outs) if outs else np.zeros((0, 1), dtype=np.int64)
        return RunResult(outputs, events, dots, accumulators, ranges)

    def _apply(
        self, name: str, e: dict, ins: list[tuple], n: int
    ) -> tuple[np.ndarray, tuple[int, int] | None]:
        """One node on a chunk of ``n`` samples; sliding windows expanded per sub-batch."""
        if e["op_type"] == "ConvolutionInputGenerator":
            h, lo, hi = ins[0]
            h = h.reshape(n, *e["in_shapes"][0][1:])
            return _Windows(_compact(h, lo, hi), e), (lo, hi)
        shapes = e["in_shapes"]
        if not any(isinstance(v[0], _Windows) for v in ins):
            ins = [(v[0].reshape(n, *s[1:]), v[1], v[2]) for v, s in zip(ins, shapes, strict=True)]
            return self._node(name, e, ins)
        ys, all_bounds = [], []
        for a in range(0, n, self.sub_chunk):
            b = min(n, a + self.sub_chunk)
            part = [
                (
                    (v[0].take(a, b) if isinstance(v[0], _Windows) else v[0][a:b]).reshape(
                        b - a, *s[1:]
                    ),
                    v[1],
                    v[2],
                )
                for v, s in zip(ins, shapes, strict=True)
            ]
            y, bounds = self._node(name, e, part)
            ys.append(y)
            all_bounds.append(bounds)
        y = np.concatenate(ys)
        if any(bd is None for bd in all_bounds):
            return y, None
        return y, (min(bd[0] for bd in all_bounds), max(bd[1] for bd in all_bounds))

    def _node(
        self, name: str, e: dict, ins: list[tuple[np.ndarray, int, int]]
    ) -> tuple[np.ndarray, tuple[int, int] | None]:
        """One node's output for a chunk of samples (before any accumulator wrap) and, for
        nodes that only move values, its range bound (else None: measured by the caller)."""
        op = e["op_type"]
        h, lo, hi = ins[0]
        n = len(h)
        out_shape = (n, *e["out_shapes"][0][1:])
        if op == "MVAU":
            w = self._weights[name]
            dt = _exact_dtype(_mag(lo, hi) * self._wsum[name])
            acc = h.reshape(-1, w.shape[0]).astype(dt, copy=False) @ w.astype(dt)
            return acc.reshape(out_shape), None
        if op == "VVAU":
            w = self._weights[name]  # (K, C)
            k, c = w.shape
            # FINN: after a sliding window the input is (kernel position, channel); otherwise
            # channels come in groups of PE, kernel positions within a group.
            producer = self._producers.get(e["inputs"][0], "")
            pe = c if producer in ("ConvolutionInputGenerator", "Im2Col") else int(e["PE"])
            xs = h.reshape(-1, c // pe, k, pe).transpose(0, 2, 1, 3).reshape(-1, k, c)
            dt = _exact_dtype(_mag(lo, hi) * self._wsum[name])
            acc = np.einsum("pkc,kc->pc", xs.astype(dt, copy=False), w.astype(dt))
            return acc.reshape(out_shape), None
        if op == "Thresholding":
            table = self._tables.get(name)
            if table is not None:
                return table(h), None
            y = _threshold(h, self._thresholds[name]).astype(np.int64) + int(e.get("ActVal", 0))
            if self._bipolar(e):
                y = 2 * y - 1
            ylo, yhi = int(y.min(initial=0)), int(y.max(initial=0))
            return _compact(y, ylo, yhi), (ylo, yhi)
        if op == "FMPadding":
            top, left, bottom, right = e["Padding"]
            y = np.pad(h, ((0, 0), (top, bottom), (left, right), (0, 0)))
            return y, ((min(lo, 0), max(hi, 0)) if y.size > h.size else (lo, hi))
        if op == "DuplicateStreams":
            return h, (lo, hi)
        if op == "UpsampleNearestNeighbour":
            fh, fw = int(e["HO"]) // int(e["HI"]), int(e["WO"]) // int(e["WI"])
            return h.repeat(fh, axis=1).repeat(fw, axis=2), (lo, hi)
        if op == "StreamingConcat":
            y = np.concatenate([v[0].astype(np.int64, copy=False) for v in ins], axis=-1)
            return y, (min(v[1] for v in ins), max(v[2] for v in ins))
        if op == "Pool":
            kk = int(np.prod(e["KernelSize"]))
            win = h.reshape(*h.shape[:-1], kk, int(e["Channels"]))
            if e["Function"] == "MaxPool":
                return win.max(axis=-2).reshape(out_shape), None
            return win.astype(np.int64).sum(axis=-2).reshape(out_shape), None
        if op == "GlobalAccPool":
            return h.astype(np.int64).sum(axis=(1, 2)).reshape(out_shape), None
        if op == "ElementwiseAdd":
            a, b = (v[0].astype(np.int64, copy=False) for v in ins)
            return (a + b).reshape(out_shape), None
        # LabelSelect: the K largest, ties to the lower index (ONNX TopK, numpy argmax)
        k = int(e.get("K", 1))
        flat = h.reshape(n, -1)
        if k == 1:
            return np.argmax(flat, axis=1).reshape(n, 1), None
        return np.argsort(-flat, axis=1, kind="stable")[:, :k], None


def worst_case_check(summary: dict[str, dict]) -> list[dict]:
    """Per MAC node (MVAU, VVAU): do both worst-case input vectors of every channel fit?

    A channel is a column of the node's ``(K, channels)`` weights: an MVAU output or a VVAU
    (depthwise) channel over its kernel positions.
    """
    from qonnx.core.datatype import DataType

    rows = []
    for name, e in summary.items():
        if e["op_type"] not in _MAC_OPS:
            continue
        idt = DataType[e["inputDataType"]]
        xmin, xmax = int(idt.min()), int(idt.max())
        bits = DataType[e["accDataType"]].bitwidth()
        lo_lim, hi_lim = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        worst_lo, worst_hi, bad = 0, 0, []
        for ch, col in enumerate(zip(*e["weights"], strict=True)):
            x_hi, x_lo = bounds.worst_case_inputs(col, xmin, xmax)
            hi = sum(q * x for q, x in zip(col, x_hi, strict=True))
            lo = sum(q * x for q, x in zip(col, x_lo, strict=True))
            worst_lo, worst_hi = min(worst_lo, lo), max(worst_hi, hi)
            if not lo_lim <= lo <= hi <= hi_lim:
                bad.append(ch)
        rows.append(
            {
                "node": name,
                "hw_acc_bits": bits,
                "channels": len(e["weights"][0]),
                "worst_min": worst_lo,
                "worst_max": worst_hi,
                "fits": not bad,
                "overflowing_channels": bad[:16],
            }
        )
    return rows


def is_hw_graph(model: ModelWrapper) -> bool:
    """Whether ``model`` holds FINN HW (fpgadataflow) nodes, i.e. takes NHWC images."""
    return any(n.domain.startswith("finn.custom_op.fpgadataflow") for n in model.graph.node)


def execute_finn(model: ModelWrapper, x: np.ndarray) -> np.ndarray:
    """Execute a HW or QONNX graph sample by sample with qonnx/FINN's Python execution.

    ``x``: dataset samples (NCHW). A HW graph gets them through :func:`graph_input`, a QONNX
    graph (NCHW, or flat) as they are. Returns ``(N, outputs)`` float32 rows.
    """
    from qonnx.core.onnx_exec import execute_onnx

    from flow.finn_compat import finn_api

    finn_api()  # registers FINN's custom ops for execute_onnx
    iname, oname = model.graph.input[0].name, model.graph.output[0].name
    shape = model.get_tensor_shape(iname)
    hw = is_hw_graph(model)
    xs = graph_input(x, shape) if hw else np.reshape(x, (len(x), *shape[1:]))
    outs = [execute_onnx(model, {iname: xi[None].astype(np.float32)})[oname] for xi in xs]
    return np.concatenate([o.reshape(1, -1) for o in outs])


def fidelity(
    hw_model: ModelWrapper,
    qonnx_model: ModelWrapper,
    graph: IntegerGraph,
    host_tail: list[dict],
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray | None = None,
    max_pixel_fraction: float = 0.0,
) -> dict:
    """Compare FINN's execution of the HW graph, our executor and the QONNX model (``groups``:
    the source image of each super-resolution tile, for per-image PSNR).

    The HW graph must equal our integer executor exactly, and QONNX's class (or logits)
    exactly. An image may differ from QONNX's in up to ``max_pixel_fraction`` of its pixels:
    for an activation exactly halfway between two levels, QONNX's float32 rounding and FINN's
    integer threshold (derived from float scales) can decide differently, and one such tie
    changes a small patch of output pixels (found: one tie at 3.5 levels in a UNet tile, 139
    pixels off by up to 4).
    """
    hw = execute_finn(hw_model, x)
    ours = graph.run(x).outputs
    ref = execute_finn(qonnx_model, x)
    res = {
        "samples": int(len(x)),
        "hw_vs_integer_model_mismatches": int((hw != ours).any(axis=1).sum()),
    }
    label_out = graph.nodes[-1][1]["op_type"] == "LabelSelect"
    metric = metric_for(y)
    if metric is PSNR:
        # Pixels come out of the accelerator channels-last, integer, with scale 1.
        hw_out = image_nchw(apply_host_tail(host_tail, hw), graph.output_shape)
        ref_out = ref.reshape(hw_out.shape)
        diff = np.abs(hw_out - ref_out).reshape(len(x), -1)
        res.update(
            output="image",
            mismatches=int((diff.max(axis=1, initial=0) > 0).sum()),
            max_abs_error=float(diff.max(initial=0)),
            pixels=int(diff.size),
            mismatched_pixels=int((diff > 0).sum()),
            tolerance=(
                f"pixels equal to QONNX's, except at most {max_pixel_fraction:.2%} of them "
                "(an activation at a rounding tie may land one level apart in QONNX's float32 "
                "and FINN's integer thresholds)"
            ),
        )
    elif label_out:
        hw_out = hw.reshape(-1).astype(np.int64)
        ref_out = ref
        res.update(
            output="label",
            mismatches=int((hw_out != ref.argmax(1)).sum()),
            tolerance="exact: class index from the HW graph vs argmax of the QONNX logits",
        )
    else:
        hw_out = apply_host_tail(host_tail, hw)
        ref_out = ref
        err = np.abs(hw_out - ref).max(axis=1)
        tol = 1e-5 * max(1.0, float(np.abs(ref).max()))
        res.update(
            output="logits",
            mismatches=int((err > tol).sum()),
            max_abs_error=float(err.max()),
            tolerance=f"|HW x host scale - QONNX| <= {tol:.3g} (float32 scaling at the output)",
        )
    res["metric"] = metric.key
    res[f"hw_{metric.key}"] = score(hw_out, y, groups)
    res[f"qonnx_{metric.key}"] = score(ref_out, y, groups)
    if metric is PSNR:
        close = res["mismatched_pixels"] <= max_pixel_fraction * res["pixels"]
    else:
        close = res["mismatches"] == 0
    res["ok"] = close and res["hw_vs_integer_model_mismatches"] == 0
    return res


def image_nchw(rows: np.ndarray, shape: list[int]) -> np.ndarray:
    """Flat output rows of a channels-last image stream as (N, C, H, W)."""
    return rows.reshape(len(rows), *shape[1:]).transpose(0, 3, 1, 2)


def wrap_study(
    graph: IntegerGraph,
    summary: dict[str, dict],
    plans: list[LayerPlan],
    x: np.ndarray,
    y: np.ndarray,
    widths: list[int],
    groups: np.ndarray | None = None,
) -> list[dict]:
    """Force the policy layers' accumulators to each width P; count overflows, score the
    outputs (accuracy, or PSNR for images; the key is the metric's).

    The MAC nodes (MVAU and VVAU, graph order) are the config's layer plans, in order.
    """
    macs = graph.mac_nodes
    forced = {node: p for node, p in zip(macs, plans, strict=True) if p.policy_bits is not None}
    metric = metric_for(y)
    rows = []
    for bits in widths:
        res = graph.run(x, {node: bits for node in forced})
        out = image_nchw(res.outputs, graph.output_shape) if metric is PSNR else res.outputs
        rows.append(
            {
                "acc_bits": bits,
                "layers": {
                    forced[n].name: {
                        "overflow_events": res.overflow_events[n],
                        "dot_products": res.dot_products[n],
                        "exact_bits": summary[n]["exact_width"],
                    }
                    for n in forced
                },
                "overflow_events": sum(res.overflow_events.values()),
                metric.key: score(out, y, groups),
            }
        )
    return rows


def sum_ranges(graph: IntegerGraph, summary: dict[str, dict], res: RunResult) -> list[dict]:
    """Per ElementwiseAdd and GlobalAccPool: observed output range vs its declared datatype."""
    from qonnx.core.datatype import DataType

    rows = []
    for name in graph.nodes_of("ElementwiseAdd", "GlobalAccPool"):
        dt = DataType[summary[name]["out_dtypes"][0]]
        lo, hi = res.ranges.get(name, (0, 0))
        dmin, dmax = int(dt.min()), int(dt.max())
        rows.append(
            {
                "node": name,
                "op_type": summary[name]["op_type"],
                "datatype": dt.name,
                "datatype_min": dmin,
                "datatype_max": dmax,
                "observed_min": lo,
                "observed_max": hi,
                "fits": dmin <= lo and hi <= dmax,
            }
        )
    return rows


def run_verify(cfg: BuildConfig, build_dir: Path) -> dict:
    """The verify stage: write ``verify/verify.json`` and ``verify/overflow.json`` for the
    compiled build in ``build_dir``; return a summary."""
    hw_model = ModelWrapper(str(artifacts.HW_ONNX.at(build_dir)))
    summary = hw_layer_summary(hw_model)
    graph = IntegerGraph(summary)
    ds = load_data(cfg)
    n = cfg.compile.verify_samples or len(ds.x_test)
    x, y = ds.x_test[:n], ds.y_test[:n]

    fid = fidelity(
        hw_model,
        ModelWrapper(str(artifacts.QONNX.at(build_dir))),
        graph,
        artifacts.HOST_TAIL.read(build_dir),
        x,
        y,
        ds.test_groups,
        cfg.export.max_mismatch_fraction,
    )
    artifacts.VERIFY.write(build_dir, fid)

    macs = graph.mac_nodes
    # The checks pair MAC nodes with layers in graph order, which a residual block may
    # change; the width table records which node computes which layer.
    by_name = {p.name: p for p in layer_plans(cfg)}
    node_layer = {r["node"]: r["name"] for r in artifacts.ACCUMULATORS.read(build_dir)}
    plans = [by_name[node_layer[node]] for node in macs if node in node_layer]
    if len(macs) != len(plans):
        raise CompileError(
            f"verify: the HW graph has {len(macs)} MAC nodes (MVAU/VVAU) but the config "
            f"plans {len(plans)} layers"
        )
    hw_bits = {name: int(summary[name]["accDataType"].removeprefix("INT")) for name in macs}
    at_hw = graph.run(x, hw_bits)
    worst = worst_case_check(summary)
    sums = sum_ranges(graph, summary, at_hw)
    targets = [p.policy_bits for p in plans if p.policy_bits is not None]
    widths = list(cfg.compile.wrap_bits) or (
        list(range(max(2, min(targets) - 4), max(targets) + 1)) if targets else []
    )
    study = wrap_study(graph, summary, plans, x, y, widths, ds.test_groups)
    overflow = {
        "worst_case": worst,
        "test_set_at_hw_widths": {
            plan.name: {
                "node": node,
                "op_type": summary[node]["op_type"],
                "hw_acc_bits": hw_bits[node],
                "overflow_events": at_hw.overflow_events[node],
                "dot_products": at_hw.dot_products[node],
            }
            for plan, node in zip(plans, macs, strict=True)
        },
        "sums": sums,
        "wrap_study": study,
        "metric": metric_for(y).key,
        "samples": int(len(x)),
    }
    artifacts.OVERFLOW.write(build_dir, overflow)
    worst_ok = all(r["fits"] for r in worst)
    sums_ok = all(r["fits"] for r in sums)
    ok = fid["ok"] and worst_ok and sums_ok and not any(at_hw.overflow_events.values())
    if not ok:
        log.warning("verification found problems: see %s", artifacts.VERIFY.at(build_dir).parent)
    return {
        "verify": fid,
        "worst_case_ok": worst_ok,
        "sums_ok": sums_ok,
        "overflow_events_at_hw_widths": sum(at_hw.overflow_events.values()),
        "ok": ok,
    }
