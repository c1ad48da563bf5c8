"""Super-resolution benchmarks (ESPCN and a small UNet) with accumulator-aware quantizers.

Both work on luminance tiles: the input is the raw 8-bit integer pixel (scale 1, as in the
classifiers) and the output is the image itself, an 8-bit integer pixel with scale 1
(``PixelQuant`` on the last layer), so the accelerator maps integer pixels to integer pixels
with no float pre- or post-processing. Every hidden MAC layer is ``conv -> ReLU`` (no
BatchNorm, which hurts super-resolution). With ``model.residual`` the last conv's output is an
8-bit signed detail added to the nearest-neighbour upsampled input; without it, a BatchNorm on
the last layer learns the 0..255 range and FINN folds it into the output thresholds.

Upsampling is nearest-neighbour resize followed by a 3x3 conv (resize-convolution, as in the
A2Q papers): FINN lowers the resize to ``UpsampleNearestNeighbour``. The UNet's skip concat
joins two tensors that come out of one shared quantizer, so both halves carry the same scale
and the concat is an integer concat in hardware.
"""

from __future__ import annotations

import torch
from brevitas.core.restrict_val import RestrictValueType
from brevitas.core.scaling import ScalingImplType
from brevitas.nn import QuantIdentity, QuantReLU
from brevitas.quant import Int8ActPerTensorFloat
from torch import nn

from flow.config import LayerPlan
from flow.models.cnn import _MacStack, _value
from flow.models.tfc import PixelQuant

# Output pixel range of the float twin (the quantized one clips by its 8-bit quantizer).
PIXEL_MAX = 255.0
# Initial affine of the output BatchNorm (without the residual): roughly the mean and spread of
# natural-image pixels, so training starts from a grey image of the right contrast.
_OUT_INIT = (60.0, 110.0)
RESIDUAL_BITS = 8


class ResidualQuant(Int8ActPerTensorFloat):
    """Signed integer pixel offsets with a constant scale of 1 (scaling_init / 2^(N-1))."""

    scaling_impl_type = ScalingImplType.CONST
    restrict_scaling_type = RestrictValueType.FP


class _SuperRes(_MacStack):
    """Shared parts: the output layer's norm and pixel quantizer, the upsamplers and the
    optional global residual (the upsampled input added to the output)."""

    def __init__(
        self, plans: list[LayerPlan], act_bits: int, quant: bool, residual: bool = False
    ) -> None:
        super().__init__(plans, act_bits, quant)
        out = plans[-1]
        self.residual = residual
        # No BatchNorm in the hidden layers: as found for EDSR, it hurts super-resolution
        # (on the sample photos a float ESPCN plateaus 0.5 dB below bicubic with it and passes
        # bicubic without it); each ReLU quantizer still learns its scale.
        self.norms = nn.ModuleDict()
        if not residual:
            # Without the residual, the output needs an offset and a gain to reach 0..255.
            self.norms[out.name] = nn.BatchNorm2d(out.out_features)
            nn.init.constant_(self.norms[out.name].weight, _OUT_INIT[0])
            nn.init.constant_(self.norms[out.name].bias, _OUT_INIT[1])
        else:
            # The last conv's output is the detail to add, an integer pixel offset.
            self.res_quant = (
                QuantIdentity(
                    act_quant=ResidualQuant,
                    bit_width=RESIDUAL_BITS,
                    scaling_init=float(2 ** (RESIDUAL_BITS - 1)),
                    return_quant_tensor=True,
                )
                if quant
                else nn.Identity()
            )
        self.acts[out.name] = (
            QuantReLU(act_quant=PixelQuant, bit_width=8, scaling_init=PIXEL_MAX)
            if quant
            else nn.Hardtanh(0.0, PIXEL_MAX)
        )
        self.upsample = {p.name: p.spec.upsample for p in plans}
        factors = sorted({f for f in self.upsample.values() if f > 1})
        # nn.Upsample calls F.interpolate, which Brevitas passes a QuantTensor through
        # (nearest keeps the scale and bits); in export mode it is a plain ONNX Resize.
        self.ups = nn.ModuleDict({str(f): nn.Upsample(scale_factor=f) for f in factors})

    def output(self, x, pixels):
        """The last layer; with a residual, its output is added to the upsampled input pixels."""
        if not self.residual:
            return _value(self.conv(self.plans[-1].name, x))
        name = self.plans[-1].name
        f = self.upsample[name]
        detail = self.res_quant(self.layers[name](self.ups[str(f)](x)))
        return _value(self.acts[name](_value(self.ups[str(f)](pixels)) + _value(detail)))

    def conv(self, name: str, x):
        """One layer, with its nearest-neighbour upsampling first if it has one."""
        f = self.upsample[name]
        if f > 1:
            x = self.ups[str(f)](x)
        return self.block(name, x)


class ESPCN(_SuperRes):
    """ESPCN: feature convs at low resolution, then the resize-convolution to the image."""

    def __init__(
        self, plans: list[LayerPlan], act_bits: int, quant: bool = True, residual: bool = False
    ) -> None:
        super().__init__(plans, act_bits, quant, residual)
        del self.builder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pixels = self.input_quant(x)
        for p in self.plans[:-1]:
            x = self.conv(p.name, x)
        return self.output(x, pixels)


class UNet(_SuperRes):
    """A small UNet (two convs per level, max-pool down, resize-conv up, concat skips)."""

    def __init__(
        self, plans: list[LayerPlan], act_bits: int, quant: bool = True, residual: bool = False
    ) -> None:
        super().__init__(plans, act_bits, quant, residual)
        names = [p.name for p in plans]
        self.levels = sum(1 for n in names if n.startswith("e") and n.endswith("c1"))
        self.pool = self.builder.max_pool()
        del self.builder
        # The upsampling conv of a level and the skip it is concatenated with share one
        # quantizer, so the concat joins two tensors of the same scale.
        for lvl in range(self.levels - 1):
            self.acts[f"u{lvl}"] = self.acts[f"e{lvl}c2"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pixels = self.input_quant(x)
        skips = []
        for lvl in range(self.levels):
            if lvl:
                x = self.pool(x)
            x = self.conv(f"e{lvl}c2", self.conv(f"e{lvl}c1", x))
            skips.append(x)
        for lvl in range(self.levels - 2, -1, -1):
            x = self.conv(f"u{lvl}", x)
            x = self.conv(f"d{lvl}", torch.cat([skips[lvl], x], dim=1))
        return self.output(x, pixels)
