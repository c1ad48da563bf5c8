"""What the hardware generator needs from the HW graph, as a plain dict."""

from __future__ import annotations

from typing import Any

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from flow.bounds import signed_bits
from flow.passes.exact_accumulator_width import (
    MVAU_OP_TYPES,
    THRESHOLDING_OP_TYPES,
    exact_accumulator_range,
    integer_matrix,
)

_FOLDING_ATTRS = ("PE", "SIMD")


def hw_layer_summary(model: ModelWrapper) -> dict[str, dict[str, Any]]:
    """Per HW node, in graph order: op type, datatypes, folding and integer parameters.

    MVAUs: ``weights`` as ``(MW, MH)`` nested ints (FINN's layout: input index first),
    ``inputDataType``, ``weightDataType``, ``accDataType``, ``exact_range``/``exact_width``.
    Thresholdings: ``thresholds`` ``(C or 1, steps)`` ints, their ``weightDataType``,
    ``inputDataType``, ``outputDataType`` and ``ActVal`` (the output bias). Other HW nodes
    get their op type, datatypes and folding only.
    """
    summary: dict[str, dict[str, Any]] = {}
    for node in model.graph.node:
        if not node.domain.startswith("finn.custom_op.fpgadataflow"):
            continue
        inst = getCustomOp(node)
        attrs = inst.get_nodeattr_types()
        entry: dict[str, Any] = {"op_type": node.op_type}
        for name in (
            "inputDataType",
            "weightDataType",
            "outputDataType",
            "accDataType",
            *_FOLDING_ATTRS,
        ):
            if name in attrs:
                entry[name] = inst.get_nodeattr(name)
        if node.op_type in MVAU_OP_TYPES:
            q = integer_matrix(model.get_initializer(node.input[1]), f"{node.name} weights")
            idt = model.get_tensor_datatype(node.input[0])
            lo, hi = exact_accumulator_range(q, int(idt.min()), int(idt.max()))
            entry.update(
                MW=inst.get_nodeattr("MW"),
                MH=inst.get_nodeattr("MH"),
                weights=q,
                exact_range=[lo, hi],
                exact_width=signed_bits(lo, hi),
            )
        elif node.op_type in THRESHOLDING_OP_TYPES:
            thr = model.get_initializer(node.input[1])
            entry.update(
                NumChannels=inst.get_nodeattr("NumChannels"),
                numSteps=inst.get_nodeattr("numSteps"),
                ActVal=inst.get_nodeattr("ActVal"),
                thresholds=integer_matrix(thr, f"{node.name} thresholds"),
            )
        elif node.op_type.startswith("LabelSelect"):
            entry.update(Labels=inst.get_nodeattr("Labels"), K=inst.get_nodeattr("K"))
        summary[node.name] = entry
    return summary
