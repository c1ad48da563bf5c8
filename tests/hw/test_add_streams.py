"""add_streams.sv against the numpy model: mixed widths and signedness, sums at exactly the
ends of OUT_WIDTH and wrap-around beyond, inputs pairing up under independent stalls."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from flow.hw.memfiles import pack_words, unpack_words, value_range

from . import refmodels_conv2


@dataclass(frozen=True)
class Cfg:
    pe: int
    in0_width: int
    in0_signed: bool
    in1_width: int
    in1_signed: bool
    out_width: int
    out_signed: bool

    def params(self) -> dict[str, int]:
        return {
            "PE": self.pe,
            "IN0_WIDTH": self.in0_width,
            "IN0_SIGNED": int(self.in0_signed),
            "IN1_WIDTH": self.in1_width,
            "IN1_SIGNED": int(self.in1_signed),
            "OUT_WIDTH": self.out_width,
            "OUT_SIGNED": int(self.out_signed),
        }


# Cfg(PE, IN0_WIDTH, IN0_SIGNED, IN1_WIDTH, IN1_SIGNED, OUT_WIDTH, OUT_SIGNED); the default
# output is narrower than the exact sum, so it wraps.
DEFAULT = Cfg(2, 4, True, 4, True, 4, True)
SLOW = [
    Cfg(1, 8, False, 8, False, 9, False),  # exact: never wraps
    Cfg(4, 3, False, 6, True, 6, True),
    Cfg(3, 1, False, 1, True, 1, False),
    Cfg(2, 8, True, 2, False, 8, True),
    Cfg(5, 5, True, 7, True, 5, False),
    Cfg(1, 2, True, 8, False, 12, True),  # wider than needed: sign-extended
]
CONFIGS = [pytest.param(DEFAULT, id="default")] + [
    pytest.param(c, id=f"cfg{i}", marks=pytest.mark.slow) for i, c in enumerate(SLOW)
]


def operands(cfg: Cfg, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n*PE element pairs: every sum reaching an end of the output range (and one past it)
    that the inputs can make, all corner pairs, then random pairs."""
    alo, ahi = value_range(cfg.in0_width, cfg.in0_signed)
    blo, bhi = value_range(cfg.in1_width, cfg.in1_signed)
    olo, ohi = value_range(cfg.out_width, cfg.out_signed)
    pairs = [(a, b) for a in (alo, ahi, 0) for b in (blo, bhi, 0)]
    for target in (olo, ohi, olo - 1, ohi + 1):
        a = min(ahi, max(alo, target - blo))
        if blo <= target - a <= bhi:
            pairs.append((a, target - a))
    a = np.array([p[0] for p in pairs] + list(rng.integers(alo, ahi + 1, size=n * cfg.pe)))
    b = np.array([p[1] for p in pairs] + list(rng.integers(blo, bhi + 1, size=n * cfg.pe)))
    keep = len(a) // cfg.pe * cfg.pe
    return a[:keep], b[:keep]


def run(workdir: Path, cfg: Cfg, a: np.ndarray, b: np.ndarray, **kwargs):
    wa = pack_words(a, cfg.in0_width, cfg.pe, signed=cfg.in0_signed)
    wb = pack_words(b, cfg.in1_width, cfg.pe, signed=cfg.in1_signed)
    res = refmodels_conv2.simulate_templates(
        workdir,
        "add_streams",
        cfg.params(),
        {"in0": (cfg.pe * cfg.in0_width, wa), "in1": (cfg.pe * cfg.in1_width, wb)},
        {"out": (cfg.pe * cfg.out_width, len(wa))},
        **kwargs,
    )
    y = unpack_words(res.outputs["out"], cfg.out_width, cfg.pe, signed=cfg.out_signed)
    return y, res.cycles


@pytest.mark.parametrize("cfg", CONFIGS)
def test_sums_match_model(sim_workdir: Path, cfg: Cfg) -> None:
    rng = np.random.default_rng(cfg.pe + cfg.out_width)
    a, b = operands(cfg, rng, 40)
    expected = refmodels_conv2.add_streams(a, b, cfg.out_width, cfg.out_signed)
    olo, ohi = value_range(cfg.out_width, cfg.out_signed)
    if cfg.out_width >= max(cfg.in0_width, cfg.in1_width) + 1:
        np.testing.assert_array_equal(expected, a + b)  # wide enough: exact
    else:
        assert {olo, ohi} <= set(expected.tolist())
    y, cycles = run(sim_workdir, cfg, a, b)
    np.testing.assert_array_equal(y, expected)
    # One word per cycle; each sum leaves 2 cycles after its pair of input words (input
    # queue, output register; the harness counts one more cycle at each end).
    assert cycles == len(a) // cfg.pe + 3
    for seed in (3, 4):
        y, stalled = run(sim_workdir, cfg, a, b, stall_seed=seed)
        np.testing.assert_array_equal(y, expected)
        assert stalled > cycles


@pytest.mark.parametrize("cfg", CONFIGS)
def test_one_input_much_slower_than_the_other(sim_workdir: Path, cfg: Cfg) -> None:
    rng = np.random.default_rng(9)
    a, b = operands(cfg, rng, 30)
    expected = refmodels_conv2.add_streams(a, b, cfg.out_width, cfg.out_signed)
    for slow in ("in0", "in1"):
        stalls = {"in0": 0.0, "in1": 0.0, "out": 0.25, slow: 0.9}
        y, _ = run(sim_workdir, cfg, a, b, stall_seed=6, stalls=stalls)
        np.testing.assert_array_equal(y, expected)
    # Back-pressure only: both inputs always offered, the output mostly stalled.
    stalls = {"in0": 0.0, "in1": 0.0, "out": 0.8}
    y, _ = run(sim_workdir, cfg, a, b, stall_seed=8, stalls=stalls)
    np.testing.assert_array_equal(y, expected)
