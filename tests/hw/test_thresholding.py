"""thresholding.sv against the numpy model: signedness, negative bias, folding, boundaries."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from flow.hw.memfiles import pack_words, threshold_lines, unpack_words, value_range

from . import refmodels


@dataclass(frozen=True)
class Cfg:
    channels: int
    pe: int
    in_width: int
    in_signed: bool
    steps: int
    thr_width: int
    out_width: int
    out_signed: bool
    bias: int

    def params(self) -> dict[str, int | str]:
        return {
            "CHANNELS": self.channels,
            "PE": self.pe,
            "IN_WIDTH": self.in_width,
            "IN_SIGNED": int(self.in_signed),
            "NUM_STEPS": self.steps,
            "THR_WIDTH": self.thr_width,
            "OUT_WIDTH": self.out_width,
            "OUT_SIGNED": int(self.out_signed),
            "OUT_BIAS": self.bias,
            "THRESHOLD_FILE": "thresholds.mem",
        }


DEFAULT = Cfg(6, 2, 8, True, 7, 8, 4, True, -4)
SLOW = [
    Cfg(4, 1, 6, False, 15, 6, 4, False, 0),
    Cfg(3, 3, 12, True, 3, 12, 2, True, -2),
    Cfg(8, 4, 10, True, 1, 6, 1, False, 0),
    Cfg(5, 5, 5, False, 7, 7, 4, True, -8),
    Cfg(2, 1, 16, True, 15, 16, 5, False, 3),
]
CONFIGS = [pytest.param(DEFAULT, id="default")] + [
    pytest.param(c, id=f"cfg{i}", marks=pytest.mark.slow) for i, c in enumerate(SLOW)
]


@pytest.mark.parametrize("cfg", CONFIGS)
def test_thresholding_matches_model(simulate, cfg: Cfg) -> None:
    rng = np.random.default_rng(0)
    tlo, thi = value_range(cfg.thr_width, cfg.in_signed)
    xlo, xhi = value_range(cfg.in_width, cfg.in_signed)
    t = np.sort(rng.integers(tlo, thi + 1, size=(cfg.channels, cfg.steps)), axis=1)
    t[0, :] = t[0, 0]  # all thresholds equal: output jumps from bias to bias + steps
    # Pixels hitting each threshold exactly and on either side, plus the input extremes.
    near = t[:, :, None] + np.array([-1, 0, 1])
    near = np.clip(near.transpose(1, 2, 0).reshape(-1, cfg.channels), xlo, xhi)
    x = np.concatenate([near, [[xlo] * cfg.channels, [xhi] * cfg.channels]])
    x = np.concatenate([x, rng.integers(xlo, xhi + 1, size=(16, cfg.channels))])
    words = pack_words(x.reshape(-1), cfg.in_width, cfg.pe, signed=cfg.in_signed)
    mem = "\n".join(threshold_lines(t, cfg.pe, cfg.thr_width, signed=cfg.in_signed)) + "\n"
    res = simulate(
        "thresholding",
        cfg.params(),
        cfg.pe * cfg.in_width,
        cfg.pe * cfg.out_width,
        words,
        len(words),
        stall_seed=5,
        run_files={"thresholds.mem": mem},
    )
    y = unpack_words(res.outputs, cfg.out_width, cfg.pe, signed=cfg.out_signed)
    np.testing.assert_array_equal(y.reshape(x.shape), refmodels.thresholding(x, t, cfg.bias))
