"""Area model of one MVAU layer at a folding and MAC style: what folding-for-area and the
``auto`` MAC style compare before anything is synthesized.

- ``const``: structural. :func:`flow.hw.constmac.const_cost` counts what the generator
  builds (each adder bit is about one LUT on a carry chain; fold-indexed constant tables are
  estimated from their set bits), so zero lanes and small constants are priced exactly as
  the generator drops them.
- ``rom`` (``hw_templates/mvau.sv``): ``PE*SIMD`` products and an adder tree per cycle, a
  PE-wide accumulator, and the weight ROM in block RAM (``ROM_STYLE`` "block") or in LUTs.
  Its two constants are fitted to Yosys ``synth_xilinx`` results of that template (see
  ``ROM_LUT_PER_PRODUCT_BIT``).

Both styles share the stream buffer and the output queue, so those are left out; the
thresholds that follow a layer fold with its PE (:func:`threshold_area`), so a folding is
priced with them. The model ranks foldings and styles, it does not predict a design's
total; the synth stage reports the measured figures next to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flow.bounds import signed_bits
from flow.hw.constmac import ConstMvauSpec, const_cost
from flow.ops.base import ROM_BITS_PER_LUT, bram36, rom_style

# Fitted to Yosys synth_xilinx (xc7, -nodsp) results of ``mvau.sv`` in tfc_digits_baseline:
# LUTs per (input bit x weight bit) of one lane's product with its share of the adder tree
# (MVAU_1, SIMD=64, 5x4-bit products: 3,442 LUT; MVAU_0, SIMD=16, 6x4: 1,029). A ROM left in
# logic costs ROM_BITS_PER_LUT (flow.ops.base, where the block/logic choice is made).
ROM_LUT_PER_PRODUCT_BIT = 2.65


@dataclass(frozen=True)
class Area:
    """Estimated LUTs, FFs and BRAM36 of one MAC layer (without the shared stream logic)."""

    lut: float
    ff: float
    bram36: float

    def as_dict(self) -> dict:
        return {"lut": round(self.lut), "ff": round(self.ff), "bram36": self.bram36}


def rom_area(
    mh: int, mw: int, pe: int, simd: int, in_bits: int, w_bits: int, acc_bits: int
) -> Area:
    """The ROM MVAU template at (PE, SIMD)."""
    lanes = pe * simd
    depth, width = (mh // pe) * (mw // simd), lanes * w_bits
    lut = lanes * ROM_LUT_PER_PRODUCT_BIT * (in_bits + 1) * w_bits + 2 * pe * acc_bits
    ff = simd * in_bits * (mw // simd) + 2 * pe * acc_bits  # input buffer, acc + queue
    if rom_style(width, depth) == "block":
        return Area(lut, ff, bram36(width, depth))
    rom = width * depth / ROM_BITS_PER_LUT if depth > 1 else 0  # one word: constants
    return Area(lut + rom, ff, 0.0)


def const_area(spec: ConstMvauSpec) -> Area:
    """The generated const MVAU at ``spec``'s folding (structural count)."""
    c = const_cost(spec)
    lut = c.adder_bits + c.table_luts + 2 * spec.pe * spec.acc_bits
    ff = c.reg_bits + 2 * spec.pe * spec.acc_bits
    if spec.nf > 1:
        ff += spec.simd * spec.in_bits * spec.sf
    return Area(lut, ff, 0.0)


# LUTs per threshold bit compared in parallel (PE x steps x width): Yosys on
# thresholding.sv in the tfc_digits throughput sweep (Thresholding_2: PE=2, 15 steps, ~10
# bits: 217 LUT with its ROM in block RAM).
THR_LUT_PER_BIT = 0.7


def threshold_area(channels: int, pe: int, steps: int, bits: int) -> Area:
    """The thresholds that fold with a MAC layer (``thresholding.sv`` at the layer's PE):
    ``PE x steps`` comparators of ``bits``, and their ROM in logic or block RAM by the same
    rule as the hardware (:func:`flow.ops.base.rom_style`)."""
    width, depth = pe * steps * bits, channels // pe
    lut = width * THR_LUT_PER_BIT
    if rom_style(width, depth) == "block":
        return Area(lut, 2 * width, bram36(width, depth))
    return Area(lut + (width * depth / ROM_BITS_PER_LUT if depth > 1 else 0), 2 * width, 0.0)


def mac_area(
    style: str,
    w: np.ndarray,
    pe: int,
    simd: int,
    in_bits: int,
    in_signed: bool,
    acc_bits: int,
) -> Area:
    """Estimated area of an MVAU with weights ``w`` ((MH, MW) integers) in ``style``."""
    mh, mw = w.shape
    if style == "const":
        return const_area(ConstMvauSpec("est", w, pe, simd, in_bits, in_signed, acc_bits))
    if style == "rom":
        w_bits = max(2, signed_bits(int(w.min()), int(w.max())))
        return rom_area(mh, mw, pe, simd, in_bits, w_bits, acc_bits)
    raise ValueError(f"no area model for MAC style {style!r}")
