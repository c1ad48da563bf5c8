"""What every dataset loader returns (:class:`Dataset`) and the dataset names."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flow.errors import DataError

DATASETS = ("digits", "mnist", "cifar10", "samples", "bsd300", "npz")
SUPERRES_DATASETS = ("samples", "bsd300")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A dataset split into train and test parts: classification or super-resolution.

    Classification (``num_classes >= 1``): ``x`` are uint8 images (N, C, H, W) and ``y`` int64
    labels (N,) in 0..num_classes-1. Super-resolution (``num_classes == 0``): ``x`` are uint8
    low-resolution images (N, C, H, W) and ``y`` the uint8 high-resolution images
    (N, C, H*f, W*f) they were made from, with one integer upscaling factor f >= 2 for both
    parts (see :mod:`flow.data.superres`).

    ``eq=False`` because comparing numpy arrays with ``==`` gives arrays, not a bool.
    """

    name: str
    x_train: np.ndarray  # uint8 (N, C, H, W), raw integer pixels (low resolution for SR)
    y_train: np.ndarray  # int64 (N,) labels, or uint8 (N, C, H*f, W*f) for super-resolution
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int  # 0 for super-resolution
    pixel_max: int  # largest pixel value the format allows (16 for digits, 255 otherwise)
    # Super-resolution: the source image of each test tile (PSNR is per image), or None.
    test_groups: np.ndarray | None = None

    def __post_init__(self) -> None:
        # Every loader goes through here, so a format bug shows up at load time, not mid-training.
        if self.test_groups is not None and np.shape(self.test_groups) != (len(self.x_test),):
            raise DataError(
                f"{self.name}: test_groups must have one image index per test sample "
                f"({len(self.x_test)}), not shape {np.shape(self.test_groups)}"
            )
        if (
            isinstance(self.num_classes, bool)
            or not isinstance(self.num_classes, int | np.integer)
            or self.num_classes < 0
        ):
            raise DataError(
                f"{self.name}: num_classes must be an integer >= 0 (0 for super-resolution), "
                f"not {self.num_classes!r}"
            )
        factors = {}
        for part, x, y in (
            ("train", self.x_train, self.y_train),
            ("test", self.x_test, self.y_test),
        ):
            if x.dtype != np.uint8 or x.ndim != 4:
                raise DataError(
                    f"{self.name}: x_{part} must be uint8 (N, C, H, W), "
                    f"not {x.dtype} with shape {x.shape}"
                )
            if self.num_classes == 0:
                factors[part] = self._check_superres(part, x, y)
            else:
                self._check_labels(part, x, y)
            images = [("x", x), ("y", y)] if self.num_classes == 0 else [("x", x)]
            for kind, a in images:
                if a.size and int(a.max()) > self.pixel_max:
                    raise DataError(
                        f"{self.name}: {kind}_{part} has pixel value {int(a.max())} above the "
                        f"format's maximum {self.pixel_max}"
                    )
        if factors and factors["train"] != factors["test"]:
            raise DataError(
                f"{self.name}: train pairs upscale by {factors['train']} but test pairs by "
                f"{factors['test']}; both parts need the same factor"
            )
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DataError(
                f"{self.name}: train images {self.x_train.shape[1:]} and test images "
                f"{self.x_test.shape[1:]} differ in shape"
            )

    def _check_labels(self, part: str, x: np.ndarray, y: np.ndarray) -> None:
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

    def _check_superres(self, part: str, x: np.ndarray, y: np.ndarray) -> int:
        """Check one part's high-resolution targets against its inputs; return the factor."""
        if y.dtype != np.uint8 or y.ndim != 4:
            raise DataError(
                f"{self.name}: y_{part} must be uint8 high-resolution images (N, C, H*f, W*f) "
                f"for super-resolution (num_classes 0), not {y.dtype} with shape {y.shape}"
            )
        if y.shape[:2] != x.shape[:2]:
            raise DataError(
                f"{self.name}: y_{part} holds {y.shape[0]} images of {y.shape[1]} channels but "
                f"x_{part} {x.shape[0]} of {x.shape[1]}; each low-resolution image needs its "
                f"high-resolution target"
            )
        (h, w), (hh, ww) = x.shape[2:], y.shape[2:]
        factor = hh // h if h and w else 0
        if factor < 2 or (hh, ww) != (h * factor, w * factor):
            raise DataError(
                f"{self.name}: y_{part} images ({hh}x{ww}) must be x_{part} images ({h}x{w}) "
                f"scaled by one integer factor >= 2 in height and width (HxW)"
            )
        return factor

    @property
    def task(self) -> str:
        """``"classify"`` (labels) or ``"superres"`` (high-resolution target images)."""
        return "superres" if self.num_classes == 0 else "classify"

    @property
    def upscale(self) -> int:
        """The super-resolution factor f (HR size / LR size); 1 for classification."""
        if self.num_classes != 0:
            return 1
        return int(self.y_train.shape[2] // self.x_train.shape[2])

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The shape (C, H, W) of one (low-resolution) input image."""
        c, h, w = self.x_train.shape[1:]
        return int(c), int(h), int(w)
