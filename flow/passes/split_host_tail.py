"""Split the float scaling at the end of the graph off to the host side."""

from __future__ import annotations

import json

import numpy as np
from onnx import TensorProto, helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation

from flow.errors import CompileError

#: Model metadata key holding the removed tail as JSON (list of ops in execution order).
HOST_TAIL_KEY = "a2q_host_tail"
_TAIL_OPS = ("Mul", "Add")


def _read_tail(model: ModelWrapper) -> list[dict]:
    """The host tail recorded so far (empty list if none)."""
    text = model.get_metadata_prop(HOST_TAIL_KEY)
    return [] if text is None else json.loads(text)


class SplitOffHostTail(Transformation):
    """Remove trailing elementwise ``Mul``/``Add`` nodes with a constant operand.

    After streamlining, a quantized last layer leaves ``MatMul -> Mul(scale)`` (per-channel
    if the weights were quantized per channel): the accelerator computes the integer
    accumulator, the host applies the float scale. Each application removes the op that
    produces the graph output and prepends it to the JSON list stored under
    :data:`HOST_TAIL_KEY` in the model metadata; :func:`apply_host_tail` replays it.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        """Remove one tail op; ``changed`` while ops are being removed."""
        if len(model.graph.output) != 1:
            raise CompileError(
                f"The model must have exactly one graph output, found {len(model.graph.output)}"
            )
        out_name = model.graph.output[0].name
        node = model.find_producer(out_name)
        if node is None or node.op_type not in _TAIL_OPS:
            return model, False
        consts = [model.get_initializer(name) for name in node.input]
        dynamic = [name for name, c in zip(node.input, consts, strict=True) if c is None]
        if len(dynamic) != 1:
            return model, False
        const = next(c for c in consts if c is not None)
        new_out = dynamic[0]
        if len(model.find_consumers(new_out) or []) != 1:
            return model, False
        tail = [
            {
                "op_type": node.op_type,
                "constant": np.asarray(const, dtype=np.float64).tolist(),
                "shape": list(const.shape),
            },
            *_read_tail(model),
        ]
        shape = model.get_tensor_shape(new_out)
        dtype = model.get_tensor_datatype(new_out)
        model.graph.node.remove(node)
        for vi in list(model.graph.value_info):
            if vi.name == new_out:
                model.graph.value_info.remove(vi)
        model.graph.output.remove(model.graph.output[0])
        model.graph.output.append(helper.make_tensor_value_info(new_out, TensorProto.FLOAT, shape))
        model.set_tensor_datatype(new_out, dtype)
        model.set_metadata_prop(HOST_TAIL_KEY, json.dumps(tail))
        return model, True


def apply_host_tail(tail: list[dict], values: np.ndarray) -> np.ndarray:
    """Replay a host tail (as stored under :data:`HOST_TAIL_KEY`) on accelerator outputs."""
    out = values.astype(np.float32)
    for op in tail:
        const = np.asarray(op["constant"], dtype=np.float32).reshape(op["shape"])
        if op["op_type"] == "Mul":
            out = out * const
        elif op["op_type"] == "Add":
            out = out + const
        else:
            raise CompileError(f"Unknown host tail op {op['op_type']!r}; allowed: {_TAIL_OPS}")
    return out
