"""Shared fixtures: tiny configs that train in seconds."""

from __future__ import annotations

from pathlib import Path

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
