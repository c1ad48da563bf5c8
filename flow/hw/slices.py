"""Synthesis in slices: an MVAU too large for Yosys on this machine is measured on a few
groups of its PE lanes, and the figures are scaled to the whole layer.

A fully parallel dense 256x256 layer is ~0.5M LUT: Yosys does not finish it here, and no
single part holds it. Such a layer (its area estimate in ``compile/folding.json`` above
``hardware.synth_slice_lut``) is cut into groups of contiguous PE lanes small enough to
synthesize; ``hardware.synth_slices`` of them, spread evenly over the layer, are generated
as modules of their own (the op's ``lane_slice``: the same folding, only those lanes'
weights) and
synthesized; the node's figures are their sum times ``PE / lanes synthesized``. The synth
stage says which figures are scaled (``scaled`` on the node, ``scaled_nodes`` on the
variant) and does not synthesize a stitched top that contains a sliced node.
"""

from __future__ import annotations

import math


def lane_slices(pe: int, estimate_lut: float, slice_lut: int, max_slices: int) -> list[list[int]]:
    """The PE lanes of each slice to synthesize, or ``[]`` when the node is synthesized whole.

    The layer is cut into ``ceil(estimate / slice_lut)`` groups of contiguous lanes (at most
    one per lane); ``max_slices`` of them, evenly spaced from the first to the last, are
    returned.
    """
    groups = min(pe, math.ceil(estimate_lut / slice_lut)) if slice_lut > 0 else 1
    if groups <= 1:
        return []
    size = math.ceil(pe / groups)
    chunks = [list(range(a, min(a + size, pe))) for a in range(0, pe, size)]
    if len(chunks) <= max_slices:
        return chunks
    picks = sorted(
        {round(j * (len(chunks) - 1) / max(max_slices - 1, 1)) for j in range(max_slices)}
    )
    return [chunks[i] for i in picks]
