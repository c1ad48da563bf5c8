"""The integer weights an exported QONNX model really multiplies by, read from the file.

Shared by the export stage (which proves them against the bounds) and the compile stage
(which sizes accumulators from them); needs only qonnx, not torch or Brevitas.
"""

from __future__ import annotations

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from flow.errors import ExportError

# The QONNX ops that multiply weights (a dense layer exports as Gemm or MatMul).
MAC_OPS = ("Gemm", "MatMul", "Conv")


def exported_integer_weights(model: ModelWrapper) -> list[tuple[str, np.ndarray]]:
    """(node name, integer weights (out, in)) of every MAC node, in graph order.

    The integers are computed as the Quant node feeding the MAC's weight input computes them
    (its rounding mode, signedness, narrow range and bit width), so they are what the exported
    model really multiplies by, whatever float values the file holds.
    """
    out = []
    for node in model.graph.node:
        if node.op_type not in MAC_OPS:
            continue
        producer = model.find_producer(node.input[1])
        if producer is None or producer.op_type != "Quant":
            raise ExportError(
                f"exported node {node.name} ({node.op_type}): weight input {node.input[1]} is not "
                "produced by a Quant node; cannot read its integer weights"
            )
        w, scale, zp, bits = (model.get_initializer(t) for t in producer.input[:4])
        if w is None or scale is None or zp is None or bits is None:
            raise ExportError(
                f"exported node {node.name}: weight quantizer inputs are not constants"
            )
        q = _quant_int(w.astype(np.float64) / scale.astype(np.float64) + zp, int(bits), producer)
        gemm_in_out = node.op_type == "Gemm" and not node_attr(node, "transB", 0)
        if node.op_type == "MatMul" or gemm_in_out:  # weights stored (in, out)
            q = q.T
        out.append((node.name, q.reshape(q.shape[0], -1)))
    return out


def weight_quant_bits(model: ModelWrapper, node) -> int:
    """The bit width of the Quant node feeding a MAC node's weights."""
    producer = model.find_producer(node.input[1])
    bits = None if producer is None else model.get_initializer(producer.input[3])
    if bits is None:
        raise ExportError(f"node {node.name}: its weights have no constant-width Quant node")
    return int(bits)


def _quant_int(v: np.ndarray, bits: int, node) -> np.ndarray:
    """The integer a QONNX Quant node produces for ``v`` (= x/scale + zero point)."""
    mode = node_attr(node, "rounding_mode", "ROUND")
    rounders = {"ROUND": np.round, "ROUND_TO_ZERO": np.fix, "FLOOR": np.floor, "CEIL": np.ceil}
    if mode not in rounders:
        raise ExportError(f"exported node {node.name}: unsupported rounding_mode {mode!r}")
    signed, narrow = node_attr(node, "signed", 1), node_attr(node, "narrow", 0)
    if signed:
        lo, hi = -(2 ** (bits - 1)) + narrow, 2 ** (bits - 1) - 1
    else:
        lo, hi = 0, 2**bits - 1 - narrow
    return np.clip(rounders[mode](v), lo, hi).astype(np.int64)


def node_attr(node, name: str, default):
    """The value of an ONNX node's attribute ``name`` (a string decoded), else ``default``."""
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            value = helper.get_attribute_value(a)
            return value.decode() if isinstance(value, bytes) else value
    return default
