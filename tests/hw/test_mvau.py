"""mvau.sv against the numpy model: folding, signedness, and accumulators at exactly P bits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from flow.hw.memfiles import mvau_weight_lines, pack_words, unpack_words, value_range

from . import refmodels


@dataclass(frozen=True)
class Cfg:
    mw: int
    mh: int
    pe: int
    simd: int
    in_width: int
    in_signed: bool
    w_width: int
    acc_width: int

    def params(self) -> dict[str, int | str]:
        return {
            "MW": self.mw,
            "MH": self.mh,
            "PE": self.pe,
            "SIMD": self.simd,
            "IN_WIDTH": self.in_width,
            "IN_SIGNED": int(self.in_signed),
            "W_WIDTH": self.w_width,
            "ACC_WIDTH": self.acc_width,
            "WEIGHT_FILE": "weights.mem",
        }


# ACC_WIDTH is always below the data-type bound, so that both ends of the accumulator range
# and values beyond them are reachable.
DEFAULT = Cfg(mw=8, mh=4, pe=2, simd=4, in_width=4, in_signed=True, w_width=4, acc_width=8)
SLOW = [
    Cfg(mw=6, mh=3, pe=1, simd=1, in_width=4, in_signed=False, w_width=4, acc_width=9),
    Cfg(mw=16, mh=8, pe=8, simd=16, in_width=2, in_signed=False, w_width=3, acc_width=6),
    Cfg(mw=12, mh=6, pe=3, simd=3, in_width=5, in_signed=True, w_width=6, acc_width=11),
    Cfg(mw=4, mh=4, pe=4, simd=2, in_width=1, in_signed=False, w_width=2, acc_width=2),
    Cfg(mw=10, mh=5, pe=5, simd=5, in_width=8, in_signed=False, w_width=8, acc_width=17),
]
CONFIGS = [pytest.param(DEFAULT, id="default")] + [
    pytest.param(c, id=f"cfg{i}", marks=pytest.mark.slow) for i, c in enumerate(SLOW)
]


def run(simulate, cfg: Cfg, w: np.ndarray, x: np.ndarray, seed: int | None = None):
    """Outputs (vectors, MH) and cycle count of the MVAU for input vectors x."""
    words = pack_words(x.reshape(-1), cfg.in_width, cfg.simd, signed=cfg.in_signed)
    weights = "\n".join(mvau_weight_lines(w, cfg.pe, cfg.simd, cfg.w_width)) + "\n"
    n_out = len(x) * cfg.mh // cfg.pe
    res = simulate(
        "mvau",
        cfg.params(),
        cfg.simd * cfg.in_width,
        cfg.pe * cfg.acc_width,
        words,
        n_out,
        stall_seed=seed,
        run_files={"weights.mem": weights},
    )
    y = unpack_words(res.outputs, cfg.acc_width, cfg.pe, signed=True).reshape(len(x), cfg.mh)
    return y, res.cycles


def random_inputs(cfg: Cfg, rng: np.random.Generator, n: int) -> np.ndarray:
    lo, hi = value_range(cfg.in_width, cfg.in_signed)
    return rng.integers(lo, hi + 1, size=(n, cfg.mw))


def extreme_weights(cfg: Cfg, x: np.ndarray, targets: list[int]) -> np.ndarray:
    """Weights whose row r reaches exactly targets[r] on input vector x[r % len(x)]."""
    wlo, whi = value_range(cfg.w_width, True)
    rows = []
    for r, target in enumerate(targets):
        row = refmodels.solve_dot(x[r % len(x)], target, wlo, whi)
        assert row is not None, f"no {cfg.w_width}-bit weights reach {target} in {cfg}"
        rows.append(row)
    return np.stack(rows)


def extreme_inputs(cfg: Cfg) -> np.ndarray:
    """Two input vectors of large magnitude, each with a unit entry so any sum is reachable."""
    lo, hi = value_range(cfg.in_width, cfg.in_signed)
    big = lo if cfg.in_signed else hi
    x = np.array([[big] * cfg.mw, [big - (big // 2) * (i % 2) for i in range(cfg.mw)]])
    x[:, 0] = 1
    return x


@pytest.mark.parametrize("cfg", CONFIGS)
def test_accumulator_reaches_exactly_its_min_and_max(simulate, cfg: Cfg) -> None:
    rng = np.random.default_rng(1)
    amin, amax = value_range(cfg.acc_width, True)
    x = extreme_inputs(cfg)
    targets = [[amax, amin][r % 2] for r in range(cfg.mh)]
    w = extreme_weights(cfg, x, targets)
    xs = np.concatenate([x, random_inputs(cfg, rng, 6)])
    y, _ = run(simulate, cfg, w, xs, seed=3)
    for r, target in enumerate(targets):
        assert y[r % len(x), r] == target
    np.testing.assert_array_equal(y, refmodels.mvau(w, xs, cfg.acc_width))


@pytest.mark.parametrize("cfg", CONFIGS)
def test_accumulator_wraps_like_twos_complement(simulate, cfg: Cfg) -> None:
    amin, amax = value_range(cfg.acc_width, True)
    x = extreme_inputs(cfg)
    # One past each end of the range: the hardware must wrap to the other end.
    targets = [[amax + 1, amin - 1][r % 2] for r in range(cfg.mh)]
    w = extreme_weights(cfg, x, targets)
    y, _ = run(simulate, cfg, w, x)
    for r, target in enumerate(targets):
        assert y[r % len(x), r] == (amin if target > amax else amax)
    np.testing.assert_array_equal(y, refmodels.mvau(w, x, cfg.acc_width))


@pytest.mark.parametrize("cfg", CONFIGS)
def test_back_to_back_vectors_under_stalls(simulate, cfg: Cfg) -> None:
    rng = np.random.default_rng(3)
    wlo, whi = value_range(cfg.w_width, True)
    w = rng.integers(wlo, whi + 1, size=(cfg.mh, cfg.mw))
    x = random_inputs(cfg, rng, 24)
    expected = refmodels.mvau(w, x, cfg.acc_width)
    y, _ = run(simulate, cfg, w, x, seed=11)
    np.testing.assert_array_equal(y, expected)
    y, cycles = run(simulate, cfg, w, x)
    np.testing.assert_array_equal(y, expected)
    # FINN's cycle model: MW/SIMD * MH/PE cycles per vector, plus a few of latency.
    assert cycles <= len(x) * (cfg.mw // cfg.simd) * (cfg.mh // cfg.pe) + 4
