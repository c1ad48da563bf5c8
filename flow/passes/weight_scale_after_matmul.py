"""Make a MatMul's quantized weights integers and apply their scale to its output instead."""

from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.general.quant import quant
from qonnx.transformation.base import Transformation
from qonnx.util.basic import get_by_name


class MoveWeightScaleAfterMatMul(Transformation):
    """Rewrite ``MatMul(x, Quant(W, s, 0, b))`` as ``Mul(MatMul(x, Quant(W_int, 1, 0, b)), s)``.

    ``W_int`` are the integers the Quant node computes (``round(W / s)``, clipped), so the
    product is the same: ``x @ (W_int * s) == (x @ W_int) * s`` for a scale ``s`` that is one
    value or one per output column (shape ``()``, ``(N,)`` or ``(1, N)``). hls4ml's
    ``ScaleDownMatMul`` fails on a per-output-channel weight scale, while a ``Mul`` by a
    constant after the MatMul becomes an ``ApplyAlpha`` it handles. Only weights whose Quant
    inputs are all initializers, read by this MatMul alone, with a zero point of 0 and a scale
    that is not already 1 are rewritten.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        """Rewrite the first such MatMul; ``changed`` if one was rewritten."""
        for index, node in enumerate(model.graph.node):
            if node.op_type != "MatMul":
                continue
            q = model.find_producer(node.input[1])
            if q is None or q.op_type != "Quant":
                continue
            if len(model.find_consumers(q.output[0]) or []) != 1:
                continue
            w, scale, zero, bits = (model.get_initializer(t) for t in q.input)
            if any(v is None for v in (w, scale, zero, bits)) or w.ndim != 2:
                continue
            n = w.shape[1]
            if np.any(zero != 0) or np.all(scale == 1) or scale.size not in (1, n):
                continue
            if scale.size == n and scale.shape not in ((n,), (1, n)):
                continue
            signed, narrow = (get_by_name(q.attribute, a).i for a in ("signed", "narrow"))
            rounding = get_by_name(q.attribute, "rounding_mode")
            values = quant(
                w, scale, zero, bits, signed=signed, narrow=narrow,
                rounding_mode=rounding.s.decode() if rounding is not None else "ROUND",
            )  # fmt: skip
            integers = np.rint(values / scale).astype(np.float32)
            # Fresh names: the old scale and weights may be shared with other nodes.
            w_name, one_name, s_name = (model.make_new_valueinfo_name() for _ in range(3))
            model.set_initializer(w_name, integers)
            model.set_initializer(one_name, np.array(1.0, dtype=np.float32))
            per_column = np.asarray(scale, dtype=np.float32).reshape(-1 if scale.size > 1 else ())
            model.set_initializer(s_name, per_column)
            q.input[0], q.input[1] = w_name, one_name
            out = node.output[0]
            product = model.make_new_valueinfo_name()
            model.set_tensor_shape(product, model.get_tensor_shape(out))
            node.output[0] = product
            model.graph.node.insert(index + 1, helper.make_node("Mul", [product, s_name], [out]))
            return model, True
        return model, False
