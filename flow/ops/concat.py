"""StreamingConcat: a channel concat of two integer streams (a UNet skip join) on
``concat.sv``."""

from __future__ import annotations

import math

import numpy as np

from flow.errors import HardwareError
from flow.ops.base import ExecNode, HwNode, HwOp, PlanContext, Range, Stream, dtype_bits


class StreamingConcat(HwOp):
    """FINN's StreamingConcat: per pixel, the channels of its first input, then its second."""

    op_type = "StreamingConcat"
    template = "concat"
    source = "a channel Concat of integer streams (UNet skip join)"
    summary_attrs = ("ChannelsPerStream",)
    is_join = True
    pass_through = True

    def stream_channels(self, inst) -> int:
        # Its words must divide both of its inputs' channels.
        return math.gcd(*inst.get_nodeattr("ChannelsPerStream"))

    def execute(self, node: ExecNode, ins: list[Stream]) -> tuple[np.ndarray, Range | None]:
        y = np.concatenate([v[0].astype(np.int64, copy=False) for v in ins], axis=-1)
        return y, (min(v[1] for v in ins), max(v[2] for v in ins))

    def plan(self, e: dict, ctx: PlanContext) -> HwNode:
        ins = [dtype_bits(d) for d in e["in_dtypes"]]
        out_bits, out_signed = dtype_bits(e["out_dtypes"][0])
        channels = [int(c) for c in e["ChannelsPerStream"]]
        if len(ins) != 2:
            raise HardwareError(
                f"node {ctx.name}: concat.sv joins 2 streams, this concat has {len(ins)}"
            )
        simd = int(e["SIMD"])
        params = {
            "PIXELS": int(np.prod(e["out_shapes"][0][1:-1])),
            "CHANNELS0": channels[0],
            "CHANNELS1": channels[1],
            "SIMD": simd,
            "WIDTH0": ins[0][0],
            "SIGNED0": int(ins[0][1]),
            "WIDTH1": ins[1][0],
            "SIGNED1": int(ins[1][1]),
            "OUT_WIDTH": out_bits,
            "OUT_SIGNED": int(out_signed),
        }
        elems = [(b, simd) for b, _ in ins]
        return HwNode(ctx.name, self.op_type, ctx.layer, params, elems, [(out_bits, simd)])


OP = StreamingConcat()
