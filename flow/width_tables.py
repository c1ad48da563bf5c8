"""The width tables of a compiled HW graph: the guarantee chain of every MAC layer
(``accumulators.json``) and the exact sums of residual adds and global pools (``sums.json``).
"""

from __future__ import annotations

import numpy as np

from flow import bounds, ops
from flow.config import LayerPlan
from flow.errors import CompileError

# What keeps a guaranteed layer's dot products within its target, by method.
GUARANTEES = {
    "a2q": "A2Q L1 budget",
    "a2q_plus": "A2Q+ L1 budget",
    "datatype": "data-type bound",
}


def accumulator_table(
    summary: dict[str, dict],
    plans: list[LayerPlan] | None,
    layer_of: dict[str, LayerPlan],
    finn_widths: dict[str, str],
    pruned: dict[str, int] | None = None,
) -> list[dict]:
    """One row per MAC layer, in the config's layer order (graph order without a config):
    the guarantee chain data-type bound >= target >= exact == hw, its weight sparsity
    (:func:`weight_sparsity`) and the output channels the compile stage pruned (``MH`` is
    what is left, ``K`` the inputs left)."""
    macs = [(name, e) for name, e in summary.items() if e["op_type"] in ops.mac_op_types()]
    if plans:
        rank = {p.name: i for i, p in enumerate(plans)}
        macs.sort(key=lambda m: rank[layer_of[m[0]].name])
    rows = []
    for node, e in macs:
        plan = layer_of.get(node)
        idt = _dt(e["inputDataType"])
        wdt = _dt(e["weightDataType"])
        hw_bits = _dt(e["accDataType"])["bits"]
        k = e["MW"]
        nxt = [c for c in summary.values() if e["outputs"][0] in c["inputs"]]
        thr_bits = (
            _dt(nxt[0]["weightDataType"])["bits"]
            if nxt and nxt[0]["op_type"] == "Thresholding"
            else None
        )
        target = plan.acc_bits if plan else None
        exact = e["exact_width"]
        guaranteed = bool(target is not None and exact <= target and hw_bits == exact)
        zero_weights, zero_lanes = weight_sparsity(
            np.asarray(e["weights"]), int(e.get("PE") or 1), int(e.get("SIMD") or 1)
        )
        rows.append(
            {
                "name": plan.name if plan else node,
                "node": node,
                "op": e["op_type"],
                "K": k,
                "MH": e["MH"],
                "input_bits": idt["bits"],
                "input_signed": idt["signed"],
                "weight_bits": plan.weight_bits if plan else wdt["bits"],
                "datatype_bound_bits": bounds.datatype_bound_bits(
                    k, idt["bits"], plan.weight_bits if plan else wdt["bits"], idt["signed"]
                ),
                "target_bits": target,
                "exact_bits": exact,
                "exact_range": e["exact_range"],
                "hw_acc_bits": hw_bits,
                "finn_acc_bits": _dt(finn_widths[node])["bits"] if node in finn_widths else None,
                "threshold_bits": thr_bits,
                "guaranteed": guaranteed,
                "guarantee": GUARANTEES.get(plan.method) if plan and guaranteed else None,
                "PE": e.get("PE"),
                "SIMD": e.get("SIMD"),
                "zero_weight_fraction": zero_weights,
                "zero_lane_fraction": zero_lanes,
                "pruned_channels": (pruned or {}).get(node, 0),
            }
        )
    return rows


def weight_sparsity(w: np.ndarray, pe: int, simd: int) -> tuple[float, float]:
    """(fraction of zero weights, fraction of (PE, SIMD) lanes whose weight is zero in every
    fold) of a MAC layer's ``(K, channels)`` weights: SIMD lanes take ``K``, PE lanes the
    channels, lane ``(p, s)`` weight ``w[sf*SIMD + s, nf*PE + p]`` in fold ``(nf, sf)``.

    A zero lane is a multiplier the const MAC style does not build at all; a weight that is
    zero in some folds only saves table bits.
    """
    k, c = w.shape
    lanes = w.reshape(k // simd, simd, c // pe, pe) != 0  # (sf, s, nf, p)
    return float((w == 0).mean()), float((~lanes.any(axis=(0, 2))).mean())


def sums_table(summary: dict[str, dict]) -> list[dict]:
    """Residual adds and global pools: the exact range of their sums and the stream width."""
    rows = []
    for node, e in summary.items():
        terms = ops.get(e["op_type"], node=node, error=CompileError).sum_terms(e)
        if terms is None:
            continue
        ins = [_dt(d) for d in e["in_dtypes"]]
        out = _dt(e["out_dtypes"][0])
        rows.append(
            {
                "node": node,
                "op": e["op_type"],
                "inputs": [d["name"] for d in ins],
                "terms": terms,
                "hw_bits": out["bits"],
                "hw_type": out["name"],
                "PE": e.get("PE"),
            }
        )
    return rows


def _dt(name: str) -> dict:
    from qonnx.core.datatype import DataType

    dt = DataType[name]
    return {"name": name, "bits": dt.bitwidth(), "signed": dt.signed()}
