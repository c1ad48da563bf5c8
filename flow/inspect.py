"""``a2q inspect``: a readable summary of a build folder from the files its stages wrote.

Every file is read through :class:`flow.artifacts.Build` (checked against its schema), the
same view the build report uses.
"""

from __future__ import annotations

from pathlib import Path

from flow import artifacts as A
from flow import folding
from flow.artifacts import Build
from flow.metrics import metric_named


def _metric_text(doc: dict, prefix: str) -> str:
    """``accuracy 97.50 %`` or ``psnr 31.20 dB`` from a stage file's ``<prefix>_<metric>``."""
    mt = metric_named(doc.get("metric"))
    return f"{mt.key} {doc[f'{prefix}_{mt.key}']:.2f} {mt.unit}"


def format_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """Align ``rows`` (dicts) under ``columns`` (key, header); None prints as '-'."""

    def cell(v: object) -> str:
        if v is None:
            return "-"
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    table = [[h for _, h in columns]] + [[cell(r.get(k)) for k, _ in columns] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def inspect_build(build_dir: Path) -> str:
    """The text ``a2q inspect`` prints for ``build_dir``."""
    b = Build(build_dir)
    b.check_is_build()
    out = [f"build {build_dir}"]
    unfinished = b.unfinished()
    for stage in A.STAGES:
        st = b.marker(stage)
        seconds = f" in {st['seconds']:.1f} s" if st and st.get("seconds") is not None else ""
        state = "unfinished (interrupted, files not shown)" if stage in unfinished else "not run"
        out.append(f"  {stage:8s} {'done' + seconds if st else state}")
    out += _train_section(b) + _export_section(b) + _compile_section(b) + _verify_section(b)
    out += _hardware_section(b)
    return "\n".join(out)


def _train_section(b: Build) -> list[str]:
    m = b.get(A.TRAIN_METRICS)
    if m is None:
        return []
    mt = metric_named(m.get("metric"))
    k, u = mt.key, mt.unit
    bicubic = f", bicubic {m['bicubic_psnr']:.2f} {u}" if m.get("bicubic_psnr") is not None else ""
    figures = (
        f"QONNX file {m[f'quant_{k}']:.2f} {u} (nothing trained: {m['source']})"
        if m.get("source")
        else f"float {m[f'float_{k}']:.2f} {u}, quantized {m[f'quant_{k}']:.2f} {u}"
    )
    out = [
        f"\n{mt.label}: {figures}{bicubic} ({m.get('test_samples')} test samples, "
        f"{m.get('dataset')})"
    ]
    return out + [f"warning: {w}" for w in m.get("warnings", [])]


EXPORT_COLUMNS = [
    ("name", "layer"),
    ("K", "K"),
    ("input_bits", "N"),
    ("input_signed", "signed"),
    ("weight_bits", "M"),
    ("method", "method"),
    ("datatype_bound_bits", "P_dt"),
    ("target_bits", "target"),
    ("exact_bits", "exact"),
    ("max_l1", "max L1"),
    ("budget", "budget"),
    ("ok", "ok"),
]


def _export_section(b: Build) -> list[str]:
    c = b.get(A.EXPORT_CHECK)
    if c is None:
        return []
    return [
        "\nexported layers (integer weights read back from the QONNX file):",
        format_table(c["layers"], EXPORT_COLUMNS),
        f"fidelity: {c['fidelity']['summary']}",
    ]


def _hardware_section(b: Build) -> list[str]:
    out = []
    s = b.get(A.SIM)
    if s is not None:
        out.append(
            f"\nsimulation: {s['frames']} frames, bit-exact {'yes' if s['bit_exact'] else 'NO'}, "
            f"worst-case vectors {'exact' if s['worst_case_ok'] else 'WRONG'}, "
            f"{s['cycles_per_frame']:.0f} cycles/frame = {s['fps'] or 0:.0f} fps at "
            f"{s['clock_mhz']:g} MHz, latency {s['latency_cycles']} cycles"
        )
    synth = b.get(A.SYNTH)
    if synth is None:
        return out
    exact, wide = (A.synth_variant(synth, v) for v in A.VARIANTS)
    wide_top = wide.get("top") or {}
    rows = [_synth_row(node, fig, wide.get("layers", {}).get(node, {}))
            for node, fig in exact["layers"].items()]  # fmt: skip
    rows.append(
        {
            "node": "total",
            "layer": exact.get("top_from"),
            **{
                k: (exact.get("top") or {}).get(k) for k in ("lut", "lutram", "ff", "bram36", "dsp")
            },
            "lut32": wide_top.get("lut"),
            "ff32": wide_top.get("ff"),
            "bram32": wide_top.get("bram36"),
        }
    )
    out.append(f"\nsynthesis ({synth['flow']}, {synth['part']}): exact accumulators vs 32-bit")
    out.append(format_table(rows, SYNTH_COLUMNS))
    ratios = A.synth_ratios(synth)
    if ratios["lut"] is not None:
        out.append(
            f"32-bit / exact: LUT {ratios['lut']:.2f}x, FF {ratios['ff'] or 0:.2f}x, "
            f"BRAM {ratios['bram36'] or 0:.2f}x; utilization "
            + ", ".join(f"{k} {v:.1f} %" for k, v in exact.get("utilization", {}).items())
        )
    return out


SYNTH_COLUMNS = [
    ("node", "node"),
    ("layer", "layer"),
    ("lut", "LUT"),
    ("lutram", "LUTRAM"),
    ("ff", "FF"),
    ("bram36", "BRAM36"),
    ("dsp", "DSP"),
    ("lut32", "LUT@32"),
    ("ff32", "FF@32"),
    ("bram32", "BRAM36@32"),
    ("finn_lut", "FINN est. LUT"),
]


def _synth_row(node: str, fig: dict, wide: dict) -> dict:
    """One node of the synthesis table: the exact variant's figures, acc32's and FINN's LUTs."""
    est = fig.get("estimate") or {}
    return {
        "node": node,
        "layer": fig.get("layer"),
        **{k: fig[k] for k in ("lut", "lutram", "ff", "bram36", "dsp")},
        "lut32": wide.get("lut"),
        "ff32": wide.get("ff"),
        "bram32": wide.get("bram36"),
        "finn_lut": est.get("LUT"),
    }


ACC_COLUMNS = [
    ("name", "layer"),
    ("node", "node"),
    ("K", "K"),
    ("input_bits", "N"),
    ("input_signed", "signed"),
    ("weight_bits", "M"),
    ("datatype_bound_bits", "P_dt"),
    ("target_bits", "target"),
    ("exact_bits", "exact"),
    ("hw_acc_bits", "hw acc"),
    ("finn_acc_bits", "FINN"),
    ("threshold_bits", "thr"),
    ("guarantee_text", "guaranteed"),
    ("PE", "PE"),
    ("SIMD", "SIMD"),
    ("zero_weight_pct", "zero w %"),
    ("zero_lane_pct", "zero lanes %"),
]
SUM_COLUMNS = [
    ("node", "node"),
    ("op", "op"),
    ("inputs", "inputs"),
    ("terms", "terms"),
    ("hw_type", "hw type"),
    ("PE", "PE"),
]


def _guarantee(row: dict) -> str:
    """``yes: data-type bound`` / ``yes: A2Q L1 budget`` / ``no`` (older files: yes / no)."""
    if not row.get("guaranteed"):
        return "no"
    return f"yes: {row['guarantee']}" if row.get("guarantee") else "yes"


def format_accumulators(rows: list[dict]) -> str:
    """The per-layer width table of ``compile/accumulators.json``, with its weight sparsity
    (zero weights, and (PE, SIMD) lanes zero in every fold) in percent."""

    def pct(v: float | None) -> float | None:
        return None if v is None else round(100 * v, 1)

    return format_table(
        [
            {
                **r,
                "zero_weight_pct": pct(r.get("zero_weight_fraction")),
                "guarantee_text": _guarantee(r),
                "zero_lane_pct": pct(r.get("zero_lane_fraction")),
            }
            for r in rows
        ],
        ACC_COLUMNS,
    )


def _compile_section(b: Build) -> list[str]:
    rows = b.get(A.ACCUMULATORS)
    if rows is None:
        return []
    out = [
        "\naccumulator widths (bits; guaranteed: exact <= target, and by what):",
        format_accumulators(rows),
    ]
    sums = b.get(A.SUMS)
    if sums:
        out.append("residual adds and global pools (exact width of their sums):")
        out.append(
            format_table([{**r, "inputs": " + ".join(r["inputs"])} for r in sums], SUM_COLUMNS)
        )
    fold = b.get(A.FOLDING)
    if fold:
        out.append(
            "folding and MAC style per layer (est.: the area model that chose them; LUT: "
            "synthesized, * = in slices, scaled):"
        )
        out.append(format_table(folding.table(fold, b.get(A.SYNTH)), folding.COLUMNS))
    tail = b.get(A.HOST_TAIL)
    if tail:
        ops = ", ".join(op["op_type"] for op in tail)
        out.append(f"host side: {ops} after the last layer (float scaling, not in hardware)")
    return out


def _verify_section(b: Build) -> list[str]:
    out = []
    v = b.get(A.VERIFY)
    if v is not None:
        out.append(
            f"HW graph vs QONNX on {v.get('samples')} test samples: {v.get('mismatches')} "
            f"mismatches ({v.get('tolerance')}); HW {_metric_text(v, 'hw')}"
        )
    o = b.get(A.OVERFLOW)
    if o is None:
        return out
    events = sum(r["overflow_events"] for r in o.get("test_set_at_hw_widths", {}).values())
    fits = all(r["fits"] for r in o.get("worst_case", []))
    out.append(
        f"overflow at hardware widths: {events} events on the test set; worst-case "
        f"input vectors {'fit' if fits else 'DO NOT FIT'} every accumulator"
    )
    mk = metric_named(o.get("metric"))
    if o["wrap_study"]:
        out.append("wrap-around study (policy layers forced to P bits):")
        study = [{"P": r["acc_bits"], "events": r.get("overflow_events"), "m": r[mk.key]}
                 for r in o["wrap_study"]]  # fmt: skip
        columns = [("P", "P"), ("events", "overflow events"), ("m", f"{mk.key} {mk.unit}")]
        out.append(format_table(study, columns))
    return out
