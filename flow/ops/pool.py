"""Pool: a max-pool (after its sliding window) on ``pool.sv``."""

from __future__ import annotations

import numpy as np

from flow.errors import CompileError
from flow.ops.base import ExecNode, HwNode, HwOp, PlanContext, Range, Stream, dtype_bits

# The functions the executor models; the template implements MaxPool only.
_FUNCTIONS = ("MaxPool", "AccPool")


class Pool(HwOp):
    """FINN's Pool: per channel, the maximum of each window's ``K`` values."""

    op_type = "Pool"
    template = "pool"
    source = "MaxPool"
    summary_attrs = ("Channels", "KernelSize", "OutImgDims", "Function")

    def supports(self, inst) -> bool:
        return inst.get_nodeattr("Function") == "MaxPool"

    def prepare(self, name: str, e: dict) -> None:
        if e.get("Function") not in _FUNCTIONS:
            raise CompileError(f"verify: {name}: Pool function {e.get('Function')!r}")

    def execute(self, node: ExecNode, ins: list[Stream]) -> tuple[np.ndarray, Range | None]:
        h, e = ins[0][0], node.e
        kk = int(np.prod(e["KernelSize"]))
        win = h.reshape(*h.shape[:-1], kk, int(e["Channels"]))
        if e["Function"] == "MaxPool":
            return win.max(axis=-2).reshape(node.out_shape(len(h))), None
        return win.astype(np.int64).sum(axis=-2).reshape(node.out_shape(len(h))), None

    def plan(self, e: dict, ctx: PlanContext) -> HwNode:
        bits, signed = dtype_bits(e["in_dtypes"][0])
        pe = int(e["PE"])
        params = {
            "CHANNELS": int(e["Channels"]),
            "K": int(np.prod(e["KernelSize"])),
            "PE": pe,
            "WIDTH": bits,
            "SIGNED": int(signed),
        }
        return HwNode(ctx.name, self.op_type, ctx.layer, params, [(bits, pe)], [(bits, pe)])


OP = Pool()
