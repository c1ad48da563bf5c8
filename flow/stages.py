"""The stages of a build, in order, and where each one records that it finished.

Kept free of heavy imports: the pipeline runs these stages, and readers (``inspect``,
``report``, ``sweep``) list them without importing any stage.
"""

from __future__ import annotations

from pathlib import Path

from flow import artifacts
from flow.config_parse import suggest
from flow.errors import A2QError
from flow.util import file_digest

# The order lives with the build folder layout it describes.
STAGE_NAMES = artifacts.STAGES


def stage_index(name: str, option: str) -> int:
    """Index of a stage by name; an unknown name is an error naming the option."""
    if name not in STAGE_NAMES:
        hint = suggest(str(name), list(STAGE_NAMES))
        raise A2QError(
            f"{option}: unknown stage {name!r}{hint}; stages are {', '.join(STAGE_NAMES)}"
        )
    return STAGE_NAMES.index(name)


def stage_status(build_dir: Path, stage: str) -> dict | None:
    """The ``.stage.json`` of a finished stage, or None."""
    return artifacts.marker(stage).load(build_dir)


def output_digests(stage_dir: Path) -> dict[str, str]:
    """The content hash of every file a stage left in its folder (its marker aside), recorded
    in ``.stage.json`` so a later run can tell its results were not changed since."""
    return {
        p.relative_to(stage_dir).as_posix(): file_digest(p)
        for p in sorted(Path(stage_dir).rglob("*"))
        if p.is_file() and p.name != artifacts.STAGE_MARKER
    }


def damaged_outputs(build_dir: Path, stage: str, marker: dict) -> list[str]:
    """The files of a finished stage that are missing or whose content changed since its
    marker was written (``export/model.onnx (changed)``); none for a marker that recorded
    no hashes (written by a version before they were)."""
    stage_dir = Path(build_dir) / stage
    out = []
    for rel, digest in (marker.get("outputs") or {}).items():
        path = stage_dir / rel
        if not path.is_file():
            out.append(f"{stage}/{rel} (missing)")
        elif file_digest(path) != digest:
            out.append(f"{stage}/{rel} (changed)")
    return out


def stage_file(stage_dir: Path, artifact: artifacts.Artifact) -> Path:
    """Where ``artifact`` lies in a folder of its stage's files: a build's ``<stage>/`` or a
    stand-alone output folder (``a2q compile --out``, a training run of its own)."""
    return Path(stage_dir) / Path(artifact.path).relative_to(artifact.stage)
