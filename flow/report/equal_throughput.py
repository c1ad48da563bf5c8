"""The equal-throughput, equal-accuracy comparison of a sweep's designs: how much smaller the
smallest A2Q+ (and A2Q) design is than the smallest design without A2Q (baseline with 32-bit
or exact accumulators) at the same cycles per frame, within :data:`NEAR_FLOAT` of float
quality, per MAC style and across styles (:func:`equal_throughput`), and its report section.
"""

from __future__ import annotations

from collections.abc import Iterable

from flow.metrics import Metric
from flow.report.document import SYNTH_FLOW_NOTE, Doc, Wording, fmt, num, wording

# How close to its own float figure a point must be to count as "near float", per metric:
# accuracy in percentage points, PSNR in dB.
NEAR_FLOAT = {"accuracy": 1.0, "psnr": 0.5}


def ok_points(points: Iterable[dict]) -> list[dict]:
    """The points that succeeded (a point without a status is one)."""
    return [p for p in points if isinstance(p, dict) and p.get("status", "ok") == "ok"]


# The kinds of design compared at equal throughput: (kind, method, synthesized variant).
DESIGN_KINDS = (
    ("baseline@32", "baseline", "acc32"),
    ("baseline@exact", "baseline", "exact"),
    ("A2Q", "a2q", "exact"),
    ("A2Q+", "a2q_plus", "exact"),
    ("data-type", "datatype", "exact"),
)
# The ``mac_style`` of the entries that compare the designs of every MAC style.
ANY_STYLE = "any"


def equal_throughput(points: Iterable[dict], metric: Metric) -> list[dict]:
    """The smallest design of each kind at equal throughput and near-float quality.

    The successful points with a ``cycles_per_frame`` are grouped by (``cycles_per_frame``,
    ``mac_style``) and, for the cross-style view, by ``cycles_per_frame`` alone (``mac_style``
    :data:`ANY_STYLE`); a baseline build's rows (one per width it covers, same hardware) are
    one design. In each group every kind of :data:`DESIGN_KINDS` gets its design with the
    fewest LUTs whose ``hw_<k>`` (else ``quant_<k>``) is within ``NEAR_FLOAT[k]`` of its own
    ``float_<k>``; ``baseline@32`` is a baseline design with its acc32 figures.

    One entry per group and kind, in that order: ``cycles_per_frame``, ``mac_style``,
    ``kind``, ``point``, ``design_style`` (the design's ``mac_style``), ``acc_bits`` (32 for
    ``baseline@32``, the widest exact accumulator for ``baseline@exact``, the target P
    otherwise), ``<k>``, ``float_<k>``, ``lut``, ``ff``, ``bram36``, ``lut_per_mac_per_cycle``,
    ``ratio_vs_best_baseline`` (LUTs of the smaller of the two baseline kinds / ``lut``: above
    1 is smaller than the baseline), ``ratio_vs_baseline32``, ``no_more_bram`` (``bram36`` at
    most that baseline's) and ``reason`` (why ``lut`` is None: no design qualified).
    """
    designs: dict[str, dict] = {}
    for p in sorted(ok_points(points), key=lambda p: num(p.get("acc_bits")) or 0):
        if num(p.get("cycles_per_frame")) is not None:
            designs[str(p.get("build_dir") or p.get("point"))] = p  # the widest row stays
    groups: dict[tuple, list[dict]] = {}
    for p in designs.values():
        for style in (p.get("mac_style"), ANY_STYLE):
            groups.setdefault((p["cycles_per_frame"], style), []).append(p)
    # The data-type method takes part only in sweeps that have it (older sweeps keep their table).
    present = {p.get("method") for p in designs.values()}
    kinds = [k for k in DESIGN_KINDS if k[1] != "datatype" or "datatype" in present]
    out = []
    for (cycles, style), group in sorted(
        groups.items(), key=lambda g: (g[0][0], g[0][1] == ANY_STYLE, str(g[0][1]))
    ):
        entries = [
            {"cycles_per_frame": cycles, "mac_style": style, "kind": kind,
             **_smallest(group, kind, method, variant, metric)}
            for kind, method, variant in kinds
        ]  # fmt: skip
        # the two baseline kinds come first in DESIGN_KINDS
        best = min((e for e in entries[:2] if e["lut"]), key=lambda e: e["lut"], default={})
        for e in entries:
            e["ratio_vs_best_baseline"] = _ratio(best.get("lut"), e["lut"])
            e["ratio_vs_baseline32"] = _ratio(entries[0]["lut"], e["lut"])
            bram = (e["bram36"], best.get("bram36"))
            e["no_more_bram"] = None if None in bram else bram[0] <= bram[1]
        out += entries
    return out


def _smallest(group: list[dict], kind: str, method: str, variant: str, metric: Metric) -> dict:
    """The fewest-LUT near-float design of one kind (the fields of :func:`equal_throughput`)."""
    k, w, limit = metric.key, wording(metric), NEAR_FLOAT[metric.key]
    fig = {r: f"{r}_acc32" if variant == "acc32" else r for r in ("lut", "ff", "bram36")}
    mine = [p for p in group if p.get("method") == method]
    near, synthesized = [], False
    for p in mine:
        hw, flt, lut = (num(p.get(f)) for f in (f"hw_{k}", f"float_{k}", fig["lut"]))
        value = hw if hw is not None else num(p.get(f"quant_{k}"))
        synthesized |= lut is not None
        if None not in (value, flt, lut) and flt - value <= limit + 1e-9:
            near.append(((lut, -value, str(p.get("point"))), p, value))
    if not near:
        if synthesized:
            reason = f"no {kind} design within {limit:g} {w.near} of its float {w.noun}"
        elif mine:
            reason = f"no {kind} point with {variant} LUT figures"
        else:
            reason = f"no successful {kind} point"
        return {**dict.fromkeys(("point", "design_style", "acc_bits", k, f"float_{k}", "lut",
                                 "ff", "bram36", "lut_per_mac_per_cycle")),
                "reason": reason}  # fmt: skip
    (lut, _, _), p, value = min(near, key=lambda t: t[0])
    macs = num(p.get("macs_per_cycle"))
    bits = p.get("max_exact_bits") if method == "baseline" else p.get("acc_bits")
    return {
        "point": p.get("point"),
        "design_style": p.get("mac_style"),
        "acc_bits": 32 if variant == "acc32" else bits,
        k: value,
        f"float_{k}": p.get(f"float_{k}"),
        "lut": p.get(fig["lut"]),
        "ff": p.get(fig["ff"]),
        "bram36": p.get(fig["bram36"]),
        "lut_per_mac_per_cycle": lut / macs if macs else None,
        "reason": None,
    }


def _ratio(reference: float | None, lut: float | None) -> float | None:
    """``reference / lut`` (4 decimals), or None when either is missing or 0."""
    return round(reference / lut, 4) if reference and lut else None


def equal_throughput_section(doc: Doc, entries: list[dict], metric: Metric) -> None:
    """One table per throughput target of :func:`equal_throughput`'s ``entries``, and what its
    cross-style view says about A2Q+ and A2Q."""
    k, w = metric.key, wording(metric)
    near = f"within {NEAR_FLOAT[k]:g} {w.near} of"
    doc.heading(f"Equal throughput, equal {w.noun}")
    if not entries:
        doc.note_missing(
            "points[].cycles_per_frame",
            "cycles per frame of the successful points (summarized before sweeps recorded them)",
            f"the smallest design of each kind at each throughput, {near} float {w.noun}",
        )
        return
    doc.para(
        f"At each throughput target (cycles per frame) and MAC style: the design of each kind "
        f"with the fewest LUTs whose {w.noun} is {near} its float {w.noun}. baseline@32 is a "
        "baseline design with 32-bit accumulators, baseline@exact the same with exact ones. "
        "Ratios are the LUTs of the other design over this one's (above 1: this design is "
        f"smaller); the best baseline is the smaller of the two. Where a target has designs of "
        f"more than one MAC style, the `{ANY_STYLE}` rows are the best of every style, and the "
        "sentence under the table is about them."
    )
    columns = [("mac_style", "MAC style"), ("kind", "kind"), ("point", "point"),
               ("acc_bits", "acc bits"), (k, w.column), ("lut", "LUT"), ("ff", "FF"),
               ("bram36", "BRAM36"), ("lut_per_mac_per_cycle", "LUT per MAC/cycle"),
               ("ratio_vs_best_baseline", "vs best baseline"),
               ("ratio_vs_baseline32", "vs baseline@32"), ("no_more_bram", "BRAM <= baseline"),
               ("reason", "note")]  # fmt: skip
    digits = {k: 2, "lut_per_mac_per_cycle": 2, "ratio_vs_best_baseline": 2,
              "ratio_vs_baseline32": 2}  # fmt: skip
    for cycles in sorted({e["cycles_per_frame"] for e in entries}):
        at = [e for e in entries if e["cycles_per_frame"] == cycles]
        view = [e for e in at if e["mac_style"] == ANY_STYLE]
        styles = [e for e in at if e["mac_style"] != ANY_STYLE]
        if len(styles) > len(view):  # more than one style: their best too
            styles += [{**e, "mac_style": f"{ANY_STYLE} ({fmt(e['design_style'])})"} for e in view]
        doc.heading(_per_frame(cycles), 3)
        doc.records(styles, columns, digits)
        doc.para(_equal_throughput_sentence(view, near, w))
    doc.para(SYNTH_FLOW_NOTE)


def _equal_throughput_sentence(view: list[dict], near: str, w: Wording) -> str:
    """What the cross-style view of one throughput target says about A2Q+ and A2Q."""
    by = {e["kind"]: e for e in view}
    at = f"At {_per_frame(view[0]['cycles_per_frame'])}"
    base = [by[kind] for kind in ("baseline@32", "baseline@exact") if by[kind]["lut"]]
    if not base:
        return (
            f"{at} no baseline design is {near} its float {w.noun}: A2Q and A2Q+ have nothing "
            "to be compared with."
        )
    best = min(base, key=lambda e: e["lut"])
    clauses = []
    for kind in [k for k in ("A2Q+", "A2Q", "data-type") if k in by]:
        e, ratio = by[kind], by[kind]["ratio_vs_best_baseline"]
        if ratio is None:
            clauses.append(f"no {kind} design is {near} its float {w.noun}")
        elif ratio > 1:
            clauses.append(f"{kind} ({_design(e)}) is {ratio:.2f}x smaller")
        else:
            clauses.append(
                f"{kind} does not pay: its smallest design ({_design(e)}) takes "
                f"{1 / ratio:.2f}x the LUTs of that baseline"
            )
    return (
        f"{at}, the smallest design without A2Q {near} its float {w.noun} is {best['kind']} "
        f"({_design(best)}); " + "; ".join(clauses) + "."
    )


def _per_frame(cycles: float) -> str:
    return f"{fmt(cycles)} cycle{'' if cycles == 1 else 's'} per frame"


def _design(e: dict) -> str:
    """```point`, rom MACs, 8000 LUTs``: one design of :func:`equal_throughput`."""
    style = f", {e['design_style']} MACs" if e["design_style"] else ""
    return f"`{e['point']}`{style}, {fmt(e['lut'])} LUTs"
