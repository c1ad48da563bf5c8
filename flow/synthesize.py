"""Synthesis of the generated accelerator with Yosys (open-source synthesis, not Vivado P&R).

Every node's wrapper is synthesized on its own and so is the stitched top of every hardware
variant, with ``synth_xilinx`` out of context (no I/O buffers: node ports are not chip pins).
The ``stat -json`` cell counts become logic LUTs, LUTRAM, FFs, BRAM36 equivalents and DSPs,
and the top's figures the utilization of a named part.

A synthesis run is keyed by the SHA-256 of everything that decides it (file names and
contents, the Yosys script, the Yosys version): results live in ``<out>/cache/<digest>.json``,
so a re-run with nothing changed starts no Yosys at all, and changing one layer re-synthesizes
only that layer's node and the top. Runs whose digests coincide (a FIFO identical in two
variants) are done once. Runs go in parallel, largest first, on ``jobs`` worker threads
(each waits on its own Yosys process). ``peak_memory_mb`` is the largest peak resident memory
of one Yosys run, cached with its result.

YoWASP's Yosys sees only its working folder, so each run gets a flat copy of its sources and
memory files in ``<out>/work/<variant>/<module>/`` and the wrappers must name memory files
without a directory (``$readmemh`` resolves them against that folder).

How cells count (Yosys 0.70 ``synth_xilinx``, families ``xc7`` and ``xcup``; the xcup flow
also emits ``CARRY4``, and Vivado accepts it):

- ``lut``: ``LUT1``..``LUT6`` and ``INV`` (an inverter is a LUT1 to Vivado).
- ``lutram``: LUTs used as memory, per primitive as Vivado counts them: ``RAM32X1S``,
  ``RAM64X1S``, ``SRL16E``, ``SRLC16E``, ``SRLC32E`` 1; ``RAM32X1D``, ``RAM64X1D``,
  ``RAM128X1S`` 2; ``RAM32M``, ``RAM64M``, ``RAM128X1D``, ``RAM256X1S`` 4; ``RAM32M16``,
  ``RAM64M8``, ``RAM256X1D``, ``RAM512X1S``, ``RAM32X16DR8``, ``RAM64X8SW`` 8 (UltraScale).
- ``ff``: ``FDRE``, ``FDSE``, ``FDCE``, ``FDPE`` (and their ``_1`` forms), latches ``LDCE``,
  ``LDPE``.
- ``bram36``: ``RAMB36E1``/``RAMB36E2`` 1, ``RAMB18E1``/``RAMB18E2`` 0.5; ``uram``: ``URAM288``.
- ``dsp``: ``DSP48E1``/``DSP48E2``; ``carry``: ``CARRY4``/``CARRY8``; ``muxf``: ``MUXF7``..9.
- No resource: clock and I/O buffers (``BUFG``, ``IBUF``, ``OBUF``, ...), ``GND``, ``VCC``.

Any other cell type (an unmapped ``$``-cell, a primitive added by a later Yosys) stays in the
raw ``cells`` counts and adds a warning to the result instead of vanishing.
"""

from __future__ import annotations

import copy
import logging
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flow.errors import HardwareError, ToolError
from flow.hw.tools import log_tail, run_tool, yosys
from flow.util import file_digest, read_json, text_digest, write_json

log = logging.getLogger(__name__)

FLOW = "yosys synth_xilinx (open-source synthesis, not Vivado place-and-route)"
FAMILIES = ("xc7", "xcup")
PLAN = "plan.json"
METRICS = ("lut", "lutram", "ff", "bram36", "uram", "dsp", "carry", "muxf")


@dataclass(frozen=True)
class Device:
    """Capacities of one FPGA device (any package and speed grade)."""

    family: str
    lut: int
    ff: int
    bram36: int
    dsp: int


# Keyed by device; a part name (device + package + speed grade) is matched by prefix.
DEVICES: dict[str, Device] = {
    "xc7a35t": Device("xc7", 20800, 41600, 50, 90),
    "xc7z010": Device("xc7", 17600, 35200, 60, 80),
    "xc7z020": Device("xc7", 53200, 106400, 140, 220),
    "xczu3eg": Device("xcup", 70560, 141120, 216, 360),
    "xczu7ev": Device("xcup", 230400, 460800, 312, 1728),
    "xck26": Device("xcup", 117120, 234240, 144, 1248),
}

_LUT = {f"LUT{i}": 1 for i in range(1, 7)} | {"INV": 1}
_LUTRAM = {
    **dict.fromkeys(("RAM32X1S", "RAM64X1S", "SRL16E", "SRLC16E", "SRLC32E"), 1),
    **dict.fromkeys(("RAM32X1D", "RAM64X1D", "RAM128X1S"), 2),
    **dict.fromkeys(("RAM32M", "RAM64M", "RAM128X1D", "RAM256X1S"), 4),
    **dict.fromkeys(
        ("RAM32M16", "RAM64M8", "RAM256X1D", "RAM512X1S", "RAM32X16DR8", "RAM64X8SW"), 8
    ),
}
_FF = dict.fromkeys(
    ("FDRE", "FDSE", "FDCE", "FDPE", "FDRE_1", "FDSE_1", "FDCE_1", "FDPE_1", "LDCE", "LDPE"), 1
)
_BRAM36 = {"RAMB36E1": 1.0, "RAMB36E2": 1.0, "RAMB18E1": 0.5, "RAMB18E2": 0.5}
_CELL_WEIGHTS: dict[str, dict[str, float]] = {
    "lut": _LUT,
    "lutram": _LUTRAM,
    "ff": _FF,
    "bram36": _BRAM36,
    "uram": {"URAM288": 1},
    "dsp": {"DSP48E1": 1, "DSP48E2": 1},
    "carry": {"CARRY4": 1, "CARRY8": 1},
    "muxf": {"MUXF7": 1, "MUXF8": 1, "MUXF9": 1},
}
_NO_RESOURCE = {"BUFG", "BUFGCTRL", "BUFH", "IBUF", "OBUF", "IOBUF", "OBUFT", "GND", "VCC"}

# A plan's file names go into a Yosys script and a flat work folder: plain names only.
_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")

# Runs yosys as its only child, so RUSAGE_CHILDREN is exactly Yosys's peak resident memory
# (this process's own children include compilers of earlier stages).
_MEASURED = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[2:]); "
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
    "sys.exit(code)"
)
_RSS_FILE = "maxrss_kb.txt"
_STAT_FILE = "stat.json"
_LOG_FILE = "yosys.log"


# --------------------------------------------------------------------------------- parts


def device_of(part: str) -> tuple[str, Device]:
    """The device a part name belongs to; :class:`HardwareError` listing known ones if none."""
    matches = [name for name in DEVICES if part.lower().startswith(name)]
    if not matches:
        raise HardwareError(
            f"unknown FPGA part {part!r}; known devices (any package and speed grade): "
            f"{', '.join(sorted(DEVICES))}"
        )
    name = max(matches, key=len)
    return name, DEVICES[name]


def _check_options(family: str, part: str, jobs: int, timeout_s: float) -> Device:
    if family not in FAMILIES:
        raise HardwareError(
            f"synthesis family must be one of {', '.join(FAMILIES)}, not {family!r}"
        )
    name, dev = device_of(part)
    if dev.family != family:
        raise HardwareError(
            f"part {part!r} is a {dev.family} device ({name}) but the synthesis family is "
            f"{family!r}; use family {dev.family!r}"
        )
    if not isinstance(jobs, int) or jobs < 1:
        raise HardwareError(f"synthesis jobs must be a positive integer, not {jobs!r}")
    if not timeout_s > 0:
        raise HardwareError(f"synthesis timeout must be positive seconds, not {timeout_s!r}")
    return dev


# ------------------------------------------------------------------------------ parsing


def cell_counts(stat: dict) -> dict[str, int]:
    """The cell type -> count table of a Yosys ``stat -json`` output (whole design)."""
    design = stat.get("design")
    if design is None:
        modules = stat.get("modules", {})
        if len(modules) != 1:
            raise HardwareError(
                f"stat -json output has no 'design' entry and {len(modules)} modules; "
                "expected a flattened design"
            )
        design = next(iter(modules.values()))
    cells = design.get("num_cells_by_type")
    if not isinstance(cells, dict):
        raise HardwareError("stat -json output has no 'num_cells_by_type' table")
    return {str(k).lstrip("\\"): int(v) for k, v in sorted(cells.items())}


def resources(cells: dict[str, int]) -> dict[str, Any]:
    """Resource figures (:data:`METRICS`) of a cell count table, with the raw counts.

    Returns ``{"lut", "lutram", "ff", "bram36", "uram", "dsp", "carry", "muxf", "cells",
    "warnings"}``; ``bram36`` is a float (RAMB18 = 0.5), the rest integers. A cell type that
    belongs to no metric and is not a buffer or constant is named in ``warnings``.
    """
    out: dict[str, Any] = {m: 0 for m in METRICS}
    out["bram36"] = 0.0
    unknown = []
    for cell, n in cells.items():
        for metric, weights in _CELL_WEIGHTS.items():
            if cell in weights:
                out[metric] += weights[cell] * n
                break
        else:
            if cell not in _NO_RESOURCE:
                unknown.append(f"{cell} x{n}")
    for m in METRICS:
        out[m] = float(out[m]) if m == "bram36" else int(out[m])
    out["cells"] = dict(cells)
    out["warnings"] = (
        [f"cell types not counted in any resource (kept in 'cells'): {', '.join(unknown)}"]
        if unknown
        else []
    )
    return out


def _sum(figures: list[dict]) -> dict[str, Any]:
    total: dict[str, Any] = {m: sum(f[m] for f in figures) for m in METRICS}
    total["bram36"] = float(total["bram36"])
    return total


def _utilization(fig: dict, dev: Device) -> dict[str, float]:
    """Percent of the device; LUTs count logic and memory LUTs together, as Vivado does."""
    return {
        "lut": round(100.0 * (fig["lut"] + fig["lutram"]) / dev.lut, 2),
        "ff": round(100.0 * fig["ff"] / dev.ff, 2),
        "bram36": round(100.0 * fig["bram36"] / dev.bram36, 2),
        "dsp": round(100.0 * fig["dsp"] / dev.dsp, 2),
    }


# ------------------------------------------------------------------------------- plans


@dataclass(frozen=True)
class _Request:
    """One module to synthesize: a node's wrapper or a variant's stitched top."""

    variant: str
    name: str  # node name, or the top module for the top
    is_top: bool
    src_dir: Path
    files: tuple[str, ...]  # sources first, then memory files
    n_sources: int
    layer: str | None
    op_type: str | None

    @property
    def what(self) -> str:
        kind = "stitched top" if self.is_top else "node"
        return f"{kind} {self.name!r} of variant {self.variant!r}"

    def script(self, family: str, use_dsp: bool) -> str:
        sources = " ".join(self.files[: self.n_sources])
        opts = "-flatten -noiopad" + ("" if use_dsp else " -nodsp")
        return (
            f"read_slang -j 1 {sources} --top {self.name}; "
            f"synth_xilinx -family {family} {opts} -top {self.name}; "
            f"tee -q -o {_STAT_FILE} stat -json"
        )


def _names(plan_path: Path, where: str, value: Any, pattern: re.Pattern) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise HardwareError(f"{plan_path}: {where} must be a list of names, not {value!r}")
    for v in value:
        if not pattern.fullmatch(v):
            raise HardwareError(
                f"{plan_path}: {where} has {v!r}; only plain file names in the variant folder "
                "(letters, digits, '_', '.', '-') are allowed"
            )
    return value


def _requests(variant: str, folder: Path) -> list[_Request]:
    """The node and top synthesis requests of one variant folder, with every file checked."""
    plan_path = Path(folder) / PLAN
    if not plan_path.is_file():
        raise HardwareError(f"variant {variant!r}: no {PLAN} in {folder}")
    plan = read_json(plan_path)
    if plan.get("variant", variant) != variant:
        raise HardwareError(
            f"{plan_path} is for variant {plan['variant']!r}, but was given as {variant!r}"
        )
    top = plan.get("top")
    if not isinstance(top, str) or not _MODULE_NAME.fullmatch(top):
        raise HardwareError(f"{plan_path}: 'top' must be a module name, not {top!r}")
    nodes = plan.get("nodes")
    if not isinstance(nodes, list):
        raise HardwareError(f"{plan_path}: 'nodes' must be a list, not {nodes!r}")
    out = []
    all_mem: list[str] = []
    for i, node in enumerate(nodes):
        name = node.get("name") if isinstance(node, dict) else None
        if not isinstance(name, str) or not _MODULE_NAME.fullmatch(name):
            raise HardwareError(f"{plan_path}: nodes[{i}] needs a module 'name', not {name!r}")
        sources = _names(plan_path, f"node {name!r} 'sources'", node.get("sources"), _FILE_NAME)
        mem = _names(plan_path, f"node {name!r} 'mem_files'", node.get("mem_files", []), _FILE_NAME)
        all_mem += [m for m in mem if m not in all_mem]
        out.append(
            _Request(
                variant,
                name,
                False,
                Path(folder),
                files=(*sources, *mem),
                n_sources=len(sources),
                layer=node.get("layer"),
                op_type=node.get("op_type"),
            )
        )
    if len({r.name for r in out}) != len(out):
        raise HardwareError(f"{plan_path}: node names are not unique")
    top_sources = _names(plan_path, "'top_sources'", plan.get("top_sources"), _FILE_NAME)
    out.append(
        _Request(
            variant,
            top,
            True,
            Path(folder),
            files=(*top_sources, *all_mem),
            n_sources=len(top_sources),
            layer=None,
            op_type=None,
        )
    )
    for req in out:
        missing = [f for f in req.files if not (req.src_dir / f).is_file()]
        if missing:
            raise HardwareError(
                f"{plan_path}: {req.what} needs {', '.join(missing)}, missing from {folder}"
            )
    return out


# ------------------------------------------------------------------------------ running


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


_NODE = "\0node\0"


def _digest(req: _Request, script: str, version: str) -> str:
    """Cache key of a synthesis run: Yosys version, script and every file's content.

    A node's own name (its wrapper module, its memory file names) is taken out of the key:
    the figures do not depend on it, and the many identical FIFOs and width converters of a
    CNN then share one run.
    """
    if req.is_top:
        files = [f"{f}={file_digest(req.src_dir / f)}" for f in req.files]
        return text_digest(version, script, *files)
    own = re.compile(rf"\b{re.escape(req.name)}(?=\b|_)")

    def canon(f: str) -> str:
        name = own.sub(_NODE, f)
        if f == f"{req.name}.sv":
            return f"{name}={text_digest(own.sub(_NODE, (req.src_dir / f).read_text()))}"
        return f"{name}={file_digest(req.src_dir / f)}"

    return text_digest(version, own.sub(_NODE, script), *(canon(f) for f in req.files))


def _synthesize(
    req: _Request, script: str, digest: str, work: Path, exe: str, timeout_s: float
) -> dict:
    """Run Yosys on one request in a fresh ``work`` folder; the cache entry it yields."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for f in req.files:
        shutil.copyfile(req.src_dir / f, work / f)
    log_path = work / _LOG_FILE
    args = [sys.executable, "-c", _MEASURED, _RSS_FILE, exe, "-p", script]
    start = time.monotonic()
    try:
        seconds = run_tool(args, work, log_path, timeout_s)
    except ToolError as exc:
        late = time.monotonic() - start >= timeout_s
        why = f"did not finish within {timeout_s:g} s" if late else "failed"
        raise ToolError(
            f"yosys {why} on {req.what}; full log: {log_path}\n{log_tail(log_path)}"
        ) from exc
    stat_path = work / _STAT_FILE
    if not stat_path.is_file():
        raise ToolError(f"yosys wrote no {_STAT_FILE} for {req.what}; full log: {log_path}")
    rss_kb = int((work / _RSS_FILE).read_text() or 0)
    return {
        "digest": digest,
        "module": req.name,
        "cells": cell_counts(read_json(stat_path)),
        "seconds": round(seconds, 2),
        "peak_memory_mb": round(rss_kb / 1024, 1),
        "log": str(log_path),
    }


def _run_all(
    todo: dict[str, tuple[_Request, str]],
    out_dir: Path,
    cache_dir: Path,
    exe: str,
    jobs: int,
    timeout_s: float,
) -> None:
    """Synthesize every (request, script) of ``todo`` (keyed by digest) and cache the results.

    Largest first (by file bytes, so the stitched tops start at once); the first failure
    cancels what has not started and is raised once the running ones end.
    """

    def size(item: tuple[str, tuple[_Request, str]]) -> int:
        req = item[1][0]
        return sum((req.src_dir / f).stat().st_size for f in req.files)

    def one(digest: str, req: _Request, script: str) -> None:
        work = out_dir / "work" / req.variant / req.name
        entry = _synthesize(req, script, digest, work, exe, timeout_s)
        write_json(cache_dir / f"{digest}.json", entry)
        log.info("synthesized %s in %.1f s", req.what, entry["seconds"])

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="yosys") as pool:
        futures: list[Future] = [
            pool.submit(one, digest, req, script)
            for digest, (req, script) in sorted(todo.items(), key=size, reverse=True)
        ]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in futures if f in done and f.exception() is not None]
        if failed:
            for f in pending:
                f.cancel()
            raise failed[0].exception()


def run_synthesis(
    variant_dirs: dict[str, Path],
    out_dir: Path,
    *,
    family: str = "xc7",
    part: str = "xc7z020clg400-1",
    use_dsp: bool = False,
    jobs: int = 2,
    timeout_s: int = 1800,
    stitched_top: bool = True,
) -> dict:
    """Synthesize every node and the stitched top of each hardware variant folder.

    With ``stitched_top=False`` (sweeps) the top is not synthesized and its figures are the
    sum of the nodes' (``top_from: "sum_of_nodes"``): the top adds only wiring, and the
    stitched run costs as much as all nodes together.

    ``variant_dirs`` maps a variant name (``exact``, ``acc32``) to a folder holding the
    generated sources and its ``plan.json``. Results are cached in ``out_dir/cache`` by
    content digest and Yosys works in ``out_dir/work/<variant>/<module>/`` (its log is
    ``yosys.log`` there). ``timeout_s`` bounds each Yosys run. Writes ``out_dir/synth.json``
    and returns it. Raises :class:`HardwareError` for a bad part, family or plan (before any
    synthesis) and :class:`ToolError` naming the module and its log when Yosys fails.
    """
    start = time.monotonic()
    dev = _check_options(family, part, jobs, timeout_s)
    if not variant_dirs:
        raise HardwareError("run_synthesis needs at least one hardware variant folder")
    requests = [
        r
        for v, folder in variant_dirs.items()
        for r in _requests(v, folder)
        if stitched_top or not r.is_top
    ]

    exe = yosys()
    version = yosys_version(exe)
    out_dir = Path(out_dir)
    cache_dir = out_dir / "cache"
    scripts = {r: r.script(family, use_dsp) for r in requests}
    digests = {r: _digest(r, scripts[r], version) for r in requests}
    todo: dict[str, tuple[_Request, str]] = {}
    for r in requests:
        d = digests[r]
        if d not in todo and not (cache_dir / f"{d}.json").is_file():
            todo[d] = (r, scripts[r])
    log.info(
        "synthesis: %d modules, %d distinct runs to do, %d cached",
        len(requests),
        len(todo),
        len(set(digests.values())) - len(todo),
    )
    _run_all(todo, out_dir, cache_dir, exe, jobs, timeout_s)

    variants: dict[str, Any] = {}
    peak = 0.0
    for r in requests:
        entry = read_json(cache_dir / f"{digests[r]}.json")
        peak = max(peak, entry.get("peak_memory_mb", 0.0))
        fig = resources(entry["cells"])
        fig.update(
            seconds=entry["seconds"],
            cached=digests[r] not in todo,
            digest=digests[r],
            log=entry["log"],
        )
        v = variants.setdefault(r.variant, {"layers": {}, "warnings": []})
        v["warnings"] += [f"{r.name}: {w}" for w in fig["warnings"]]
        if r.is_top:
            v["top"] = {"module": r.name, **fig}
        else:
            v["layers"][r.name] = {"layer": r.layer, "op_type": r.op_type, **fig}
    for v in variants.values():
        v["total_nodes"] = _sum(list(v["layers"].values()))
        if "top" in v:
            v["top_from"] = "stitched"
        else:
            v["top"] = {"module": None, **v["total_nodes"]}
            v["top_from"] = "sum_of_nodes"
        v["utilization"] = _utilization(v["top"], dev)

    synth = {
        "tool": "yosys",
        "version": version,
        "family": family,
        "part": part,
        "flow": FLOW,
        "options": {"use_dsp": use_dsp, "jobs": jobs, "timeout_s": timeout_s},
        "capacity": {"lut": dev.lut, "ff": dev.ff, "bram36": dev.bram36, "dsp": dev.dsp},
        "variants": variants,
        "runs": {"synthesized": len(todo), "cached": len(set(digests.values())) - len(todo)},
        "seconds": round(time.monotonic() - start, 2),
        "peak_memory_mb": peak,
    }
    write_json(out_dir / "synth.json", synth)
    return synth


# ------------------------------------------------------------------------ post-processing


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def comparison(synth: dict) -> dict:
    """``acc32`` against ``exact`` (stitched tops): figures of both and the acc32/exact ratios.

    Returns ``{}`` unless both variants are present. A ratio with a zero denominator is None.
    """
    variants = synth.get("variants", {})
    if "exact" not in variants or "acc32" not in variants:
        return {}
    exact, acc32 = variants["exact"]["top"], variants["acc32"]["top"]
    return {
        "exact": {m: exact[m] for m in METRICS},
        "acc32": {m: acc32[m] for m in METRICS},
        "lut_ratio": _ratio(acc32["lut"], exact["lut"]),
        "lutram_ratio": _ratio(acc32["lutram"], exact["lutram"]),
        "ff_ratio": _ratio(acc32["ff"], exact["ff"]),
        "bram_ratio": _ratio(acc32["bram36"], exact["bram36"]),
        "dsp_ratio": _ratio(acc32["dsp"], exact["dsp"]),
    }


_NODE_INDEX = re.compile(r".*?_(\d+)")


def attach_estimates(synth: dict, finn_estimates: dict) -> dict:
    """A copy of ``synth`` with FINN's resource estimate beside each node that has one.

    ``finn_estimates`` is FINN's ``estimate_layer_resources.json`` (node name -> ``{"LUT",
    "BRAM_18K", "DSP", ...}``). Our node ``<Op>_<i>`` (op type ``Op``) matches FINN's
    ``<Op>_hls_<i>``, ``<Op>_rtl_<i>`` or ``<Op>_<i>``. Each matched node gets ``estimate``
    and ``estimate_delta_lut`` = our LUTs (logic + LUTRAM, as FINN's LUT figure counts memory
    LUTs too) minus FINN's; unmatched ones get ``estimate: None``. FINN's ``total`` goes to
    each variant's ``estimate_total``.
    """
    out = copy.deepcopy(synth)
    for v in out.get("variants", {}).values():
        if "total" in finn_estimates:
            v["estimate_total"] = finn_estimates["total"]
        for name, node in v["layers"].items():
            m = _NODE_INDEX.fullmatch(name)
            op = node.get("op_type")
            est = None
            if m and op:
                idx = m.group(1)
                for key in (f"{op}_hls_{idx}", f"{op}_rtl_{idx}", f"{op}_{idx}"):
                    if key in finn_estimates:
                        est = finn_estimates[key]
                        break
            node["estimate"] = est
            if est is not None and "LUT" in est:
                node["estimate_delta_lut"] = round(node["lut"] + node["lutram"] - est["LUT"], 1)
    return out


# ---------------------------------------------------------------------------- baselines

BASELINE_METRICS = ("lut", "lutram", "ff", "bram36", "dsp")


def baseline_from(synth: dict) -> dict:
    """The part of a synthesis result that a baseline file stores (per node and top)."""
    return {
        "version": synth.get("version"),
        "family": synth.get("family"),
        "variants": {
            name: {
                "layers": {
                    node: {m: fig[m] for m in BASELINE_METRICS} for node, fig in v["layers"].items()
                },
                "top": {m: v["top"][m] for m in BASELINE_METRICS},
            }
            for name, v in synth["variants"].items()
        },
    }


def write_baseline(synth: dict, path: Path) -> None:
    """Store :func:`baseline_from` of ``synth`` as a JSON baseline file."""
    write_json(Path(path), baseline_from(synth))


def check_against_baseline(
    synth: dict, baseline_path: Path, tolerances: dict[str, float]
) -> list[str]:
    """Violations of a stored baseline, hls4ml style (an empty list when all is well).

    ``tolerances`` maps a metric (:data:`BASELINE_METRICS`) to the allowed relative change,
    e.g. ``{"lut": 0.10}``: a figure more than 10 % above *or below* its baseline is reported
    as ``exact/MVAU_1 lut 1234 vs baseline 1000 (+23.4% > 10%)``. Nodes ("top" for the
    stitched top) in the baseline but not in ``synth`` are reported too; new ones are not.
    """
    unknown = sorted(set(tolerances) - set(BASELINE_METRICS))
    if unknown:
        raise HardwareError(
            f"unknown baseline metric(s) {', '.join(unknown)}; allowed: "
            f"{', '.join(BASELINE_METRICS)}"
        )
    baseline = read_json(Path(baseline_path))
    found = synth.get("variants", {})
    problems = []
    for vname, bvar in baseline.get("variants", {}).items():
        if vname not in found:
            problems.append(f"variant {vname} missing (in baseline {baseline_path})")
            continue
        ours_v = found[vname]
        items = [*bvar.get("layers", {}).items()]
        if "top" in bvar:
            items.append(("top", bvar["top"]))
        for node, bfig in items:
            ours = ours_v.get("top") if node == "top" else ours_v["layers"].get(node)
            if ours is None:
                problems.append(f"{vname}/{node} missing (in baseline {baseline_path})")
                continue
            for metric, tol in tolerances.items():
                if metric not in bfig:
                    continue
                got, want = ours[metric], bfig[metric]
                if want == 0:
                    if got != 0:
                        problems.append(f"{vname}/{node} {metric} {got:g} vs baseline 0")
                    continue
                change = (got - want) / want
                if abs(change) > tol:
                    problems.append(
                        f"{vname}/{node} {metric} {got:g} vs baseline {want:g} "
                        f"({change:+.1%} > {tol * 100:g}%)"
                    )
    return problems


def run_synth_stage(cfg, compile_dir: Path, hw_dir: Path, out_dir: Path) -> dict:
    """The synthesis stage: both variants, the acc32 comparison and FINN's estimates beside."""
    _, device = device_of(cfg.compile.fpga_part)
    hc = cfg.hardware
    variants = {"exact": hw_dir / "exact"}
    if hc.acc32:
        variants["acc32"] = hw_dir / "acc32"
    synth = run_synthesis(
        variants,
        out_dir,
        family=device.family,
        part=cfg.compile.fpga_part,
        use_dsp=hc.use_dsp,
        jobs=hc.synth_jobs,
        timeout_s=hc.synth_timeout_s,
        stitched_top=hc.synth_top,
    )
    estimates = compile_dir / "report" / "estimate_layer_resources.json"
    if estimates.exists():
        synth = attach_estimates(synth, read_json(estimates))
    synth.update(comparison(synth))
    write_json(out_dir / "synth.json", synth)
    return synth
