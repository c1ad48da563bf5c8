"""What the hardware generator and the integer executor need from the HW graph, as a dict."""

from __future__ import annotations

from typing import Any

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from flow import ops
from flow.bounds import signed_bits
from flow.errors import CompileError
from flow.passes.exact_accumulator_width import (
    THRESHOLDING_OP_TYPES,
    exact_accumulator_range,
    integer_matrix,
    mac_op,
    mac_weight_matrix,
)

_FOLDING_ATTRS = ("PE", "SIMD")


def hw_layer_summary(model: ModelWrapper) -> dict[str, dict[str, Any]]:
    """Per HW node, in graph order: op type, streams, datatypes, folding, integer parameters.

    Every node: ``inputs``/``outputs`` (stream tensor names, the graph's input and output
    included), ``in_shapes``/``out_shapes`` (NHWC), ``in_dtypes``/``out_dtypes`` (FINN
    datatype names of those streams), the FINN datatype attributes it has, ``PE``/``SIMD``
    and its op's ``summary_attrs`` (:mod:`flow.ops`). MAC nodes (MVAU, VVAU): ``weights`` as
    ``(K, channels)`` nested ints (FINN's MVAU layout, input index first; a VVAU's kernel
    positions as rows), ``MW``/``MH`` (K, channels) and ``exact_range``/``exact_width`` of
    the accumulator. Thresholdings: ``thresholds``
    ``(C or 1, steps)`` ints.
    """
    summary: dict[str, dict[str, Any]] = {}
    for node in model.graph.node:
        if not node.domain.startswith("finn.custom_op.fpgadataflow"):
            continue
        inst = getCustomOp(node)
        attrs = inst.get_nodeattr_types()
        op = ops.find(node.op_type)
        streams = [t for t in node.input if t and model.get_initializer(t) is None]
        entry: dict[str, Any] = {
            "op_type": node.op_type,
            "inputs": streams,
            "outputs": list(node.output),
            "in_shapes": [list(model.get_tensor_shape(t)) for t in streams],
            "out_shapes": [list(model.get_tensor_shape(t)) for t in node.output],
            "in_dtypes": [model.get_tensor_datatype(t).name for t in streams],
            "out_dtypes": [model.get_tensor_datatype(t).name for t in node.output],
        }
        for name in (
            "inputDataType",
            "weightDataType",
            "outputDataType",
            "accDataType",
            *_FOLDING_ATTRS,
            *(op.summary_attrs if op else ()),
        ):
            if name in attrs:
                entry[name] = inst.get_nodeattr(name)
        for name, value in list(entry.items()):
            if hasattr(value, "tolist"):
                entry[name] = value.tolist()
            elif isinstance(value, bytes):
                entry[name] = value.decode()
        if mac_op(node) is not None:
            q = integer_matrix(mac_weight_matrix(model, node), f"{node.name} weights")
            idt = model.get_tensor_datatype(node.input[0])
            lo, hi = exact_accumulator_range(q, int(idt.min()), int(idt.max()))
            entry.update(weights=q, exact_range=[lo, hi], exact_width=signed_bits(lo, hi))
            # K and outputs under the MVAU's names for every MAC (a VVAU has other attributes).
            entry.setdefault("MW", len(q))
            entry.setdefault("MH", len(q[0]))
        elif node.op_type in THRESHOLDING_OP_TYPES:
            thr = model.get_initializer(node.input[1])
            entry["thresholds"] = integer_matrix(thr, f"{node.name} thresholds")
        if node.name in summary or not node.name:
            raise CompileError(
                f"HW node name {node.name!r} is empty or not unique ({node.op_type}); run "
                "GiveUniqueNodeNames first"
            )
        summary[node.name] = entry
    return summary
