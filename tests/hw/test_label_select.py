"""label_select.sv: argmax per frame, ties to the lowest index, across word boundaries."""

from __future__ import annotations

import numpy as np
import pytest

from flow.hw.memfiles import pack_words, value_range

from . import refmodels

# (NUM_LABELS, PE, IN_WIDTH, IN_SIGNED)
DEFAULT = (10, 2, 8, True)
SLOW = [(10, 1, 4, False), (6, 6, 5, True), (12, 3, 16, False), (1, 1, 3, True)]
CONFIGS = [pytest.param(DEFAULT, id="default")] + [
    pytest.param(c, id=f"cfg{i}", marks=pytest.mark.slow) for i, c in enumerate(SLOW)
]


def frames(num_labels: int, in_width: int, signed: bool, rng: np.random.Generator) -> np.ndarray:
    lo, hi = value_range(in_width, signed)
    rows = [
        np.full(num_labels, lo),  # all tied at the minimum
        np.full(num_labels, hi),  # all tied at the maximum
        np.arange(num_labels) % 2 * hi,  # max at every odd index
        np.where(np.arange(num_labels) == num_labels - 1, hi, lo),  # max last
    ]
    tied = rng.integers(lo, hi + 1, size=num_labels)
    tied[[num_labels // 2, num_labels - 1]] = hi  # tie straddling words
    rows.append(tied)
    rows.extend(rng.integers(lo, min(hi, lo + 3) + 1, size=(20, num_labels)))  # many ties
    rows.extend(rng.integers(lo, hi + 1, size=(20, num_labels)))
    return np.stack(rows)


@pytest.mark.parametrize("cfg", CONFIGS)
def test_label_select_matches_argmax(simulate, cfg: tuple[int, int, int, bool]) -> None:
    num_labels, pe, in_width, signed = cfg
    x = frames(num_labels, in_width, signed, np.random.default_rng(0))
    out_width = max(1, (num_labels - 1).bit_length())
    params = {"NUM_LABELS": num_labels, "PE": pe, "IN_WIDTH": in_width, "IN_SIGNED": int(signed)}
    words = pack_words(x.reshape(-1), in_width, pe, signed=signed)
    res = simulate("label_select", params, pe * in_width, out_width, words, len(x), stall_seed=7)
    np.testing.assert_array_equal(res.outputs, refmodels.label_select(x))
