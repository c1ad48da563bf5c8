"""The build report's resources: synthesis exact vs 32-bit, and FINN's estimates beside it.

Figures come from ``synth/synth.json`` as the synth stage wrote them, the acc32 / exact
ratios included (:func:`flow.artifacts.synth_ratios`); FINN's estimates from
``compile/report/estimate_layer_resources.json``.
"""

from __future__ import annotations

import re
from typing import Any

from matplotlib.figure import Figure

from flow import artifacts as A
from flow.artifacts import Build
from flow.report.document import (
    SYNTH_FLOW_NOTE,
    Doc,
    as_dict,
    fmt,
    grouped_bars,
    new_figure,
    num,
)
from flow.report.inputs import note

_SYNTH_KEYS = (("lut", "LUT"), ("lutram", "LUTRAM"), ("ff", "FF"), ("bram36", "BRAM36"),
               ("dsp", "DSP"))  # fmt: skip


def _node_rows(exact: dict, acc32: dict) -> list[dict]:
    """One row per synthesized node of either variant: layer, op and ``<metric>_<variant>``."""
    layers = {
        v: as_dict(var.get("layers")) for v, var in zip(A.VARIANTS, (exact, acc32), strict=True)
    }
    names = list(layers["exact"]) + [n for n in layers["acc32"] if n not in layers["exact"]]
    rows = []
    for name in names:
        nodes = {v: as_dict(layers[v].get(name)) for v in A.VARIANTS}
        any_node = nodes["exact"] or nodes["acc32"]
        row = {"node": name, "layer": any_node.get("layer"), "op_type": any_node.get("op_type")}
        row.update({f"{k}_{v}": nodes[v].get(k) for k, _ in _SYNTH_KEYS for v in A.VARIANTS})
        rows.append(row)
    return rows


def resources(b: Build, doc: Doc) -> None:
    """LUT/FF/BRAM per node and in total, exact vs 32-bit accumulators, with their ratios."""
    doc.heading("Resources: exact vs 32-bit accumulators")
    synth = as_dict(b.get(A.SYNTH))
    if not note(b, doc, A.SYNTH):
        return
    doc.para(
        f"{SYNTH_FLOW_NOTE} Flow: {fmt(synth.get('flow'))}; tool {fmt(synth.get('version'))}; "
        f"part {fmt(synth.get('part'))}."
    )
    variants = {v: A.synth_variant(synth, v) for v in A.VARIANTS}
    rows = _node_rows(variants["exact"], variants["acc32"])
    if rows:
        doc.figure(
            "fig_resources.png",
            _node_figure(rows),
            "LUT and BRAM36 per node, exact vs 32-bit accumulators (Yosys synthesis)",
        )
        columns = [("node", "node"), ("layer", "layer"), ("op_type", "op")] + [
            (f"{k}_{v}", f"{h} {v}") for k, h in _SYNTH_KEYS for v in A.VARIANTS
        ]
        doc.records(rows, columns)
    _totals(doc, variants, A.synth_ratios(synth))
    if not as_dict(variants["acc32"].get("top")):
        doc.note_missing(
            f"{A.SYNTH.path}: variants.acc32",
            "the `acc32` variant in `synth/synth.json`",
            "the 32-bit-accumulator design the exact widths are compared with",
        )


def _node_figure(rows: list[dict]) -> Figure:
    """LUT and BRAM36 bars per node of both variants.

    The compute nodes (those with a layer) get a bar each; FIFOs, width converters and other
    glue are summed into one bar so the per-layer bars stay readable.
    """
    main = [r for r in rows if r["layer"]]
    glue = [r for r in rows if not r["layer"]]
    cats = [str(r["node"]) for r in main] + (["other"] if glue else [])

    def series(key: str) -> list[float | None]:
        vals = [num(r[key]) for r in main]
        return vals + ([sum(num(r[key]) or 0.0 for r in glue)] if glue else [])

    fig, (ax1, ax2) = new_figure(ncols=2, width=max(5.0, 0.9 * len(cats)), height=4.2)
    for ax, key, unit in ((ax1, "lut", "LUTs"), (ax2, "bram36", "BRAM36")):
        grouped_bars(
            ax, cats, {"exact": series(f"{key}_exact"), "32-bit": series(f"{key}_acc32")}, unit
        )
        ax.set_title(f"{unit} per node")
    return fig


def _totals(doc: Doc, variants: dict[str, dict], ratios: dict[str, float | None]) -> None:
    """The top level of both variants, their utilization and the stored acc32 / exact ratios."""
    totals = []
    for v in A.VARIANTS:
        util = as_dict(variants[v].get("utilization"))
        totals.append({"variant": v, **as_dict(variants[v].get("top")),
                       **{f"{k}_util": u for k, u in util.items()}})  # fmt: skip
    shown = {k: None if r is None else round(r, 2) for k, r in ratios.items()}
    totals.append({"variant": "acc32 / exact", **shown})
    util_cols = [(f"{k}_util", f"{h} %") for k, h in _SYNTH_KEYS if k != "lutram"]
    stitched = all(variants[v].get("top_from") == "stitched" for v in A.VARIANTS)
    doc.heading(
        "Totals (stitched top level)" if stitched else "Totals (top level: the sum of the nodes)",
        3,
    )
    doc.records(
        totals, [("variant", "variant"), *_SYNTH_KEYS, *util_cols], {k: 2 for k, _ in util_cols}
    )
    doc.para(f"LUT ratio (32-bit / exact accumulators, top level): {fmt(ratios['lut'], 2)}.")


_NODE_INDEX = re.compile(r"(.*?)_(\d+)")


def finn_estimate_for(node: str, synth_node: dict, estimates: dict) -> dict | None:
    """FINN's estimate for our node ``<Op>_<i>``: ``<Op>_hls_<i>``, ``<Op>_rtl_<i>`` or same name.

    ``synth_node`` is the node's entry in ``synth.json`` (its ``op_type`` names the op). The
    same match rule as ``synthesize.attach_estimates``; used when the entry has no
    ``estimate`` of its own.
    """
    m = _NODE_INDEX.fullmatch(node)
    if not m:
        return None
    op, idx = synth_node.get("op_type") or m.group(1), m.group(2)
    for key in (f"{op}_hls_{idx}", f"{op}_rtl_{idx}", f"{op}_{idx}"):
        if isinstance(estimates.get(key), dict):
            return estimates[key]
    return None


ESTIMATE_COLUMNS = [
    ("node", "node"), ("layer", "layer"), ("finn_lut", "FINN LUT"), ("yosys_lut", "Yosys LUT"),
    ("delta_lut", "delta LUT (Yosys - FINN)"), ("finn_bram18", "FINN BRAM18"),
    ("yosys_bram18", "Yosys BRAM18"), ("finn_dsp", "FINN DSP"), ("yosys_dsp", "Yosys DSP"),
]  # fmt: skip


def _versus(node: str, layer: Any, est: dict, ours: dict) -> dict:
    """One estimate-vs-synthesis row; Yosys LUTs are logic + LUTRAM, BRAM in 18K units."""
    lut = (num(ours.get("lut")) or 0.0) + (num(ours.get("lutram")) or 0.0) if ours else None
    finn_lut, bram = num(est.get("LUT")), num(ours.get("bram36"))
    delta = num(ours.get("estimate_delta_lut"))
    if delta is None and lut is not None and finn_lut is not None:
        delta = round(lut - finn_lut, 1)
    return {
        "node": node, "layer": layer, "finn_lut": est.get("LUT"), "yosys_lut": lut,
        "delta_lut": delta, "finn_bram18": est.get("BRAM_18K"),
        "yosys_bram18": 2 * bram if bram is not None else None,
        "finn_dsp": est.get("DSP"), "yosys_dsp": ours.get("dsp"),
    }  # fmt: skip


def estimates(b: Build, doc: Doc) -> None:
    """FINN's per-node estimates next to the Yosys figures of the exact variant."""
    doc.heading("FINN estimate vs synthesis")
    have_finn, have_synth = note(b, doc, A.FINN_RESOURCES), note(b, doc, A.SYNTH)
    if not have_finn:
        return
    finn, exact = (
        as_dict(b.get(A.FINN_RESOURCES)),
        A.synth_variant(as_dict(b.get(A.SYNTH)), "exact"),
    )
    doc.para(
        "FINN's figures are analytical estimates of its HLS layers (its RTL MVU counts 0 LUTs, "
        "a float threshold gets a 100000-LUT sentinel); Yosys LUTs here are logic + LUTRAM, as "
        "FINN's LUT figure counts memory LUTs too. BRAM in 18K units (BRAM36 x 2)."
    )
    if not have_synth:
        doc.records([_versus(n, None, as_dict(e), {}) for n, e in finn.items()], ESTIMATE_COLUMNS)
        return
    rows = []
    for name, node in as_dict(exact.get("layers")).items():
        node = as_dict(node)
        est = node["estimate"] if "estimate" in node else finn_estimate_for(name, node, finn)
        if isinstance(est, dict):
            rows.append(_versus(name, node.get("layer"), est, node))
    if rows:
        fig, (ax,) = new_figure(width=max(7.5, 1.3 * len(rows)))
        series = {
            "FINN estimate": [num(r["finn_lut"]) for r in rows],
            "Yosys": [r["yosys_lut"] for r in rows],
        }
        grouped_bars(ax, [r["node"] for r in rows], series, "LUTs")
        ax.set_title("LUTs per node: FINN estimate vs Yosys synthesis (exact accumulators)")
        doc.figure("fig_estimates.png", fig, "FINN's LUT estimate vs Yosys LUTs per node")
    rows.append(
        _versus("total (top level)", None, as_dict(finn.get("total")), as_dict(exact.get("top")))
    )
    doc.records(rows, ESTIMATE_COLUMNS)
