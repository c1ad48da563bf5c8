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

Cells become resource figures as :mod:`flow.hw.cells` describes.
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

from flow import artifacts
from flow.errors import HardwareError, ToolError
from flow.hw import cells
from flow.hw.tools import log_tail, run_tool, yosys
from flow.util import file_digest, read_json, text_digest, write_json

log = logging.getLogger(__name__)

FLOW = "yosys synth_xilinx (open-source synthesis, not Vivado place-and-route)"
FAMILIES = ("xc7", "xcup")
PLAN = "plan.json"
SYNTH_FILE = Path(artifacts.SYNTH.path).name  # synth.json, in the stage folder given
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


def _check_options(family: str, part: str, jobs: int, timeout_s: float) -> cells.Device:
    if family not in FAMILIES:
        raise HardwareError(
            f"synthesis family must be one of {', '.join(FAMILIES)}, not {family!r}"
        )
    name, dev = cells.device_of(part)
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
    # A slice of a node (flow.hw.slices): the node's name and the factor to its whole.
    part_of: str | None = None
    scale: float = 1.0

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
    sliced = False
    for i, node in enumerate(nodes):
        name = node.get("name") if isinstance(node, dict) else None
        if not isinstance(name, str) or not _MODULE_NAME.fullmatch(name):
            raise HardwareError(f"{plan_path}: nodes[{i}] needs a module 'name', not {name!r}")
        mem = _names(plan_path, f"node {name!r} 'mem_files'", node.get("mem_files", []), _FILE_NAME)
        all_mem += [m for m in mem if m not in all_mem]
        slices = node.get("slices") or []
        lanes = sum(int(part["lanes"]) for part in slices)
        for part in slices or [node]:
            where = f"node {part.get('name')!r}"
            sources = _names(plan_path, f"{where} 'sources'", part.get("sources"), _FILE_NAME)
            own_mem = _names(
                plan_path, f"{where} 'mem_files'", part.get("mem_files", []), _FILE_NAME
            )
            out.append(
                _Request(
                    variant,
                    part["name"],
                    False,
                    Path(folder),
                    files=(*sources, *own_mem),
                    n_sources=len(sources),
                    layer=node.get("layer"),
                    op_type=node.get("op_type"),
                    part_of=name if slices else None,
                    scale=int(node["params"]["PE"]) / lanes if slices else 1.0,
                )
            )
        sliced |= bool(slices)
    if len({r.name for r in out}) != len(out):
        raise HardwareError(f"{plan_path}: node names are not unique")
    if sliced:  # a top holding a layer too large to synthesize whole: the sum of the nodes
        return _checked(plan_path, folder, out)
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
    return _checked(plan_path, folder, out)


def _checked(plan_path: Path, folder: Path, out: list[_Request]) -> list[_Request]:
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
        "cells": cells.cell_counts(read_json(stat_path)),
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


def _plan_runs(
    requests: list[_Request], family: str, use_dsp: bool, version: str, cache_dir: Path
) -> tuple[dict[_Request, str], dict[str, tuple[_Request, str]]]:
    """Each request's digest, and the distinct (request, script) runs not in the cache yet."""
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
    return digests, todo


def _collect(
    requests: list[_Request],
    digests: dict[_Request, str],
    fresh: set[str],
    cache_dir: Path,
    dev: cells.Device,
) -> tuple[dict[str, Any], float]:
    """Per variant: node and top figures, node totals, utilization; and the peak memory.

    ``fresh`` holds the digests synthesized in this run (the others came from the cache).
    """
    variants: dict[str, Any] = {}
    peak = 0.0
    for r in requests:
        entry = read_json(cache_dir / f"{digests[r]}.json")
        peak = max(peak, entry.get("peak_memory_mb", 0.0))
        fig = cells.resources(entry["cells"])
        fig.update(
            seconds=entry["seconds"],
            cached=digests[r] not in fresh,
            digest=digests[r],
            log=entry["log"],
        )
        v = variants.setdefault(r.variant, {"layers": {}, "warnings": [], "scaled_nodes": []})
        v["warnings"] += [f"{r.name}: {w}" for w in fig["warnings"]]
        if r.is_top:
            v["top"] = {"module": r.name, **fig}
        elif r.part_of:
            slices = v.setdefault("_slices", {}).setdefault(r.part_of, [])
            slices.append((r, fig))
        else:
            v["layers"][r.name] = {"layer": r.layer, "op_type": r.op_type, **fig}
    for v in variants.values():
        for node, parts in v.pop("_slices", {}).items():
            r = parts[0][0]
            total = cells.sum_figures([fig for _, fig in parts])
            v["layers"][node] = {
                "layer": r.layer,
                "op_type": r.op_type,
                **cells.scaled(total, r.scale),
                "seconds": round(sum(fig["seconds"] for _, fig in parts), 2),
                "cached": all(fig["cached"] for _, fig in parts),
                "scaled": {
                    "factor": round(r.scale, 4),
                    "slices": {p.name: {m: fig[m] for m in cells.METRICS} for p, fig in parts},
                },
            }
            v["scaled_nodes"].append(node)
    for v in variants.values():
        v["total_nodes"] = cells.sum_figures(list(v["layers"].values()))
        if "top" in v:
            v["top_from"] = "stitched"
        else:
            v["top"] = {"module": None, **v["total_nodes"]}
            v["top_from"] = "sum_of_nodes"
        v["utilization"] = cells.utilization(v["top"], dev)
    return variants, peak


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
    finn_estimates: dict | None = None,
) -> dict:
    """Synthesize every node and the stitched top of each hardware variant folder.

    With ``stitched_top=False`` (sweeps) the top is not synthesized and its figures are the
    sum of the nodes' (``top_from: "sum_of_nodes"``): the top adds only wiring, and the
    stitched run costs as much as all nodes together.

    ``variant_dirs`` maps a variant name (``exact``, ``acc32``) to a folder holding the
    generated sources and its ``plan.json``. Results are cached in ``out_dir/cache`` by
    content digest and Yosys works in ``out_dir/work/<variant>/<module>/`` (its log is
    ``yosys.log`` there). ``timeout_s`` bounds each Yosys run. ``finn_estimates`` (FINN's
    ``estimate_layer_resources.json``) are put beside the nodes (:func:`attach_estimates`);
    the acc32/exact ratios of :func:`comparison` are part of the result. Writes
    ``out_dir/synth.json`` (once) and returns it. Raises :class:`HardwareError` for a bad
    part, family or plan (before any synthesis) and :class:`ToolError` naming the module and
    its log when Yosys fails.
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
    digests, todo = _plan_runs(requests, family, use_dsp, version, cache_dir)
    _run_all(todo, out_dir, cache_dir, exe, jobs, timeout_s)
    variants, peak = _collect(requests, digests, set(todo), cache_dir, dev)

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
    if finn_estimates is not None:
        synth = attach_estimates(synth, finn_estimates)
    synth.update(comparison(synth))
    write_json(out_dir / SYNTH_FILE, synth)
    return synth


# ------------------------------------------------------------------------ post-processing


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


# Metric -> its ratio key (``bram36`` is reported as ``bram_ratio``).
RATIOS = {"lut": "lut_ratio", "lutram": "lutram_ratio", "ff": "ff_ratio",
          "bram36": "bram_ratio", "dsp": "dsp_ratio"}  # fmt: skip


def _ratios(acc32: dict, exact: dict) -> dict[str, float | None]:
    return {key: _ratio(acc32[m], exact[m]) for m, key in RATIOS.items()}


def comparison(synth: dict) -> dict:
    """``acc32`` against ``exact``: figures of both tops and the acc32/exact ratios.

    Returns ``{}`` unless both variants are present. Otherwise ``exact`` and ``acc32`` (the
    tops' :data:`~flow.hw.cells.METRICS`), the top ratios ``lut_ratio``, ``lutram_ratio``,
    ``ff_ratio``, ``bram_ratio``, ``dsp_ratio``, and ``layer_ratios``: node name -> the same
    five ratios, for every node synthesized in both variants. A zero denominator gives None.
    """
    variants = synth.get("variants", {})
    if "exact" not in variants or "acc32" not in variants:
        return {}
    exact, acc32 = variants["exact"], variants["acc32"]
    return {
        "exact": {m: exact["top"][m] for m in cells.METRICS},
        "acc32": {m: acc32["top"][m] for m in cells.METRICS},
        **_ratios(acc32["top"], exact["top"]),
        "layer_ratios": {
            name: _ratios(acc32["layers"][name], fig)
            for name, fig in exact["layers"].items()
            if name in acc32["layers"]
        },
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


def run_synth_stage(cfg, compile_dir: Path, hw_dir: Path, out_dir: Path) -> dict:
    """The synthesis stage: both variants, the acc32 comparison and FINN's estimates beside."""
    _, device = cells.device_of(cfg.compile.fpga_part)
    hc = cfg.hardware
    variants = {"exact": hw_dir / "exact"}
    if hc.acc32:
        variants["acc32"] = hw_dir / "acc32"
    return run_synthesis(
        variants,
        out_dir,
        family=device.family,
        part=cfg.compile.fpga_part,
        use_dsp=hc.use_dsp,
        jobs=hc.synth_jobs,
        timeout_s=hc.synth_timeout_s,
        stitched_top=hc.synth_top,
        finn_estimates=artifacts.FINN_RESOURCES.load(Path(compile_dir).parent),
    )
