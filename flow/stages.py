"""The stages of a build, in order, and where each one records that it finished.

Kept free of heavy imports: the pipeline runs these stages, and readers (``inspect``,
``report``, ``sweep``) list them without importing any stage.
"""

from __future__ import annotations

from pathlib import Path

from flow import artifacts
from flow.errors import A2QError

# The order lives with the build folder layout it describes.
STAGE_NAMES = artifacts.STAGES


def stage_index(name: str, option: str) -> int:
    """Index of a stage by name; an unknown name is an error naming the option."""
    if name not in STAGE_NAMES:
        raise A2QError(f"{option}: unknown stage {name!r}; stages are {', '.join(STAGE_NAMES)}")
    return STAGE_NAMES.index(name)


def stage_status(build_dir: Path, stage: str) -> dict | None:
    """The ``.stage.json`` of a finished stage, or None."""
    return artifacts.marker(stage).load(build_dir)


def stage_file(stage_dir: Path, artifact: artifacts.Artifact) -> Path:
    """Where ``artifact`` lies in a folder of its stage's files: a build's ``<stage>/`` or a
    stand-alone output folder (``a2q compile --out``, a training run of its own)."""
    return Path(stage_dir) / Path(artifact.path).relative_to(artifact.stage)
