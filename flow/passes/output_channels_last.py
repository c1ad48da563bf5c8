"""Drop the NHWC -> NCHW Transpose that ends an image-producing graph, so the accelerator
outputs its image channels-last, as a stream of pixels (the mirror of qonnx's
MakeInputChannelsLast for the input)."""

from __future__ import annotations

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation

NHWC_TO_NCHW = [0, 3, 1, 2]


def _perm(node) -> list[int]:
    return next((list(a.ints) for a in node.attribute if a.name == "perm"), [])


class MakeOutputChannelsLast(Transformation):
    """Make the graph output the Transpose's NHWC input when the graph ends in one."""

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        """Remove the final transpose; ``changed`` if there was one."""
        out = model.graph.output[0]
        node = model.find_producer(out.name)
        if node is None or node.op_type != "Transpose" or _perm(node) != NHWC_TO_NCHW:
            return model, False
        src = node.input[0]
        shape = model.get_tensor_shape(src)
        dtype = model.get_tensor_datatype(src)
        model.graph.node.remove(node)
        # The producer now writes the graph output directly.
        producer = model.find_producer(src)
        producer.output[list(producer.output).index(src)] = out.name
        model.set_tensor_shape(out.name, shape)
        model.set_tensor_datatype(out.name, dtype)
        model.set_tensor_layout(out.name, ["N", "H", "W", "C"])
        return model, True
