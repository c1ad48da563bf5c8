"""Rewrite Brevitas' export of 1-bit unsigned activations into the ``Quant`` they are."""

from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation


class FixUnsignedBinaryActs(Transformation):
    """A QuantReLU at 1 bit outputs {0, s}, but Brevitas' QONNX exporter writes it as a
    ``BipolarQuant`` ({-s, +s}), so the file computes another network (found with the
    data-type method's 1-bit activations: 12.5 % accuracy in QONNX against 96.5 % in PyTorch).

    Each ``BipolarQuant`` fed by a ``Relu`` becomes the ``Quant`` it is: scale s, zero point
    0, 1 bit, unsigned, round to nearest (as Brevitas' other activation quantizers export).
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        """Rewrite every such node; ``changed`` if any was."""
        graph = model.graph
        changed = False
        for i, node in enumerate(list(graph.node)):
            if node.op_type != "BipolarQuant":
                continue
            producer = model.find_producer(node.input[0])
            if producer is None or producer.op_type != "Relu":
                continue
            zero, bits = f"{node.name}_zeropt", f"{node.name}_bitwidth"
            model.set_initializer(zero, np.array(0.0, dtype=np.float32))
            model.set_initializer(bits, np.array(1.0, dtype=np.float32))
            quant = helper.make_node(
                "Quant",
                [node.input[0], node.input[1], zero, bits],
                list(node.output),
                name=node.name,
                domain=node.domain,
                rounding_mode="ROUND",
                signed=0,
                narrow=0,
            )
            graph.node.remove(node)
            graph.node.insert(i, quant)
            changed = True
        return model, changed
