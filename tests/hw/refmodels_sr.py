"""Reference models (plain numpy integers) of upsample and concat.

Feature maps are integer arrays of shape (frames, H, W, C) (NHWC), as in refmodels_conv; a
stream of them is ``x.reshape(-1)`` packed SIMD elements per word (``memfiles.pack_words``).
"""

from __future__ import annotations

import numpy as np


def upsample(x: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upsampling of (frames, H, W, C) maps by an integer factor:
    (frames, scale*H, scale*W, C), output pixel (oy, ox) = input pixel (oy//scale, ox//scale)."""
    x = np.asarray(x)
    return x.repeat(scale, axis=1).repeat(scale, axis=2)


def concat(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Channel concatenation of (..., C0) and (..., C1) arrays: (..., C0 + C1), a first."""
    return np.concatenate([np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)], axis=-1)
