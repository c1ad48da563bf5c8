"""Fold the quantizer of a conv's bias into the integer-valued float bias it computes."""

from __future__ import annotations

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.general.quant import quant
from qonnx.transformation.base import Transformation

from flow.qonnx_weights import node_attr


class FoldConvBiasQuant(Transformation):
    """Replace a ``Quant`` node with constant inputs on a ``Conv``'s bias by its output.

    Brevitas exports a conv's ``Int32Bias`` as a Quant node with a scalar zero point, and
    qonnx's ``ExtractBiasFromConv`` (part of its cleanup) then fails reshaping that zero point
    to the bias's shape (``cannot reshape array of size 1 into shape (1,8,1,1)``). Folded into
    a constant, the bias becomes an ``Add`` after the conv, which streamlining absorbs into
    the next thresholds like any other bias. The values are exactly those the Quant node
    computes (its rounding, clipping and scale).
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        """Fold every such bias quantizer; ``changed`` if any was."""
        for node in model.graph.node:
            if node.op_type != "Conv" or len(node.input) < 3 or not node.input[2]:
                continue
            producer = model.find_producer(node.input[2])
            if producer is None or producer.op_type != "Quant":
                continue
            consts = [model.get_initializer(t) for t in producer.input]
            if any(c is None for c in consts):
                continue
            value = quant(
                *consts,
                signed=node_attr(producer, "signed", 1),
                narrow=node_attr(producer, "narrow", 0),
                rounding_mode=node_attr(producer, "rounding_mode", "ROUND"),
            )
            model.set_initializer(node.input[2], np.asarray(value, dtype=np.float32))
            model.graph.node.remove(producer)
            return model, True
        return model, False
