"""fifo.sv and dwc.sv: every element arrives, in order, under random stalls."""

from __future__ import annotations

import numpy as np
import pytest

from flow.hw.memfiles import pack_words, unpack_words


@pytest.mark.slow
@pytest.mark.parametrize(("depth", "width"), [(2, 8), (3, 1), (16, 37), (5, 70)])
def test_fifo_keeps_order(simulate, depth: int, width: int) -> None:
    rng = np.random.default_rng(depth)
    words = [int(rng.integers(0, 2**62)) % (1 << width) for _ in range(300)]
    params = {"DEPTH": depth, "WIDTH": width}
    for seed in (None, 1, 2):
        res = simulate("fifo", params, width, width, words, len(words), stall_seed=seed)
        assert res.outputs == words
    assert res.cycles > len(words)  # stalls really happened
    free = simulate("fifo", params, width, width, words, len(words))
    assert free.cycles <= len(words) + 2


# (IN_WIDTH, OUT_WIDTH, element width)
DWC_DEFAULT = (12, 4, 4)
DWC_SLOW = [(4, 12, 4), (8, 8, 8), (3, 24, 3), (32, 2, 2), (10, 20, 5)]
DWC_CONFIGS = [pytest.param(DWC_DEFAULT, id="down3")] + [
    pytest.param(c, id=f"{c[0]}to{c[1]}", marks=pytest.mark.slow) for c in DWC_SLOW
]


@pytest.mark.parametrize("cfg", DWC_CONFIGS)
def test_dwc_keeps_element_order(simulate, cfg: tuple[int, int, int]) -> None:
    in_width, out_width, elem = cfg
    n_elems = 24 * max(in_width, out_width) // elem
    values = np.random.default_rng(in_width).integers(0, 1 << elem, size=n_elems)
    words = pack_words(values, elem, in_width // elem, signed=False)
    n_out = n_elems * elem // out_width
    params = {"IN_WIDTH": in_width, "OUT_WIDTH": out_width}
    for seed in (None, 4):
        res = simulate("dwc", params, in_width, out_width, words, n_out, stall_seed=seed)
        got = unpack_words(res.outputs, elem, out_width // elem, signed=False)
        np.testing.assert_array_equal(got, values)
        if seed is None:  # full rate on the narrow side
            assert res.cycles <= max(len(words), n_out) + 3
