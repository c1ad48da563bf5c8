"""The SystemVerilog templates of ``hw_templates/`` and the files each one needs.

A template that instantiates another module says so in its own header, on a line
``// requires: out_queue.sv`` (several names separated by spaces), so the dependency is
declared once, next to the code that has it. Linting, simulation, the generated variant
folders and synthesis all take a template's files from :func:`template_files`.
"""

from __future__ import annotations

import re
from pathlib import Path

from flow.errors import HardwareError

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "hw_templates"
_REQUIRES = re.compile(r"^// requires:(.*)$", re.MULTILINE)


def template_files(template: str) -> list[str]:
    """File names in ``hw_templates/`` that ``template`` needs: what it requires (and what
    that requires) first, the template itself last, each once."""
    path = TEMPLATE_DIR / f"{template}.sv"
    if not path.is_file():
        raise HardwareError(f"no template {template!r}: {path} does not exist")
    files: list[str] = []
    for line in _REQUIRES.finditer(path.read_text()):
        for name in line.group(1).split():
            if not name.endswith(".sv"):
                raise HardwareError(f"{path}: 'requires' names {name!r}, not a .sv file")
            files += [f for f in template_files(name.removesuffix(".sv")) if f not in files]
    return [*files, path.name]


def template_paths(template: str) -> list[Path]:
    """:func:`template_files` as paths, for a simulator or linter command line."""
    return [TEMPLATE_DIR / f for f in template_files(template)]
