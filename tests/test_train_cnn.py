"""Training the CNNs: batch augmentation, the time estimate, CNV / ResNet-18 / MobileNetV1 runs."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from flow import train as train_mod
from flow.config import parse_config
from flow.train import AUG_PAD, _batch_seed, augment_batch, augment_params, run_train
from tests.conftest import TINY, write_cifar10


def _crop_reference(x: torch.Tensor, dy, dx, flip, pad: int) -> torch.Tensor:
    """Slow per-image reference: pad, crop the window at (dy, dx), flip it if asked."""
    _, _, h, w = x.shape
    out = []
    for i in range(len(x)):
        p = F.pad(x[i], (pad, pad, pad, pad))
        crop = p[:, dy[i] : dy[i] + h, dx[i] : dx[i] + w]
        out.append(crop.flip(-1) if flip[i] else crop)
    return torch.stack(out)


def test_augment_batch_crops_and_flips_the_zero_padded_batch():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(1, 256, (32, 3, 7, 6), generator=g).float()  # H != W catches swaps
    out = augment_batch(x, 1234)
    assert out.shape == x.shape and out.dtype == x.dtype and torch.equal(out, out.round())
    dy, dx, flip = augment_params(len(x), 1234)
    assert torch.equal(out, _crop_reference(x, dy, dx, flip, AUG_PAD))
    assert flip.any() and (~flip).any() and len(set(dy.tolist())) > 3
    assert min(int(dy.min()), int(dx.min())) >= 0
    assert max(int(dy.max()), int(dx.max())) <= 2 * AUG_PAD
    # Independently of the drawn parameters: each output is one of the 9 x 9 x 2 windows.
    for i in range(len(x)):
        p = F.pad(x[i], (AUG_PAD,) * 4)
        windows = [
            p[:, r : r + 7, c : c + 6].flip(-1) if f else p[:, r : r + 7, c : c + 6]
            for r in range(2 * AUG_PAD + 1)
            for c in range(2 * AUG_PAD + 1)
            for f in (False, True)
        ]
        assert sum(torch.equal(out[i], wdw) for wdw in windows) == 1
    # Integer pixels of any dtype: uint8 gives the same crops (padding is pixel 0).
    assert torch.equal(augment_batch(x.to(torch.uint8), 1234), out.to(torch.uint8))


def test_augment_batch_is_deterministic_per_batch():
    x = torch.randint(0, 17, (64, 1, 8, 8)).float()
    s = _batch_seed(99, 3)
    assert s == _batch_seed(99, 3)
    assert torch.equal(augment_batch(x, s), augment_batch(x, s))
    assert not torch.equal(augment_batch(x, _batch_seed(99, 4)), augment_batch(x, s))
    assert not torch.equal(augment_batch(x, _batch_seed(100, 3)), augment_batch(x, s))
    state = torch.get_rng_state()
    augment_batch(x, s)
    assert torch.equal(torch.get_rng_state(), state)  # the global generator is left alone


def _cnv_digits(epochs: tuple[int, int]) -> dict:
    d = copy.deepcopy(TINY)
    d["name"] = "cnv"
    d["data"]["limit"] = 300
    d["model"].update(arch="cnv", channels=[4, 4], hidden=[8])
    d["train"].update(float_epochs=epochs[0], qat_epochs=epochs[1], batch_size=64, augment=True)
    return d


def _weights(path: Path) -> dict:
    return torch.load(path, map_location="cpu")


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_cnv_digits_trains_and_estimate_and_resume_leave_results_alone(
    tmp_path, monkeypatch, caplog
):
    cfg = parse_config(_cnv_digits((1, 2)))
    with caplog.at_level(logging.INFO, logger="flow.train"):
        m = run_train(cfg, tmp_path / "ref", digest="d", show_progress=False)
    assert m["augment"] is True
    assert m["estimated_seconds"] > 0 and m["step_seconds"]["float"] > 0
    assert m["step_seconds"]["qat"] > 0
    on_disk = json.loads((tmp_path / "ref" / "metrics.json").read_text())
    assert on_disk["estimated_seconds"] == m["estimated_seconds"] and on_disk["seconds"] > 0
    assert any(
        r.getMessage().startswith("training estimate: ~")
        and "float 1 x 5 steps, QAT 2 x 5 steps" in r.getMessage()
        for r in caplog.records
    )
    reference = _weights(tmp_path / "ref" / "model.pt")

    # Without the estimate: the same weights (it runs on copies in a forked random state).
    monkeypatch.setattr(
        train_mod, "estimate_training", lambda *a: {"seconds": 0.0, "step_seconds": {}}
    )
    run_train(cfg, tmp_path / "plain", digest="d", show_progress=False)
    _assert_same(reference, _weights(tmp_path / "plain" / "model.pt"))
    monkeypatch.undo()

    # Interrupted in the second QAT epoch, then resumed: the same weights again.
    real_epoch, calls = train_mod._epoch, {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(train_mod, "_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_train(cfg, tmp_path / "run", digest="d", show_progress=False)
    monkeypatch.setattr(train_mod, "_epoch", real_epoch)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="flow.train"):
        m = run_train(cfg, tmp_path / "run", digest="d", show_progress=False)
    assert m["step_seconds"]["float"] is None and m["step_seconds"]["qat"] > 0
    assert any("(resuming at qat epoch 1)" in r.getMessage() for r in caplog.records)
    _assert_same(reference, _weights(tmp_path / "run" / "model.pt"))


@pytest.mark.parametrize(("arch", "width"), [("resnet18", 0.0625), ("mobilenetv1", 0.125)])
def test_cifar10_cnn_trains_with_augmentation(tmp_path, monkeypatch, arch, width):
    write_cifar10(tmp_path / "data")
    d = copy.deepcopy(TINY)
    d["name"] = arch
    d["data"] = {"dataset": "cifar10", "path": str(tmp_path / "data")}
    d["model"] = {"arch": arch, "width": width, "weight_bits": 4, "act_bits": 4}
    d["train"].update(float_epochs=1, qat_epochs=1, batch_size=32)  # augment: auto
    cfg = parse_config(d)

    real_augment, seen = train_mod.augment_batch, []

    def recording(x, seed, *args, **kwargs):
        seen.append((tuple(x.shape), seed))
        return real_augment(x, seed, *args, **kwargs)

    monkeypatch.setattr(train_mod, "augment_batch", recording)
    m = run_train(cfg, tmp_path / "out", digest="d", show_progress=False)
    assert m["augment"] is True and m["train_samples"] == 120 and m["test_samples"] == 16
    assert m["estimated_seconds"] > 0
    # 4 batches per epoch and phase (32, 32, 32, 24), plus the estimate's timed steps.
    train_seeds = [s for shape, s in seen if shape[0] in (32, 24)]
    assert len(train_seeds) >= 8 and all(shape[1:] == (3, 32, 32) for shape, _ in seen)
    assert len(set(train_seeds[-8:])) == 8  # a fresh draw for every batch of both phases
    assert 0 <= m["quant_accuracy"] <= 100
