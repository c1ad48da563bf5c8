"""LabelSelect: the top-1 class index (TopK k=1) on ``label_select.sv``."""

from __future__ import annotations

import numpy as np

from flow.ops.base import WIDE_ACC, ExecNode, HwNode, HwOp, PlanContext, Range, Stream, dtype_bits


class LabelSelect(HwOp):
    """FINN's LabelSelect: the index of the largest of ``Labels`` values, one word out."""

    op_type = "LabelSelect"
    template = "label_select"
    source = "TopK k=1"
    summary_attrs = ("Labels", "K")
    order = 3
    # It takes the logits in the words of the MAC layer before it (whose PE divides the
    # label count), so it keeps up with a fully parallel classifier.
    folds_with_mac = True

    def elems(self, inst, side: str) -> int:
        return 1 if side == "out" else inst.get_nodeattr("PE")

    def execute(self, node: ExecNode, ins: list[Stream]) -> tuple[np.ndarray, Range | None]:
        # The K largest, ties to the lower index (ONNX TopK, numpy argmax).
        h = ins[0][0]
        n, k = len(h), int(node.e.get("K", 1))
        flat = h.reshape(n, -1)
        if k == 1:
            return np.argmax(flat, axis=1).reshape(n, 1), None
        return np.argsort(-flat, axis=1, kind="stable")[:, :k], None

    def widens(self, acc32: bool, fed_by_mac: bool) -> bool:
        return acc32 and fed_by_mac

    def plan(self, e: dict, ctx: PlanContext) -> HwNode:
        in_bits, in_signed = dtype_bits(e["inputDataType"])
        if ctx.wide:
            in_bits = WIDE_ACC
        labels, pe = int(e["Labels"]), int(e.get("PE", 1))
        out_bits = max(1, (labels - 1).bit_length())
        params = {
            "NUM_LABELS": labels,
            "PE": pe,
            "IN_WIDTH": in_bits,
            "IN_SIGNED": int(in_signed),
            "OUT_WIDTH": out_bits,
        }
        return HwNode(
            ctx.name, self.op_type, "label_select", params, [(in_bits, pe)], [(out_bits, 1)]
        )

    def output_signed(self, node: HwNode) -> bool:
        return False  # a class index


OP = LabelSelect()
