"""MNIST from the four standard idx files in one local folder (each may be gzipped).

The idx format: 2 zero bytes, a type byte (0x08 = unsigned byte), a byte giving the number
of dimensions, one big-endian uint32 per dimension, then the data in C order.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from flow.data.base import Dataset
from flow.errors import DataError

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
LAYOUT = "a folder holding " + ", ".join(FILES.values()) + " (each optionally ending in .gz)"
UBYTE = 0x08
NUM_CLASSES = 10


def find_files(path: Path | None) -> dict[str, Path]:
    """Return the path of each idx file in ``path``, preferring the uncompressed one."""
    if path is None:
        raise DataError(f"dataset 'mnist' needs a path: {LAYOUT}")
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"mnist path {str(path)!r} is not a folder; expected {LAYOUT}")
    found = {}
    for key, name in FILES.items():
        for candidate in (path / name, path / f"{name}.gz"):
            if candidate.is_file():
                found[key] = candidate
                break
        else:
            raise DataError(
                f"mnist file {name!r} (or {name}.gz) is missing in {str(path)!r}; expected {LAYOUT}"
            )
    return found


def read_idx(file: Path, ndim: int) -> np.ndarray:
    """Read an unsigned-byte idx file with ``ndim`` dimensions, checking its header and size."""
    try:
        if file.suffix == ".gz":
            with gzip.open(file, "rb") as stream:
                raw = stream.read()
        else:
            raw = file.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"cannot read mnist file {str(file)!r}: {err}") from None
    if len(raw) < 4:
        raise DataError(f"mnist file {str(file)!r} is truncated: {len(raw)} bytes, no idx header")
    magic = int.from_bytes(raw[:4], "big")
    want = (UBYTE << 8) | ndim
    if magic != want:
        raise DataError(
            f"mnist file {str(file)!r} has magic number 0x{magic:08x}, expected 0x{want:08x} "
            f"(idx, unsigned bytes, {ndim} dimension{'s' if ndim > 1 else ''})"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"mnist file {str(file)!r} is truncated inside its idx header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    size = int(np.prod(dims, dtype=np.int64))
    if len(raw) - header != size:
        kind = "truncated" if len(raw) - header < size else "too long"
        raise DataError(
            f"mnist file {str(file)!r} is {kind}: header says {dims} = {size} bytes of data, "
            f"found {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def _read_pair(files: dict[str, Path], part: str) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(files[f"{part}_images"], 3)
    labels = read_idx(files[f"{part}_labels"], 1)
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"mnist {part} files disagree: {str(files[f'{part}_images'])!r} holds "
            f"{images.shape[0]} images, {str(files[f'{part}_labels'])!r} holds "
            f"{labels.shape[0]} labels"
        )
    if labels.size and labels.max() >= NUM_CLASSES:
        raise DataError(
            f"mnist file {str(files[f'{part}_labels'])!r} has label {int(labels.max())}, "
            f"expected 0..{NUM_CLASSES - 1}"
        )
    return images[:, None, :, :], labels.astype(np.int64)


def load(path: Path | None) -> Dataset:
    """Load MNIST with its official 60000/10000 train/test split."""
    files = find_files(path)
    x_train, y_train = _read_pair(files, "train")
    x_test, y_test = _read_pair(files, "test")
    return Dataset("mnist", x_train, y_train, x_test, y_test, NUM_CLASSES, 255)
