"""CIFAR-10 in its "python version" layout: pickled batches in ``cifar-10-batches-py``.

Each batch is a dict with ``b"data"`` (uint8, N x 3072: 1024 red, then green, then blue
pixels, each row-major 32x32) and ``b"labels"`` (N ints in 0..9). ``batches.meta`` only holds
class names and is not needed.

The batches are pickles, and unpickling runs code chosen by whoever wrote the file: only
point this at a copy of the dataset you trust.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from flow.data.base import Dataset
from flow.errors import DataError

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
LAYOUT = (
    f"a folder (or its parent) named {FOLDER} holding "
    + ", ".join(TRAIN_BATCHES)
    + f" and {TEST_BATCH}"
)
NUM_CLASSES = 10
SHAPE = (3, 32, 32)


def find_files(path: Path | None) -> dict[str, Path]:
    """Return the batch files by name; ``path`` may be the batch folder or its parent."""
    if path is None:
        raise DataError(f"dataset 'cifar10' needs a path: {LAYOUT}")
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"cifar10 path {str(path)!r} is not a folder; expected {LAYOUT}")
    # The official tarball unpacks to cifar-10-batches-py/, so accept the folder above it too.
    if (path / FOLDER).is_dir():
        path = path / FOLDER
    files = {}
    for name in (*TRAIN_BATCHES, TEST_BATCH):
        file = path / name
        if not file.is_file():
            raise DataError(f"cifar10 file {name!r} is missing in {str(path)!r}; expected {LAYOUT}")
        files[name] = file
    return files


def read_batch(file: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one pickled batch as images (N, 3, 32, 32) uint8 and labels (N,) int64."""
    try:
        with file.open("rb") as stream:
            batch = pickle.load(stream, encoding="bytes")
    # A damaged pickle can fail in many ways; all of them mean "not a readable batch".
    except (
        OSError,
        EOFError,
        pickle.UnpicklingError,
        ValueError,
        TypeError,
        AttributeError,
        ImportError,
        IndexError,
        KeyError,
    ) as err:
        raise DataError(f"cannot read cifar10 batch {str(file)!r}: {err}") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(
            f"cifar10 batch {str(file)!r} is not a dict with keys b'data' and b'labels'"
        )
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"])
    size = int(np.prod(SHAPE))
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != size:
        raise DataError(
            f"cifar10 batch {str(file)!r}: data must be uint8 of shape (N, {size}), "
            f"not {data.dtype} with shape {data.shape}"
        )
    if labels.shape != (data.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            f"cifar10 batch {str(file)!r}: expected {data.shape[0]} integer labels, "
            f"found {labels.dtype} with shape {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise DataError(
            f"cifar10 batch {str(file)!r} has labels {int(labels.min())}..{int(labels.max())}, "
            f"expected 0..{NUM_CLASSES - 1}"
        )
    return data.reshape(-1, *SHAPE), labels.astype(np.int64)


def load(path: Path | None) -> Dataset:
    """Load CIFAR-10 with its official 50000/10000 train/test split."""
    files = find_files(path)
    train = [read_batch(files[name]) for name in TRAIN_BATCHES]
    x_test, y_test = read_batch(files[TEST_BATCH])
    return Dataset(
        name="cifar10",
        x_train=np.concatenate([x for x, _ in train]),
        y_train=np.concatenate([y for _, y in train]),
        x_test=x_test,
        y_test=y_test,
        num_classes=NUM_CLASSES,
        pixel_max=255,
    )
