"""Dataset loaders: every dataset comes from local files or the sklearn package, never the net.

Images are kept as raw integer pixels (uint8, N x C x H x W); scaling to the input quantizer's
range belongs to training, which knows the input bit width.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flow.errors import ConfigError, DataError

DATASETS = ("digits", "mnist", "cifar10")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A classification dataset split into train and test parts.

    ``eq=False`` because comparing numpy arrays with ``==`` gives arrays, not a bool.
    """

    name: str
    x_train: np.ndarray  # uint8 (N, C, H, W), raw integer pixels
    y_train: np.ndarray  # int64 (N,)
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    pixel_max: int  # largest pixel value the format allows (16 for digits, 255 otherwise)

    def __post_init__(self) -> None:
        # Every loader goes through here, so a format bug shows up at load time, not mid-training.
        for part, x, y in (
            ("train", self.x_train, self.y_train),
            ("test", self.x_test, self.y_test),
        ):
            if x.dtype != np.uint8 or x.ndim != 4:
                raise DataError(
                    f"{self.name}: x_{part} must be uint8 (N, C, H, W), "
                    f"not {x.dtype} with shape {x.shape}"
                )
            if y.dtype != np.int64 or y.shape != (x.shape[0],):
                raise DataError(
                    f"{self.name}: y_{part} must be int64 of shape ({x.shape[0]},), "
                    f"not {y.dtype} with shape {y.shape}"
                )
            if y.size and (y.min() < 0 or y.max() >= self.num_classes):
                raise DataError(
                    f"{self.name}: y_{part} labels must be in 0..{self.num_classes - 1}, "
                    f"found {int(y.min())}..{int(y.max())}"
                )
            if x.size and int(x.max()) > self.pixel_max:
                raise DataError(
                    f"{self.name}: x_{part} has pixel value {int(x.max())} above the format's "
                    f"maximum {self.pixel_max}"
                )
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DataError(
                f"{self.name}: train images {self.x_train.shape[1:]} and test images "
                f"{self.x_test.shape[1:]} differ in shape"
            )

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The shape (C, H, W) of one image."""
        c, h, w = self.x_train.shape[1:]
        return int(c), int(h), int(w)


def _check_name(name: object) -> str:
    if name not in DATASETS:
        allowed = ", ".join(repr(d) for d in DATASETS)
        raise DataError(f"unknown dataset {name!r}; allowed: {allowed}")
    return name  # type: ignore[return-value]


def check_dataset_path(name: str, path: Path | None) -> None:
    """Check cheaply that dataset ``name`` can be loaded from ``path`` (all files present).

    Meant for config validation before any slow stage; it does not parse the files. Raises
    :class:`DataError` naming the missing file and the expected layout.
    """
    name = _check_name(name)
    if name == "digits":
        from flow.data import digits

        digits.check_path(path)
    elif name == "mnist":
        from flow.data import mnist

        mnist.find_files(path)
    else:
        from flow.data import cifar10

        cifar10.find_files(path)


def load_dataset(
    name: str,
    path: Path | None = None,
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    limit: int | None = None,
) -> Dataset:
    """Load dataset ``name`` (one of :data:`DATASETS`).

    ``digits`` is embedded in scikit-learn (``path`` must be None) and split here, stratified,
    with ``seed`` and ``test_fraction``. ``mnist`` and ``cifar10`` are read from the folder
    ``path`` and keep their official train/test split (``seed`` and ``test_fraction`` unused).
    ``limit`` keeps the first ``limit`` train and the first ``limit`` test samples.
    """
    name = _check_name(name)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"limit must be a positive integer or None, not {limit!r}")
    if name == "digits":
        from flow.data import digits

        dataset = digits.load(path, seed=seed, test_fraction=test_fraction)
    elif name == "mnist":
        from flow.data import mnist

        dataset = mnist.load(path)
    else:
        from flow.data import cifar10

        dataset = cifar10.load(path)
    if limit is None:
        return dataset
    return Dataset(
        name=dataset.name,
        x_train=dataset.x_train[:limit],
        y_train=dataset.y_train[:limit],
        x_test=dataset.x_test[:limit],
        y_test=dataset.y_test[:limit],
        num_classes=dataset.num_classes,
        pixel_max=dataset.pixel_max,
    )
