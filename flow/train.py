"""Train stage: float pre-training, then accumulator-aware QAT from the float checkpoint.

Outputs in the stage folder: ``float.pt`` (float weights), ``model.pt`` (quantized model state),
``metrics.json`` and, for super-resolution, ``examples.npz`` (a few test tiles: low-res,
bicubic, float, quantized, target). ``checkpoint.pt`` is rewritten atomically after every
epoch, so an interrupted run resumes where it stopped and ends with the same weights as an
uninterrupted one (data order and augmentation are derived from (seed, phase, epoch, batch),
not from a running generator).

Before training, a few steps of each phase are timed on throw-away copies of the models and
extrapolated to the configured epochs (logged, and stored in ``metrics.json``).
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from flow import artifacts
from flow.config import BuildConfig, LayerPlan, config_warnings, layer_plans
from flow.data.base import Dataset
from flow.data.loading import load_data
from flow.data.superres import bicubic_upscale
from flow.data.tensors import Tensors, to_tensors
from flow.ep_init import ep_init
from flow.errors import ConfigError
from flow.metrics import PSNR, as_images, metric_for, score
from flow.models import build_float_model, build_model, integer_weights
from flow.stages import stage_file
from flow.util import atomic_save_torch, atomic_write_bytes, progress, save_npz, write_json

log = logging.getLogger(__name__)


def pick_device(choice: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU. Asking for CUDA without one is an error."""
    if choice == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device: 'cuda' was asked for but no CUDA device is available")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


@torch.no_grad()
def outputs(model: nn.Module, x: torch.Tensor, batch: int = 256) -> np.ndarray:
    """The model's outputs on ``x`` (eval mode), as a CPU numpy array."""
    model.eval()
    return np.concatenate([model(x[i : i + batch]).cpu().numpy() for i in range(0, len(x), batch)])


class _PixelMSE(nn.Module):
    """Mean squared error of images on the 0..1 scale (pixels are 0..255 integers here)."""

    def forward(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(out / 255.0, target / 255.0)


def loss_for(y: torch.Tensor) -> nn.Module:
    """Cross-entropy for labels, pixel MSE for target images (super-resolution)."""
    return _PixelMSE() if y.dim() == 4 else nn.CrossEntropyLoss()


# Random-crop padding of the papers' CIFAR-10 recipes (crop back to size from a 4-pixel pad).
AUG_PAD = 4


def use_augment(cfg: BuildConfig) -> bool:
    """``train.augment`` resolved: "auto" -> on for cifar10 only (flips change digits)."""
    if cfg.train.augment == "auto":
        return cfg.data.dataset == "cifar10"
    return bool(cfg.train.augment)


def augment_params(
    n: int, seed: int, pad: int = AUG_PAD
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-image crop offsets (rows, columns; 0..2*pad) and flip flags, on the CPU.

    Drawn from a CPU generator of their own, so they are the same on every device and leave
    the global random state alone.
    """
    g = torch.Generator().manual_seed(seed)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=g)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=g)
    flip = torch.rand(n, generator=g) < 0.5
    return dy, dx, flip


def augment_batch(x: torch.Tensor, seed: int, pad: int = AUG_PAD) -> torch.Tensor:
    """Random crops of ``x`` (N, C, H, W) zero-padded by ``pad``, each flipped with p = 0.5.

    Vectorised: one padded copy of the batch, then a single gather of every image's window
    (columns reversed for flipped images). Zero padding is pixel value 0, so integer pixels
    stay integers; dtype and device are kept.
    """
    n, c, h, w = x.shape
    dy, dx, flip = augment_params(n, seed, pad)
    cols = torch.where(flip[:, None], torch.arange(w - 1, -1, -1), torch.arange(w))
    rows = (dy[:, None] + torch.arange(h)).to(x.device)  # (N, H) rows of the padded image
    cols = (dx[:, None] + cols).to(x.device)  # (N, W)
    padded = F.pad(x, (pad, pad, pad, pad))
    i = torch.arange(n, device=x.device)[:, None, None, None]
    ch = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[i, ch, rows[:, None, :, None], cols[:, None, None, :]]


def _batch_seed(epoch_seed: int, batch: int) -> int:
    """Augmentation seed of one batch of an epoch (independent of the data-order seed)."""
    return int(np.random.SeedSequence((epoch_seed, batch, 0xA06)).generate_state(1)[0])


def _steps_per_epoch(n: int, batch_size: int) -> int:
    """Optimizer steps of one epoch (batches of one sample are skipped, see ``_epoch``)."""
    if batch_size < 2:
        return 0
    return n // batch_size + (1 if n % batch_size >= 2 else 0)


def _check_steps(cfg: BuildConfig, n: int) -> None:
    """Refuse, before any training, data and a batch size that give no optimizer step: the
    model would be "trained" at its initial weights, with no activation scales."""
    if _steps_per_epoch(n, cfg.train.batch_size):
        return
    limited = cfg.data.limit is not None
    raise ConfigError(
        f"{'data.limit or ' if limited else ''}train.batch_size: {n} training sample(s) in "
        f"batches of {cfg.train.batch_size} give no optimizer step per epoch (a batch needs at "
        "least 2 samples, for BatchNorm); "
        + ("raise data.limit or lower train.batch_size" if limited else "lower train.batch_size")
    )


def _train_step(model, opt, loss_fn, x: torch.Tensor, y: torch.Tensor) -> float:
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    return loss.item()


def _epoch(model, opt, data: Tensors, batch_size: int, seed: int, augment: bool = False) -> float:
    model.train()
    order = torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(seed))
    order = order.to(data.x_train.device)
    loss_fn = loss_for(data.y_train)
    total = 0.0
    for b, i in enumerate(range(0, len(order), batch_size)):
        idx = order[i : i + batch_size]
        if len(idx) < 2:  # BatchNorm needs two samples
            continue
        x = data.x_train[idx]
        if augment:
            x = augment_batch(x, _batch_seed(seed, b))
        total += _train_step(model, opt, loss_fn, x, data.y_train[idx]) * len(idx)
    return total / len(order)


def layer_metrics(model: nn.Module, sample: torch.Tensor, plans: list[LayerPlan]) -> list[dict]:
    """Per-layer integer-weight statistics: sparsity, zero channels, max L1 vs budget."""
    ints = integer_weights(model, sample)
    rows = []
    for p in plans:
        q = ints[p.name]
        l1 = np.abs(q).sum(axis=1)
        budget = None if p.l1_budget is None else float(p.l1_budget)
        zero_rows = int((l1 == 0).sum())
        rows.append(
            {
                "name": p.name,
                "method": p.method,
                "target_bits": p.acc_bits,
                "K": p.in_features,
                "input_bits": p.input_bits,
                "weight_bits": p.weight_bits,
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
    """Train the network of ``cfg`` into ``out_dir``; resume from a matching checkpoint.

    A build of a QONNX file (``model.source: onnx:...``) trains nothing: :func:`take_file`.
    A user's Brevitas network (``python:...``) pre-trains with its quantizers switched off."""
    t0 = time.perf_counter()
    if cfg.model.source and cfg.model.source.startswith("onnx:"):
        return take_file(cfg, out_dir)
    device = pick_device(cfg.train.device)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    torch.manual_seed(cfg.seed)
    plans = layer_plans(cfg)
    idle = config_warnings(cfg)
    for w in idle:
        log.warning(w)
    ds = load_data(cfg)
    _check_steps(cfg, len(ds.x_train))
    data = to_tensors(ds, device)
    tc = cfg.train
    augment = use_augment(cfg)
    ckpt_path = stage_file(out_dir, artifacts.CHECKPOINT)
    state = _load_checkpoint(ckpt_path, digest)
    run = _Run(cfg, data, ckpt_path, digest, state, show_progress)

    # Phase 1: float pre-training (skipped when a checkpoint is already in QAT).
    fmodel = build_float_model(cfg).to(device)
    if state and state["phase"] == "qat":
        fmodel.load_state_dict(state["float_state"])
    estimate = estimate_training(cfg, fmodel, data, state, augment)
    if state is None or state["phase"] == "float":
        _run_phase(run, fmodel, "float", tc.float_epochs, tc.lr, {})
    float_state = _float_state(cfg, fmodel)
    float_out = outputs(fmodel, data.x_test)

    # Phase 2: QAT from the float checkpoint.
    model = build_model(cfg).to(device)
    _load_float_weights(model, float_state)
    model.to(device)  # loading re-creates Brevitas' activation quantizers on the default device
    sample = data.x_train[: min(256, len(data.x_train))]
    ep_layers = ep_init(model, sample, plans) if _use_ep_init(cfg) else []
    init_metrics = layer_metrics(model, sample, plans)
    model.to(device)
    _run_phase(run, model, "qat", tc.qat_epochs, tc.qat_lr, {"float_state": float_state})

    quant_out = outputs(model, data.x_test)
    metric = metric_for(ds.y_test)
    layers = layer_metrics(model, sample, plans)
    warnings = _zero_layer_warnings(layers, init_metrics, ep_layers)
    for w in warnings:
        log.warning(w)
    warnings = idle + warnings
    # Saved as CPU tensors, so later stages can load them on a machine without CUDA.
    atomic_save_torch(_to_cpu(float_state), stage_file(out_dir, artifacts.FLOAT_MODEL))
    atomic_save_torch(_to_cpu(model.state_dict()), stage_file(out_dir, artifacts.MODEL))
    metrics = {
        "dataset": cfg.data.dataset,
        "train_samples": len(data.x_train),
        "test_samples": len(data.x_test),
        "device": str(device),
        "augment": augment,
        "metric": metric.key,
        f"float_{metric.key}": score(float_out, ds.y_test, ds.test_groups),
        f"quant_{metric.key}": score(quant_out, ds.y_test, ds.test_groups),
        "ep_init_layers": ep_layers,
        "layers": layers,
        "warnings": warnings,
        "estimated_seconds": estimate["seconds"],
        "step_seconds": estimate["step_seconds"],
        "seconds": round(time.perf_counter() - t0, 2),
    }
    if metric is PSNR:
        bicubic = bicubic_upscale(ds.x_test, ds.upscale)
        metrics["bicubic_psnr"] = score(bicubic, ds.y_test, ds.test_groups)
        _save_examples(stage_file(out_dir, artifacts.EXAMPLES), ds, bicubic, float_out, quant_out)
    write_json(stage_file(out_dir, artifacts.TRAIN_METRICS), metrics)
    return metrics


def take_file(cfg: BuildConfig, out_dir: Path) -> dict:
    """The train stage of a build of a QONNX file made elsewhere: keep the file as given
    (``train/source.onnx``) and score it on the test set (``quant_<k>``; no float model)."""
    from flow.foreign import read_file, run_file, source_path

    t0 = time.perf_counter()
    path = source_path(cfg.model.source)
    model = read_file(path)
    ds = load_data(cfg)
    out = run_file(model, ds.x_test)
    metric = metric_for(ds.y_test)
    atomic_write_bytes(stage_file(out_dir, artifacts.SOURCE_QONNX), path.read_bytes())
    metrics = {
        "dataset": cfg.data.dataset,
        "source": cfg.model.source,
        "train_samples": 0,
        "test_samples": len(ds.x_test),
        "metric": metric.key,
        f"float_{metric.key}": None,
        f"quant_{metric.key}": score(out, ds.y_test, ds.test_groups),
        "layers": [],
        "warnings": [],
        "seconds": round(time.perf_counter() - t0, 2),
    }
    if metric is PSNR:
        metrics["bicubic_psnr"] = score(bicubic_upscale(ds.x_test, ds.upscale), ds.y_test,
                                        ds.test_groups)  # fmt: skip
    write_json(stage_file(out_dir, artifacts.TRAIN_METRICS), metrics)
    return metrics


# Test tiles kept as example images for the report (super-resolution).
_EXAMPLE_TILES = 4


def _save_examples(
    path: Path, ds: Dataset, bicubic: np.ndarray, float_out: np.ndarray, quant_out: np.ndarray
) -> None:
    """Low-res input, bicubic, float and quantized outputs and the target of a few tiles."""
    n = min(_EXAMPLE_TILES, len(ds.x_test))
    y = ds.y_test[:n]
    arrays = {
        "low_res": ds.x_test[:n],
        "bicubic": bicubic[:n],
        "float": as_images(float_out[:n], y),
        "quantized": as_images(quant_out[:n], y),
        "target": y,
    }
    save_npz(path, **arrays)


# Timing of the estimate: a warm-up step, then up to this many timed steps per phase, cut short
# once a phase's timed steps pass the time limit (big models on a CPU).
_ESTIMATE_STEPS = 3
_ESTIMATE_LIMIT_S = 5.0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_steps(
    model: nn.Module, data: Tensors, batch_size: int, lr: float, cfg: BuildConfig, augment: bool
) -> float:
    """Seconds per training step of ``model`` (a throw-away copy: it is trained here)."""
    device = data.x_train.device
    n = min(batch_size, len(data.x_train))
    x, y = data.x_train[:n], data.y_train[:n]
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=cfg.train.weight_decay)
    loss_fn = loss_for(y)
    model.train()

    def step(k: int) -> None:
        xb = augment_batch(x, _batch_seed(0, k)) if augment else x
        _train_step(model, opt, loss_fn, xb, y)

    step(0)  # warm-up: first-call allocations, kernel selection
    _sync(device)
    t0 = time.perf_counter()
    done = 0
    while done < _ESTIMATE_STEPS and (done == 0 or time.perf_counter() - t0 < _ESTIMATE_LIMIT_S):
        done += 1
        step(done)
        _sync(device)
    return (time.perf_counter() - t0) / done


def estimate_training(
    cfg: BuildConfig, fmodel: nn.Module, data: Tensors, state: dict | None, augment: bool
) -> dict:
    """Time a few steps of each phase still to run and extrapolate to its epochs.

    Runs on copies (the float model deep-copied, the quantized one built aside) inside a
    forked random state, so the training that follows is exactly as without the estimate.
    Returns ``{"seconds": ..., "step_seconds": {"float": ..., "qat": ...}}`` (None for a
    phase not timed) and logs one line.
    """
    tc = cfg.train
    device = data.x_train.device
    steps = _steps_per_epoch(len(data.x_train), tc.batch_size)
    left = {"float": tc.float_epochs, "qat": tc.qat_epochs}
    resumed = ""
    if state:
        done = state["epoch"] + 1
        if state["phase"] == "qat":
            left = {"float": 0, "qat": max(0, tc.qat_epochs - done)}
        else:
            left["float"] = max(0, tc.float_epochs - done)
        resumed = f" (resuming at {state['phase']} epoch {done})"
    per_step: dict[str, float | None] = {"float": None, "qat": None}
    if steps and any(left.values()):
        devices = []
        if device.type == "cuda":
            devices = [torch.cuda.current_device() if device.index is None else device.index]
        with torch.random.fork_rng(devices=devices):
            if left["float"]:
                per_step["float"] = _time_steps(
                    copy.deepcopy(fmodel), data, tc.batch_size, tc.lr, cfg, augment
                )
            if left["qat"]:
                qmodel = build_model(cfg).to(device)
                _load_float_weights(qmodel, fmodel.state_dict())
                qmodel.to(device)
                per_step["qat"] = _time_steps(qmodel, data, tc.batch_size, tc.qat_lr, cfg, augment)
                del qmodel
        if device.type == "cuda":
            torch.cuda.empty_cache()
    seconds = sum(left[p] * steps * (per_step[p] or 0.0) for p in left)
    if not any(left.values()) or not steps:
        log.info("training estimate%s: no training steps left", resumed)
    else:
        measured = "/".join("-" if v is None else f"{v:.3g} s" for v in per_step.values())
        log.info(
            "training estimate%s: ~%s on %s (float %d x %d steps, QAT %d x %d steps; "
            "measured %s per step)",
            resumed,
            _duration(seconds),
            device,
            left["float"],
            steps,
            left["qat"],
            steps,
            measured,
        )
    return {
        "seconds": float(f"{seconds:.4g}"),
        "step_seconds": {k: None if v is None else float(f"{v:.4g}") for k, v in per_step.items()},
    }


def _to_cpu(state: dict) -> dict:
    return {k: v.detach().cpu() if isinstance(v, torch.Tensor) else v for k, v in state.items()}


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass(frozen=True)
class _Run:
    """What the phases of one training run share."""

    cfg: BuildConfig
    data: Tensors
    ckpt_path: Path
    digest: str  # the stage's: a checkpoint with another one is from another config
    state: dict | None  # the checkpoint resumed from
    show_progress: bool


def _run_phase(
    run: _Run, model: nn.Module, phase: str, epochs: int, lr: float, extra: dict
) -> None:
    """Train ``model`` for ``epochs`` (Adam, cosine decay), checkpointing after every epoch.

    A checkpoint of the same phase resumes it: weights, Brevitas runtime state, optimizer
    and scheduler. ``extra`` is stored in every checkpoint of this phase.
    """
    cfg, data, state = run.cfg, run.data, run.state
    start = 0
    if state and state["phase"] == phase:
        model.load_state_dict(state["model"])
        restore_runtime_quant_state(model, state["runtime"])
        # The checkpoint was loaded onto the CPU, and Brevitas re-creates its activation
        # quantizers on load: bring every parameter and buffer back to the training device.
        model.to(data.x_train.device)
        start = state["epoch"] + 1
        log.info("resuming %s training at epoch %d", phase, start)
    # Built only now: Brevitas replaces its quantizer parameters on load_state_dict, and an
    # optimizer made earlier would keep updating the discarded tensors.
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=cfg.train.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    if start:
        opt.load_state_dict(state["optim"])  # moves the moments to the parameters' device
        sched.load_state_dict(state["sched"])
    phase_index = {"float": 0, "qat": 1}[phase]
    augment = use_augment(cfg)
    bar = progress(range(start, epochs), phase, run.show_progress, initial=start, total=epochs)
    for epoch in bar:
        seed = _seed(cfg.seed, phase_index, epoch)
        loss = _epoch(model, opt, data, cfg.train.batch_size, seed, augment)
        sched.step()
        bar.set_postfix(loss=f"{loss:.3f}")
        atomic_save_torch(
            {
                "digest": run.digest,
                "phase": phase,
                "epoch": epoch,
                "model": model.state_dict(),
                "runtime": runtime_quant_state(model),
                "optim": opt.state_dict(),
                "sched": sched.state_dict(),
                **extra,
            },
            run.ckpt_path,
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


def _float_state(cfg: BuildConfig, fmodel: nn.Module) -> dict:
    """The pre-trained float weights. A user's network is its own float twin: its
    quantizers' state (scales, A2Q's norms, set from the initial weights) is left out, so the
    quantized one derives it anew."""
    return {
        k: v.detach().clone()
        for k, v in fmodel.state_dict().items()
        if not (cfg.model.source and "quant" in k)
    }


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
