"""Turn a Gemm with constant weights into a MatMul, the weights transposed where they are."""

from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation

from flow.qonnx_weights import node_attr as _attr


class ConstWeightGemmToMatMul(Transformation):
    """Replace ``Gemm(A, B[, C])`` by ``MatMul(A, B)`` (and ``Add(C)``) when ``B`` is constant.

    ``B`` is an initializer or a ``Quant`` node whose inputs are all initializers (a Brevitas
    weight quantizer). With ``transB=1`` the initializers are transposed in place: the weights
    to ``(K, N)`` and a per-output-channel scale or zero point from ``(N, 1)`` to ``(1, N)``,
    which the Quant node computes identically. qonnx's own ``GemmToMatMul`` needs the bias
    input ``C`` (a bias-free Brevitas ``QuantLinear`` exports a 2-input Gemm, on which it fails)
    and leaves a ``Transpose`` on the weights that hls4ml cannot read. Only ``transA=0``,
    ``alpha=1`` and, with ``C``, ``beta=1`` are rewritten; any other Gemm stays.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        """Rewrite the first such Gemm; ``changed`` if one was rewritten."""
        for index, node in enumerate(model.graph.node):
            if node.op_type != "Gemm" or _attr(node, "transA", 0) or _attr(node, "alpha", 1.0) != 1:
                continue
            has_bias = len(node.input) > 2 and bool(node.input[2])
            if has_bias and _attr(node, "beta", 1.0) != 1:
                continue
            sources = self._constant_sources(model, node.input[1])
            if sources is None:
                continue
            if _attr(node, "transB", 0):
                for name in sources:
                    value = model.get_initializer(name)
                    if value.ndim == 2:
                        model.set_initializer(name, np.ascontiguousarray(value.T))
                shape = model.get_tensor_shape(node.input[1])
                if model.get_initializer(node.input[1]) is None and shape is not None:
                    model.set_tensor_shape(node.input[1], list(reversed(shape)))
            out = node.output[0]
            new = [helper.make_node("MatMul", [node.input[0], node.input[1]], [out], node.name)]
            if has_bias:
                product = model.make_new_valueinfo_name()
                model.set_tensor_shape(product, model.get_tensor_shape(out))
                new[0].output[0] = product
                new.append(helper.make_node("Add", [product, node.input[2]], [out]))
            model.graph.node.remove(node)
            for offset, n in enumerate(new):
                model.graph.node.insert(index + offset, n)
            return model, True
        return model, False

    @staticmethod
    def _constant_sources(model: ModelWrapper, tensor: str) -> list[str] | None:
        """The initializers ``tensor`` is computed from alone (itself, or a Quant node's
        inputs), or None when it is not constant or another node also reads them."""
        if model.get_initializer(tensor) is not None:
            return [tensor] if len(model.find_consumers(tensor) or []) == 1 else None
        producer = model.find_producer(tensor)
        if producer is None or producer.op_type != "Quant":
            return None
        if len(model.find_consumers(tensor) or []) != 1:
            return None
        inputs = list(producer.input)
        if any(model.get_initializer(t) is None for t in inputs):
            return None
        shapes = [model.get_initializer(t).shape for t in inputs]
        # A vector would broadcast along the other axis once the weights are transposed.
        if any(len(shape) not in (0, 2) and int(np.prod(shape)) != 1 for shape in shapes):
            return None
        # Matrices are transposed in place, so no other node may read them.
        matrices = [t for t, shape in zip(inputs, shapes, strict=True) if len(shape) == 2]
        if any(len(model.find_consumers(t) or []) != 1 for t in matrices):
            return None
        return inputs
