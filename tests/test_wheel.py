"""The wheel: it carries the templates and configs, and an install of it builds on its own;
the version and help it answers with.

The install test makes a fresh environment that holds only the wheel's ``flow``: the
dependencies come from this environment's site-packages through a ``.pth`` file (nothing is
downloaded), whose own ``.pth`` files, among them the checkout's editable install, Python does
not process from there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import setuptools

import flow
from flow.cli import main
from flow.stages import STAGE_NAMES
from tests.conftest import TINY, write_config

ROOT = Path(__file__).resolve().parent.parent
# What the wheel ships besides the modules, by the checkout's paths.
SHIPPED = {
    "hw_templates": ["*.sv", "README.md"],
    "configs": ["*.yaml", "a2q-config.schema.json"],
    "configs/sweeps": ["*.yaml"],
}


def _run(*cmd: str | Path, **kw) -> str:
    """Run ``cmd``; its stdout, or a failure that shows what it printed."""
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built without network access from a copy of the working tree: setuptools
    builds in the project's build/ (the root of our build folders), and files an earlier build
    left there would end up in the wheel."""
    tmp = tmp_path_factory.mktemp("wheel")
    ignored = [line.strip("/") for line in (ROOT / ".gitignore").read_text().split()]
    shutil.copytree(ROOT, tmp / "src", ignore=shutil.ignore_patterns(".git", *ignored))
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index", "--no-build-isolation"]
    _run(*pip, "-q", "-w", tmp / "dist", tmp / "src")
    (found,) = (tmp / "dist").glob("a2q_flow-*.whl")
    return found


def _tree(wheel: Path) -> Path:
    """The copy of the working tree ``wheel`` was built from."""
    return wheel.parent.parent / "src"


def test_the_wheel_ships_every_module_template_and_config(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    tree = _tree(wheel)
    found = [*(tree / "flow").rglob("*.py"), *(tree / "flow").rglob("*.sv")]
    own = {f"flow/{p.relative_to(tree / 'flow')}" for p in found}
    packages = {"flow", *(f"flow.{p}" for p in setuptools.find_packages(tree / "flow"))}
    # Every module lies in a package (a folder without __init__.py would be left out).
    assert {m for m in own if m.rsplit("/", 1)[0].replace("/", ".") in packages} == own
    assert own <= names  # the modules and the SystemVerilog beside them (the testbench)
    shipped = {
        f"flow/{folder}/{p.name}"
        for folder, patterns in SHIPPED.items()
        for pattern in patterns
        for p in (tree / folder).glob(pattern)
    }
    assert len([n for n in shipped if n.startswith("flow/hw_templates/")]) >= 15
    assert "flow/configs/tfc_digits.yaml" in shipped
    assert "flow/configs/sweeps/tfc_digits.yaml" in shipped
    assert shipped <= names
    entry_points = zipfile.ZipFile(wheel).read(
        f"a2q_flow-{flow.__version__}.dist-info/entry_points.txt"
    )
    assert b"a2q = flow.cli:main" in entry_points


def test_the_installed_wheel_builds_outside_the_checkout(wheel, tmp_path):
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python, a2q = venv / "bin" / "python", venv / "bin" / "a2q"
    # The wheel first, by this environment's pip: the fresh one then holds no other a2q-flow.
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index"]
    _run(*pip, "-q", wheel)
    site = Path(
        _run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").strip()
    )
    deps = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (site / "a2q_deps.pth").write_text("".join(f"{d}\n" for d in deps))

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    where = "import flow, flow.sources as s; print(flow.__file__); print(s.TEMPLATE_DIR)"
    found = _run(python, "-c", where, cwd=work, env=env).split()
    assert all(Path(p).is_relative_to(venv) for p in found), found
    assert _run(a2q, "--version", cwd=work, env=env).strip() == f"a2q-flow {flow.__version__}"
    # The hardware stage's code digest covers the same files as in the tree it was built from.
    digest = (
        "import flow, flow.sources as s; print(flow.__file__, s.code_digest('flow.hardware', True))"
    )
    installed = _run(python, "-c", digest, cwd=work, env=env).split()
    built_from = _run(sys.executable, "-c", digest, cwd=_tree(wheel)).split()
    assert Path(built_from[0]).is_relative_to(_tree(wheel))
    assert installed[1] == built_from[1]

    tiny = {
        **TINY,
        "data": {"dataset": "digits", "limit": 400},
        "model": {**TINY["model"], "hidden": [16, 16]},
        "train": {**TINY["train"], "float_epochs": 1, "qat_epochs": 1},
    }
    config = write_config(work, tiny)
    build = tmp_path / "build"
    run = [a2q, "run", config.name, "--until", "hardware", "--build-dir", build, "--quiet"]
    _run(*run, cwd=work, env=env)
    exact = build / "tiny" / "hardware" / "exact"
    template = Path(found[1]) / "mvau.sv"
    assert (exact / "mvau.sv").read_bytes() == template.read_bytes()
    assert len(list(exact.glob("*.sv"))) > 5
    assert not (build / "tiny" / "sim").exists()


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"a2q-flow {flow.__version__}\n"
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert f"stages of a build, in order: {', '.join(STAGE_NAMES)}\n" in text
    assert "examples:\n  # every stage of a benchmark" in text
    assert "a2q config\n" in text
    with pytest.raises(SystemExit) as stop:  # a command is still required
        main([])
    assert stop.value.code == 2
    assert "required: command" in capsys.readouterr().err
