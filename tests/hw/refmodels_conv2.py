"""Reference models (plain numpy integers) of vvau, pool, global_acc_pool and add_streams,
and the helpers their tests share (multi-stream simulation, values with a given sum)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from flow.hw.streamsim import ParamValue, PortsResult, simulate_ports
from flow.hw.templates import template_paths

from .refmodels import wrap


def wrap_to(values: np.ndarray, width: int, signed: bool) -> np.ndarray:
    """Values modulo 2^width, read as two's complement (signed) or as unsigned."""
    v = np.asarray(values, dtype=np.int64)
    return wrap(v, width) if signed else v & ((1 << width) - 1)


def vvau(w: np.ndarray, x: np.ndarray, acc_width: int) -> np.ndarray:
    """(pixels, C) outputs of an ACC_WIDTH-bit VVAU: w is (C, K), x is (pixels, K, C)."""
    x = np.asarray(x, dtype=np.int64)
    return wrap(np.einsum("pkc,ck->pc", x, np.asarray(w, dtype=np.int64)), acc_width)


def maxpool(x: np.ndarray) -> np.ndarray:
    """(pixels, C) maxima over the window positions of (pixels, K, C) windows."""
    return np.asarray(x, dtype=np.int64).max(axis=1)


def global_acc_pool(x: np.ndarray, out_width: int, signed: bool) -> np.ndarray:
    """(frames, C) sums over the pixels of (frames, PIXELS, C) inputs, wrapped to out_width."""
    return wrap_to(np.asarray(x, dtype=np.int64).sum(axis=1), out_width, signed)


def add_streams(a: np.ndarray, b: np.ndarray, out_width: int, out_signed: bool) -> np.ndarray:
    """Elementwise a + b wrapped to out_width bits."""
    s = np.asarray(a, dtype=np.int64) + np.asarray(b, dtype=np.int64)
    return wrap_to(s, out_width, out_signed)


def values_with_sum(target: int, n: int, lo: int, hi: int) -> np.ndarray:
    """n integers in [lo, hi] summing exactly to target (greedy; target must be reachable)."""
    assert n * lo <= target <= n * hi, f"{target} is not a sum of {n} values in [{lo}, {hi}]"
    out = np.full(n, lo, dtype=np.int64)
    rest = target - n * lo
    for i in range(n):
        step = min(hi - lo, rest)
        out[i] += step
        rest -= step
    return out


def simulate_templates(
    workdir: Path,
    template: str,
    params: Mapping[str, ParamValue],
    inputs: Mapping[str, tuple[int, Sequence[int]]],
    outputs: Mapping[str, tuple[int, int]],
    **kwargs: object,
) -> PortsResult:
    """:func:`simulate_ports` of one template of hw_templates/ in the shared build cache."""
    return simulate_ports(
        template_paths(template), template, params, inputs, outputs, workdir, **kwargs
    )
