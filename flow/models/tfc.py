"""TFC-style MLP (as in FINN's BNN-PYNQ examples) with accumulator-aware weight quantizers.

Each layer is ``QuantLinear -> BatchNorm1d -> QuantReLU``; the last one is ``QuantLinear``
alone, so the logits are the last accumulator times a per-tensor scale. The input is the raw
integer pixel, quantized with a constant scale of exactly 1 so that the exported graph (and
the accelerator) takes integer pixels with no float pre-processing.
"""

from __future__ import annotations

import torch
from brevitas.core.function_wrapper import CeilSte
from brevitas.core.restrict_val import RestrictValueType
from brevitas.core.scaling import ScalingImplType
from brevitas.nn import QuantIdentity, QuantLinear, QuantReLU
from brevitas.quant import (
    Int8AccumulatorAwareWeightQuant,
    Int8AccumulatorAwareZeroCenterWeightQuant,
    Int8WeightPerChannelFloat,
    Int8WeightPerTensorFixedPoint,
    Int8WeightPerTensorFloat,
    Uint8ActPerTensorFixedPoint,
    Uint8ActPerTensorFloat,
)
from torch import nn

from flow.config import LayerPlan


class PixelQuant(Uint8ActPerTensorFloat):
    """Unsigned integer pixels with a constant scale of 1 (scale = scaling_init / (2^N - 1))."""

    scaling_impl_type = ScalingImplType.CONST
    restrict_scaling_type = RestrictValueType.FP


class Int8WeightPerChannelPo2(Int8WeightPerChannelFloat):
    """Per-channel weight scales restricted to powers of two (fixed point; ``quant.scale``)."""

    restrict_scaling_type = RestrictValueType.POWER_OF_TWO
    restrict_value_float_to_int_impl = CeilSte


def relu_kwargs(po2: bool) -> dict:
    """Brevitas keyword arguments of a QuantReLU: a power-of-two scale with ``po2``."""
    return {"act_quant": Uint8ActPerTensorFixedPoint} if po2 else {}


def weight_quant_kwargs(plan: LayerPlan, last: bool) -> dict:
    """Brevitas keyword arguments selecting the weight quantizer of one layer."""
    kwargs: dict = {"weight_bit_width": plan.weight_bits}
    if plan.method == "a2q":
        kwargs.update(
            weight_quant=Int8AccumulatorAwareWeightQuant, weight_accumulator_bit_width=plan.acc_bits
        )
    elif plan.method == "a2q_plus":
        kwargs.update(
            weight_quant=Int8AccumulatorAwareZeroCenterWeightQuant,
            weight_accumulator_bit_width=plan.acc_bits,
        )
    else:
        # Baseline and data-type layers: plain QAT at M bits (the data-type method's
        # guarantee is in the bits themselves). A per-tensor scale on the last layer keeps
        # argmax on the integer accumulator equal to argmax on the logits, so top-1 can run
        # in hardware.
        if plan.po2:
            kwargs["weight_quant"] = (
                Int8WeightPerTensorFixedPoint if last else Int8WeightPerChannelPo2
            )
        else:
            kwargs["weight_quant"] = Int8WeightPerTensorFloat if last else Int8WeightPerChannelFloat
    return kwargs


class TFC(nn.Module):
    """Quantized MLP. ``plans`` gives each MAC layer's sizes, method, target width and data
    types (a layer's ``input_bits`` are the bits of the activation before it)."""

    def __init__(self, plans: list[LayerPlan]) -> None:
        super().__init__()
        self.plans = plans
        first = plans[0]
        self.input_quant = QuantIdentity(
            act_quant=PixelQuant,
            bit_width=first.input_bits,
            scaling_init=float(2**first.input_bits - 1),
            return_quant_tensor=True,
        )
        self.layers = nn.ModuleDict()
        self.norms = nn.ModuleDict()
        self.acts = nn.ModuleDict()
        for i, p in enumerate(plans):
            last = i == len(plans) - 1
            self.layers[p.name] = QuantLinear(
                p.in_features, p.out_features, bias=False, **weight_quant_kwargs(p, last)
            )
            if not last:
                self.norms[p.name] = nn.BatchNorm1d(p.out_features)
                # The activation has the bits of the next layer's input (act_bits unless the
                # data-type method chose them).
                bits = plans[i + 1].input_bits
                self.acts[p.name] = QuantReLU(
                    bit_width=bits, return_quant_tensor=True, **relu_kwargs(p.po2)
                )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_quant(x.flatten(1))
        for name, layer in self.layers.items():
            x = layer(x)
            if name in self.norms:
                x = self.acts[name](self.norms[name](x))
        return x


class FloatTFC(nn.Module):
    """The float twin of ``TFC`` used for pre-training; its state dict loads into ``TFC``."""

    def __init__(self, plans: list[LayerPlan]) -> None:
        super().__init__()
        self.plans = plans
        self.layers = nn.ModuleDict()
        self.norms = nn.ModuleDict()
        for i, p in enumerate(plans):
            self.layers[p.name] = nn.Linear(p.in_features, p.out_features, bias=False)
            if i < len(plans) - 1:
                self.norms[p.name] = nn.BatchNorm1d(p.out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for name, layer in self.layers.items():
            x = layer(x)
            if name in self.norms:
                x = torch.relu(self.norms[name](x))
        return x
