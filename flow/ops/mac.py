"""What the MAC layers (MVAU, VVAU) share: integer weights, an accumulator, acc32 widening."""

from __future__ import annotations

import numpy as np

from flow.bounds import input_range, signed_bits, worst_case_inputs
from flow.ops.base import WIDE_ACC, HwOp, dtype_bits


class MacOp(HwOp):
    """A dot-product layer: ``weights`` ``(K, channels)`` in the summary, an accumulator
    stream out (``accDataType``), widened to 32 bits in the acc32 variant."""

    is_mac = True

    def mac_dims(self, inst) -> tuple[int, int]:
        """(outputs, inputs per output) of the FINN node."""
        raise NotImplementedError

    def weight_matrix(self, w: np.ndarray) -> np.ndarray:
        """FINN's weight initializer as ``(K, channels)``."""
        return w

    def check_folding(self, pe: int, simd: int) -> str | None:
        """What is wrong with an explicit PE/SIMD beyond divisibility, or None."""
        return None

    def prepare(self, name: str, e: dict) -> tuple[np.ndarray, int]:
        """The weights as int64 ``(K, channels)`` and the largest per-channel ``sum |w|``."""
        w = np.asarray(e["weights"], dtype=np.int64)
        return w, int(np.abs(w).sum(axis=0).max())

    def lane_slice(self, e: dict, lanes: list[int]) -> dict | None:
        """The summary entry restricted to PE lanes ``lanes`` (:mod:`flow.hw.slices`), or
        None where the op cannot be synthesized in slices."""
        return None

    def widens(self, acc32: bool, fed_by_mac: bool) -> bool:
        return acc32

    @staticmethod
    def widths(e: dict, w: np.ndarray, wide: bool) -> tuple[int, bool, int, int]:
        """(input bits, input signed, accumulator bits, weight bits) of its template."""
        in_bits, in_signed = dtype_bits(e["inputDataType"])
        acc_bits = WIDE_ACC if wide else dtype_bits(e["accDataType"])[0]
        w_bits = max(2, signed_bits(int(w.min()), int(w.max())))
        return in_bits, in_signed, acc_bits, w_bits

    def worst_cases(self, params: dict, e: dict) -> tuple[np.ndarray, list[tuple]]:
        """Per output channel its two worst-case input vectors (the extremes of its dot
        product) for the template's input type, and the ``(K, channels)`` weights."""
        q = np.asarray(e["weights"], dtype=np.int64)
        lo, hi = input_range(params["IN_WIDTH"], bool(params["IN_SIGNED"]))
        return q, [worst_case_inputs(col, lo, hi) for col in q.T.tolist()]

    def worst_case_stimulus(self, params: dict, e: dict) -> tuple[np.ndarray, np.ndarray, int]:
        """Input stream values and the exact outputs (rows of channels) that drive every
        channel's worst cases through the template, and the input elements per word."""
        raise NotImplementedError
