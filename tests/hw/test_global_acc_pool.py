"""global_acc_pool.sv against the numpy model: per-channel sums over a frame at exactly
OUT_WIDTH bits (both ends reached, wrap-around beyond), several frames back to back."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from flow.hw.memfiles import pack_words, unpack_words, value_range

from . import refmodels_conv2


@dataclass(frozen=True)
class Cfg:
    channels: int
    pe: int
    pixels: int
    in_width: int
    in_signed: bool
    out_width: int

    def params(self) -> dict[str, int]:
        return {
            "CHANNELS": self.channels,
            "PE": self.pe,
            "PIXELS": self.pixels,
            "IN_WIDTH": self.in_width,
            "IN_SIGNED": int(self.in_signed),
            "OUT_WIDTH": self.out_width,
        }


# OUT_WIDTH is below the exact bound (PIXELS inputs), so both ends of the output range and
# values beyond them are reachable.
DEFAULT = Cfg(channels=4, pe=2, pixels=5, in_width=4, in_signed=True, out_width=6)
SLOW = [
    Cfg(channels=3, pe=1, pixels=7, in_width=8, in_signed=False, out_width=10),
    Cfg(channels=6, pe=6, pixels=5, in_width=1, in_signed=False, out_width=2),
    Cfg(channels=4, pe=4, pixels=1, in_width=5, in_signed=True, out_width=4),
    Cfg(channels=8, pe=2, pixels=16, in_width=3, in_signed=True, out_width=6),
    Cfg(channels=2, pe=1, pixels=3, in_width=8, in_signed=True, out_width=9),
    Cfg(channels=1, pe=1, pixels=3, in_width=1, in_signed=False, out_width=1),
]
CONFIGS = [pytest.param(DEFAULT, id="default")] + [
    pytest.param(c, id=f"cfg{i}", marks=pytest.mark.slow) for i, c in enumerate(SLOW)
]


def run(simulate, cfg: Cfg, x: np.ndarray, seed: int | None = None):
    """Sums (frames, C) and cycle count for frames x of shape (frames, PIXELS, C)."""
    words = pack_words(x.reshape(-1), cfg.in_width, cfg.pe, signed=cfg.in_signed)
    n_out = len(x) * cfg.channels // cfg.pe
    res = simulate(
        "global_acc_pool",
        cfg.params(),
        cfg.pe * cfg.in_width,
        cfg.pe * cfg.out_width,
        words,
        n_out,
        stall_seed=seed,
    )
    y = unpack_words(res.outputs, cfg.out_width, cfg.pe, signed=cfg.in_signed)
    return y.reshape(len(x), cfg.channels), res.cycles


def frame_with_sums(cfg: Cfg, targets: list[int]) -> np.ndarray:
    """One frame (PIXELS, C) whose channel c sums exactly to targets[c]."""
    lo, hi = value_range(cfg.in_width, cfg.in_signed)
    cols = [refmodels_conv2.values_with_sum(t, cfg.pixels, lo, hi) for t in targets]
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("cfg", CONFIGS)
def test_sums_reach_the_ends_and_wrap(simulate, cfg: Cfg) -> None:
    rng = np.random.default_rng(cfg.pixels)
    omin, omax = value_range(cfg.out_width, cfg.in_signed)
    lo, hi = value_range(cfg.in_width, cfg.in_signed)
    ends = [[omax, omin][c % 2] for c in range(cfg.channels)]
    # One past each end; an unsigned sum cannot go below 0, so it goes 2 past the top.
    beyond = [
        [omax + 1, omin - 1 if cfg.in_signed else omax + 2][c % 2] for c in range(cfg.channels)
    ]
    x = np.stack(
        [
            frame_with_sums(cfg, ends),
            frame_with_sums(cfg, beyond),
            np.full((cfg.pixels, cfg.channels), lo),
            np.full((cfg.pixels, cfg.channels), hi),
            *rng.integers(lo, hi + 1, size=(6, cfg.pixels, cfg.channels)),
        ]
    )
    expected = refmodels_conv2.global_acc_pool(x, cfg.out_width, cfg.in_signed)
    assert expected[0].tolist() == ends
    wrapped = [omin, omax if cfg.in_signed else 1]
    assert expected[1].tolist() == [wrapped[c % 2] for c in range(cfg.channels)]
    y, _ = run(simulate, cfg, x, seed=5)
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("cfg", CONFIGS)
def test_back_to_back_frames(simulate, cfg: Cfg) -> None:
    rng = np.random.default_rng(2)
    lo, hi = value_range(cfg.in_width, cfg.in_signed)
    x = rng.integers(lo, hi + 1, size=(9, cfg.pixels, cfg.channels))
    expected = refmodels_conv2.global_acc_pool(x, cfg.out_width, cfg.in_signed)
    y, stalled = run(simulate, cfg, x, seed=12)
    np.testing.assert_array_equal(y, expected)
    y, cycles = run(simulate, cfg, x)
    np.testing.assert_array_equal(y, expected)
    # PIXELS * CHANNELS/PE cycles per frame, no gaps between frames; the frame's last sum
    # leaves 1 cycle after its last input word (the harness counts one more at each end).
    words = len(x) * cfg.pixels * cfg.channels // cfg.pe
    assert cycles == words + 2 < stalled
