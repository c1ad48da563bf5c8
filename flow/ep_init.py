"""A2Q+'s Euclidean-projection initialisation (EP-init) of the quantized model before QAT."""

from __future__ import annotations

import torch
from torch import nn

from flow.config import LayerPlan
from flow.models import mac_layers


def _project_l1(v: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Euclidean projection of each row of ``v`` onto the L1 ball of its radius (Duchi et al.)."""
    a = v.abs()
    u, _ = torch.sort(a, dim=1, descending=True)
    css = torch.cumsum(u, 1)
    ks = torch.arange(1, v.shape[1] + 1, device=v.device, dtype=v.dtype)
    r = radius.reshape(-1, 1).to(v.dtype)
    rho = (u * ks > css - r).sum(1, keepdim=True).clamp_min(1)  # active prefix length
    theta = ((css.gather(1, rho - 1) - r) / rho).clamp_min(0)
    out = torch.sign(v) * torch.clamp(a - theta, min=0)
    return torch.where(a.sum(1, keepdim=True) <= r, v, out)


# Scales tried per channel by EP-init, as fractions of the absmax scale.
_EP_SCALE_STEPS = torch.pow(2.0, -torch.arange(0, 24) / 3)


@torch.no_grad()
def ep_init(model: nn.Module, sample: torch.Tensor, plans: list[LayerPlan]) -> list[str]:
    """A2Q+ Euclidean-projection init (EP-init), with a per-channel scale search.

    Without it A2Q shrinks an over-budget channel uniformly, and round-to-zero wipes out its
    small weights (at low P whole layers become zero). EP-init projects each channel, in
    integer units ``w / s`` with the absmax scale s, onto the L1 ball of the budget T, as in
    the paper. At tight budgets that can leave every projected entry of a channel below one
    step; for such channels only, the scale whose round-to-zero integers reconstruct the float
    weights best (L2) is used instead. Weights, scale and norm parameter g are set to match.
    Returns the names of the layers initialised.
    """
    captured: dict[str, object] = {}
    layers = mac_layers(model)
    constrained = {p.name: p for p in plans if p.l1_budget is not None}
    hooks = [
        layers[n].register_forward_pre_hook(lambda _m, inp, n=n: captured.__setitem__(n, inp[0]))
        for n in constrained
    ]
    model.eval()
    model(sample)
    for h in hooks:
        h.remove()
    for name, plan in constrained.items():
        tq = layers[name].weight_quant.tensor_quant
        pre = tq.pre_scaling_impl
        qin = captured[name]
        shape = layers[name].weight.shape  # (out, K) or a conv's (out, in/groups, kh, kw)
        w = layers[name].weight.data.reshape(shape[0], -1)
        if plan.method == "a2q_plus":
            w = w - w.mean(dim=1, keepdim=True)
        t = float(pre.calc_max_l1_norm(qin.bit_width, bool(qin.signed)))
        qmax = 2 ** (plan.weight_bits - 1) - 1
        s0 = (w.abs().amax(1) / qmax).clamp_min(1e-12)
        radius = torch.full_like(s0, t)
        best_s = s0.clone()
        # The paper's EP-init uses the absmax scale. Where that leaves a channel entirely
        # zero after round-to-zero, search the scale that reconstructs it best instead.
        dead = (torch.trunc(_project_l1(w / s0[:, None], radius)) == 0).all(dim=1)
        if dead.any():
            best_err = torch.full_like(s0, float("inf"))
            for step in _EP_SCALE_STEPS.to(w):
                s = s0 * step
                q = torch.clamp(torch.trunc(_project_l1(w / s[:, None], radius)), -qmax, qmax)
                err = ((q * s[:, None] - w) ** 2).sum(1)
                better = dead & (err < best_err)
                best_err = torch.where(better, err, best_err)
                best_s = torch.where(better, s, best_s)
        w_new = _project_l1(w / best_s[:, None], radius) * best_s[:, None]
        layers[name].weight.data = w_new.reshape(shape)
        for scaling in (tq.scaling_impl, pre.scaling_impl):
            restrict = scaling.restrict_clamp_scaling.restrict_value_impl
            scaling.value.data = restrict.restrict_init_tensor(best_s.reshape(scaling.value.shape))
        g = w_new.abs().sum(1).clamp_min(1e-12)
        restrict = pre.restrict_clamp_scaling.restrict_value_impl
        pre.value.data = restrict.restrict_init_tensor(g.reshape(pre.value.shape))
    return list(constrained)
