"""FIFO: the glue on every stream between two nodes (``fifo.sv``)."""

from __future__ import annotations

from flow.ops.base import Elem, HwNode, HwOp


class Fifo(HwOp):
    """A stream FIFO, inserted by the hardware stage; never a node of the HW graph."""

    op_type = "FIFO"
    template = "fifo"
    is_glue = True

    def glue(self, name: str, elem: Elem, depth: int) -> HwNode:
        """A FIFO of ``depth`` words packed as ``elem``."""
        bits, n = elem
        params = {"DEPTH": depth, "WIDTH": bits * n}
        return HwNode(name, self.op_type, None, params, [elem], [elem])


OP = Fifo()
