"""Python reference models of the hardware templates (plain numpy integers)."""

from __future__ import annotations

import numpy as np


def wrap(values: np.ndarray, width: int) -> np.ndarray:
    """Two's-complement wrap-around of integers to ``width`` bits."""
    v = np.asarray(values, dtype=np.int64)
    half = 1 << (width - 1)
    return ((v + half) & ((1 << width) - 1)) - half


def mvau(w: np.ndarray, x: np.ndarray, acc_width: int) -> np.ndarray:
    """(vectors, MH) outputs of an ACC_WIDTH-bit MVAU for (vectors, MW) inputs."""
    return wrap(np.asarray(x, dtype=np.int64) @ np.asarray(w, dtype=np.int64).T, acc_width)


def thresholding(x: np.ndarray, t: np.ndarray, bias: int) -> np.ndarray:
    """(pixels, C) outputs: bias + number of thresholds of the channel that x reaches."""
    return bias + (np.asarray(x)[:, :, None] >= np.asarray(t)[None, :, :]).sum(axis=2)


def label_select(x: np.ndarray) -> np.ndarray:
    """Index of the largest value per frame, lowest index on ties (numpy argmax)."""
    return np.argmax(np.asarray(x), axis=1)


def solve_dot(x: np.ndarray, target: int, lo: int, hi: int) -> np.ndarray | None:
    """Integer weights in [lo, hi] with ``w @ x == target``, or None if none was found.

    Greedy from the largest input magnitude down (each weight rounds the remaining target),
    then an exhaustive search over the weights of the two smallest inputs for the residue.
    Complete whenever the inputs include a 1 and a second, not too large, magnitude.
    """
    xs = [int(v) for v in x]
    order = sorted(range(len(xs)), key=lambda i: -abs(xs[i]))
    head, tail = order[:-2], order[-2:]
    w = [0] * len(xs)
    rest = target
    for i in head:
        if xs[i]:
            w[i] = min(hi, max(lo, round(rest / xs[i])))
            rest -= w[i] * xs[i]
    for wa in range(lo, hi + 1):
        for wb in range(lo, hi + 1):
            if len(tail) == 2 and wa * xs[tail[0]] + wb * xs[tail[1]] == rest:
                w[tail[0]], w[tail[1]] = wa, wb
                return np.array(w, dtype=np.int64)
    return None
