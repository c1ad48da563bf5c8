"""ConvolutionInputGenerator: the im2col of a Conv or pooling window on ``sliding_window.sv``."""

from __future__ import annotations

import numpy as np

from flow.errors import CompileError, HardwareError
from flow.ops.base import (
    BLOCK_ROM_BITS,
    ExecNode,
    HwNode,
    HwOp,
    PlanContext,
    Range,
    Stream,
    dtype_bits,
)


def _im2col(h: np.ndarray, e: dict) -> np.ndarray:
    """FINN's ConvolutionInputGenerator (qonnx Im2Col): NHWC -> (N, OH, OW, KH*KW*C).

    The element order of a window is (kh, kw, c), depthwise or not.
    """
    (ih, iw), c = e["IFMDim"], int(e["IFMChannels"])
    (kh, kw), (sh, sw) = e["ConvKernelDim"], e["Stride"]
    dh, dw = e.get("Dilation", [1, 1])
    oh, ow = e["OFMDim"]
    h = h.reshape(len(h), ih, iw, c)
    win = np.lib.stride_tricks.sliding_window_view(
        h, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(1, 2)
    )  # (N, IH', IW', C, KH', KW')
    win = win[:, : (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw, :, ::dh, ::dw]
    if win.shape[1:3] != (oh, ow):
        raise CompileError(f"verify: {e['op_type']} window count {win.shape[1:3]} != OFMDim")
    return win.transpose(0, 1, 2, 4, 5, 3).reshape(len(h), oh, ow, kh * kw * c)


class SlidingWindow(HwOp):
    """FINN's ConvolutionInputGenerator: every kernel window of an NHWC image, in turn."""

    op_type = "ConvolutionInputGenerator"
    template = "sliding_window"
    source = "the im2col of a Conv or pooling window"
    summary_attrs = (
        "IFMDim",
        "OFMDim",
        "ConvKernelDim",
        "Stride",
        "Dilation",
        "IFMChannels",
        "depthwise",
    )
    is_window = True
    pass_through = True

    def stream_channels(self, inst) -> int:
        return inst.get_nodeattr("IFMChannels")

    def stream_word(self, inst, consumer_elems: int, producer_elems: int = 0) -> int:
        # A depthwise window interleaves kernel positions and channel groups: it emits words
        # of its consumer's PE; a plain one the common divisor of that, its channels and
        # its producer's word.
        if inst.get_nodeattr("depthwise"):
            return consumer_elems
        return super().stream_word(inst, consumer_elems, producer_elems)

    def execute(self, node: ExecNode, ins: list[Stream]) -> tuple[np.ndarray, Range | None]:
        h, lo, hi = ins[0]
        return _im2col(h, node.e), (lo, hi)

    def plan(self, e: dict, ctx: PlanContext) -> HwNode:
        bits, _ = dtype_bits(e["in_dtypes"][0])
        simd, ch = int(e["SIMD"]), int(e["IFMChannels"])
        (ih, iw), (kh, kw), (sh, sw) = e["IFMDim"], e["ConvKernelDim"], e["Stride"]
        if tuple(e.get("Dilation", [1, 1])) != (1, 1):
            raise HardwareError(f"node {ctx.name}: dilated windows are not supported")
        ram_bits = (kh + sh) * iw * ch * bits
        params = {
            "IFM_H": ih,
            "IFM_W": iw,
            "CHANNELS": ch,
            "SIMD": simd,
            "K_H": kh,
            "K_W": kw,
            "STRIDE_H": sh,
            "STRIDE_W": sw,
            "WIDTH": bits,
            "DEPTHWISE": int(e["depthwise"]),
            "RAM_STYLE": "block" if ram_bits >= BLOCK_ROM_BITS else "distributed",
        }
        return HwNode(ctx.name, self.op_type, ctx.layer, params, [(bits, simd)], [(bits, simd)])


OP = SlidingWindow()
