"""The integer executor of HW graphs, shared by verification and simulation (no FINN code).

``IntegerGraph`` executes a HW graph's integer semantics exactly in numpy, by tensor name so
DAGs work; each node's arithmetic is its op's ``execute`` (:mod:`flow.ops`), the loop here
adds chunks of samples, sliding windows expanded per sub-batch, value ranges and the
optional wrap of chosen accumulators to P bits (counting the dot products that overflow).
Samples enter through :func:`graph_input`; :func:`execute_finn` runs qonnx/FINN's Python
execution of the same graphs for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from flow import ops
from flow.errors import CompileError
from flow.ops.base import ExecNode, HwOp, Range, Stream, compact

# Element budgets of the largest tensor of one chunk of samples, and of a sliding window's
# expansion (a sub-batch of it): small enough to stay cache- and allocator-friendly.
_CHUNK_ELEMENTS = 1 << 20
_WINDOW_ELEMENTS = 1 << 22


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


def tie_aware_argmax(logits: np.ndarray) -> tuple[np.ndarray, int]:
    """Per row, the lowest index whose logit equals the largest up to float32 rounding, and
    how many rows had such a tie.

    QONNX computes the logits in float32 as integer dot products times a scale, so two equal
    integer logits can come out a few ULPs apart (found: 0.02155382 vs 0.02155387 for the
    integers 2 and 2) and a plain argmax would pick either; the HW's integer LabelSelect, like
    ONNX TopK, gives the lowest index. Distinct integers are a whole scale step apart, far
    beyond this tolerance.
    """
    top = logits.max(axis=1, keepdims=True)
    tol = 1e-5 * np.maximum(1.0, np.abs(top))
    near = logits >= top - tol
    return near.argmax(axis=1), int((near.sum(axis=1) > 1).sum())


def image_nchw(rows: np.ndarray, shape: list[int]) -> np.ndarray:
    """Flat output rows of a channels-last image stream as (N, C, H, W)."""
    return rows.reshape(len(rows), *shape[1:]).transpose(0, 3, 1, 2)


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
    ranges: dict[str, Range] = field(default_factory=dict)


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
    lo: int
    hi: int
    op: HwOp
    node: ExecNode

    def take(self, a: int, b: int) -> np.ndarray:
        return self.op.execute(self.node, [(self.h[a:b], self.lo, self.hi)])[0]


class IntegerGraph:
    """The integer semantics of a HW graph from ``hw_layer_summary``, evaluated by tensor.

    Nodes run in summary (graph) order on batches ``(N, ...)`` of integers, each reading its
    stream inputs by name, so forks (``DuplicateStreams``) and joins (``ElementwiseAdd``)
    work. Every tensor has the node's NHWC stream shape with the batch first. Values are
    exact integers throughout; small ones travel as float32 (and MACs run in float BLAS)
    only where every value and partial sum is exactly representable, else in int64.
    """

    def __init__(self, summary: dict[str, dict]) -> None:
        entries = list(_with_streams(summary).items())
        if not entries:
            raise CompileError("verify: the HW graph has no HW nodes")
        producers: dict[str, str] = {}
        self.nodes: list[tuple[str, dict]] = entries
        self._ops: list[HwOp] = []
        self._exec: list[ExecNode] = []
        for name, e in entries:
            op = ops.get(e["op_type"], node=name, error=CompileError)
            if op.is_glue:
                raise CompileError(f"verify: {name} ({op.op_type}) is glue, not a HW-graph node")
            for t in e["inputs"]:
                if t not in producers and t != entries[0][1]["inputs"][0]:
                    raise CompileError(
                        f"verify: {name} reads {t}, which no earlier HW node produces "
                        "(a non-HW node in the graph, or node names that are not unique)"
                    )
            producer = producers.get(e["inputs"][0], "")
            self._ops.append(op)
            self._exec.append(ExecNode(name, e, producer, op.prepare(name, e)))
            for t in e["outputs"]:
                producers[t] = e["op_type"]
        first, last = entries[0][1], entries[-1][1]
        self.input_name: str = first["inputs"][0]
        self.input_shape: list[int] = first["in_shapes"][0]
        self.output_name: str = last["outputs"][0]
        self.output_shape: list[int] = last["out_shapes"][0]
        self._plan_chunks()

    def _plan_chunks(self) -> None:
        """Chunk sizes, and the tensors each node is the last reader of."""
        # A chunk of samples runs through the whole graph; sliding-window outputs (K times
        # their input) are only expanded for sub-batches of it, inside their consumer.
        windows = [e for (_, e), op in zip(self.nodes, self._ops, strict=True) if op.is_window]
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

    @property
    def mac_nodes(self) -> list[str]:
        """The MAC nodes (MVAU, VVAU) in graph order."""
        return [n for (n, _), op in zip(self.nodes, self._ops, strict=True) if op.is_mac]

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
        ranges: dict[str, Range] = {}
        accs: dict[str, list[np.ndarray]] = {n: [] for n in self.mac_nodes}
        outs = []
        for start in range(0, len(xin), self.chunk):
            x0 = np.asarray(xin[start : start + self.chunk], dtype=np.int64)
            env = {self.input_name: (x0, int(x0.min(initial=0)), int(x0.max(initial=0)))}
            for i, (op, node) in enumerate(zip(self._ops, self._exec, strict=True)):
                name, e = node.name, node.e
                y, yr = self._apply(op, node, [env[t] for t in e["inputs"]], len(x0))
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
        self, op: HwOp, node: ExecNode, ins: list[tuple], n: int
    ) -> tuple[np.ndarray | _Windows, Range | None]:
        """One node on a chunk of ``n`` samples; sliding windows expanded per sub-batch."""
        e = node.e
        if op.is_window:
            h, lo, hi = ins[0]
            h = h.reshape(n, *e["in_shapes"][0][1:])
            return _Windows(compact(h, lo, hi), lo, hi, op, node), (lo, hi)
        shapes = e["in_shapes"]
        if not any(isinstance(v[0], _Windows) for v in ins):
            ins = [(v[0].reshape(n, *s[1:]), v[1], v[2]) for v, s in zip(ins, shapes, strict=True)]
            return op.execute(node, ins)
        ys, all_bounds = [], []
        for a in range(0, n, self.sub_chunk):
            b = min(n, a + self.sub_chunk)
            part: list[Stream] = [
                (
                    (v[0].take(a, b) if isinstance(v[0], _Windows) else v[0][a:b]).reshape(
                        b - a, *s[1:]
                    ),
                    v[1],
                    v[2],
                )
                for v, s in zip(ins, shapes, strict=True)
            ]
            y, bounds = op.execute(node, part)
            ys.append(y)
            all_bounds.append(bounds)
        y = np.concatenate(ys)
        if any(bd is None for bd in all_bounds):
            return y, None
        return y, (min(bd[0] for bd in all_bounds), max(bd[1] for bd in all_bounds))


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
