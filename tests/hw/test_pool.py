"""pool.sv (max pooling over a depthwise window stream) against the numpy model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from flow.hw.memfiles import pack_words, unpack_words, value_range
from flow.hw.memfiles_conv import depthwise_order

from . import refmodels_conv2


@dataclass(frozen=True)
class Cfg:
    channels: int
    k: int
    pe: int
    width: int
    signed: bool

    def params(self) -> dict[str, int]:
        return {
            "CHANNELS": self.channels,
            "K": self.k,
            "PE": self.pe,
            "WIDTH": self.width,
            "SIGNED": int(self.signed),
        }


DEFAULT = Cfg(channels=4, k=4, pe=2, width=4, signed=True)
SLOW = [
    Cfg(channels=3, k=9, pe=1, width=8, signed=False),
    Cfg(channels=6, k=4, pe=6, width=1, signed=True),
    Cfg(channels=6, k=4, pe=3, width=1, signed=False),
    Cfg(channels=5, k=1, pe=5, width=7, signed=True),
    Cfg(channels=8, k=2, pe=2, width=3, signed=False),
    Cfg(channels=2, k=25, pe=2, width=6, signed=True),
]
CONFIGS = [pytest.param(DEFAULT, id="default")] + [
    pytest.param(c, id=f"cfg{i}", marks=pytest.mark.slow) for i, c in enumerate(SLOW)
]


def windows(cfg: Cfg, rng: np.random.Generator) -> np.ndarray:
    """Windows (pixels, K, C): the extremes, the maximum at each position, ties, random."""
    lo, hi = value_range(cfg.width, cfg.signed)
    shape = (cfg.k, cfg.channels)
    xs = [np.full(shape, lo), np.full(shape, hi)]
    for pos in range(cfg.k):  # a single maximum at each window position, the rest minimal
        x = np.full(shape, lo)
        x[pos] = hi
        xs.append(x)
        x = rng.integers(lo, hi, size=shape)  # hi - 1 at most: the maximum is x[pos]
        x[pos] = np.minimum(hi, x.max(axis=0) + 1)
        xs.append(x)
    xs.append(rng.integers(lo, min(hi, lo + 1) + 1, size=shape))  # many ties
    xs += list(rng.integers(lo, hi + 1, size=(12, *shape)))
    return np.stack(xs)


@pytest.mark.parametrize("cfg", CONFIGS)
def test_pool_matches_model(simulate, cfg: Cfg) -> None:
    rng = np.random.default_rng(cfg.k * 100 + cfg.width)
    x = windows(cfg, rng)
    words = pack_words(depthwise_order(x, cfg.pe).reshape(-1), cfg.width, cfg.pe, signed=cfg.signed)
    n_out = len(x) * cfg.channels // cfg.pe
    expected = refmodels_conv2.maxpool(x)
    for seed in (7, None):
        width = cfg.pe * cfg.width
        res = simulate("pool", cfg.params(), width, width, words, n_out, stall_seed=seed)
        y = unpack_words(res.outputs, cfg.width, cfg.pe, signed=cfg.signed)
        np.testing.assert_array_equal(y.reshape(len(x), cfg.channels), expected)
    # One input word per cycle; the last output leaves 1 cycle after the last input word.
    assert res.cycles == len(words) + 2
