"""The dataset of a build config: what the train, export, verify and sim stages load.

Needs no torch: the stages that only evaluate (verify, sim) load data without it.
"""

from __future__ import annotations

from pathlib import Path

from flow.config import BuildConfig, pixel_bits_of
from flow.data import load_dataset
from flow.data.base import Dataset


def load_data(cfg: BuildConfig) -> Dataset:
    """The dataset a config names."""
    d = cfg.data
    return load_dataset(
        d.dataset,
        Path(d.path) if d.path else None,
        seed=cfg.seed,
        test_fraction=d.test_fraction,
        limit=d.limit,
        tile=d.tile,
        upscale=d.upscale,
        patches=d.patches,
        test_tiles=d.test_tiles,
        pixel_bits=pixel_bits_of(cfg),
    )
