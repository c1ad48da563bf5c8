"""Tests of flow.data: the digits split, and MNIST/CIFAR-10 fixtures written in their formats."""

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest

from flow.data import check_dataset_path, load_dataset
from flow.data.base import DATASETS, Dataset
from flow.errors import ConfigError, DataError

# --- digits ------------------------------------------------------------------------------


def _rows(x: np.ndarray, y: np.ndarray) -> list[bytes]:
    """Each sample as bytes (image then label), for comparing sets of samples."""
    return sorted(xi.tobytes() + bytes([int(yi)]) for xi, yi in zip(x, y, strict=True))


def test_digits_shapes_and_types() -> None:
    data = load_dataset("digits")
    assert isinstance(data, Dataset)
    assert data.name == "digits"
    assert data.x_train.dtype == np.uint8 and data.x_test.dtype == np.uint8
    assert data.y_train.dtype == np.int64 and data.y_test.dtype == np.int64
    assert data.x_train.shape[1:] == data.x_test.shape[1:] == (1, 8, 8)
    assert data.input_shape == (1, 8, 8)
    assert len(data.x_train) + len(data.x_test) == 1797
    assert len(data.x_test) == 360  # sklearn rounds the test part up: ceil(0.2 * 1797)
    assert data.num_classes == 10
    assert data.pixel_max == 16
    assert int(data.x_train.max()) == 16


def test_digits_split_is_a_deterministic_partition() -> None:
    from sklearn.datasets import load_digits

    a = load_dataset("digits", seed=3)
    b = load_dataset("digits", seed=3)
    c = load_dataset("digits", seed=4)
    for name in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.y_train, c.y_train)
    # Train and test together are exactly the whole set, each sample once.
    full = load_digits()
    whole = _rows(full.images.astype(np.uint8)[:, None], full.target)
    assert _rows(np.concatenate([a.x_train, a.x_test]), np.concatenate([a.y_train, a.y_test])) == (
        whole
    )


@pytest.mark.parametrize("fraction", [0.2, 0.5])
def test_digits_split_is_stratified(fraction: float) -> None:
    data = load_dataset("digits", test_fraction=fraction)
    train = np.bincount(data.y_train, minlength=10)
    test = np.bincount(data.y_test, minlength=10)
    # Each class is split in the requested ratio, up to rounding of one sample.
    assert np.all(np.abs(test - fraction * (train + test)) <= 1)


def test_limit_keeps_the_first_samples() -> None:
    full = load_dataset("digits")
    small = load_dataset("digits", limit=50)
    assert len(small.x_train) == len(small.x_test) == 50
    np.testing.assert_array_equal(small.x_train, full.x_train[:50])
    np.testing.assert_array_equal(small.y_test, full.y_test[:50])


# --- MNIST fixtures ------------------------------------------------------------------------


def _idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    if magic is None:
        magic = 0x0800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


MNIST_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def _write_mnist(folder: Path, gz: frozenset[str] = frozenset()) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    # Non-square 5x4 images, so a swapped row/column count would show.
    arrays = {
        "x_train": rng.integers(0, 256, size=(7, 5, 4), dtype=np.uint8),
        "y_train": rng.integers(0, 10, size=7, dtype=np.uint8),
        "x_test": rng.integers(0, 256, size=(3, 5, 4), dtype=np.uint8),
        "y_test": rng.integers(0, 10, size=3, dtype=np.uint8),
    }
    arrays["x_train"][0, 0, 0] = 255
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in MNIST_NAMES.items():
        raw = _idx_bytes(arrays[key])
        if key in gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return arrays


@pytest.mark.parametrize(
    "gz", [frozenset(), frozenset(MNIST_NAMES), frozenset({"x_train", "y_test"})]
)
def test_mnist_loads_plain_and_gz(tmp_path: Path, gz: frozenset[str]) -> None:
    arrays = _write_mnist(tmp_path, gz)
    check_dataset_path("mnist", tmp_path)
    data = load_dataset("mnist", tmp_path)
    assert data.name == "mnist" and data.num_classes == 10 and data.pixel_max == 255
    assert data.input_shape == (1, 5, 4)
    np.testing.assert_array_equal(data.x_train, arrays["x_train"][:, None])
    np.testing.assert_array_equal(data.x_test, arrays["x_test"][:, None])
    np.testing.assert_array_equal(data.y_train, arrays["y_train"])
    np.testing.assert_array_equal(data.y_test, arrays["y_test"])
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int64


def test_mnist_limit(tmp_path: Path) -> None:
    arrays = _write_mnist(tmp_path)
    data = load_dataset("mnist", tmp_path, limit=2)
    np.testing.assert_array_equal(data.x_train, arrays["x_train"][:2, None])
    np.testing.assert_array_equal(data.y_test, arrays["y_test"][:2])


def test_mnist_missing_file(tmp_path: Path) -> None:
    _write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    match = r"mnist file 't10k-labels-idx1-ubyte' \(or t10k-labels-idx1-ubyte\.gz\) is missing"
    with pytest.raises(DataError, match=match + r".*expected a folder holding train-images"):
        check_dataset_path("mnist", tmp_path)
    with pytest.raises(DataError, match=match):
        load_dataset("mnist", tmp_path)


def test_mnist_needs_an_existing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"^dataset 'mnist' needs a path: a folder holding"):
        check_dataset_path("mnist", None)
    with pytest.raises(DataError, match=r"mnist path '.*nowhere' is not a folder"):
        load_dataset("mnist", tmp_path / "nowhere")


def test_mnist_bad_magic(tmp_path: Path) -> None:
    _write_mnist(tmp_path)
    labels = np.zeros(7, dtype=np.uint8)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(labels, magic=0x0803))
    with pytest.raises(
        DataError,
        match=r"mnist file '.*train-labels-idx1-ubyte' has magic number 0x00000803, "
        r"expected 0x00000801",
    ):
        load_dataset("mnist", tmp_path)


@pytest.mark.parametrize(
    ("cut", "message"),
    [(2, "no idx header"), (10, "truncated inside its idx header"), (-3, "is truncated: header")],
)
def test_mnist_truncated(tmp_path: Path, cut: int, message: str) -> None:
    _write_mnist(tmp_path)
    file = tmp_path / "t10k-images-idx3-ubyte"
    raw = file.read_bytes()
    file.write_bytes(raw[:cut])
    with pytest.raises(DataError, match=rf"mnist file '.*t10k-images-idx3-ubyte'.*{message}"):
        load_dataset("mnist", tmp_path)


def test_mnist_too_long_and_bad_gz(tmp_path: Path) -> None:
    _write_mnist(tmp_path)
    file = tmp_path / "t10k-images-idx3-ubyte"
    file.write_bytes(file.read_bytes() + b"\0")
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte' is too long"):
        load_dataset("mnist", tmp_path)
    file.unlink()
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match=r"cannot read mnist file '.*t10k-images-idx3-ubyte\.gz'"):
        load_dataset("mnist", tmp_path)


def test_mnist_count_mismatch_and_bad_label(tmp_path: Path) -> None:
    _write_mnist(tmp_path)
    labels = tmp_path / "t10k-labels-idx1-ubyte"
    labels.write_bytes(_idx_bytes(np.zeros(4, dtype=np.uint8)))
    with pytest.raises(
        DataError, match=r"mnist test files disagree: .* holds 3 images, .* 4 labels"
    ):
        load_dataset("mnist", tmp_path)
    labels.write_bytes(_idx_bytes(np.array([0, 10, 1], dtype=np.uint8)))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte' has label 10, expected 0\.\.9"):
        load_dataset("mnist", tmp_path)


# --- CIFAR-10 fixtures ---------------------------------------------------------------------


def _write_cifar(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    xs, ys = [], []
    for i in range(1, 6):
        n = i % 3 + 1  # uneven batch sizes, so concatenation order matters
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=n)]  # plain ints, as in the real files
        with (folder / f"data_batch_{i}").open("wb") as f:
            pickle.dump({b"batch_label": b"x", b"data": data, b"labels": labels}, f)
        xs.append(data)
        ys.append(labels)
    test_data = rng.integers(0, 256, size=(2, 3072), dtype=np.uint8)
    test_labels = [9, 0]
    with (folder / "test_batch").open("wb") as f:
        pickle.dump({b"data": test_data, b"labels": test_labels}, f)
    return np.concatenate(xs), np.concatenate(ys), test_data, np.array(test_labels)


@pytest.mark.parametrize("via_parent", [False, True])
def test_cifar10_loads(tmp_path: Path, via_parent: bool) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    x_train, y_train, x_test, y_test = _write_cifar(folder)
    path = tmp_path if via_parent else folder
    check_dataset_path("cifar10", path)
    data = load_dataset("cifar10", path)
    assert data.name == "cifar10" and data.num_classes == 10 and data.pixel_max == 255
    assert data.input_shape == (3, 32, 32)
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int64
    np.testing.assert_array_equal(data.y_train, y_train)
    np.testing.assert_array_equal(data.y_test, y_test)
    # Channel-major rows: 1024 red, 1024 green, 1024 blue pixels, each 32x32 row-major.
    i, c, h, w = 4, 2, 5, 17
    assert data.x_train[i, c, h, w] == x_train[i, c * 1024 + h * 32 + w]
    np.testing.assert_array_equal(data.x_train.reshape(len(x_train), -1), x_train)
    np.testing.assert_array_equal(data.x_test.reshape(2, -1), x_test)


def test_cifar10_missing_batch(tmp_path: Path) -> None:
    _write_cifar(tmp_path)
    (tmp_path / "test_batch").unlink()
    with pytest.raises(
        DataError, match=r"cifar10 file 'test_batch' is missing in .*; expected a folder"
    ):
        check_dataset_path("cifar10", tmp_path)
    with pytest.raises(DataError, match=r"^dataset 'cifar10' needs a path"):
        load_dataset("cifar10")


def test_cifar10_bad_batches(tmp_path: Path) -> None:
    _write_cifar(tmp_path)
    batch = tmp_path / "data_batch_3"
    batch.write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"cannot read cifar10 batch '.*data_batch_3'"):
        load_dataset("cifar10", tmp_path)
    with batch.open("wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), dtype=np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(DataError, match=r"data must be uint8 of shape \(N, 3072\)"):
        load_dataset("cifar10", tmp_path)
    with batch.open("wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), dtype=np.uint8), b"labels": [0, 12]}, f)
    with pytest.raises(DataError, match=r"data_batch_3' has labels 0\.\.12, expected 0\.\.9"):
        load_dataset("cifar10", tmp_path)
    with batch.open("wb") as f:
        pickle.dump([1, 2], f)
    with pytest.raises(DataError, match=r"is not a dict with keys b'data' and b'labels'"):
        load_dataset("cifar10", tmp_path)


# --- names and arguments -------------------------------------------------------------------


def test_unknown_dataset_lists_allowed_names() -> None:
    assert DATASETS == ("digits", "mnist", "cifar10", "samples", "bsd300", "npz")
    message = (
        r"^unknown dataset 'cifar100'; allowed: 'digits', 'mnist', 'cifar10', 'samples', "
        r"'bsd300', 'npz'$"
    )
    with pytest.raises(DataError, match=message):
        load_dataset("cifar100")
    with pytest.raises(DataError, match=message):
        check_dataset_path("cifar100", None)


def test_digits_refuses_a_path(tmp_path: Path) -> None:
    message = r"^dataset 'digits' is embedded in scikit-learn and takes no path, got '.*'$"
    with pytest.raises(DataError, match=message):
        load_dataset("digits", tmp_path)
    with pytest.raises(DataError, match=message):
        check_dataset_path("digits", tmp_path)
    check_dataset_path("digits", None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": 0}, r"^limit must be a positive integer or None, not 0$"),
        ({"limit": 2.5}, r"^limit must be a positive integer or None, not 2\.5$"),
        ({"test_fraction": 1.0}, r"^test_fraction must be a number in \(0, 1\), not 1\.0$"),
        ({"test_fraction": 0}, r"^test_fraction must be a number in \(0, 1\), not 0$"),
        ({"seed": -1}, r"^seed must be a non-negative integer, not -1$"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_dataset("digits", **kwargs)


def test_dataset_checks_its_arrays() -> None:
    x = np.zeros((2, 1, 2, 2), dtype=np.uint8)
    y = np.zeros(2, dtype=np.int64)
    with pytest.raises(DataError, match=r"^t: x_train must be uint8 \(N, C, H, W\), not float32"):
        Dataset("t", x.astype(np.float32), y, x, y, 10, 255)
    with pytest.raises(DataError, match=r"^t: y_test must be int64 of shape \(2,\), not int32"):
        Dataset("t", x, y, x, y.astype(np.int32), 10, 255)
    with pytest.raises(DataError, match=r"^t: x_train has pixel value 17 above the format's"):
        Dataset("t", x + 17, y, x, y, 10, 16)
    with pytest.raises(DataError, match=r"^t: y_train labels must be in 0\.\.9, found 10\.\.10$"):
        Dataset("t", x, y + 10, x, y, 10, 255)
