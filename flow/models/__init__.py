"""Benchmark networks built from Brevitas layers, and helpers to read their integer weights."""

from __future__ import annotations

import numpy as np
import torch
from brevitas.nn import QuantConv2d, QuantLinear
from torch import nn

from flow.config import BuildConfig, layer_plans
from flow.errors import ConfigError
from flow.models.cnn import CNV, MobileNetV1, ResNet18
from flow.models.sr import ESPCN, UNet
from flow.models.tfc import TFC, FloatTFC

__all__ = ["build_model", "build_float_model", "integer_weights", "mac_layers"]


_CNNS = {"cnv": CNV, "mobilenetv1": MobileNetV1, "resnet18": ResNet18}
_SUPERRES = {"espcn": ESPCN, "unet": UNet}


def build_model(cfg: BuildConfig) -> nn.Module:
    """The quantized network a config describes."""
    if cfg.model.arch == "tfc":
        return TFC(layer_plans(cfg))
    if cfg.model.arch in _SUPERRES:
        return _SUPERRES[cfg.model.arch](
            layer_plans(cfg), cfg.model.act_bits, quant=True, residual=cfg.model.residual
        )
    if cfg.model.arch in _CNNS:
        return _CNNS[cfg.model.arch](layer_plans(cfg), cfg.model.act_bits, quant=True)
    raise ConfigError(f"model.arch: no such architecture {cfg.model.arch!r}")


def build_float_model(cfg: BuildConfig) -> nn.Module:
    """The float twin of ``build_model(cfg)``: same parameter names, no quantizers."""
    if cfg.model.arch == "tfc":
        return FloatTFC(layer_plans(cfg))
    if cfg.model.arch in _SUPERRES:
        return _SUPERRES[cfg.model.arch](
            layer_plans(cfg), cfg.model.act_bits, quant=False, residual=cfg.model.residual
        )
    return _CNNS[cfg.model.arch](layer_plans(cfg), cfg.model.act_bits, quant=False)


def mac_layers(model: nn.Module) -> dict[str, QuantLinear | QuantConv2d]:
    """The quantized MAC layers of a model, by the layer names used in configs and reports."""
    return {
        name.split(".")[-1]: m
        for name, m in model.named_modules()
        if isinstance(m, (QuantLinear, QuantConv2d))
    }


@torch.no_grad()
def integer_weights(model: nn.Module, sample: torch.Tensor) -> dict[str, np.ndarray]:
    """Integer weight matrices (out, K) of every MAC layer, as int64 arrays.

    A conv's weights (out, in/groups, kh, kw) are flattened per output channel.

    Accumulator-aware quantizers need the quantized input of their layer (its bit width and
    sign set the L1 budget), so one forward pass on ``sample`` records it first.
    """
    captured: dict[str, object] = {}
    layers = mac_layers(model)
    hooks = [
        layer.register_forward_pre_hook(lambda _m, inp, n=name: captured.__setitem__(n, inp[0]))
        for name, layer in layers.items()
    ]
    was_training = model.training
    model.eval()
    try:
        model(sample)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    out = {}
    for name, layer in layers.items():
        qin = captured[name]
        qw = layer.quant_weight(quant_input=qin) if _needs_input(layer) else layer.quant_weight()
        q = qw.int().to(torch.int64).cpu().numpy()
        out[name] = q.reshape(q.shape[0], -1)
    return out


def _needs_input(layer: QuantLinear) -> bool:
    return "WithInput" in type(layer.weight_quant).__name__
