"""Move a positive scalar Mul past a MaxPoolNHWC: max(c * x) = c * max(x) for c > 0.

FINN's MoveMulPastMaxPool handles only ONNX's NCHW MaxPool. In a UNet the scale of a skip
fork reaches its max-pool only after the pool is NHWC (the fork is resolved late), so the
scale would stay in front of the pool and leave it, and the next conv, in float."""

from __future__ import annotations

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_datatypes import InferDataTypes


class MoveScalarMulPastMaxPoolNHWC(Transformation):
    """Swap ``Mul(c) -> MaxPoolNHWC`` into ``MaxPoolNHWC -> Mul(c)`` for a constant c > 0."""

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        """Swap every such pair; ``changed`` if one was swapped."""
        changed = False
        for mul in list(model.graph.node):
            if mul.op_type != "Mul" or model.is_fork_node(mul):
                continue
            c = model.get_initializer(mul.input[1])
            pool = model.find_consumer(mul.output[0])
            if c is None or c.size != 1 or not float(np.asarray(c).item()) > 0:
                continue
            if pool is None or pool.op_type != "MaxPoolNHWC":
                continue
            x, mid, out = mul.input[0], mul.output[0], pool.output[0]
            # x -> pool -> mid -> mul -> out
            pool.input[0], pool.output[0] = x, mid
            mul.input[0], mul.output[0] = mid, out
            model.set_tensor_shape(mid, model.get_tensor_shape(out))
            model.set_tensor_datatype(mid, model.get_tensor_datatype(x))
            nodes = model.graph.node
            nodes.remove(pool)
            nodes.insert(list(nodes).index(mul), pool)
            changed = True
        if changed:
            model = model.transform(InferDataTypes())
        return model, changed
