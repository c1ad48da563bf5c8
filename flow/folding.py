"""Folding for area and the ``auto`` MAC style: the last word on each MVAU layer's PE, SIMD
and MAC style, taken in the compile stage's folding step.

FINN's ``SetFolding`` (or the config's explicit folding) gives every MAC layer a PE/SIMD that
meets the throughput target: the first one it finds, whatever it costs. Here each MVAU layer
is then priced with the area model (:mod:`flow.hw.area`):

- ``compile.folding.objective: area`` lists every folding that meets the target
  (:func:`foldings`) and keeps the one of fewest estimated LUTs (then BRAM, then FFs);
  ``finn`` keeps FINN's (or the explicit) folding;
- ``hardware.mac_style: auto`` prices both styles at each folding and keeps the smaller, so
  a sparse layer goes to hard-wired constants and a dense, deeply folded one to a ROM.

What was chosen, FINN's folding and every candidate's estimate go to
``compile/folding.json``; the hardware stage builds the style recorded there. Depthwise
layers (VVAU) keep their folding and the ROM template (the generator writes MVAUs only).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from flow.hw.area import Area, mac_area, threshold_area
from flow.schemas import FoldingRow

# Foldings with more than this many times the fewest lanes that meet the target are not
# priced: they only add multipliers (a ROM) or adders (constants) beyond what is needed.
MAX_LANE_FACTOR = 4


@dataclass(frozen=True)
class Candidate:
    """One priced (PE, SIMD, style) of a layer."""

    pe: int
    simd: int
    style: str
    lut: int
    ff: int
    bram36: float

    def key(self) -> tuple:
        return (self.lut, self.bram36, self.ff, self.pe * self.simd)


def foldings(
    mh: int, mw: int, vectors: int, target: int, word: int | None = None
) -> list[tuple[int, int]]:
    """Every (PE, SIMD) with PE | MH and SIMD | MW whose ``(MH/PE)(MW/SIMD)`` cycles per input
    vector, times ``vectors``, meet ``target`` cycles per frame, up to
    :data:`MAX_LANE_FACTOR` times the fewest lanes that do.

    ``word``: the elements per word of the stream coming in (the PE of the layer before);
    SIMD must divide it or be a multiple of it (a width converter joins them). Where no
    folding both fits and meets the target, the fastest ones that fit.
    """
    pes = [d for d in range(1, mh + 1) if mh % d == 0]
    simds = [d for d in range(1, mw + 1) if mw % d == 0 and fits_word(d, word)]
    pairs = [(p, s) for p in pes for s in simds]
    fits = [(p, s) for p, s in pairs if (mh // p) * (mw // s) * vectors <= target]
    if not fits:  # faster than this layer can go: its fastest foldings
        fastest = max(p * s for p, s in pairs)
        return sorted((p, s) for p, s in pairs if p * s == fastest)
    fewest = min(p * s for p, s in fits)
    return sorted((p, s) for p, s in fits if p * s <= MAX_LANE_FACTOR * fewest)


def fits_word(simd: int, word: int | None) -> bool:
    """Whether an input of ``simd`` elements per word joins a stream of ``word`` elements."""
    return word is None or simd % word == 0 or word % simd == 0


def price(
    w: np.ndarray,
    choices: list[tuple[int, int]],
    styles: tuple[str, ...],
    in_bits: int,
    in_signed: bool,
    acc_bits: int,
    thresholds: tuple[int, int] | None = None,
) -> list[Candidate]:
    """Every (folding, style) of an MVAU with weights ``w`` ((MH, MW) integers), priced with
    the ``(steps, bits)`` thresholds that fold with it."""
    out = []
    for pe, simd in choices:
        thr = threshold_area(w.shape[0], pe, *thresholds) if thresholds else Area(0, 0, 0.0)
        for style in styles:
            a = mac_area(style, w, pe, simd, in_bits, in_signed, acc_bits)
            lut, ff, bram = a.lut + thr.lut, a.ff + thr.ff, a.bram36 + thr.bram36
            out.append(Candidate(pe, simd, style, round(lut), round(ff), bram))
    return out


@dataclass(frozen=True)
class MacLayer:
    """What the folding step knows of one MAC layer before choosing.

    ``w``: its (MH, MW) integer weights (None for a layer the model does not price: a VVAU);
    ``dims``: (MH, MW, input vectors per frame); ``current``: the (PE, SIMD) that FINN (``by``
    "finn") or the config ("config") gave it; ``by`` "area": search every folding that meets
    the target; ``widths``: (input bits, input signed, accumulator bits); ``word``: elements
    per word of its input stream where that is fixed, and ``linked``: whether that stream
    comes straight (through thresholds) from the MAC layer before, whose PE it then carries.
    """

    name: str
    node: str
    op: str
    w: np.ndarray | None
    dims: tuple[int, int, int]
    current: tuple[int, int]
    asked_style: str
    by: str
    widths: tuple[int, bool, int]
    word: int | None = None
    linked: bool = False
    # (steps, bits) of the thresholds that fold with this layer's PE, if any.
    thresholds: tuple[int, int] | None = None

    def cycles(self, pe: int, simd: int) -> int:
        mh, mw, vectors = self.dims
        return (mh // pe) * (mw // simd) * vectors

    def options(self, target: int | None, search: bool) -> list[Candidate]:
        """The priced candidates: the current folding, or (``search``) every folding that
        meets ``target`` and takes a fixed input word; each in every style asked."""
        pe, simd = self.current
        if self.w is None:
            style = "rom" if self.asked_style == "auto" else self.asked_style
            return [Candidate(pe, simd, style, 0, 0, 0.0)]
        styles = ("rom", "const") if self.asked_style == "auto" else (self.asked_style,)
        choices = [self.current]
        if search and target is not None:
            mh, mw, vectors = self.dims
            word = None if self.linked else self.word
            meets = self.cycles(pe, simd) <= target and fits_word(simd, word)
            choices = sorted(
                set(foldings(mh, mw, vectors, target, word)) | ({self.current} if meets else set())
            )
        return price(self.w, choices, styles, *self.widths, self.thresholds)


def choose(layers: list[MacLayer], target: int | None) -> list[FoldingRow]:
    """The folding and style of every MAC layer, together (rows of ``compile/folding.json``).

    A linked layer's SIMD must take the PE of the layer before it (:func:`fits_word`), so
    the choice is made over the whole chain (dynamic programming over the candidates of
    :meth:`MacLayer.options`): the fewest estimated LUTs in total (then BRAM, then FFs), not
    each layer's cheapest on its own, which can force the next layer to many more lanes. A
    layer kept at FINN's folding whose SIMD cannot take the stream before it (channels
    pruned to odd counts) is searched like ``by: area``.
    """
    layers = list(layers)  # a layer searched in place of FINN's folding is replaced here
    options = [layer.options(target, layer.by == "area") for layer in layers]
    # best[i][j]: (total cost, index of the candidate chosen in layer i - 1)
    best: list[list[tuple[tuple, int]]] = []
    for i, layer in enumerate(layers):
        row = _step(best, options, i, layer)
        if row is None and layer.by == "finn":  # an explicit (config) folding is kept
            options[i] = layer.options(target, True)
            layers[i] = replace(layer, by="area")
            row = _step(best, options, i, layers[i])
        if row is None:  # nothing takes the stream: left to the stream check, which names it
            row = _step(best, options, i, replace(layer, linked=False))
        best.append(row)
    picks = [min(range(len(best[-1])), key=lambda j: best[-1][j][0])] if best else []
    for i in range(len(best) - 1, 0, -1):
        picks.insert(0, best[i][picks[0]][1])
    return [_decided(layer, opts, j) for layer, opts, j in zip(layers, options, picks, strict=True)]


def _step(best: list, options: list[list[Candidate]], i: int, layer: MacLayer) -> list | None:
    """The DP row of layer ``i``, or None when none of its candidates takes any input."""
    row = []
    for c in options[i]:
        cost = (c.lut, c.bram36, c.ff)
        if i == 0:
            row.append((cost, -1))
            continue
        prev = [
            (best[i - 1][k][0], k)
            for k, p in enumerate(options[i - 1])
            if not layer.linked or fits_word(c.simd, p.pe)
        ]
        if not prev:
            row.append(None)
            continue
        (total, k) = min(prev)
        row.append((tuple(a + b for a, b in zip(total, cost, strict=True)), k))
    if all(r is None for r in row):
        return None
    worst = (float("inf"),) * 3
    return [r if r is not None else (worst, 0) for r in row]


def _decided(layer: MacLayer, options: list[Candidate], j: int) -> FoldingRow:
    best, (pe, simd) = options[j], layer.current
    priced = layer.w is not None
    return FoldingRow(
        name=layer.name,
        node=layer.node,
        op=layer.op,
        pe=best.pe,
        simd=best.simd,
        cycles=layer.cycles(best.pe, best.simd),
        mac_style=best.style,
        asked_style=layer.asked_style,
        by=layer.by,
        finn_pe=pe,
        finn_simd=simd,
        estimate={"lut": best.lut, "ff": best.ff, "bram36": best.bram36} if priced else None,
        candidates=[asdict(c) for c in sorted(options, key=Candidate.key)] if priced else [],
    )


# The per-layer table of ``a2q inspect`` and the build report.
COLUMNS = [
    ("name", "layer"),
    ("PE", "PE"),
    ("SIMD", "SIMD"),
    ("cycles", "cycles"),
    ("style", "MAC style"),
    ("by", "folding by"),
    ("finn", "FINN's PE,SIMD"),
    ("est_lut", "est. LUT"),
    ("est_bram36", "est. BRAM36"),
    ("lut", "LUT"),
    ("bram36", "BRAM36"),
    ("candidates", "priced"),
]


def table(rows: list[dict], synth: dict | None) -> list[dict]:
    """``compile/folding.json`` rows beside the measured figures of their nodes (exact
    variant of ``synth.json``: the MAC node and its thresholds, as the estimate prices
    them; ``*`` marks a layer synthesized in slices and scaled)."""
    measured = ((synth or {}).get("variants", {}).get("exact") or {}).get("layers", {})
    out = []
    for r in rows:
        # As priced: the MAC node and the thresholds folded with it.
        mine = [
            f
            for f in measured.values()
            if f.get("layer") == r["name"] and f.get("op_type") in (r["op"], "Thresholding")
        ]
        m = (
            {
                "lut": sum(f.get("lut", 0) for f in mine),
                "bram36": sum(f.get("bram36", 0) for f in mine),
                "scaled": any(f.get("scaled") for f in mine),
            }
            if mine
            else {}
        )
        star = "*" if m.get("scaled") else ""
        asked, style = r["asked_style"], r["mac_style"]
        out.append(
            {
                "name": r["name"],
                "PE": r["pe"],
                "SIMD": r["simd"],
                "cycles": r["cycles"],
                "style": style if asked == style else f"{asked}->{style}",
                "by": r["by"],
                "finn": f"{r['finn_pe']},{r['finn_simd']}",
                "est_lut": (r.get("estimate") or {}).get("lut"),
                "est_bram36": (r.get("estimate") or {}).get("bram36"),
                "lut": f"{m['lut']}{star}" if "lut" in m else None,
                "bram36": m.get("bram36"),
                "candidates": len(r.get("candidates") or []),
            }
        )
    return out
