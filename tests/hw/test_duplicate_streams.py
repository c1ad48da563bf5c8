"""duplicate_streams.sv: both outputs get every word exactly once, in order, whatever the
stalls on the input and on each output (one branch heavily stalled included)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from . import refmodels_conv2

WIDTHS = [pytest.param(8, id="w8")] + [
    pytest.param(w, id=f"w{w}", marks=pytest.mark.slow) for w in (1, 37, 70)
]


def run(workdir: Path, width: int, words: list[int], **kwargs):
    res = refmodels_conv2.simulate_templates(
        workdir,
        "duplicate_streams",
        {"WIDTH": width},
        {"in": (width, words)},
        {"out0": (width, len(words)), "out1": (width, len(words))},
        **kwargs,
    )
    return res.outputs["out0"], res.outputs["out1"], res.cycles


def words_of(width: int, n: int) -> list[int]:
    rng = np.random.default_rng(width)
    return [int(rng.integers(0, 1 << 62)) % (1 << width) for _ in range(n)]


@pytest.mark.parametrize("width", WIDTHS)
def test_both_outputs_get_every_word(sim_workdir: Path, width: int) -> None:
    words = words_of(width, 200)
    out0, out1, cycles = run(sim_workdir, width, words)
    assert out0 == words and out1 == words
    # One word per cycle; a word reaches both outputs 1 cycle after it was taken.
    assert cycles == len(words) + 2
    for seed in (1, 2, 3):
        out0, out1, stalled = run(sim_workdir, width, words, stall_seed=seed)
        assert out0 == words and out1 == words
        assert stalled > cycles


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("slow", ["out0", "out1", "in"])
def test_one_port_heavily_stalled(sim_workdir: Path, width: int, slow: str) -> None:
    words = words_of(width, 120)
    stalls = {"in": 0.0, "out0": 0.0, "out1": 0.0, slow: 0.9}
    out0, out1, cycles = run(sim_workdir, width, words, stall_seed=5, stalls=stalls)
    assert out0 == words and out1 == words
    # The slow port sets the pace: about 10 cycles per word.
    assert cycles > 5 * len(words)
