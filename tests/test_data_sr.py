"""Tests of the super-resolution data: flow.data.superres helpers, BSDS300 and the samples."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from flow.data import bsd300, check_dataset_path, load_dataset, samples
from flow.data import superres as sr
from flow.data.base import DATASETS, SUPERRES_DATASETS, Dataset
from flow.errors import ConfigError, DataError
from tests.conftest import write_bsd300

# --- luminance -------------------------------------------------------------------------


def test_luminance_is_bt601_full_range_rounded_half_up() -> None:
    rgb = np.array(
        [[[200, 100, 50], [0, 12, 4], [255, 255, 255], [0, 0, 0], [0, 0, 255]]], dtype=np.uint8
    )
    y = sr.luminance(rgb)
    assert y.dtype == np.uint8 and y.shape == (1, 5)
    # 0.299*200 + 0.587*100 + 0.114*50 = 59.8 + 58.7 + 5.7 = 124.2 -> 124
    # 0.587*12 + 0.114*4 = 7.044 + 0.456 = 7.5 exactly -> 8 (half up)
    # 0.114*255 = 29.07 -> 29
    assert y.tolist() == [[124, 8, 255, 0, 29]]


def test_luminance_passes_grayscale_and_refuses_other_input() -> None:
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_array_equal(sr.luminance(gray), gray)
    with pytest.raises(DataError, match=r"uint8 RGB \(H, W, 3\) or grayscale \(H, W\) image"):
        sr.luminance(np.zeros((3, 4, 4), dtype=np.uint8))
    with pytest.raises(DataError, match=r"not float32"):
        sr.luminance(np.zeros((3, 4, 3), dtype=np.float32))


# --- resizing ----------------------------------------------------------------------------


def test_downscale_and_upscale_shapes() -> None:
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, size=(2, 1, 36, 48), dtype=np.uint8)
    lr = sr.downscale(hr, 2)
    assert lr.shape == (2, 1, 18, 24) and lr.dtype == np.uint8
    assert sr.downscale(hr, 3).shape == (2, 1, 12, 16)
    assert sr.downscale(hr[0, 0], 4).shape == (9, 12)  # any (..., H, W)
    up = sr.bicubic_upscale(lr, 3)
    assert up.shape == (2, 1, 54, 72) and up.dtype == np.uint8
    # Each plane is resized alone: the second image's result does not depend on the first.
    np.testing.assert_array_equal(lr[1:], sr.downscale(hr[1:], 2))


def test_downscale_needs_multiples_of_the_factor() -> None:
    with pytest.raises(
        DataError, match=r"^downscale by 3 needs a height and width that are multiples of 3, "
    ):
        sr.downscale(np.zeros((1, 1, 12, 10), dtype=np.uint8), 3)
    with pytest.raises(ConfigError, match=r"^upscale must be an integer >= 1, not 0$"):
        sr.downscale(np.zeros((4, 4), dtype=np.uint8), 0)


@pytest.mark.parametrize("value", [0, 37, 255])
def test_bicubic_of_a_constant_image_is_constant(value: int) -> None:
    flat = np.full((2, 1, 6, 9), value, dtype=np.uint8)
    np.testing.assert_array_equal(sr.bicubic_upscale(flat, 3), np.full((2, 1, 18, 27), value))
    np.testing.assert_array_equal(sr.downscale(sr.bicubic_upscale(flat, 2), 2), flat)


def test_bicubic_reproduces_a_smooth_image_closely() -> None:
    # A gentle ramp: bicubic down then up loses little, far better than a random image.
    r, c = np.mgrid[0:48, 0:48]
    ramp = (2 * r + c).astype(np.uint8)[None, None]
    assert sr.psnr(sr.bicubic_upscale(sr.downscale(ramp, 2), 2), ramp) > 35


# --- psnr --------------------------------------------------------------------------------


def test_psnr_of_a_known_mse_and_the_cap() -> None:
    target = np.full((3, 1, 8, 8), 100, dtype=np.uint8)
    off_by_one = target + 1
    assert sr.psnr(off_by_one, target) == pytest.approx(20 * math.log10(255))  # 48.13 dB
    assert sr.psnr(off_by_one, target) == pytest.approx(48.1308, abs=1e-4)
    assert sr.psnr(target, target) == sr.PSNR_CAP_DB == 100.0
    # The mean is over images: one exact (100 dB) and one off by 2 everywhere (MSE 4).
    pair = np.stack([target[0], target[0] + 2])
    assert sr.psnr(pair, np.stack([target[0], target[0]])) == pytest.approx(
        (100 + 10 * math.log10(255**2 / 4)) / 2
    )
    # Differences are taken in float64: uint8 arrays do not wrap around.
    assert sr.psnr(target - 1, target) == pytest.approx(48.1308, abs=1e-4)
    assert sr.psnr(off_by_one, target, peak=16) == pytest.approx(20 * math.log10(16))


def test_psnr_refuses_bad_arrays() -> None:
    a = np.zeros((2, 1, 4, 4), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"prediction shape \(2, 1, 4, 5\) differs from target"):
        sr.psnr(np.zeros((2, 1, 4, 5), dtype=np.uint8), a)
    with pytest.raises(ValueError, match=r"must hold integer pixels, not float32"):
        sr.psnr(a.astype(np.float32), a)
    with pytest.raises(ValueError, match=r"N >= 1"):
        sr.psnr(a[:0], a[:0])


# --- random pairs and grid tiles ---------------------------------------------------------


def _ramp(height: int, width: int) -> np.ndarray:
    """A Y image whose pixels are all different (value = row * width + col)."""
    assert height * width <= 256
    return np.arange(height * width, dtype=np.uint8).reshape(height, width)


def test_random_pairs_are_reproducible() -> None:
    rng = np.random.default_rng(5)
    images = [rng.integers(0, 256, size=shape, dtype=np.uint8) for shape in [(30, 40), (50, 20)]]
    x1, y1 = sr.random_pairs(images, 4, 3, 10, np.random.default_rng(7))
    x2, y2 = sr.random_pairs(images, 4, 3, 10, np.random.default_rng(7))
    x3, y3 = sr.random_pairs(images, 4, 3, 10, np.random.default_rng(8))
    assert x1.shape == (10, 1, 4, 4) and y1.shape == (10, 1, 12, 12)
    assert x1.dtype == y1.dtype == np.uint8
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(y1, y3)
    np.testing.assert_array_equal(x1, sr.downscale(y1, 3))


def test_random_pairs_are_flipped_crops_of_the_image() -> None:
    image = _ramp(12, 16)  # values grow to the right (by 1) and down (by 16)
    _, y = sr.random_pairs([image], 4, 2, 64, np.random.default_rng(0))
    flips = set()
    for crop in y[:, 0]:
        left_right = bool(crop[0, 0] > crop[0, 1])
        up_down = bool(crop[0, 0] > crop[1, 0])
        flips.add((left_right, up_down))
        plain = crop[:, ::-1] if left_right else crop
        plain = plain[::-1, :] if up_down else plain
        r, c = divmod(int(plain[0, 0]), 16)
        np.testing.assert_array_equal(plain, image[r : r + 8, c : c + 8])
    assert flips == {(False, False), (False, True), (True, False), (True, True)}


def test_random_pairs_use_every_image_evenly() -> None:
    images = [np.full((10, 10), v, dtype=np.uint8) for v in (10, 20, 30)]
    _, y = sr.random_pairs(images, 2, 2, 7, np.random.default_rng(0))
    counts = sorted(np.bincount(y[:, 0, 0, 0] // 10)[1:].tolist())
    assert counts == [2, 2, 3]


def test_random_pairs_refuse_small_images_and_bad_arguments() -> None:
    images = [np.zeros((40, 40), dtype=np.uint8), np.zeros((30, 50), dtype=np.uint8)]
    with pytest.raises(
        DataError,
        match=r"^image 1 is 50x30 pixels \(WxH\), smaller than the 32x32 high-resolution crop",
    ):
        sr.random_pairs(images, 16, 2, 4, np.random.default_rng(0))
    with pytest.raises(ConfigError, match=r"^upscale must be an integer >= 2, not 1$"):
        sr.random_pairs(images, 4, 1, 4, np.random.default_rng(0))
    with pytest.raises(DataError, match=r"^image 0 must be a uint8 Y image \(H, W\)"):
        sr.random_pairs([np.zeros((40, 40, 3), dtype=np.uint8)], 4, 2, 4, np.random.default_rng(0))


def test_grid_tiles_centre_first() -> None:
    image = np.arange(70 * 50, dtype=np.int64).reshape(70, 50) % 251
    image = image.astype(np.uint8)
    x, y = sr.grid_tiles(image, 4, 2, None)  # 8x8 tiles: 8 rows x 6 cols, border 3 and 1
    assert x.shape == (48, 1, 4, 4) and y.shape == (48, 1, 8, 8)
    np.testing.assert_array_equal(x, sr.downscale(y, 2))
    corners = sr.grid_positions(70, 50, 8, None)
    assert len(set(corners)) == 48
    assert corners[:4] == [(27, 17), (27, 25), (35, 17), (35, 25)]  # the four central cells
    for (r, c), tile in zip(corners, y[:, 0], strict=True):
        np.testing.assert_array_equal(tile, image[r : r + 8, c : c + 8])
    x5, y5 = sr.grid_tiles(image, 4, 2, 5)
    np.testing.assert_array_equal(y5, y[:5])
    np.testing.assert_array_equal(x5, x[:5])
    with pytest.raises(DataError, match=r"^image is 50x70 pixels \(WxH\), smaller than the 72x72"):
        sr.grid_tiles(image, 24, 3, 5)


# --- BSDS300 -----------------------------------------------------------------------------


def _load_bsd(path: Path, **kwargs) -> Dataset:
    args = {"tile": 8, "factor": 2, "patches": 5, "test_tiles": 4, "seed": 0} | kwargs
    return bsd300.load(path, **args)


@pytest.mark.parametrize("via_parent", [True, False])
def test_bsd300_loads(tmp_path: Path, via_parent: bool) -> None:
    folder = write_bsd300(tmp_path, n_train=3, n_test=2, size=(48, 40))
    path = folder if via_parent else folder / "BSDS300"
    check_dataset_path("bsd300", path)
    train, test = bsd300.find_files(path)
    ids = (folder / "BSDS300" / "iids_train.txt").read_text().split()
    assert [f.stem for f in train] == ids and len(test) == 2
    data = _load_bsd(path)
    assert data.name == "bsd300" and data.task == "superres" and data.upscale == 2
    assert data.num_classes == 0 and data.pixel_max == 255
    assert data.input_shape == (1, 8, 8)
    assert data.x_train.shape == (15, 1, 8, 8) and data.y_train.shape == (15, 1, 16, 16)
    # 48x40 holds a 3x2 grid of 16x16 tiles; 4 kept per test image.
    assert data.x_test.shape == (8, 1, 8, 8) and data.y_test.shape == (8, 1, 16, 16)
    for a in (data.x_train, data.y_train, data.x_test, data.y_test):
        assert a.dtype == np.uint8
    np.testing.assert_array_equal(data.x_train, sr.downscale(data.y_train, 2))
    np.testing.assert_array_equal(data.x_test, sr.downscale(data.y_test, 2))
    # Test tiles come rank by rank: the centre tile of each test image first.
    first = bsd300.read_y(test[0])
    np.testing.assert_array_equal(data.y_test[0], sr.grid_tiles(first, 8, 2, 1)[1][0])


def test_bsd300_is_deterministic(tmp_path: Path) -> None:
    write_bsd300(tmp_path, n_train=2, n_test=2)
    a, b, c = _load_bsd(tmp_path), _load_bsd(tmp_path), _load_bsd(tmp_path, seed=1)
    for name in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.y_train, c.y_train)
    np.testing.assert_array_equal(a.y_test, c.y_test)  # the test tiles do not depend on seed


def test_bsd300_through_load_dataset(tmp_path: Path) -> None:
    write_bsd300(tmp_path, n_train=2, n_test=3, size=(60, 45))
    data = load_dataset("bsd300", tmp_path, tile=5, upscale=3, patches=4, test_tiles=2, limit=5)
    assert data.x_train.shape == (5, 1, 5, 5) and data.y_train.shape == (5, 1, 15, 15)
    assert data.x_test.shape == (5, 1, 5, 5) and data.upscale == 3
    full = load_dataset("bsd300", tmp_path, tile=5, upscale=3, patches=4, test_tiles=2)
    assert len(full.x_train) == 8 and len(full.x_test) == 6
    np.testing.assert_array_equal(data.y_test, full.y_test[:5])


def test_bsd300_missing_parts(tmp_path: Path) -> None:
    write_bsd300(tmp_path)
    root = tmp_path / "BSDS300"
    shutil.rmtree(root / "images" / "test")
    expected = (
        r"\(expected layout: images/train/\*\.jpg, images/test/\*\.jpg, iids_train\.txt, "
        r"iids_test\.txt\)$"
    )
    with pytest.raises(DataError, match=r"^BSDS300 at .*BSDS300: missing images/test/ " + expected):
        check_dataset_path("bsd300", tmp_path)
    (root / "iids_train.txt").unlink()
    with pytest.raises(DataError, match=r": missing images/test/, iids_train\.txt \(expected"):
        load_dataset("bsd300", root)


def test_bsd300_missing_iids_file(tmp_path: Path) -> None:
    write_bsd300(tmp_path)
    (tmp_path / "BSDS300" / "iids_test.txt").unlink()
    with pytest.raises(DataError, match=r"BSDS300 at .*: missing iids_test\.txt \(expected"):
        bsd300.find_files(tmp_path)


def test_bsd300_ids_without_images(tmp_path: Path) -> None:
    write_bsd300(tmp_path, n_train=2, n_test=1)
    ids = tmp_path / "BSDS300" / "iids_test.txt"
    ids.write_text(ids.read_text() + "101085\n\n 2092 \n3096\n")
    with pytest.raises(
        DataError,
        match=r"^BSDS300 at .*: iids_test\.txt lists 3 ids with no image in images/test/: "
        r"101085, 2092, 3096$",
    ):
        bsd300.find_files(tmp_path)
    many = "".join(f"{i}\n" for i in range(100, 107))
    ids.write_text(many)
    with pytest.raises(
        DataError, match=r"lists 7 ids with no .*: 100, 101, 102, 103, 104, \.\.\.$"
    ):
        bsd300.find_files(tmp_path)
    ids.write_text("\n")
    with pytest.raises(DataError, match=r"id list '.*iids_test\.txt' lists no image ids$"):
        bsd300.find_files(tmp_path)


def test_bsd300_needs_a_folder_and_readable_images(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"^dataset 'bsd300' needs a path: the BSDS300 folder"):
        check_dataset_path("bsd300", None)
    with pytest.raises(DataError, match=r"^bsd300 path '.*nowhere' is not a folder"):
        load_dataset("bsd300", tmp_path / "nowhere")
    write_bsd300(tmp_path, n_train=1, n_test=1)
    train, _ = bsd300.find_files(tmp_path)
    train[0].write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=r"^cannot decode image '.*\.jpg'"):
        _load_bsd(tmp_path)


def test_bsd300_image_smaller_than_the_crop(tmp_path: Path) -> None:
    write_bsd300(tmp_path, n_train=1, n_test=1, size=(48, 40))
    with pytest.raises(
        DataError, match=r"^BSDS300 image '.*\.jpg' is 48x40 pixels \(WxH\), smaller than the 42x42"
    ):
        _load_bsd(tmp_path, tile=14, factor=3)


# --- the sklearn sample photos -----------------------------------------------------------


def _find(image: np.ndarray, patch: np.ndarray) -> list[tuple[int, int]]:
    """Every top-left corner where ``patch`` (or a flipped version of it) occurs in ``image``."""
    size = patch.shape[0]
    n_rows, n_cols = image.shape[0] - size + 1, image.shape[1] - size + 1
    found = []
    for variant in (patch, patch[:, ::-1], patch[::-1, :], patch[::-1, ::-1]):
        # Candidates from a few pixels, then a full comparison.
        hit = np.ones((n_rows, n_cols), dtype=bool)
        for dr, dc in [(0, 0), (0, 1), (1, 0), (size // 2, size // 3), (size - 1, size - 1)]:
            hit &= image[dr : dr + n_rows, dc : dc + n_cols] == variant[dr, dc]
        for r, c in zip(*np.nonzero(hit), strict=True):
            if np.array_equal(image[r : r + size, c : c + size], variant):
                found.append((int(r), int(c)))
    return found


def test_samples_load_and_hold_out_the_bottom_rows() -> None:
    data = samples.load(None, tile=16, factor=2, patches=6, test_tiles=5, seed=0)
    assert data.name == "samples" and data.task == "superres" and data.upscale == 2
    assert data.x_train.shape == (12, 1, 16, 16) and data.y_train.shape == (12, 1, 32, 32)
    assert data.x_test.shape == (10, 1, 16, 16) and data.y_test.shape == (10, 1, 32, 32)
    np.testing.assert_array_equal(data.x_train, sr.downscale(data.y_train, 2))
    np.testing.assert_array_equal(data.x_test, sr.downscale(data.y_test, 2))
    photos = [image for _, image in samples.images()]
    assert [p.shape for p in photos] == [(427, 640), (427, 640)]
    split = samples.split_row(427)
    assert split == 320
    for crop in data.y_train[:, 0]:
        spots = [s for p in photos for s in _find(p, crop)]
        assert spots and all(r + 32 <= split for r, _ in spots), spots
    for tile in data.y_test[:, 0]:
        spots = [s for p in photos for s in _find(p, tile)]
        assert spots and all(r >= split for r, _ in spots), spots
    # No test tile is any train crop (in any flip).
    for tile in data.y_test[:, 0]:
        for crop in data.y_train[:, 0]:
            for v in (crop, crop[:, ::-1], crop[::-1], crop[::-1, ::-1]):
                assert not np.array_equal(tile, v)


def test_samples_through_load_dataset() -> None:
    check_dataset_path("samples", None)
    a = load_dataset("samples", tile=8, upscale=3, patches=3, test_tiles=50, seed=2)
    b = load_dataset("samples", tile=8, upscale=3, patches=3, test_tiles=50, seed=2)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    assert a.y_train.shape == (6, 1, 24, 24)
    # The held-out 107 rows hold 4 rows x 26 columns of 24x24 tiles; 50 kept per photo.
    assert a.y_test.shape == (100, 1, 24, 24) and a.upscale == 3
    assert load_dataset("samples", limit=4).x_test.shape == (4, 1, 16, 16)


def test_samples_refuse_a_path_and_too_big_tiles(tmp_path: Path) -> None:
    message = r"^dataset 'samples' is embedded in scikit-learn and takes no path, got '.*'$"
    with pytest.raises(DataError, match=message):
        load_dataset("samples", tmp_path)
    with pytest.raises(DataError, match=message):
        check_dataset_path("samples", tmp_path)
    with pytest.raises(
        DataError,
        match=r"^samples: the held-out rows 320\.\.426 of china\.jpg is 640x107 pixels",
    ):
        load_dataset("samples", tile=60, upscale=2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tile": 0}, r"^tile must be an integer >= 1, not 0$"),
        ({"upscale": 1}, r"^upscale must be an integer >= 2, not 1$"),
        ({"upscale": 2.0}, r"^upscale must be an integer >= 2, not 2\.0$"),
        ({"patches": 0}, r"^patches must be an integer >= 1, not 0$"),
        ({"test_tiles": True}, r"^test_tiles must be an integer >= 1, not True$"),
        ({"seed": -1}, r"^seed must be a non-negative integer, not -1$"),
    ],
)
def test_superres_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_dataset("samples", **kwargs)


def test_dataset_names() -> None:
    assert set(SUPERRES_DATASETS) <= set(DATASETS)
    assert DATASETS[:3] == ("digits", "mnist", "cifar10")


# --- Dataset checks for super-resolution -------------------------------------------------


def _sr(
    x_train: np.ndarray, y_train: np.ndarray, x_test=None, y_test=None, pixel_max: int = 255
) -> Dataset:
    x_test = x_train if x_test is None else x_test
    y_test = y_train if y_test is None else y_test
    return Dataset("t", x_train, y_train, x_test, y_test, 0, pixel_max)


def test_dataset_holds_superres_pairs() -> None:
    x = np.zeros((3, 1, 4, 5), dtype=np.uint8)
    y = np.zeros((3, 1, 12, 15), dtype=np.uint8)
    data = _sr(x, y)
    assert data.task == "superres" and data.upscale == 3 and data.input_shape == (1, 4, 5)
    labels = Dataset("c", x, np.zeros(3, dtype=np.int64), x, np.zeros(3, dtype=np.int64), 10, 255)
    assert labels.task == "classify" and labels.upscale == 1


def test_dataset_checks_superres_arrays() -> None:
    x = np.zeros((3, 1, 4, 4), dtype=np.uint8)
    y = np.zeros((3, 1, 8, 8), dtype=np.uint8)
    with pytest.raises(
        DataError,
        match=r"^t: y_train must be uint8 high-resolution images \(N, C, H\*f, W\*f\) for "
        r"super-resolution \(num_classes 0\), not int64 with shape \(3,\)$",
    ):
        _sr(x, np.zeros(3, dtype=np.int64))
    with pytest.raises(DataError, match=r"^t: y_test holds 2 images of 1 channels but x_test 3"):
        _sr(x, y, x, y[:2])
    with pytest.raises(DataError, match=r"^t: y_train holds 3 images of 3 channels but x_train 3 "):
        _sr(x, np.zeros((3, 3, 8, 8), dtype=np.uint8))
    with pytest.raises(
        DataError,
        match=r"^t: y_train images \(8x12\) must be x_train images \(4x4\) scaled by one integer "
        r"factor >= 2 in height and width \(HxW\)$",
    ):
        _sr(x, np.zeros((3, 1, 8, 12), dtype=np.uint8))
    with pytest.raises(DataError, match=r"^t: y_train images \(4x4\) must be x_train images"):
        _sr(x, x)
    with pytest.raises(DataError, match=r"^t: y_train images \(10x10\) must be x_train images"):
        _sr(x, np.zeros((3, 1, 10, 10), dtype=np.uint8))
    with pytest.raises(
        DataError, match=r"^t: train pairs upscale by 2 but test pairs by 3; both parts need"
    ):
        _sr(x, y, x, np.zeros((3, 1, 12, 12), dtype=np.uint8))
    with pytest.raises(DataError, match=r"^t: y_test has pixel value 17 above the format's"):
        _sr(x, y, x, y + 17, pixel_max=16)
    with pytest.raises(DataError, match=r"^t: train images \(1, 4, 4\) and test images"):
        _sr(x, y, x[:, :, :2, :2], y[:, :, :4, :4])
    with pytest.raises(DataError, match=r"^t: num_classes must be an integer >= 0"):
        Dataset("t", x, y, x, y, -1, 255)


def test_psnr_per_image_pools_the_tiles_of_an_image():
    target = np.zeros((3, 1, 2, 2), dtype=np.uint8)
    pred = target.copy()
    pred[0] += 2  # image 0: tiles 0 and 1 (MSE 4 and 0 -> 2), image 1: tile 2 (MSE 0)
    per_image = sr.psnr(pred, target, groups=np.array([0, 0, 1]))
    assert per_image == pytest.approx((10 * math.log10(255**2 / 2) + sr.PSNR_CAP_DB) / 2)
    per_tile = sr.psnr(pred, target)
    assert per_tile == pytest.approx((10 * math.log10(255**2 / 4) + 2 * sr.PSNR_CAP_DB) / 3)
    with pytest.raises(ValueError, match="groups of shape"):
        sr.psnr(pred, target, groups=np.array([0, 1]))


def test_sr_loaders_group_test_tiles_by_image():
    from flow.data import samples

    ds = samples.load(None, tile=8, factor=2, patches=2, test_tiles=3, seed=0)
    assert ds.test_groups.tolist() == [0, 1, 0, 1, 0, 1]  # interleaved rank by rank
