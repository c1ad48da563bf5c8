"""Folding for area and the ``auto`` MAC style (flow.folding), on the area model (flow.hw.area):
the foldings that meet a target, the structural count of the const generator, the choice."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest

from flow import folding
from flow.config import parse_config
from flow.errors import ConfigError
from flow.hw.area import bram36, mac_area, rom_area
from flow.hw.constmac import ConstMvauSpec, const_cost, render_const_mvau
from tests.conftest import TINY


def test_foldings_meet_the_target_and_stop_at_four_times_the_fewest_lanes() -> None:
    got = folding.foldings(256, 256, 1, 1024)
    assert all(256 % p == 0 and 256 % s == 0 for p, s in got)
    assert all((256 // p) * (256 // s) <= 1024 for p, s in got)
    assert min(p * s for p, s in got) == 64 and max(p * s for p, s in got) == 256
    assert (1, 64) in got and (64, 1) in got and (256, 1) in got and (2, 16) not in got
    # Conv layers: the cycles count every output pixel.
    assert min(p * s for p, s in folding.foldings(16, 36, 64, 1024)) == 36
    # Faster than the layer can go: fully parallel.
    assert folding.foldings(10, 4, 8, 1) == [(10, 4)]


def _adder_bits_in(text: str) -> int:
    """Bits of every declared tree signal whose assignment adds or negates, from the SV."""
    widths = {n: int(b) + 1 for b, n in re.findall(r"logic signed \[(\d+):0\] (t\d+_\d+);", text)}
    bits = 0
    for name, expr in re.findall(r"(t\d+_\d+) <?= (.*);", text):
        if "+" in expr or expr.startswith("-"):
            bits += widths[name]
    return bits


@pytest.mark.parametrize(("pe", "simd", "density"), [(4, 8, 0.5), (8, 32, 0.3), (2, 4, 0.9)])
def test_const_cost_counts_exactly_what_the_generator_writes(pe, simd, density) -> None:
    rng = np.random.default_rng(pe + simd)
    w = np.where(rng.random((8, 32)) < density, rng.integers(-7, 8, size=(8, 32)), 0)
    spec = ConstMvauSpec("m", w, pe, simd, 4, False, 16, levels_per_stage=2)
    cost = const_cost(spec)
    text = render_const_mvau(spec, "test")
    assert cost.adder_bits == _adder_bits_in(text) > 0
    regs = re.findall(r"always_ff @\(posedge clk\) if \(en\) (t\d+_\d+) <=", text)
    widths = {n: int(b) + 1 for b, n in re.findall(r"logic signed \[(\d+):0\] (t\d+_\d+);", text)}
    assert cost.reg_bits == sum(widths[n] for n in regs)
    dropped = sum(not spec.lane_weights(p, s).any() for p in range(pe) for s in range(simd))
    assert cost.zero_lanes == dropped and cost.lanes == pe * simd
    # Lanes whose constant changes with the fold are priced as tables; fully parallel: none.
    assert (cost.table_luts > 0) == (spec.nf * spec.sf > 1)


def test_zero_weights_cost_nothing_in_the_const_style_and_everything_in_a_rom() -> None:
    rng = np.random.default_rng(0)
    dense = rng.integers(-7, 8, size=(64, 64))
    sparse = np.where(rng.random((64, 64)) < 0.02, dense, 0)
    for pe, simd in ((64, 64), (8, 8)):
        rom_dense = mac_area("rom", dense, pe, simd, 4, False, 14)
        rom_sparse = mac_area("rom", sparse, pe, simd, 4, False, 14)
        assert rom_dense.lut == rom_sparse.lut  # a ROM stores zeros like any weight
        const_dense = mac_area("const", dense, pe, simd, 4, False, 14)
        const_sparse = mac_area("const", sparse, pe, simd, 4, False, 14)
        # Fully parallel, a zero weight is no logic at all; folded, only a lane that is zero
        # in every fold is: the others still select their constant by the fold counter.
        assert const_sparse.lut < const_dense.lut / (10 if pe * simd == 64 * 64 else 1.5)
        assert const_sparse.bram36 == const_dense.bram36 == 0
    assert mac_area("const", np.zeros((4, 4), dtype=int), 4, 4, 4, False, 8).lut == 2 * 4 * 8


def test_thresholds_are_priced_with_the_pe_they_fold_with() -> None:
    from flow.hw.area import THR_LUT_PER_BIT, threshold_area

    one = threshold_area(66, 1, 15, 11)  # 66 x 165 bits: block RAM
    assert one.bram36 == 2.5 and one.lut == pytest.approx(165 * THR_LUT_PER_BIT)
    three = threshold_area(66, 3, 15, 11)  # 22 x 495 bits: shallow and wide, logic
    assert three.bram36 == 0 and three.lut == pytest.approx(495 * THR_LUT_PER_BIT + 22 * 495 / 11)
    rng = np.random.default_rng(3)
    w = rng.integers(-7, 8, size=(66, 64))
    layer = replace(_layer(w, (1, 8), "rom", "area"), thresholds=(15, 11))
    (row,) = folding.choose([layer], 1024)
    (bare,) = folding.choose([replace(layer, thresholds=None)], 1024)
    assert row.pe == 1 and row.estimate["lut"] > bare.estimate["lut"]


def test_a_rom_goes_to_block_ram_where_that_saves_enough_luts_per_bram() -> None:
    from flow.ops.base import rom_style

    assert bram36(256, 1024) == 7.5  # 256 bits x 1K: 15 RAMB18 (1K x 18)
    assert bram36(72, 512) == 1.0 and bram36(4, 4096) == 0.5
    assert rom_style(256, 1024) == "block"  # 23.8k LUT of logic against 7.5 BRAM36
    assert rom_style(16, 640) == "block"  # ~930 LUT against half a BRAM36
    assert rom_style(165, 71) == "block"  # 71 channels x 15 thresholds x 11 bits
    assert rom_style(480, 13) == "logic"  # shallow and wide: 567 LUT against 7 BRAM36
    assert rom_style(8, 32) == "logic" and rom_style(10**5, 1) == "logic"  # one word: constants
    big = rom_area(256, 256, 1, 64, 4, 4, 14)
    assert big.bram36 == 7.5
    shallow = rom_area(10, 256, 10, 4, 4, 4, 15)  # 64 words of 160 bits: logic
    # 40 lanes of 5x4-bit products, a 15-bit accumulator per PE, 64 x 160 ROM bits in logic
    assert shallow.bram36 == 0
    assert shallow.lut == pytest.approx(40 * 2.65 * 5 * 4 + 2 * 10 * 15 + 64 * 160 / 11)


def _layer(w, current, style, by, **kw) -> folding.MacLayer:
    mh, mw = w.shape
    return folding.MacLayer(
        "fc1", "MVAU_1", "MVAU", w, (mh, mw, 1), current, style, by, (4, False, 14), **kw
    )


def test_auto_takes_const_for_a_sparse_layer_and_rom_for_a_dense_deeply_folded_one() -> None:
    rng = np.random.default_rng(1)
    dense = rng.integers(-7, 8, size=(256, 256))
    sparse = np.where(rng.random((256, 256)) < 0.001, dense, 0)
    (d,) = folding.choose([_layer(dense, (1, 64), "auto", "finn")], 1024)
    assert (d.mac_style, d.pe, d.simd, d.by) == ("rom", 1, 64, "finn")
    assert {c["style"] for c in d.candidates} == {"rom", "const"} and len(d.candidates) == 2
    assert d.estimate == {k: d.candidates[0][k] for k in ("lut", "ff", "bram36")}
    (s,) = folding.choose([_layer(sparse, (1, 64), "auto", "finn")], 1024)
    assert s.mac_style == "const" and s.estimate["bram36"] == 0
    # The area search prices every folding that meets the target, and keeps the cheapest.
    (a,) = folding.choose([_layer(sparse, (1, 64), "auto", "area")], 1024)
    assert a.by == "area" and a.cycles <= 1024 and (a.finn_pe, a.finn_simd) == (1, 64)
    assert len(a.candidates) == 2 * len(folding.foldings(256, 256, 1, 1024))
    assert a.estimate["lut"] == min(c["lut"] for c in a.candidates) <= s.estimate["lut"]
    # FINN's folding is not a candidate where it misses the target.
    (f,) = folding.choose([_layer(sparse, (1, 64), "auto", "area")], 1)
    assert (f.pe, f.simd, f.cycles) == (256, 256, 1)
    # A style given is kept; a depthwise layer (no weights priced) keeps the ROM template.
    (r,) = folding.choose([_layer(sparse, (1, 64), "rom", "area")], 1024)
    assert {c["style"] for c in r.candidates} == {"rom"}
    vvau = folding.MacLayer("dw", "VVAU_0", "VVAU", None, (16, 9, 64), (4, 1), "auto", "finn",
                            (4, False, 14))  # fmt: skip
    (v,) = folding.choose([vvau], 1024)
    assert (v.mac_style, v.cycles, v.candidates, v.estimate) == ("rom", 4 * 9 * 64, [], None)


def test_the_chain_is_folded_together_so_a_layer_can_take_the_stream_before_it() -> None:
    rng = np.random.default_rng(2)
    a = np.where(rng.random((52, 71)) < 0.03, rng.integers(-2, 3, size=(52, 71)), 0)
    b = np.where(rng.random((254, 52)) < 0.13, rng.integers(-2, 3, size=(254, 52)), 0)
    first = _layer(a, (1, 71), "auto", "area")
    second = folding.MacLayer("fc2", "MVAU_2", "MVAU", b, (254, 52, 1), (1, 13), "auto", "area",
                              (4, False, 14), word=1, linked=True)  # fmt: skip
    rows = folding.choose([first, second], 1024)
    pe = rows[0].pe
    assert rows[1].simd % pe == 0 or pe % rows[1].simd == 0  # the stream joins
    total = sum(r.estimate["lut"] for r in rows)
    # No pair of candidates that join costs less (brute force over both layers).
    pairs = [
        (x["lut"] + y["lut"], x["pe"], y["simd"])
        for x in rows[0].candidates
        for y in rows[1].candidates
        if y["simd"] % x["pe"] == 0 or x["pe"] % y["simd"] == 0
    ]
    assert total == min(p[0] for p in pairs)
    # Each layer's own cheapest is not always a pair that joins: the choice is joint.
    alone = folding.choose([first], 1024)[0]
    assert rows[0].estimate["lut"] >= alone.estimate["lut"]
    # FINN's folding that cannot take its stream is searched instead.
    finn = replace(second, by="finn", current=(1, 13))
    pinned = replace(first, by="finn", current=(4, 1))
    rows = folding.choose([pinned, finn], 1024)
    assert rows[0].pe == 4 and rows[1].by == "area" and rows[1].simd % 4 == 0
    # An explicit folding is the user's: kept, for the stream check to name the mismatch.
    rows = folding.choose([replace(pinned, by="config"), replace(finn, by="config")], 1024)
    assert [(r.pe, r.simd, r.by) for r in rows] == [(4, 1, "config"), (1, 13, "config")]


def test_config_takes_auto_and_rejects_an_area_objective_with_explicit_folding() -> None:
    data = {**TINY, "hardware": {"mac_style": "auto"}}
    data["compile"] = {"folding": {"target_cycles_per_frame": 64, "objective": "area"}}
    cfg = parse_config(data)
    assert cfg.hardware.mac_style == "auto" and cfg.compile.folding.objective == "area"
    data["compile"] = {"folding": {"layers": {"fc0": {"pe": 1, "simd": 1}}, "objective": "area"}}
    with pytest.raises(ConfigError, match=r"compile.folding.objective: 'area' chooses PE/SIMD"):
        parse_config(data)
    data["compile"] = {"folding": {"target_cycles_per_frame": 64, "objective": "smallest"}}
    with pytest.raises(ConfigError, match=r"compile.folding.objective"):
        parse_config(data)


def test_the_compile_digest_covers_the_mac_styles_and_nothing_else_of_hardware() -> None:
    from flow.pipeline import STAGES

    compile_stage = next(s for s in STAGES if s.name == "compile")
    base = parse_config(TINY)
    styled = parse_config({**TINY, "hardware": {"mac_style": "auto"}})
    other = parse_config({**TINY, "hardware": {"sim_frames": 7}})
    d = compile_stage.digest
    assert d(base, "") != d(styled, "") and d(base, "") == d(other, "")


# ------------------------------------------------------------------- synthesis in slices


def test_lane_slices_are_evenly_spread_groups_of_contiguous_lanes() -> None:
    from flow.hw.slices import lane_slices

    got = lane_slices(256, 500_000, 40_000, 2)  # 13 groups of 20 lanes, first and last
    assert got == [list(range(0, 20)), list(range(240, 256))]
    assert len(lane_slices(256, 500_000, 40_000, 3)[1]) == 20
    assert lane_slices(256, 500_000, 40_000, 3)[1][0] == 120
    assert lane_slices(8, 1_000, 40_000, 2) == [] and lane_slices(8, 10**6, 0, 2) == []
    assert lane_slices(2, 10**6, 1_000, 4) == [[0], [1]]  # never more groups than lanes


def _sliceable_summary() -> dict[str, dict]:
    """The hand-built MVAU -> Thresholding -> LabelSelect, with an MVAU of 4 neurons on
    PE=2 lanes (2 neuron folds), so lane 1 computes channels 1 and 3."""
    from tests.test_ops import _summary

    summary = _summary(with_identity=False)
    w = np.arange(16).reshape(4, 4) % 5 - 2  # (MW, MH)
    summary["MVAU_0"].update(MH=4, PE=2, SIMD=2, weights=w.tolist(), out_shapes=[[1, 4]])
    summary["Thresholding_0"].update(NumChannels=4, thresholds=[[0, 1, 2]] * 4, in_shapes=[[1, 4]])
    return summary


def test_a_sliced_layer_is_synthesized_on_its_slices_and_scaled(tmp_path, monkeypatch) -> None:
    from flow import ops
    from flow import synthesize as syn
    from flow.hardware import build_plan, write_plan
    from flow.hw import batch
    from flow.hw.tools import run_tool, verilator
    from tests.test_synthesize import FakeYosys

    summary = _sliceable_summary()
    part = ops.get("MVAU").lane_slice(summary["MVAU_0"], [1])
    assert part["MH"] == 2 and part["PE"] == 1 and part["out_shapes"] == [[1, 2]]
    assert np.array_equal(
        np.asarray(part["weights"]), np.asarray(summary["MVAU_0"]["weights"])[:, [1, 3]]
    )
    for style in ("const", "rom"):
        files, plan = build_plan(
            summary, ["fc0"], "exact", "t", mac_styles={"fc0": style}, slicing={"MVAU_0": [[1]]}
        )
        node = next(n for n in plan["nodes"] if n["name"] == "MVAU_0")
        (s,) = node["slices"]
        assert s["name"] == "MVAU_0_s0" and s["lanes"] == 1 and s["sources"][-1] == "MVAU_0_s0.sv"
        assert "MVAU_0_s0.sv" not in plan["top_sources"]
        folder = tmp_path / style
        write_plan(files, plan, folder)
        args = [verilator(), "--lint-only", "-Wall", "--top-module", "MVAU_0_s0"]
        run_tool([*args, *s["sources"]], folder, tmp_path / f"{style}.log", 120)

    fake = FakeYosys()
    monkeypatch.setattr(batch, "run_tool", fake)
    monkeypatch.setattr(syn, "yosys_version", lambda exe: "Yosys 0.0 (fake)")
    synth = syn.run_synthesis({"exact": tmp_path / "const"}, tmp_path / "out", jobs=1)
    assert "exact/MVAU_0_s0" in fake.ran and "exact/MVAU_0" not in fake.ran
    assert "exact/a2q_top" not in fake.ran  # a top holding a sliced layer is not synthesized
    v = synth["variants"]["exact"]
    layer = v["layers"]["MVAU_0"]
    assert (layer["lut"], layer["ff"]) == (2 * 2, 2 * len("MVAU_0_s0"))  # 2 lanes / 1 measured
    assert layer["scaled"]["factor"] == 2.0 and list(layer["scaled"]["slices"]) == ["MVAU_0_s0"]
    assert v["scaled_nodes"] == ["MVAU_0"] and v["top_from"] == "sum_of_nodes"
