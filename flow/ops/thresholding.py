"""Thresholding: quantized activations (FINN's MultiThreshold) on ``thresholding.sv``."""

from __future__ import annotations

import numpy as np

from flow.bounds import signed_bits
from flow.hw.memfiles import render_memfile, threshold_lines
from flow.ops.base import (
    F32_EXACT,
    WIDE_ACC,
    ExecNode,
    HwNode,
    HwOp,
    PlanContext,
    Range,
    Stream,
    compact,
    dtype_bits,
    magnitude,
    rom_style,
)

# Thresholds compared one step at a time up to this many steps, by a search beyond.
_THRESHOLD_LOOP_STEPS = 32
# Largest lookup table (channels x threshold span) a Thresholding node is run with.
_THRESHOLD_LUT_ENTRIES = 1 << 22


def _threshold(h: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per element, how many of its channel's thresholds (``t``: (C or 1, steps)) it reaches.

    Channels are the last axis. FINN's MultiThreshold counts ``x >= t`` over all steps, which
    does not depend on the order of the thresholds. ``h`` holds integers (any dtype).
    """
    h = h.astype(np.int64, copy=False)
    steps = t.shape[1]
    if steps <= _THRESHOLD_LOOP_STEPS:
        small = magnitude(int(h.min(initial=0)), int(h.max(initial=0))) < 1 << 31
        small = small and magnitude(int(t.min()), int(t.max())) < 1 << 31
        hs, ts = (h.astype(np.int32), t.astype(np.int32)) if small else (h, t)
        out = np.zeros(h.shape, dtype=np.int16)
        for s in range(steps):
            out += hs >= ts[:, s]
        return out
    ts = np.sort(t, axis=1)
    lo, hi = int(ts.min()), int(ts.max())
    xc = np.clip(h, lo - 1, hi) - (lo - 1)  # in [0, span): the count is unchanged
    if ts.shape[0] == 1:
        return np.searchsorted(ts[0] - (lo - 1), xc, side="right")
    span = hi - lo + 2
    offsets = np.arange(ts.shape[0], dtype=np.int64) * span
    flat = (ts - (lo - 1) + offsets[:, None]).reshape(-1)
    pos = np.searchsorted(flat, xc + offsets, side="right")
    return pos - np.arange(ts.shape[0], dtype=np.int64) * steps


class _ThresholdTable:
    """A Thresholding node as a lookup table: output per (channel, clipped input value).

    Inputs below the lowest threshold reach none of them and inputs above the highest
    reach all, so clipping to ``[tmin - 1, tmax]`` leaves every count unchanged.
    """

    def __init__(self, t: np.ndarray, act_val: int, bipolar: bool) -> None:
        ts = np.sort(t, axis=1)
        self.lo, self.hi = int(ts.min()) - 1, int(ts.max())
        span = self.hi - self.lo + 1
        values = np.arange(self.lo, self.hi + 1, dtype=np.int64)
        counts = np.stack([np.searchsorted(row, values, side="right") for row in ts])
        y = counts + act_val
        y = 2 * y - 1 if bipolar else y
        small = magnitude(int(y.min()), int(y.max())) < F32_EXACT
        self.table = y.astype(np.float32 if small else np.int64)
        self.table = self.table.reshape(-1)
        self.offsets = np.arange(len(ts), dtype=np.int64) * span - self.lo
        self.index_dtype = np.int32 if len(ts) * span < 1 << 31 else np.int64

    def __call__(self, h: np.ndarray) -> np.ndarray:
        idx = np.empty(h.shape, dtype=self.index_dtype)
        np.clip(h, self.lo, self.hi, out=idx, casting="unsafe")
        idx += self.offsets.astype(self.index_dtype)
        return self.table.take(idx)


class Thresholding(HwOp):
    """FINN's standalone Thresholding: per channel, the count of thresholds reached."""

    op_type = "Thresholding"
    template = "thresholding"
    source = "quantized activations (MultiThreshold)"
    summary_attrs = ("NumChannels", "numSteps", "ActVal")
    order = 2
    folds_with_mac = True

    def prepare(self, name: str, e: dict) -> tuple[np.ndarray, _ThresholdTable | None, bool]:
        """Thresholds as int64, a lookup table where it stays small, whether bipolar."""
        t = np.asarray(e["thresholds"], dtype=np.int64)
        bipolar = e["out_dtypes"][0] == "BIPOLAR"
        table = None
        if t.size and t.shape[0] * (int(t.max()) - int(t.min()) + 2) <= _THRESHOLD_LUT_ENTRIES:
            table = _ThresholdTable(t, int(e.get("ActVal", 0)), bipolar)
        return t, table, bipolar

    def execute(self, node: ExecNode, ins: list[Stream]) -> tuple[np.ndarray, Range | None]:
        t, table, bipolar = node.state
        h = ins[0][0]
        if table is not None:
            return table(h), None
        y = _threshold(h, t).astype(np.int64) + int(node.e.get("ActVal", 0))
        if bipolar:
            y = 2 * y - 1
        ylo, yhi = int(y.min(initial=0)), int(y.max(initial=0))
        return compact(y, ylo, yhi), (ylo, yhi)

    def widens(self, acc32: bool, fed_by_mac: bool) -> bool:
        # On an accumulator stream: input and thresholds widen like the accumulator.
        return acc32 and fed_by_mac

    def plan(self, e: dict, ctx: PlanContext) -> HwNode:
        in_bits, in_signed = dtype_bits(e["inputDataType"])
        out_bits, out_signed = dtype_bits(e["outputDataType"])
        channels, pe = int(e["NumChannels"]), int(e.get("PE", 1))
        t = np.asarray(e["thresholds"], dtype=np.int64)
        if t.shape[0] == 1:
            t = np.tile(t, (channels, 1))
        if in_signed:
            thr_bits = signed_bits(int(t.min()), int(t.max()))
        else:
            thr_bits = max(1, int(t.max()).bit_length())
        style = rom_style(pe * t.shape[1] * thr_bits, channels // pe)
        if ctx.wide:
            in_bits = thr_bits = WIDE_ACC
        mem = f"{ctx.name}_thresholds.mem"
        params = {
            "CHANNELS": channels,
            "PE": pe,
            "IN_WIDTH": in_bits,
            "IN_SIGNED": int(in_signed),
            "NUM_STEPS": int(e["numSteps"]),
            "THR_WIDTH": thr_bits,
            "OUT_WIDTH": out_bits,
            "OUT_SIGNED": int(out_signed),
            "OUT_BIAS": int(e["ActVal"]),
            "THRESHOLD_FILE": mem,
            "ROM_STYLE": style,
        }
        lines = threshold_lines(t, pe, thr_bits, signed=in_signed)
        return HwNode(
            ctx.name,
            self.op_type,
            ctx.layer,
            params,
            [(in_bits, pe)],
            [(out_bits, pe)],
            {mem: render_memfile(lines, ctx.header)},
        )


OP = Thresholding()
