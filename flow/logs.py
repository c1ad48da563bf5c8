"""Logging of the ``flow`` loggers: one console handler, optionally a build's log file."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def setup_logging(quiet: bool, log_file: Path | None = None) -> None:
    """Log ``flow.*`` to stderr (warnings only when ``quiet``) and, if given, to ``log_file``."""
    root = logging.getLogger("flow")
    root.setLevel(logging.INFO)
    root.handlers.clear()
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING if quiet else logging.INFO)
    console.setFormatter(logging.Formatter("%(levelname).1s %(message)s"))
    root.addHandler(console)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(log_file)
        fh.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        root.addHandler(fh)
