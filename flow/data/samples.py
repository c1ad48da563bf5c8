"""The two sample photos bundled with scikit-learn, as super-resolution pairs on luminance (Y).

``sklearn.datasets.load_sample_images()`` ships ``china.jpg`` and ``flower.jpg`` (427x640 RGB),
so this default needs no download and no path. Each photo is split by rows into two disjoint
parts: training crops come only from its top 75 % of rows (rows ``0 .. SPLIT-1``, with
``SPLIT = floor(0.75 * H)``, 320 of 427) and test tiles only from the bottom 25 % (rows
``SPLIT .. H-1``). Every pair is cut and downscaled from within one part, so no test pixel is
ever seen in training; the two parts only share their photo (its colours and textures).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from flow.data import superres as sr
from flow.data.base import Dataset
from flow.errors import DataError

NAMES = ("china.jpg", "flower.jpg")
TRAIN_FRACTION = 0.75


def check_path(path: Path | None) -> None:
    """Refuse a path: the photos come with scikit-learn, so a path would be silently ignored."""
    if path is not None:
        raise DataError(
            f"dataset 'samples' is embedded in scikit-learn and takes no path, got {str(path)!r}"
        )


def split_row(height: int) -> int:
    """The first row of the held-out test part of a photo ``height`` rows high."""
    return int(height * TRAIN_FRACTION)


def images() -> list[tuple[str, np.ndarray]]:
    """The sample photos as (file name, uint8 Y image (H, W)), in :data:`NAMES` order."""
    # Imported here so that `import flow.data` stays cheap for the other datasets.
    from sklearn.datasets import load_sample_images

    bunch = load_sample_images()
    by_name = {Path(f).name: image for f, image in zip(bunch.filenames, bunch.images, strict=True)}
    missing = [name for name in NAMES if name not in by_name]
    if missing:
        raise DataError(
            f"scikit-learn's sample images lack {', '.join(missing)}; "
            f"found {', '.join(sorted(by_name))}"
        )
    return [(name, sr.luminance(np.asarray(by_name[name], dtype=np.uint8))) for name in NAMES]


def load(
    path: Path | None, *, tile: int, factor: int, patches: int, test_tiles: int, seed: int
) -> Dataset:
    """Load the sample photos as super-resolution pairs.

    ``patches`` random crops (with flips) per photo from its top rows, reproducible from
    ``seed``, and up to ``test_tiles`` centre grid tiles per photo from its bottom rows
    (seed-independent). LR tiles are ``tile`` pixels square, HR targets ``factor`` times larger.
    """
    check_path(path)
    sr.check_args(tile=tile, factor=factor, patches=patches, test_tiles=test_tiles, seed=seed)
    crop = tile * factor
    tops, tests = [], []
    for name, image in images():
        split = split_row(image.shape[0])
        top, bottom = image[:split], image[split:]
        sr.check_size(top, crop, f"samples: the training rows 0..{split - 1} of {name}")
        sr.check_size(
            bottom, crop, f"samples: the held-out rows {split}..{image.shape[0] - 1} of {name}"
        )
        tops.append(top)
        tests.append(sr.grid_tiles(bottom, tile, factor, test_tiles))
    return sr.make_dataset(
        "samples", tops, tests, tile=tile, factor=factor, patches=patches, seed=seed
    )
