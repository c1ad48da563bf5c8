"""Many modules in one Yosys process: the batch script, its progress, per-module cell counts.

Each module of a batch is synthesized out of context as ``synth_xilinx -flatten -top <module>``
alone would: ``read_slang`` elaborates every module as a top of its own (hierarchy flattened
into it), no ``hierarchy -top`` removes the others, and ``stat -json`` reports each module.
What a batch shares is Yosys's own start-up work: the Xilinx cell libraries and every
technology-mapping file are read once per process instead of once per module (measured with
Yosys 0.70: 8 s of a 9 s run for a small FIFO).

Block RAM and LUTRAM contents: ``memory_libmap`` decides how each memory is built (from its
shape and ports; content-dependent optimisations such as constant data bits happened before,
in ``memory -nomap``), and the mapping templates are then elaborated once per distinct
parameter set, ``INIT`` included, about a second per block RAM. After ``memory_libmap`` the
``INIT`` of the cells it chose is only copied into the primitives' ``INIT_xx`` parameters,
which no later pass and no resource count reads, so the batch sets it to 0 there and one
template serves every block RAM of a shape. The ``memory_libmap`` command is the one
``synth_xilinx`` runs for the family, read from its own ``echo on`` output once per Yosys
version and family (:func:`libmap_command`), so the split follows the installed Yosys.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from flow.errors import ToolError
from flow.hw.tools import log_tail, run_tool
from flow.util import atomic_write_text, read_json, text_digest

LOG_FILE = "yosys.log"
_STDOUT_FILE = "yosys.stdout"
_STAT_FILE = "stat.json"
_RSS_FILE = "maxrss_kb.txt"
# Runs yosys as its only child, so RUSAGE_CHILDREN is exactly Yosys's peak resident memory.
_MEASURED = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[2:]); "
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
    "sys.exit(code)"
)
# Memory cells memory_libmap leaves for the technology maps (block RAM, LUTRAM, UltraRAM).
_MAPPED_MEMORIES = r"t:$__XILINX_BLOCKRAM_* t:$__XILINX_LUTRAM_* t:$__XILINX_URAM_*"
_LIBMAP = re.compile(r"^yosys> (memory_libmap .*)$", re.M)

# The steps of a batch script, with the share of its time each took on the tfc_digits
# benchmark (Yosys 0.70, both variants): what the progress line's estimate is based on.
STEPS: tuple[tuple[str, str, float], ...] = (
    ("read", "reading sources", 0.08),
    ("coarse", "coarse synthesis", 0.10),
    ("memories", "mapping memories", 0.17),
    ("fine", "fine mapping", 0.15),
    ("luts", "LUT mapping", 0.47),
    ("stat", "counting cells", 0.03),
)
_STEP_MARK = "A2Q_STEP "
_STEP_LINE = re.compile(rf"^{_STEP_MARK}(\w+)$", re.M)
_ABC9_MODULE = "Executing ABC9_EXE pass"
_ABC_MODULE = "Executing ABC pass"


@dataclass(frozen=True)
class Module:
    """One module to synthesize: its sources (first ``n_sources`` of ``files``) and memories."""

    name: str
    src_dir: Path
    files: tuple[str, ...]
    n_sources: int


def synth_options(family: str, use_dsp: bool) -> str:
    """The ``synth_xilinx`` options every module is synthesized with."""
    return f"-family {family} -flatten -noiopad" + ("" if use_dsp else " -nodsp")


def recipe(family: str, use_dsp: bool) -> str:
    """Everything after reading the sources, as one string: part of each module's cache key."""
    opts = synth_options(family, use_dsp)
    return (
        f"synth_xilinx {opts} -run prepare:map_memory; <memory_libmap of synth_xilinx>; "
        f"setparam -set INIT 0 {_MAPPED_MEMORIES}; synth_xilinx {opts} -run map_memory:; "
        "stat -json"
    )


def libmap_command(exe: str, version: str, family: str, use_dsp: bool, cache_dir: Path) -> str:
    """The ``memory_libmap`` command ``synth_xilinx`` runs for ``family``, cached per version."""
    path = Path(cache_dir) / f"libmap-{text_digest(version, family, str(use_dsp))}.txt"
    if path.is_file():
        return path.read_text().strip()
    # A folder of its own: builds sharing the cache may probe at the same time.
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="libmap-probe-", dir=cache_dir))
    script = f"echo on; synth_xilinx {synth_options(family, use_dsp)} -run map_memory:map_ffram"
    run_tool([exe, "-q", "-l", LOG_FILE, "-p", script], work, work / _STDOUT_FILE, 600)
    found = _LIBMAP.findall((work / LOG_FILE).read_text())
    if len(found) != 1:
        raise ToolError(
            f"cannot find synth_xilinx's memory_libmap command for family {family!r} in "
            f"{work / LOG_FILE} ({len(found)} found); this Yosys ({version}) maps memories "
            "differently from the 0.70 flow this project expects"
        )
    atomic_write_text(path, found[0] + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return found[0]


def script(modules: list[Module], family: str, use_dsp: bool, libmap: str) -> str:
    """The Yosys script of one batch (run in a folder holding every module's files)."""
    sources: list[str] = []
    for m in modules:
        sources += [f for f in m.files[: m.n_sources] if f not in sources]
    tops = " ".join(f"--top {m.name}" for m in modules)
    opts = synth_options(family, use_dsp)
    steps = {
        "read": "read_verilog -lib -specify +/xilinx/cells_sim.v; "
        f"read_verilog -lib +/xilinx/cells_xtra.v; read_slang -j 1 {' '.join(sources)} {tops}; "
        "setattr -mod -unset top",
        "coarse": f"synth_xilinx {opts} -run prepare:map_memory",
        "memories": f"{libmap}; setparam -set INIT 0 {_MAPPED_MEMORIES}; "
        f"synth_xilinx {opts} -run map_memory:map_ffram",
        "fine": f"synth_xilinx {opts} -run map_ffram:map_luts",
        "luts": f"synth_xilinx {opts} -run map_luts:",
        "stat": f"tee -q -o {_STAT_FILE} stat -json",
    }
    return "; ".join(f"log {_STEP_MARK}{key}; {steps[key]}" for key, _, _ in STEPS)


@dataclass
class Batch:
    """Modules synthesized by one Yosys process in ``work``; ``what`` names them in messages,
    ``label`` in the progress line."""

    modules: list[Module]
    work: Path
    what: str
    label: str = ""
    # Filled while it runs (read by the progress line).
    started: float | None = None
    finished: bool = False

    def progress(self) -> tuple[float, str]:
        """(estimated fraction done, what it is doing) from the Yosys log so far."""
        if self.finished:
            return 1.0, "done"
        if self.started is None:
            return 0.0, "waiting"
        try:
            text = (self.work / LOG_FILE).read_text(errors="replace")
        except OSError:
            return 0.0, "starting"
        marks = list(_STEP_LINE.finditer(text))
        if not marks:
            return 0.0, "starting"
        keys = [key for key, _, _ in STEPS]
        i = keys.index(marks[-1].group(1))
        step, done = STEPS[i], sum(w for _, _, w in STEPS[:i])
        if step[0] != "luts":
            return done, step[1]
        luts = text[marks[-1].end() :]
        mapped = max(luts.count(_ABC9_MODULE), luts.count(_ABC_MODULE))
        share = min(mapped, len(self.modules)) / len(self.modules)
        return done + step[2] * share, f"{step[1]}, {mapped}/{len(self.modules)} modules"


def run_batch(
    batch: Batch, exe: str, family: str, use_dsp: bool, libmap: str, timeout_s: float
) -> tuple[dict[str, dict], float, float]:
    """Synthesize a batch in a fresh work folder.

    Returns (module name -> ``stat -json`` entry of that module, seconds, peak memory MB).
    Raises :class:`ToolError` naming the batch's modules and quoting the log's last lines.
    """
    work = batch.work
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for m in batch.modules:
        for f in m.files:
            if not (work / f).exists():
                shutil.copyfile(m.src_dir / f, work / f)
    text = script(batch.modules, family, use_dsp, libmap)
    args = [sys.executable, "-c", _MEASURED, _RSS_FILE, exe, "-q", "-l", LOG_FILE, "-p", text]
    log_path = work / LOG_FILE
    batch.started = time.monotonic()
    try:
        seconds = run_tool(args, work, work / _STDOUT_FILE, timeout_s)
    except ToolError as exc:
        late = time.monotonic() - batch.started >= timeout_s
        why = f"did not finish within {timeout_s:g} s" if late else "failed"
        raise ToolError(
            f"yosys {why} on {batch.what}; full log: {log_path}\n{log_tail(log_path)}"
        ) from exc
    finally:
        batch.finished = True
    stat_path = work / _STAT_FILE
    if not stat_path.is_file():
        raise ToolError(f"yosys wrote no {_STAT_FILE} for {batch.what}; full log: {log_path}")
    modules = {str(k).lstrip("\\"): v for k, v in read_json(stat_path).get("modules", {}).items()}
    missing = [m.name for m in batch.modules if m.name not in modules]
    if missing:
        raise ToolError(
            f"yosys reported no statistics for {', '.join(missing)} of {batch.what}; "
            f"full log: {log_path}"
        )
    rss_kb = int((work / _RSS_FILE).read_text() or 0)
    return {m.name: modules[m.name] for m in batch.modules}, seconds, rss_kb / 1024


class ProgressLine:
    """Logs one line every ``every`` seconds while batches run: what each does, and an ETA."""

    def __init__(self, batches: list[Batch], say, every: float = 15.0) -> None:
        self._batches = batches
        self._say = say
        self._every = every
        self._stop = threading.Event()
        self._start = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="synth-progress", daemon=True)

    def __enter__(self) -> ProgressLine:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def line(self) -> str:
        elapsed = time.monotonic() - self._start
        parts = []
        fractions = []
        for b in self._batches:
            frac, doing = b.progress()
            fractions.append(frac)
            if b.started is not None and not b.finished:
                parts.append(f"{b.label or b.what}: {doing}")
        done = sum(b.finished for b in self._batches)
        total = sum(fractions) / len(fractions)
        eta = f", about {elapsed * (1 - total) / total:.0f} s left" if total > 0.05 else ""
        return f"synthesis {done}/{len(self._batches)} Yosys runs done, {elapsed:.0f} s{eta}" + (
            f" ({'; '.join(parts)})" if parts else ""
        )

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            self._say(self.line())
