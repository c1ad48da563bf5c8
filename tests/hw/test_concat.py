"""concat.sv (channel concatenation of two streams) against the numpy model: mixed widths and
signedness (sign and zero extension), SIMD folds, both inputs under independent stalls."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from flow.hw.memfiles import pack_words, unpack_words, value_range

from . import refmodels_conv2, refmodels_sr


@dataclass(frozen=True)
class Cfg:
    pixels: int
    channels0: int
    channels1: int
    simd: int
    width0: int
    signed0: bool
    width1: int
    signed1: bool
    out_width: int
    out_signed: bool

    def params(self) -> dict[str, int]:
        return {
            "PIXELS": self.pixels,
            "CHANNELS0": self.channels0,
            "CHANNELS1": self.channels1,
            "SIMD": self.simd,
            "WIDTH0": self.width0,
            "SIGNED0": int(self.signed0),
            "WIDTH1": self.width1,
            "SIGNED1": int(self.signed1),
            "OUT_WIDTH": self.out_width,
            "OUT_SIGNED": int(self.out_signed),
        }

    @property
    def out_words(self) -> int:
        """Output words per frame."""
        return self.pixels * (self.channels0 + self.channels1) // self.simd


# Cfg(PIXELS, CHANNELS0, CHANNELS1, SIMD, WIDTH0, SIGNED0, WIDTH1, SIGNED1, OUT_WIDTH,
# OUT_SIGNED); the default mixes an unsigned and a signed input in the narrowest output.
DEFAULT = Cfg(6, 4, 2, 2, 4, False, 3, True, 5, True)
SLOW = {
    "same_type_simd1": Cfg(5, 3, 2, 1, 8, False, 8, False, 8, False),
    "signed_signed_cf1": Cfg(4, 3, 3, 3, 2, True, 6, True, 6, True),
    "wider_output": Cfg(3, 2, 4, 2, 1, False, 1, True, 9, True),
    "unequal_folds": Cfg(7, 8, 2, 2, 3, True, 5, False, 6, True),
    "one_pixel_1bit": Cfg(1, 1, 1, 1, 1, False, 1, False, 1, False),
    "in1_longer": Cfg(4, 2, 10, 2, 7, True, 2, False, 7, True),
}
CONFIGS = [pytest.param(DEFAULT, id="default")] + [
    pytest.param(c, id=name, marks=pytest.mark.slow) for name, c in SLOW.items()
]


def inputs_of(cfg: Cfg, rng: np.random.Generator, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(frames*PIXELS, C0) and (frames*PIXELS, C1) values: both ends of each input type in
    the first pixels (so that sign extension shows), then random values."""
    n = frames * cfg.pixels
    out = []
    for channels, width, signed in (
        (cfg.channels0, cfg.width0, cfg.signed0),
        (cfg.channels1, cfg.width1, cfg.signed1),
    ):
        lo, hi = value_range(width, signed)
        x = rng.integers(lo, hi + 1, size=(n, channels))
        x.flat[: min(x.size, 4)] = [lo, hi, -1 if signed else 0, 1 if hi >= 1 else 0][: x.size]
        out.append(x)
    return out[0], out[1]


def run(workdir: Path, cfg: Cfg, a: np.ndarray, b: np.ndarray, **kwargs: object):
    wa = pack_words(a.reshape(-1), cfg.width0, cfg.simd, signed=cfg.signed0)
    wb = pack_words(b.reshape(-1), cfg.width1, cfg.simd, signed=cfg.signed1)
    n_out = len(wa) + len(wb)
    res = refmodels_conv2.simulate_templates(
        workdir,
        "concat",
        cfg.params(),
        {"in0": (cfg.simd * cfg.width0, wa), "in1": (cfg.simd * cfg.width1, wb)},
        {"out": (cfg.simd * cfg.out_width, n_out)},
        **kwargs,
    )
    y = unpack_words(res.outputs["out"], cfg.out_width, cfg.simd, signed=cfg.out_signed)
    return y, res.cycles


def test_reference_model() -> None:
    a = np.arange(12).reshape(2, 3, 2)
    b = -np.arange(6).reshape(2, 3, 1)
    y = refmodels_sr.concat(a, b)
    assert y.shape == (2, 3, 3)
    np.testing.assert_array_equal(y[1, 2], [10, 11, -5])


@pytest.mark.parametrize("cfg", CONFIGS)
def test_concat_matches_model(sim_workdir: Path, cfg: Cfg) -> None:
    rng = np.random.default_rng(cfg.pixels + cfg.out_width)
    frames = 3
    a, b = inputs_of(cfg, rng, frames)
    expected = refmodels_sr.concat(a, b).reshape(-1)
    y, cycles = run(sim_workdir, cfg, a, b)
    np.testing.assert_array_equal(y, expected)
    # One word per cycle; a word leaves 2 cycles after it was taken (input queue, output
    # register; the harness counts one more cycle at each end).
    assert cycles == frames * cfg.out_words + 3
    for seed in (3, 4):
        y, stalled = run(sim_workdir, cfg, a, b, stall_seed=seed)
        np.testing.assert_array_equal(y, expected)
        assert stalled > cycles


@pytest.mark.parametrize("cfg", CONFIGS)
def test_one_input_much_slower_than_the_other(sim_workdir: Path, cfg: Cfg) -> None:
    rng = np.random.default_rng(9)
    a, b = inputs_of(cfg, rng, 2)
    expected = refmodels_sr.concat(a, b).reshape(-1)
    for slow in ("in0", "in1"):
        stalls = {"in0": 0.0, "in1": 0.0, "out": 0.25, slow: 0.9}
        y, _ = run(sim_workdir, cfg, a, b, stall_seed=6, stalls=stalls)
        np.testing.assert_array_equal(y, expected)
    # Back-pressure only: both inputs always offered, the output mostly stalled.
    stalls = {"in0": 0.0, "in1": 0.0, "out": 0.8}
    y, _ = run(sim_workdir, cfg, a, b, stall_seed=8, stalls=stalls)
    np.testing.assert_array_equal(y, expected)
