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
from flow.models.tfc import TFC, FloatTFC, weight_quant_kwargs
from flow.user_net import build_net, mac_modules

__all__ = ["build_model", "build_float_model", "integer_weights", "mac_layers"]


_CNNS = {"cnv": CNV, "mobilenetv1": MobileNetV1, "resnet18": ResNet18}
_SUPERRES = {"espcn": ESPCN, "unet": UNet}


def build_model(cfg: BuildConfig) -> nn.Module:
    """The quantized network a config describes (``model.source: python:...``: the user's,
    with the config's weight quantizers when ``model.quantizers`` is ``config``)."""
    if cfg.model.source:
        return _user_model(cfg)
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
    """The float twin of ``build_model(cfg)``: same parameter names, no quantizers (a user's
    network: the same network with Brevitas' quantization switched off)."""
    if cfg.model.source:
        from brevitas.graph.calibrate import QuantizationStatusManager as Q

        net = _user_model(cfg)
        Q.disable_act_quantization(net, is_training=True)
        Q.disable_param_quantization(net, is_training=True)
        Q.disable_return_quant_tensor(net)
        return net
    if cfg.model.arch == "tfc":
        return FloatTFC(layer_plans(cfg))
    if cfg.model.arch in _SUPERRES:
        return _SUPERRES[cfg.model.arch](
            layer_plans(cfg), cfg.model.act_bits, quant=False, residual=cfg.model.residual
        )
    return _CNNS[cfg.model.arch](layer_plans(cfg), cfg.model.act_bits, quant=False)


def mac_layers(model: nn.Module) -> dict[str, QuantLinear | QuantConv2d]:
    """The quantized MAC layers of a model, by the layer names used in configs and reports."""
    return mac_modules(model)


def _user_model(cfg: BuildConfig) -> nn.Module:
    """The network of ``model.source``; with ``model.quantizers: config`` each MAC layer is
    rebuilt with the weight quantizer its plan asks (its weights, bias and other quantizers
    kept)."""
    net = build_net(cfg.model.source)
    if cfg.model.quantizers == "given":
        return net
    plans = {p.name: p for p in layer_plans(cfg)}
    modules = dict(net.named_modules())
    path_of = {m: p for p, m in modules.items()}
    last = list(plans)[-1]
    for name, layer in mac_modules(net).items():
        parent, _, attr = path_of[layer].rpartition(".")
        new = _requantized(layer, plans[name], name == last)
        setattr(modules[parent] if parent else net, attr, new)
    return net


def _requantized(layer: QuantLinear | QuantConv2d, plan, last: bool) -> nn.Module:
    """``layer`` rebuilt with the plan's weight quantizer (tfc's, per method)."""
    keep = {
        "bias": layer.bias is not None,
        "bias_quant": layer.bias_quant.quant_injector,
        "input_quant": layer.input_quant.quant_injector,
        "output_quant": layer.output_quant.quant_injector,
        "return_quant_tensor": layer.return_quant_tensor,
        **weight_quant_kwargs(plan, last),
    }
    if isinstance(layer, QuantConv2d):
        new = QuantConv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                          stride=layer.stride, padding=layer.padding, groups=layer.groups,
                          **keep)  # fmt: skip
    else:
        new = QuantLinear(layer.in_features, layer.out_features, **keep)
    with torch.no_grad():
        new.weight.copy_(layer.weight)
        if layer.bias is not None:
            new.bias.copy_(layer.bias)
    return new


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
