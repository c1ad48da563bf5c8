"""MVAU: a matrix-vector layer (MatMul/Gemm, or a lowered Conv) on ``mvau.sv``, or, in the
``const`` MAC style, on a module generated with its weights hard-wired (``flow.hw.constmac``)."""

from __future__ import annotations

import math

import numpy as np

from flow.hw.constmac import ConstMvauSpec, render_const_mvau
from flow.hw.memfiles import mvau_weight_lines, render_memfile
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


class Mvau(MacOp):
    """FINN's MVAU without activation: ``PE`` outputs of ``SIMD`` products per cycle."""

    op_type = "MVAU"
    template = "mvau"
    source = "MatMul/Gemm or a lowered Conv with constant integer weights"
    summary_attrs = ("MW", "MH", "numInputVectors")
    order = 0

    def mac_dims(self, inst) -> tuple[int, int]:
        return inst.get_nodeattr("MH"), inst.get_nodeattr("MW")

    def elems(self, inst, side: str) -> int:
        return inst.get_nodeattr("SIMD" if side == "in" else "PE")

    def align_simd(self, inst, channels: int) -> None:
        """Round a conv MVAU's SIMD up to a multiple or a divisor of its input channels when
        its sliding window would otherwise be the slower of the two.

        The window emits whole channel groups, so an MVAU SIMD that is neither forces the
        window down to their common divisor (SIMD 18 on 4 channels: 2 elements per cycle).
        Rounding up never slows the MVAU; it is skipped when the window keeps up anyway,
        since a wider SIMD costs multipliers.
        """
        mw, mh = inst.get_nodeattr("MW"), inst.get_nodeattr("MH")
        simd, pe = inst.get_nodeattr("SIMD"), inst.get_nodeattr("PE")
        window_cycles = mw // math.gcd(simd, channels)  # per output pixel
        mvau_cycles = (mw // simd) * (mh // pe)
        if window_cycles <= mvau_cycles:
            return
        fits = [
            d
            for d in range(simd, mw + 1)
            if mw % d == 0 and (d % channels == 0 or channels % d == 0)
        ]
        if fits:
            inst.set_nodeattr("SIMD", fits[0])

    def execute(self, node: ExecNode, ins: list[Stream]) -> tuple[np.ndarray, Range | None]:
        w, wsum = node.state
        h, lo, hi = ins[0]
        dt = exact_dtype(magnitude(lo, hi) * wsum)
        acc = h.reshape(-1, w.shape[0]).astype(dt, copy=False) @ w.astype(dt)
        return acc.reshape(node.out_shape(len(h))), None

    def plan(self, e: dict, ctx: PlanContext) -> HwNode:
        w = np.asarray(e["weights"], dtype=np.int64).T  # FINN stores (MW, MH)
        in_bits, in_signed, acc_bits, w_bits = self.widths(e, w, ctx.wide)
        pe, simd = int(e.get("PE", 1)), int(e.get("SIMD", 1))
        shape = {
            "MW": e["MW"],
            "MH": e["MH"],
            "PE": pe,
            "SIMD": simd,
            "IN_WIDTH": in_bits,
            "IN_SIGNED": int(in_signed),
        }
        streams = [(in_bits, simd)], [(acc_bits, pe)]
        if ctx.mac_style == "const":
            # Its own module, wrapped like the template; the acc32 twin is the same tree
            # with every adder 32 bits wide.
            module = f"{ctx.name}_const"
            spec = ConstMvauSpec(
                module, w, pe, simd, in_bits, in_signed, acc_bits, exact_tree=not ctx.wide
            )
            return HwNode(
                ctx.name,
                self.op_type,
                ctx.layer,
                {**shape, "ACC_WIDTH": acc_bits},
                *streams,
                generated={f"{module}.sv": render_const_mvau(spec, ctx.header)},
                module=module,
            )
        mem = f"{ctx.name}_weights.mem"
        params = {
            **shape,
            "W_WIDTH": w_bits,
            "ACC_WIDTH": acc_bits,
            "WEIGHT_FILE": mem,
            "ROM_STYLE": rom_style(pe * simd * w_bits, w.size // (pe * simd)),
        }
        lines = mvau_weight_lines(w, pe, simd, w_bits)
        return HwNode(
            ctx.name,
            self.op_type,
            ctx.layer,
            params,
            *streams,
            {mem: render_memfile(lines, ctx.header)},
        )

    def lane_slice(self, e: dict, lanes: list[int]) -> dict:
        """The summary entry of this layer restricted to PE lanes ``lanes``, same folding
        (synthesis in slices, :mod:`flow.hw.slices`).

        Output channel ``nf*PE + p`` is computed by lane ``p`` in neuron fold ``nf``; the
        slice keeps, in fold order, the channels of its lanes, so its lane ``j`` in fold
        ``nf`` computes the layer's channel ``nf*PE + lanes[j]``.
        """
        pe, mh = int(e.get("PE", 1)), int(e["MH"])
        cols = [nf * pe + p for nf in range(mh // pe) for p in lanes]
        w = np.asarray(e["weights"])[:, cols]  # FINN's (MW, MH)
        shape = [[*e["out_shapes"][0][:-1], len(cols)]]
        return {**e, "weights": w.tolist(), "MH": len(cols), "PE": len(lanes), "out_shapes": shape}

    def worst_case_stimulus(self, params: dict, e: dict) -> tuple[np.ndarray, np.ndarray, int]:
        """Two input vectors per output channel: its minimum and its maximum dot product."""
        q, cases = self.worst_cases(params, e)
        x = np.asarray([v for pair in cases for v in pair], dtype=np.int64)
        return x.reshape(-1), x @ q, params["SIMD"]

    def input_fifo_depth(self, node: HwNode) -> int:
        # It reads its input vector during its first neuron fold only: a FIFO of one whole
        # vector lets the producer run ahead during the other folds.
        return int(node.params["MW"]) // int(node.params["SIMD"])


OP = Mvau()
