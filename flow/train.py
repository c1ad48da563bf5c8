"""Train stage: float pre-training, then accumulator-aware QAT from the float checkpoint.

Outputs in the stage folder: ``float.pt`` (float weights), ``model.pt`` (quantized model state),
``metrics.json``. ``checkpoint.pt`` is rewritten atomically after every epoch, so an
interrupted run resumes where it stopped and ends with the same weights as an uninterrupted
one (data order is derived from (seed, phase, epoch), not from a running generator).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from flow import bounds
from flow.config import BuildConfig, LayerPlan, layer_plans
from flow.data import Dataset, load_dataset
from flow.errors import ConfigError
from flow.models import build_float_model, build_model, integer_weights, mac_layers
from flow.util import atomic_save_torch, progress, write_json

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"


@dataclass
class Tensors:
    """A dataset as float tensors of integer pixel values."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_data(cfg: BuildConfig) -> Dataset:
    """The dataset a config names."""
    d = cfg.data
    return load_dataset(
        d.dataset,
        Path(d.path) if d.path else None,
        seed=cfg.seed,
        test_fraction=d.test_fraction,
        limit=d.limit,
    )


def to_tensors(ds: Dataset, device: torch.device) -> Tensors:
    """Pixels stay integers (as float32): the model's input quantizer has scale 1."""

    def t(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        return torch.as_tensor(a, dtype=dtype, device=device)

    return Tensors(
        t(ds.x_train, torch.float32),
        t(ds.y_train, torch.int64),
        t(ds.x_test, torch.float32),
        t(ds.y_test, torch.int64),
    )


def pick_device(choice: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU. Asking for CUDA without one is an error."""
    if choice == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device: 'cuda' was asked for but no CUDA device is available")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 512) -> float:
    """Top-1 accuracy in percent."""
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        correct += (model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum().item()
    return 100.0 * correct / max(1, len(x))


def _epoch(model, opt, data: Tensors, batch_size: int, seed: int) -> float:
    model.train()
    order = torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(seed))
    order = order.to(data.x_train.device)
    loss_fn = nn.CrossEntropyLoss()
    total = 0.0
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        if len(idx) < 2:  # BatchNorm needs two samples
            continue
        opt.zero_grad()
        loss = loss_fn(model(data.x_train[idx]), data.y_train[idx])
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
    return total / len(order)


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
    constrained = {p.name: p for p in plans if p.constrained}
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
        w = layers[name].weight.data
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
        layers[name].weight.data = w_new
        for scaling in (tq.scaling_impl, pre.scaling_impl):
            restrict = scaling.restrict_clamp_scaling.restrict_value_impl
            scaling.value.data = restrict.restrict_init_tensor(best_s.reshape(scaling.value.shape))
        g = w_new.abs().sum(1).clamp_min(1e-12)
        restrict = pre.restrict_clamp_scaling.restrict_value_impl
        pre.value.data = restrict.restrict_init_tensor(g.reshape(pre.value.shape))
    return list(constrained)


def layer_metrics(model: nn.Module, sample: torch.Tensor, plans: list[LayerPlan]) -> list[dict]:
    """Per-layer integer-weight statistics: sparsity, zero channels, max L1 vs budget."""
    ints = integer_weights(model, sample)
    rows = []
    for p in plans:
        q = ints[p.name]
        l1 = np.abs(q).sum(axis=1)
        budget = (
            float(bounds.l1_budget(p.method, p.acc_bits, p.input_bits, p.input_signed))
            if p.constrained
            else None
        )
        zero_rows = int((l1 == 0).sum())
        rows.append(
            {
                "name": p.name,
                "method": p.method,
                "target_bits": p.acc_bits,
                "K": p.in_features,
                "max_l1": int(l1.max()),
                "l1_budget": budget,
                "sparsity": float((q == 0).mean()),
                "zero_channels": zero_rows,
                "all_zero": zero_rows == q.shape[0],
            }
        )
    return rows


def _use_ep_init(cfg: BuildConfig) -> bool:
    if cfg.train.ep_init == "auto":
        return any(p.method == "a2q_plus" for p in layer_plans(cfg))
    return bool(cfg.train.ep_init)


def run_train(cfg: BuildConfig, out_dir: Path, *, digest: str, show_progress: bool = True) -> dict:
    """Train the network of ``cfg`` into ``out_dir``; resume from a matching checkpoint."""
    t0 = time.perf_counter()
    device = pick_device(cfg.train.device)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    torch.manual_seed(cfg.seed)
    plans = layer_plans(cfg)
    ds = load_data(cfg)
    data = to_tensors(ds, device)
    tc = cfg.train
    ckpt_path = out_dir / CHECKPOINT
    state = _load_checkpoint(ckpt_path, digest)

    # Phase 1: float pre-training (skipped when a checkpoint is already in QAT).
    fmodel = build_float_model(cfg).to(device)
    if state and state["phase"] == "qat":
        fmodel.load_state_dict(state["float_state"])
    else:
        _run_phase(
            fmodel,
            "float",
            tc.float_epochs,
            tc.lr,
            cfg,
            data,
            ckpt_path,
            digest,
            state,
            {},
            show_progress,
        )
    float_state = {k: v.detach().clone() for k, v in fmodel.state_dict().items()}
    float_acc = accuracy(fmodel, data.x_test, data.y_test)

    # Phase 2: QAT from the float checkpoint.
    model = build_model(cfg).to(device)
    _load_float_weights(model, float_state)
    sample = data.x_train[: min(256, len(data.x_train))]
    ep_layers = ep_init(model, sample, plans) if _use_ep_init(cfg) else []
    init_metrics = layer_metrics(model, sample, plans)
    model.to(device)
    _run_phase(
        model,
        "qat",
        tc.qat_epochs,
        tc.qat_lr,
        cfg,
        data,
        ckpt_path,
        digest,
        state,
        {"float_state": float_state},
        show_progress,
    )

    quant_acc = accuracy(model, data.x_test, data.y_test)
    layers = layer_metrics(model, sample, plans)
    warnings = _zero_layer_warnings(layers, init_metrics, ep_layers)
    for w in warnings:
        log.warning(w)
    atomic_save_torch(float_state, out_dir / "float.pt")
    atomic_save_torch(model.state_dict(), out_dir / "model.pt")
    metrics = {
        "dataset": cfg.data.dataset,
        "train_samples": len(data.x_train),
        "test_samples": len(data.x_test),
        "device": str(device),
        "float_accuracy": float_acc,
        "quant_accuracy": quant_acc,
        "ep_init_layers": ep_layers,
        "layers": layers,
        "warnings": warnings,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    write_json(out_dir / "metrics.json", metrics)
    return metrics


def _run_phase(
    model: nn.Module,
    phase: str,
    epochs: int,
    lr: float,
    cfg: BuildConfig,
    data: Tensors,
    ckpt_path: Path,
    digest: str,
    state: dict | None,
    extra: dict,
    show_progress: bool,
) -> None:
    """Train ``model`` for ``epochs`` (Adam, cosine decay), checkpointing after every epoch.

    A checkpoint of the same phase resumes it: weights, Brevitas runtime state, optimizer
    and scheduler. ``extra`` is stored in every checkpoint of this phase.
    """
    start = 0
    if state and state["phase"] == phase:
        model.load_state_dict(state["model"])
        restore_runtime_quant_state(model, state["runtime"])
        start = state["epoch"] + 1
        log.info("resuming %s training at epoch %d", phase, start)
    # Built only now: Brevitas replaces its quantizer parameters on load_state_dict, and an
    # optimizer made earlier would keep updating the discarded tensors.
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=cfg.train.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    if start:
        opt.load_state_dict(state["optim"])
        sched.load_state_dict(state["sched"])
    phase_index = {"float": 0, "qat": 1}[phase]
    bar = progress(range(start, epochs), phase, show_progress, initial=start, total=epochs)
    for epoch in bar:
        loss = _epoch(model, opt, data, cfg.train.batch_size, _seed(cfg.seed, phase_index, epoch))
        sched.step()
        bar.set_postfix(loss=f"{loss:.3f}")
        atomic_save_torch(
            {
                "digest": digest,
                "phase": phase,
                "epoch": epoch,
                "model": model.state_dict(),
                "runtime": runtime_quant_state(model),
                "optim": opt.state_dict(),
                "sched": sched.state_dict(),
                **extra,
            },
            ckpt_path,
        )


def runtime_quant_state(model: nn.Module) -> dict:
    """Brevitas state that its ``state_dict`` leaves out: stats-collection counters and buffers.

    An activation scale is first collected from running statistics for a number of steps;
    ``state_dict`` stores only the running value, and loading it ends the collection. Saving
    these makes a resumed run continue exactly where the interrupted one stopped.
    """
    out = {}
    for name, m in model.named_modules():
        st = {
            a: getattr(m, a)
            for a in ("counter", "init_done")
            if isinstance(getattr(m, a, None), (bool, int))
        }
        if isinstance(getattr(m, "buffer", None), torch.Tensor):
            st["buffer"] = m.buffer.detach().clone()
        if st:
            out[name] = st
    return out


def restore_runtime_quant_state(model: nn.Module, state: dict) -> None:
    """Inverse of ``runtime_quant_state`` (call after ``load_state_dict``)."""
    modules = dict(model.named_modules())
    for name, st in state.items():
        for attr, value in st.items():
            setattr(modules[name], attr, value)


def _seed(seed: int, phase: int, epoch: int) -> int:
    return (seed * 1_000_003 + phase * 10_007 + epoch) % (2**31)


def _load_checkpoint(path: Path, digest: str) -> dict | None:
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # a torn or foreign file: start over rather than crash
        log.warning("ignoring unreadable checkpoint %s: %s", path, e)
        return None
    if state.get("digest") != digest:
        log.info("checkpoint %s is from another config; starting over", path)
        return None
    return state


def _load_float_weights(model: nn.Module, float_state: dict) -> None:
    """Load float weights into the quantized twin.

    Brevitas re-derives each weight quantizer's scale and norm from the loaded weights when
    their own keys are missing from the state dict (tests pin this), so no re-init is needed.
    """
    result = model.load_state_dict(float_state, strict=False)
    missing = [k for k in result.missing_keys if "quant" not in k]
    if missing or result.unexpected_keys:
        raise RuntimeError(  # the two model classes disagree: a bug, not a user error
            f"float checkpoint does not fit the quantized model: missing {missing}, "
            f"unexpected {result.unexpected_keys}"
        )


def _zero_layer_warnings(layers: list[dict], init: list[dict], ep_layers: list[str]) -> list[str]:
    out = []
    for row, row0 in zip(layers, init, strict=True):
        if row["all_zero"] or row0["all_zero"]:
            cure = (
                ""
                if row["name"] in ep_layers
                else " Enable EP-init (train.ep_init: true) to start from the float checkpoint's"
                " projection, or raise the target P."
            )
            out.append(
                f"layer {row['name']}: all integer weights are zero "
                f"({'after' if row['all_zero'] else 'at the start of'} QAT; "
                f"{row['method']} at P={row['target_bits']}, K={row['K']}): A2Q rounds toward "
                f"zero, so the L1 budget of {row['l1_budget']} leaves no weight standing.{cure}"
            )
        elif row["zero_channels"]:
            out.append(
                f"layer {row['name']}: {row['zero_channels']} output channels have all-zero weights"
            )
    return out
