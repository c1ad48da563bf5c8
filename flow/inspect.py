"""``a2q inspect``: a readable summary of a build folder from the files its stages wrote."""

from __future__ import annotations

from pathlib import Path

from flow.errors import A2QError
from flow.metrics import metric_named
from flow.stages import STAGE_NAMES, stage_status
from flow.util import read_json


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
    if not build_dir.is_dir():
        raise A2QError(f"{build_dir}: no such build folder (run `a2q run CONFIG` first)")
    out = [f"build {build_dir}"]
    for stage in STAGE_NAMES:
        st = stage_status(build_dir, stage)
        state = f"done in {st['seconds']:.1f} s" if st else "not run"
        out.append(f"  {stage:8s} {state}")
    metrics = build_dir / "train" / "metrics.json"
    if metrics.exists():
        m = read_json(metrics)
        mt = metric_named(m.get("metric"))
        k, u = mt.key, mt.unit
        bicubic = f", bicubic {m['bicubic_psnr']:.2f} {u}" if "bicubic_psnr" in m else ""
        out.append(
            f"\n{mt.label}: float {m[f'float_{k}']:.2f} {u}, quantized {m[f'quant_{k}']:.2f} {u}"
            f"{bicubic} ({m['test_samples']} test samples, {m['dataset']})"
        )
        for w in m.get("warnings", []):
            out.append(f"warning: {w}")
    check = build_dir / "export" / "export_check.json"
    if check.exists():
        c = read_json(check)
        out.append("\nexported layers (integer weights read back from the QONNX file):")
        out.append(
            format_table(
                c["layers"],
                [
                    ("name", "layer"),
                    ("K", "K"),
                    ("input_bits", "N"),
                    ("weight_bits", "M"),
                    ("method", "method"),
                    ("datatype_bound_bits", "P_dt"),
                    ("target_bits", "target"),
                    ("exact_bits", "exact"),
                    ("max_l1", "max L1"),
                    ("budget", "budget"),
                    ("ok", "ok"),
                ],
            )
        )
        out.append(f"fidelity: {c['fidelity']['summary']}")
    out += _compile_section(build_dir / "compile")
    out += _hardware_section(build_dir)
    return "\n".join(out)


def _hardware_section(build_dir: Path) -> list[str]:
    out = []
    sim = build_dir / "sim" / "sim.json"
    if sim.exists():
        s = read_json(sim)
        out.append(
            f"\nsimulation: {s['frames']} frames, bit-exact {'yes' if s['bit_exact'] else 'NO'}, "
            f"worst-case vectors {'exact' if s['worst_case_ok'] else 'WRONG'}, "
            f"{s['cycles_per_frame']:.0f} cycles/frame = {s['fps']:.0f} fps at "
            f"{s['clock_mhz']:g} MHz, latency {s['latency_cycles']} cycles"
        )
    synth = build_dir / "synth" / "synth.json"
    if not synth.exists():
        return out
    s = read_json(synth)
    variants = s["variants"]
    rows = []
    for node, fig in variants["exact"]["layers"].items():
        wide = variants.get("acc32", {}).get("layers", {}).get(node, {})
        est = fig.get("estimate") or {}
        rows.append(
            {
                "node": node,
                "layer": fig.get("layer"),
                "lut": fig["lut"],
                "lutram": fig["lutram"],
                "ff": fig["ff"],
                "bram36": fig["bram36"],
                "dsp": fig["dsp"],
                "lut32": wide.get("lut"),
                "ff32": wide.get("ff"),
                "bram32": wide.get("bram36"),
                "finn_lut": est.get("LUT"),
            }
        )
    top = variants["exact"]["top"]
    rows.append(
        {
            "node": "total",
            "layer": variants["exact"].get("top_from"),
            **{k: top[k] for k in ("lut", "lutram", "ff", "bram36", "dsp")},
            "lut32": (variants.get("acc32") or {}).get("top", {}).get("lut"),
            "ff32": (variants.get("acc32") or {}).get("top", {}).get("ff"),
            "bram32": (variants.get("acc32") or {}).get("top", {}).get("bram36"),
        }
    )
    out.append(f"\nsynthesis ({s['flow']}, {s['part']}): exact accumulators vs 32-bit")
    out.append(
        format_table(
            rows,
            [
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
            ],
        )
    )
    if s.get("lut_ratio") is not None:
        out.append(
            f"32-bit / exact: LUT {s['lut_ratio']:.2f}x, FF {s['ff_ratio']:.2f}x, "
            f"BRAM {s['bram_ratio'] or 0:.2f}x; utilization "
            + ", ".join(f"{k} {v:.1f} %" for k, v in variants["exact"]["utilization"].items())
        )
    return out


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
    ("guaranteed", "guaranteed"),
    ("PE", "PE"),
    ("SIMD", "SIMD"),
]


def format_accumulators(rows: list[dict]) -> str:
    """The per-layer width table of ``compile/accumulators.json``."""
    return format_table(rows, ACC_COLUMNS)


def _compile_section(cdir: Path) -> list[str]:
    acc = cdir / "accumulators.json"
    if not acc.exists():
        return []
    rows = read_json(acc)
    out = [
        "\naccumulator widths (bits; guaranteed = A2Q-constrained and exact <= target):",
        format_accumulators(rows),
    ]
    sums = cdir / "sums.json"
    if sums.exists() and read_json(sums):
        out.append("residual adds and global pools (exact width of their sums):")
        out.append(
            format_table(
                [{**r, "inputs": " + ".join(r["inputs"])} for r in read_json(sums)],
                [
                    ("node", "node"),
                    ("op", "op"),
                    ("inputs", "inputs"),
                    ("terms", "terms"),
                    ("hw_type", "hw type"),
                    ("PE", "PE"),
                ],
            )
        )
    tail = cdir / "host_tail.json"
    if tail.exists() and read_json(tail):
        ops = ", ".join(op["op_type"] for op in read_json(tail))
        out.append(f"host side: {ops} after the last layer (float scaling, not in hardware)")
    verify = cdir / "verify.json"
    if verify.exists():
        v = read_json(verify)
        out.append(
            f"HW graph vs QONNX on {v['samples']} test samples: {v['mismatches']} mismatches "
            f"({v['tolerance']}); HW {_metric_text(v, 'hw')}"
        )
    overflow = cdir / "overflow.json"
    if overflow.exists():
        o = read_json(overflow)
        events = sum(r["overflow_events"] for r in o["test_set_at_hw_widths"].values())
        fits = all(r["fits"] for r in o["worst_case"])
        out.append(
            f"overflow at hardware widths: {events} events on the test set; worst-case "
            f"input vectors {'fit' if fits else 'DO NOT FIT'} every accumulator"
        )
        mk = metric_named(o.get("metric"))
        if o["wrap_study"]:
            out.append("wrap-around study (policy layers forced to P bits):")
            out.append(
                format_table(
                    [
                        {"P": r["acc_bits"], "events": r["overflow_events"], "m": r[mk.key]}
                        for r in o["wrap_study"]
                    ],
                    [("P", "P"), ("events", "overflow events"), ("m", f"{mk.key} {mk.unit}")],
                )
            )
    return out
