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

from dataclasses import asdict, dataclass

import numpy as np

from flow.hw.area import mac_area

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
) -> list[Candidate]:
    """Every (folding, style) of an MVAU with weights ``w`` ((MH, MW) integers), priced."""
    out = []
    for pe, simd in choices:
        for style in styles:
            a = mac_area(style, w, pe, simd, in_bits, in_signed, acc_bits)
            out.append(Candidate(pe, simd, style, round(a.lut), round(a.ff), a.bram36))
    return out


@dataclass(frozen=True)
class LayerFolding:
    """What :func:`choose` decided for one MAC layer (a row of ``compile/folding.json``)."""

    name: str
    node: str
    op: str
    pe: int
    simd: int
    cycles: int
    mac_style: str
    asked_style: str
    by: str
    finn_pe: int
    finn_simd: int
    estimate: dict | None
    candidates: list[dict]

    def as_dict(self) -> dict:
        return asdict(self)


def choose(
    name: str,
    node: str,
    op: str,
    w: np.ndarray | None,
    dims: tuple[int, int, int],
    current: tuple[int, int],
    asked_style: str,
    by: str,
    target: int | None,
    widths: tuple[int, bool, int],
    word: int | None = None,
) -> LayerFolding:
    """The folding and style of one MAC layer.

    ``w``: its (MH, MW) integer weights (None for a layer the model does not price: a
    VVAU); ``dims``: (MH, MW, input vectors per frame); ``current``: the (PE, SIMD) that
    FINN (``by`` "finn") or the config ("config") gave it; ``by`` "area": search every
    folding that meets ``target`` and takes the incoming stream's ``word`` elements per word
    (:func:`foldings`), as FINN's folding does when its SIMD cannot take that stream (after
    pruned channels); ``widths``: (input bits, input signed, accumulator bits).
    """
    mh, mw, vectors = dims
    pe, simd = current
    if w is None:
        style = "rom" if asked_style == "auto" else asked_style
        cycles = (mh // pe) * (mw // simd) * vectors
        return LayerFolding(
            name, node, op, pe, simd, cycles, style, asked_style, by, pe, simd, None, []
        )
    styles = ("rom", "const") if asked_style == "auto" else (asked_style,)
    choices = [current]
    if by == "finn" and target is not None and not fits_word(simd, word):
        by = "area"  # FINN's SIMD cannot take the stream before it: the best that can
    if by == "area" and target is not None:
        meets = (mh // pe) * (mw // simd) * vectors <= target
        own = {current} if fits_word(simd, word) and meets else set()
        choices = sorted(set(foldings(mh, mw, vectors, target, word)) | own)
    cands = price(w, choices, styles, *widths)
    best = min(cands, key=Candidate.key)
    cycles = (mh // best.pe) * (mw // best.simd) * vectors
    return LayerFolding(
        name,
        node,
        op,
        best.pe,
        best.simd,
        cycles,
        best.style,
        asked_style,
        by,
        pe,
        simd,
        {"lut": best.lut, "ff": best.ff, "bram36": best.bram36},
        [asdict(c) for c in sorted(cands, key=Candidate.key)],
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
    variant of ``synth.json``; ``*`` marks a layer synthesized in slices and scaled)."""
    measured = ((synth or {}).get("variants", {}).get("exact") or {}).get("layers", {})
    out = []
    for r in rows:
        m = measured.get(r["node"]) or {}
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
