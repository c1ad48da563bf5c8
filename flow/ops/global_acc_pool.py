"""GlobalAccPool: the sum over all pixels (GlobalAveragePool) on ``global_acc_pool.sv``."""

from __future__ import annotations

import math

import numpy as np

from flow.ops.base import ExecNode, HwNode, HwOp, PlanContext, Range, Stream, dtype_bits


def _pixels(e: dict) -> int:
    return int(math.prod(e["in_shapes"][0][1:-1]))


class GlobalAccPool(HwOp):
    """FINN's GlobalAccPool: per channel, the sum of every pixel (its 1/N goes into the next
    thresholds)."""

    op_type = "GlobalAccPool"
    template = "global_acc_pool"
    source = "GlobalAveragePool (its 1/N goes into the next thresholds)"
    summary_attrs = ("NumChannels", "numInputVectors")

    def sum_terms(self, e: dict) -> int:
        return _pixels(e)

    def execute(self, node: ExecNode, ins: list[Stream]) -> tuple[np.ndarray, Range | None]:
        h = ins[0][0]
        return h.astype(np.int64).sum(axis=(1, 2)).reshape(node.out_shape(len(h))), None

    def plan(self, e: dict, ctx: PlanContext) -> HwNode:
        in_bits, in_signed = dtype_bits(e["in_dtypes"][0])
        out_bits, _ = dtype_bits(e["out_dtypes"][0])
        pe = int(e["PE"])
        params = {
            "CHANNELS": int(e["NumChannels"]),
            "PE": pe,
            "PIXELS": _pixels(e),
            "IN_WIDTH": in_bits,
            "IN_SIGNED": int(in_signed),
            "OUT_WIDTH": out_bits,
        }
        return HwNode(ctx.name, self.op_type, ctx.layer, params, [(in_bits, pe)], [(out_bits, pe)])


OP = GlobalAccPool()
