"""UpsampleNearestNeighbour: a nearest-neighbour upsample by an integer factor on
``upsample.sv``."""

from __future__ import annotations

import numpy as np

from flow.errors import HardwareError
from flow.ops.base import ExecNode, HwNode, HwOp, PlanContext, Range, Stream, dtype_bits


class Upsample(HwOp):
    """FINN's UpsampleNearestNeighbour: every pixel repeated ``SCALE`` x ``SCALE`` times."""

    op_type = "UpsampleNearestNeighbour"
    template = "upsample"
    source = "a nearest-neighbour Resize/Upsample by an integer factor"
    summary_attrs = ("HI", "WI", "HO", "WO", "NumChannels")
    pass_through = True

    def stream_channels(self, inst) -> int:
        return inst.get_nodeattr("NumChannels")

    def before_set_folding(self, inst) -> None:
        # SetFolding does not fold upsamplers and would take one at SIMD=1 for the
        # bottleneck, relaxing every other layer's target to it; ours are folded to their
        # consumers afterwards, so here they count as fully parallel.
        inst.set_nodeattr("SIMD", inst.get_nodeattr("NumChannels"))

    def execute(self, node: ExecNode, ins: list[Stream]) -> tuple[np.ndarray, Range | None]:
        h, lo, hi = ins[0]
        e = node.e
        fh, fw = int(e["HO"]) // int(e["HI"]), int(e["WO"]) // int(e["WI"])
        return h.repeat(fh, axis=1).repeat(fw, axis=2), (lo, hi)

    def plan(self, e: dict, ctx: PlanContext) -> HwNode:
        bits, _ = dtype_bits(e["in_dtypes"][0])
        simd = int(e["SIMD"])
        hi, wi, ho, wo = (int(e[k]) for k in ("HI", "WI", "HO", "WO"))
        if ho % hi or wo % wi or ho // hi != wo // wi:
            raise HardwareError(
                f"node {ctx.name}: upsample.sv scales both axes by one integer factor, not "
                f"{hi}x{wi} -> {ho}x{wo}"
            )
        params = {
            "IN_H": hi,
            "IN_W": wi,
            "SCALE": ho // hi,
            "CHANNELS": int(e["NumChannels"]),
            "SIMD": simd,
            "WIDTH": bits,
        }
        return HwNode(ctx.name, self.op_type, ctx.layer, params, [(bits, simd)], [(bits, simd)])


OP = Upsample()
