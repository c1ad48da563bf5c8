"""fmpadding.sv against the numpy model: every side, no padding, one pixel, cycles."""

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
    top: int
    bottom: int
    left: int
    right: int
    width: int

    def params(self) -> dict[str, int | str]:
        return {
            "IFM_H": self.ifm_h,
            "IFM_W": self.ifm_w,
            "CHANNELS": self.channels,
            "SIMD": self.simd,
            "PAD_TOP": self.top,
            "PAD_BOTTOM": self.bottom,
            "PAD_LEFT": self.left,
            "PAD_RIGHT": self.right,
            "WIDTH": self.width,
        }

    @property
    def out_words(self) -> int:
        """Output words per frame."""
        oh = self.top + self.ifm_h + self.bottom
        ow = self.left + self.ifm_w + self.right
        return oh * ow * self.channels // self.simd


DEFAULT = Cfg(3, 4, 4, 2, 1, 2, 2, 1, 4)
SLOW = {
    "no_padding": Cfg(3, 3, 2, 1, 0, 0, 0, 0, 8),
    "one_pixel": Cfg(1, 1, 3, 3, 1, 1, 1, 1, 2),
    "left_only_cf3": Cfg(2, 5, 6, 2, 0, 0, 3, 0, 3),
    "right_bottom_only": Cfg(4, 2, 2, 2, 0, 3, 0, 2, 5),
    "wide_padding_1bit": Cfg(2, 2, 2, 1, 3, 3, 3, 3, 1),
    "same_3x3_cf4": Cfg(5, 5, 8, 2, 1, 1, 1, 1, 4),
}
CONFIGS = [pytest.param(DEFAULT, id="default")] + [
    pytest.param(c, id=name, marks=pytest.mark.slow) for name, c in SLOW.items()
]


def run(simulate, cfg: Cfg, x: np.ndarray, seed: int | None = None) -> tuple[np.ndarray, int]:
    """Output elements and cycle count of the padding unit for frames x (N, H, W, C)."""
    words = pack_words(x.reshape(-1), cfg.width, cfg.simd, signed=False)
    res = simulate(
        "fmpadding",
        cfg.params(),
        cfg.simd * cfg.width,
        cfg.simd * cfg.width,
        words,
        len(x) * cfg.out_words,
        stall_seed=seed,
    )
    return unpack_words(res.outputs, cfg.width, cfg.simd, signed=False), res.cycles


@pytest.mark.parametrize("cfg", CONFIGS)
def test_padding_matches_model(simulate, cfg: Cfg) -> None:
    rng = np.random.default_rng(4)
    frames = 4
    # Non-zero inputs, so that a padding word in the wrong place shows.
    x = rng.integers(1, 1 << cfg.width, size=(frames, cfg.ifm_h, cfg.ifm_w, cfg.channels))
    expected = refmodels_conv.fmpadding(x, cfg.top, cfg.bottom, cfg.left, cfg.right).reshape(-1)
    for seed in (3, 9):
        y, _ = run(simulate, cfg, x, seed=seed)
        np.testing.assert_array_equal(y, expected)
    y, cycles = run(simulate, cfg, x)
    np.testing.assert_array_equal(y, expected)
    # One output word per cycle, plus the 1-cycle latency of the output register.
    assert frames * cfg.out_words <= cycles <= frames * cfg.out_words + 2
