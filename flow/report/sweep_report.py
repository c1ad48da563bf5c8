"""The sweep report: one Markdown and one HTML page per sweep folder, from ``summary.json``.

:func:`render_sweep_report` reads the points of a sweep (``flow.sweep`` writes them, one row
per point with its figures and ``lut_ratio`` as the build's ``synth.json`` stores it) and
draws the metric vs P, the metric vs LUTs with the Pareto frontier and the LUT ratio vs P,
with :func:`sweep_findings` as the two computed statements, and compares the smallest
design of each kind at equal throughput and near-float quality (:func:`equal_throughput`).
Group statistics (mean and sample standard deviation over seeds) are computed from the
points, never read.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from matplotlib.ticker import MaxNLocator

from flow import artifacts as A
from flow.errors import A2QError
from flow.metrics import ACCURACY, METRICS, PSNR, Metric, metric_named
from flow.report.by_p import (
    GroupStat,
    group_stats,
    method_winners,
    winners_section,
    wins_finding,
)
from flow.report.document import (
    COLORS,
    REPORT_DIR,
    SYNTH_FLOW_NOTE,
    Doc,
    as_dict,
    as_list,
    described,
    fmt,
    generated_line,
    new_figure,
    num,
    with_unit,
    wording,
    write_report,
)
from flow.report.equal_throughput import (
    NEAR_FLOAT,
    equal_throughput,
    equal_throughput_section,
    ok_points,
)
from flow.util import file_digest

METHOD_LABELS = {
    "baseline": "baseline",
    "a2q": "A2Q",
    "a2q_plus": "A2Q+",
    "datatype": "data-type bound",
}
NEAR_FLOAT_POINTS = NEAR_FLOAT["accuracy"]


_QUALITY_PREFIXES = ("float", "quant", "hw", "wrap")


def sweep_metric(points: Iterable[dict], declared: Any = None) -> Metric:
    """The one metric of a sweep's points (and of its summary's ``metric``, if ``declared``).

    A point names its metric in ``metric``; a point without one (a sweep run before PSNR
    existed) is accuracy if it has an accuracy figure and takes no part otherwise. No point
    at all: accuracy. Raises :class:`A2QError` naming the points when they mix metrics, or
    when a metric is unknown: a sweep compares one figure across its points.
    """
    votes: dict[str, list[str]] = {}
    if declared is not None:
        votes.setdefault(str(declared), []).append("summary.json `metric`")
    for p in points:
        if not isinstance(p, dict):
            continue
        if p.get("metric") is not None:
            key = str(p["metric"])
        elif any(num(p.get(f"{pre}_accuracy")) is not None for pre in _QUALITY_PREFIXES):
            key = ACCURACY.key
        else:
            continue
        votes.setdefault(key, []).append(f"`{p.get('point')}`")
    unknown = sorted(set(votes) - set(METRICS))
    if unknown:
        raise A2QError(
            f"sweep points name an unknown metric {', '.join(unknown)} "
            f"(known: {', '.join(METRICS)}): {', '.join(votes[unknown[0]][:3])}"
        )
    if len(votes) > 1:
        mix = "; ".join(
            f"{k} ({len(v)}: {', '.join(v[:3])}{', ...' if len(v) > 3 else ''})"
            for k, v in sorted(votes.items())
        )
        raise A2QError(f"sweep points mix metrics, a sweep compares one: {mix}")
    return metric_named(next(iter(votes), None))


def pareto_front(points: list[dict], x: str = "lut", y: str | None = None) -> list[dict]:
    """The points no other point beats in both ``x`` (lower is better) and ``y`` (higher).

    ``y`` defaults to ``quant_<k>`` of the points' metric (:func:`sweep_metric`). A point is
    beaten when another has ``x`` <= and ``y`` >= with at least one strict; equal points are
    all kept. Failed points and points without a number for ``x`` or ``y`` take no part.
    Returned in increasing ``x`` (then decreasing ``y``).
    """
    y = y or f"quant_{sweep_metric(points).key}"
    cands = [
        p for p in ok_points(points) if num(p.get(x)) is not None and num(p.get(y)) is not None
    ]

    def beats(q: dict, p: dict) -> bool:
        qx, qy, px, py = q[x], q[y], p[x], p[y]
        return qx <= px and qy >= py and (qx < px or qy > py)

    front = [p for p in cands if not any(beats(q, p) for q in cands)]
    return sorted(front, key=lambda p: (p[x], -p[y]))


def sweep_findings(summary: dict, accuracy: str | None = None) -> dict:
    """The computed statements of a sweep report, as data, in the sweep's metric.

    The metric is the points' (:func:`sweep_metric`; ``k`` = ``accuracy`` or ``psnr``);
    ``accuracy`` names the compared point field, ``quant_<k>`` by default.

    - ``a2q_plus_vs_a2q``: A2Q+'s mean figure against A2Q's at every width both have:
      ``holds`` (True when A2Q+ is at or above A2Q at every compared width, None when no
      width has both), ``compared``, ``below`` (``[{"acc_bits", "a2q", "a2q_plus"}]``),
      ``unpaired`` (widths with only one of the two), ``metric``, ``statement``.
    - ``max_lut_ratio_near_float``: among successful points whose figure is within
      ``NEAR_FLOAT[k]`` (1 accuracy point, 0.5 dB) of their own ``float_<k>``, the one with the
      largest ``lut_ratio``: ``point``, ``lut_ratio``, ``<k>``, ``float_<k>``, ``metric``,
      ``candidates`` (how many qualified), ``statement``; ``point`` is None if none did.
    - ``best_method_by_p`` (when any (method, P) has a figure): which method is best at how
      many widths (:func:`flow.report.by_p.wins_finding`), the baseline counted wrapped
      around at P.
    """
    summary = as_dict(summary)
    points = as_list(summary.get("points"))
    metric = sweep_metric(points, summary.get("metric"))
    key = accuracy or f"quant_{metric.key}"
    findings = {
        "a2q_plus_vs_a2q": _a2q_plus_vs_a2q(points, metric, key),
        "max_lut_ratio_near_float": _max_ratio_near_float(points, metric, key),
    }
    winners = method_winners(points, metric)
    if winners:
        findings["best_method_by_p"] = wins_finding(winners)
    return findings


def _a2q_plus_vs_a2q(points: list[dict], metric: Metric, key: str) -> dict:
    """A2Q+'s mean ``key`` against A2Q's at every width both have (see :func:`sweep_findings`)."""
    stats = group_stats(points, key)
    widths = sorted({bits for (m, bits) in stats if m in ("a2q", "a2q_plus")})
    compared, below, unpaired = [], [], []
    for width in widths:
        a, p = stats.get(("a2q", width)), stats.get(("a2q_plus", width))
        if a is None or p is None:
            unpaired.append(width)
            continue
        compared.append(width)
        # Means of figures of equal-sized test sets: a 1e-9 slack only absorbs rounding.
        if p.mean < a.mean - 1e-9:
            below.append({"acc_bits": width, "a2q": a.mean, "a2q_plus": p.mean})
    holds = (not below) if compared else None
    if holds is None:
        text = "A2Q+ and A2Q cannot be compared: no width has successful points of both."
    elif holds:
        text = f"A2Q+ is at or above A2Q at every compared width ({_bits(compared)})."
    else:
        text = (
            "A2Q+ is below A2Q at "
            + "; ".join(
                f"{r['acc_bits']} bits ({with_unit(r['a2q_plus'], metric)} vs "
                f"{with_unit(r['a2q'], metric)})"
                for r in below
            )
            + f" (compared: {_bits(compared)})."
        )
    if unpaired:
        text += f" Not compared (only one of the two methods): {_bits(unpaired)}."
    return {
        "holds": holds,
        "compared": compared,
        "below": below,
        "unpaired": unpaired,
        "metric": metric.key,
        "statement": text,
    }


def _max_ratio_near_float(points: list[dict], metric: Metric, key: str) -> dict:
    """The largest LUT ratio among points near their float figure (see :func:`sweep_findings`)."""
    k, w, near_limit = metric.key, wording(metric), NEAR_FLOAT[metric.key]
    near = []
    for p in ok_points(points):
        acc, flt, ratio = (num(p.get(f)) for f in (key, f"float_{k}", "lut_ratio"))
        known = acc is not None and flt is not None and ratio is not None
        if known and flt - acc <= near_limit + 1e-9:
            near.append((ratio, p, acc, flt))
    best = max(near, key=lambda t: t[0], default=None)
    within = f"within {near_limit:g} {w.near} of"
    if best is None:
        return {
            "point": None,
            "lut_ratio": None,
            k: None,
            f"float_{k}": None,
            "metric": k,
            "candidates": 0,
            "statement": f"No successful point with a LUT ratio is {within} its float {w.noun}.",
        }
    ratio, p, acc, flt = best
    return {
        "point": p.get("point"),
        "lut_ratio": ratio,
        k: acc,
        f"float_{k}": flt,
        "metric": k,
        "candidates": len(near),
        "statement": (
            f"Largest LUT ratio (32-bit / exact accumulators) among the {len(near)} points "
            f"{within} float {w.noun}: {ratio:.2f} at `{p.get('point')}` "
            f"({with_unit(acc, metric)} vs float {with_unit(flt, metric)})."
        ),
    }


# Columns of the table of every point; ``{k}`` is the metric's key, ``{u}`` its unit.
_POINT_COLUMNS = [
    ("point", "point"), ("status", "status"), ("method", "method"), ("acc_bits", "P"),
    ("seed", "seed"), ("float_{k}", "float {u}"), ("bicubic_{k}", "bicubic {u}"),
    ("quant_{k}", "quant {u}"), ("hw_{k}", "HW {u}"), ("wrap_{k}", "wrap {u}"),
    ("max_exact_bits", "max exact bits"), ("lut", "LUT"), ("lut_acc32", "LUT acc32"),
    ("lut_ratio", "LUT ratio"), ("ff", "FF"), ("bram36", "BRAM36"), ("dsp", "DSP"),
    ("build_seconds", "build s"), ("error", "error"),
]  # fmt: skip


def point_columns(metric: Metric) -> list[tuple[str, str]]:
    """(key, header) of the every-point table; super-resolution adds the bicubic reference."""
    return [
        (key.format(k=metric.key), head.format(u=metric.unit))
        for key, head in _POINT_COLUMNS
        if metric is PSNR or not key.startswith("bicubic_")
    ]


def point_digits(metric: Metric) -> dict[str, int]:
    """Decimals of the every-point table's columns: figures and ratios 2, seconds 1."""
    quality = [key for key, _ in point_columns(metric) if key.endswith(f"_{metric.key}")]
    return {**dict.fromkeys(quality, 2), "lut_ratio": 2, "build_seconds": 1}


def _bits(widths: list[int]) -> str:
    return ", ".join(str(w) for w in widths) + " bits"


def _methods(summary: dict, points: list[dict]) -> list[str]:
    axis = [str(m) for m in as_list(as_dict(summary.get("axes")).get("method"))]
    return axis + sorted({str(p["method"]) for p in points if p.get("method")} - set(axis))


def _label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def _by_method_plot(
    ax: Any,
    methods: list[str],
    stats: dict[tuple[str, int], GroupStat],
    errorbars: bool,
    **style: Any,
) -> list[list[Any]]:
    """One line per method over P; returns the table rows ``[method, P, n, mean, std]``."""
    rows = []
    for i, m in enumerate(methods):
        ps = sorted(bits for (mm, bits) in stats if mm == m)
        if not ps:
            continue
        st = [stats[(m, bits)] for bits in ps]
        kw = {
            "color": COLORS[i % len(COLORS)],
            "marker": "o",
            "capsize": 3,
            "label": _label(m),
            **style,
        }
        ax.errorbar(ps, [s.mean for s in st], yerr=[s.std for s in st] if errorbars else None, **kw)
        rows += [[kw["label"], bits, s.n, s.mean, s.std] for bits, s in zip(ps, st, strict=True)]
    return rows


def _p_axis(ax: Any, ylabel: str, title: str) -> None:
    """Common look of a plot over P: integer ticks, labels, legend, grid."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="target accumulator bits P", ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)


def _sweep_quality(doc: Doc, points: list[dict], methods: list[str], metric: Metric) -> None:
    k, w = metric.key, wording(metric)
    doc.heading(f"{w.title} vs target accumulator width P")
    quality = group_stats(points, f"quant_{k}")
    if not quality:
        doc.note_missing(
            f"points[].quant_{k}", f"{w.plural} of successful points", f"{w.noun} vs P per method"
        )
        return
    wrap = {g: v for g, v in group_stats(points, f"wrap_{k}").items() if g[0] == "baseline"}
    fig, (ax,) = new_figure(height=4.2)
    rows = _by_method_plot(ax, methods, quality, errorbars=True)
    if wrap:
        label = "baseline forced to P bits (wrap-around)"
        style = {"ls": "--", "color": "gray", "label": label}
        wrap_rows = _by_method_plot(ax, ["baseline"], wrap, errorbars=True, **style)
        rows += [[label, *r[1:]] for r in wrap_rows]
    refs = [(f"float_{k}", ":", "black", "float (mean)")]
    if metric is PSNR:
        refs.append(("bicubic_psnr", "-.", "gray", "bicubic interpolation (mean)"))
    for key, ls, color, label in refs:
        vals = [v for p in ok_points(points) if (v := num(p.get(key))) is not None]
        if vals:
            ax.axhline(statistics.fmean(vals), ls=ls, color=color, label=label)
    _p_axis(ax, f"test {w.axis}", f"{w.title} vs P (mean ± std over seeds)")
    doc.figure(f"fig_{k}_vs_p.png", fig, f"{w.noun} vs target P per method")
    head = f"{w.noun} mean {metric.unit}"
    doc.table(["method", "P", "seeds", head, "std"], rows, digits={3: 2, 4: 2})


def _sweep_luts(doc: Doc, points: list[dict], methods: list[str], metric: Metric) -> None:
    w = wording(metric)
    doc.heading(f"{w.title} vs LUTs")
    x, y = "lut", f"quant_{metric.key}"
    have = [p for p in ok_points(points) if num(p.get(x)) is not None and num(p.get(y)) is not None]
    if not have:
        doc.note_missing(
            "points[].lut",
            "LUT figures of the points (stage `synth` not run for any point)",
            f"{w.noun} vs LUTs with the Pareto frontier",
        )
        return
    front = pareto_front(points, x, y)
    fig, (ax,) = new_figure(height=4.2)
    for i, m in enumerate(methods):
        pts = [p for p in have if p.get("method") == m]
        if pts:
            color = COLORS[i % len(COLORS)]
            ax.scatter([p[x] for p in pts], [p[y] for p in pts], color=color, label=_label(m))
    fx, fy = [p[x] for p in front], [p[y] for p in front]
    ax.step(fx, fy, where="post", color="black", lw=1)
    ax.scatter(fx, fy, s=120, facecolors="none", edgecolors="black", label="Pareto frontier")
    ax.set(xlabel="LUTs (Yosys, exact accumulators)", ylabel=f"test {w.axis}",
           title=f"{w.title} vs LUTs")  # fmt: skip
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    doc.figure(
        f"fig_{metric.key}_vs_lut.png", fig, f"{w.noun} vs LUTs; circled: the Pareto frontier"
    )
    on_front = {id(p) for p in front}
    rows = [{**p, "label": _label(str(p.get("method"))), "pareto": id(p) in on_front}
            for p in sorted(have, key=lambda p: (p[x], -p[y]))]  # fmt: skip
    columns = [("point", "point"), ("label", "method"), ("acc_bits", "P"), (x, "LUT"),
               (y, w.column), ("pareto", "Pareto")]  # fmt: skip
    doc.records(rows, columns, {y: 2})
    doc.para(SYNTH_FLOW_NOTE)


def _sweep_ratio(doc: Doc, points: list[dict], methods: list[str]) -> None:
    doc.heading("LUT ratio vs P")
    ratio = group_stats(points, "lut_ratio")
    if not ratio:
        doc.note_missing(
            "points[].lut_ratio",
            "LUT ratios of the points (stage `synth` not run for any point)",
            "how much larger 32-bit accumulators are, per P",
        )
        return
    fig, (ax,) = new_figure()
    rows = _by_method_plot(ax, methods, ratio, errorbars=False)
    ax.axhline(1.0, ls=":", color="gray")
    _p_axis(ax, "LUTs 32-bit / LUTs exact", "LUT ratio of 32-bit over exact accumulators")
    doc.figure("fig_lut_ratio.png", fig, "LUT ratio (32-bit / exact accumulators) vs P")
    doc.table(["method", "P", "seeds", "LUT ratio mean", "std"], rows, digits={3: 2, 4: 2})


def render_sweep_report(sweep_dir: Path) -> dict:
    """Write ``sweep_dir/report/report.md``, ``report.html`` and figures from ``summary.json``.

    Group statistics (mean and sample standard deviation over seeds) are computed from the
    points; the summary's ``groups`` are not read. Returns ``{"md", "html", "figures",
    "missing", "equal_throughput"}``; ``missing`` names the point fields no point has
    (``"points[].lut"``), ``equal_throughput`` is :func:`equal_throughput` of the points.
    Figures and tables are in the points' metric (:func:`sweep_metric`): accuracy for
    classifiers, PSNR for super-resolution. Raises :class:`A2QError` if ``summary.json`` is
    absent or malformed, or its points mix metrics.
    """
    sweep_dir = Path(sweep_dir)
    path = A.SWEEP_SUMMARY.at(sweep_dir)
    if not path.is_file():
        raise A2QError(f"{path}: no sweep summary (run the sweep first)")
    summary = A.SWEEP_SUMMARY.read(sweep_dir)
    points = [as_dict(p) for p in as_list(summary.get("points"))]
    failed = [p for p in points if p.get("status", "ok") not in ("ok", "infeasible", "pending")]
    infeasible = [p for p in points if p.get("status") == "infeasible"]
    pending = [p for p in points if p.get("status") == "pending"]  # a sweep still running
    methods = _methods(summary, points)
    metric = sweep_metric(points, summary.get("metric"))
    name = summary.get("name", sweep_dir.name)
    doc = Doc(f"a2q-flow sweep report: {name}")

    doc.para(f"Metric: {described(metric)}.")
    doc.heading("Sweep")
    axes = [[f"axis `{k}`", v] for k, v in as_dict(summary.get("axes")).items()]
    ok = len(points) - len(failed) - len(infeasible) - len(pending)
    counts = f"{len(points)} ({ok} ok, {len(failed)} failed"
    counts += f", {len(infeasible)} infeasible" if infeasible else ""
    counts += f", {len(pending)} not built yet)" if pending else ")"
    doc.table(
        ["item", "value"],
        [["name", name], ["base config", summary.get("base_config")], *axes, ["points", counts]],
    )
    findings = sweep_findings(summary)
    doc.heading("Findings")
    doc.bullets(f["statement"] for f in findings.values())
    _sweep_quality(doc, points, methods, metric)
    _sweep_luts(doc, points, methods, metric)
    _sweep_ratio(doc, points, methods)
    winners_section(doc, points, metric)
    matched = equal_throughput(points, metric)
    equal_throughput_section(doc, matched, metric)
    doc.heading("Every point")
    doc.records(points, point_columns(metric), point_digits(metric))
    if failed:
        doc.heading("Failed points", 3)
        doc.bullets(f"`{p.get('point')}`: {fmt(p.get('error'))}" for p in failed)
    if infeasible:
        doc.heading("Infeasible points (not built: no network of this method meets P)", 3)
        doc.bullets(f"`{p.get('point')}`: {fmt(p.get('error'))}" for p in infeasible)

    missing = doc.missing_summary()
    by = generated_line(f"sweep `{name}` (summary.json digest {file_digest(path)})")
    return {**write_report(doc, sweep_dir / REPORT_DIR, by, missing), "equal_throughput": matched}
