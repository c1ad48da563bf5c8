"""VVAU: a depthwise convolution (after its sliding window) on ``vvau.sv``."""

from __future__ import annotations

import numpy as np

from flow.hw.memfiles import render_memfile
from flow.hw.memfiles_conv import depthwise_order, vvau_weight_lines
from flow.ops.base import (
    ExecNode,
    HwNode,
    PlanContext,
    Range,
    Stream,
    exact_dtype,
    magnitude,
    rom_style,
)
from flow.ops.mac import MacOp


class Vvau(MacOp):
    """FINN's VVAU without activation: ``PE`` channels per cycle, one kernel position each."""

    op_type = "VVAU"
    template = "vvau"
    source = "a lowered depthwise Conv"
    summary_attrs = ("Channels", "Kernel", "Dim")
    order = 1
    # Our VVAU takes one kernel position per cycle.
    fixed_folding = {"SIMD": 1}

    def mac_dims(self, inst) -> tuple[int, int]:
        k = inst.get_nodeattr("Kernel")
        return inst.get_nodeattr("Channels"), int(k[0] * k[1])

    def weight_matrix(self, w: np.ndarray) -> np.ndarray:
        return w.reshape(w.shape[0], -1).T  # (C, 1, kh, kw) -> (K, C)

    def check_folding(self, pe: int, simd: int) -> str | None:
        if simd != 1:
            return (
                f"a depthwise layer takes one kernel position per cycle (SIMD=1), not "
                f"SIMD={simd}; fold it with PE"
            )
        return None

    def execute(self, node: ExecNode, ins: list[Stream]) -> tuple[np.ndarray, Range | None]:
        w, wsum = node.state  # (K, C)
        h, lo, hi = ins[0]
        k, c = w.shape
        # FINN: after a sliding window the input is (kernel position, channel); otherwise
        # channels come in groups of PE, kernel positions within a group.
        after_window = node.producer in ("ConvolutionInputGenerator", "Im2Col")
        pe = c if after_window else int(node.e["PE"])
        xs = h.reshape(-1, c // pe, k, pe).transpose(0, 2, 1, 3).reshape(-1, k, c)
        dt = exact_dtype(magnitude(lo, hi) * wsum)
        acc = np.einsum("pkc,kc->pc", xs.astype(dt, copy=False), w.astype(dt))
        return acc.reshape(node.out_shape(len(h))), None

    def plan(self, e: dict, ctx: PlanContext) -> HwNode:
        w = np.asarray(e["weights"], dtype=np.int64).T  # summary: (K, channels)
        in_bits, in_signed, acc_bits, w_bits = self.widths(e, w, ctx.wide)
        pe = int(e.get("PE", 1))
        mem = f"{ctx.name}_weights.mem"
        params = {
            "CHANNELS": w.shape[0],
            "K": w.shape[1],
            "PE": pe,
            "IN_WIDTH": in_bits,
            "IN_SIGNED": int(in_signed),
            "W_WIDTH": w_bits,
            "ACC_WIDTH": acc_bits,
            "WEIGHT_FILE": mem,
            "ROM_STYLE": rom_style(pe * w_bits, w.size // pe),
        }
        lines = vvau_weight_lines(w, pe, w_bits)
        return HwNode(
            ctx.name,
            self.op_type,
            ctx.layer,
            params,
            [(in_bits, pe)],
            [(acc_bits, pe)],
            {mem: render_memfile(lines, ctx.header)},
        )

    def worst_case_stimulus(self, params: dict, e: dict) -> tuple[np.ndarray, np.ndarray, int]:
        """The channels are independent, so two pixels carry every channel's extremes: pixel
        j holds, per channel, that channel's j-th worst-case vector, in the depthwise window
        order."""
        q, cases = self.worst_cases(params, e)
        x = np.asarray([[case[j] for case in cases] for j in range(2)], dtype=np.int64)
        expected = np.einsum("jck,kc->jc", x, q)  # x: (2, C, K)
        windows = x.transpose(0, 2, 1)  # (2, K, C)
        return depthwise_order(windows, params["PE"]).reshape(-1), expected, params["PE"]


OP = Vvau()
