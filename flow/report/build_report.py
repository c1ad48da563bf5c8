"""The build report: one Markdown and one self-contained HTML page per build folder.

:func:`render_build_report` reads the files the stages wrote into ``build/<name>/`` through a
:class:`flow.artifacts.Build` view and writes ``report/report.md``, ``report/report.html``
and the figures (``report/fig_*.png``) beside them. Every figure has a table with the same
numbers next to it. The report reads, never recomputes: widths, figures and the acc32 /
exact ratios come from the stage files as written.

Any input may be missing (a stage not run yet): the report still renders, and says which file
of which stage is missing and what it would show. Inputs are checked against their schemas
(:mod:`flow.schemas`) as they are read; keys a schema makes optional are read with ``.get``,
so a key a later version adds or drops only blanks a cell.

The quality figure is the build's metric (:mod:`flow.metrics`): top-1 accuracy (%) for a
classifier, PSNR (dB) for super-resolution. The stages write it under ``<prefix>_<k>`` with
``k`` = ``accuracy`` or ``psnr`` and name it in a ``metric`` field; files without one (written
before PSNR existed) are accuracy. Below, ``<k>`` is that key. What is read, per file:

- ``config.yaml``: ``name``, ``data.dataset``, ``quant.method``, ``quant.acc_bits``,
  ``compile.clock_mhz``, ``compile.fpga_part``.
- ``timings.json``: ``{stage: {"seconds", "last_status"}}``; ``<stage>/.stage.json``:
  ``digest`` (the digest of the last stage covers the whole chain before it).
- ``train/metrics.json``: ``dataset``, ``train_samples``, ``test_samples``, ``device``,
  ``metric``, ``float_<k>``, ``quant_<k>``, ``bicubic_psnr`` (super-resolution: the bicubic
  reference), ``ep_init_layers``, ``warnings`` and per layer ``name``, ``method``,
  ``target_bits``, ``K``, ``max_l1``, ``l1_budget``, ``sparsity``, ``zero_channels``,
  ``all_zero``.
- ``train/examples.npz`` (super-resolution only): uint8 arrays ``low_res``, ``bicubic``,
  ``float``, ``quantized``, ``target`` of shape (N, C, H, W), a few test tiles.
- ``export/export_check.json``: ``ok``, per layer ``name``, ``ok``, ``problems`` (and the
  width fields, used when ``compile/accumulators.json`` is missing), ``fidelity``:
  ``metric``, ``samples``, ``brevitas_<k>``, ``qonnx_<k>``, ``ok``, ``summary``.
- ``compile/accumulators.json``: per layer ``name``, ``node``, ``K``, ``input_bits``,
  ``weight_bits``, ``datatype_bound_bits``, ``target_bits``, ``exact_bits``, ``hw_acc_bits``,
  ``finn_acc_bits``, ``threshold_bits``, ``guaranteed``, ``zero_weight_fraction``,
  ``zero_lane_fraction``.
- ``verify/verify.json``: ``metric``, ``samples``, ``mismatches``, ``hw_<k>``,
  ``tolerance``, ``ok``.
- ``verify/overflow.json``: ``metric``, ``worst_case[].fits``,
  ``test_set_at_hw_widths[layer].overflow_events``, ``wrap_study[]``: ``acc_bits``, ``<k>``,
  ``overflow_events``, ``layers[layer].overflow_events``.
- ``compile/report/estimate_layer_resources.json`` (FINN: node -> ``LUT``, ``BRAM_18K``,
  ``DSP``; ``total``) and ``estimate_network_performance.json`` (``max_cycles``,
  ``max_cycles_node_name``, ``critical_path_cycles``, ``estimated_throughput_fps``).
- ``sim/sim.json``: ``metric``, ``frames``, ``mismatches``, ``bit_exact``, ``<k>``,
  ``latency_cycles``, ``cycles_per_frame``, ``clock_mhz``, ``fps``, ``worst_case_ok``,
  ``peak_memory_mb``.
- ``synth/synth.json``: ``flow``, ``tool``, ``version``, ``part``, ``peak_memory_mb``,
  per variant (``exact``, ``acc32``) ``layers[node]``: ``layer``, ``op_type``, ``lut``,
  ``lutram``, ``ff``, ``bram36``, ``dsp``, optional ``estimate`` / ``estimate_delta_lut``;
  ``top`` and ``utilization``; the acc32 / exact ratios ``lut_ratio``, ``lutram_ratio``,
  ``ff_ratio``, ``bram_ratio``, ``dsp_ratio`` (read by :func:`flow.artifacts.synth_ratios`).
  A top-level ``acc32`` total stands in for a missing ``variants.acc32.top``.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.ticker import MaxNLocator

from flow import artifacts as A
from flow import folding
from flow.artifacts import Build
from flow.metrics import PSNR
from flow.report.document import (
    COLORS,
    REPORT_DIR,
    Doc,
    as_dict,
    as_list,
    described,
    fmt,
    generated_line,
    grouped_bars,
    new_figure,
    num,
    with_unit,
    wording,
    write_report,
)
from flow.report.examples import examples
from flow.report.inputs import note
from flow.report.resources import estimates, resources

# The inputs of a build report, in the order the closing "missing inputs" list names them.
INPUTS: dict[str, A.Artifact] = {
    "config": A.CONFIG,
    "timings": A.TIMINGS,
    "metrics": A.TRAIN_METRICS,
    "export": A.EXPORT_CHECK,
    "acc": A.ACCUMULATORS,
    "folding": A.FOLDING,
    "verify": A.VERIFY,
    "overflow": A.OVERFLOW,
    "finn_res": A.FINN_RESOURCES,
    "finn_perf": A.FINN_PERFORMANCE,
    "sim": A.SIM,
    "synth": A.SYNTH,
}


def _layer_rows(b: Build) -> list[dict]:
    """Per-layer width rows: ``accumulators.json`` if present, else the export check's."""
    acc = as_list(b.get(A.ACCUMULATORS))
    if acc:
        return [as_dict(r) for r in acc]
    return [as_dict(r) for r in as_list(as_dict(b.get(A.EXPORT_CHECK)).get("layers"))]


def chain_ok(row: dict) -> bool | None:
    """``exact <= target <= P_dt`` (target skipped when unconstrained) and ``hw == exact``.

    None when the widths needed are not all known.
    """
    exact, pdt, hw = (num(row.get(k)) for k in ("exact_bits", "datatype_bound_bits", "hw_acc_bits"))
    target = num(row.get("target_bits"))
    if exact is None or pdt is None or hw is None:
        return None
    upper = target if target is not None else pdt
    return exact <= upper <= pdt and hw == exact


def _header(b: Build, doc: Doc) -> None:
    cfg, m = as_dict(b.get(A.CONFIG)), as_dict(b.get(A.TRAIN_METRICS))
    rows = _layer_rows(b)
    methods = sorted(
        {
            str(r["method"])
            for r in [*map(as_dict, as_list(m.get("layers"))), *rows]
            if r.get("method")
        }
    )
    acc = as_list(b.get(A.ACCUMULATORS))
    if acc:
        guaranteed = [str(r.get("name")) for r in acc if r.get("guaranteed") is True]
        free = [str(r.get("name")) for r in acc if r.get("guaranteed") is not True]
        guar_text = ", ".join(guaranteed) or "none"
        free_text = ", ".join(free) or "none"
    else:
        guar_text = free_text = "unknown until stage `compile` has run"
    quant = as_dict(cfg.get("quant"))
    doc.heading("Build")
    doc.table(
        ["item", "value"],
        [
            ["name", cfg.get("name", b.dir.name)],
            ["dataset", m.get("dataset", as_dict(cfg.get("data")).get("dataset"))],
            [
                "train / test samples",
                f"{fmt(m.get('train_samples'))} / {fmt(m.get('test_samples'))}",
            ],
            ["training device", m.get("device")],
            ["method (config)", quant.get("method")],
            ["target accumulator bits P (config)", quant.get("acc_bits")],
            ["methods per layer", ", ".join(methods) or None],
            ["EP-init layers", as_list(m.get("ep_init_layers")) or None],
            ["guaranteed layers (L1 budget or data types, exact <= target)", guar_text],
            ["unconstrained layers (exact width, no training guarantee)", free_text],
        ],
    )
    note(b, doc, A.CONFIG)
    warnings = [str(w) for w in as_list(m.get("warnings"))]
    if warnings:
        doc.para("Training warnings:")
        doc.bullets(warnings)


def _summary_line(b: Build, doc: Doc) -> None:
    """The line at the top: the build's metric and its headline figures."""
    metric = b.metric
    m, sim = as_dict(b.get(A.TRAIN_METRICS)), as_dict(b.get(A.SIM))
    k = metric.key
    figures = [
        ("float", m.get(f"float_{k}")),
        ("quantized", m.get(f"quant_{k}")),
        ("HW graph", as_dict(b.get(A.VERIFY)).get(f"hw_{k}")),
        ("simulated RTL", sim.get(k)),
    ]
    if metric is PSNR:
        figures.append(("bicubic interpolation (reference)", m.get("bicubic_psnr")))
    known = [f"{name} {with_unit(v, metric)}" for name, x in figures if (v := num(x)) is not None]
    doc.para(f"Metric: {described(metric)}" + (f": {', '.join(known)}." if known else "."))


def _quality(b: Build, doc: Doc) -> None:
    """The table of the build's metric at every stage, and the checks."""
    metric = b.metric
    k = metric.key
    doc.heading(wording(metric).heading)
    m, ex, ver, sim = (
        as_dict(b.get(a)) for a in (A.TRAIN_METRICS, A.EXPORT_CHECK, A.VERIFY, A.SIM)
    )
    fid = as_dict(ex.get("fidelity"))
    given = m.get("source")  # a build of a QONNX file made elsewhere: nothing trained
    spec = [
        (f"QONNX file as given ({given})", m, f"quant_{k}", m.get("test_samples"),
         A.TRAIN_METRICS),
        ("QONNX file as given, export-check samples", fid, f"source_{k}",
         fid.get("samples"), A.EXPORT_CHECK),
    ] if given else [
        ("float (PyTorch)", m, f"float_{k}", m.get("test_samples"), A.TRAIN_METRICS),
        ("quantized (Brevitas)", m, f"quant_{k}", m.get("test_samples"), A.TRAIN_METRICS),
        ("quantized (Brevitas), export-check samples", fid, f"brevitas_{k}",
         fid.get("samples"), A.EXPORT_CHECK),
    ]  # fmt: skip
    spec += [
        ("exported QONNX", fid, f"qonnx_{k}", fid.get("samples"), A.EXPORT_CHECK),
        ("FINN HW graph", ver, f"hw_{k}", ver.get("samples"), A.VERIFY),
        ("simulated RTL (Verilator)", sim, k, sim.get("frames"), A.SIM),
    ]  # fmt: skip
    if metric is PSNR:
        # The bar a learned upscaler has to clear: plain bicubic interpolation of the input.
        spec.insert(0, ("bicubic interpolation (reference)", m, "bicubic_psnr",
                        m.get("test_samples"), A.TRAIN_METRICS))  # fmt: skip
    rows = [[label, d.get(key), n, src.path] for label, d, key, n, src in spec]
    doc.table(["model", wording(metric).column, "samples", "from"], rows, digits={1: 2})
    note(b, doc, A.TRAIN_METRICS, A.EXPORT_CHECK, A.VERIFY, A.SIM)
    wc = as_list(as_dict(b.get(A.OVERFLOW)).get("worst_case"))
    at_hw = as_dict(as_dict(b.get(A.OVERFLOW)).get("test_set_at_hw_widths"))
    events = [num(as_dict(r).get("overflow_events")) for r in at_hw.values()]
    bad = [str(r.get("name")) for r in as_list(ex.get("layers")) if as_dict(r).get("ok") is False]
    doc.heading("Checks", 3)
    doc.table(
        ["check", "passed", "detail"],
        [
            [
                "exported integers meet every bound",
                ex.get("ok"),
                f"failing layers: {', '.join(bad)}" if bad else None,
            ],
            ["Brevitas vs QONNX fidelity", fid.get("ok"), fid.get("summary")],
            [
                "HW graph vs QONNX",
                ver.get("ok"),
                f"{fmt(ver.get('mismatches'))} mismatches / {fmt(ver.get('samples'))} samples"
                f" ({fmt(ver.get('tolerance'))})"
                if ver
                else None,
            ],
            [
                "worst-case vectors fit every HW accumulator",
                all(as_dict(r).get("fits") is True for r in wc) if wc else None,
                None,
            ],
            [
                "test-set overflow events at HW widths",
                (sum(e for e in events if e is not None) == 0) if at_hw else None,
                f"{fmt(sum(e for e in events if e is not None))} events" if at_hw else None,
            ],
            [
                "RTL simulation bit-exact",
                sim.get("bit_exact"),
                f"{fmt(sim.get('mismatches'))} mismatches / {fmt(sim.get('frames'))} frames"
                if sim
                else None,
            ],
            ["RTL worst-case vectors", sim.get("worst_case_ok"), None],
        ],
    )


WIDTH_COLUMNS = [
    ("name", "layer"), ("node", "node"), ("K", "K"), ("input_bits", "N"), ("weight_bits", "M"),
    ("datatype_bound_bits", "P_dt"), ("target_bits", "target"), ("exact_bits", "exact"),
    ("hw_acc_bits", "hw acc"), ("finn_acc_bits", "FINN"), ("threshold_bits", "thr"),
    ("guaranteed", "guaranteed"), ("chain_ok", "chain ok"),
    ("zero_weight_pct", "zero w %"), ("zero_lane_pct", "zero lanes %"),
]  # fmt: skip
SPARSITY_COLUMNS = [
    ("name", "layer"), ("method", "method"), ("target_bits", "target"),
    ("sparsity_pct", "zero weights %"), ("zero_channels", "zero channels"),
    ("all_zero", "all zero"), ("max_l1", "max L1"), ("l1_budget", "L1 budget"),
]  # fmt: skip
_WIDTH_SERIES = (
    ("datatype_bound_bits", "data-type bound P_dt"),
    ("target_bits", "target P"),
    ("exact_bits", "exact"),
    ("hw_acc_bits", "hardware accumulator"),
    ("finn_acc_bits", "FINN's width"),
)


def _widths(b: Build, doc: Doc) -> None:
    doc.heading("Accumulator widths per layer")
    rows = _layer_rows(b)
    if not note(b, doc, A.ACCUMULATORS) and rows:
        doc.para(
            "Widths below come from the export check; hardware and FINN widths need `compile`."
        )
    if not rows:
        note(b, doc, A.EXPORT_CHECK)
        return
    doc.para(
        "The guarantee chain per layer: exact <= target P <= data-type bound P_dt, and the "
        "hardware accumulator is exactly the exact width. Unconstrained layers have no target. "
        "Beside it the weight sparsity of the hardware layer: zero weights, and (PE, SIMD) "
        "lanes whose weight is zero in every fold (multipliers the const MAC style does not "
        "build)."
    )
    names = [str(r.get("name", r.get("node"))) for r in rows]
    fig, (ax,) = new_figure(width=max(7.5, 1.6 * len(rows)))
    grouped_bars(ax, names, {lab: [r.get(k) for r in rows] for k, lab in _WIDTH_SERIES}, "bits")
    ax.set_title("Accumulator width chain per layer")
    doc.figure("fig_widths.png", fig, "accumulator widths per layer (bits)")
    doc.records(
        [
            {
                **r,
                "chain_ok": chain_ok(r),
                "zero_weight_pct": _pct(r.get("zero_weight_fraction")),
                "zero_lane_pct": _pct(r.get("zero_lane_fraction")),
            }
            for r in rows
        ],
        WIDTH_COLUMNS,
        {"zero_weight_pct": 1, "zero_lane_pct": 1},
    )


def _folding(b: Build, doc: Doc) -> None:
    doc.heading("Folding and MAC style per layer")
    rows = as_list(b.get(A.FOLDING))
    if not note(b, doc, A.FOLDING) or not rows:
        return
    doc.para(
        "PE and SIMD of each MAC layer and how it multiplies (`rom`: weights in a ROM read per "
        "fold; `const`: weights hard-wired, zero weights and lanes dropped; `auto->x`: the "
        "area model chose x). Folding by `finn` is FINN's first folding that meets the target, "
        "`area` the folding of fewest estimated LUTs among every one that meets it, `config` "
        "the config's own. The estimates are the area model's (flow/hw/area.py), beside the "
        "synthesized figures of the node (* = synthesized in slices of its lanes and scaled)."
    )
    doc.records(folding.table(rows, b.get(A.SYNTH)), folding.COLUMNS)


def _pct(v: object) -> float | None:
    return 100 * f if (f := num(v)) is not None else None


def _sparsity(b: Build, doc: Doc) -> None:
    doc.heading("Weight sparsity per layer")
    layers = [as_dict(r) for r in as_list(as_dict(b.get(A.TRAIN_METRICS)).get("layers"))]
    if not note(b, doc, A.TRAIN_METRICS) or not layers:
        return
    names = [str(r.get("name")) for r in layers]
    pct = [100 * s if (s := num(r.get("sparsity"))) is not None else None for r in layers]
    fig, (ax,) = new_figure(width=max(6.0, 1.2 * len(layers)))
    grouped_bars(
        ax,
        names,
        {"zero weights %": [round(p, 1) if p is not None else None for p in pct]},
        "zero weights (%)",
    )
    ax.set_title("Weight sparsity per layer")
    doc.figure("fig_sparsity.png", fig, "share of zero integer weights per layer (%)")
    doc.records(
        [{**r, "sparsity_pct": p} for r, p in zip(layers, pct, strict=True)],
        SPARSITY_COLUMNS,
        {"sparsity_pct": 1, "l1_budget": 1},
    )


def _wrap(b: Build, doc: Doc) -> None:
    doc.heading("Wrap-around study")
    study = [as_dict(r) for r in as_list(as_dict(b.get(A.OVERFLOW)).get("wrap_study"))]
    if not note(b, doc, A.OVERFLOW):
        return
    if not study:
        doc.para("The wrap-around study was not run (`compile.wrap_bits` is empty).")
        return
    study.sort(key=lambda r: num(r.get("acc_bits")) or 0)
    metric = b.metric
    k, w = metric.key, wording(metric)
    doc.para(
        "The constrained layers' accumulators forced to P bits with two's-complement "
        f"wrap-around: test {w.noun} and overflow events (dot products that left the P-bit "
        "range)."
    )
    ps = [num(r.get("acc_bits")) for r in study]
    quality = [num(r.get(k)) for r in study]
    events = [num(r.get("overflow_events")) for r in study]
    fig, (ax1, ax2) = new_figure(ncols=2, width=5.0)
    ax1.plot(*_pairs(ps, quality), marker="o", color=COLORS[0])
    m = as_dict(b.get(A.TRAIN_METRICS))
    refs = [(m.get(f"quant_{k}"), "--", "gray", "quantized, no wrap-around")]
    if metric is PSNR:
        refs.append((m.get("bicubic_psnr"), ":", "black", "bicubic interpolation"))
    for value, ls, color, label in refs:
        if (v := num(value)) is not None:
            ax1.axhline(v, ls=ls, color=color, label=label)
    if ax1.get_legend_handles_labels()[0]:
        ax1.legend(fontsize=8)
    ax1.set(xlabel="forced accumulator bits P", ylabel=w.axis, title=f"{w.title} vs P")
    ax2.plot(*_pairs(ps, events), marker="o", color=COLORS[3])
    ax2.set_yscale("symlog", linthresh=1)
    ax2.set(
        xlabel="forced accumulator bits P", ylabel="overflow events", title="Overflow events vs P"
    )
    for ax in (ax1, ax2):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    doc.figure(
        "fig_wrap.png", fig, f"{w.noun} and overflow events with accumulators forced to P bits"
    )
    layer_names = sorted({name for r in study for name in as_dict(r.get("layers"))})
    doc.table(
        ["P", w.column, "overflow events"] + [f"{n} events" for n in layer_names],
        [
            [r.get("acc_bits"), r.get(k), r.get("overflow_events")]
            + [as_dict(as_dict(r.get("layers")).get(n)).get("overflow_events") for n in layer_names]
            for r in study
        ],
        digits={1: 2},
    )


def _pairs(xs: list[float | None], ys: list[float | None]) -> tuple[list[float], list[float]]:
    """The (x, y) pairs where both are numbers, as two lists for ``plot``."""
    both = [(x, y) for x, y in zip(xs, ys, strict=True) if x is not None and y is not None]
    return [p[0] for p in both], [p[1] for p in both]


def _throughput(b: Build, doc: Doc) -> None:
    doc.heading("Throughput")
    sim, perf = as_dict(b.get(A.SIM)), as_dict(b.get(A.FINN_PERFORMANCE))
    clock = as_dict(as_dict(b.get(A.CONFIG)).get("compile")).get("clock_mhz")
    doc.table(
        ["figure", "simulated RTL", "FINN estimate"],
        [
            ["cycles per frame", sim.get("cycles_per_frame"), perf.get("max_cycles")],
            ["frames per second", sim.get("fps"), perf.get("estimated_throughput_fps")],
            ["latency (cycles)", sim.get("latency_cycles"), perf.get("critical_path_cycles")],
            ["clock (MHz)", sim.get("clock_mhz"), clock],
            ["slowest node", None, perf.get("max_cycles_node_name")],
        ],
    )
    note(b, doc, A.SIM, A.FINN_PERFORMANCE)


def _timings(b: Build, doc: Doc, digests: dict[str, str]) -> None:
    doc.heading("Stage timings")
    timings = as_dict(b.get(A.TIMINGS))
    stages = list(timings) + [s for s in digests if s not in timings]
    peak = {
        "sim": as_dict(b.get(A.SIM)).get("peak_memory_mb"),
        "synth": as_dict(b.get(A.SYNTH)).get("peak_memory_mb"),
    }
    secs = [num(as_dict(timings.get(s)).get("seconds")) for s in stages]
    rows = [
        [s, as_dict(timings.get(s)).get("last_status"), t, peak.get(s), digests.get(s)]
        for s, t in zip(stages, secs, strict=True)
    ]
    rows.append(["total", None, sum(t for t in secs if t is not None), None, None])
    doc.table(
        ["stage", "last status", "seconds (last run)", "peak memory MB", "digest"],
        rows,
        digits={2: 1, 3: 0},
    )
    note(b, doc, A.TIMINGS)


def render_build_report(build_dir: Path) -> dict:
    """Write ``build_dir/report/report.md``, ``report.html`` and the figures beside them.

    Returns ``{"md": path, "html": path, "figures": [paths], "missing": [keys]}`` where
    ``missing`` lists the absent input files (paths relative to ``build_dir``, in the order of
    ``INPUTS``), then absent parts of present files (``"synth/synth.json: variants.acc32"``).
    Raises :class:`A2QError` if ``build_dir`` is not a folder or an input file is malformed.
    """
    build_dir = Path(build_dir)
    b = Build(build_dir)
    b.check_is_build()
    name = as_dict(b.get(A.CONFIG)).get("name", build_dir.name)
    doc = Doc(f"a2q-flow build report: {name}")
    digests = b.stage_digests()
    _summary_line(b, doc)
    _header(b, doc)
    _quality(b, doc)
    examples(b, doc)
    _widths(b, doc)
    _sparsity(b, doc)
    _folding(b, doc)
    _wrap(b, doc)
    resources(b, doc)
    estimates(b, doc)
    _throughput(b, doc)
    _timings(b, doc, digests)
    note(b, doc, *INPUTS.values(), here=False)
    missing = doc.missing_summary(art.path for art in INPUTS.values())
    by = generated_line(f"build folder `{build_dir.name}`", digests)
    return write_report(doc, build_dir / REPORT_DIR, by, missing)
