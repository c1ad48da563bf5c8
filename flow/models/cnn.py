"""Convolutional benchmarks (CNV, MobileNetV1, ResNet-18) with accumulator-aware quantizers.

Each network is built from the layer specs of ``flow.archs`` either quantized (Brevitas) or
float (plain torch, for pre-training); both have the same parameter names, so the float
checkpoint loads into the quantized twin. Every MAC layer is ``conv -> BatchNorm -> ReLU``
(quantized: ``QuantReLU``, so the next layer's input has known bits and sign), convs have no
bias, and the input is the raw integer pixel (scale 1), as in the TFC.

Shapes FINN lowers: 'same'-padded convs (FMPadding + sliding window + MVAU), depthwise convs
(sliding window + VVAU), 2x2 max-pools (sliding window + Pool), a global average pool followed
by a quantized ReLU (GlobalAccPool + thresholds), and residual joins whose two inputs share one
quantizer, so both carry the same scale and the add is an integer add in hardware.
"""

from __future__ import annotations

import torch
from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear, QuantReLU
from brevitas.quant import Int8ActPerTensorFixedPoint, Int8ActPerTensorFloat
from torch import nn

from flow.config import LayerPlan
from flow.models.tfc import PixelQuant, relu_kwargs, weight_quant_kwargs


class _Builder:
    """Makes the layers of one network, quantized or float."""

    def __init__(self, plans: list[LayerPlan], act_bits: int, quant: bool) -> None:
        self.plans = {p.name: p for p in plans}
        self.last = plans[-1].name
        self.act_bits = act_bits
        self.quant = quant
        self.po2 = plans[0].po2  # quant.scale, the same for the whole network

    def mac(self, name: str) -> nn.Module:
        p = self.plans[name]
        s = p.spec
        if s.kind == "linear":
            if not self.quant:
                return nn.Linear(s.in_channels, s.out_channels, bias=False)
            kw = weight_quant_kwargs(p, name == self.last)
            return QuantLinear(s.in_channels, s.out_channels, bias=False, **kw)
        groups = s.in_channels if s.kind == "depthwise" else 1
        args = (s.in_channels, s.out_channels, s.kernel)
        geo = {"stride": s.stride, "padding": s.padding, "groups": groups, "bias": False}
        if not self.quant:
            return nn.Conv2d(*args, **geo)
        return QuantConv2d(*args, **geo, **weight_quant_kwargs(p, name == self.last))

    def norm(self, name: str) -> nn.Module:
        s = self.plans[name].spec
        return (
            nn.BatchNorm1d(s.out_channels) if s.kind == "linear" else nn.BatchNorm2d(s.out_channels)
        )

    def relu(self, bits: int | None = None) -> nn.Module:
        """A ReLU quantized to ``bits`` (default ``act_bits``): the input bits of the layer
        that reads it."""
        if not self.quant:
            return nn.ReLU()
        return QuantReLU(
            bit_width=bits or self.act_bits, return_quant_tensor=True, **relu_kwargs(self.po2)
        )

    def input_quant(self, bits: int) -> nn.Module:
        if not self.quant:
            return nn.Identity()
        return QuantIdentity(
            act_quant=PixelQuant,
            bit_width=bits,
            scaling_init=float(2**bits - 1),
            return_quant_tensor=True,
        )

    def max_pool(self) -> nn.Module:
        # Brevitas passes a QuantTensor through max_pool2d with its scale and bits.
        return nn.MaxPool2d(2)

    def join_quant(self) -> nn.Module:
        """The signed quantizer both inputs of a residual add share (same scale)."""
        if not self.quant:
            return nn.Identity()
        act_quant = Int8ActPerTensorFixedPoint if self.po2 else Int8ActPerTensorFloat
        return QuantIdentity(act_quant=act_quant, bit_width=self.act_bits, return_quant_tensor=True)


def _value(x):
    return x.value if hasattr(x, "value") else x


class _MacStack(nn.Module):
    """Shared layout: ``layers``, ``norms`` and ``acts`` keyed by layer name."""

    def __init__(self, plans: list[LayerPlan], act_bits: int, quant: bool) -> None:
        super().__init__()
        self.plans = plans
        b = _Builder(plans, act_bits, quant)
        self.input_quant = b.input_quant(plans[0].input_bits)
        self.layers = nn.ModuleDict({p.name: b.mac(p.name) for p in plans})
        self.norms = nn.ModuleDict({p.name: b.norm(p.name) for p in plans[:-1]})
        # Each activation has the bits of the input of the layer after it (act_bits unless the
        # data-type method chose them; its networks have no activation read twice).
        self.acts = nn.ModuleDict(
            {p.name: b.relu(nxt.input_bits) for p, nxt in zip(plans[:-1], plans[1:], strict=True)}
        )
        self.builder = b

    def block(self, name: str, x):
        """``mac -> norm -> relu`` of one layer (just the MAC for the classifier)."""
        x = self.layers[name](x)
        if name in self.norms:
            x = self.norms[name](x)
        if name in self.acts:
            x = self.acts[name](x)
        return x


class CNV(_MacStack):
    """FINN's CNV pattern: 3x3 convs in pairs with a 2x2 max-pool after each pair, dense head."""

    def __init__(self, plans: list[LayerPlan], act_bits: int, quant: bool = True) -> None:
        super().__init__(plans, act_bits, quant)
        convs = [p.name for p in plans if p.kind == "conv"]
        self.pool_after = set(convs[1::2])
        self.pool = self.builder.max_pool()
        del self.builder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_quant(x)
        for p in self.plans:
            if p.kind == "linear" and x.dim() == 4:
                x = x.flatten(1)
            x = self.block(p.name, x)
            if p.name in self.pool_after:
                x = self.pool(x)
        return x


class _PooledHead(_MacStack):
    """Networks that end in a global average pool, a quantized ReLU and the classifier."""

    def __init__(self, plans: list[LayerPlan], act_bits: int, quant: bool) -> None:
        super().__init__(plans, act_bits, quant)
        self.pool = nn.AdaptiveAvgPool2d(1)
        # Re-quantizes the average (a mean of act_bits values) so the classifier's input has
        # known bits; FINN folds the 1/N of the pool into these thresholds.
        self.pool_quant = self.builder.relu(plans[-1].input_bits)

    def head(self, x) -> torch.Tensor:
        x = self.pool_quant(self.pool(_value(x)))
        return self.layers[self.plans[-1].name](x.flatten(1))


class MobileNetV1(_PooledHead):
    """MobileNetV1 (depthwise 3x3 + pointwise 1x1 pairs) for 32x32 inputs."""

    def __init__(self, plans: list[LayerPlan], act_bits: int, quant: bool = True) -> None:
        super().__init__(plans, act_bits, quant)
        del self.builder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_quant(x)
        for p in self.plans[:-1]:
            x = self.block(p.name, x)
        return self.head(x)


class ResNet18(_PooledHead):
    """ResNet-18 (BasicBlocks) for 32x32 inputs; the joins share a quantizer per block."""

    def __init__(self, plans: list[LayerPlan], act_bits: int, quant: bool = True) -> None:
        super().__init__(plans, act_bits, quant)
        names = [p.name for p in plans]
        self.blocks = sorted({n[:4] for n in names if n.startswith("s")})
        self.shortcut = {blk: f"{blk}sc" in names for blk in self.blocks}
        # The second conv and the shortcut of a block have no ReLU of their own: their BN
        # outputs go to the join.
        for name in names:
            if name.endswith(("c2", "sc")):
                del self.acts[name]
        self.joins = nn.ModuleDict({blk: self.builder.join_quant() for blk in self.blocks})
        self.join_acts = nn.ModuleDict({blk: self.builder.relu() for blk in self.blocks})
        del self.builder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block("conv0", self.input_quant(x))
        for blk in self.blocks:
            y = self.joins[blk](self.block(f"{blk}c2", self.block(f"{blk}c1", x)))
            s = self.joins[blk](self.block(f"{blk}sc", x) if self.shortcut[blk] else x)
            x = self.join_acts[blk](_value(y) + _value(s))
        return self.head(x)
