"""DuplicateStreams: a tensor read by two nodes (a residual or skip fork) on
``duplicate_streams.sv``."""

from __future__ import annotations

import numpy as np

from flow.errors import HardwareError
from flow.ops.base import ExecNode, HwNode, HwOp, PlanContext, Range, Stream, dtype_bits


class DuplicateStreams(HwOp):
    """FINN's DuplicateStreams: every word of its input on both outputs."""

    op_type = "DuplicateStreams"
    template = "duplicate_streams"
    source = "a tensor read by two nodes (residual fork)"
    summary_attrs = ("NumChannels", "NumOutputStreams")
    is_fork = True

    def execute(self, node: ExecNode, ins: list[Stream]) -> tuple[np.ndarray, Range | None]:
        h, lo, hi = ins[0]
        return h, (lo, hi)

    def plan(self, e: dict, ctx: PlanContext) -> HwNode:
        bits, _ = dtype_bits(e["in_dtypes"][0])
        pe = int(e["PE"])
        if len(e["outputs"]) != 2:
            raise HardwareError(
                f"node {ctx.name}: duplicate_streams has 2 outputs, this fork has "
                f"{len(e['outputs'])}"
            )
        params = {"WIDTH": bits * pe}
        return HwNode(ctx.name, self.op_type, ctx.layer, params, [(bits, pe)], [(bits, pe)] * 2)


OP = DuplicateStreams()
