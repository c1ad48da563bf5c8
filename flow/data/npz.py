"""Your own data: a NumPy ``.npz`` archive of integer images and class labels.

The archive holds ``x_test`` (uint8 images, N x C x H x W) and ``y_test`` (integer labels,
N), and for training ``x_train`` and ``y_train`` alike; a build of a QONNX file made elsewhere
(``model.source: onnx:PATH``) needs only the test part. Write one with
``np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)``. The images are the
integers the accelerator takes (``model.input_bits`` of them, 8 by default): scaling and
normalization belong to the network's input quantizer, as with the built-in datasets.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from flow.data.base import Dataset
from flow.errors import DataError

LAYOUT = (
    "a .npz file (np.savez) with x_test (uint8, N x C x H x W) and y_test (integer labels, N), "
    "plus x_train and y_train to train on it"
)
_PARTS = ("x_train", "y_train", "x_test", "y_test")


def check_path(path: Path | None) -> dict[str, tuple]:
    """The shapes of the arrays in the archive at ``path``, read from their headers only;
    a missing file, another format or a missing array is a :class:`DataError`."""
    if path is None:
        raise DataError(f"dataset 'npz' needs a path: {LAYOUT}")
    path = Path(path)
    if not path.is_file():
        raise DataError(f"npz path {str(path)!r} is not a file; expected {LAYOUT}")
    try:
        with zipfile.ZipFile(path) as z:
            shapes = {}
            for name in z.namelist():
                with z.open(name) as f:
                    major, _ = np.lib.format.read_magic(f)
                    read_header = (
                        np.lib.format.read_array_header_1_0
                        if major == 1
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, _, _ = read_header(f)
                shapes[name.removesuffix(".npy")] = shape
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise DataError(f"{path}: not a NumPy .npz archive ({e}); expected {LAYOUT}") from None
    missing = [k for k in ("x_test", "y_test") if k not in shapes]
    if missing or ("x_train" in shapes) != ("y_train" in shapes):
        missing = missing or ["x_train" if "x_train" not in shapes else "y_train"]
        raise DataError(
            f"{path}: no array {', '.join(missing)} (it has {', '.join(shapes) or 'none'}); "
            f"expected {LAYOUT}"
        )
    if len(shapes["x_test"]) != 4:
        raise DataError(f"{path}: x_test has shape {shapes['x_test']}; expected {LAYOUT}")
    return shapes


def image_shape(path: Path | None) -> tuple[int, int, int]:
    """(channels, size, classes) of the square images and labels in the archive at ``path``:
    what a built-in architecture is built for."""
    shapes = check_path(path)
    _, c, h, w = shapes["x_test"]
    if h != w:
        raise DataError(
            f"{path}: the built-in architectures take square images, x_test's are {h}x{w}"
        )
    with np.load(path, allow_pickle=False) as z:
        labels = [z[k] for k in ("y_train", "y_test") if k in z]
    return int(c), int(h), _classes(np.concatenate(labels))


def _classes(labels: np.ndarray) -> int:
    return max(2, int(labels.max()) + 1) if labels.size else 2


def load(path: Path | None, *, pixel_bits: int = 8) -> Dataset:
    """Load the archive at ``path``; pixels above ``2**pixel_bits - 1`` are an error."""
    check_path(path)
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in _PARTS if k in z}
    if "x_train" not in arrays:
        arrays["x_train"], arrays["y_train"] = arrays["x_test"][:0], arrays["y_test"][:0]
    top = 2**pixel_bits - 1
    for k in ("x_train", "x_test"):
        x = arrays[k]
        if not np.issubdtype(x.dtype, np.integer) or (x.size and (x.min() < 0 or x.max() > top)):
            found = f"{x.min()}..{x.max()}" if x.size else "nothing"
            raise DataError(
                f"{path}: {k} must hold integer pixels in 0..{top} (model.input_bits "
                f"{pixel_bits}), not {x.dtype} values {found}"
            )
        arrays[k] = x.astype(np.uint8)
    for k in ("y_train", "y_test"):
        y = arrays[k]
        if not np.issubdtype(y.dtype, np.integer) or y.ndim != 1:
            raise DataError(
                f"{path}: {k} must be integer class labels of shape (N,), not {y.dtype} "
                f"with shape {y.shape}"
            )
        arrays[k] = y.astype(np.int64)
    labels = np.concatenate([arrays["y_train"], arrays["y_test"]])
    return Dataset(
        name="npz",
        x_train=arrays["x_train"],
        y_train=arrays["y_train"],
        x_test=arrays["x_test"],
        y_test=arrays["y_test"],
        num_classes=_classes(labels),
        pixel_max=top,
    )
