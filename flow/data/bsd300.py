"""The Berkeley Segmentation Dataset BSDS300 as super-resolution pairs on luminance (Y).

The standard layout, as the official tarball ``BSDS300-images.tgz`` unpacks::

    BSDS300/images/train/<iid>.jpg   (200 images, 481x321 or 321x481)
    BSDS300/images/test/<iid>.jpg    (100 images)
    BSDS300/iids_train.txt           (one image id per line)
    BSDS300/iids_test.txt

``path`` is that ``BSDS300`` folder or the folder holding it. The iids files are the split:
an image in ``images/`` that they do not list is ignored. Training pairs are random crops
(with flips) of the training images, test pairs the centre tiles of a grid over each test
image (:mod:`flow.data.superres`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from flow.data import superres as sr
from flow.data.base import Dataset
from flow.errors import DataError

FOLDER = "BSDS300"
PARTS = ("train", "test")
LAYOUT = "images/train/*.jpg, images/test/*.jpg, iids_train.txt, iids_test.txt"
SHOWN_IDS = 5  # ids listed in a "no image" error before "..."


def _root(path: Path | None) -> Path:
    if path is None:
        raise DataError(
            f"dataset 'bsd300' needs a path: the {FOLDER} folder (or its parent) holding {LAYOUT}"
        )
    path = Path(path)
    if not path.is_dir():
        raise DataError(
            f"bsd300 path {str(path)!r} is not a folder; expected the {FOLDER} folder "
            f"(or its parent) holding {LAYOUT}"
        )
    # The official tarball unpacks to BSDS300/, so accept the folder above it too.
    if (path / FOLDER).is_dir() and not (path / "images").is_dir():
        path = path / FOLDER
    return path


def _read_ids(file: Path) -> list[str]:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read BSDS300 id list {str(file)!r}: {err}") from None
    ids = [line.strip() for line in text.splitlines() if line.strip()]
    if not ids:
        raise DataError(f"BSDS300 id list {str(file)!r} lists no image ids")
    seen = set()
    for iid in ids:
        if any(c in iid for c in "/\\") or iid in (".", ".."):
            raise DataError(f"BSDS300 id list {str(file)!r} has {iid!r}, not a plain image id")
        if iid in seen:
            raise DataError(f"BSDS300 id list {str(file)!r} lists id {iid!r} twice")
        seen.add(iid)
    return ids


def find_files(path: Path | None) -> tuple[list[Path], list[Path]]:
    """The training and the test image files, in the order the iids files list them.

    Checks the layout cheaply (names only, nothing is decoded) and raises :class:`DataError`
    naming what is missing: a folder or id file, or the ids that have no image.
    """
    root = _root(path)
    needed = [f"images/{part}/" for part in PARTS] + [f"iids_{part}.txt" for part in PARTS]
    missing = [
        name
        for name in needed
        if not ((root / name).is_dir() if name.endswith("/") else (root / name).is_file())
    ]
    if missing:
        raise DataError(
            f"BSDS300 at {root}: missing {', '.join(missing)} (expected layout: {LAYOUT})"
        )
    found = []
    for part in PARTS:
        ids = _read_ids(root / f"iids_{part}.txt")
        folder = root / "images" / part
        files = [folder / f"{iid}.jpg" for iid in ids]
        absent = [iid for iid, file in zip(ids, files, strict=True) if not file.is_file()]
        if absent:
            shown = ", ".join(absent[:SHOWN_IDS]) + (", ..." if len(absent) > SHOWN_IDS else "")
            raise DataError(
                f"BSDS300 at {root}: iids_{part}.txt lists {len(absent)} "
                f"id{'s' if len(absent) != 1 else ''} with no image in images/{part}/: {shown}"
            )
        found.append(files)
    return found[0], found[1]


def read_y(file: Path) -> np.ndarray:
    """Decode one image file with PIL into its uint8 luminance (H, W)."""
    try:
        with Image.open(file) as img:
            img = img.convert("L") if img.mode in ("L", "1") else img.convert("RGB")
            pixels = np.asarray(img)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise DataError(f"cannot decode image {str(file)!r}: {err}") from None
    return sr.luminance(pixels)


def load(
    path: Path | None, *, tile: int, factor: int, patches: int, test_tiles: int, seed: int
) -> Dataset:
    """Load BSDS300 as super-resolution pairs, keeping its official train/test split.

    ``patches`` random crops per training image (reproducible from ``seed``) and up to
    ``test_tiles`` centre grid tiles per test image (seed-independent), LR tiles ``tile``
    pixels square and HR targets ``factor`` times larger.
    """
    sr.check_args(tile=tile, factor=factor, patches=patches, test_tiles=test_tiles, seed=seed)
    train_files, test_files = find_files(path)
    crop = tile * factor
    train = []
    for file in train_files:
        image = read_y(file)
        sr.check_size(image, crop, f"BSDS300 image {str(file)!r}")
        train.append(image)
    tests = []
    for file in test_files:
        image = read_y(file)
        sr.check_size(image, crop, f"BSDS300 image {str(file)!r}")
        tests.append(sr.grid_tiles(image, tile, factor, test_tiles))
    return sr.make_dataset(
        "bsd300", train, tests, tile=tile, factor=factor, patches=patches, seed=seed
    )
