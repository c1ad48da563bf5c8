"""Give every MVAU the exact accumulator width its integer weights need (design.md §1)."""

from __future__ import annotations

import numpy as np
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_datatypes import InferDataTypes

from flow import ops
from flow.bounds import accumulator_range, signed_bits
from flow.errors import CompileError
from flow.ops.mac import MacOp

ADD_OP_TYPES = ("ElementwiseAdd", "ElementwiseAdd_hls", "ElementwiseAdd_rtl")
GAP_OP_TYPES = ("GlobalAccPool", "GlobalAccPool_hls")
THRESHOLDING_OP_TYPES = ("Thresholding", "Thresholding_hls", "Thresholding_rtl")
# Largest magnitude up to which every integer is exact in float32.
_FLOAT32_EXACT = 1 << 24


def integer_matrix(values: np.ndarray, what: str) -> list[list[int]]:
    """Return ``values`` as nested Python ints, or raise if any entry is not an integer."""
    rounded = np.round(values)
    if not np.array_equal(rounded, values):
        bad = values[rounded != values][0]
        raise CompileError(f"{what} must hold integers, found e.g. {float(bad)!r}")
    return [[int(v) for v in row] for row in rounded.astype(np.int64)]


def mac_op(node) -> MacOp | None:
    """The MAC op (MVAU, VVAU, specialized or not) of a node, or None for any other node."""
    op = ops.find(node.op_type)
    return op if isinstance(op, MacOp) else None


def mac_weight_matrix(model: ModelWrapper, node) -> np.ndarray:
    """The ``(K, channels)`` weights of a MAC node, e.g. an MVAU (FINN's (MW, MH)) or a VVAU
    ((C, 1, kh, kw))."""
    op = mac_op(node)
    if op is None:
        raise CompileError(f"{node.name} ({node.op_type}) is not a MAC layer")
    w = model.get_initializer(node.input[1])
    if w is None:
        raise CompileError(f"{node.name}: weights must be a constant initializer")
    return op.weight_matrix(w)


def exact_accumulator_range(weights: list[list[int]], xmin: int, xmax: int) -> tuple[int, int]:
    """Reachable dot-product range of a ``(MW, MH)`` integer matrix for inputs in [xmin, xmax].

    FINN's layout: one column per output channel. The layer's range is the union of the
    per-channel exact ranges of :func:`flow.bounds.accumulator_range` (Python ints).
    """
    ranges = [accumulator_range(col, xmin, xmax) for col in zip(*weights, strict=True)]
    return min(lo for lo, _ in ranges), max(hi for _, hi in ranges)


def _int_type(lo: int, hi: int) -> DataType:
    """The narrowest FINN integer type holding ``[lo, hi]``."""
    if lo >= 0:
        return DataType[f"UINT{max(1, hi.bit_length())}"]
    return DataType[f"INT{signed_bits(lo, hi)}"]


class ExactAccumulatorWidth(Transformation):
    """Set each MVAU's and VVAU's ``accDataType`` to ``INT<P>``, P the exact width of its weights.

    Residual adds and global accumulating pools get the exact type of their sums too (their
    inputs' ranges added, or times the pixel count), so no stream is wider than it must be.

    Unlike FINN's ``MinimizeAccumulatorWidth`` the width is always signed and never rounded
    up (FINN rounds a graph-final MVAU without activation to a multiple of 8 bits). The MVAU
    must have no embedded activation (standalone thresholds), so its output stream is the
    accumulator: ``outputDataType`` follows ``accDataType``.

    Each ``Thresholding`` node fed by such an MVAU gets its thresholds rounded up to integers
    and clipped to ``[acc_min, acc_max + 1]`` (the reachable range, so the outputs do not
    change) and its threshold datatype set to the smallest signed type holding them.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        """Set widths on all MVAUs and their thresholds; ``changed`` if anything differed."""
        changed = False
        for node in model.graph.node:
            if node.op_type in ADD_OP_TYPES + GAP_OP_TYPES:
                changed |= self._exact_sum_type(model, node)
        for node in model.graph.node:
            if mac_op(node) is None:
                continue
            lo, hi = self._mvau_range(model, node)
            adt = DataType[f"INT{signed_bits(lo, hi)}"]
            inst = getCustomOp(node)
            for attr in ("accDataType", "outputDataType"):
                if inst.get_nodeattr(attr) != adt.name:
                    inst.set_nodeattr(attr, adt.name)
                    changed = True
            if model.get_tensor_datatype(node.output[0]) != adt:
                model.set_tensor_datatype(node.output[0], adt)
                changed = True
            for consumer in model.find_consumers(node.output[0]) or []:
                if consumer.op_type in THRESHOLDING_OP_TYPES:
                    changed |= self._clip_thresholds(model, consumer, adt, lo, hi)
        # Thresholds on other streams (e.g. a learned input quantizer on the pixels) are
        # clipped to the range of their input datatype the same way.
        for node in model.graph.node:
            producer = model.find_producer(node.input[0])
            if node.op_type in THRESHOLDING_OP_TYPES and (
                producer is None or mac_op(producer) is None
            ):
                idt = model.get_tensor_datatype(node.input[0])
                if idt.is_integer():
                    changed |= self._clip_thresholds(
                        model, node, idt, int(idt.min()), int(idt.max())
                    )
        if changed:
            model = model.transform(InferDataTypes())
        return model, changed

    @staticmethod
    def _exact_sum_type(model: ModelWrapper, node) -> bool:
        """Give an add or a global accumulating pool the exact type of its output range."""
        inst = getCustomOp(node)
        ranges = []
        for t in node.input:
            dt = model.get_tensor_datatype(t)
            if not dt.is_integer():
                raise CompileError(
                    f"{node.name} ({node.op_type}): input {t} is {dt.name}, not an integer "
                    "stream; streamlining left a float scale in front of it"
                )
            ranges.append((int(dt.min()), int(dt.max())))
        if node.op_type in ADD_OP_TYPES:
            lo, hi = sum(r[0] for r in ranges), sum(r[1] for r in ranges)
            attr = "out_dtype"
        else:
            pixels = int(np.prod(inst.get_nodeattr("numInputVectors")[1:]))
            lo, hi = ranges[0][0] * pixels, ranges[0][1] * pixels
            attr = None
        odt = _int_type(lo, hi)
        changed = False
        if attr and inst.get_nodeattr(attr) != odt.name:
            inst.set_nodeattr(attr, odt.name)
            changed = True
        if model.get_tensor_datatype(node.output[0]) != odt:
            model.set_tensor_datatype(node.output[0], odt)
            changed = True
        return changed

    @staticmethod
    def _mvau_range(model: ModelWrapper, node) -> tuple[int, int]:
        """Exact accumulator range of one MVAU or VVAU node."""
        inst = getCustomOp(node)
        if inst.get_nodeattr("noActivation") != 1:
            raise CompileError(
                f"{node.name}: MVAU with an embedded activation is not supported; convert "
                "with standalone thresholds (InferThresholdingLayer before "
                "InferQuantizedMatrixVectorActivation)"
            )
        if inst.get_nodeattr("binaryXnorMode") == 1:
            raise CompileError(f"{node.name}: binary XNOR-popcount MVAUs are not supported")
        weights = mac_weight_matrix(model, node)
        idt = model.get_tensor_datatype(node.input[0])
        if not idt.is_integer():
            raise CompileError(
                f"{node.name}: input datatype must be integer, not {idt.name}; annotate the "
                "graph input and streamline first"
            )
        q = integer_matrix(weights, f"{node.name} weights")
        return exact_accumulator_range(q, int(idt.min()), int(idt.max()))

    @staticmethod
    def _clip_thresholds(model: ModelWrapper, node, adt: DataType, lo: int, hi: int) -> bool:
        """Round/clip one Thresholding node's thresholds to ``[lo, hi + 1]``, minimize width."""
        inst = getCustomOp(node)
        changed = False
        if inst.get_nodeattr("inputDataType") != adt.name:
            inst.set_nodeattr("inputDataType", adt.name)
            changed = True
        thresholds = model.get_initializer(node.input[1])
        if thresholds is None:
            raise CompileError(f"{node.name}: thresholds must be a constant initializer")
        if max(-lo, hi + 1) > _FLOAT32_EXACT:
            raise CompileError(
                f"{node.name}: accumulator range [{lo}, {hi}] exceeds 2^24, beyond what the "
                "float32 threshold container of qonnx/FINN holds exactly"
            )
        clipped = np.clip(np.ceil(thresholds.astype(np.float64)), lo, hi + 1)
        q = integer_matrix(clipped, f"{node.name} thresholds")
        tmin = min(min(row) for row in q)
        tmax = max(max(row) for row in q)
        tdt = DataType[f"INT{signed_bits(tmin, tmax)}"]
        new = np.asarray(q, dtype=np.float32)
        if not np.array_equal(new, thresholds):
            model.set_initializer(node.input[1], new)
            changed = True
        if inst.get_nodeattr("weightDataType") != tdt.name:
            inst.set_nodeattr("weightDataType", tdt.name)
            changed = True
        if model.get_tensor_datatype(node.input[1]) != tdt:
            model.set_tensor_datatype(node.input[1], tdt)
            changed = True
        return changed
