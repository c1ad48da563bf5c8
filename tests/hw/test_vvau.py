"""vvau.sv against the numpy model: depthwise order, folding, signedness, accumulators at
exactly ACC_WIDTH bits (both ends reached, wrap-around beyond)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from flow.hw.memfiles import pack_words, unpack_words, value_range
from flow.hw.memfiles_conv import depthwise_order, vvau_weight_lines

from . import refmodels, refmodels_conv2


@dataclass(frozen=True)
class Cfg:
    channels: int
    k: int
    pe: int
    in_width: int
    in_signed: bool
    w_width: int
    acc_width: int

    def params(self) -> dict[str, int | str]:
        return {
            "CHANNELS": self.channels,
            "K": self.k,
            "PE": self.pe,
            "IN_WIDTH": self.in_width,
            "IN_SIGNED": int(self.in_signed),
            "W_WIDTH": self.w_width,
            "ACC_WIDTH": self.acc_width,
            "WEIGHT_FILE": "weights.mem",
        }


# ACC_WIDTH is below the data-type bound (K products), so both ends of the accumulator range
# and values beyond them are reachable.
DEFAULT = Cfg(channels=4, k=9, pe=2, in_width=4, in_signed=True, w_width=4, acc_width=8)
SLOW = [
    Cfg(channels=3, k=4, pe=1, in_width=4, in_signed=False, w_width=4, acc_width=8),
    Cfg(channels=8, k=9, pe=8, in_width=2, in_signed=False, w_width=3, acc_width=6),
    Cfg(channels=6, k=9, pe=3, in_width=5, in_signed=True, w_width=6, acc_width=11),
    Cfg(channels=4, k=2, pe=4, in_width=1, in_signed=False, w_width=2, acc_width=2),
    Cfg(channels=5, k=5, pe=5, in_width=8, in_signed=False, w_width=8, acc_width=17),
    Cfg(channels=2, k=25, pe=1, in_width=3, in_signed=True, w_width=2, acc_width=6),
]
# A 1x1 depthwise kernel: every word is both first and last of its accumulation.
K1 = Cfg(channels=6, k=1, pe=2, in_width=8, in_signed=True, w_width=8, acc_width=12)


def _params(cfgs: list[Cfg]) -> list:
    return [pytest.param(DEFAULT, id="default")] + [
        pytest.param(c, id=f"cfg{i}", marks=pytest.mark.slow) for i, c in enumerate(cfgs)
    ]


CONFIGS = _params(SLOW)
ALL_CONFIGS = _params([*SLOW, K1])


def run(simulate, cfg: Cfg, w: np.ndarray, x: np.ndarray, seed: int | None = None):
    """Outputs (pixels, C) and cycle count of the VVAU for windows x of shape (pixels, K, C)."""
    stream = depthwise_order(x, cfg.pe).reshape(-1)
    words = pack_words(stream, cfg.in_width, cfg.pe, signed=cfg.in_signed)
    weights = "\n".join(vvau_weight_lines(w, cfg.pe, cfg.w_width)) + "\n"
    n_out = len(x) * cfg.channels // cfg.pe
    res = simulate(
        "vvau",
        cfg.params(),
        cfg.pe * cfg.in_width,
        cfg.pe * cfg.acc_width,
        words,
        n_out,
        stall_seed=seed,
        run_files={"weights.mem": weights},
    )
    y = unpack_words(res.outputs, cfg.acc_width, cfg.pe, signed=True)
    return y.reshape(len(x), cfg.channels), res.cycles


def random_windows(cfg: Cfg, rng: np.random.Generator, n: int) -> np.ndarray:
    lo, hi = value_range(cfg.in_width, cfg.in_signed)
    return rng.integers(lo, hi + 1, size=(n, cfg.k, cfg.channels))


def extreme_windows(cfg: Cfg) -> np.ndarray:
    """Two windows of large magnitude, each channel with a unit entry so any sum is reachable."""
    lo, hi = value_range(cfg.in_width, cfg.in_signed)
    big = lo if cfg.in_signed else hi
    x = np.empty((2, cfg.k, cfg.channels), dtype=np.int64)
    x[0] = big
    x[1] = np.array([big - (big // 2) * (i % 2) for i in range(cfg.k)])[:, None]
    x[:, 0, :] = 1
    return x


def extreme_weights(cfg: Cfg, x: np.ndarray, targets: list[int]) -> np.ndarray:
    """Weights (C, K) whose channel c reaches exactly targets[c] on window x[c % len(x)]."""
    wlo, whi = value_range(cfg.w_width, True)
    rows = []
    for c, target in enumerate(targets):
        row = refmodels.solve_dot(x[c % len(x), :, c], target, wlo, whi)
        assert row is not None, f"no {cfg.w_width}-bit weights reach {target} in {cfg}"
        rows.append(row)
    return np.stack(rows)


def test_weight_file_layout() -> None:
    w = np.array([[1, 2, 3], [-1, -2, -3], [4, 5, 6], [7, -8, 0]])  # (C=4, K=3)
    # PE=2: line cf*K + k holds w[2cf][k] in the low 4 bits, w[2cf+1][k] above.
    assert vvau_weight_lines(w, 2, 4) == ["f1", "e2", "d3", "74", "85", "06"]
    assert vvau_weight_lines(w, 1, 4)[3:6] == ["f", "e", "d"]


def test_depthwise_order() -> None:
    x = np.arange(2 * 3 * 4).reshape(2, 3, 4)  # (pixels, K, C)
    got = depthwise_order(x, 2)
    assert got.shape == (2, 12)
    # cf 0: k 0..2 of channels 0,1; then cf 1: channels 2,3.
    assert got[0].tolist() == [0, 1, 4, 5, 8, 9, 2, 3, 6, 7, 10, 11]


@pytest.mark.parametrize("cfg", CONFIGS)
def test_accumulator_reaches_exactly_its_min_and_max(simulate, cfg: Cfg) -> None:
    rng = np.random.default_rng(1)
    amin, amax = value_range(cfg.acc_width, True)
    x = extreme_windows(cfg)
    targets = [[amax, amin][c % 2] for c in range(cfg.channels)]
    w = extreme_weights(cfg, x, targets)
    xs = np.concatenate([x, random_windows(cfg, rng, 6)])
    y, _ = run(simulate, cfg, w, xs, seed=3)
    for c, target in enumerate(targets):
        assert y[c % len(x), c] == target
    np.testing.assert_array_equal(y, refmodels_conv2.vvau(w, xs, cfg.acc_width))


@pytest.mark.parametrize("cfg", CONFIGS)
def test_accumulator_wraps_like_twos_complement(simulate, cfg: Cfg) -> None:
    amin, amax = value_range(cfg.acc_width, True)
    x = extreme_windows(cfg)
    # One past each end of the range: the hardware must wrap to the other end.
    targets = [[amax + 1, amin - 1][c % 2] for c in range(cfg.channels)]
    w = extreme_weights(cfg, x, targets)
    y, _ = run(simulate, cfg, w, x)
    for c, target in enumerate(targets):
        assert y[c % len(x), c] == (amin if target > amax else amax)
    np.testing.assert_array_equal(y, refmodels_conv2.vvau(w, x, cfg.acc_width))


@pytest.mark.parametrize("cfg", ALL_CONFIGS)
def test_back_to_back_pixels_under_stalls(simulate, cfg: Cfg) -> None:
    rng = np.random.default_rng(3)
    wlo, whi = value_range(cfg.w_width, True)
    w = rng.integers(wlo, whi + 1, size=(cfg.channels, cfg.k))
    x = random_windows(cfg, rng, 20)
    expected = refmodels_conv2.vvau(w, x, cfg.acc_width)
    y, cycles = run(simulate, cfg, w, x, seed=11)
    np.testing.assert_array_equal(y, expected)
    assert cycles > len(x) * cfg.k * cfg.channels // cfg.pe  # the stalls really happened
    y, cycles = run(simulate, cfg, w, x)
    np.testing.assert_array_equal(y, expected)
    # One input word per cycle: K * CHANNELS/PE cycles per pixel; the last output leaves 2
    # cycles after the last input word (the harness counts one more cycle at each end).
    assert cycles == len(x) * cfg.k * cfg.channels // cfg.pe + 3
