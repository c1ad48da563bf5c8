"""The quality metric of a build: top-1 accuracy for classifiers, PSNR for super-resolution.

Every stage scores its outputs with :func:`score` and writes the figure under the key
``<prefix>_<metric>`` (``quant_accuracy``, ``hw_psnr``, ...), with ``metric`` naming which, so
reports and sweeps read one metric whatever the task.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Metric:
    """A metric's key (``accuracy`` or ``psnr``), its unit and how it is described."""

    key: str
    unit: str
    label: str


ACCURACY = Metric("accuracy", "%", "top-1 accuracy")
PSNR = Metric("psnr", "dB", "PSNR (luminance, per test image, dB)")
METRICS = {m.key: m for m in (ACCURACY, PSNR)}


def metric_for(y: np.ndarray) -> Metric:
    """Labels (N,) are scored by accuracy; target images (N, C, H, W) by PSNR."""
    return PSNR if np.ndim(y) == 4 else ACCURACY


def metric_named(key: str | None) -> Metric:
    """The metric a stage file names (files written before PSNR existed name none)."""
    return METRICS.get(key or "accuracy", ACCURACY)


def as_images(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Network outputs (N, C, H, W) as pixel images, rounded and clipped to 0..255.

    The accelerator's channels-last stream is turned NCHW first (``verify.image_nchw``).
    """
    out = np.asarray(out)
    if out.shape != like.shape:
        raise ValueError(f"outputs of shape {out.shape} do not match targets {like.shape}")
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def predictions(out: np.ndarray, y: np.ndarray) -> np.ndarray:
    """What is scored: class indices (from logits or labels) or pixel images."""
    if metric_for(y) is PSNR:
        return as_images(out, y)
    out = np.asarray(out)
    if out.ndim == 2 and out.shape[1] > 1:
        return out.argmax(1)
    return out.reshape(-1).astype(np.int64)


def score(out: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None) -> float:
    """Accuracy in percent, or mean per-image PSNR in dB, of outputs ``out`` on targets ``y``.

    ``groups`` (super-resolution): the source image of each tile, so PSNR is per image over all
    its tiles (:attr:`flow.data.base.Dataset.test_groups`, cut to the samples scored).
    """
    pred = predictions(out, y)
    if metric_for(y) is PSNR:
        from flow.data.superres import psnr

        if groups is not None:
            groups = np.asarray(groups)[: len(pred)]
        # Targets may come as float tensors of whole pixels (the training data).
        return float(psnr(pred, np.rint(np.asarray(y)).astype(np.uint8), groups=groups))
    return float(100.0 * (pred == np.asarray(y)).mean())
