"""Remove an input quantizer that is the identity on the annotated integer input."""

from __future__ import annotations

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.general.multithreshold import multithreshold
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_datatypes import InferDataTypes

# Exhaustive check of the input range; 8..16-bit inputs take well under a second.
_MAX_RANGE = 1 << 16


class RemoveIdentityInputThreshold(Transformation):
    """Drop a ``MultiThreshold`` on the graph input when it maps every input value to itself.

    A Brevitas input ``QuantIdentity`` with a constant scale of 1 (unsigned 8 bit) is
    converted by ``ConvertQONNXtoFINN`` into a ``MultiThreshold`` with 255 thresholds
    ``0.5 .. 254.5``: round-and-clip to ``[0, 255]``. Once the graph input is annotated as an
    integer type inside that range, the node is the identity and would only cost a
    255-step Thresholding layer in hardware. The check is exhaustive over the input
    datatype's range, so a quantizer that clips or rescales is never removed.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        """Remove the first identity input threshold found; ``changed`` if one was removed."""
        graph_in = model.graph.input[0].name
        idt = model.get_tensor_datatype(graph_in)
        if not idt.is_integer():
            return model, False
        lo, hi = int(idt.min()), int(idt.max())
        if hi - lo + 1 > _MAX_RANGE:
            return model, False
        for node in model.find_consumers(graph_in) or []:
            if node.op_type != "MultiThreshold":
                continue
            thresholds = model.get_initializer(node.input[1])
            if thresholds is None or not self._is_identity(node, thresholds, lo, hi):
                continue
            out_name = node.output[0]
            if out_name in [o.name for o in model.graph.output]:
                continue
            for consumer in model.find_consumers(out_name) or []:
                for i, name in enumerate(consumer.input):
                    if name == out_name:
                        consumer.input[i] = graph_in
            model.graph.node.remove(node)
            model = model.transform(InferDataTypes())
            return model, True
        return model, False

    @staticmethod
    def _is_identity(node, thresholds: np.ndarray, lo: int, hi: int) -> bool:
        """True when the node's output equals its input for every integer in ``[lo, hi]``."""
        inst = getCustomOp(node)
        values = np.arange(lo, hi + 1, dtype=np.float64)
        channels = thresholds.shape[0]
        # Every channel sees every value: shape (N, C) in the node's NC layout.
        v = np.repeat(values[:, None], channels, axis=1)
        out = multithreshold(
            v,
            thresholds.astype(np.float64),
            out_scale=inst.get_nodeattr("out_scale"),
            out_bias=inst.get_nodeattr("out_bias"),
        )
        return bool(np.array_equal(out, v))
