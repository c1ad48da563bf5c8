"""The SystemVerilog templates of ``hw_templates/`` and the files each one needs.

A template that instantiates another module says so in its own header, on a line
``// requires: out_queue.sv`` (several names separated by spaces), so the dependency is
declared once, next to the code that has it. Linting, simulation, the generated variant
folders and synthesis all take a template's files from :func:`template_sources`.
"""

from __future__ import annotations

import re
from pathlib import Path

from flow.errors import HardwareError
from flow.sources import TEMPLATE_DIR

_REQUIRES = re.compile(r"^// requires:(.*)$", re.MULTILINE)


def template_sources(path: Path) -> list[Path]:
    """The files the template at ``path`` needs: what it requires (and what that requires)
    first, the template itself last, each once. A required name is looked up beside the
    template, then in ``hw_templates/`` (an op defined outside the package may bring its own
    template and still use the shared ones)."""
    if not path.is_file():
        raise HardwareError(f"no template {path.stem!r}: {path} does not exist")
    return [*required_sources(path.read_text(), path.parent, str(path)), path]


def required_sources(text: str, folder: Path = TEMPLATE_DIR, where: str = "") -> list[Path]:
    """The template files that SystemVerilog ``text`` (a template, or a generated module)
    names on its ``// requires:`` lines, with their own requirements first, each once."""
    files: list[Path] = []
    for line in _REQUIRES.finditer(text):
        for name in line.group(1).split():
            if not name.endswith(".sv"):
                raise HardwareError(
                    f"{where or 'module'}: 'requires' names {name!r}, not a .sv file"
                )
            dep = folder / name if (folder / name).is_file() else TEMPLATE_DIR / name
            files += [f for f in template_sources(dep) if f not in files]
    return files


def template_paths(template: str) -> list[Path]:
    """The files of ``hw_templates/<template>.sv``, for a simulator or linter command line."""
    return template_sources(TEMPLATE_DIR / f"{template}.sv")
