"""Remove the channels a sparse network does not need, between two MVAUs.

A2Q at a low P leaves most weights zero, and often whole rows and columns: at P=11 on
tfc_digits, 204 of fc1's 256 neurons have no non-zero weight and 185 of its 256 inputs are
read by none. Such channels still cost a multiplier lane, a threshold unit and stream width in
every fold. Where an MVAU feeds, through a ``Thresholding`` node, another MVAU (dense layers,
pointwise convolutions), a channel ``j`` of the first one is removed from all three when

- the second MVAU never reads it (its weight row ``j`` is all zero), or
- the first MVAU never computes anything on it (its weight column ``j`` is all zero): the
  accumulator is always 0, so the activation is the constant ``a_j = ActVal + #{T_jk <= 0}``.
  If ``a_j`` is 0 the channel adds nothing downstream; otherwise its contribution
  ``a_j * W2[j, m]`` to each output ``m`` of the second MVAU is a constant, moved into the
  thresholds that follow it (``acc + c >= T`` is ``acc >= T - c``). Without such thresholds
  the channel stays.

The network computes exactly the same integers (the verify and sim stages check it), and
every remaining accumulator is narrower or equal: the A2Q bound holds a fortiori for a subset
of the weights. Repeated to a fixed point, since removing a neuron can leave an input unread.
Bipolar activations and chains whose shapes do not pair channel for channel (a flatten
absorbed into the second MVAU) are left alone; a layer always keeps at least one channel.
"""

from __future__ import annotations

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation


def _single_consumer(model: ModelWrapper, node, op_type: str):
    consumers = model.find_consumers(node.output[0]) or []
    if len(consumers) == 1 and consumers[0].op_type == op_type:
        return consumers[0]
    return None


def _thresholds(model: ModelWrapper, thr, channels: int) -> np.ndarray:
    t = np.asarray(model.get_initializer(thr.input[1]), dtype=np.float64)
    return np.tile(t, (channels, 1)) if t.shape[0] == 1 else t


def _plain(model: ModelWrapper, thr) -> bool:
    """A Thresholding whose output is the count of thresholds reached plus ActVal."""
    return getCustomOp(thr).get_nodeattr("outputDataType") != "BIPOLAR"


def _resize(model: ModelWrapper, tensor: str, channels: int) -> None:
    shape = list(model.get_tensor_shape(tensor))
    model.set_tensor_shape(tensor, [*shape[:-1], channels])


class PruneDeadChannels(Transformation):
    """Remove unread and constant channels between MVAU -> Thresholding -> MVAU.

    ``pruned`` maps each first MVAU's name to the output channels removed from it, and
    ``folded`` to how many of them were constants moved into the next thresholds.
    """

    def __init__(self) -> None:
        super().__init__()
        self.pruned: dict[str, int] = {}
        self.folded: dict[str, int] = {}

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        for a in list(model.graph.node):
            if a.op_type != "MVAU":
                continue
            thr = _single_consumer(model, a, "Thresholding")
            b = _single_consumer(model, thr, "MVAU") if thr is not None else None
            if b is None or not _plain(model, thr) or self._prune(model, a, thr, b):
                continue
            return model, True
        return model, False

    def _prune(self, model: ModelWrapper, a, thr, b) -> bool:
        """Prune one chain; True when nothing was removed (so the search goes on)."""
        wa = model.get_initializer(a.input[1])  # (MW, MH)
        wb = model.get_initializer(b.input[1])
        channels = wa.shape[1]
        if wb.shape[0] != channels:
            return True
        t = _thresholds(model, thr, channels)
        act = getCustomOp(thr).get_nodeattr("ActVal")
        unread = ~wb.any(axis=1)
        dead = ~wa.any(axis=0)
        value = act + (t <= 0).sum(axis=1)  # the activation of a channel whose acc is 0
        after = _single_consumer(model, b, "Thresholding")
        can_fold = after is not None and _plain(model, after)
        drop = unread | (dead & ((value == 0) | can_fold))
        if drop.all():
            drop[np.flatnonzero(drop)[0]] = False
        if not drop.any():
            return True
        fold = drop & dead & ~unread & (value != 0)
        if fold.any():
            shift = value[fold] @ wb[fold]  # per output of b
            t2 = _thresholds(model, after, wb.shape[1])
            dtype = model.get_initializer(after.input[1]).dtype
            model.set_initializer(after.input[1], (t2 - shift[:, None]).astype(dtype))
        keep = ~drop
        n = int(keep.sum())
        model.set_initializer(a.input[1], wa[:, keep])
        model.set_initializer(
            thr.input[1], t[keep].astype(model.get_initializer(thr.input[1]).dtype)
        )
        model.set_initializer(b.input[1], wb[keep])
        getCustomOp(a).set_nodeattr("MH", n)
        getCustomOp(thr).set_nodeattr("NumChannels", n)
        getCustomOp(b).set_nodeattr("MW", n)
        for tensor in (a.output[0], thr.output[0]):
            _resize(model, tensor, n)
        self.pruned[a.name] = self.pruned.get(a.name, 0) + int(drop.sum())
        self.folded[a.name] = self.folded.get(a.name, 0) + int(fold.sum())
        return False
