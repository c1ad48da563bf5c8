"""FMPadding: the zero padding of a Conv on ``fmpadding.sv``."""

from __future__ import annotations

import numpy as np

from flow.ops.base import ExecNode, HwNode, HwOp, PlanContext, Range, Stream, dtype_bits


class FMPadding(HwOp):
    """FINN's FMPadding: zeros around an NHWC image."""

    op_type = "FMPadding"
    template = "fmpadding"
    source = "the zero padding of a Conv"
    summary_attrs = ("ImgDim", "Padding", "NumChannels")
    pass_through = True

    def stream_channels(self, inst) -> int:
        return inst.get_nodeattr("NumChannels")

    def execute(self, node: ExecNode, ins: list[Stream]) -> tuple[np.ndarray, Range | None]:
        h, lo, hi = ins[0]
        top, left, bottom, right = node.e["Padding"]
        y = np.pad(h, ((0, 0), (top, bottom), (left, right), (0, 0)))
        return y, ((min(lo, 0), max(hi, 0)) if y.size > h.size else (lo, hi))

    def plan(self, e: dict, ctx: PlanContext) -> HwNode:
        bits, _ = dtype_bits(e["in_dtypes"][0])
        simd = int(e["SIMD"])
        (ih, iw), (top, left, bottom, right) = e["ImgDim"], e["Padding"]
        params = {
            "IFM_H": ih,
            "IFM_W": iw,
            "CHANNELS": int(e["NumChannels"]),
            "SIMD": simd,
            "PAD_TOP": top,
            "PAD_BOTTOM": bottom,
            "PAD_LEFT": left,
            "PAD_RIGHT": right,
            "WIDTH": bits,
        }
        return HwNode(ctx.name, self.op_type, ctx.layer, params, [(bits, simd)], [(bits, simd)])


OP = FMPadding()
