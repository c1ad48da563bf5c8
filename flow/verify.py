"""Independent verification of a compiled HW graph (no FINN code is used here).

- The integer executor (:class:`flow.executor.IntegerGraph`) runs the HW graph's integer
  semantics exactly in numpy, optionally wrapping chosen accumulators to P bits.
- Worst-case check: for every MAC layer (MVAU, VVAU) and output channel, the two input
  vectors that reach the extremes of the dot product (``bounds.worst_case_inputs``),
  evaluated in Python ints, must fit the hardware accumulator.
- Fidelity: FINN's Python execution of ``hw.onnx`` and our executor against the exported
  QONNX model on the test set (``verify.json``).
- Wrap-around study: accumulators forced to narrower widths, overflow events per layer and
  the accuracy wrap-around leaves (``overflow.json``) — the motivation for A2Q. The same file
  holds every residual add's and global pool's observed range against its datatype.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from flow import artifacts, bounds, ops
from flow.config import BuildConfig, LayerPlan, layer_plans
from flow.data.loading import load_data
from flow.errors import CompileError
from flow.executor import IntegerGraph, RunResult, execute_finn, image_nchw, tie_aware_argmax
from flow.metrics import PSNR, metric_for, score
from flow.passes import apply_host_tail, hw_layer_summary
from flow.util import save_npz

log = logging.getLogger(__name__)


def worst_case_check(summary: dict[str, dict]) -> list[dict]:
    """Per MAC node (MVAU, VVAU): do both worst-case input vectors of every channel fit?

    A channel is a column of the node's ``(K, channels)`` weights: an MVAU output or a VVAU
    (depthwise) channel over its kernel positions.
    """
    from qonnx.core.datatype import DataType

    rows = []
    for name, e in summary.items():
        if e["op_type"] not in ops.mac_op_types():
            continue
        idt = DataType[e["inputDataType"]]
        xmin, xmax = int(idt.min()), int(idt.max())
        bits = DataType[e["accDataType"]].bitwidth()
        lo_lim, hi_lim = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        worst_lo, worst_hi, bad = 0, 0, []
        for ch, col in enumerate(zip(*e["weights"], strict=True)):
            x_hi, x_lo = bounds.worst_case_inputs(col, xmin, xmax)
            hi = sum(q * x for q, x in zip(col, x_hi, strict=True))
            lo = sum(q * x for q, x in zip(col, x_lo, strict=True))
            worst_lo, worst_hi = min(worst_lo, lo), max(worst_hi, hi)
            if not lo_lim <= lo <= hi <= hi_lim:
                bad.append(ch)
        rows.append(
            {
                "node": name,
                "hw_acc_bits": bits,
                "channels": len(e["weights"][0]),
                "worst_min": worst_lo,
                "worst_max": worst_hi,
                "fits": not bad,
                "overflowing_channels": bad[:16],
            }
        )
    return rows


def fidelity(
    hw: np.ndarray,
    ref: np.ndarray,
    graph: IntegerGraph,
    host_tail: list[dict],
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray | None = None,
    max_pixel_fraction: float = 0.0,
) -> dict:
    """Compare FINN's execution of the HW graph (``hw``), our executor and the QONNX model
    (``ref``), as :func:`execute_finn` returns their outputs for ``x`` (``groups``: the source
    image of each super-resolution tile, for per-image PSNR).

    The HW graph must equal our integer executor exactly, and QONNX's class (or logits)
    exactly. An image may differ from QONNX's in up to ``max_pixel_fraction`` of its pixels:
    for an activation exactly halfway between two levels, QONNX's float32 rounding and FINN's
    integer threshold (derived from float scales) can decide differently, and one such tie
    changes a small patch of output pixels (found: one tie at 3.5 levels in a UNet tile, 139
    pixels off by up to 4).
    """
    ours = graph.run(x).outputs
    res = {
        "samples": int(len(x)),
        "hw_vs_integer_model_mismatches": int((hw != ours).any(axis=1).sum()),
    }
    label_out = graph.nodes[-1][1]["op_type"] == "LabelSelect"
    metric = metric_for(y)
    if metric is PSNR:
        # Pixels come out of the accelerator channels-last, integer, with scale 1.
        hw_out = image_nchw(apply_host_tail(host_tail, hw), graph.output_shape)
        ref_out = ref.reshape(hw_out.shape)
        diff = np.abs(hw_out - ref_out).reshape(len(x), -1)
        res.update(
            output="image",
            mismatches=int((diff.max(axis=1, initial=0) > 0).sum()),
            max_abs_error=float(diff.max(initial=0)),
            pixels=int(diff.size),
            mismatched_pixels=int((diff > 0).sum()),
            tolerance=(
                f"pixels equal to QONNX's, except at most {max_pixel_fraction:.2%} of them "
                "(an activation at a rounding tie may land one level apart in QONNX's float32 "
                "and FINN's integer thresholds)"
            ),
        )
    elif label_out:
        hw_out = hw.reshape(-1).astype(np.int64)
        ref_out, ties = tie_aware_argmax(ref)
        res.update(
            output="label",
            mismatches=int((hw_out != ref_out).sum()),
            top_ties=ties,
            tolerance=(
                "exact: class index from the HW graph vs argmax of the QONNX logits, logits "
                "equal up to float32 rounding counting as a tie won by the lowest index (as "
                "in the HW's integer LabelSelect and ONNX TopK)"
            ),
        )
    else:
        hw_out = apply_host_tail(host_tail, hw)
        ref_out = ref
        err = np.abs(hw_out - ref).max(axis=1)
        tol = 1e-5 * max(1.0, float(np.abs(ref).max()))
        res.update(
            output="logits",
            mismatches=int((err > tol).sum()),
            max_abs_error=float(err.max()),
            tolerance=f"|HW x host scale - QONNX| <= {tol:.3g} (float32 scaling at the output)",
        )
    res["metric"] = metric.key
    res[f"hw_{metric.key}"] = score(hw_out, y, groups)
    res[f"qonnx_{metric.key}"] = score(ref_out, y, groups)
    if metric is PSNR:
        close = res["mismatched_pixels"] <= max_pixel_fraction * res["pixels"]
    else:
        close = res["mismatches"] == 0
    res["ok"] = close and res["hw_vs_integer_model_mismatches"] == 0
    return res


def wrap_study(
    graph: IntegerGraph,
    summary: dict[str, dict],
    plans: list[LayerPlan],
    x: np.ndarray,
    y: np.ndarray,
    widths: list[int],
    groups: np.ndarray | None = None,
) -> list[dict]:
    """Force the policy layers' accumulators to each width P; count overflows, score the
    outputs (accuracy, or PSNR for images; the key is the metric's).

    The MAC nodes (MVAU and VVAU, graph order) are the config's layer plans, in order.
    """
    macs = graph.mac_nodes
    forced = {node: p for node, p in zip(macs, plans, strict=True) if p.policy_bits is not None}
    metric = metric_for(y)
    rows = []
    for bits in widths:
        res = graph.run(x, {node: bits for node in forced})
        out = image_nchw(res.outputs, graph.output_shape) if metric is PSNR else res.outputs
        rows.append(
            {
                "acc_bits": bits,
                "layers": {
                    forced[n].name: {
                        "overflow_events": res.overflow_events[n],
                        "dot_products": res.dot_products[n],
                        "exact_bits": summary[n]["exact_width"],
                    }
                    for n in forced
                },
                "overflow_events": sum(res.overflow_events.values()),
                metric.key: score(out, y, groups),
            }
        )
    return rows


def sum_ranges(graph: IntegerGraph, summary: dict[str, dict], res: RunResult) -> list[dict]:
    """Per node that sums integer streams (ElementwiseAdd, GlobalAccPool): observed output
    range vs its declared datatype."""
    from qonnx.core.datatype import DataType

    rows = []
    sums = [n for n, e in graph.nodes if ops.get(e["op_type"]).sum_terms(e) is not None]
    for name in sums:
        dt = DataType[summary[name]["out_dtypes"][0]]
        lo, hi = res.ranges.get(name, (0, 0))
        dmin, dmax = int(dt.min()), int(dt.max())
        rows.append(
            {
                "node": name,
                "op_type": summary[name]["op_type"],
                "datatype": dt.name,
                "datatype_min": dmin,
                "datatype_max": dmax,
                "observed_min": lo,
                "observed_max": hi,
                "fits": dmin <= lo and hi <= dmax,
            }
        )
    return rows


def run_verify(cfg: BuildConfig, build_dir: Path) -> dict:
    """The verify stage: write ``verify/verify.json`` and ``verify/overflow.json`` for the
    compiled build in ``build_dir``; return a summary."""
    hw_model = artifacts.HW_ONNX.read(build_dir)
    summary = hw_layer_summary(hw_model)
    graph = IntegerGraph(summary)
    ds = load_data(cfg)
    n = cfg.compile.verify_samples or len(ds.x_test)
    x, y = ds.x_test[:n], ds.y_test[:n]

    hw = execute_finn(hw_model, x)
    ref = execute_finn(artifacts.QONNX.read(build_dir), x)
    # The simulation stage compares its frames with these instead of executing both again.
    save_npz(artifacts.VERIFY_OUTPUTS.at(build_dir), hw=hw, qonnx=ref)
    fid = fidelity(
        hw,
        ref,
        graph,
        artifacts.HOST_TAIL.read(build_dir),
        x,
        y,
        ds.test_groups,
        cfg.export.max_mismatch_fraction,
    )
    artifacts.VERIFY.write(build_dir, fid)

    macs = graph.mac_nodes
    # The checks pair MAC nodes with layers in graph order, which a residual block may
    # change; the width table records which node computes which layer.
    by_name = {p.name: p for p in layer_plans(cfg)}
    node_layer = {r["node"]: r["name"] for r in artifacts.ACCUMULATORS.read(build_dir)}
    plans = [by_name[node_layer[node]] for node in macs if node in node_layer]
    if len(macs) != len(plans):
        raise CompileError(
            f"verify: the HW graph has {len(macs)} MAC nodes (MVAU/VVAU) but the config "
            f"plans {len(plans)} layers"
        )
    hw_bits = {name: int(summary[name]["accDataType"].removeprefix("INT")) for name in macs}
    at_hw = graph.run(x, hw_bits)
    worst = worst_case_check(summary)
    sums = sum_ranges(graph, summary, at_hw)
    targets = [p.policy_bits for p in plans if p.policy_bits is not None]
    widths = list(cfg.compile.wrap_bits) or (
        list(range(max(2, min(targets) - 4), max(targets) + 1)) if targets else []
    )
    study = wrap_study(graph, summary, plans, x, y, widths, ds.test_groups)
    overflow = {
        "worst_case": worst,
        "test_set_at_hw_widths": {
            plan.name: {
                "node": node,
                "op_type": summary[node]["op_type"],
                "hw_acc_bits": hw_bits[node],
                "overflow_events": at_hw.overflow_events[node],
                "dot_products": at_hw.dot_products[node],
            }
            for plan, node in zip(plans, macs, strict=True)
        },
        "sums": sums,
        "wrap_study": study,
        "metric": metric_for(y).key,
        "samples": int(len(x)),
    }
    artifacts.OVERFLOW.write(build_dir, overflow)
    worst_ok = all(r["fits"] for r in worst)
    sums_ok = all(r["fits"] for r in sums)
    ok = fid["ok"] and worst_ok and sums_ok and not any(at_hw.overflow_events.values())
    if not ok:
        log.warning("verification found problems: see %s", artifacts.VERIFY.at(build_dir).parent)
    return {
        "verify": fid,
        "worst_case_ok": worst_ok,
        "sums_ok": sums_ok,
        "overflow_events_at_hw_widths": sum(at_hw.overflow_events.values()),
        "ok": ok,
    }
