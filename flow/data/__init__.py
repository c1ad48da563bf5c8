"""Dataset loaders: every dataset comes from local files or the sklearn package, never the net.

Images are kept as raw integer pixels (uint8, N x C x H x W); scaling to the input quantizer's
range belongs to training, which knows the input bit width. The dataset type and names are in
:mod:`flow.data.base`, the dataset of a build config in :mod:`flow.data.loading`.
"""

from __future__ import annotations

from pathlib import Path

from flow.data.base import DATASETS, Dataset
from flow.errors import ConfigError, DataError


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
    elif name == "cifar10":
        from flow.data import cifar10

        cifar10.find_files(path)
    elif name == "samples":
        from flow.data import samples

        samples.check_path(path)
    elif name == "npz":
        from flow.data import npz

        npz.check_path(path)
    else:
        from flow.data import bsd300

        bsd300.find_files(path)


def load_dataset(
    name: str,
    path: Path | None = None,
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    limit: int | None = None,
    tile: int = 16,
    upscale: int = 2,
    patches: int = 32,
    test_tiles: int = 8,
    pixel_bits: int = 8,
) -> Dataset:
    """Load dataset ``name`` (one of :data:`DATASETS`).

    ``digits`` is embedded in scikit-learn (``path`` must be None) and split here, stratified,
    with ``seed`` and ``test_fraction``. ``mnist`` and ``cifar10`` are read from the folder
    ``path`` and keep their official train/test split (``seed`` and ``test_fraction`` unused).

    The super-resolution datasets (:data:`SUPERRES_DATASETS`) give luminance pairs: ``samples``
    (scikit-learn's two sample photos, no ``path``) and ``bsd300`` (BSDS300 at ``path``, its
    official train/test split). Each training image gives ``patches`` random crops (seeded by
    ``seed``) and each test image up to ``test_tiles`` grid tiles; the inputs are ``tile``
    pixels square and the targets ``upscale`` times larger. ``test_fraction`` is unused there,
    and these four arguments are unused by the classification datasets.

    ``npz`` is the user's own archive at ``path`` (:mod:`flow.data.npz`), its pixels at
    most ``pixel_bits`` wide.

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
    elif name == "cifar10":
        from flow.data import cifar10

        dataset = cifar10.load(path)
    elif name == "npz":
        from flow.data import npz

        dataset = npz.load(path, pixel_bits=pixel_bits)
    else:
        if name == "samples":
            from flow.data import samples as module
        else:
            from flow.data import bsd300 as module

        dataset = module.load(
            path, tile=tile, factor=upscale, patches=patches, test_tiles=test_tiles, seed=seed
        )
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
        test_groups=None if dataset.test_groups is None else dataset.test_groups[:limit],
    )
