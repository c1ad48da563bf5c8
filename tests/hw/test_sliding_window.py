"""sliding_window.sv against the numpy im2col model: orders, strides, kernel corners, cycles."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from flow.hw.memfiles import pack_words, unpack_words

from . import refmodels_conv


@dataclass(frozen=True)
class Cfg:
    ifm_h: int
    ifm_w: int
    channels: int
    simd: int
    k_h: int
    k_w: int
    stride_h: int
    stride_w: int
    width: int
    depthwise: bool

    def params(self) -> dict[str, int | str]:
        return {
            "IFM_H": self.ifm_h,
            "IFM_W": self.ifm_w,
            "CHANNELS": self.channels,
            "SIMD": self.simd,
            "K_H": self.k_h,
            "K_W": self.k_w,
            "STRIDE_H": self.stride_h,
            "STRIDE_W": self.stride_w,
            "WIDTH": self.width,
            "DEPTHWISE": int(self.depthwise),
        }

    @property
    def cf(self) -> int:
        return self.channels // self.simd

    @property
    def in_words(self) -> int:
        """Input words per frame."""
        return self.ifm_h * self.ifm_w * self.cf

    @property
    def out_words(self) -> int:
        """Output words per frame."""
        oh = refmodels_conv.out_dim(self.ifm_h, self.k_h, self.stride_h)
        ow = refmodels_conv.out_dim(self.ifm_w, self.k_w, self.stride_w)
        return oh * ow * self.k_h * self.k_w * self.cf

    def cycle_bound(self, frames: int) -> int:
        """The documented bound (README): N*max(IN, OUT + GAP) + K_H*IFM_W*CF + 8."""
        row = self.ifm_w * self.cf
        unused_rows = (self.ifm_h - self.k_h) % self.stride_h
        gap = max(0, self.k_h - self.stride_h + unused_rows) * row
        return frames * max(self.in_words, self.out_words + gap) + self.k_h * row + 8


# The simulation testbench drains 32 cycles after the last expected output word, so input
# words after the last window's last pixel (never sent, but they must be consumed) are kept
# below about 20 words per frame in these configurations.
DEFAULT = Cfg(5, 5, 4, 2, 3, 3, 1, 1, 4, False)
SLOW = {
    "dw_3x3_cf4": Cfg(5, 4, 4, 1, 3, 3, 1, 1, 3, True),
    "1x1_s2_shortcut_unused_row": Cfg(6, 6, 4, 4, 1, 1, 2, 2, 8, False),
    "1x1_s2_cf3": Cfg(5, 7, 6, 2, 1, 1, 2, 2, 3, False),
    "pool_2x2_s2_dw_unused_row": Cfg(5, 4, 6, 2, 2, 2, 2, 2, 5, True),
    "pool_3x3_s2_dw": Cfg(7, 7, 2, 1, 3, 3, 2, 2, 4, True),
    "window_is_map": Cfg(3, 4, 4, 2, 3, 4, 1, 1, 4, False),
    "window_is_map_dw_s2": Cfg(4, 4, 2, 1, 4, 4, 2, 2, 4, True),
    "nonsquare_k2x3_s1x2": Cfg(4, 7, 3, 3, 2, 3, 1, 2, 6, False),
    "stride_gt_kernel": Cfg(8, 7, 4, 2, 2, 2, 3, 3, 4, False),
    "stride_gt_kernel_dw": Cfg(8, 7, 4, 2, 2, 2, 3, 3, 4, True),
    "one_pixel_1bit": Cfg(1, 1, 2, 1, 1, 1, 1, 1, 1, False),
    "one_column": Cfg(5, 1, 2, 2, 3, 1, 1, 1, 8, False),
    "conv_3x3_s2_cf4": Cfg(9, 9, 8, 2, 3, 3, 2, 2, 4, False),
}
CONFIGS = [pytest.param(DEFAULT, id="default")] + [
    pytest.param(c, id=name, marks=pytest.mark.slow) for name, c in SLOW.items()
]


def run(simulate, cfg: Cfg, x: np.ndarray, seed: int | None = None) -> tuple[np.ndarray, int]:
    """Output elements and cycle count of the sliding window for frames x (N, H, W, C)."""
    words = pack_words(x.reshape(-1), cfg.width, cfg.simd, signed=False)
    n_out = len(x) * cfg.out_words
    res = simulate(
        "sliding_window",
        cfg.params(),
        cfg.simd * cfg.width,
        cfg.simd * cfg.width,
        words,
        n_out,
        stall_seed=seed,
    )
    return unpack_words(res.outputs, cfg.width, cfg.simd, signed=False), res.cycles


def frames_of(cfg: Cfg, rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.integers(0, 1 << cfg.width, size=(n, cfg.ifm_h, cfg.ifm_w, cfg.channels))
    # One frame whose values spell their position (modulo 2^WIDTH): catches reordering.
    x[0] = np.arange(x[0].size).reshape(x[0].shape) % (1 << cfg.width)
    return x


def test_reference_model_orders() -> None:
    x = np.arange(2 * 4 * 5 * 4).reshape(2, 4, 5, 4)
    std = refmodels_conv.sliding_window(x, (2, 3), (2, 1), 2, False).reshape(2, 2, 3, 2, 3, 4)
    # (frame, oh, ow, kh, kw, c): channel c of input pixel (2*oh + kh, ow + kw)
    assert std[1, 1, 2, 1, 0, 3] == x[1, 3, 2, 3]
    dw = refmodels_conv.sliding_window(x, (2, 3), (2, 1), 2, True).reshape(2, 2, 3, 2, 2, 3, 2)
    # (frame, oh, ow, cf, kh, kw, s): channel cf*SIMD + s of input pixel (2*oh + kh, ow + kw)
    assert dw[1, 1, 2, 1, 1, 0, 1] == x[1, 3, 2, 3]
    np.testing.assert_array_equal(np.sort(std, axis=None), np.sort(dw, axis=None))


@pytest.mark.parametrize("cfg", CONFIGS)
def test_windows_match_model_under_stalls(simulate, cfg: Cfg) -> None:
    rng = np.random.default_rng(7)
    x = frames_of(cfg, rng, 3)
    expected = refmodels_conv.sliding_window(
        x, (cfg.k_h, cfg.k_w), (cfg.stride_h, cfg.stride_w), cfg.simd, cfg.depthwise
    )
    for seed in (5, 12):
        y, _ = run(simulate, cfg, x, seed=seed)
        np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("cfg", CONFIGS)
def test_back_to_back_frames_cycles(simulate, cfg: Cfg) -> None:
    rng = np.random.default_rng(3)
    frames = 4
    x = frames_of(cfg, rng, frames)
    expected = refmodels_conv.sliding_window(
        x, (cfg.k_h, cfg.k_w), (cfg.stride_h, cfg.stride_w), cfg.simd, cfg.depthwise
    )
    y, cycles = run(simulate, cfg, x)
    np.testing.assert_array_equal(y, expected)
    # At most one output word per cycle; and within the documented bound, which is FINN's
    # max(IN, OUT) per frame plus the refill gap at frame starts.
    assert frames * cfg.out_words <= cycles <= cfg.cycle_bound(frames)
