"""Turn a spatial ReduceMean (how torch exports adaptive average pooling to 1x1) into
GlobalAveragePool, which FINN streamlines (scale moves past it) and lowers to GlobalAccPool."""

from __future__ import annotations

from onnx import helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation


def _axes(model: ModelWrapper, node) -> list[int] | None:
    for a in node.attribute:
        if a.name == "axes":
            return list(a.ints)
    if len(node.input) > 1 and node.input[1]:
        init = model.get_initializer(node.input[1])
        return None if init is None else [int(v) for v in init.reshape(-1)]
    return None


def _keepdims(node) -> int:
    return next((a.i for a in node.attribute if a.name == "keepdims"), 1)


class ReduceMeanToGlobalAveragePool(Transformation):
    """Replace ``ReduceMean(axes=[2, 3], keepdims=1)`` on an NCHW tensor by GlobalAveragePool."""

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        """Rewrite every such node; ``changed`` if one was."""
        changed = False
        for i, node in enumerate(list(model.graph.node)):
            if node.op_type != "ReduceMean":
                continue
            shape = model.get_tensor_shape(node.input[0])
            axes = _axes(model, node)
            if shape is None or len(shape) != 4 or axes is None or _keepdims(node) != 1:
                continue
            if sorted(a % 4 for a in axes) != [2, 3]:
                continue
            gap = helper.make_node(
                "GlobalAveragePool", [node.input[0]], [node.output[0]], name=node.name
            )
            model.graph.node.remove(node)
            model.graph.node.insert(i, gap)
            changed = True
        return model, changed
