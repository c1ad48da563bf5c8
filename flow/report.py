"""Reports: one Markdown and one self-contained HTML page per build folder or sweep folder.

:func:`render_build_report` reads the files the stages wrote into ``build/<name>/`` and writes
``report/report.md``, ``report/report.html`` and the figures (``report/fig_*.png``) beside
them; :func:`render_sweep_report` does the same for a sweep folder's ``summary.json``. Every
figure has a table with the same numbers next to it, and the HTML page embeds the figures as
``data:`` URIs with inline CSS, so it can be mailed or archived as one file.

Any input may be missing (a stage not run yet): the report still renders, and says which file
of which stage is missing and what it would show. Inputs are read with ``.get`` throughout, so
a key a later version adds or drops only blanks a cell.

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
  ``finn_acc_bits``, ``threshold_bits``, ``guaranteed``.
- ``compile/verify.json``: ``metric``, ``samples``, ``mismatches``, ``hw_<k>``,
  ``tolerance``, ``ok``.
- ``compile/overflow.json``: ``metric``, ``worst_case[].fits``,
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
  ``top`` and ``utilization``. A top-level ``acc32`` total stands in for a missing
  ``variants.acc32.top``, and a top-level ``lut_ratio`` is used when present (else it is
  computed from the two tops).

Figures are drawn on :class:`matplotlib.figure.Figure` objects with the Agg canvas, never
through ``pyplot``: no display, no global figure state, and the PNGs carry no timestamp or
software tag, so the same inputs give the same bytes.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

import flow
from flow.artifacts import STAGE_MARKER
from flow.errors import A2QError
from flow.metrics import ACCURACY, METRICS, PSNR, Metric, metric_named
from flow.stages import STAGE_NAMES
from flow.util import atomic_write_bytes, atomic_write_text, file_digest, read_json

REPORT_DIR = "report"
SYNTH_FLOW_NOTE = (
    "Resource figures come from open-source synthesis (Yosys `synth_xilinx`), not from Vivado "
    "place-and-route: treat them as relative, logic-level figures."
)
METHOD_LABELS = {"baseline": "baseline", "a2q": "A2Q", "a2q_plus": "A2Q+"}
# How close to its own float figure a point must be to count as "near float", per metric:
# accuracy in percentage points, PSNR in dB.
NEAR_FLOAT = {"accuracy": 1.0, "psnr": 0.5}
NEAR_FLOAT_POINTS = NEAR_FLOAT["accuracy"]

_COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3")
_DPI = 100


@dataclass(frozen=True)
class Wording:
    """How the reports name a metric in running text, headings, table columns and plot axes."""

    noun: str  # running text: "the simulated accuracy"
    plural: str  # "accuracies of successful points"
    title: str  # plot titles and sweep headings: "Accuracy vs P"
    heading: str  # the build report's section of the metric
    column: str  # table column: "accuracy %"
    axis: str  # plot axis: "accuracy (%)"
    near: str  # unit of the near-float threshold: "within 1 point of float accuracy"


WORDING = {
    "accuracy": Wording(
        "accuracy", "accuracies", "Accuracy", "Accuracy", "accuracy %", "accuracy (%)", "point"
    ),
    "psnr": Wording(
        "PSNR", "PSNR figures", "PSNR", "PSNR (luminance, dB)", "PSNR dB", "PSNR (dB)", "dB"
    ),
}


def wording(metric: Metric) -> Wording:
    return WORDING[metric.key]


def _described(metric: Metric) -> str:
    """``top-1 accuracy (%)``, ``PSNR (luminance, dB)``: the label, with the unit once."""
    return metric.label if metric.unit in metric.label else f"{metric.label} ({metric.unit})"


def _with_unit(value: float, metric: Metric) -> str:
    """``96.94 %`` or ``21.66 dB``."""
    return f"{value:.2f} {metric.unit}"


# ------------------------------------------------------------------------ document model


def fmt(value: Any, digits: int | None = None) -> str:
    """One table cell: None is '-', bools yes/no, integral floats without decimals.

    ``digits`` fixes the number of decimals of a float (accuracies, ratios, seconds).
    """
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if digits is not None:
            return f"{value:.{digits}f}"
        if value.is_integer():
            return str(int(value))
        return f"{value:.0f}" if abs(value) >= 1e4 else f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(fmt(v, digits) for v in value)
    return str(value)


def _num(value: Any) -> float | None:
    """``value`` as a finite float, or None (bools, strings and NaN are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


@dataclass
class _Doc:
    """A report as a list of blocks, rendered to Markdown and to HTML from the same data."""

    title: str
    blocks: list[tuple] = field(default_factory=list)
    figures: dict[str, bytes] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(("h", level, text))

    def para(self, text: str) -> None:
        self.blocks.append(("p", text))

    def bullets(self, items: Iterable[str]) -> None:
        items = list(items)
        if items:
            self.blocks.append(("ul", items))

    def register_missing(self, key: str, what: str, shows: str) -> None:
        """Remember that ``what`` (short id ``key``) is missing, for the closing summary."""
        self.missing.setdefault(key, f"{what}: it would show {shows}")

    def note_missing(self, key: str, what: str, shows: str) -> None:
        """Say here that ``what`` is missing and what it would show; remember it too."""
        self.register_missing(key, what, shows)
        self.blocks.append(("missing", f"Missing: {what}. It would show {shows}."))

    def missing_summary(self, first: Iterable[str] = ()) -> list[str]:
        """A closing section listing what is missing (keys in ``first`` first); the keys."""
        keys = [k for k in first if k in self.missing]
        keys += [k for k in self.missing if k not in keys]
        self.heading("Missing inputs")
        if keys:
            self.bullets(self.missing[k] for k in keys)
        else:
            self.para("None: every input is present.")
        return keys

    def table(
        self, headers: list[str], rows: list[list[Any]], digits: dict[int, int] | None = None
    ) -> None:
        """A table; ``digits`` maps a column index to its number of decimals."""
        digits = digits or {}
        cells = [[fmt(v, digits.get(i)) for i, v in enumerate(row)] for row in rows]
        self.blocks.append(("table", headers, cells))

    def records(
        self, rows: list[dict], columns: list[tuple[str, str]], digits: dict[str, int] | None = None
    ) -> None:
        """A table of dicts: ``columns`` are (key, header); ``digits`` maps keys to decimals."""
        digits = digits or {}
        self.table(
            [h for _, h in columns],
            [[r.get(k) for k, _ in columns] for r in rows],
            {i: digits[k] for i, (k, _) in enumerate(columns) if k in digits},
        )

    def figure(self, name: str, fig: Figure, caption: str) -> None:
        self.figures[name] = png_bytes(fig)
        self.blocks.append(("fig", name, caption))

    def markdown(self, generated: str) -> str:
        out = [f"# {self.title}", "", f"_{generated}_", ""]
        n_fig = 0
        for block in self.blocks:
            kind = block[0]
            if kind == "h":
                out += [f"{'#' * block[1]} {block[2]}", ""]
            elif kind == "p":
                out += [block[1], ""]
            elif kind == "ul":
                out += [f"- {item}" for item in block[1]] + [""]
            elif kind == "missing":
                out += [f"> **{block[1]}**", ""]
            elif kind == "table":
                headers, rows = block[1], block[2]
                out.append("| " + " | ".join(_md_cell(h) for h in headers) + " |")
                out.append("|" + "|".join("---" for _ in headers) + "|")
                out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
                out.append("")
            elif kind == "fig":
                n_fig += 1
                out += [f"![{block[2]}]({block[1]})", "", f"*Figure {n_fig}: {block[2]}*", ""]
        return "\n".join(out).rstrip() + "\n"

    def html(self, generated: str) -> str:
        body = [f"<h1>{_inline(self.title)}</h1>", f'<p class="gen">{_inline(generated)}</p>']
        n_fig = 0
        for block in self.blocks:
            kind = block[0]
            if kind == "h":
                body.append(f"<h{block[1]}>{_inline(block[2])}</h{block[1]}>")
            elif kind == "p":
                body.append(f"<p>{_inline(block[1])}</p>")
            elif kind == "ul":
                body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block[1]) + "</ul>")
            elif kind == "missing":
                body.append(f'<p class="missing">{_inline(block[1])}</p>')
            elif kind == "table":
                head = "".join(f"<th>{_inline(h)}</th>" for h in block[1])
                rows = "".join(
                    "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>"
                    for row in block[2]
                )
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            elif kind == "fig":
                n_fig += 1
                data = base64.b64encode(self.figures[block[1]]).decode("ascii")
                body.append(
                    f'<figure><img src="data:image/png;base64,{data}" '
                    f'alt="{html.escape(block[2])}">'
                    f"<figcaption>Figure {n_fig}: {_inline(block[2])}</figcaption></figure>"
                )
        return (
            "<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="generator" content="a2q-flow {html.escape(flow.__version__)}">'
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head>\n"
            f"<body>\n<!-- {html.escape(generated)} -->\n" + "\n".join(body) + "\n</body></html>\n"
        )


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
    "color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em;"
    "display:block;overflow-x:auto}th,td{border:1px solid #ccc;padding:.2em .5em;"
    "text-align:right}th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}"
    "figure{margin:1em 0}img{max-width:100%}figcaption{font-size:.9em;color:#555}"
    ".missing{background:#fff3cd;border-left:4px solid #e0a800;padding:.4em .8em}"
    ".gen{color:#666;font-size:.85em}code{background:#f4f4f4;padding:0 .2em}"
)
_CODE = re.compile(r"`([^`]+)`")


def _inline(text: str) -> str:
    """Escape ``text`` for HTML; `backticks` become <code>."""
    return _CODE.sub(r"<code>\1</code>", html.escape(text, quote=False))


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# ------------------------------------------------------------------------------ figures


def png_bytes(fig: Figure) -> bytes:
    """``fig`` as PNG bytes, without metadata that would change between runs or versions."""
    buf = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return buf.getvalue()


def _new_figure(ncols: int = 1, width: float = 7.5, height: float = 3.8) -> tuple[Figure, list]:
    fig = Figure(figsize=(width * ncols if ncols > 1 else width, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def grouped_bars(
    ax: Any, categories: list[str], series: dict[str, list[float | None]], ylabel: str
) -> None:
    """Bars of every series side by side per category, values written on top; None: no bar.

    Values are counts or widths (non-negative): the y axis starts at 0.
    """
    n = max(len(series), 1)
    width = 0.8 / n
    top = 0.0
    for i, (label, values) in enumerate(series.items()):
        xs = [j + (i - (n - 1) / 2) * width for j in range(len(categories))]
        pts = [(x, v) for x, v in zip(xs, values, strict=True) if _num(v) is not None]
        if not pts:
            continue
        top = max([top] + [p[1] for p in pts])
        bars = ax.bar(
            [p[0] for p in pts],
            [p[1] for p in pts],
            width,
            label=label,
            color=_COLORS[i % len(_COLORS)],
        )
        ax.bar_label(bars, labels=[fmt(p[1], None) for p in pts], fontsize=7, padding=1)
    ax.set_xticks(
        range(len(categories)),
        categories,
        rotation=30 if len(categories) > 6 else 0,
        ha="right" if len(categories) > 6 else "center",
    )
    ax.set_ylabel(ylabel)
    # Headroom above the tallest bar for the value labels and a legend that never covers bars.
    ax.set_ylim(0, top * 1.4 if top > 0 else 1.0)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper left", ncols=min(n, 3))
    ax.grid(axis="y", alpha=0.3)


# -------------------------------------------------------------------------- build inputs


@dataclass(frozen=True)
class _Input:
    """One input file of a build report: where it is, which stage writes it, what it shows.

    ``{metric}`` in ``shows`` stands for the build's metric ("accuracy", "PSNR").
    """

    path: str
    stage: str
    shows: str


INPUTS: dict[str, _Input] = {
    "config": _Input("config.yaml", "run", "the resolved config (name, dataset, method, P)"),
    "timings": _Input("timings.json", "run", "the seconds and ran/cached status of each stage"),
    "metrics": _Input(
        "train/metrics.json",
        "train",
        "the float and quantized {metric} and each layer's method, L1 norm and sparsity",
    ),
    "export": _Input(
        "export/export_check.json",
        "export",
        "whether the exported integers meet every layer's bound and the QONNX fidelity",
    ),
    "acc": _Input(
        "compile/accumulators.json",
        "compile",
        "each layer's data-type bound, target, exact, hardware and FINN accumulator widths",
    ),
    "verify": _Input(
        "compile/verify.json", "compile", "the HW graph's {metric} and mismatches against QONNX"
    ),
    "overflow": _Input(
        "compile/overflow.json",
        "compile",
        "the worst-case overflow check and the wrap-around study ({metric} vs forced P)",
    ),
    "finn_res": _Input(
        "compile/report/estimate_layer_resources.json",
        "compile",
        "FINN's per-layer LUT/BRAM estimates",
    ),
    "finn_perf": _Input(
        "compile/report/estimate_network_performance.json",
        "compile",
        "FINN's estimated cycles per frame and throughput",
    ),
    "sim": _Input(
        "sim/sim.json",
        "sim",
        "the simulated {metric}, bit-exactness, cycles per frame and frames per second",
    ),
    "synth": _Input(
        "synth/synth.json",
        "synth",
        "LUT/FF/BRAM per layer with exact and with 32-bit accumulators, totals and the LUT ratio",
    ),
}


class _Build:
    """The input files of one build folder, each read once; absent ones read as None."""

    def __init__(self, build_dir: Path) -> None:
        self.dir = build_dir
        self._cache: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        if key not in self._cache:
            path = self.dir / INPUTS[key].path
            self._cache[key] = _load(path) if path.is_file() else None
        return self._cache[key]

    @property
    def metric(self) -> Metric:
        """The build's metric, as the first stage file that names one says (else accuracy)."""
        named = [_dict(self.get(k)).get("metric") for k in ("metrics", "verify", "overflow", "sim")]
        named.append(_dict(_dict(self.get("export")).get("fidelity")).get("metric"))
        return metric_named(next((str(n) for n in named if n), None))

    def shows(self, key: str) -> str:
        """What input ``key`` would show, in the words of the build's metric."""
        return INPUTS[key].shows.format(metric=wording(self.metric).noun)

    def note(self, doc: _Doc, *keys: str, here: bool = True) -> bool:
        """Note in ``doc`` every input of ``keys`` that is missing; True if all are present.

        With ``here`` False it is only remembered for the closing summary.
        """
        ok = True
        for key in keys:
            if self.get(key) is None:
                inp = INPUTS[key]
                stage = "the pipeline run" if inp.stage == "run" else f"stage `{inp.stage}`"
                args = (inp.path, f"`{inp.path}` ({stage} has not written it)", self.shows(key))
                (doc.note_missing if here else doc.register_missing)(*args)
                ok = False
        return ok

    def stage_digests(self) -> dict[str, str]:
        """Stage name -> digest of every finished stage, in pipeline order (then by name)."""
        found = {p.parent.name: p for p in self.dir.glob(f"*/{STAGE_MARKER}")}
        order = [s for s in STAGE_NAMES if s in found] + sorted(set(found) - set(STAGE_NAMES))
        digests = {stage: _dict(_load(found[stage])).get("digest") for stage in order}
        return {stage: str(d) for stage, d in digests.items() if d}


def _load(path: Path) -> Any:
    """A JSON or YAML input file; a malformed one is an error naming it (files are atomic)."""
    try:
        if path.suffix in (".yaml", ".yml"):
            return yaml.safe_load(path.read_text())
        return read_json(path)
    except (ValueError, yaml.YAMLError) as e:
        raise A2QError(f"{path}: cannot be read as {path.suffix[1:].upper()}: {e}") from e


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _generated(source: str, digests: dict[str, str] | None = None) -> str:
    """The 'generated by' line: version, source and (for builds) every stage's digest."""
    text = f"Generated by a2q-flow {flow.__version__} from {source}"
    if digests is not None:
        chain = ", ".join(f"{s} {d}" for s, d in digests.items()) or "none (no stage finished)"
        text += f"; stage digests: {chain}"
    return text + ". Do not edit: re-run the report instead."


# ------------------------------------------------------------------------ build sections


def _layer_rows(b: _Build) -> list[dict]:
    """Per-layer width rows: ``accumulators.json`` if present, else the export check's."""
    acc = _list(b.get("acc"))
    if acc:
        return [_dict(r) for r in acc]
    return [_dict(r) for r in _list(_dict(b.get("export")).get("layers"))]


def chain_ok(row: dict) -> bool | None:
    """``exact <= target <= P_dt`` (target skipped when unconstrained) and ``hw == exact``.

    None when the widths needed are not all known.
    """
    exact, pdt, hw = (
        _num(row.get(k)) for k in ("exact_bits", "datatype_bound_bits", "hw_acc_bits")
    )
    target = _num(row.get("target_bits"))
    if exact is None or pdt is None or hw is None:
        return None
    upper = target if target is not None else pdt
    return exact <= upper <= pdt and hw == exact


def _header(b: _Build, doc: _Doc) -> None:
    cfg, m = _dict(b.get("config")), _dict(b.get("metrics"))
    rows = _layer_rows(b)
    methods = sorted(
        {str(r["method"]) for r in [*map(_dict, _list(m.get("layers"))), *rows] if r.get("method")}
    )
    acc = _list(b.get("acc"))
    if acc:
        guaranteed = [str(r.get("name")) for r in acc if r.get("guaranteed") is True]
        free = [str(r.get("name")) for r in acc if r.get("guaranteed") is not True]
        guar_text = ", ".join(guaranteed) or "none"
        free_text = ", ".join(free) or "none"
    else:
        guar_text = free_text = "unknown until stage `compile` has run"
    quant = _dict(cfg.get("quant"))
    doc.heading("Build")
    doc.table(
        ["item", "value"],
        [
            ["name", cfg.get("name", b.dir.name)],
            ["dataset", m.get("dataset", _dict(cfg.get("data")).get("dataset"))],
            [
                "train / test samples",
                f"{fmt(m.get('train_samples'))} / {fmt(m.get('test_samples'))}",
            ],
            ["training device", m.get("device")],
            ["method (config)", quant.get("method")],
            ["target accumulator bits P (config)", quant.get("acc_bits")],
            ["methods per layer", ", ".join(methods) or None],
            ["EP-init layers", _list(m.get("ep_init_layers")) or None],
            ["guaranteed layers (A2Q-constrained, exact <= target)", guar_text],
            ["unconstrained layers (exact width, no training guarantee)", free_text],
        ],
    )
    b.note(doc, "config")
    warnings = [str(w) for w in _list(m.get("warnings"))]
    if warnings:
        doc.para("Training warnings:")
        doc.bullets(warnings)


def _summary_line(b: _Build, doc: _Doc) -> None:
    """The line at the top: the build's metric and its headline figures."""
    metric = b.metric
    m, sim = _dict(b.get("metrics")), _dict(b.get("sim"))
    k = metric.key
    figures = [
        ("float", m.get(f"float_{k}")),
        ("quantized", m.get(f"quant_{k}")),
        ("HW graph", _dict(b.get("verify")).get(f"hw_{k}")),
        ("simulated RTL", sim.get(k)),
    ]
    if metric is PSNR:
        figures.append(("bicubic interpolation (reference)", m.get("bicubic_psnr")))
    known = [f"{name} {_with_unit(v, metric)}" for name, x in figures if (v := _num(x)) is not None]
    doc.para(f"Metric: {_described(metric)}" + (f": {', '.join(known)}." if known else "."))


def _quality(b: _Build, doc: _Doc) -> None:
    """The table of the build's metric at every stage, and the checks."""
    metric = b.metric
    k = metric.key
    doc.heading(wording(metric).heading)
    m, ex, ver, sim = (_dict(b.get(key)) for key in ("metrics", "export", "verify", "sim"))
    fid = _dict(ex.get("fidelity"))
    spec = [
        ("float (PyTorch)", m, f"float_{k}", m.get("test_samples"), "metrics"),
        ("quantized (Brevitas)", m, f"quant_{k}", m.get("test_samples"), "metrics"),
        ("quantized (Brevitas), export-check samples", fid, f"brevitas_{k}",
         fid.get("samples"), "export"),
        ("exported QONNX", fid, f"qonnx_{k}", fid.get("samples"), "export"),
        ("FINN HW graph", ver, f"hw_{k}", ver.get("samples"), "verify"),
        ("simulated RTL (Verilator)", sim, k, sim.get("frames"), "sim"),
    ]  # fmt: skip
    if metric is PSNR:
        # The bar a learned upscaler has to clear: plain bicubic interpolation of the input.
        spec.insert(0, ("bicubic interpolation (reference)", m, "bicubic_psnr",
                        m.get("test_samples"), "metrics"))  # fmt: skip
    rows = [[label, d.get(key), n, INPUTS[src].path] for label, d, key, n, src in spec]
    doc.table(["model", wording(metric).column, "samples", "from"], rows, digits={1: 2})
    b.note(doc, "metrics", "export", "verify", "sim")
    wc = _list(_dict(b.get("overflow")).get("worst_case"))
    at_hw = _dict(_dict(b.get("overflow")).get("test_set_at_hw_widths"))
    events = [_num(_dict(r).get("overflow_events")) for r in at_hw.values()]
    bad = [str(r.get("name")) for r in _list(ex.get("layers")) if _dict(r).get("ok") is False]
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
                all(_dict(r).get("fits") is True for r in wc) if wc else None,
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


EXAMPLES_PATH = "train/examples.npz"
# Columns of the example figure: array in examples.npz, title. The target is what every other
# column's PSNR is measured against; the low-res input is smaller, so it has none.
EXAMPLE_COLUMNS = (
    ("low_res", "low-res input"),
    ("bicubic", "bicubic"),
    ("float", "float"),
    ("quantized", "quantized"),
    ("target", "target"),
)
EXAMPLE_MAX_TILES = 8
EXAMPLE_CELL_INCHES = (1.75, 2.0)  # width, height of one tile (175 x 200 pixels)
_EXAMPLES_SHOW = (
    "a few test tiles side by side (low-res input, bicubic, float and quantized outputs, "
    "target) with each output's PSNR against the target"
)


def _load_examples(path: Path) -> dict[str, np.ndarray]:
    """The arrays of ``examples.npz``; a malformed file is an error naming it."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: np.asarray(z[k]) for k in z.files}
    except (OSError, ValueError, EOFError) as e:
        raise A2QError(f"{path}: cannot be read as NPZ: {e}") from e


def _pixels(a: np.ndarray) -> np.ndarray:
    """Images as whole 8-bit pixels (they are stored so; float arrays are rounded)."""
    if np.issubdtype(a.dtype, np.integer):
        return a
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def example_psnrs(arrays: dict[str, np.ndarray]) -> list[dict[str, float | None]]:
    """Per example tile: each output's PSNR (dB) against that tile's target.

    One dict per tile, keyed by the output arrays (``bicubic``, ``float``, ``quantized``); None
    where the array is absent or not shaped like the target.
    """
    from flow.data.superres import psnr

    target = arrays.get("target")
    if target is None or target.ndim != 4:
        return []
    target = _pixels(target)
    out = []
    for i in range(min(len(target), EXAMPLE_MAX_TILES)):
        row: dict[str, float | None] = {}
        for key, _ in EXAMPLE_COLUMNS:
            if key in ("low_res", "target"):
                continue
            a = arrays.get(key)
            ok = a is not None and a.shape[1:] == target.shape[1:] and len(a) > i
            row[key] = psnr(_pixels(a[i : i + 1]), target[i : i + 1]) if ok else None
        out.append(row)
    return out


def _tile(a: np.ndarray) -> np.ndarray:
    """One (C, H, W) tile as an image ``imshow`` draws: (H, W) gray or (H, W, 3) colour."""
    a = _pixels(a)
    return a[0] if a.shape[0] == 1 else np.moveaxis(a[:3], 0, -1)


def _examples(b: _Build, doc: _Doc) -> None:
    """Super-resolution: example tiles, every method's output next to the target."""
    if b.metric is not PSNR:
        return
    doc.heading("Example outputs")
    path = b.dir / EXAMPLES_PATH
    if not path.is_file():
        what = f"`{EXAMPLES_PATH}` (stage `train` has not written it)"
        doc.note_missing(EXAMPLES_PATH, what, _EXAMPLES_SHOW)
        return
    arrays = {k: a for k, a in _load_examples(path).items() if a.ndim == 4 and len(a)}
    absent = [k for k, _ in EXAMPLE_COLUMNS if k not in arrays]
    if absent:
        doc.note_missing(
            f"{EXAMPLES_PATH}: {', '.join(absent)}",
            f"the arrays {', '.join(f'`{k}`' for k in absent)} in `{EXAMPLES_PATH}`",
            "those columns of the example tiles",
        )
    columns = [(k, title) for k, title in EXAMPLE_COLUMNS if k in arrays]
    if not columns:
        return
    n = min(EXAMPLE_MAX_TILES, *(len(arrays[k]) for k, _ in columns))
    scores = example_psnrs(arrays)
    doc.para(
        f"The first {n} test tiles, drawn pixel for pixel (nearest neighbour, no smoothing): "
        "each output is titled with its PSNR against the tile's target. The PSNR in the table "
        "above is the mean over the whole test set; a single tile's varies around it."
    )
    cw, ch = EXAMPLE_CELL_INCHES
    fig = Figure(figsize=(cw * len(columns), ch * n), layout="constrained")
    axes = fig.subplots(n, len(columns), squeeze=False)
    for i in range(n):
        for j, (key, title) in enumerate(columns):
            ax = axes[i][j]
            img = _tile(arrays[key][i])
            ax.imshow(
                img,
                cmap="gray" if img.ndim == 2 else None,
                vmin=0,
                vmax=255,
                interpolation="nearest",
                resample=False,
            )
            h, w = img.shape[:2]
            db = scores[i].get(key) if i < len(scores) else None
            label = f"{title} {w}x{h}" if key in ("low_res", "target") or db is None else title
            ax.set_title(label + (f"\n{db:.2f} dB" if db is not None else ""), fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(f"tile {i}", fontsize=8)
    doc.figure(
        "fig_examples.png",
        fig,
        "example test tiles: low-res input, bicubic, float, quantized and target "
        "(PSNR against the target)",
    )
    outs = [(k, title) for k, title in columns if k not in ("low_res", "target")]
    rows = [[f"tile {i}"] + [scores[i].get(k) if i < len(scores) else None for k, _ in outs]
            for i in range(n)]  # fmt: skip
    doc.table(["tile"] + [f"{title} PSNR dB" for _, title in outs], rows,
              digits={j + 1: 2 for j in range(len(outs))})  # fmt: skip


WIDTH_COLUMNS = [
    ("name", "layer"), ("node", "node"), ("K", "K"), ("input_bits", "N"), ("weight_bits", "M"),
    ("datatype_bound_bits", "P_dt"), ("target_bits", "target"), ("exact_bits", "exact"),
    ("hw_acc_bits", "hw acc"), ("finn_acc_bits", "FINN"), ("threshold_bits", "thr"),
    ("guaranteed", "guaranteed"), ("chain_ok", "chain ok"),
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


def _widths(b: _Build, doc: _Doc) -> None:
    doc.heading("Accumulator widths per layer")
    rows = _layer_rows(b)
    if not b.note(doc, "acc") and rows:
        doc.para(
            "Widths below come from the export check; hardware and FINN widths need `compile`."
        )
    if not rows:
        b.note(doc, "export")
        return
    doc.para(
        "The guarantee chain per layer: exact <= target P <= data-type bound P_dt, and the "
        "hardware accumulator is exactly the exact width. Unconstrained layers have no target."
    )
    names = [str(r.get("name", r.get("node"))) for r in rows]
    fig, (ax,) = _new_figure(width=max(7.5, 1.6 * len(rows)))
    grouped_bars(ax, names, {lab: [r.get(k) for r in rows] for k, lab in _WIDTH_SERIES}, "bits")
    ax.set_title("Accumulator width chain per layer")
    doc.figure("fig_widths.png", fig, "accumulator widths per layer (bits)")
    doc.records([{**r, "chain_ok": chain_ok(r)} for r in rows], WIDTH_COLUMNS)


def _sparsity(b: _Build, doc: _Doc) -> None:
    doc.heading("Weight sparsity per layer")
    layers = [_dict(r) for r in _list(_dict(b.get("metrics")).get("layers"))]
    if not b.note(doc, "metrics") or not layers:
        return
    names = [str(r.get("name")) for r in layers]
    pct = [100 * s if (s := _num(r.get("sparsity"))) is not None else None for r in layers]
    fig, (ax,) = _new_figure(width=max(6.0, 1.2 * len(layers)))
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


def _wrap(b: _Build, doc: _Doc) -> None:
    doc.heading("Wrap-around study")
    study = [_dict(r) for r in _list(_dict(b.get("overflow")).get("wrap_study"))]
    if not b.note(doc, "overflow"):
        return
    if not study:
        doc.para("The wrap-around study was not run (`compile.wrap_bits` is empty).")
        return
    study.sort(key=lambda r: _num(r.get("acc_bits")) or 0)
    metric = b.metric
    k, w = metric.key, wording(metric)
    doc.para(
        "The constrained layers' accumulators forced to P bits with two's-complement "
        f"wrap-around: test {w.noun} and overflow events (dot products that left the P-bit "
        "range)."
    )
    ps = [_num(r.get("acc_bits")) for r in study]
    quality = [_num(r.get(k)) for r in study]
    events = [_num(r.get("overflow_events")) for r in study]
    fig, (ax1, ax2) = _new_figure(ncols=2, width=5.0)
    ax1.plot(*_pairs(ps, quality), marker="o", color=_COLORS[0])
    m = _dict(b.get("metrics"))
    refs = [(m.get(f"quant_{k}"), "--", "gray", "quantized, no wrap-around")]
    if metric is PSNR:
        refs.append((m.get("bicubic_psnr"), ":", "black", "bicubic interpolation"))
    for value, ls, color, label in refs:
        if (v := _num(value)) is not None:
            ax1.axhline(v, ls=ls, color=color, label=label)
    if ax1.get_legend_handles_labels()[0]:
        ax1.legend(fontsize=8)
    ax1.set(xlabel="forced accumulator bits P", ylabel=w.axis, title=f"{w.title} vs P")
    ax2.plot(*_pairs(ps, events), marker="o", color=_COLORS[3])
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
    layer_names = sorted({name for r in study for name in _dict(r.get("layers"))})
    doc.table(
        ["P", w.column, "overflow events"] + [f"{n} events" for n in layer_names],
        [
            [r.get("acc_bits"), r.get(k), r.get("overflow_events")]
            + [_dict(_dict(r.get("layers")).get(n)).get("overflow_events") for n in layer_names]
            for r in study
        ],
        digits={1: 2},
    )


def _pairs(xs: list[float | None], ys: list[float | None]) -> tuple[list[float], list[float]]:
    """The (x, y) pairs where both are numbers, as two lists for ``plot``."""
    both = [(x, y) for x, y in zip(xs, ys, strict=True) if x is not None and y is not None]
    return [p[0] for p in both], [p[1] for p in both]


def _variant(synth: dict, name: str) -> dict:
    v = _dict(_dict(synth.get("variants")).get(name))
    if "top" not in v and isinstance(synth.get(name), dict):
        v = {**v, "top": synth[name]}
    return v


def _ratio(a: Any, b: Any) -> float | None:
    a, b = _num(a), _num(b)
    return round(a / b, 4) if a is not None and b else None


_SYNTH_KEYS = (("lut", "LUT"), ("lutram", "LUTRAM"), ("ff", "FF"), ("bram36", "BRAM36"),
               ("dsp", "DSP"))  # fmt: skip
_VARIANTS = ("exact", "acc32")


def _node_rows(exact: dict, acc32: dict) -> list[dict]:
    """One row per synthesized node of either variant: layer, op and ``<metric>_<variant>``."""
    layers = {v: _dict(var.get("layers")) for v, var in zip(_VARIANTS, (exact, acc32), strict=True)}
    names = list(layers["exact"]) + [n for n in layers["acc32"] if n not in layers["exact"]]
    rows = []
    for name in names:
        nodes = {v: _dict(layers[v].get(name)) for v in _VARIANTS}
        any_node = nodes["exact"] or nodes["acc32"]
        row = {"node": name, "layer": any_node.get("layer"), "op_type": any_node.get("op_type")}
        row.update({f"{k}_{v}": nodes[v].get(k) for k, _ in _SYNTH_KEYS for v in _VARIANTS})
        rows.append(row)
    return rows


def _round(x: float | None, digits: int = 2) -> float | None:
    return None if x is None else round(x, digits)


def _resources(b: _Build, doc: _Doc) -> None:
    doc.heading("Resources: exact vs 32-bit accumulators")
    synth = _dict(b.get("synth"))
    if not b.note(doc, "synth"):
        return
    doc.para(
        f"{SYNTH_FLOW_NOTE} Flow: {fmt(synth.get('flow'))}; tool {fmt(synth.get('version'))}; "
        f"part {fmt(synth.get('part'))}."
    )
    exact, acc32 = _variant(synth, "exact"), _variant(synth, "acc32")
    rows = _node_rows(exact, acc32)
    if rows:
        # The figure shows the compute nodes (those with a layer); FIFOs, width converters and
        # other glue are summed into one bar so the per-layer bars stay readable.
        main = [r for r in rows if r["layer"]]
        glue = [r for r in rows if not r["layer"]]
        cats = [str(r["node"]) for r in main] + (["other"] if glue else [])

        def series(key: str) -> list[float | None]:
            vals = [_num(r[key]) for r in main]
            return vals + ([sum(_num(r[key]) or 0.0 for r in glue)] if glue else [])

        fig, (ax1, ax2) = _new_figure(ncols=2, width=max(5.0, 0.9 * len(cats)), height=4.2)
        for ax, key, unit in ((ax1, "lut", "LUTs"), (ax2, "bram36", "BRAM36")):
            grouped_bars(
                ax, cats, {"exact": series(f"{key}_exact"), "32-bit": series(f"{key}_acc32")}, unit
            )
            ax.set_title(f"{unit} per node")
        caption = "LUT and BRAM36 per node, exact vs 32-bit accumulators (Yosys synthesis)"
        doc.figure("fig_resources.png", fig, caption)
        columns = [("node", "node"), ("layer", "layer"), ("op_type", "op")] + [
            (f"{k}_{v}", f"{h} {v}") for k, h in _SYNTH_KEYS for v in _VARIANTS
        ]
        doc.records(rows, columns)
    tops = {v: _dict(var.get("top")) for v, var in zip(_VARIANTS, (exact, acc32), strict=True)}
    util = {
        v: _dict(var.get("utilization")) for v, var in zip(_VARIANTS, (exact, acc32), strict=True)
    }
    totals = [{"variant": v, **tops[v], **{f"{k}_util": u for k, u in util[v].items()}}
              for v in _VARIANTS]  # fmt: skip
    totals.append(
        {"variant": "acc32 / exact"}
        | {k: _round(_ratio(tops["acc32"].get(k), tops["exact"].get(k))) for k, _ in _SYNTH_KEYS}
    )
    util_cols = [(f"{k}_util", f"{h} %") for k, h in _SYNTH_KEYS if k != "lutram"]
    doc.heading("Totals (stitched top level)", 3)
    doc.records(
        totals, [("variant", "variant"), *_SYNTH_KEYS, *util_cols], {k: 2 for k, _ in util_cols}
    )
    ratio = _num(synth.get("lut_ratio"))
    if ratio is None:
        ratio = _ratio(tops["acc32"].get("lut"), tops["exact"].get("lut"))
    doc.para(f"LUT ratio (32-bit / exact accumulators, top level): {fmt(ratio, 2)}.")
    if not tops["acc32"]:
        doc.note_missing(
            f"{INPUTS['synth'].path}: variants.acc32",
            "the `acc32` variant in `synth/synth.json`",
            "the 32-bit-accumulator design the exact widths are compared with",
        )


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
    lut = (_num(ours.get("lut")) or 0.0) + (_num(ours.get("lutram")) or 0.0) if ours else None
    finn_lut, bram = _num(est.get("LUT")), _num(ours.get("bram36"))
    delta = _num(ours.get("estimate_delta_lut"))
    if delta is None and lut is not None and finn_lut is not None:
        delta = round(lut - finn_lut, 1)
    return {
        "node": node, "layer": layer, "finn_lut": est.get("LUT"), "yosys_lut": lut,
        "delta_lut": delta, "finn_bram18": est.get("BRAM_18K"),
        "yosys_bram18": 2 * bram if bram is not None else None,
        "finn_dsp": est.get("DSP"), "yosys_dsp": ours.get("dsp"),
    }  # fmt: skip


def _estimates(b: _Build, doc: _Doc) -> None:
    doc.heading("FINN estimate vs synthesis")
    have_finn, have_synth = b.note(doc, "finn_res"), b.note(doc, "synth")
    if not have_finn:
        return
    finn, exact = _dict(b.get("finn_res")), _variant(_dict(b.get("synth")), "exact")
    doc.para(
        "FINN's figures are analytical estimates of its HLS layers (its RTL MVU counts 0 LUTs, "
        "a float threshold gets a 100000-LUT sentinel); Yosys LUTs here are logic + LUTRAM, as "
        "FINN's LUT figure counts memory LUTs too. BRAM in 18K units (BRAM36 x 2)."
    )
    if not have_synth:
        doc.records([_versus(n, None, _dict(e), {}) for n, e in finn.items()], ESTIMATE_COLUMNS)
        return
    rows = []
    for name, node in _dict(exact.get("layers")).items():
        node = _dict(node)
        est = node["estimate"] if "estimate" in node else finn_estimate_for(name, node, finn)
        if isinstance(est, dict):
            rows.append(_versus(name, node.get("layer"), est, node))
    if rows:
        fig, (ax,) = _new_figure(width=max(7.5, 1.3 * len(rows)))
        series = {
            "FINN estimate": [_num(r["finn_lut"]) for r in rows],
            "Yosys": [r["yosys_lut"] for r in rows],
        }
        grouped_bars(ax, [r["node"] for r in rows], series, "LUTs")
        ax.set_title("LUTs per node: FINN estimate vs Yosys synthesis (exact accumulators)")
        doc.figure("fig_estimates.png", fig, "FINN's LUT estimate vs Yosys LUTs per node")
    rows.append(
        _versus("total (top level)", None, _dict(finn.get("total")), _dict(exact.get("top")))
    )
    doc.records(rows, ESTIMATE_COLUMNS)


def _throughput(b: _Build, doc: _Doc) -> None:
    doc.heading("Throughput")
    sim, perf = _dict(b.get("sim")), _dict(b.get("finn_perf"))
    clock = _dict(_dict(b.get("config")).get("compile")).get("clock_mhz")
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
    b.note(doc, "sim", "finn_perf")


def _timings(b: _Build, doc: _Doc, digests: dict[str, str]) -> None:
    doc.heading("Stage timings")
    timings = _dict(b.get("timings"))
    stages = list(timings) + [s for s in digests if s not in timings]
    peak = {
        "sim": _dict(b.get("sim")).get("peak_memory_mb"),
        "synth": _dict(b.get("synth")).get("peak_memory_mb"),
    }
    secs = [_num(_dict(timings.get(s)).get("seconds")) for s in stages]
    rows = [
        [s, _dict(timings.get(s)).get("last_status"), t, peak.get(s), digests.get(s)]
        for s, t in zip(stages, secs, strict=True)
    ]
    rows.append(["total", None, sum(t for t in secs if t is not None), None, None])
    doc.table(
        ["stage", "last status", "seconds (last run)", "peak memory MB", "digest"],
        rows,
        digits={2: 1, 3: 0},
    )
    b.note(doc, "timings")


def render_build_report(build_dir: Path) -> dict:
    """Write ``build_dir/report/report.md``, ``report.html`` and the figures beside them.

    Returns ``{"md": path, "html": path, "figures": [paths], "missing": [keys]}`` where
    ``missing`` lists the absent input files (paths relative to ``build_dir``, in the order of
    ``INPUTS``), then absent parts of present files (``"synth/synth.json: variants.acc32"``).
    Raises :class:`A2QError` if ``build_dir`` is not a folder or an input file is malformed.
    """
    build_dir = Path(build_dir)
    if not build_dir.is_dir():
        raise A2QError(f"{build_dir}: no such build folder (run `a2q run CONFIG` first)")
    b = _Build(build_dir)
    name = _dict(b.get("config")).get("name", build_dir.name)
    doc = _Doc(f"a2q-flow build report: {name}")
    digests = b.stage_digests()
    _summary_line(b, doc)
    _header(b, doc)
    _quality(b, doc)
    _examples(b, doc)
    _widths(b, doc)
    _sparsity(b, doc)
    _wrap(b, doc)
    _resources(b, doc)
    _estimates(b, doc)
    _throughput(b, doc)
    _timings(b, doc, digests)
    b.note(doc, *INPUTS, here=False)
    missing = doc.missing_summary(inp.path for inp in INPUTS.values())
    generated = _generated(f"build folder `{build_dir.name}`", digests)
    return _write(doc, build_dir / REPORT_DIR, generated, missing)


def _write(doc: _Doc, out: Path, generated: str, missing: list[str]) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    figures = []
    for fname, data in doc.figures.items():
        atomic_write_bytes(out / fname, data)
        figures.append(out / fname)
    # Figures of an earlier render that this one no longer draws would mislead: remove them.
    for stale in out.glob("fig_*.png"):
        if stale.name not in doc.figures:
            stale.unlink()
    atomic_write_text(out / "report.md", doc.markdown(generated))
    atomic_write_text(out / "report.html", doc.html(generated))
    return {
        "md": out / "report.md",
        "html": out / "report.html",
        "figures": figures,
        "missing": missing,
    }


# -------------------------------------------------------------------------------- sweeps


def _ok(points: Iterable[dict]) -> list[dict]:
    return [p for p in points if isinstance(p, dict) and p.get("status", "ok") == "ok"]


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
        elif any(_num(p.get(f"{pre}_accuracy")) is not None for pre in _QUALITY_PREFIXES):
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
    cands = [p for p in _ok(points) if _num(p.get(x)) is not None and _num(p.get(y)) is not None]

    def beats(q: dict, p: dict) -> bool:
        qx, qy, px, py = q[x], q[y], p[x], p[y]
        return qx <= px and qy >= py and (qx < px or qy > py)

    front = [p for p in cands if not any(beats(q, p) for q in cands)]
    return sorted(front, key=lambda p: (p[x], -p[y]))


@dataclass(frozen=True)
class GroupStat:
    """Mean, sample standard deviation (0 for one value) and count of one (method, P) group."""

    mean: float
    std: float
    n: int


def group_stats(points: list[dict], key: str) -> dict[tuple[str, int], GroupStat]:
    """``key`` of the successful points grouped by (method, acc_bits), over seeds."""
    groups: dict[tuple[str, int], list[float]] = {}
    for p in _ok(points):
        v = _num(p.get(key))
        if v is not None and p.get("method") is not None and _num(p.get("acc_bits")) is not None:
            groups.setdefault((str(p["method"]), int(p["acc_bits"])), []).append(v)
    return {
        k: GroupStat(statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else 0.0, len(v))
        for k, v in sorted(groups.items())
    }


def sweep_findings(summary: dict, accuracy: str | None = None) -> dict:
    """The two computed statements of a sweep report, as data, in the sweep's metric.

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
    """
    summary = _dict(summary)
    points = _list(summary.get("points"))
    metric = sweep_metric(points, summary.get("metric"))
    k, w, near_limit = metric.key, wording(metric), NEAR_FLOAT[metric.key]
    key = accuracy or f"quant_{k}"
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
                f"{r['acc_bits']} bits ({_with_unit(r['a2q_plus'], metric)} vs "
                f"{_with_unit(r['a2q'], metric)})"
                for r in below
            )
            + f" (compared: {_bits(compared)})."
        )
    if unpaired:
        text += f" Not compared (only one of the two methods): {_bits(unpaired)}."

    near = []
    for p in _ok(points):
        acc, flt, ratio = (_num(p.get(f)) for f in (key, f"float_{k}", "lut_ratio"))
        known = acc is not None and flt is not None and ratio is not None
        if known and flt - acc <= near_limit + 1e-9:
            near.append((ratio, p, acc, flt))
    best = max(near, key=lambda t: t[0], default=None)
    within = f"within {near_limit:g} {w.near} of"
    if best is None:
        near_out: dict[str, Any] = {
            "point": None,
            "lut_ratio": None,
            k: None,
            f"float_{k}": None,
            "metric": k,
            "candidates": 0,
            "statement": f"No successful point with a LUT ratio is {within} its float {w.noun}.",
        }
    else:
        ratio, p, acc, flt = best
        near_out = {
            "point": p.get("point"),
            "lut_ratio": ratio,
            k: acc,
            f"float_{k}": flt,
            "metric": k,
            "candidates": len(near),
            "statement": (
                f"Largest LUT ratio (32-bit / exact accumulators) among the {len(near)} points "
                f"{within} float {w.noun}: {ratio:.2f} at `{p.get('point')}` "
                f"({_with_unit(acc, metric)} vs float {_with_unit(flt, metric)})."
            ),
        }
    return {
        "a2q_plus_vs_a2q": {
            "holds": holds,
            "compared": compared,
            "below": below,
            "unpaired": unpaired,
            "metric": k,
            "statement": text,
        },
        "max_lut_ratio_near_float": near_out,
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
    quality = [key for key, _ in point_columns(metric) if key.endswith(f"_{metric.key}")]
    return {**dict.fromkeys(quality, 2), "lut_ratio": 2, "build_seconds": 1}


POINT_COLUMNS = point_columns(ACCURACY)
POINT_DIGITS = point_digits(ACCURACY)


def _bits(widths: list[int]) -> str:
    return ", ".join(str(w) for w in widths) + " bits"


def _methods(summary: dict, points: list[dict]) -> list[str]:
    axis = [str(m) for m in _list(_dict(summary.get("axes")).get("method"))]
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
            "color": _COLORS[i % len(_COLORS)],
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


def _sweep_quality(doc: _Doc, points: list[dict], methods: list[str], metric: Metric) -> None:
    k, w = metric.key, wording(metric)
    doc.heading(f"{w.title} vs target accumulator width P")
    quality = group_stats(points, f"quant_{k}")
    if not quality:
        doc.note_missing(
            f"points[].quant_{k}", f"{w.plural} of successful points", f"{w.noun} vs P per method"
        )
        return
    wrap = {g: v for g, v in group_stats(points, f"wrap_{k}").items() if g[0] == "baseline"}
    fig, (ax,) = _new_figure(height=4.2)
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
        vals = [v for p in _ok(points) if (v := _num(p.get(key))) is not None]
        if vals:
            ax.axhline(statistics.fmean(vals), ls=ls, color=color, label=label)
    _p_axis(ax, f"test {w.axis}", f"{w.title} vs P (mean ± std over seeds)")
    doc.figure(f"fig_{k}_vs_p.png", fig, f"{w.noun} vs target P per method")
    head = f"{w.noun} mean {metric.unit}"
    doc.table(["method", "P", "seeds", head, "std"], rows, digits={3: 2, 4: 2})


def _sweep_luts(doc: _Doc, points: list[dict], methods: list[str], metric: Metric) -> None:
    w = wording(metric)
    doc.heading(f"{w.title} vs LUTs")
    x, y = "lut", f"quant_{metric.key}"
    have = [p for p in _ok(points) if _num(p.get(x)) is not None and _num(p.get(y)) is not None]
    if not have:
        doc.note_missing(
            "points[].lut",
            "LUT figures of the points (stage `synth` not run for any point)",
            f"{w.noun} vs LUTs with the Pareto frontier",
        )
        return
    front = pareto_front(points, x, y)
    fig, (ax,) = _new_figure(height=4.2)
    for i, m in enumerate(methods):
        pts = [p for p in have if p.get("method") == m]
        if pts:
            color = _COLORS[i % len(_COLORS)]
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


def _sweep_ratio(doc: _Doc, points: list[dict], methods: list[str]) -> None:
    doc.heading("LUT ratio vs P")
    ratio = group_stats(points, "lut_ratio")
    if not ratio:
        doc.note_missing(
            "points[].lut_ratio",
            "LUT ratios of the points (stage `synth` not run for any point)",
            "how much larger 32-bit accumulators are, per P",
        )
        return
    fig, (ax,) = _new_figure()
    rows = _by_method_plot(ax, methods, ratio, errorbars=False)
    ax.axhline(1.0, ls=":", color="gray")
    _p_axis(ax, "LUTs 32-bit / LUTs exact", "LUT ratio of 32-bit over exact accumulators")
    doc.figure("fig_lut_ratio.png", fig, "LUT ratio (32-bit / exact accumulators) vs P")
    doc.table(["method", "P", "seeds", "LUT ratio mean", "std"], rows, digits={3: 2, 4: 2})


def render_sweep_report(sweep_dir: Path) -> dict:
    """Write ``sweep_dir/report/report.md``, ``report.html`` and figures from ``summary.json``.

    Group statistics (mean and sample standard deviation over seeds) are computed from the
    points; the summary's ``groups`` are not read. Returns ``{"md", "html", "figures",
    "missing"}``; ``missing`` names the point fields no point has (``"points[].lut"``).
    Figures and tables are in the points' metric (:func:`sweep_metric`): accuracy for
    classifiers, PSNR for super-resolution. Raises :class:`A2QError` if ``summary.json`` is
    absent or malformed, or its points mix metrics.
    """
    sweep_dir = Path(sweep_dir)
    path = sweep_dir / "summary.json"
    if not path.is_file():
        raise A2QError(f"{path}: no sweep summary (run the sweep first)")
    summary = _dict(_load(path))
    points = [_dict(p) for p in _list(summary.get("points"))]
    failed = [p for p in points if p.get("status", "ok") != "ok"]
    methods = _methods(summary, points)
    metric = sweep_metric(points, summary.get("metric"))
    name = summary.get("name", sweep_dir.name)
    doc = _Doc(f"a2q-flow sweep report: {name}")

    doc.para(f"Metric: {_described(metric)}.")
    doc.heading("Sweep")
    axes = [[f"axis `{k}`", v] for k, v in _dict(summary.get("axes")).items()]
    counts = f"{len(points)} ({len(points) - len(failed)} ok, {len(failed)} failed)"
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
    doc.heading("Every point")
    doc.records(points, point_columns(metric), point_digits(metric))
    if failed:
        doc.heading("Failed points", 3)
        doc.bullets(f"`{p.get('point')}`: {fmt(p.get('error'))}" for p in failed)

    missing = doc.missing_summary()
    generated = _generated(f"sweep `{name}` (summary.json digest {file_digest(path)})")
    return _write(doc, sweep_dir / REPORT_DIR, generated, missing)
