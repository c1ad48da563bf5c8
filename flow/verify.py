"""Independent verification of a compiled HW graph (no FINN code is used here).

- ``IntegerGraph`` executes the HW graph's integer semantics in numpy int64 (MVAU dot
  products, threshold counting, top-1), optionally wrapping chosen accumulators to P bits and
  counting the dot products that overflow.
- Worst-case check: for every MAC layer and output channel, the two input vectors that reach
  the extremes of the dot product (``bounds.worst_case_inputs``), evaluated in Python ints,
  must fit the hardware accumulator.
- Fidelity: FINN's Python execution of ``hw.onnx`` and our executor against the exported
  QONNX model on the test set (``verify.json``).
- Wrap-around study: accumulators forced to narrower widths, overflow events per layer and
  the accuracy wrap-around leaves (``overflow.json``) — the motivation for A2Q.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from flow import bounds
from flow.config import BuildConfig, LayerPlan
from flow.errors import CompileError
from flow.passes import apply_host_tail, hw_layer_summary
from flow.util import read_json, write_json

log = logging.getLogger(__name__)


def wrap(values: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement wrap-around of int64 values to ``bits`` bits."""
    half = 1 << (bits - 1)
    return ((values + half) % (1 << bits)) - half


def overflows(values: np.ndarray, bits: int) -> np.ndarray:
    """Mask of values outside the signed ``bits``-bit range."""
    half = 1 << (bits - 1)
    return (values < -half) | (values > half - 1)


@dataclass
class RunResult:
    """Outputs of an integer run and, per MAC node, its overflow count and dot-product count."""

    outputs: np.ndarray
    overflow_events: dict[str, int]
    dot_products: dict[str, int]
    accumulators: dict[str, np.ndarray]


class IntegerGraph:
    """The integer semantics of a chain of HW nodes, from ``hw_layer_summary``."""

    SUPPORTED = ("MVAU", "Thresholding", "LabelSelect")

    def __init__(self, summary: dict[str, dict]) -> None:
        self.nodes = list(summary.items())
        for name, e in self.nodes:
            if e["op_type"] not in self.SUPPORTED:
                raise CompileError(
                    f"verify: node {name} ({e['op_type']}) has no integer model; supported: "
                    f"{', '.join(self.SUPPORTED)}"
                )
        self._weights = {
            n: np.asarray(e["weights"], dtype=np.int64)
            for n, e in self.nodes
            if e["op_type"] == "MVAU"
        }
        self._thresholds = {
            n: np.asarray(e["thresholds"], dtype=np.int64)
            for n, e in self.nodes
            if e["op_type"] == "Thresholding"
        }

    @property
    def mac_nodes(self) -> list[str]:
        return [n for n, e in self.nodes if e["op_type"] == "MVAU"]

    def run(self, x: np.ndarray, acc_bits: dict[str, int] | None = None) -> RunResult:
        """Run a batch of integer inputs; ``acc_bits`` wraps those MVAU accumulators."""
        acc_bits = acc_bits or {}
        h = np.asarray(x, dtype=np.int64).reshape(len(x), -1)
        events, dots, accs = {}, {}, {}
        for name, e in self.nodes:
            op = e["op_type"]
            if op == "MVAU":
                acc = h @ self._weights[name]
                bits = acc_bits.get(name)
                dots[name] = int(acc.size)
                events[name] = int(overflows(acc, bits).sum()) if bits else 0
                h = wrap(acc, bits) if bits else acc
                accs[name] = h
            elif op == "Thresholding":
                t = self._thresholds[name]  # (C or 1, steps), ascending per channel
                h = (h[:, :, None] >= t[None, :, :]).sum(axis=2) + int(e["ActVal"])
            else:  # LabelSelect, k=1: first index of the maximum, like numpy argmax
                h = np.argmax(h, axis=1).reshape(-1, 1)
        return RunResult(h, events, dots, accs)


def worst_case_check(summary: dict[str, dict]) -> list[dict]:
    """Per MAC node: do both worst-case input vectors of every channel fit the accumulator?"""
    from qonnx.core.datatype import DataType

    rows = []
    for name, e in summary.items():
        if e["op_type"] != "MVAU":
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


def execute_finn(model: ModelWrapper, x: np.ndarray) -> np.ndarray:
    """Execute a HW or QONNX graph sample by sample with qonnx/FINN's Python execution."""
    from qonnx.core.onnx_exec import execute_onnx

    from flow.finn_compat import finn_api

    finn_api()  # registers FINN's custom ops for execute_onnx
    iname, oname = model.graph.input[0].name, model.graph.output[0].name
    shape = model.get_tensor_shape(iname)
    outs = [execute_onnx(model, {iname: xi.reshape(shape).astype(np.float32)})[oname] for xi in x]
    return np.concatenate([o.reshape(1, -1) for o in outs])


def fidelity(
    hw_model: ModelWrapper,
    qonnx_model: ModelWrapper,
    graph: IntegerGraph,
    host_tail: list[dict],
    x: np.ndarray,
    y: np.ndarray,
) -> dict:
    """Compare FINN's execution of the HW graph, our executor and the QONNX model."""
    hw = execute_finn(hw_model, x)
    ours = graph.run(x).outputs
    ref = execute_finn(qonnx_model, x)
    res = {
        "samples": int(len(x)),
        "hw_vs_integer_model_mismatches": int((hw != ours).any(axis=1).sum()),
    }
    label_out = graph.nodes[-1][1]["op_type"] == "LabelSelect"
    if label_out:
        hw_labels = hw.reshape(-1).astype(np.int64)
        ref_labels = ref.argmax(1)
        res.update(
            output="label",
            mismatches=int((hw_labels != ref_labels).sum()),
            tolerance="exact: class index from the HW graph vs argmax of the QONNX logits",
        )
    else:
        scaled = apply_host_tail(host_tail, hw)
        err = np.abs(scaled - ref).max(axis=1)
        tol = 1e-5 * max(1.0, float(np.abs(ref).max()))
        hw_labels = scaled.argmax(1)
        res.update(
            output="logits",
            mismatches=int((err > tol).sum()),
            max_abs_error=float(err.max()),
            tolerance=f"|HW x host scale - QONNX| <= {tol:.3g} (float32 scaling at the output)",
        )
    res["hw_accuracy"] = float(100.0 * (hw_labels == y).mean())
    res["qonnx_accuracy"] = float(100.0 * (ref.argmax(1) == y).mean())
    res["ok"] = res["mismatches"] == 0 and res["hw_vs_integer_model_mismatches"] == 0
    return res


def wrap_study(
    graph: IntegerGraph,
    summary: dict[str, dict],
    plans: list[LayerPlan],
    x: np.ndarray,
    y: np.ndarray,
    widths: list[int],
) -> list[dict]:
    """Force the policy layers' accumulators to each width P; count overflows, accuracy."""
    macs = graph.mac_nodes
    forced = {node: p for node, p in zip(macs, plans, strict=True) if p.policy_bits is not None}
    label_out = graph.nodes[-1][1]["op_type"] == "LabelSelect"
    rows = []
    for bits in widths:
        res = graph.run(x, {node: bits for node in forced})
        pred = res.outputs.reshape(-1) if label_out else res.outputs.argmax(1)
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
                "accuracy": float(100.0 * (pred == y).mean()),
            }
        )
    return rows


def run_verification(
    cfg: BuildConfig, qonnx_path: Path, out_dir: Path, plans: list[LayerPlan]
) -> dict:
    """Write ``verify.json`` and ``overflow.json`` for a compiled build; return a summary."""
    from flow.train import load_data

    hw_model = ModelWrapper(str(out_dir / "hw.onnx"))
    summary = hw_layer_summary(hw_model)
    graph = IntegerGraph(summary)
    ds = load_data(cfg)
    n = cfg.compile.verify_samples or len(ds.x_test)
    x, y = ds.x_test[:n], ds.y_test[:n]

    fid = fidelity(
        hw_model, ModelWrapper(str(qonnx_path)), graph, read_json(out_dir / "host_tail.json"), x, y
    )
    write_json(out_dir / "verify.json", fid)

    hw_bits = {
        name: int(summary[name]["accDataType"].removeprefix("INT")) for name in graph.mac_nodes
    }
    at_hw = graph.run(x, hw_bits)
    worst = worst_case_check(summary)
    targets = [p.policy_bits for p in plans if p.policy_bits is not None]
    widths = list(cfg.compile.wrap_bits) or (
        list(range(max(2, min(targets) - 4), max(targets) + 1)) if targets else []
    )
    study = wrap_study(graph, summary, plans, x, y, widths)
    overflow = {
        "worst_case": worst,
        "test_set_at_hw_widths": {
            plans[i].name: {
                "node": node,
                "hw_acc_bits": hw_bits[node],
                "overflow_events": at_hw.overflow_events[node],
                "dot_products": at_hw.dot_products[node],
            }
            for i, node in enumerate(graph.mac_nodes)
        },
        "wrap_study": study,
        "samples": int(len(x)),
    }
    write_json(out_dir / "overflow.json", overflow)
    ok = fid["ok"] and all(r["fits"] for r in worst) and not any(at_hw.overflow_events.values())
    if not ok:
        log.warning("compile verification found problems: see %s", out_dir)
    return {
        "verify": fid,
        "worst_case_ok": all(r["fits"] for r in worst),
        "overflow_events_at_hw_widths": sum(at_hw.overflow_events.values()),
        "ok": ok,
    }
