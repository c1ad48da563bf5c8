"""Sweeps: planning, a tiny sweep end to end, failed points recorded."""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path

import pytest
import yaml

from flow import sweep as sw
from flow.errors import A2QError, ConfigError
from flow.sweep import Point, group_rows, load_sweep, plan_points, point_rows, run_sweep, to_csv
from flow.util import write_json
from tests.conftest import TINY, finish_stages, write_config

ESPCN = Path(__file__).resolve().parents[1] / "configs" / "espcn_samples.yaml"


def _sweep(tmp_path, axes, until="verify", extra=None):
    write_config(tmp_path, copy.deepcopy(TINY), "base.yaml")
    data = {"name": "t", "base": "base.yaml", "axes": axes, "until": until, **(extra or {})}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_baseline_is_built_once_and_covers_every_width():
    points = plan_points({"method": ["baseline", "a2q"], "acc_bits": [10, 12], "seed": [0, 1]}, [])
    base = [p for p in points if p.values["method"] == "baseline"]
    assert len(base) == 2 and all(p.covers_bits == [10, 12] for p in base)
    assert "compile.wrap_bits=[10, 12]" in base[0].overrides
    assert len(points) == 2 + 4


def test_every_point_is_validated_before_running(tmp_path):
    path = _sweep(tmp_path, {"method": ["a2q"], "acc_bits": [5, 12]})
    with pytest.raises(
        ConfigError,
        match=r"point method=a2q,acc_bits=5: .*smallest P that "
        r"does is 6",
    ):
        load_sweep(path)
    bad = _sweep(tmp_path, {"method": ["a2q"]}, extra={"jobs": 2})
    with pytest.raises(ConfigError, match="jobs: unknown key"):
        load_sweep(bad)


def test_tiny_sweep_end_to_end_and_failed_point(tmp_path):
    path = _sweep(
        tmp_path,
        {"method": ["baseline", "a2q_plus"], "acc_bits": [11, 12], "export.atol": [0.0001, 0.0]},
    )
    summary = run_sweep(path, tmp_path / "build", jobs=2, quiet=True)
    rows = {(r["method"], r["acc_bits"], r["export.atol"]): r for r in summary["points"]}
    assert len(rows) == 8  # 2 baseline builds (each covering 2 widths) + 4 A2Q+ builds
    ok = [r for r in rows.values() if r["export.atol"] > 0]
    failed = [r for r in rows.values() if r["export.atol"] == 0]
    assert all(r["status"] == "ok" for r in ok)
    # the resolved config's folding target and MAC style (no hardware stage ran: no MACs)
    assert all((r["cycles_per_frame"], r["mac_style"]) == (1024, "rom") for r in ok)
    assert all(r["macs_per_cycle"] is None and r["sim_cycles_per_frame"] is None for r in ok)
    # atol 0 makes the export's QONNX-vs-Brevitas check fail: recorded, the others went on.
    assert all(r["status"] == "failed" for r in failed)
    assert all("export check failed" in r["error"] for r in failed)
    b11, b12 = rows[("baseline", 11, 0.0001)], rows[("baseline", 12, 0.0001)]
    assert b11["build_dir"] == b12["build_dir"]  # one baseline build for both widths
    assert b11["wrap_accuracy"] is not None and b12["wrap_accuracy"] is not None
    a12 = rows[("a2q_plus", 12, 0.0001)]
    assert a12["wrap_accuracy"] is None and a12["max_exact_bits"] is not None
    assert a12["exact_bits"]["fc1"] <= 12
    out = tmp_path / "build" / "sweeps" / "t"
    assert json.loads((out / "summary.json").read_text())["points"] == summary["points"]
    with open(out / "summary.csv") as f:
        assert len(list(csv.DictReader(f))) == 8
    groups = {(g["method"], g["acc_bits"]): g for g in summary["groups"]}
    assert groups[("a2q_plus", 12)]["seeds"] == 1
    # a classification sweep: accuracy keys, as before, and the metric named
    assert summary["metric"] == "accuracy" and all(r["metric"] == "accuracy" for r in rows.values())
    assert "accuracy_mean" in groups[("a2q_plus", 12)]
    assert not any(k.endswith("_psnr") for r in rows.values() for k in r)


# --------------------------------------------------------------- super-resolution sweeps


def _sr_build(root: Path, name: str = "b") -> Path:
    """The stage files a super-resolution build writes that a sweep row reads."""
    build = root / name
    write_json(build / "train" / "metrics.json", {
        "metric": "psnr", "float_psnr": 27.5, "quant_psnr": 27.25, "bicubic_psnr": 26.0,
        "layers": [{"name": "conv1", "sparsity": 0.25}]})  # fmt: skip
    write_json(build / "compile" / "accumulators.json", [{"name": "conv1", "exact_bits": 13}])
    write_json(build / "verify" / "verify.json", {"metric": "psnr", "hw_psnr": 27.2})
    write_json(build / "verify" / "overflow.json", {"metric": "psnr", "wrap_study": [
        {"acc_bits": 9, "psnr": 16.5, "overflow_events": 59197},
        {"acc_bits": 10, "psnr": 27.1, "overflow_events": 2}]})  # fmt: skip
    return finish_stages(build)


OK = {"status": "ok", "error": None, "seconds": 12.0}


def test_super_resolution_rows_carry_the_psnr_keys(tmp_path):
    base = Point("method=baseline,acc_bits=10", {"method": "baseline", "acc_bits": 10}, [],
                 [9, 10])  # fmt: skip
    rows = point_rows(base, _sr_build(tmp_path), OK, "psnr")
    assert [r["acc_bits"] for r in rows] == [9, 10]
    for r in rows:
        assert r["metric"] == "psnr"
        assert (r["float_psnr"], r["quant_psnr"], r["hw_psnr"], r["bicubic_psnr"]) == (
            27.5, 27.25, 27.2, 26.0)  # fmt: skip
        assert not any("accuracy" in k for k in r)
    assert [r["wrap_psnr"] for r in rows] == [16.5, 27.1]
    a2q = Point("method=a2q,acc_bits=10", {"method": "a2q", "acc_bits": 10}, [], [10])
    (row,) = point_rows(a2q, _sr_build(tmp_path, "a"), OK, "psnr")
    assert row["wrap_psnr"] is None and row["max_exact_bits"] == 13
    # a build that failed before writing anything still has the sweep's keys
    failed = {"status": "failed", "error": "boom", "seconds": 1.0}
    (bad,) = point_rows(a2q, tmp_path / "nothing", failed, "psnr")
    assert bad["metric"] == "psnr" and bad["quant_psnr"] is None and "quant_accuracy" not in bad
    # group means and the CSV are in the metric's keys
    groups = {(g["method"], g["acc_bits"]): g for g in group_rows([*rows, row, bad])}
    assert set(groups) == {("baseline", 9), ("baseline", 10), ("a2q", 10)}  # failed: no group
    assert groups[("baseline", 9)]["psnr_mean"] == 27.25
    assert groups[("baseline", 9)]["psnr_std"] == 0.0
    assert groups[("baseline", 9)]["wrap_psnr_mean"] == 16.5
    assert groups[("a2q", 10)]["wrap_psnr_mean"] is None
    assert not any("accuracy" in k for g in groups.values() for k in g)
    table = list(csv.DictReader(io.StringIO(to_csv([*rows, row, bad]))))
    assert list(table[0])[5:11] == ["float_psnr", "bicubic_psnr", "quant_psnr", "hw_psnr",
                                    "wrap_psnr", "max_exact_bits"]  # fmt: skip
    assert table[0]["wrap_psnr"] == "16.5" and table[0]["bicubic_psnr"] == "26.0"
    assert table[3]["status"] == "failed" and table[3]["quant_psnr"] == ""


def test_old_builds_without_a_metric_are_accuracy(tmp_path):
    build = tmp_path / "old"
    write_json(build / "train" / "metrics.json", {"float_accuracy": 98.0, "quant_accuracy": 97.0})
    write_json(build / "verify" / "overflow.json",
               {"wrap_study": [{"acc_bits": 10, "accuracy": 91.0}]})  # fmt: skip
    point = Point("p", {"method": "baseline", "acc_bits": 10}, [], [10])
    finish_stages(build)
    (row,) = point_rows(point, build, OK)
    assert row["metric"] == "accuracy" and row["quant_accuracy"] == 97.0
    assert row["wrap_accuracy"] == 91.0 and "bicubic_psnr" not in row
    assert to_csv([row]).splitlines()[0] == ",".join(sw.CSV_COLUMNS)


def _res(lut, ff, bram36):
    return {"lut": lut, "lutram": 0, "ff": ff, "bram36": bram36, "dsp": 0}


def test_rows_carry_throughput_and_mac_figures(tmp_path):
    build = tmp_path / "b"
    folding = {"target_cycles_per_frame": None, "fps": 97700.0, "layers": {}}
    build.mkdir()
    (build / "config.yaml").write_text(yaml.safe_dump({
        "name": "b", "compile": {"folding": folding},
        "hardware": {"mac_style": "rom", "layers": {"fc1": {"mac_style": "const"}}}}))  # fmt: skip
    write_json(build / "hardware" / "exact" / "plan.json", {"nodes": [
        {"name": "MVAU_0", "op_type": "MVAU", "layer": "fc0", "mac_style": "rom",
         "params": {"MW": 64, "MH": 32, "PE": 2, "SIMD": 8}},
        {"name": "Thresholding_0", "op_type": "Thresholding", "layer": "fc0",
         "params": {"PE": 2}},  # not a MAC: its PE takes no part
        {"name": "MVAU_1", "op_type": "MVAU_hls", "layer": "fc1", "mac_style": "const",
         "params": {"MW": 32, "MH": 10, "PE": 1, "SIMD": 4}},
        {"name": "VVAU_0", "op_type": "VVAU", "layer": "dw", "params": {"CHANNELS": 8, "PE": 4}},
    ]})  # fmt: skip
    write_json(build / "sim" / "sim.json", {
        "metric": "accuracy", "accuracy": 97.0, "frames": 10, "mismatches": 0, "bit_exact": True,
        "latency_cycles": 2000, "cycles_per_frame": 1023.5, "clock_mhz": 100.0, "fps": 97704.0,
        "worst_case_ok": True})  # fmt: skip
    write_json(build / "synth" / "synth.json", {"flow": "yosys", "part": "xc7z020", "variants": {
        "exact": {"layers": {}, "top": _res(900, 700, 2)},
        "acc32": {"layers": {}, "top": _res(1500, 1100, 3)}}})  # fmt: skip
    point = Point("p", {"method": "baseline", "acc_bits": 12, "mac_style": "rom"}, [], [10, 12])
    finish_stages(build)
    rows = point_rows(point, build, OK)
    for r in rows:
        assert (r["lut"], r["ff"], r["bram36"]) == (900, 700, 2)
        assert (r["lut_acc32"], r["ff_acc32"], r["bram36_acc32"]) == (1500, 1100, 3)
        # folded by fps: no target, the simulated figure stands in
        assert r["cycles_per_frame"] == r["sim_cycles_per_frame"] == 1023.5
        assert r["macs_per_cycle"] == 2 * 8 + 1 * 4 + 4  # MVAU, MVAU_hls, VVAU (no SIMD)
        assert r["mac_styles"] == {"fc0": "rom", "fc1": "const", "dw": "rom"}
        assert r["mac_style"] == "rom"
    table = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert table[0]["cycles_per_frame"] == "1023.5" and table[0]["macs_per_cycle"] == "24"
    assert table[1]["bram36_acc32"] == "3" and table[1]["mac_style"] == "rom"
    # a cycles-per-frame target is the row's throughput, whatever the simulation measured
    folding["target_cycles_per_frame"], folding["fps"] = 1024, None
    (build / "config.yaml").write_text(
        yaml.safe_dump(
            {"name": "b", "compile": {"folding": folding}, "hardware": {"mac_style": "const"}}
        )
    )
    (row, _) = point_rows(point, build, OK)
    assert (row["cycles_per_frame"], row["sim_cycles_per_frame"]) == (1024, 1023.5)
    assert row["mac_style"] == "const"
    # nothing built: no figures, and the point's own style stands for the config's
    (bad, _) = point_rows(point, tmp_path / "nothing", {**OK, "status": "failed"})
    assert bad["mac_style"] == "rom" and bad["macs_per_cycle"] is None
    assert bad["cycles_per_frame"] is None and bad["mac_styles"] == {}


def test_cycles_and_mac_style_are_sweep_axes(tmp_path):
    sweep = load_sweep(_sweep(tmp_path, {"method": ["a2q"], "cycles": [1024, 1],
                                         "mac_style": ["rom", "const"]}))  # fmt: skip
    assert [p.id for p in sweep.points] == [
        "method=a2q,cycles=1024,mac_style=rom", "method=a2q,cycles=1024,mac_style=const",
        "method=a2q,cycles=1,mac_style=rom", "method=a2q,cycles=1,mac_style=const"]  # fmt: skip
    assert sweep.points[3].overrides == [
        "quant.method=a2q", "compile.folding.target_cycles_per_frame=1",
        "hardware.mac_style=const"]  # fmt: skip


def test_list_valued_axes_make_points(tmp_path):
    sweep = load_sweep(_sweep(tmp_path, {"model.hidden": [[32, 16], [8]]}))
    assert [p.id for p in sweep.points] == ["model.hidden=[32, 16]", "model.hidden=[8]"]
    assert [c.name for c in sweep.configs.values()] == ["t__model.hidden32x16", "t__model.hidden8"]
    assert [c.model.hidden for c in sweep.configs.values()] == [[32, 16], [8]]


def test_rows_of_two_metrics_are_refused():
    rows = [{"point": "a", "metric": "psnr", "status": "ok", "quant_psnr": 20.0},
            {"point": "b", "status": "ok", "quant_accuracy": 90.0}]  # fmt: skip
    with pytest.raises(A2QError, match=r"sweep rows mix metrics \(accuracy: b; psnr: a\)"):
        group_rows(rows)
    with pytest.raises(A2QError, match="mix metrics"):
        to_csv(rows)


def test_super_resolution_sweep_is_loaded_with_its_metric(tmp_path, monkeypatch):
    data = {"name": "sr", "base": str(ESPCN),
            "axes": {"method": ["baseline", "a2q_plus"], "acc_bits": [12, 13]}}  # fmt: skip
    path = tmp_path / "sr.yaml"
    path.write_text(yaml.safe_dump(data))
    assert load_sweep(path).metric == "psnr"
    assert load_sweep(_sweep(tmp_path, {"method": ["a2q"], "acc_bits": [12]})).metric == "accuracy"
    # points that would be scored by different metrics are refused before anything runs
    monkeypatch.setattr(sw, "is_superres", lambda cfg: cfg.quant.acc_bits == 13)
    with pytest.raises(
        ConfigError, match=r"points mix metrics \(accuracy: .*; psnr: .*acc_bits=13"
    ):
        load_sweep(path)


SR_TINY = {
    "name": "sr_tiny",
    "seed": 0,
    "data": {"dataset": "samples", "upscale": 2, "tile": 8, "patches": 8, "test_tiles": 4},
    "model": {"arch": "espcn", "channels": [4, 4, 4], "weight_bits": 4, "act_bits": 4,
              "edge_weight_bits": 8},
    "quant": {"method": "a2q_plus", "acc_bits": 13, "first_layer": "unconstrained",
              "last_layer": "unconstrained"},
    "train": {"float_epochs": 1, "qat_epochs": 1, "batch_size": 16, "threads": 1},
    "export": {"atol": 0.5},
    "compile": {"top_k": False},
}  # fmt: skip


@pytest.mark.slow
def test_tiny_super_resolution_sweep_end_to_end(tmp_path):
    from flow.report.build_report import render_build_report
    from flow.report.sweep_report import render_sweep_report

    write_config(tmp_path, copy.deepcopy(SR_TINY), "base.yaml")
    data = {"name": "sr", "base": "base.yaml", "until": "verify",
            "axes": {"method": ["baseline", "a2q_plus"], "acc_bits": [11, 13]}}  # fmt: skip
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    summary = run_sweep(path, tmp_path / "build", jobs=3, quiet=True)
    assert summary["metric"] == "psnr"
    rows = {(r["method"], r["acc_bits"]): r for r in summary["points"]}
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows.values())
    for r in rows.values():
        assert r["metric"] == "psnr" and r["quant_psnr"] > 0 and r["bicubic_psnr"] > 0
        assert not any("accuracy" in k for k in r)
    assert rows[("baseline", 11)]["wrap_psnr"] is not None
    assert rows[("a2q_plus", 11)]["wrap_psnr"] is None
    assert {"psnr_mean", "wrap_psnr_mean"} <= set(summary["groups"][0])
    out = tmp_path / "build" / "sweeps" / "sr"
    report = render_sweep_report(out)
    assert [f.name for f in report["figures"]] == ["fig_psnr_vs_p.png"]
    assert "PSNR mean dB" in report["md"].read_text()
    build = render_build_report(Path(rows[("a2q_plus", 13)]["build_dir"]))
    assert "fig_examples.png" in [f.name for f in build["figures"]]
    assert "| bicubic interpolation (reference) |" in build["md"].read_text()


def test_shipped_sweeps_load():
    sweeps = sorted((Path(__file__).resolve().parents[1] / "configs" / "sweeps").glob("*.yaml"))
    assert len(sweeps) >= 7
    for path in sweeps:
        sweep = load_sweep(path)  # every point's config validated
        assert sweep.points and not [p.id for p in sweep.points if p.infeasible], path.name
    four = load_sweep(sweeps[0].parent / "cnv_digits.yaml")
    assert {p.values["method"] for p in four.points} == {"baseline", "datatype", "a2q", "a2q_plus"}
