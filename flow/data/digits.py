"""The 8x8 handwritten digits bundled with scikit-learn (1797 images, pixels 0..16)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from flow.data.base import Dataset
from flow.errors import ConfigError, DataError

PIXEL_MAX = 16


def check_path(path: Path | None) -> None:
    """Refuse a path: the digits come with scikit-learn, so a path would be silently ignored."""
    if path is not None:
        raise DataError(
            f"dataset 'digits' is embedded in scikit-learn and takes no path, got {str(path)!r}"
        )


def load(path: Path | None, *, seed: int, test_fraction: float) -> Dataset:
    """Load the digits and split them, stratified by class, deterministically from ``seed``."""
    check_path(path)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, not {seed!r}")
    if (
        isinstance(test_fraction, bool)
        or not isinstance(test_fraction, int | float)
        or not 0 < test_fraction < 1
    ):
        raise ConfigError(f"test_fraction must be a number in (0, 1), not {test_fraction!r}")
    # Imported here so that `import flow.data` stays cheap for the MNIST/CIFAR paths.
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    # The images are float64 holding exact integers 0..16; uint8 loses nothing.
    images = bunch.images.astype(np.uint8)[:, None, :, :]
    labels = bunch.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )
    return Dataset(
        name="digits",
        x_train=np.ascontiguousarray(x_train),
        y_train=np.ascontiguousarray(y_train),
        x_test=np.ascontiguousarray(x_test),
        y_test=np.ascontiguousarray(y_test),
        num_classes=10,
        pixel_max=PIXEL_MAX,
    )
