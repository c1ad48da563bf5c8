"""Shared fixtures: tiny configs that train in seconds."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import yaml

TINY = {
    "name": "tiny",
    "seed": 0,
    "data": {"dataset": "digits"},
    "model": {"hidden": [32, 32], "weight_bits": 4, "act_bits": 4},
    "quant": {"method": "a2q_plus", "acc_bits": 12},
    "train": {"float_epochs": 2, "qat_epochs": 2, "batch_size": 128, "threads": 1},
    "export": {"check_samples": 20},
}


def finish_stages(build: Path) -> Path:
    """Mark every stage folder of a hand-written build finished (a ``.stage.json``), as the
    pipeline does: readers ignore the files of a stage that did not finish."""
    from flow.artifacts import STAGES
    from flow.util import write_json

    for stage in STAGES:
        marker = build / stage / ".stage.json"
        if (build / stage).is_dir() and not marker.exists():
            write_json(marker, {"stage": stage, "digest": f"{stage:0<16}"[:16]})
    return build


def write_config(tmp_path: Path, data: dict, name: str = "tiny.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def tiny_data() -> dict:
    """A deep copy of the tiny config's data, to modify per test."""
    import copy

    return copy.deepcopy(TINY)


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory):
    """The tiny config built through every stage once per test session: (config, build dir)."""
    import copy

    from flow.config import parse_config
    from flow.pipeline import run_pipeline

    root = tmp_path_factory.mktemp("build")
    cfg = parse_config(copy.deepcopy(TINY))
    run_pipeline(cfg, root, show_progress=False)
    return cfg, root / "tiny"


def write_cifar10(folder: Path, per_batch: int = 24, test: int = 16, seed: int = 0) -> Path:
    """A small CIFAR-10 in the real "python version" layout (pickled dicts of uint8 rows).

    Writes ``folder/cifar-10-batches-py`` and returns ``folder`` (what ``data.path`` takes).
    """
    rng = np.random.default_rng(seed)
    root = folder / "cifar-10-batches-py"
    root.mkdir(parents=True, exist_ok=True)
    for name, n in [*((f"data_batch_{i}", per_batch) for i in range(1, 6)), ("test_batch", test)]:
        batch = {
            b"batch_label": name.encode(),
            b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
            b"labels": [int(v) for v in rng.integers(0, 10, size=n)],
        }
        with (root / name).open("wb") as f:
            pickle.dump(batch, f)
    return folder


def write_bsd300(
    folder: Path,
    n_train: int = 3,
    n_test: int = 2,
    size: tuple[int, int] = (48, 40),
    seed: int = 0,
) -> Path:
    """A small BSDS300 in its standard layout: real JPEG files and the two iids files.

    Writes ``folder/BSDS300/images/{train,test}/<iid>.jpg`` (RGB, ``size`` = (W, H), smooth
    random content) and ``folder/BSDS300/iids_{train,test}.txt``, and returns ``folder`` (what
    ``data.path`` takes; the ``BSDS300`` folder itself works too). Ids are 6-digit numbers.
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    root = folder / "BSDS300"
    ids = [str(i) for i in rng.choice(np.arange(100000, 1000000), n_train + n_test, replace=False)]
    width, height = size
    for part, part_ids in (("train", ids[:n_train]), ("test", ids[n_train:])):
        images = root / "images" / part
        images.mkdir(parents=True, exist_ok=True)
        for iid in part_ids:
            # Coarse random colours, bicubic-enlarged, plus a little noise: photo-like content.
            coarse = rng.integers(0, 256, size=(max(height // 8, 2), max(width // 8, 2), 3))
            smooth = Image.fromarray(coarse.astype(np.uint8)).resize(
                (width, height), Image.Resampling.BICUBIC
            )
            noise = rng.integers(-12, 13, size=(height, width, 3))
            pixels = np.clip(np.asarray(smooth, dtype=np.int64) + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(images / f"{iid}.jpg", quality=90)
        (root / f"iids_{part}.txt").write_text("".join(f"{iid}\n" for iid in part_ids))
    return folder
