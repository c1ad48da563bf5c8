"""The const MAC style generator (flow/hw/constmac.py) against the numpy MVAU model."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from flow.bounds import signed_bits
from flow.hw.constmac import ConstMvauSpec, csd_digits, render_const_mvau, tree_depth
from flow.hw.memfiles import pack_words, unpack_words, value_range
from flow.hw.streamsim import simulate_stream
from flow.hw.templates import required_sources
from flow.hw.tools import verilator

from . import refmodels


@pytest.mark.parametrize("c", range(-40, 41))
def test_csd_digits_sum_to_the_constant_with_no_adjacent_digits(c: int) -> None:
    digits = csd_digits(c)
    assert sum(sign << shift for sign, shift in digits) == c
    shifts = [shift for _, shift in digits]
    assert all(b - a >= 2 for a, b in zip(shifts, shifts[1:], strict=False))
    assert len(digits) <= (abs(c).bit_length() + 2) // 2 + 1


def _sparse_weights(rng, mh: int, mw: int, bits: int, density: float) -> np.ndarray:
    lo, hi = value_range(bits, True)
    w = rng.integers(lo, hi + 1, size=(mh, mw))
    return np.where(rng.random((mh, mw)) < density, w, 0)


def _simulate(tmp_path, sim_workdir, spec: ConstMvauSpec, x: np.ndarray, seed=None):
    src = tmp_path / f"{spec.name}.sv"
    text = render_const_mvau(spec, "test")
    src.write_text(text)
    words = pack_words(x.reshape(-1), spec.in_bits, spec.simd, signed=spec.in_signed)
    mh = spec.w.shape[0]
    res = simulate_stream(
        [*required_sources(text), src],
        spec.name,
        {},
        spec.simd * spec.in_bits,
        spec.pe * spec.acc_bits,
        words,
        len(x) * mh // spec.pe,
        sim_workdir,
        stall_seed=seed,
    )
    y = unpack_words(res.outputs, spec.acc_bits, spec.pe, signed=True)
    return np.asarray(y).reshape(len(x), mh), res.cycles


CASES = [
    # (MH, MW, PE, SIMD, in bits, in signed, weight bits, density, levels per stage)
    pytest.param((6, 8, 6, 8, 4, False, 4, 0.5, 2), id="parallel-unsigned"),
    pytest.param((4, 12, 2, 4, 4, True, 4, 0.6, 4), id="folded-signed"),
    pytest.param((8, 16, 8, 16, 2, False, 3, 0.1, 1), id="parallel-very-sparse"),
    pytest.param((4, 6, 1, 3, 3, True, 5, 1.0, 2), id="folded-dense"),
]


@pytest.mark.parametrize("case", CASES)
def test_const_mvau_is_bit_exact_with_stalls(tmp_path, sim_workdir, case) -> None:
    mh, mw, pe, simd, in_bits, in_signed, w_bits, density, lps = case
    rng = np.random.default_rng(mh * mw + pe)
    w = _sparse_weights(rng, mh, mw, w_bits, density)
    w[0] = 0  # an all-zero neuron still outputs 0
    lo, hi = value_range(in_bits, in_signed)
    x = rng.integers(lo, hi + 1, size=(20, mw))
    x[0], x[1] = lo, hi  # both input extremes
    ranges = [
        (int(np.minimum(r * lo, r * hi).sum()), int(np.maximum(r * lo, r * hi).sum())) for r in w
    ]
    acc = max(signed_bits(a, b) for a, b in ranges)
    spec = ConstMvauSpec("const_mvau_t", w, pe, simd, in_bits, in_signed, acc, levels_per_stage=lps)
    expected = refmodels.mvau(w, x, acc)
    np.testing.assert_array_equal(x @ w.T, expected)  # the exact width never wraps
    y, _ = _simulate(tmp_path, sim_workdir, spec, x, seed=7)
    np.testing.assert_array_equal(y, expected)
    y, cycles = _simulate(tmp_path, sim_workdir, spec, x)
    np.testing.assert_array_equal(y, expected)
    folds = (mw // simd) * (mh // pe)
    stages = tree_depth(spec) // lps
    assert cycles <= len(x) * folds + 4 + stages


def test_const_mvau_wraps_like_the_accumulator_when_narrower(tmp_path, sim_workdir) -> None:
    """With a too-narrow accumulator (the wrap-around study) it wraps like mvau.sv."""
    rng = np.random.default_rng(5)
    w = _sparse_weights(rng, 4, 8, 4, 0.9)
    x = rng.integers(0, 16, size=(12, 8))
    spec = ConstMvauSpec("const_mvau_w", w, 2, 4, 4, False, 6, levels_per_stage=1)
    y, _ = _simulate(tmp_path, sim_workdir, spec, x, seed=3)
    np.testing.assert_array_equal(y, refmodels.mvau(w, x, 6))


def test_const_mvau_lints_alone_in_both_tree_styles(tmp_path) -> None:
    rng = np.random.default_rng(2)
    w = _sparse_weights(rng, 4, 8, 4, 0.5)
    for exact in (True, False):
        name = "const_mvau_exact" if exact else "const_mvau_wide"
        spec = ConstMvauSpec(name, w, 2, 4, 4, False, 12 if exact else 32, exact_tree=exact)
        src = tmp_path / f"{name}.sv"
        text = render_const_mvau(spec, "test")
        src.write_text(text)
        files = [*map(str, required_sources(text)), str(src)]
        r = subprocess.run(
            [verilator(), "--lint-only", "-Wall", "--top-module", spec.name, *files],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, r.stderr


def test_zero_lanes_make_no_logic_and_adders_are_exact() -> None:
    w = np.array([[0, 3, 0, -1], [0, 0, 0, 0]])
    spec = ConstMvauSpec("m", w, 2, 4, 4, False, 8)
    text = render_const_mvau(spec, "test")
    assert "xin[0]" not in text.split("g_x")[1] and "xin[2]" not in text.split("g_x")[1]
    # 3 = 4 - 1 (two terms: -x in 5 bits, 4x in 7) and -1 (one term): 3x is summed first,
    # exactly [0, 45] in 7 bits, not the [-15, 60] of its two terms' ranges.
    assert "logic signed [4:0] t0_0;" in text and "logic signed [6:0] t0_1;" in text
    assert "logic signed [6:0] t0_3;" in text
    assert "// PE lane 0: dot product range [-15, 45]" in text
    assert "// PE lane 1: dot product range [0, 0]" in text
