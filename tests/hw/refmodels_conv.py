"""Python reference models of the convolution stream templates (sliding window, padding).

Feature maps are integer arrays of shape (frames, H, W, C) (NHWC); a stream of them is
``x.reshape(-1)`` packed SIMD elements per word.
"""

from __future__ import annotations

import numpy as np


def out_dim(ifm: int, k: int, stride: int) -> int:
    """Output size of a window sweep without padding (FINN's compute_conv_output_dim)."""
    return (ifm - k) // stride + 1


def sliding_window(
    x: np.ndarray, k: tuple[int, int], stride: tuple[int, int], simd: int, depthwise: bool
) -> np.ndarray:
    """The element stream of sliding_window.sv: (frames * OFM_H * OFM_W * K_H * K_W * C,).

    Per output pixel (row-major) its window, in (kh, kw, c) order (FINN's im2col), or with
    ``depthwise`` in (c // simd, kh, kw, c % simd) order.
    """
    x = np.asarray(x)
    frames, h, w, c = x.shape
    (k_h, k_w), (s_h, s_w) = k, stride
    oh, ow = out_dim(h, k_h, s_h), out_dim(w, k_w, s_w)
    # win[f, i, j, kh, kw, c] = x[f, i*s_h + kh, j*s_w + kw, c]
    rows = (np.arange(oh) * s_h)[:, None] + np.arange(k_h)[None, :]
    cols = (np.arange(ow) * s_w)[:, None] + np.arange(k_w)[None, :]
    win = x[:, rows[:, None, :, None], cols[None, :, None, :], :]
    if depthwise:
        win = win.reshape(frames, oh, ow, k_h, k_w, c // simd, simd)
        win = win.transpose(0, 1, 2, 5, 3, 4, 6)
    return win.reshape(-1)


def fmpadding(x: np.ndarray, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    """Zero-padded feature maps, shape (frames, top + H + bottom, left + W + right, C)."""
    return np.pad(np.asarray(x), ((0, 0), (top, bottom), (left, right), (0, 0)))
