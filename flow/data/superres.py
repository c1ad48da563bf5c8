"""Super-resolution helpers: luminance, bicubic resizing, PSNR and low/high-resolution pairs.

Super-resolution works on the luminance (Y) channel only, as in the ESPCN/UNet benchmarks of
the A2Q papers: a pair is a high-resolution (HR) uint8 tile of ``tile * factor`` pixels square
and its low-resolution (LR) version of ``tile`` pixels square, made by PIL's bicubic
downscaling of that HR tile alone (so no pixel outside the tile leaks into its LR version).
Bicubic upscaling of the LR tile back to HR size is the baseline every report compares to.

Arrays are kept as uint8 images, the same layout as the classification datasets:
``(N, 1, H, W)``.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from flow.data.base import Dataset
from flow.errors import ConfigError, DataError

# A perfect reconstruction has infinite PSNR; each image's figure is capped here instead, so the
# mean over images stays finite (and a tiny MSE on a huge image cannot dominate the mean).
PSNR_CAP_DB = 100.0


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, not {value!r}")
    return int(value)


def check_args(
    *, tile: object, factor: object, patches: object, test_tiles: object, seed: object
) -> None:
    """Check the arguments every super-resolution loader takes; raise :class:`ConfigError`."""
    _check_int("tile", tile, 1)
    _check_int("upscale", factor, 2)
    _check_int("patches", patches, 1)
    _check_int("test_tiles", test_tiles, 1)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, not {seed!r}")


def luminance(rgb: np.ndarray) -> np.ndarray:
    """The luminance Y of a uint8 RGB image (H, W, 3) as a uint8 image (H, W).

    ITU-R BT.601 full range (the JFIF/JPEG Y that PIL's ``"YCbCr"`` mode also uses):
    ``Y = 0.299 R + 0.587 G + 0.114 B``, rounded half up, computed exactly in integers as
    ``(299 R + 587 G + 114 B + 500) // 1000`` (so Y stays in 0..255). A grayscale (H, W) uint8
    image already is its luminance and is returned unchanged.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or not (rgb.ndim == 2 or (rgb.ndim == 3 and rgb.shape[2] == 3)):
        raise DataError(
            f"luminance needs a uint8 RGB (H, W, 3) or grayscale (H, W) image, "
            f"not {rgb.dtype} with shape {rgb.shape}"
        )
    if rgb.ndim == 2:
        return rgb
    c = rgb.astype(np.int32)
    y = (299 * c[..., 0] + 587 * c[..., 1] + 114 * c[..., 2] + 500) // 1000
    return y.astype(np.uint8)


def _resize(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize every (H, W) plane of a uint8 array (..., H, W) with PIL bicubic."""
    lead = images.shape[:-2]
    flat = images.reshape(-1, *images.shape[-2:])
    out = np.empty((flat.shape[0], height, width), dtype=np.uint8)
    for i, plane in enumerate(flat):
        # BICUBIC is Keys' cubic (a = -0.5); on a downscale PIL widens the kernel by the
        # factor, which antialiases (as MATLAB's imresize does). Output is rounded and clipped.
        img = Image.fromarray(np.ascontiguousarray(plane))  # uint8 (H, W) -> mode "L"
        out[i] = np.asarray(img.resize((width, height), Image.Resampling.BICUBIC))
    return out.reshape(*lead, height, width)


def _check_images(what: str, images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim < 2:
        raise DataError(
            f"{what} needs uint8 images (..., H, W), not {images.dtype} with shape {images.shape}"
        )
    return images


def downscale(hr: np.ndarray, factor: int) -> np.ndarray:
    """Shrink uint8 images (..., H, W) to (..., H/factor, W/factor) with PIL bicubic.

    H and W must be multiples of ``factor`` (:class:`DataError` otherwise), so that the LR
    image covers exactly the HR one.
    """
    factor = _check_int("upscale", factor, 1)
    hr = _check_images("downscale", hr)
    h, w = hr.shape[-2:]
    if h % factor or w % factor:
        raise DataError(
            f"downscale by {factor} needs a height and width that are multiples of {factor}, "
            f"got {h}x{w} (HxW)"
        )
    return _resize(hr, h // factor, w // factor)


def bicubic_upscale(lr: np.ndarray, factor: int) -> np.ndarray:
    """Enlarge uint8 images (N, 1, h, w) (any (..., h, w)) to (N, 1, h*f, w*f), PIL bicubic.

    The baseline of every super-resolution report: a network has to beat this PSNR.
    """
    factor = _check_int("upscale", factor, 1)
    lr = _check_images("bicubic_upscale", lr)
    h, w = lr.shape[-2:]
    return _resize(lr, h * factor, w * factor)


def psnr(
    pred: np.ndarray, target: np.ndarray, peak: int = 255, groups: np.ndarray | None = None
) -> float:
    """Mean over images of each image's PSNR in dB, ``10 log10(peak^2 / MSE)``.

    ``pred`` and ``target`` are integer arrays (N, C, H, W) of the same shape; the MSE of an
    image is over its C*H*W pixels, computed in float64. With ``groups`` (N,), tiles with the
    same group are the parts of one image: its MSE is over all their pixels (the usual
    per-image PSNR of super-resolution papers, rather than a mean over tiles, which smooth
    tiles would dominate). Each image's PSNR is capped at
    :data:`PSNR_CAP_DB` (100 dB), which is also what an exact reconstruction (MSE 0) counts as.
    Round and clip a float prediction to 0..peak before calling this. Raises ValueError on a
    shape mismatch, non-integer arrays or no images.
    """
    pred = np.asarray(pred)
    target = np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(f"psnr: prediction shape {pred.shape} differs from target {target.shape}")
    if pred.ndim != 4 or pred.shape[0] == 0:
        raise ValueError(f"psnr needs arrays (N, C, H, W) with N >= 1, not shape {pred.shape}")
    for name, a in (("prediction", pred), ("target", target)):
        if not np.issubdtype(a.dtype, np.integer):
            raise ValueError(
                f"psnr: the {name} must hold integer pixels, not {a.dtype}; round and clip "
                f"it to 0..{peak} first"
            )
    diff = pred.astype(np.float64) - target.astype(np.float64)
    mse = np.mean(diff * diff, axis=(1, 2, 3))
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != (len(mse),):
            raise ValueError(f"psnr: groups of shape {groups.shape} for {len(mse)} images")
        # Tiles are the same size, so an image's MSE is the mean of its tiles'.
        mse = np.array([mse[groups == g].mean() for g in np.unique(groups)])
    with np.errstate(divide="ignore"):
        db = 10.0 * np.log10(float(peak) ** 2 / mse)
    return float(np.mean(np.minimum(db, PSNR_CAP_DB)))


def check_size(image: np.ndarray, crop: int, what: str) -> None:
    """Raise :class:`DataError` unless a Y image (H, W) holds a ``crop`` x ``crop`` tile."""
    h, w = image.shape
    if h < crop or w < crop:
        raise DataError(
            f"{what} is {w}x{h} pixels (WxH), smaller than the {crop}x{crop} high-resolution "
            f"crop (tile * upscale)"
        )


def _check_y(images: list[np.ndarray]) -> list[np.ndarray]:
    out = []
    for i, image in enumerate(images):
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 2:
            raise DataError(
                f"image {i} must be a uint8 Y image (H, W), not {image.dtype} "
                f"with shape {image.shape}"
            )
        out.append(image)
    return out


def random_pairs(
    images: list[np.ndarray], tile: int, factor: int, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` random training pairs (x, y) cut from uint8 Y images (H, W).

    Each HR crop is ``tile * factor`` pixels square, at a uniformly random position of its
    image, flipped left-right and up-down each with probability 1/2. The crops are shared out
    over the images in a shuffled round robin: each image gives ``count // len(images)`` or one
    more crops, in random order (so every image counts, whatever its size, and the first k
    pairs are a random subset). Returns ``x`` uint8 (count, 1, tile, tile) = ``downscale(y)``
    and ``y`` uint8 (count, 1, tile*factor, tile*factor); the same ``rng`` state gives the same
    pairs. An image smaller than the crop raises :class:`DataError`.
    """
    tile = _check_int("tile", tile, 1)
    factor = _check_int("upscale", factor, 2)
    count = _check_int("count", count, 1)
    images = _check_y(images)
    if not images:
        raise DataError("random_pairs needs at least one image")
    crop = tile * factor
    for i, image in enumerate(images):
        check_size(image, crop, f"image {i}")
    # All random numbers are drawn up front, in a fixed order: reproducible for a given rng.
    which = rng.permutation(np.arange(count) % len(images))
    spare_h = np.array([im.shape[0] - crop + 1 for im in images])[which]
    spare_w = np.array([im.shape[1] - crop + 1 for im in images])[which]
    tops = rng.integers(0, spare_h)
    lefts = rng.integers(0, spare_w)
    flips = rng.integers(0, 2, size=(count, 2)).astype(bool)
    y = np.empty((count, 1, crop, crop), dtype=np.uint8)
    for k in range(count):
        patch = images[which[k]][tops[k] : tops[k] + crop, lefts[k] : lefts[k] + crop]
        if flips[k, 0]:
            patch = patch[:, ::-1]
        if flips[k, 1]:
            patch = patch[::-1, :]
        y[k, 0] = patch
    return downscale(y, factor), y


def grid_positions(
    height: int, width: int, crop: int, max_tiles: int | None
) -> list[tuple[int, int]]:
    """Top-left corners (row, col) of the tiles :func:`grid_tiles` takes, in its order."""
    rows, cols = height // crop, width // crop
    top0, left0 = (height - rows * crop) // 2, (width - cols * crop) // 2
    centre_r, centre_c = (rows - 1) / 2, (cols - 1) / 2
    cells = sorted(
        ((r, c) for r in range(rows) for c in range(cols)),
        key=lambda rc: ((rc[0] - centre_r) ** 2 + (rc[1] - centre_c) ** 2, rc),
    )
    if max_tiles is not None:
        cells = cells[:max_tiles]
    return [(top0 + r * crop, left0 + c * crop) for r, c in cells]


def grid_tiles(
    image: np.ndarray, tile: int, factor: int, max_tiles: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Test pairs (x, y) from non-overlapping HR tiles of one uint8 Y image (H, W).

    The image is cut into a grid of ``tile * factor`` square tiles, centred (the leftover
    border is split evenly, the extra pixel going to the bottom/right). At most ``max_tiles``
    tiles are kept (None: all), taken from the centre outwards: ordered by the distance of the
    tile's grid cell from the grid's centre, ties in row-major order. Deterministic, no flips.
    Returns ``x`` uint8 (n, 1, tile, tile) and ``y`` uint8 (n, 1, tile*factor, tile*factor).
    An image smaller than one tile raises :class:`DataError`.
    """
    tile = _check_int("tile", tile, 1)
    factor = _check_int("upscale", factor, 2)
    if max_tiles is not None:
        max_tiles = _check_int("max_tiles", max_tiles, 1)
    (image,) = _check_y([image])
    crop = tile * factor
    check_size(image, crop, "image")
    corners = grid_positions(*image.shape, crop, max_tiles)
    y = np.stack([image[r : r + crop, c : c + crop] for r, c in corners])[:, None]
    return downscale(y, factor), np.ascontiguousarray(y)


def interleave(
    parts: list[tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Join per-image (x, y) test tiles rank by rank: every image's first tile, then seconds...

    So the first k test pairs (``limit``) still come from as many images as possible. Returns
    ``x``, ``y`` and the index of each tile's image (``groups``, int64).
    """
    longest = max(len(x) for x, _ in parts)
    order = [(i, k) for k in range(longest) for i, (x, _) in enumerate(parts) if k < len(x)]
    x = np.stack([parts[i][0][k] for i, k in order])
    y = np.stack([parts[i][1][k] for i, k in order])
    return x, y, np.array([i for i, _ in order], dtype=np.int64)


def make_dataset(
    name: str,
    train_images: list[np.ndarray],
    test_parts: list[tuple[np.ndarray, np.ndarray]],
    *,
    tile: int,
    factor: int,
    patches: int,
    seed: int,
):
    """A super-resolution :class:`~flow.data.base.Dataset`: ``patches`` random crops per training
    image (drawn from ``seed``) and the test tiles of every image, interleaved."""
    rng = np.random.default_rng(seed)
    x_train, y_train = random_pairs(train_images, tile, factor, patches * len(train_images), rng)
    x_test, y_test, groups = interleave(test_parts)
    return Dataset(
        name=name,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=0,
        pixel_max=255,
        test_groups=groups,
    )
