"""Benchmark networks built from Brevitas layers, and helpers to read their integer weights."""

from __future__ import annotations

import numpy as np
import torch
from brevitas.nn import QuantLinear
from torch import nn

from flow.config import BuildConfig, layer_plans
from flow.errors import ConfigError
from flow.models.tfc import TFC, FloatTFC

__all__ = ["build_model", "build_float_model", "integer_weights", "mac_layers"]


def build_model(cfg: BuildConfig) -> TFC:
    """The quantized network a config describes."""
    if cfg.model.arch != "tfc":
        raise ConfigError(f"model.arch: must be 'tfc', not {cfg.model.arch!r}")
    return TFC(layer_plans(cfg), act_bits=cfg.model.act_bits)


def build_float_model(cfg: BuildConfig) -> FloatTFC:
    """The float twin of ``build_model(cfg)``: same parameter names, no quantizers."""
    return FloatTFC(layer_plans(cfg))


def mac_layers(model: nn.Module) -> dict[str, QuantLinear]:
    """The quantized MAC layers of a model, by the layer names used in configs and reports."""
    return {
        name.split(".")[-1]: m for name, m in model.named_modules() if isinstance(m, QuantLinear)
    }


@torch.no_grad()
def integer_weights(model: nn.Module, sample: torch.Tensor) -> dict[str, np.ndarray]:
    """Integer weight matrices (out, in) of every MAC layer, as int64 arrays.

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
        out[name] = qw.int().to(torch.int64).cpu().numpy()
    return out


def _needs_input(layer: QuantLinear) -> bool:
    return "WithInput" in type(layer.weight_quant).__name__
