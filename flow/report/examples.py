"""Super-resolution example tiles in the build report: each output next to the target."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from flow import artifacts as A
from flow.artifacts import Build
from flow.metrics import PSNR
from flow.report.document import Doc
from flow.report.inputs import note

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


def examples(b: Build, doc: Doc) -> None:
    """Super-resolution: example tiles, every method's output next to the target."""
    if b.metric is not PSNR:
        return
    doc.heading("Example outputs")
    if not note(b, doc, A.EXAMPLES):
        return
    path = A.EXAMPLES.path
    arrays = {k: a for k, a in b.get(A.EXAMPLES).items() if a.ndim == 4 and len(a)}
    absent = [k for k, _ in EXAMPLE_COLUMNS if k not in arrays]
    if absent:
        doc.note_missing(
            f"{path}: {', '.join(absent)}",
            f"the arrays {', '.join(f'`{k}`' for k in absent)} in `{path}`",
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
    doc.figure(
        "fig_examples.png",
        _tiles_figure(arrays, columns, n, scores),
        "example test tiles: low-res input, bicubic, float, quantized and target "
        "(PSNR against the target)",
    )
    outs = [(k, title) for k, title in columns if k not in ("low_res", "target")]
    rows = [[f"tile {i}"] + [scores[i].get(k) if i < len(scores) else None for k, _ in outs]
            for i in range(n)]  # fmt: skip
    doc.table(["tile"] + [f"{title} PSNR dB" for _, title in outs], rows,
              digits={j + 1: 2 for j in range(len(outs))})  # fmt: skip


def _tiles_figure(
    arrays: dict[str, np.ndarray],
    columns: list[tuple[str, str]],
    n: int,
    scores: list[dict[str, float | None]],
) -> Figure:
    """``n`` rows of tiles, one column per array, each output titled with its PSNR."""
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
    return fig
