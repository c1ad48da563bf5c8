"""Memory files and stream orders of the convolution-side templates (``vvau.sv``, ``pool.sv``).

Pure functions like :mod:`flow.hw.memfiles`, whose packing helpers and conventions they
share: element ``i`` of a word occupies bits ``[(i+1)*W-1 : i*W]``, two's complement.

The *depthwise* stream order of one output pixel's window (FINN's depthwise sliding window,
consumed by ``vvau.sv`` and ``pool.sv``) is channel-fold-major: for each channel fold ``cf``
(``CF = CHANNELS/PE``), for each kernel position ``k``, one word of ``PE`` elements
``x[k][cf*PE + p]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flow.errors import HardwareError
from flow.hw.memfiles import _as_int_array, _hex_line, _pack, check_fits


def _check_fold(channels: int, pe: int, what: str) -> None:
    if pe < 1 or channels % pe:
        raise HardwareError(f"PE={pe} must divide CHANNELS={channels} ({what})")


def vvau_weight_lines(w: np.ndarray | Sequence[Sequence[int]], pe: int, w_width: int) -> list[str]:
    """The weight ROM of ``vvau.sv`` for a (CHANNELS, K) signed integer array.

    ``w[c, k]`` is the weight of channel ``c`` at kernel position ``k`` (``k = kh*K_W + kw``,
    the order of the window stream). One hex line per address ``cf*K + k`` (CF*K lines);
    each line packs PE elements, element ``p`` being ``w[cf*PE + p, k]``.
    """
    w = _as_int_array(w, "weights")
    if w.ndim != 2 or w.shape[1] < 1:
        raise HardwareError(f"weights must be a 2-D (CHANNELS, K) array, not shape {w.shape}")
    channels, k = w.shape
    _check_fold(channels, pe, "the weight rows")
    check_fits(w, w_width, True, "weights")
    return [
        _hex_line(_pack(w[cf * pe : (cf + 1) * pe, kk], w_width), pe * w_width)
        for cf in range(channels // pe)
        for kk in range(k)
    ]


def depthwise_order(x: np.ndarray, pe: int) -> np.ndarray:
    """Windows (..., K, CHANNELS) flattened into the depthwise stream order of PE channels.

    The result has the leading shape of ``x`` followed by ``K*CHANNELS`` values: for each
    channel fold ``cf``, for each ``k``, the PE values ``x[..., k, cf*PE : (cf+1)*PE]``
    (pack it with :func:`flow.hw.memfiles.pack_words` and ``elems_per_word=pe``).
    """
    x = _as_int_array(x, "windows")
    if x.ndim < 2:
        raise HardwareError(f"windows must have shape (..., K, CHANNELS), not {x.shape}")
    *lead, k, channels = x.shape
    _check_fold(channels, pe, "the window channels")
    folded = x.reshape(*lead, k, channels // pe, pe)
    return np.swapaxes(folded, -3, -2).reshape(*lead, k * channels)
