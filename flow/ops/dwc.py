"""DWC: the width converter between two streams packed differently (``dwc.sv``)."""

from __future__ import annotations

from flow.ops.base import Elem, HwNode, HwOp


class Dwc(HwOp):
    """A data width converter, inserted by the hardware stage; never a node of the HW graph."""

    op_type = "DWC"
    template = "dwc"
    is_glue = True

    def glue(self, name: str, a: Elem, b: Elem) -> HwNode:
        """A converter from words of ``a`` to words of ``b`` (same element width)."""
        params = {"IN_WIDTH": a[0] * a[1], "OUT_WIDTH": b[0] * b[1]}
        return HwNode(name, self.op_type, None, params, [a], [b])


OP = Dwc()
