"""The op registry: every op has its template, an unknown op is named, and an op defined
outside ``flow/ops/`` (here, in this file) is picked up by the executor and the hardware
plan with no edit anywhere else."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from flow import ops
from flow.errors import A2QError, CompileError, HardwareError
from flow.executor import IntegerGraph
from flow.hardware import build_plan, plan_nodes, write_plan
from flow.hw.tools import run_tool, verilator
from flow.ops.base import ExecNode, HwNode, HwOp, PlanContext, Range, Stream, dtype_bits

IDENTITY_SV = """\
// An identity stream op of tests/test_ops.py: every word passes unchanged.
module stream_identity #(
    parameter int WIDTH = 8
) (
    /* verilator lint_off UNUSEDSIGNAL */
    input  logic             clk,
    input  logic             rst_n,
    /* verilator lint_on UNUSEDSIGNAL */
    input  logic             in_valid,
    output logic             in_ready,
    input  logic [WIDTH-1:0] in_data,
    output logic             out_valid,
    input  logic             out_ready,
    output logic [WIDTH-1:0] out_data
);
  assign out_valid = in_valid;
  assign in_ready = out_ready;
  assign out_data = in_data;
endmodule
"""


class StreamIdentity(HwOp):
    """A stream op that passes its input on unchanged, with a template of its own."""

    op_type = "StreamIdentity"
    template = "stream_identity"
    source = "nothing (a test op)"
    summary_attrs = ("NumChannels",)

    def __init__(self, path: Path) -> None:
        self.path = path

    def template_path(self) -> Path:
        return self.path

    def execute(self, node: ExecNode, ins: list[Stream]) -> tuple[np.ndarray, Range | None]:
        h, lo, hi = ins[0]
        return h, (lo, hi)

    def plan(self, e: dict, ctx: PlanContext) -> HwNode:
        bits, _ = dtype_bits(e["in_dtypes"][0])
        pe = int(e["PE"])
        params = {"WIDTH": bits * pe}
        return HwNode(ctx.name, self.op_type, ctx.layer, params, [(bits, pe)], [(bits, pe)])


@pytest.fixture
def identity(tmp_path: Path) -> Iterator[StreamIdentity]:
    path = tmp_path / "stream_identity.sv"
    path.write_text(IDENTITY_SV)
    op = ops.register(StreamIdentity(path))
    yield op
    ops.OPS.pop(op.op_type)


W = [[1, -2], [3, 0], [-1, 1], [2, 2]]  # (K=4, 2 channels): sums in [-6, 18], INT6
T = [[0, 5, 10], [-2, 2, 6]]


def _stream(op_type: str, src: str, dst: str, dtype: str, channels: int = 2) -> dict:
    return {
        "op_type": op_type,
        "inputs": [src],
        "outputs": [dst],
        "in_shapes": [[1, 2]],
        "out_shapes": [[1, channels]],
        "in_dtypes": [dtype],
        "PE": 2,
    }


def _summary(with_identity: bool) -> dict[str, dict]:
    """MVAU -> Thresholding -> (StreamIdentity ->) LabelSelect, by hand, as
    ``hw_layer_summary`` gives it."""
    mvau = {
        **_stream("MVAU", "x", "acc", "UINT2"),
        "in_shapes": [[1, 4]],
        "out_dtypes": ["INT6"],
        "inputDataType": "UINT2",
        "accDataType": "INT6",
        "SIMD": 4,
        "MW": 4,
        "MH": 2,
        "weights": W,
        "exact_width": 6,
    }
    thr = {
        **_stream("Thresholding", "acc", "act", "INT6"),
        "out_dtypes": ["UINT2"],
        "inputDataType": "INT6",
        "outputDataType": "UINT2",
        "NumChannels": 2,
        "numSteps": 3,
        "ActVal": 0,
        "thresholds": T,
    }
    ident = {**_stream("StreamIdentity", "act", "act_id", "UINT2"), "NumChannels": 2}
    label = {
        **_stream("LabelSelect", "act_id" if with_identity else "act", "y", "UINT2", 1),
        "out_dtypes": ["UINT1"],
        "inputDataType": "UINT2",
        "Labels": 2,
        "K": 1,
    }
    middle = {"StreamIdentity_0": ident} if with_identity else {}
    return {"MVAU_0": mvau, "Thresholding_0": thr, **middle, "LabelSelect_0": label}


def test_every_registered_op_has_its_template():
    assert {"MVAU", "VVAU", "FIFO", "DWC"} <= set(ops.OPS)
    assert ops.mac_op_types() == ("MVAU", "VVAU")
    for op in ops.OPS.values():
        path = op.template_path()
        assert path.is_file(), f"{op.op_type}: {path}"
        assert re.search(rf"^module {op.template}\b", path.read_text(), re.M), op.op_type
        assert op.is_glue or op.source, op.op_type


def test_unknown_op_is_named_with_the_supported_ones():
    with pytest.raises(A2QError, match=r"op type 'Softmax' has no template .*supported: MVAU, "):
        ops.get("Softmax")
    summary = _summary(with_identity=False)
    summary["MVAU_0"]["op_type"] = "HWSoftmax"
    with pytest.raises(CompileError, match=r"node MVAU_0 \(HWSoftmax\) has no template"):
        IntegerGraph(summary)
    with pytest.raises(HardwareError, match=r"node MVAU_0 \(HWSoftmax\).*flow/ops/README"):
        plan_nodes(summary, None, "exact", "h", 2)
    assert ops.find("MVAU_hls") is ops.get("MVAU") and ops.find("Softmax_hls") is None


def test_an_op_is_registered_once(identity: StreamIdentity, tmp_path: Path):
    with pytest.raises(A2QError, match="op StreamIdentity is registered twice"):
        ops.register(StreamIdentity(tmp_path / "other.sv"))


def test_op_defined_outside_the_package_runs_in_the_executor(identity: StreamIdentity):
    x = np.random.default_rng(0).integers(0, 4, size=(50, 4))
    graph = IntegerGraph(_summary(with_identity=True))
    assert [n for n, _ in graph.nodes][1:3] == ["Thresholding_0", "StreamIdentity_0"]
    res = graph.run(x)
    acts = ((x @ np.asarray(W))[:, :, None] >= np.asarray(T)[None]).sum(axis=2)
    assert res.outputs[:, 0].tolist() == acts.argmax(axis=1).tolist()
    assert res.ranges["StreamIdentity_0"] == res.ranges["Thresholding_0"]
    assert np.array_equal(IntegerGraph(_summary(with_identity=False)).run(x).outputs, res.outputs)


def test_op_defined_outside_the_package_is_planned_and_lints(
    identity: StreamIdentity, tmp_path: Path
):
    files, plan = build_plan(_summary(with_identity=True), ["fc0"], "exact", "test")
    assert files["stream_identity.sv"] == IDENTITY_SV
    node = next(n for n in plan["nodes"] if n["op_type"] == "StreamIdentity")
    assert node["template"] == "stream_identity" and node["params"] == {"WIDTH": 4}
    assert node["layer"] == "fc0"
    assert "stream_identity #(" in files["StreamIdentity_0.sv"]
    assert "StreamIdentity_0 u_StreamIdentity_0" in files["a2q_top.sv"]
    assert "stream_identity.sv" in plan["top_sources"]
    # The acc32 variant widens the accumulator and the thresholds on it, not the identity.
    wide = {n.name: n for n in plan_nodes(_summary(True), ["fc0"], "acc32", "h", 2)}
    assert wide["MVAU_0"].params["ACC_WIDTH"] == wide["Thresholding_0"].params["IN_WIDTH"] == 32
    assert wide["StreamIdentity_0"].params == {"WIDTH": 4}
    folder = tmp_path / "exact"
    write_plan(files, plan, folder)
    args = [verilator(), "--lint-only", "-Wall", "--top-module", plan["top"]]
    run_tool([*args, *plan["top_sources"]], folder, tmp_path / "lint.log", 120)
