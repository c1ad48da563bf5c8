"""Small shared helpers: atomic file writes, hashing, progress bars."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tqdm import tqdm


def _tmp_beside(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(name, 0o644)  # mkstemp makes 0600; results are meant to be shared
    return Path(name)


def make_folder(path: Path, what: str) -> Path:
    """Create folder ``path`` (and its parents) for ``what`` (``--build-dir``, ``the build
    folder``); a file in the way is an :class:`A2QError` naming it, not a traceback."""
    from flow.errors import A2QError

    for p in (path, *path.parents):
        if p.exists() and not p.is_dir():
            raise A2QError(
                f"{p}: is a file, but {what} needs a folder there; move the file away or "
                "choose another folder"
            )
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place."""
    tmp = _tmp_beside(path)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    """Text version of ``atomic_write_bytes``."""
    atomic_write_bytes(path, text.encode())


def write_json(path: Path, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text())


def atomic_save_torch(obj: Any, path: Path) -> None:
    """``torch.save`` through a temporary file, so a killed run never leaves a torn file."""
    import torch

    tmp = _tmp_beside(path)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_npz(path: Path, **arrays: Any) -> None:
    """``numpy.savez_compressed`` through a temporary file (the ``.npz`` name kept)."""
    import numpy as np

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.npz")
    try:
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def file_digest(path: Path) -> str:
    """SHA-256 (first 16 hex digits) of a file's content."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def text_digest(*parts: str) -> str:
    """SHA-256 (first 16 hex digits) of strings joined."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def progress(it: Iterable, desc: str, enabled: bool, **kwargs: Any) -> tqdm:
    """A tqdm bar on stderr, shown only when enabled and stderr is a terminal."""
    return tqdm(
        it,
        desc=desc,
        disable=not (enabled and sys.stderr.isatty()),
        leave=False,
        dynamic_ncols=True,
        **kwargs,
    )
