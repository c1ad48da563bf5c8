"""The digest of the code behind a stage's results: part of the stage's cache key.

A stage's results depend on the ``flow`` modules its entry module imports, directly or
through others (function-level imports included), and, for the hardware stage, on the
templates in ``hw_templates/``. Their files are read and hashed once per process.

The data the package ships (the templates, the benchmark configs) lives beside ``flow/`` in a
checkout and inside it in an installed wheel: :func:`shipped_dir` finds it in both.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

FLOW_DIR = Path(__file__).resolve().parent


def shipped_dir(name: str) -> Path:
    """The folder of shipped data ``name`` (``hw_templates``, ``configs``): ``flow/<name>/``
    when installed from a wheel (setup.py maps the checkout's top-level folder into the
    package), else ``<checkout>/<name>/`` (a checkout, or an editable install of it)."""
    installed = FLOW_DIR / name
    return installed if installed.is_dir() else FLOW_DIR.parent / name


TEMPLATE_DIR = shipped_dir("hw_templates")
CONFIG_DIR = shipped_dir("configs")

# Packages that load their modules by discovery (the op registry), not by import statements.
_DISCOVERED = ("flow.ops",)


@functools.cache
def _modules() -> dict[str, Path]:
    """Every module of the ``flow`` package (a package by its ``__init__.py``)."""
    out = {}
    for path in sorted(FLOW_DIR.rglob("*.py")):
        parts = path.relative_to(FLOW_DIR.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


@functools.cache
def _imports(module: str) -> frozenset[str]:
    """The ``flow`` modules that importing ``module`` runs, its own packages included."""
    modules = _modules()
    found = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
    for node in ast.walk(ast.parse(modules[module].read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found.update(n for n in names if n in modules)
    if module in _DISCOVERED:
        found.update(m for m in modules if m.startswith(module + "."))
    return frozenset(found & modules.keys())


def _closure(module: str) -> list[str]:
    seen: set[str] = set()
    todo = [module]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(_imports(m) - seen)
    return sorted(seen)


@functools.cache
def code_digest(module: str, templates: bool = False) -> str:
    """SHA-256 (first 16 hex digits) of ``module``'s source, of every ``flow`` module it
    imports and the ``.sv`` files beside them, and of ``hw_templates/`` when ``templates``."""
    files = [(m, _modules()[m]) for m in _closure(module)]
    # SystemVerilog beside a module (the simulation testbench parts) is its code too.
    folders = sorted({path.parent for _, path in files})
    files += [(str(p.relative_to(FLOW_DIR)), p) for d in folders for p in sorted(d.glob("*.sv"))]
    if templates and TEMPLATE_DIR.is_dir():
        found = sorted(p for p in TEMPLATE_DIR.rglob("*") if p.is_file())
        files += [(f"hw_templates/{p.relative_to(TEMPLATE_DIR)}", p) for p in found]
    h = hashlib.sha256()
    for name, path in files:
        h.update(f"{name}\0".encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]
