"""The benchmark architectures as plain data: their MAC layers in forward order, no torch.

Configs are validated (targets, per-layer overrides, folding) before any slow work, so the
layer list of every architecture must be known without building a network. The Brevitas
modules in ``flow.models`` are built from the same specs, so the two cannot disagree.

Layer names are what configs and reports use: ``fcN`` (dense), ``convN`` (CNV convs, the
stems and ESPCN's feature convs), ``dwN``/``pwN`` (MobileNetV1 depthwise/pointwise),
``sNbMcK`` and ``sNbMsc`` (ResNet-18 stage N, block M, conv K or the projection shortcut),
``eLc1``/``eLc2``, ``uL`` and ``dL`` (UNet encoder level L, its upsampling conv and the conv
after the skip concat) and ``out`` (the image-producing conv of the super-resolution nets).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from flow.errors import ConfigError

Kind = Literal["linear", "conv", "depthwise"]
ARCHS = ("tfc", "cnv", "mobilenetv1", "resnet18", "espcn", "unet")
SUPERRES_ARCHS = ("espcn", "unet")


@dataclass(frozen=True)
class MacSpec:
    """One MAC layer: a dense layer or a 2-D convolution (``groups == in_channels``: depthwise)."""

    name: str
    kind: Kind
    in_channels: int
    out_channels: int
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    in_size: int = 1  # input height = width of the conv (after any upsampling; 1 for dense)
    # Nearest-neighbour upsampling of the layer's input by this factor before the conv
    # (resize-convolution, the upsampling of the A2Q papers' super-resolution nets).
    upsample: int = 1

    @property
    def fan_in(self) -> int:
        """K: the dot-product length of one output."""
        per_group = 1 if self.kind == "depthwise" else self.in_channels
        return per_group * self.kernel * self.kernel

    @property
    def out_size(self) -> int:
        return (self.in_size + 2 * self.padding - self.kernel) // self.stride + 1


@dataclass(frozen=True)
class Shape:
    """The input the architecture is built for."""

    channels: int
    size: int
    classes: int  # 0 for super-resolution
    upscale: int = 1  # super-resolution factor (output size = upscale * size)


def _scaled(c: int, width: float) -> int:
    return max(1, int(round(c * width)))


def tfc_specs(shape: Shape, hidden: list[int]) -> list[MacSpec]:
    sizes = [shape.channels * shape.size * shape.size, *hidden, shape.classes]
    return [MacSpec(f"fc{i}", "linear", sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1)]


def cnv_specs(shape: Shape, channels: list[int], hidden: list[int]) -> list[MacSpec]:
    """FINN's CNV pattern: 3x3 'same' convs in pairs, 2x2 max-pool after each pair, dense head."""
    specs, size, cin = [], shape.size, shape.channels
    for i, c in enumerate(channels):
        specs.append(MacSpec(f"conv{i}", "conv", cin, c, 3, 1, 1, size))
        cin = c
        if i % 2 == 1:
            if size < 2:
                raise ConfigError(
                    f"model.channels: {len(channels)} convs pool a {shape.size}x{shape.size} "
                    f"input below 1x1; use at most {2 * _pool_steps(shape.size)} convs"
                )
            size //= 2
    return specs + [
        MacSpec(s.name, "linear", s.in_channels, s.out_channels)
        for s in tfc_specs(Shape(cin, size, shape.classes), hidden)
    ]


def _pool_steps(size: int) -> int:
    n = 0
    while size >= 2:
        size //= 2
        n += 1
    return n


# MobileNetV1 on CIFAR-10 (as in the A2Q papers): the ImageNet channel plan, a stride-1 stem,
# and the first depthwise stride dropped, so 32x32 inputs end at 4x4 before the pool.
_MOBILENET = (
    [(64, 1), (128, 1), (128, 1), (256, 2), (256, 1), (512, 2)]
    + [(512, 1)] * 5
    + [
        (1024, 2),
        (1024, 1),
    ]
)


def mobilenetv1_specs(shape: Shape, width: float) -> list[MacSpec]:
    cin, size = _scaled(32, width), shape.size
    specs = [MacSpec("conv0", "conv", shape.channels, cin, 3, 1, 1, size)]
    for i, (c, stride) in enumerate(_MOBILENET, start=1):
        dw = MacSpec(f"dw{i}", "depthwise", cin, cin, 3, stride, 1, size)
        size = dw.out_size
        cout = _scaled(c, width)
        specs += [dw, MacSpec(f"pw{i}", "conv", cin, cout, 1, 1, 0, size)]
        cin = cout
    return specs + [MacSpec("fc", "linear", cin, shape.classes)]


def resnet18_specs(shape: Shape, width: float) -> list[MacSpec]:
    """ResNet-18 for 32x32 inputs (3x3 stride-1 stem, no stem pool), BasicBlocks [2, 2, 2, 2]."""
    cin, size = _scaled(64, width), shape.size
    specs = [MacSpec("conv0", "conv", shape.channels, cin, 3, 1, 1, size)]
    for s, (c, stride) in enumerate([(64, 1), (128, 2), (256, 2), (512, 2)], start=1):
        cout = _scaled(c, width)
        for b in range(2):
            st = stride if b == 0 else 1
            c1 = MacSpec(f"s{s}b{b}c1", "conv", cin, cout, 3, st, 1, size)
            c2 = MacSpec(f"s{s}b{b}c2", "conv", cout, cout, 3, 1, 1, c1.out_size)
            specs += [c1, c2]
            if st != 1 or cin != cout:
                specs.append(MacSpec(f"s{s}b{b}sc", "conv", cin, cout, 1, st, 0, size))
            cin, size = cout, c1.out_size
    return specs + [MacSpec("fc", "linear", cin, shape.classes)]


def espcn_specs(shape: Shape, channels: list[int]) -> list[MacSpec]:
    """ESPCN (Shi et al. 2016) with resize-convolution: a 5x5 conv, 3x3 convs, then a
    nearest-neighbour upsampling by the scale factor followed by a 3x3 conv to the image."""
    if not channels:
        raise ConfigError("model.channels: ESPCN needs at least one feature conv")
    size, cin = shape.size, shape.channels
    specs = []
    for i, c in enumerate(channels):
        k = 5 if i == 0 else 3
        specs.append(MacSpec(f"conv{i}", "conv", cin, c, k, 1, k // 2, size))
        cin = c
    return specs + [_out_conv(cin, shape)]


def _out_conv(cin: int, shape: Shape) -> MacSpec:
    f = shape.upscale
    return MacSpec("out", "conv", cin, shape.channels, 3, 1, 1, shape.size * f, upsample=f)


def unet_specs(shape: Shape, channels: list[int]) -> list[MacSpec]:
    """A small UNet: per level two 3x3 convs (a 2x2 max-pool between levels); on the way up a
    2x nearest-neighbour upsampling + 3x3 conv, a channel concat with the skip of that level and
    a 3x3 conv; then the resize-convolution to the image as in ESPCN."""
    if len(channels) < 2:
        raise ConfigError(
            f"model.channels: a UNet needs at least two levels (e.g. [16, 32]), not {channels}"
        )
    levels = len(channels)
    if shape.size % 2 ** (levels - 1):
        raise ConfigError(
            f"data.tile: {levels} UNet levels pool the tile {levels - 1} times, so its size "
            f"{shape.size} must be a multiple of {2 ** (levels - 1)}"
        )
    specs, cin = [], shape.channels
    for lvl, c in enumerate(channels):
        size = shape.size >> lvl
        specs += [
            MacSpec(f"e{lvl}c1", "conv", cin, c, 3, 1, 1, size),
            MacSpec(f"e{lvl}c2", "conv", c, c, 3, 1, 1, size),
        ]
        cin = c
    for lvl in range(levels - 2, -1, -1):
        c, size = channels[lvl], shape.size >> lvl
        specs += [
            MacSpec(f"u{lvl}", "conv", cin, c, 3, 1, 1, size, upsample=2),
            MacSpec(f"d{lvl}", "conv", 2 * c, c, 3, 1, 1, size),
        ]
        cin = c
    return specs + [_out_conv(cin, shape)]


def arch_specs(
    arch: str, shape: Shape, *, hidden: list[int], channels: list[int], width: float
) -> list[MacSpec]:
    """The MAC layers of an architecture, in forward order."""
    if arch not in SUPERRES_ARCHS and shape.upscale > 1:
        raise ConfigError(
            f"model.arch: {arch} is a classifier, but the dataset is for super-resolution; "
            f"use one of {', '.join(SUPERRES_ARCHS)}"
        )
    if arch in SUPERRES_ARCHS and shape.upscale < 2:
        raise ConfigError(
            f"model.arch: {arch} is a super-resolution network; use a super-resolution "
            "dataset (data.dataset: samples or bsd300)"
        )
    if arch == "tfc":
        return tfc_specs(shape, hidden)
    if arch == "cnv":
        return cnv_specs(shape, channels, hidden)
    if arch == "mobilenetv1":
        return mobilenetv1_specs(shape, width)
    if arch == "resnet18":
        return resnet18_specs(shape, width)
    if arch == "espcn":
        return espcn_specs(shape, channels)
    if arch == "unet":
        return unet_specs(shape, channels)
    raise ConfigError(f"model.arch: must be one of {', '.join(ARCHS)}, not {arch!r}")
