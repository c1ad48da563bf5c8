"""ElementwiseAdd: the add of two integer streams (a residual join) on ``add_streams.sv``."""

from __future__ import annotations

import numpy as np

from flow.errors import CompileError
from flow.ops.base import ExecNode, HwNode, HwOp, PlanContext, Range, Stream, dtype_bits


class ElementwiseAdd(HwOp):
    """FINN's ElementwiseAdd of two streams, into the exact type of their sum."""

    op_type = "ElementwiseAdd"
    template = "add_streams"
    source = "the add of two integer streams (residual join)"
    is_join = True

    def sum_terms(self, e: dict) -> int:
        return len(e["in_dtypes"])

    def prepare(self, name: str, e: dict) -> None:
        if len(e["inputs"]) != 2:
            raise CompileError(f"verify: {name}: ElementwiseAdd needs two stream inputs")

    def execute(self, node: ExecNode, ins: list[Stream]) -> tuple[np.ndarray, Range | None]:
        a, b = (v[0].astype(np.int64, copy=False) for v in ins)
        return (a + b).reshape(node.out_shape(len(a))), None

    def plan(self, e: dict, ctx: PlanContext) -> HwNode:
        (b0, s0), (b1, s1) = (dtype_bits(d) for d in e["in_dtypes"])
        out_bits, out_signed = dtype_bits(e["out_dtypes"][0])
        pe = int(e["PE"])
        params = {
            "PE": pe,
            "IN0_WIDTH": b0,
            "IN0_SIGNED": int(s0),
            "IN1_WIDTH": b1,
            "IN1_SIGNED": int(s1),
            "OUT_WIDTH": out_bits,
            "OUT_SIGNED": int(out_signed),
        }
        elems = [(b0, pe), (b1, pe)]
        return HwNode(ctx.name, self.op_type, ctx.layer, params, elems, [(out_bits, pe)])


OP = ElementwiseAdd()
