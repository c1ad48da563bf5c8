"""The document model of the reports: blocks rendered to Markdown and to one HTML page.

A :class:`Doc` is a list of blocks (headings, paragraphs, bullets, tables, figures and
"missing input" notes) rendered by :meth:`Doc.markdown` and :meth:`Doc.html` from the same
data; :func:`write_report` writes both and the figures beside them. The HTML page embeds the
figures as ``data:`` URIs with inline CSS, so it can be mailed or archived as one file.

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
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import flow
from flow.metrics import Metric
from flow.util import atomic_write_bytes, atomic_write_text

REPORT_DIR = "report"
SYNTH_FLOW_NOTE = (
    "Resource figures come from open-source synthesis (Yosys `synth_xilinx`), not from Vivado "
    "place-and-route: treat them as relative, logic-level figures."
)


COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3")
DPI = 100


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
    """How the reports word ``metric``."""
    return WORDING[metric.key]


def described(metric: Metric) -> str:
    """``top-1 accuracy (%)``, ``PSNR (luminance, dB)``: the label, with the unit once."""
    return metric.label if metric.unit in metric.label else f"{metric.label} ({metric.unit})"


def with_unit(value: float, metric: Metric) -> str:
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


def num(value: Any) -> float | None:
    """``value`` as a finite float, or None (bools, strings and NaN are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


@dataclass
class Doc:
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
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def new_figure(ncols: int = 1, width: float = 7.5, height: float = 3.8) -> tuple[Figure, list]:
    """A figure of ``ncols`` axes side by side (each ``width`` x ``height`` inches)."""
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
        pts = [(x, v) for x, v in zip(xs, values, strict=True) if num(v) is not None]
        if not pts:
            continue
        top = max([top] + [p[1] for p in pts])
        bars = ax.bar(
            [p[0] for p in pts],
            [p[1] for p in pts],
            width,
            label=label,
            color=COLORS[i % len(COLORS)],
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


def as_dict(value: Any) -> dict:
    """``value`` if it is a dict, else an empty one (a key a later version drops blanks a cell)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    """``value`` if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def generated_line(source: str, digests: dict[str, str] | None = None) -> str:
    """The 'generated by' line: version, source and (for builds) every stage's digest."""
    text = f"Generated by a2q-flow {flow.__version__} from {source}"
    if digests is not None:
        chain = ", ".join(f"{s} {d}" for s, d in digests.items()) or "none (no stage finished)"
        text += f"; stage digests: {chain}"
    return text + ". Do not edit: re-run the report instead."


def write_report(doc: Doc, out: Path, generated_by: str, missing: list[str]) -> dict:
    """Write ``doc`` as ``out/report.md`` and ``out/report.html`` with its figures beside.

    Returns ``{"md", "html", "figures", "missing"}``.
    """
    out.mkdir(parents=True, exist_ok=True)
    figures = []
    for fname, data in doc.figures.items():
        atomic_write_bytes(out / fname, data)
        figures.append(out / fname)
    # Figures of an earlier render that this one no longer draws would mislead: remove them.
    for stale in out.glob("fig_*.png"):
        if stale.name not in doc.figures:
            stale.unlink()
    atomic_write_text(out / "report.md", doc.markdown(generated_by))
    atomic_write_text(out / "report.html", doc.html(generated_by))
    return {
        "md": out / "report.md",
        "html": out / "report.html",
        "figures": figures,
        "missing": missing,
    }
