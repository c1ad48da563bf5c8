"""The install paths cannot drift apart: Makefile, Dockerfile, pyproject and CI agree."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _make_dry(*args: str) -> str:
    """What `make -n <args>` would run, with the Makefile's own defaults: a calling make's
    variables are not passed on (`.ci/run`'s `make test PYTHON=python3 EXTRAS=dev,ray` puts
    them in the environment and in MAKEFLAGS), only PATH and HOME are."""
    env = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    return subprocess.run(
        ["make", "-n", "-C", str(ROOT), *args], capture_output=True, text=True, check=True, env=env
    ).stdout


def test_dockerfile_installs_through_make():
    docker = (ROOT / "docker" / "Dockerfile").read_text()
    assert re.search(r"^RUN make install\b", docker, re.M)
    # No second, independent list of versions in the image.
    assert "pip install" not in docker
    assert re.search(r"^USER a2q$", docker, re.M)  # not root
    assert 'VOLUME ["/home/a2q/a2q-flow/build"]' in docker
    assert "python:3.11" in docker


def test_pins_live_in_one_place():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = {re.split(r"[=<>\[ ]", d)[0]: d for d in project["dependencies"]}
    for name, pin in [
        ("torch", "torch==2.13.0"),
        ("brevitas", "brevitas==0.13.4"),
        ("qonnx", "qonnx==1.0.0"),
        ("onnx", "onnx==1.21.0"),
        ("onnxruntime", "onnxruntime==1.25.1"),
    ]:
        assert deps[name] == pin
    assert "psutil" in deps  # finn-plus uses it without declaring it
    makefile = (ROOT / "Makefile").read_text()
    assert "TORCH_SPEC  ?= torch==2.13.0" in makefile
    assert "FINN_SPEC   ?= finn-plus==1.6.1" in makefile
    install = _make_dry("install") if not (ROOT / ".venv" / ".installed").exists() else makefile
    assert "--no-deps" in install and "finn-plus==1.6.1" in install


def test_every_config_and_sweep_has_a_make_target():
    for cfg in (ROOT / "configs").glob("*.yaml"):
        target = cfg.stem.replace("_", "-")
        out = _make_dry(target)
        assert f"run configs/{cfg.name}" in out, target
    for sweep in (ROOT / "configs" / "sweeps").glob("*.yaml"):
        target = "sweep-" + sweep.stem.replace("_", "-")
        assert f"sweep configs/sweeps/{sweep.name}" in _make_dry(target), target


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci and "make test" in readme and "make demo" in readme


def test_ray_is_an_optional_extra_that_ci_installs():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["optional-dependencies"]["ray"] == ["ray==2.60.0"]
    assert not any(d.startswith("ray") for d in project["dependencies"])
    assert "EXTRAS=dev,ray" in (ROOT / ".ci" / "run").read_text()
    dry = subprocess.run(
        ["make", "-n", "-B", "-C", str(ROOT), "install", "EXTRAS=dev,ray"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert '-m pip install -q -e ".[dev,ray]"' in dry
    # The local engine (the default) never imports Ray.
    code = "import sys, flow.cli, flow.sweep, flow.engines; assert 'ray' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
