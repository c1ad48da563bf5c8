"""Packing integer arrays into the ``$readmemh`` files and stream words the templates expect.

Pure functions: they return strings or integers and never write files (writing atomically
is the caller's job). Every value is checked against its width first; a value that does not
fit raises :class:`HardwareError` naming the array and the offending index and value.

Packing convention everywhere (FINN's): element ``i`` of a word occupies bits
``[(i+1)*W-1 : i*W]``, element 0 in the least significant bits, in two's complement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from flow.errors import HardwareError


def value_range(width: int, signed: bool) -> tuple[int, int]:
    """The smallest and largest integer representable in ``width`` bits."""
    if width < 1:
        raise HardwareError(f"a width must be at least 1 bit, not {width}")
    if signed:
        return -(1 << (width - 1)), (1 << (width - 1)) - 1
    return 0, (1 << width) - 1


def _as_int_array(values: np.ndarray | Sequence[int], what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype == object:
        if not all(isinstance(v, int | np.integer) for v in arr.flat):
            raise HardwareError(f"{what}: values must be integers")
        return arr
    if not np.issubdtype(arr.dtype, np.integer):
        raise HardwareError(f"{what}: values must be integers, not dtype {arr.dtype}")
    return arr


def check_fits(values: np.ndarray | Sequence[int], width: int, signed: bool, what: str) -> None:
    """Raise :class:`HardwareError` if any value is outside the ``width``-bit range."""
    arr = _as_int_array(values, what)
    lo, hi = value_range(width, signed)
    if arr.dtype != object and width <= 62:
        bad = np.flatnonzero((arr < lo) | (arr > hi))
    else:
        bad = [i for i, v in enumerate(arr.flat) if not lo <= int(v) <= hi]
    if len(bad):
        i = int(bad[0])
        index = tuple(int(k) for k in np.unravel_index(i, arr.shape)) if arr.ndim > 1 else i
        kind = "signed" if signed else "unsigned"
        raise HardwareError(
            f"{what}[{index}] = {int(arr.flat[i])} does not fit {width}-bit {kind} "
            f"(allowed {lo}..{hi})"
        )


def _pack(elems: Iterable[int], width: int) -> int:
    mask = (1 << width) - 1
    word = 0
    for i, v in enumerate(elems):
        word |= (int(v) & mask) << (i * width)
    return word


def _hex_line(word: int, bits: int) -> str:
    return format(word, f"0{(bits + 3) // 4}x")


def pack_words(
    values: np.ndarray | Sequence[int],
    elem_width: int,
    elems_per_word: int,
    *,
    signed: bool = True,
    what: str = "stream",
) -> list[int]:
    """Pack a flat sequence of integers into stream words of ``elems_per_word`` elements.

    The number of values must be a multiple of ``elems_per_word``.
    """
    arr = _as_int_array(values, what).reshape(-1)
    if elems_per_word < 1:
        raise HardwareError(f"{what}: elems_per_word must be at least 1, not {elems_per_word}")
    if arr.size % elems_per_word:
        raise HardwareError(
            f"{what}: {arr.size} values are not a whole number of words of {elems_per_word}"
        )
    check_fits(arr, elem_width, signed, what)
    flat = [int(v) for v in arr]
    return [
        _pack(flat[i : i + elems_per_word], elem_width) for i in range(0, len(flat), elems_per_word)
    ]


def unpack_words(
    words: Sequence[int], elem_width: int, elems_per_word: int, *, signed: bool = True
) -> np.ndarray:
    """Inverse of :func:`pack_words`: a flat int64 array of ``len(words)*elems_per_word``."""
    if not 1 <= elem_width <= 63:
        raise HardwareError(f"unpack_words: elem_width must be 1..63 bits, not {elem_width}")
    mask = (1 << elem_width) - 1
    sign = 1 << (elem_width - 1)
    out = np.empty(len(words) * elems_per_word, dtype=np.int64)
    for w, word in enumerate(words):
        if not 0 <= word < 1 << (elem_width * elems_per_word):
            raise HardwareError(
                f"unpack_words: word {w} = {word:#x} is wider than "
                f"{elems_per_word} x {elem_width} bits"
            )
        for i in range(elems_per_word):
            v = (word >> (i * elem_width)) & mask
            out[w * elems_per_word + i] = v - (1 << elem_width) if signed and v & sign else v
    return out


def mvau_weight_lines(w: np.ndarray, pe: int, simd: int, w_width: int) -> list[str]:
    """The weight ROM of ``mvau.sv`` for an (MH, MW) signed integer matrix.

    One hex line per address ``nf*SF + sf`` (NF = MH/PE, SF = MW/SIMD); each line packs
    PE*SIMD elements, element ``p*SIMD + s`` being ``w[nf*PE + p, sf*SIMD + s]``.
    """
    w = _as_int_array(w, "weights")
    if w.ndim != 2:
        raise HardwareError(f"weights must be a 2-D (MH, MW) matrix, not shape {w.shape}")
    mh, mw = w.shape
    if pe < 1 or mh % pe:
        raise HardwareError(f"PE={pe} must divide MH={mh} (the weight matrix rows)")
    if simd < 1 or mw % simd:
        raise HardwareError(f"SIMD={simd} must divide MW={mw} (the weight matrix columns)")
    check_fits(w, w_width, True, "weights")
    lines = []
    for nf in range(mh // pe):
        for sf in range(mw // simd):
            block = w[nf * pe : (nf + 1) * pe, sf * simd : (sf + 1) * simd]
            lines.append(_hex_line(_pack(block.reshape(-1), w_width), pe * simd * w_width))
    return lines


def threshold_lines(t: np.ndarray, pe: int, thr_width: int, *, signed: bool = True) -> list[str]:
    """The threshold ROM of ``thresholding.sv`` for a (CHANNELS, NUM_STEPS) integer array.

    One hex line per channel fold ``cf`` (CHANNELS/PE lines); each line packs PE*NUM_STEPS
    elements, element ``p*NUM_STEPS + k`` being ``t[cf*PE + p, k]``. ``signed`` is the
    signedness of the thresholding input (thresholds share it).
    """
    t = _as_int_array(t, "thresholds")
    if t.ndim != 2 or t.shape[1] < 1:
        raise HardwareError(
            f"thresholds must be a 2-D (CHANNELS, NUM_STEPS) array, not shape {t.shape}"
        )
    channels, steps = t.shape
    if pe < 1 or channels % pe:
        raise HardwareError(f"PE={pe} must divide CHANNELS={channels} (the threshold rows)")
    check_fits(t, thr_width, signed, "thresholds")
    return [
        _hex_line(_pack(t[cf * pe : (cf + 1) * pe].reshape(-1), thr_width), pe * steps * thr_width)
        for cf in range(channels // pe)
    ]


def render_memfile(lines: Sequence[str], header: str) -> str:
    """A ``$readmemh`` file: ``header`` as ``//`` comment lines, then the data lines."""
    comments = [f"// {h}" if h else "//" for h in header.splitlines()]
    return "\n".join([*comments, *lines]) + "\n"
