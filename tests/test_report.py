"""Build and sweep reports from hand-written stage outputs: no training, no tools."""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import flow
from flow.errors import A2QError
from flow.report import build_report as rb
from flow.report import document as rd
from flow.report import examples as rx
from flow.report import sweep_report as rs
from flow.util import write_json
from tests.conftest import finish_stages

# ------------------------------------------------------------------------------ fixtures

METRICS = {
    "dataset": "digits",
    "train_samples": 1437,
    "test_samples": 360,
    "device": "cpu",
    "float_accuracy": 97.5,
    "quant_accuracy": 96.94444444444444,
    "ep_init_layers": ["fc1"],
    "layers": [
        {"name": "fc0", "method": "baseline", "target_bits": None, "K": 64, "max_l1": 198,
         "l1_budget": None, "sparsity": 0.125, "zero_channels": 0, "all_zero": False},
        {"name": "fc1", "method": "a2q_plus", "target_bits": 12, "K": 32, "max_l1": 741,
         "l1_budget": 1092.1333333333334, "sparsity": 0.4375, "zero_channels": 3,
         "all_zero": False},
    ],
    "warnings": ["fc1: 3 channels are all zero"],
    "seconds": 50.4,
}  # fmt: skip

EXPORT = {
    "ok": True,
    "layers": [
        {"name": "fc0", "K": 64, "input_bits": 5, "input_signed": False, "weight_bits": 4,
         "method": "baseline", "target_bits": None, "datatype_bound_bits": 16, "max_l1": 198,
         "budget": None, "exact_bits": 13, "ok": True, "problems": [], "node": "n0",
         "matches_brevitas": True},
        {"name": "fc1", "K": 32, "input_bits": 4, "input_signed": False, "weight_bits": 4,
         "method": "a2q_plus", "target_bits": 12, "datatype_bound_bits": 14, "max_l1": 741,
         "budget": 1092.13, "exact_bits": 11, "ok": True, "problems": [], "node": "n1",
         "matches_brevitas": True},
    ],
    "fidelity": {"samples": 200, "max_abs_error": 3.8e-06, "atol": 1e-4, "argmax_agreement": 200,
                 "brevitas_accuracy": 97.0, "qonnx_accuracy": 97.0, "ok": True,
                 "summary": "max |error| 3.81e-06 (atol 0.0001), argmax agrees on 200/200"},
}  # fmt: skip

ACCUMULATORS = [
    {"name": "fc0", "node": "MVAU_0", "op": "MVAU", "K": 64, "MH": 32, "input_bits": 5,
     "input_signed": False, "weight_bits": 4, "datatype_bound_bits": 16, "target_bits": None,
     "exact_bits": 13, "exact_range": [-3906, 3751], "hw_acc_bits": 13, "finn_acc_bits": 13,
     "threshold_bits": 11, "guaranteed": False, "PE": 1, "SIMD": 16,
     "zero_weight_fraction": 0.125, "zero_lane_fraction": 0.0},
    {"name": "fc1", "node": "MVAU_1", "op": "MVAU", "K": 32, "MH": 10, "input_bits": 4,
     "input_signed": False, "weight_bits": 4, "datatype_bound_bits": 14, "target_bits": 12,
     "exact_bits": 11, "exact_range": [-900, 1000], "hw_acc_bits": 11, "finn_acc_bits": 16,
     "threshold_bits": None, "guaranteed": True, "PE": 1, "SIMD": 8,
     "zero_weight_fraction": 0.4375, "zero_lane_fraction": 0.125},
]  # fmt: skip

FOLDING = [
    {"name": "fc0", "node": "MVAU_0", "op": "MVAU", "pe": 1, "simd": 16, "cycles": 128,
     "mac_style": "rom", "asked_style": "auto", "by": "area", "finn_pe": 2, "finn_simd": 8,
     "estimate": {"lut": 900, "ff": 120, "bram36": 1.0},
     "candidates": [{"pe": 1, "simd": 16, "style": "rom", "lut": 900, "ff": 120, "bram36": 1.0},
                    {"pe": 1, "simd": 16, "style": "const", "lut": 2400, "ff": 90,
                     "bram36": 0.0}]},
    {"name": "fc1", "node": "MVAU_1", "op": "MVAU", "pe": 1, "simd": 8, "cycles": 40,
     "mac_style": "const", "asked_style": "const", "by": "finn", "finn_pe": 1, "finn_simd": 8,
     "estimate": {"lut": 150, "ff": 60, "bram36": 0.0},
     "candidates": [{"pe": 1, "simd": 8, "style": "const", "lut": 150, "ff": 60,
                     "bram36": 0.0}]},
]  # fmt: skip

VERIFY = {"samples": 360, "mismatches": 0, "hw_accuracy": 96.66666666666667,
          "qonnx_accuracy": 96.66666666666667, "tolerance": "exact labels", "ok": True}  # fmt: skip

OVERFLOW = {
    "worst_case": [{"node": "MVAU_0", "hw_acc_bits": 13, "fits": True},
                   {"node": "MVAU_1", "hw_acc_bits": 11, "fits": True}],
    "test_set_at_hw_widths": {"fc0": {"overflow_events": 0, "dot_products": 11520},
                              "fc1": {"overflow_events": 0, "dot_products": 3600}},
    "wrap_study": [
        {"acc_bits": 10, "overflow_events": 8709, "accuracy": 91.11111111111111,
         "layers": {"fc1": {"overflow_events": 8709, "dot_products": 3600, "exact_bits": 11}}},
        {"acc_bits": 11, "overflow_events": 0, "accuracy": 96.94444444444444,
         "layers": {"fc1": {"overflow_events": 0, "dot_products": 3600, "exact_bits": 11}}},
    ],
}  # fmt: skip

FINN_RES = {
    "MVAU_hls_0": {"BRAM_18K": 4, "LUT": 1096, "URAM": 0, "DSP": 0},
    "Thresholding_rtl_0": {"BRAM_18K": 0, "LUT": 660.0, "URAM": 0, "DSP": 0},
    "MVAU_hls_1": {"BRAM_18K": 1, "LUT": 482, "URAM": 0, "DSP": 0},
    "total": {"BRAM_18K": 5.0, "LUT": 2238.0, "URAM": 0.0, "DSP": 0.0},
}  # fmt: skip

FINN_PERF = {"critical_path_cycles": 4490, "max_cycles": 1024, "max_cycles_node_name": "MVAU_hls_0",
             "estimated_throughput_fps": 97656.25, "estimated_latency_ns": 44900.0}  # fmt: skip

SIM = {"frames": 100, "mismatches": 0, "bit_exact": True, "accuracy": 99.0,
       "latency_cycles": 3666, "cycles_per_frame": 1031.0, "clock_mhz": 100.0,
       "fps": 96993.2, "worst_case_ok": True, "peak_memory_mb": 516.2, "seconds": 9.66}  # fmt: skip


def _node(layer, op, lut, lutram, ff, bram36):
    return {"layer": layer, "op_type": op, "lut": lut, "lutram": lutram, "ff": ff,
            "bram36": bram36, "dsp": 0}  # fmt: skip


SYNTH = {
    "tool": "yosys",
    "version": "Yosys 0.70",
    "family": "xc7",
    "part": "xc7z020clg400-1",
    "flow": "yosys synth_xilinx (open-source synthesis, not Vivado place-and-route)",
    "variants": {
        "exact": {
            "layers": {
                "MVAU_0": _node("fc0", "MVAU", 4321, 16, 700, 2.0),
                "Thresholding_0": _node("act0", "Thresholding", 345, 0, 90, 0.0),
                "MVAU_1": _node("fc1", "MVAU", 1234, 0, 300, 0.5),
                "fifo_0": _node(None, "FIFO", 17, 12, 9, 0.0),
            },
            "top": {"lut": 5917, "lutram": 28, "ff": 1099, "bram36": 2.5, "dsp": 0},
            "utilization": {"lut": 11.18, "ff": 1.03, "bram36": 1.79, "dsp": 0.0},
        },
        "acc32": {
            "layers": {
                "MVAU_0": _node("fc0", "MVAU", 9876, 16, 1500, 2.0),
                "Thresholding_0": _node("act0", "Thresholding", 777, 0, 150, 0.0),
                "MVAU_1": _node("fc1", "MVAU", 2468, 0, 600, 0.5),
                "fifo_0": _node(None, "FIFO", 17, 12, 9, 0.0),
            },
            "top": {"lut": 13138, "lutram": 28, "ff": 2259, "bram36": 2.5, "dsp": 0},
            "utilization": {"lut": 24.75, "ff": 2.12, "bram36": 1.79, "dsp": 0.0},
        },
    },
    "seconds": 61.0,
    "peak_memory_mb": 244.4,
}

DIGESTS = {"train": "aaaa000011112222", "export": "bbbb000011112222",
           "compile": "cccc000011112222", "sim": "dddd000011112222",
           "synth": "eeee000011112222"}  # fmt: skip

FILES = {
    "train/metrics.json": METRICS,
    "export/export_check.json": EXPORT,
    "compile/accumulators.json": ACCUMULATORS,
    "compile/folding.json": FOLDING,
    "verify/verify.json": VERIFY,
    "verify/overflow.json": OVERFLOW,
    "compile/report/estimate_layer_resources.json": FINN_RES,
    "compile/report/estimate_network_performance.json": FINN_PERF,
    "sim/sim.json": SIM,
    "synth/synth.json": SYNTH,
}


def make_build(root: Path, drop: tuple[str, ...] = ()) -> Path:
    """A build folder with every stage's output, less the stage folders named in ``drop``."""
    build = root / "tfc_test"
    build.mkdir()
    (build / "config.yaml").write_text(
        "name: tfc_test\ndata:\n  dataset: digits\nquant:\n  method: a2q_plus\n  acc_bits: 12\n"
        "compile:\n  clock_mhz: 100.0\n"
    )
    timings = {s: {"seconds": 1.5 + i, "last_status": "ran"} for i, s in enumerate(DIGESTS)}
    write_json(build / "timings.json", timings)
    for rel, data in FILES.items():
        write_json(build / rel, data)
    for stage, digest in DIGESTS.items():
        write_json(build / stage / ".stage.json", {"stage": stage, "digest": digest})
    for stage in drop:
        shutil.rmtree(build / stage)
    return finish_stages(build)  # verify's marker (its digest not shown by DIGESTS)


def assert_self_contained(html_text: str) -> None:
    assert html_text.startswith("<!DOCTYPE html>")
    assert "data:image/png;base64," in html_text
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html_text)
    assert "<link" not in html_text and "<script" not in html_text


# ------------------------------------------------------------------------- build reports


def test_full_build_report(tmp_path):
    build = make_build(tmp_path)
    out = rb.render_build_report(build)
    assert out["missing"] == []
    md, page = out["md"].read_text(), out["html"].read_text()
    assert out["md"] == build / "report" / "report.md"
    assert {p.name for p in out["figures"]} == {
        "fig_widths.png", "fig_sparsity.png", "fig_wrap.png", "fig_resources.png",
        "fig_estimates.png",
    }  # fmt: skip
    for fig in out["figures"]:
        assert fig.read_bytes().startswith(b"\x89PNG") and f"]({fig.name})" in md
    assert_self_contained(page)
    assert page.count("data:image/png;base64,") == len(out["figures"])
    # generated-by line: version and the digest of every finished stage
    for text in (md, page):
        assert f"a2q-flow {flow.__version__}" in text
        assert all(d in text for d in DIGESTS.values())
    # accuracy table: float, quantized, QONNX, HW graph and simulation
    for row in ("| float (PyTorch) | 97.50 | 360", "| quantized (Brevitas) | 96.94 | 360",
                "| exported QONNX | 97.00 | 200", "| FINN HW graph | 96.67 | 360",
                "| simulated RTL (Verilator) | 99.00 | 100"):  # fmt: skip
        assert row in md
    # width chain: P_dt, target, exact, hw, FINN; guaranteed layers named
    assert "| fc1 | MVAU_1 | 32 | 4 | 4 | 14 | 12 | 11 | 11 | 16 | - | yes | yes |" in md
    assert "| fc0 | MVAU_0 | 64 | 5 | 4 | 16 | - | 13 | 13 | 13 | 11 | no | yes |" in md
    assert "| guaranteed layers (L1 budget or data types, exact <= target) | fc1 |" in md
    # beside the widths: zero weights and (PE, SIMD) lanes zero in every fold, in percent
    assert "| 11 | 16 | - | yes | yes | 43.8 | 12.5 |" in md
    # sparsity (percent), wrap study, warnings
    assert "| fc1 | a2q_plus | 12 | 43.8 | 3 | no | 741 | 1092.1 |" in md
    assert "| 10 | 91.11 | 8709 | 8709 |" in md
    assert "fc1: 3 channels are all zero" in md
    # resources per node exact vs acc32, totals, ratio, and the open-synthesis caveat
    assert "| MVAU_0 | fc0 | MVAU | 4321 | 9876 | 16 | 16 | 700 | 1500 | 2 | 2 | 0 | 0 |" in md
    assert "| exact | 5917 | 28 | 1099 | 2.5 | 0 | 11.18 | 1.03 | 1.79 | 0.00 |" in md
    assert "| acc32 / exact | 2.22 | 1 | 2.06 | 1 | - |" in md
    assert "LUT ratio (32-bit / exact accumulators, top level): 2.22." in md
    assert "not from Vivado place-and-route" in md
    # FINN vs Yosys: matched by name (MVAU_0 <-> MVAU_hls_0), LUT = logic + LUTRAM
    assert "| MVAU_0 | fc0 | 1096 | 4337 | 3241 | 4 | 4 | 0 | 0 |" in md
    assert "| Thresholding_0 | act0 | 660 | 345 | -315 | 0 | 0 | 0 | 0 |" in md
    assert "| total (top level) | - | 2238 | 5945 | 3707 | 5 | 5 | 0 | 0 |" in md
    # throughput and timings
    assert "| cycles per frame | 1031 | 1024 |" in md
    assert "| frames per second | 96993 | 97656 |" in md
    assert "| synth | ran | 5.5 | 244 | eeee000011112222 |" in md
    assert "None: every input is present." in md


def test_missing_stages_are_named(tmp_path):
    build = make_build(tmp_path, drop=("synth", "sim"))
    out = rb.render_build_report(build)
    assert out["missing"] == ["sim/sim.json", "synth/synth.json"]
    md = out["md"].read_text()
    assert "Missing: `synth/synth.json` (stage `synth` has not written it)" in md
    assert "Missing: `sim/sim.json` (stage `sim` has not written it)" in md
    assert "It would show LUT/FF/BRAM per layer with exact and with 32-bit accumulators" in md
    assert "- `sim/sim.json` (stage `sim` has not written it): it would show the simulated" in md
    # what the other stages wrote is still reported, including FINN's estimates alone
    assert "| FINN HW graph | 96.67 | 360" in md
    assert "| simulated RTL (Verilator) | - | - | sim/sim.json |" in md
    assert "| MVAU_hls_0 | - | 1096 | - | - | 4 | - | 0 | - |" in md
    assert "fig_resources.png" not in md
    assert_self_contained(out["html"].read_text())


def test_report_after_train_only(tmp_path):
    build = make_build(tmp_path, drop=("export", "compile", "verify", "sim", "synth"))
    out = rb.render_build_report(build)
    assert out["missing"] == [rb.INPUTS[k].path for k in rb.INPUTS if k not in
                              ("config", "timings", "metrics")]  # fmt: skip
    md = out["md"].read_text()
    assert "unknown until stage `compile` has run" in md
    assert "Missing: `compile/accumulators.json`" in md
    assert [f.name for f in out["figures"]] == ["fig_sparsity.png"]


def test_widths_fall_back_to_export_check(tmp_path):
    build = make_build(tmp_path)
    (build / "compile" / "accumulators.json").unlink()
    md = rb.render_build_report(build)["md"].read_text()
    assert "Widths below come from the export check" in md
    assert "| fc1 | n1 | 32 | 4 | 4 | 14 | 12 | 11 | - | - | - | - | - |" in md


def test_empty_build_folder_renders(tmp_path):
    (tmp_path / "config.yaml").write_text("name: empty\n")  # a build no stage finished
    out = rb.render_build_report(tmp_path)
    assert out["missing"] == [inp.path for inp in rb.INPUTS.values() if inp.path != "config.yaml"]
    md = out["md"].read_text()
    assert "stage digests: none (no stage finished)" in md
    assert out["figures"] == []


def test_bad_inputs_are_errors(tmp_path):
    with pytest.raises(A2QError, match="no such build folder"):
        rb.render_build_report(tmp_path / "nope")
    build = make_build(tmp_path)
    (build / "sim" / "sim.json").write_text("{not json")
    with pytest.raises(A2QError, match=r"sim\.json: cannot be read as JSON"):
        rb.render_build_report(build)


def test_render_is_deterministic_and_drops_stale_figures(tmp_path):
    build = make_build(tmp_path)
    first = rb.render_build_report(build)
    blobs = {p.name: p.read_bytes() for p in (build / "report").iterdir()}
    second = rb.render_build_report(build)
    assert {p.name: p.read_bytes() for p in (build / "report").iterdir()} == blobs
    assert first == second
    shutil.rmtree(build / "synth")
    rb.render_build_report(build)
    assert not (build / "report" / "fig_resources.png").exists()
    assert not (build / "report" / "fig_estimates.png").exists()


def test_synth_layout_variants(tmp_path):
    """An ``estimate`` in synth.json wins; a top-level ``acc32``/``lut_ratio`` is used."""
    synth = copy.deepcopy(SYNTH)
    synth["variants"]["exact"]["layers"]["MVAU_1"]["estimate"] = {"LUT": 1000, "BRAM_18K": 2}
    synth["variants"]["exact"]["layers"]["MVAU_1"]["estimate_delta_lut"] = 234
    synth["acc32"] = synth["variants"]["acc32"].pop("top")
    synth["lut_ratio"] = 2.5
    build = make_build(tmp_path)
    write_json(build / "synth" / "synth.json", synth)
    md = rb.render_build_report(build)["md"].read_text()
    assert "| MVAU_1 | fc1 | 1000 | 1234 | 234 | 2 | 1 |" in md
    assert "| acc32 | 13138 | 28 | 2259 | 2.5 | 0 |" in md
    assert "top level): 2.50." in md
    del synth["acc32"]
    write_json(build / "synth" / "synth.json", synth)
    out = rb.render_build_report(build)
    assert out["missing"] == ["synth/synth.json: variants.acc32"]
    assert "Missing: the `acc32` variant in `synth/synth.json`" in out["md"].read_text()


def test_chain_ok():
    row = {"datatype_bound_bits": 16, "target_bits": 12, "exact_bits": 11, "hw_acc_bits": 11}
    assert rb.chain_ok(row) is True
    assert rb.chain_ok({**row, "exact_bits": 13, "hw_acc_bits": 13}) is False
    assert rb.chain_ok({**row, "hw_acc_bits": 12}) is False
    assert rb.chain_ok({**row, "target_bits": None}) is True
    assert rb.chain_ok({**row, "target_bits": 17}) is False
    assert rb.chain_ok({**row, "hw_acc_bits": None}) is None


def test_fmt():
    assert [rd.fmt(v) for v in (None, True, 7, 12000.0, 1.23456, 123456.7, [1, 2])] == [
        "-", "yes", "7", "12000", "1.235", "123457", "1, 2",
    ]  # fmt: skip
    assert rd.fmt(96.944, 2) == "96.94"


# -------------------------------------------------------------------------------- sweeps


def P(method, bits, acc, lut, seed=0, status="ok", **kw):
    """One sweep point (folded to 1024 cycles per frame, ROM MACs)."""
    return {"point": f"method={method},acc_bits={bits},seed={seed}", "method": method,
            "acc_bits": bits, "seed": seed, "status": status, "error": None,
            "float_accuracy": 98.0, "quant_accuracy": acc, "hw_accuracy": acc, "lut": lut,
            "lut_ratio": None if lut is None else round(20000 / lut, 2),
            "cycles_per_frame": 1024, "mac_style": "rom", **kw}  # fmt: skip


def test_pareto_front_known_answer():
    pts = [
        P("a", 10, 90.0, 1000),  # front: fewest LUTs
        P("b", 10, 95.0, 2000),  # front
        P("c", 10, 94.0, 2500),  # beaten by b
        P("d", 10, 97.0, 4000),  # front
        P("e", 10, 97.0, 4000),  # equal to d: kept
        P("f", 10, 96.0, 4000),  # beaten by d (same LUTs, lower accuracy)
        P("g", 10, 99.0, None),  # no LUTs: not considered
        P("h", 10, 99.9, 10, status="failed"),  # failed: not considered
    ]
    front = rs.pareto_front(pts)
    assert [p["method"] for p in front] == ["a", "b", "d", "e"]
    assert rs.pareto_front(pts, x="lut", y="hw_accuracy") == front
    assert rs.pareto_front([]) == []


def test_sweep_findings_a2q_plus_below_at_one_width():
    points = [
        P("a2q", 10, 90.0, 1000, seed=0), P("a2q", 10, 92.0, 1000, seed=1),
        P("a2q_plus", 10, 90.5, 1000, seed=0), P("a2q_plus", 10, 91.0, 1000, seed=1),
        P("a2q", 11, 95.0, 1200), P("a2q_plus", 11, 95.0, 1200),
        P("a2q_plus", 12, 97.5, 8000), P("baseline", 12, 97.8, 16000),
        P("a2q", 13, 99.0, 100, status="failed", error="boom"),
    ]  # fmt: skip
    f = rs.sweep_findings({"points": points})
    cmp_ = f["a2q_plus_vs_a2q"]
    assert cmp_["holds"] is False
    assert cmp_["compared"] == [10, 11]
    assert cmp_["below"] == [{"acc_bits": 10, "a2q": 91.0, "a2q_plus": 90.75}]
    assert cmp_["unpaired"] == [12]
    assert "below A2Q at 10 bits (90.75 % vs 91.00 %)" in cmp_["statement"]
    near = f["max_lut_ratio_near_float"]
    # within 1 point of float 98.0: a2q_plus@12 (97.5, ratio 2.5) and baseline@12 (ratio 1.25)
    assert near["candidates"] == 2
    assert near["point"] == "method=a2q_plus,acc_bits=12,seed=0"
    assert near["lut_ratio"] == 2.5


def test_sweep_findings_holds_and_empty():
    f = rs.sweep_findings({"points": [P("a2q", 10, 90.0, 500), P("a2q_plus", 10, 90.0, 600)]})
    assert f["a2q_plus_vs_a2q"]["holds"] is True
    assert "at or above A2Q at every compared width (10 bits)" in f["a2q_plus_vs_a2q"]["statement"]
    assert f["max_lut_ratio_near_float"]["point"] is None
    empty = rs.sweep_findings({})
    assert empty["a2q_plus_vs_a2q"]["holds"] is None
    assert empty["max_lut_ratio_near_float"]["candidates"] == 0


def make_sweep(root: Path, points: list[dict]) -> Path:
    summary = {"name": "tfc_digits", "base_config": "configs/tfc_digits.yaml",
               "axes": {"method": ["baseline", "a2q", "a2q_plus"], "acc_bits": [10, 12],
                        "seed": [0, 1]},
               "points": points, "groups": []}  # fmt: skip
    write_json(root / "summary.json", summary)
    return root


SWEEP_POINTS = [
    P("baseline", 10, 97.9, 16000, wrap_accuracy=40.5),
    P("baseline", 12, 97.9, 16000, wrap_accuracy=95.25),
    P("a2q", 10, 93.0, 9000, seed=0), P("a2q", 10, 94.0, 9100, seed=1),
    P("a2q", 12, 97.0, 11000),
    P("a2q_plus", 10, 95.5, 9050), P("a2q_plus", 12, 97.6, 11111),
    P("a2q_plus", 12, None, None, seed=1, status="failed",
      error="synthesis: yosys ran out of memory on MVAU_1"),
]  # fmt: skip


def test_sweep_report(tmp_path):
    sweep = make_sweep(tmp_path, SWEEP_POINTS)
    out = rs.render_sweep_report(sweep)
    assert out["missing"] == []
    md, page = out["md"].read_text(), out["html"].read_text()
    assert {p.name for p in out["figures"]} == {
        "fig_accuracy_vs_p.png", "fig_accuracy_vs_lut.png", "fig_lut_ratio.png"
    }  # fmt: skip
    assert_self_contained(page)
    assert f"a2q-flow {flow.__version__}" in md and "summary.json digest" in md
    # failed point: in the table with its error and in its own list
    err = "synthesis: yosys ran out of memory on MVAU_1"
    assert "| method=a2q_plus,acc_bits=12,seed=1 | failed |" in md and err in md
    assert f"- `method=a2q_plus,acc_bits=12,seed=1`: {err}" in md
    assert "| points | 8 (7 ok, 1 failed) |" in md
    # group means over seeds, the wrap-around line, Pareto marks, findings
    assert "| A2Q | 10 | 2 | 93.50 | 0.71 |" in md
    assert "| baseline forced to P bits (wrap-around) | 12 | 1 | 95.25 | 0.00 |" in md
    assert "| method=a2q_plus,acc_bits=10,seed=0 | A2Q+ | 10 | 9050 | 95.50 | yes |" in md
    assert "| method=a2q,acc_bits=10,seed=1 | A2Q | 10 | 9100 | 94.00 | no |" in md
    assert "A2Q+ is at or above A2Q at every compared width (10, 12 bits)." in md
    assert "1.82 at `method=a2q,acc_bits=12,seed=0`" in md  # 97.0: exactly 1 point below
    assert json.loads(json.dumps(rs.sweep_findings(json.loads((sweep / "summary.json")
                                                              .read_text()))))  # fmt: skip


def test_sweep_without_synthesis_names_what_is_missing(tmp_path):
    points = [P("a2q", 10, 93.0, None), P("a2q_plus", 10, 95.0, None)]
    out = rs.render_sweep_report(make_sweep(tmp_path, points))
    assert out["missing"] == ["points[].lut", "points[].lut_ratio"]
    md = out["md"].read_text()
    assert "Missing: LUT figures of the points" in md
    assert [f.name for f in out["figures"]] == ["fig_accuracy_vs_p.png"]


def test_sweep_without_summary(tmp_path):
    with pytest.raises(A2QError, match="no sweep summary"):
        rs.render_sweep_report(tmp_path)


def E(method, bits, acc, lut, style="rom", cycles=1024, **kw):
    """One design of an equal-throughput sweep: 80 MACs per cycle, acc32 figures by default
    1.25x the LUTs and FFs, the same BRAM."""
    figures = {"ff": None, "bram36": None, "lut_acc32": None, "ff_acc32": None}
    if lut is not None:
        ff, bram = kw.get("ff", lut // 2), kw.get("bram36", 4)
        figures = {"ff": ff, "bram36": bram, "lut_acc32": lut * 5 // 4, "ff_acc32": ff * 5 // 4,
                   "bram36_acc32": bram}  # fmt: skip
    point = f"method={method},acc_bits={bits},cycles={cycles},mac_style={style}"
    return P(method, bits, acc, lut, **{
        "point": point, "cycles_per_frame": cycles, "mac_style": style, "macs_per_cycle": 80,
        "build_dir": f"builds/{method}_{bits}_{style}_{cycles}", **figures, **kw})  # fmt: skip


def _baseline(acc, lut, **kw):
    """The rows of one baseline build covering P = 10 and 12 (same hardware, same folder)."""
    rows = [E("baseline", 12, acc, lut, max_exact_bits=17, **kw) for _ in (10, 12)]
    rows[0]["acc_bits"] = 10
    rows[0]["point"] = rows[0]["point"].replace("acc_bits=12", "acc_bits=10")
    return rows


EQTP_POINTS = [
    # 1024 cycles per frame, ROM MACs (float accuracy 98.0: near float is >= 97.0)
    *_baseline(97.9, 16000, ff=9000, lut_acc32=20000, ff_acc32=12000),
    E("a2q", 10, 96.0, 7000),  # 2 points below float: not near, however small
    E("a2q", 12, 97.0, 11000),  # exactly 1 point below: near
    E("a2q_plus", 10, 97.2, 9000, bram36=5),  # the smallest A2Q+, one more BRAM
    E("a2q_plus", 12, 97.6, 11111),
    E("a2q_plus", 9, 99.0, 10, status="failed"),  # failed: takes no part
    # 1024 cycles per frame, constant MACs: no A2Q point
    E("baseline", 12, 97.8, 14000, style="const", bram36=0, lut_acc32=30000),
    E("a2q_plus", 11, 97.5, 7000, style="const", bram36=0),
    # 1 cycle per frame (fully parallel), ROM MACs: A2Q+ does not pay, A2Q is not near float
    E("baseline", 12, 97.9, 50000, cycles=1, lut_acc32=80000),
    E("a2q_plus", 12, 97.5, 60000, cycles=1),
    E("a2q", 12, 90.0, 30000, cycles=1),
]  # fmt: skip


def _by(entries, cycles, style):
    return {e["kind"]: e for e in entries
            if e["cycles_per_frame"] == cycles and e["mac_style"] == style}  # fmt: skip


def test_equal_throughput_known_answer():
    entries = rs.equal_throughput(EQTP_POINTS, rs.ACCURACY)
    groups = [(e["cycles_per_frame"], e["mac_style"]) for e in entries[::4]]
    assert groups == [(1, "rom"), (1, "any"), (1024, "const"), (1024, "rom"), (1024, "any")]
    assert all([e["kind"] for e in entries[i : i + 4]] == ["baseline@32", "baseline@exact",
               "A2Q", "A2Q+"] for i in range(0, len(entries), 4))  # fmt: skip
    rom = _by(entries, 1024, "rom")
    # the baseline build's two rows are one design: its widest row, with acc32 figures at 32
    b32, bex = rom["baseline@32"], rom["baseline@exact"]
    assert b32["point"] == bex["point"] == "method=baseline,acc_bits=12,cycles=1024,mac_style=rom"
    assert (b32["acc_bits"], b32["lut"], b32["ff"], b32["bram36"]) == (32, 20000, 12000, 4)
    assert (bex["acc_bits"], bex["lut"], bex["ff"], bex["bram36"]) == (17, 16000, 9000, 4)
    assert b32["lut_per_mac_per_cycle"] == 250.0 and bex["lut_per_mac_per_cycle"] == 200.0
    assert (b32["ratio_vs_best_baseline"], b32["ratio_vs_baseline32"]) == (0.8, 1.0)
    assert (bex["ratio_vs_best_baseline"], bex["ratio_vs_baseline32"]) == (1.0, 1.25)
    a2q, plus = rom["A2Q"], rom["A2Q+"]
    assert (a2q["point"], a2q["acc_bits"], a2q["accuracy"], a2q["lut"]) == (
        "method=a2q,acc_bits=12,cycles=1024,mac_style=rom", 12, 97.0, 11000)  # fmt: skip
    assert (a2q["ratio_vs_best_baseline"], a2q["ratio_vs_baseline32"]) == (1.4545, 1.8182)
    assert a2q["no_more_bram"] is True and a2q["reason"] is None
    assert (plus["acc_bits"], plus["lut"], plus["lut_per_mac_per_cycle"]) == (10, 9000, 112.5)
    assert (plus["ratio_vs_best_baseline"], plus["ratio_vs_baseline32"]) == (1.7778, 2.2222)
    assert plus["no_more_bram"] is False  # 5 BRAM36 against the baseline's 4
    const = _by(entries, 1024, "const")
    assert const["A2Q"]["lut"] is None and const["A2Q"]["reason"] == "no successful A2Q point"
    assert const["A2Q+"]["ratio_vs_best_baseline"] == 2.0  # 14000 / 7000
    # across styles: the smaller baseline is const, at 32 bits the ROM one
    best = _by(entries, 1024, "any")
    assert best["baseline@32"]["design_style"] == "rom" and best["baseline@32"]["lut"] == 20000
    assert best["baseline@exact"]["design_style"] == "const"
    assert best["A2Q+"]["design_style"] == "const" and best["A2Q+"]["lut"] == 7000
    assert best["A2Q+"]["ratio_vs_best_baseline"] == 2.0
    assert best["A2Q+"]["ratio_vs_baseline32"] == round(20000 / 7000, 4)
    assert best["A2Q"]["ratio_vs_best_baseline"] == round(14000 / 11000, 4)
    assert best["A2Q"]["no_more_bram"] is False  # 4 BRAM36 against the const baseline's 0
    # fully parallel: A2Q+ is larger than the baseline; no A2Q design is near float
    par = _by(entries, 1, "any")
    assert par["A2Q+"]["ratio_vs_best_baseline"] == round(50000 / 60000, 4)
    assert par["A2Q"]["lut"] is None and par["A2Q"]["point"] is None
    assert par["A2Q"]["reason"] == "no A2Q design within 1 point of its float accuracy"
    # without synthesis: said so; points without cycles per frame take no part
    bare = [E("a2q", 12, 97.5, None), P("a2q", 12, 97.5, 500, cycles_per_frame=None)]
    (b32, bex, a2q, plus) = rs.equal_throughput(bare, rs.ACCURACY)[:4]
    assert a2q["reason"] == "no A2Q point with exact LUT figures"
    assert b32["reason"] == "no successful baseline@32 point"
    assert len(rs.equal_throughput(bare, rs.ACCURACY)) == 8  # (1024, rom) and (1024, any)
    assert rs.equal_throughput([P("a2q", 12, 97.5, 500, cycles_per_frame=None)], rs.ACCURACY) == []


def test_equal_throughput_section(tmp_path):
    out = rs.render_sweep_report(make_sweep(tmp_path, EQTP_POINTS))
    assert out["equal_throughput"] == rs.equal_throughput(EQTP_POINTS, rs.ACCURACY)
    assert out["missing"] == []
    md = out["md"].read_text()
    section = md[md.index("## Equal throughput, equal accuracy") : md.index("## Every point")]
    assert "### 1 cycle per frame" in section and "### 1024 cycles per frame" in section
    assert ("| rom | A2Q+ | method=a2q_plus,acc_bits=10,cycles=1024,mac_style=rom | 10 | 97.20 | "
            "9000 | 4500 | 5 | 112.50 | 1.78 | 2.22 | no | - |") in section  # fmt: skip
    assert ("| any (const) | A2Q+ | method=a2q_plus,acc_bits=11,cycles=1024,mac_style=const | "
            "11 | 97.50 | 7000 |") in section  # fmt: skip
    assert "| const | A2Q | - |" in section and "no successful A2Q point |" in section
    assert "| any (" not in section.split("### 1024")[0]  # one style at 1 cycle: no `any` rows
    assert (
        "At 1024 cycles per frame, the smallest design without A2Q within 1 point of its float "
        "accuracy is baseline@exact (`method=baseline,acc_bits=12,cycles=1024,mac_style=const`, "
        "const MACs, 14000 LUTs); A2Q+ (`method=a2q_plus,acc_bits=11,cycles=1024,"
        "mac_style=const`, const MACs, 7000 LUTs) is 2.00x smaller; A2Q (`method=a2q,acc_bits=12,"
        "cycles=1024,mac_style=rom`, rom MACs, 11000 LUTs) is 1.27x smaller."
    ) in section
    assert (
        "At 1 cycle per frame, the smallest design without A2Q within 1 point of its float "
        "accuracy is baseline@exact (`method=baseline,acc_bits=12,cycles=1,mac_style=rom`, rom "
        "MACs, 50000 LUTs); A2Q+ does not pay: its smallest design (`method=a2q_plus,acc_bits=12,"
        "cycles=1,mac_style=rom`, rom MACs, 60000 LUTs) takes 1.20x the LUTs of that baseline; "
        "no A2Q design is within 1 point of its float accuracy."
    ) in section
    # no baseline near float: nothing to compare with
    far = [E("baseline", 12, 90.0, 16000), E("a2q_plus", 12, 97.5, 9000)]
    md = rs.render_sweep_report(make_sweep(tmp_path, far))["md"].read_text()
    assert ("At 1024 cycles per frame no baseline design is within 1 point of its float "
            "accuracy: A2Q and A2Q+ have nothing to be compared with.") in md  # fmt: skip
    # a summary from before cycles per frame were recorded: named as missing
    old = [{k: v for k, v in p.items() if k != "cycles_per_frame"} for p in SWEEP_POINTS]
    out = rs.render_sweep_report(make_sweep(tmp_path, old))
    assert out["missing"] == ["points[].cycles_per_frame"] and out["equal_throughput"] == []
    assert "Missing: cycles per frame of the successful points" in out["md"].read_text()


@pytest.mark.slow
def test_report_of_a_real_build(tiny_build):
    _, build = tiny_build
    out = rb.render_build_report(build)
    assert "train/metrics.json" not in out["missing"]
    assert "compile/accumulators.json" not in out["missing"]
    assert_self_contained(out["html"].read_text())


# ----------------------------------------------------------------- super-resolution builds

# The stage outputs of an ESPCN x2 build (PSNR in dB), as the stages write them.
SR_METRICS = {
    "dataset": "samples", "train_samples": 1024, "test_samples": 80, "device": "cpu",
    "metric": "psnr", "float_psnr": 27.506345029639867, "quant_psnr": 27.15615640508317,
    "bicubic_psnr": 26.19957118957028, "ep_init_layers": ["conv1"],
    "layers": [
        {"name": "conv0", "method": "baseline", "target_bits": None, "K": 25, "max_l1": 1837,
         "l1_budget": None, "sparsity": 0.0, "zero_channels": 0, "all_zero": False},
        {"name": "conv1", "method": "a2q_plus", "target_bits": 13, "K": 288, "max_l1": 434,
         "l1_budget": 546.0, "sparsity": 0.35, "zero_channels": 0, "all_zero": False},
    ],
    "warnings": [],
}  # fmt: skip
SR_EXPORT = {
    "ok": True,
    "layers": [{**r, "name": n} for r, n in zip(EXPORT["layers"], ("conv0", "conv1"), strict=True)],
    "fidelity": {"samples": 80, "max_abs_error": 4.0, "atol": 0.5, "metric": "psnr",
                 "brevitas_psnr": 27.15615640508317, "qonnx_psnr": 27.15598528095523,
                 "pixels": 81920, "mismatched_pixels": 71, "ok": True,
                 "summary": "81849/81920 output pixels within |error| 0.5"},
}  # fmt: skip
SR_VERIFY = {"samples": 80, "mismatches": 0, "output": "image", "metric": "psnr",
             "hw_psnr": 27.15598528095523, "qonnx_psnr": 27.15598528095523,
             "tolerance": "exact: every output pixel of the HW graph equals QONNX's",
             "ok": True}  # fmt: skip
SR_OVERFLOW = {
    "metric": "psnr",
    "worst_case": [{"node": "MVAU_0", "hw_acc_bits": 20, "fits": True}],
    "test_set_at_hw_widths": {"conv1": {"overflow_events": 0, "dot_products": 655360}},
    "wrap_study": [
        {"acc_bits": 10, "overflow_events": 2, "psnr": 27.153651216106613,
         "layers": {"conv1": {"overflow_events": 2, "dot_products": 655360}}},
        {"acc_bits": 9, "overflow_events": 59197, "psnr": 16.504538454200095,
         "layers": {"conv1": {"overflow_events": 59197, "dot_products": 655360}}},
    ],
}  # fmt: skip
SR_SIM = {"frames": 4, "mismatches": 0, "mismatches_vs_qonnx": 0, "bit_exact": True,
          "metric": "psnr", "psnr": 28.370536331439844, "latency_cycles": 11016,
          "cycles_per_frame": 9245.0, "clock_mhz": 100.0, "fps": 10816.657652785289,
          "worst_case_ok": True, "peak_memory_mb": 547.0}  # fmt: skip
SR_FILES = {
    "train/metrics.json": SR_METRICS,
    "export/export_check.json": SR_EXPORT,
    "compile/accumulators.json": ACCUMULATORS,
    "compile/folding.json": FOLDING,
    "verify/verify.json": SR_VERIFY,
    "verify/overflow.json": SR_OVERFLOW,
    "sim/sim.json": SR_SIM,
}
SR_TILES = 3


def sr_examples(n: int = SR_TILES) -> dict[str, np.ndarray]:
    """Example tiles as ``train`` saves them: uint8 (N, 1, h, w) low-res, (N, 1, H, W) others."""
    rng = np.random.default_rng(0)
    target = rng.integers(0, 256, size=(n, 1, 8, 8), dtype=np.uint8)

    def noisy(scale: int) -> np.ndarray:
        noise = rng.integers(-scale, scale + 1, size=target.shape)
        return np.clip(target.astype(np.int64) + noise, 0, 255).astype(np.uint8)

    return {"low_res": target[:, :, ::2, ::2].copy(), "bicubic": noisy(30),
            "float": noisy(8), "quantized": noisy(12), "target": target}  # fmt: skip


def make_sr_build(root: Path, examples: bool = True) -> Path:
    """A super-resolution build folder with every stage up to ``sim`` (no synthesis)."""
    build = root / "espcn_test"
    build.mkdir()
    (build / "config.yaml").write_text(
        "name: espcn_test\ndata:\n  dataset: samples\nquant:\n  method: a2q_plus\n"
        "  acc_bits: 13\ncompile:\n  clock_mhz: 100.0\n"
    )
    for rel, data in SR_FILES.items():
        write_json(build / rel, data)
    if examples:
        np.savez_compressed(build / "train" / "examples.npz", **sr_examples())
    return finish_stages(build)


def _png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG, from its IHDR chunk."""
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _tile_psnr(pred: np.ndarray, target: np.ndarray) -> float:
    mse = np.mean((pred.astype(np.float64) - target.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def test_super_resolution_build_report(tmp_path):
    build = make_sr_build(tmp_path)
    out = rb.render_build_report(build)
    md, page = out["md"].read_text(), out["html"].read_text()
    assert out["missing"] == ["timings.json", "compile/report/estimate_layer_resources.json",
                              "compile/report/estimate_network_performance.json",
                              "synth/synth.json"]  # fmt: skip
    # the metric is named at the top, with the headline figures and the bicubic reference
    assert (
        "Metric: PSNR (luminance, per test image, dB): float 27.51 dB, quantized 27.16 dB, "
        "HW graph 27.16 dB, simulated RTL 28.37 dB, "
        "bicubic interpolation (reference) 26.20 dB." in md
    )
    # the PSNR table: the bicubic reference first, then every stage, in dB
    assert "## PSNR (luminance, dB)" in md and "## Accuracy" not in md
    assert "| model | PSNR dB | samples | from |" in md
    for row in ("| bicubic interpolation (reference) | 26.20 | 80 | train/metrics.json |",
                "| float (PyTorch) | 27.51 | 80 | train/metrics.json |",
                "| quantized (Brevitas) | 27.16 | 80 | train/metrics.json |",
                "| quantized (Brevitas), export-check samples | 27.16 | 80 |",
                "| exported QONNX | 27.16 | 80 | export/export_check.json |",
                "| FINN HW graph | 27.16 | 80 | verify/verify.json |",
                "| simulated RTL (Verilator) | 28.37 | 4 | sim/sim.json |"):  # fmt: skip
        assert row in md
    assert md.index("| bicubic interpolation") < md.index("| float (PyTorch)")
    assert "accuracy" not in md.lower()
    # the wrap-around study reads each row's `psnr` (sorted by P)
    assert "| P | PSNR dB | overflow events | conv1 events |" in md
    assert "| 9 | 16.50 | 59197 | 59197 |" in md and "| 10 | 27.15 | 2 | 2 |" in md
    assert md.index("| 9 | 16.50") < md.index("| 10 | 27.15")
    assert "test PSNR and overflow events" in md
    # example outputs: one figure, a row of 5 tiles (175 x 200 px each) per example tile
    names = [f.name for f in out["figures"]]
    assert names == ["fig_examples.png", "fig_widths.png", "fig_sparsity.png", "fig_wrap.png"]
    assert "## Example outputs" in md and "](fig_examples.png)" in md
    fig = build / "report" / "fig_examples.png"
    cw, ch = rx.EXAMPLE_CELL_INCHES
    assert _png_size(fig) == (round(5 * cw * 100), round(SR_TILES * ch * 100))
    # its table: each output's PSNR against the tile's target, one row per tile
    ex = sr_examples()
    assert "| tile | bicubic PSNR dB | float PSNR dB | quantized PSNR dB |" in md
    for i in range(SR_TILES):
        dbs = [_tile_psnr(ex[k][i], ex["target"][i]) for k in ("bicubic", "float", "quantized")]
        assert f"| tile {i} | " + " | ".join(f"{d:.2f}" for d in dbs) + " |" in md
        assert dbs[0] < dbs[2] < dbs[1]  # more noise, lower PSNR
    assert f"| tile {SR_TILES} |" not in md
    first = rx.example_psnrs(ex)[0]
    assert first["float"] == pytest.approx(_tile_psnr(ex["float"][0], ex["target"][0]))
    # the HTML embeds every figure, the example tiles included
    assert_self_contained(page)
    assert page.count("data:image/png;base64,") == len(out["figures"]) == 4
    assert "<h2>Example outputs</h2>" in page


def test_super_resolution_missing_inputs_speak_psnr(tmp_path):
    build = make_sr_build(tmp_path, examples=False)
    shutil.rmtree(build / "sim")
    out = rb.render_build_report(build)
    md = out["md"].read_text()
    assert "train/examples.npz" in out["missing"] and "sim/sim.json" in out["missing"]
    assert "Missing: `train/examples.npz` (stage `train` has not written it)" in md
    assert (
        "- `sim/sim.json` (stage `sim` has not written it): it would show the simulated PSNR" in md
    )
    assert "fig_examples.png" not in md and not (build / "report" / "fig_examples.png").exists()
    # the metric still comes from the other stages' files
    assert "| simulated RTL (Verilator) | - | - | sim/sim.json |" in md
    # an examples file lacking an array: the other columns are drawn, the gap is named
    ex = sr_examples()
    del ex["float"]
    np.savez_compressed(build / "train" / "examples.npz", **ex)
    out = rb.render_build_report(build)
    md = out["md"].read_text()
    assert "train/examples.npz: float" in out["missing"]
    assert "| tile | bicubic PSNR dB | quantized PSNR dB |" in md
    cw, ch = rx.EXAMPLE_CELL_INCHES
    assert _png_size(build / "report" / "fig_examples.png") == (
        round(4 * cw * 100), round(SR_TILES * ch * 100))  # fmt: skip
    (build / "train" / "examples.npz").write_bytes(b"not a zip")
    with pytest.raises(A2QError, match=r"examples\.npz: cannot be read as NPZ"):
        rb.render_build_report(build)


def test_classification_report_names_its_metric_and_has_no_examples(tmp_path):
    out = rb.render_build_report(make_build(tmp_path))
    md = out["md"].read_text()
    assert (
        "Metric: top-1 accuracy (%): float 97.50 %, quantized 96.94 %, HW graph 96.67 %, "
        "simulated RTL 99.00 %." in md
    )
    assert "## Accuracy" in md and "| model | accuracy % | samples | from |" in md
    assert "Example outputs" not in md and "bicubic" not in md
    assert "examples.npz" not in " ".join(out["missing"])


# ----------------------------------------------------------- super-resolution sweeps


def PS(method, bits, db, lut, seed=0, status="ok", **kw):
    """One point of a super-resolution sweep (PSNR in dB; float 30 dB, bicubic 28 dB)."""
    return {"point": f"method={method},acc_bits={bits},seed={seed}", "method": method,
            "acc_bits": bits, "seed": seed, "status": status, "error": None, "metric": "psnr",
            "float_psnr": 30.0, "bicubic_psnr": 28.0, "quant_psnr": db, "hw_psnr": db,
            "lut": lut, "lut_ratio": None if lut is None else round(20000 / lut, 2),
            "cycles_per_frame": 1024, "mac_style": "rom", **kw}  # fmt: skip


SR_SWEEP_POINTS = [
    PS("baseline", 10, 29.9, 16000, wrap_psnr=12.5),
    PS("baseline", 12, 29.9, 16000, wrap_psnr=29.25),
    PS("a2q", 10, 29.0, 9000, seed=0), PS("a2q", 10, 29.4, 9100, seed=1),
    PS("a2q", 12, 29.5, 8000),  # exactly 0.5 dB below float: near float
    PS("a2q_plus", 10, 29.1, 9050), PS("a2q_plus", 12, 29.45, 7000),  # 0.55 dB: not near
    PS("a2q_plus", 12, None, None, seed=1, status="failed", error="boom"),
]  # fmt: skip


def test_sweep_findings_on_psnr_points():
    f = rs.sweep_findings({"points": SR_SWEEP_POINTS})
    cmp_ = f["a2q_plus_vs_a2q"]
    # A2Q at 10 bits: mean 29.2 dB over two seeds; A2Q+ 29.1 dB; at 12 bits 29.45 < 29.5
    assert cmp_["holds"] is False and cmp_["metric"] == "psnr"
    assert cmp_["compared"] == [10, 12] and cmp_["unpaired"] == []
    assert [r["acc_bits"] for r in cmp_["below"]] == [10, 12]
    assert cmp_["below"][0]["a2q"] == pytest.approx(29.2)
    assert "10 bits (29.10 dB vs 29.20 dB); 12 bits (29.45 dB vs 29.50 dB)" in cmp_["statement"]
    assert "%" not in cmp_["statement"]
    near = f["max_lut_ratio_near_float"]
    # within 0.5 dB of float (30 dB): both baselines (ratio 1.25) and a2q@12 (29.5, ratio 2.5)
    assert near["candidates"] == 3 and near["metric"] == "psnr"
    assert near["point"] == "method=a2q,acc_bits=12,seed=0" and near["lut_ratio"] == 2.5
    assert near["psnr"] == 29.5 and near["float_psnr"] == 30.0 and "accuracy" not in near
    assert "within 0.5 dB of float PSNR: 2.50 at" in near["statement"]
    assert "(29.50 dB vs float 30.00 dB)" in near["statement"]
    # a2q_plus@12 (0.55 dB below) qualifies only under a wider threshold
    assert rs.NEAR_FLOAT["psnr"] == 0.5 and rs.NEAR_FLOAT["accuracy"] == rs.NEAR_FLOAT_POINTS
    holds = rs.sweep_findings({"points": [PS("a2q", 10, 25.0, 500), PS("a2q_plus", 10, 25.5, 600)]})
    assert holds["a2q_plus_vs_a2q"]["holds"] is True
    assert "within 0.5 dB of its float PSNR" in holds["max_lut_ratio_near_float"]["statement"]
    # the Pareto frontier of PSNR points is over quant_psnr by default
    front = rs.pareto_front(SR_SWEEP_POINTS)
    assert [p["point"] for p in front] == ["method=a2q_plus,acc_bits=12,seed=0",
                                           "method=a2q,acc_bits=12,seed=0",
                                           "method=baseline,acc_bits=10,seed=0",
                                           "method=baseline,acc_bits=12,seed=0"]  # fmt: skip


def test_sweep_metric_is_one_per_sweep():
    assert rs.sweep_metric(SR_SWEEP_POINTS).key == "psnr"
    assert rs.sweep_metric(SWEEP_POINTS).key == "accuracy"  # old points name no metric
    assert rs.sweep_metric([]).key == "accuracy"
    # a failed point without figures takes no part
    assert rs.sweep_metric([*SR_SWEEP_POINTS, {"point": "x", "status": "failed"}]).key == "psnr"
    with pytest.raises(A2QError, match=r"sweep points mix metrics.*accuracy \(1: `method=a2q"):
        rs.sweep_metric([*SR_SWEEP_POINTS, P("a2q", 10, 90.0, 1000)])
    with pytest.raises(A2QError, match="mix metrics"):
        rs.sweep_findings({"points": SR_SWEEP_POINTS, "metric": "accuracy"})
    with pytest.raises(A2QError, match="unknown metric ssim"):
        rs.sweep_metric([{**SR_SWEEP_POINTS[0], "metric": "ssim"}])


def test_super_resolution_sweep_report(tmp_path):
    out = rs.render_sweep_report(make_sweep(tmp_path, SR_SWEEP_POINTS))
    assert out["missing"] == []
    md = out["md"].read_text()
    assert {p.name for p in out["figures"]} == {
        "fig_psnr_vs_p.png", "fig_psnr_vs_lut.png", "fig_lut_ratio.png"
    }  # fmt: skip
    assert "Metric: PSNR (luminance, per test image, dB)." in md
    assert "## PSNR vs target accumulator width P" in md and "## PSNR vs LUTs" in md
    assert "| method | P | seeds | PSNR mean dB | std |" in md
    assert "| A2Q | 10 | 2 | 29.20 | 0.28 |" in md
    assert "| baseline forced to P bits (wrap-around) | 10 | 1 | 12.50 | 0.00 |" in md
    assert "| method=a2q,acc_bits=12,seed=0 | A2Q | 12 | 8000 | 29.50 | yes |" in md
    # every point: the metric's columns with the bicubic reference
    assert ("| point | status | method | P | seed | float dB | bicubic dB | quant dB | HW dB | "
            "wrap dB |") in md  # fmt: skip
    assert "| method=baseline,acc_bits=10,seed=0 | ok | baseline | 10 | 0 | 30.00 | 28.00 | " \
           "29.90 | 29.90 | 12.50 |" in md  # fmt: skip
    assert "A2Q+ is below A2Q at 10 bits (29.10 dB vs 29.20 dB)" in md
    # equal throughput in PSNR: A2Q+ at 12 bits is 0.55 dB below float, not within 0.5 dB
    assert "## Equal throughput, equal PSNR" in md and "| rom | A2Q+ | - |" in md
    assert (
        "At 1024 cycles per frame, the smallest design without A2Q within 0.5 dB of its float "
        "PSNR is baseline@exact (`method=baseline,acc_bits=10,seed=0`, rom MACs, 16000 LUTs); no "
        "A2Q+ design is within 0.5 dB of its float PSNR; A2Q (`method=a2q,acc_bits=12,seed=0`, "
        "rom MACs, 8000 LUTs) is 2.00x smaller."
    ) in md
    assert "accuracy" not in md.lower() and " % " not in md
    assert_self_contained(out["html"].read_text())
    # mixed points are refused, naming the metrics
    make_sweep(tmp_path, [*SR_SWEEP_POINTS, P("a2q", 10, 90.0, 1000)])
    with pytest.raises(A2QError, match="sweep points mix metrics"):
        rs.render_sweep_report(tmp_path)
