"""Absorb a flattening Reshape/Flatten at the graph input into the input's shape."""

from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation


class AbsorbInputReshape(Transformation):
    """Remove a Reshape/Flatten that turns the graph input (1, C, H, W) into (1, C*H*W).

    The accelerator's input stream is the flattened pixel sequence in the same (row-major)
    order, so the host sends the image as it is and the graph input becomes (1, C*H*W).
    Only a pure flatten that keeps the batch dimension 1 is absorbed; any other reshape stays
    and is reported by the HW conversion.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        """Absorb the flatten if the graph input feeds exactly one; ``changed`` if it did."""
        inp = model.graph.input[0]
        consumers = model.find_consumers(inp.name) or []
        if len(consumers) != 1 or consumers[0].op_type not in ("Reshape", "Flatten"):
            return model, False
        node = consumers[0]
        in_shape = model.get_tensor_shape(inp.name)
        out_shape = model.get_tensor_shape(node.output[0])
        if (
            in_shape is None
            or out_shape is None
            or len(out_shape) != 2
            or out_shape[0] != 1
            or out_shape[1] != int(np.prod(in_shape))
        ):
            return model, False
        dtype = model.get_tensor_datatype(inp.name)
        out_name = node.output[0]
        for consumer in model.find_consumers(out_name) or []:
            for i, name in enumerate(consumer.input):
                if name == out_name:
                    consumer.input[i] = inp.name
        model.graph.node.remove(node)
        elem_type = inp.type.tensor_type.elem_type
        model.graph.input.remove(inp)
        model.graph.input.insert(0, helper.make_tensor_value_info(inp.name, elem_type, out_shape))
        model.set_tensor_datatype(inp.name, dtype)
        return model, True
