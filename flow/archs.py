"""The benchmark architectures as plain data: their MAC layers in forward order, no torch.

Configs are validated (targets, per-layer overrides, folding) before any slow work, so the
layer list of every architecture must be known without building a network. The Brevitas
modules in ``flow.models`` are built from the same specs, so the two cannot disagree.

Layer names are what configs and reports use: ``fcN`` (dense), ``convN`` (CNV convs and the
stems), ``dwN``/``pwN`` (MobileNetV1 depthwise/pointwise), ``sNbMcK`` and ``sNbMsc``
(ResNet-18 stage N, block M, conv K or the projection shortcut).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from flow.errors import ConfigError

Kind = Literal["linear", "conv", "depthwise"]
ARCHS = ("tfc", "cnv", "mobilenetv1", "resnet18")


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
    in_size: int = 1  # input height = width (1 for dense layers)

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
    classes: int


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


def arch_specs(
    arch: str, shape: Shape, *, hidden: list[int], channels: list[int], width: float
) -> list[MacSpec]:
    """The MAC layers of an architecture, in forward order."""
    if arch == "tfc":
        return tfc_specs(shape, hidden)
    if arch == "cnv":
        return cnv_specs(shape, channels, hidden)
    if arch == "mobilenetv1":
        return mobilenetv1_specs(shape, width)
    if arch == "resnet18":
        return resnet18_specs(shape, width)
    raise ConfigError(f"model.arch: must be one of {', '.join(ARCHS)}, not {arch!r}")
