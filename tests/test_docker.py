"""The Docker path, checked without a Docker engine: what goes into the image, in which order
it is installed, and what the Makefile's docker-* targets run."""

from __future__ import annotations

import re
import shlex
import tomllib

from tests.test_packaging import ROOT, _make_dry

# Stands in for the value a user passes: `make docker-build TORCH_PIP_ARGS=...`.
TORCH_PIP_ARGS = "--index-url https://download.pytorch.org/whl/cpu"


def _dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "docker" / "Dockerfile").read_text())
    # Comment lines start with "#", which the keyword pattern does not match.
    return [(kw.upper(), args.strip()) for kw, args in re.findall(r"^\s*(\w+)\s+(.*)$", text, re.M)]


def _copy_sources(args: str) -> list[str]:
    """The source paths of a COPY instruction (its --flags and destination left out)."""
    return [w for w in shlex.split(args) if not w.startswith("--")][:-1]


def _dockerignored(path: str) -> bool:
    """Whether .dockerignore leaves `path` (or a folder above it) out of the build context."""
    ignored = False
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        keep = pattern.startswith("!")
        parts = re.split(r"(\*\*/|\*\*|\*|\?)", pattern.lstrip("!").strip("/"))
        wildcards = {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
        regex = "".join(wildcards.get(p, re.escape(p)) for p in parts)
        if re.fullmatch(rf"{regex}(/.*)?", path):
            ignored = not keep
    return ignored


def test_dockerignore_leaves_out_local_state_but_not_the_sources():
    for path in [
        ".venv/.installed",
        ".venv/bin/python",
        "build/tfc_digits/report.md",
        ".git/HEAD",
        "flow/passes/__pycache__/layer_summary.cpython-311.pyc",
        "a2q_flow.egg-info/PKG-INFO",
        ".pytest_cache/README.md",
        ".ruff_cache/CACHEDIR.TAG",
        "dist/a2q_flow-0.1.0.tar.gz",
    ]:
        assert _dockerignored(path), path
    for path in [
        "Makefile",
        "pyproject.toml",
        "README.md",
        "flow/__init__.py",
        "flow/passes/layer_summary.py",
        "configs/tfc_digits.yaml",
        "hw_templates/dwc.sv",
    ]:
        assert not _dockerignored(path), path


def test_dependencies_are_installed_before_the_sources_are_copied():
    steps = _dockerfile()
    install = next(
        i for i, (kw, args) in enumerate(steps) if kw == "RUN" and "make install" in args
    )
    copies = [(i, _copy_sources(args)) for i, (kw, args) in enumerate(steps) if kw == "COPY"]
    whole_tree = [i for i, sources in copies if {".", "flow", "flow/"} & set(sources)]
    assert whole_tree and min(whole_tree) > install
    # Before the install only single files, and all that `make install` reads: the Makefile,
    # its install stamp's prerequisites and the module setuptools reads the version from.
    copied_first = {s for i, sources in copies if i < install for s in sources}
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    module = setuptools["dynamic"]["version"]["attr"].rsplit(".", 1)[0].replace(".", "/")
    module = f"{module}.py" if (ROOT / f"{module}.py").exists() else f"{module}/__init__.py"
    stamp_rule = re.search(r"^\$\(STAMP\):(.*)$", (ROOT / "Makefile").read_text(), re.M)
    needed = {"Makefile", module, *stamp_rule[1].split()}
    assert copied_first == needed
    arg = next(i for i, (kw, args) in enumerate(steps) if kw == "ARG" and "TORCH_PIP_ARGS" in args)
    assert steps[0][0] == "FROM" and arg < install  # declared in the stage that installs


def test_the_image_runs_exactly_what_make_install_runs():
    run = next(args for kw, args in _dockerfile() if kw == "RUN" and "make install" in args)
    command = next(c for c in run.split("&&") if "make install" in c)
    command = re.sub(r"\$\{?TORCH_PIP_ARGS\}?", TORCH_PIP_ARGS, command)
    make, target, *variables = shlex.split(command)
    assert (make, target) == ("make", "install")
    in_image = _make_dry("-B", "install", *variables)
    # Whatever else the image names (the interpreter), it installs the same pins and extras in
    # the same order as `make install TORCH_PIP_ARGS=...` on a bare machine.
    assert in_image == _make_dry("-B", "install", f"TORCH_PIP_ARGS={TORCH_PIP_ARGS}")
    assert f'pip install -q {TORCH_PIP_ARGS} "torch==2.13.0"' in in_image
    assert '-m pip install -q -e ".[dev]"' in in_image
    assert '-m pip install -q --no-deps "finn-plus==1.6.1"' in in_image


def test_docker_build_passes_torch_pip_args_as_build_arg():
    line = next(
        line
        for line in _make_dry("docker-build", f"TORCH_PIP_ARGS={TORCH_PIP_ARGS}").splitlines()
        if line.startswith("docker build")
    )
    words = shlex.split(line)
    assert words[words.index("--build-arg") + 1] == f"TORCH_PIP_ARGS={TORCH_PIP_ARGS}"
    assert words[words.index("-f") + 1] == "docker/Dockerfile"


def test_docker_run_creates_build_before_mounting_it():
    lines = _make_dry("docker-run").splitlines()
    run = next(i for i, line in enumerate(lines) if line.startswith("docker run"))
    assert "mkdir -p build" in lines[:run]
    words = shlex.split(lines[run])
    assert words[words.index("-v") + 1].startswith(f"{ROOT}/build:")
