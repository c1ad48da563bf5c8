"""Move a Reshape from after a per-tensor Quant node to before it."""

from __future__ import annotations

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation


class MoveReshapeBeforeQuant(Transformation):
    """Rewrite ``Reshape(Quant(x))`` as ``Quant(Reshape(x))`` when the Quant node's scale,
    zero point and bit width are single constants.

    Such a quantizer acts on each element alone, so it commutes with any reshape. A network
    that flattens after its input quantizer (``self.inp(x).flatten(1)``) then starts with the
    flatten, which :class:`~flow.passes.AbsorbInputReshape` folds into the graph input.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        """Move the first such Reshape; ``changed`` if one was moved."""
        for index, quant in enumerate(model.graph.node):
            if quant.op_type != "Quant":
                continue
            params = [model.get_initializer(t) for t in quant.input[1:]]
            if any(p is None or np.size(p) != 1 for p in params):
                continue
            consumers = model.find_consumers(quant.output[0]) or []
            if len(consumers) != 1 or consumers[0].op_type != "Reshape":
                continue
            reshape = consumers[0]
            x, between, out = quant.input[0], quant.output[0], reshape.output[0]
            if model.get_initializer(x) is not None:
                continue
            dtype = model.get_tensor_datatype(between)
            reshape.input[0], reshape.output[0] = x, between
            quant.input[0], quant.output[0] = between, out
            model.set_tensor_shape(between, model.get_tensor_shape(out))
            model.set_tensor_datatype(between, model.get_tensor_datatype(x))
            model.set_tensor_datatype(out, dtype)
            model.graph.node.remove(reshape)
            model.graph.node.insert(index, reshape)
            return model, True
        return model, False
