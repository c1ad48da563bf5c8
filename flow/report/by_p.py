"""The methods of a sweep compared at each target accumulator width P: group statistics over
seeds (:func:`group_stats`), which method wins at each P and by how much
(:func:`method_winners`), and the data types the data-type method chose (:func:`data_types`).

At a width P the contenders are the methods that guarantee P (A2Q, A2Q+, the data-type bound)
and the baseline forced to P bits with two's-complement wrap-around (its ``wrap_<k>``), which
is what a baseline gives in a P-bit accumulator. A method that cannot build P at all (an
``infeasible`` point) is named as such.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from flow.metrics import Metric
from flow.report.document import Doc, num, with_unit
from flow.report.equal_throughput import ok_points

# (method, the point field that is its figure at P, label in the comparison)
CONTENDERS = (
    ("baseline", "wrap_{k}", "baseline (wrap-around at P)"),
    ("datatype", "quant_{k}", "data-type bound"),
    ("a2q", "quant_{k}", "A2Q"),
    ("a2q_plus", "quant_{k}", "A2Q+"),
)
# Means of figures of equal-sized test sets closer than this are a tie (rounding only).
TIE = 1e-9


@dataclass(frozen=True)
class GroupStat:
    """Mean, sample standard deviation (0 for one value) and count of one (method, P) group."""

    mean: float
    std: float
    n: int


def group_stats(points: list[dict], key: str) -> dict[tuple[str, int], GroupStat]:
    """``key`` of the successful points grouped by (method, acc_bits), over seeds."""
    groups: dict[tuple[str, int], list[float]] = {}
    for p in ok_points(points):
        v = num(p.get(key))
        if v is not None and p.get("method") is not None and num(p.get("acc_bits")) is not None:
            groups.setdefault((str(p["method"]), int(p["acc_bits"])), []).append(v)
    return {
        k: GroupStat(statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else 0.0, len(v))
        for k, v in sorted(groups.items())
    }


def method_winners(points: list[dict], metric: Metric) -> list[dict]:
    """One entry per P some contender has a figure at, in increasing P.

    Each has ``acc_bits``, ``figures`` (label -> mean figure over seeds, or None),
    ``luts`` (label -> mean LUTs of the exact-accumulator design, or None), ``infeasible``
    (labels of the methods that cannot build P), ``winner`` (among the methods that guarantee
    P, the label with the highest mean; ties joined by " = "), ``runner_up`` and ``margin``
    (winner minus the next guaranteed method, None when there is none), ``wrap_above`` (how
    far the baseline wrapped around at P scores above the winner on the test set, when it
    does: a figure without a guarantee) and ``statement``.
    """
    k = metric.key
    stats = {m: group_stats(points, field.format(k=k)) for m, field, _ in CONTENDERS}
    luts = group_stats(points, "lut")
    infeasible: dict[int, set[str]] = {}
    for p in points:
        if p.get("status") == "infeasible" and num(p.get("acc_bits")) is not None:
            infeasible.setdefault(int(p["acc_bits"]), set()).add(str(p.get("method")))
    widths = sorted({bits for s in stats.values() for (_, bits) in s} | set(infeasible))
    wrap_label = CONTENDERS[0][2]
    out = []
    for bits in widths:
        figures = {
            label: (s.mean if (s := stats[m].get((m, bits))) else None)
            for m, _, label in CONTENDERS
        }
        entry = {
            "acc_bits": bits,
            "figures": figures,
            "luts": {
                label: (s.mean if (s := luts.get((m, bits))) else None)
                for m, _, label in CONTENDERS
            },
            "infeasible": [label for m, _, label in CONTENDERS if m in infeasible.get(bits, set())],
            "winner": None,
            "runner_up": None,
            "margin": None,
            "wrap_above": None,
        }
        # highest first; ties keep the order of CONTENDERS
        ranked = sorted(
            ((v, label) for label, v in figures.items() if v is not None and label != wrap_label),
            key=lambda t: -t[0],
        )
        text = f"P={bits}: "
        if ranked:
            best = ranked[0][0]
            tied = [label for v, label in ranked if best - v <= TIE]
            rest = [(v, label) for v, label in ranked if best - v > TIE]
            entry["winner"] = " = ".join(tied)
            text += f"{entry['winner']} {'tie as' if len(tied) > 1 else 'is'} the best "
            text += f"guaranteed method with {with_unit(best, metric)}"
            if rest:
                entry["runner_up"], entry["margin"] = rest[0][1], best - rest[0][0]
                text += f", {entry['margin']:.2f} {metric.unit} above {rest[0][1]}"
                text += f" ({with_unit(rest[0][0], metric)})"
            wrap = figures[wrap_label]
            if wrap is not None and wrap - best > TIE:
                entry["wrap_above"] = wrap - best
                text += (
                    f"; the baseline wrapped around at {bits} bits scores "
                    f"{with_unit(wrap, metric)} on the test set, with no guarantee"
                )
        else:
            text += "no method that guarantees P has a figure"
        if entry["infeasible"]:
            text += f"; cannot build P={bits}: {', '.join(entry['infeasible'])}"
        entry["statement"] = text + "."
        out.append(entry)
    return out


def wins_finding(winners: list[dict]) -> dict:
    """How often each guaranteed method is best over the widths of :func:`method_winners`:
    ``wins`` (label -> the P it wins at, a tie counting for each), ``widths`` and
    ``statement``."""
    wins: dict[str, list[int]] = {}
    for w in winners:
        for label in (w["winner"] or "").split(" = "):
            if label:
                wins.setdefault(label, []).append(w["acc_bits"])
    widths = [w["acc_bits"] for w in winners if w["winner"]]
    if not widths:
        text = "No width has a figure of any method to compare."
    else:
        ranked = sorted(wins.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        text = (
            f"Best guaranteed method at each P ({len(widths)} widths, ties count for each): "
            + "; ".join(
                f"{label} at {len(ps)} (P = {', '.join(map(str, ps))})" for label, ps in ranked
            )
            + "."
        )
    return {"wins": wins, "widths": widths, "statement": text}


def data_types(points: list[dict]) -> list[dict]:
    """The (N, M) per layer of every successful data-type point: ``point``, ``acc_bits``,
    ``layers`` (name -> "N/M"), in increasing P."""
    rows = []
    for p in ok_points(points):
        if p.get("method") != "datatype" or not isinstance(p.get("data_types"), dict):
            continue
        layers = {
            name: f"{nm[0]}/{nm[1]}"
            for name, nm in p["data_types"].items()
            if isinstance(nm, list) and len(nm) == 2
        }
        rows.append({"point": p.get("point"), "acc_bits": p.get("acc_bits"), "layers": layers})
    return sorted(rows, key=lambda r: (num(r["acc_bits"]) or 0, str(r["point"])))


def winners_section(doc: Doc, points: list[dict], metric: Metric) -> list[dict]:
    """The report section: the best guaranteed method at each P with every contender's
    figure and LUTs, then the data types the data-type method chose. Returns
    :func:`method_winners`' entries."""
    winners = method_winners(points, metric)
    if not winners:
        return winners
    doc.heading("Which method wins at each P")
    doc.para(
        f"At each target width P, by mean test {metric.key} over seeds ({metric.unit}): the "
        "methods that guarantee P (the data-type bound, A2Q, A2Q+) and, for reference, the "
        "baseline with its accumulators wrapped around at P bits. The baseline's figure holds "
        "for this test set only: another input can overflow. The winner and its margin are "
        "among the guaranteed methods."
    )
    labels = [label for _, _, label in CONTENDERS]
    rows = [
        [
            w["acc_bits"],
            *(
                "infeasible" if label in w["infeasible"] else w["figures"][label]
                for label in labels
            ),
            w["winner"],
            w["margin"],
        ]
        for w in winners
    ]
    digits = {i: 2 for i in range(1, len(labels) + 3)}
    doc.table(["P", *labels, "best guaranteed", "margin"], rows, digits=digits)
    doc.bullets(w["statement"] for w in winners)
    if any(v is not None for w in winners for v in w["luts"].values()):
        doc.heading("LUTs at each P (exact accumulators)", 3)
        doc.table(
            ["P", "baseline", *labels[1:]],
            [[w["acc_bits"], *(w["luts"][label] for label in labels)] for w in winners],
            digits={i: 0 for i in range(1, len(labels) + 1)},
        )
    chosen = data_types(points)
    if chosen:
        doc.heading("Data types chosen by the data-type method", 3)
        doc.para("Input bits N / weight bits M per layer (unconstrained layers: the config's).")
        names = list(dict.fromkeys(n for r in chosen for n in r["layers"]))
        doc.table(
            ["point", "P", *names],
            [[r["point"], r["acc_bits"], *(r["layers"].get(n) for n in names)] for r in chosen],
        )
    return winners
