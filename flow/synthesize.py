"""Synthesis of the generated accelerator with Yosys (open-source synthesis, not Vivado P&R).

Every node's wrapper is synthesized out of context with ``synth_xilinx`` (no I/O buffers:
node ports are not chip pins), many nodes per Yosys process (:mod:`flow.hw.batch`). The
``stat -json`` cell counts become logic LUTs, LUTRAM, FFs, BRAM36 equivalents and DSPs; a
variant's top level is the sum of its nodes (or, if asked, its flattened stitched top
synthesized too), and its figures the utilization of a named part.

Each module's result is keyed by the SHA-256 of everything that decides it (file names and
contents, the synthesis recipe, the Yosys version) and cached as ``<cache>/<digest>.json``,
so a re-run with nothing changed starts no Yosys at all and changing one layer
re-synthesizes only that layer's node. Modules whose digests coincide (a FIFO identical in
two variants, or in two builds sharing the cache) are synthesized once. ``peak_memory_mb``
is the largest peak resident memory of one Yosys process, cached with its modules.

YoWASP's Yosys sees only its working folder, so each batch gets a flat copy of its sources
and memory files in ``<out>/work/<variant>/<batch>/`` and the wrappers must name memory files
without a directory (``$readmemh`` resolves them against that folder).

Cells become resource figures as :mod:`flow.hw.cells` describes.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flow import artifacts
from flow.errors import HardwareError
from flow.hw import batch, cells
from flow.hw.tools import first_yowasp_run, yosys, yosys_version
from flow.util import file_digest, read_json, text_digest, write_json

log = logging.getLogger(__name__)

FLOW = "yosys synth_xilinx (open-source synthesis, not Vivado place-and-route)"
FAMILIES = ("xc7", "xcup")
PLAN = "plan.json"
SYNTH_FILE = Path(artifacts.SYNTH.path).name  # synth.json, in the stage folder given
# A plan's file names go into a Yosys script and a flat work folder: plain names only.
_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")

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

    @property
    def module(self) -> batch.Module:
        return batch.Module(self.name, self.src_dir, self.files, self.n_sources)


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


_NODE = "\0node\0"


def _digest(req: _Request, recipe: str, version: str) -> str:
    """Cache key of a module's synthesis: Yosys version, recipe and every file's content.

    A node's own name (its wrapper module, its memory file names) is taken out of the key:
    the figures do not depend on it, and the many identical FIFOs and width converters of a
    CNN then share one run.
    """
    if req.is_top:
        files = [f"{f}={file_digest(req.src_dir / f)}" for f in req.files]
        return text_digest(version, recipe, req.name, *files)
    own = re.compile(rf"\b{re.escape(req.name)}(?=\b|_)")

    def canon(f: str) -> str:
        name = own.sub(_NODE, f)
        if f == f"{req.name}.sv":
            return f"{name}={text_digest(own.sub(_NODE, (req.src_dir / f).read_text()))}"
        return f"{name}={file_digest(req.src_dir / f)}"

    return text_digest(version, recipe, *(canon(f) for f in req.files))


def _size(req: _Request) -> int:
    return sum((req.src_dir / f).stat().st_size for f in req.files)


def _describe(reqs: list[_Request]) -> str:
    if len(reqs) == 1:
        return reqs[0].what
    names = ", ".join(repr(r.name) for r in reqs[:4]) + (", ..." if len(reqs) > 4 else "")
    return f"{len(reqs)} nodes ({names}) of variant {reqs[0].variant!r}"


def _batches(
    todo: dict[str, _Request], out_dir: Path, jobs: int
) -> list[tuple[batch.Batch, list[str]]]:
    """The Yosys runs for ``todo`` (digest -> request): batches and the digests each yields.

    One batch per variant (module names are unique only within a variant), a stitched top in
    a batch of its own; while there are fewer batches than ``jobs``, the largest (by file
    bytes) is split in two, largest modules dealt alternately. Largest batches first.
    """
    size = {digest: _size(req) for digest, req in todo.items()}  # each file stat'ed once
    groups: dict[str, list[tuple[str, _Request]]] = {}
    for digest, req in todo.items():
        key = f"{req.variant}/{req.name}" if req.is_top else req.variant
        groups.setdefault(key, []).append((digest, req))
    parts = [sorted(g, key=lambda item: size[item[0]], reverse=True) for g in groups.values()]

    def cost(part: list[tuple[str, _Request]]) -> int:
        return sum(size[d] for d, _ in part)

    while len(parts) < jobs:
        splittable = [p for p in parts if len(p) > 1]
        if not splittable:
            break
        big = max(splittable, key=cost)
        parts.remove(big)
        parts += [big[0::2], big[1::2]]
    out = []
    parts.sort(key=cost, reverse=True)
    counts = {v: sum(p[0][1].variant == v and not p[0][1].is_top for p in parts) for v in groups}
    seen: dict[str, int] = {}
    for part in parts:
        reqs = [r for _, r in part]
        first = reqs[0]
        if first.is_top:
            name, label = first.name, f"{first.variant} stitched top"
        else:
            k = seen[first.variant] = seen.get(first.variant, 0) + 1
            many = counts[first.variant] > 1
            name = first.name if len(reqs) == 1 else f"batch{k - 1}"
            label = f"{first.variant} {k}/{counts[first.variant]}" if many else first.variant
        b = batch.Batch([r.module for r in reqs], out_dir / "work" / first.variant / name,
                        _describe(reqs), label)  # fmt: skip
        out.append((b, [d for d, _ in part]))
    return out


def _run_all(
    todo: dict[str, _Request],
    out_dir: Path,
    cache_dir: Path,
    exe: str,
    recipe_args: tuple[str, bool, str],
    jobs: int,
    timeout_s: float,
) -> list[dict]:
    """Synthesize every request of ``todo`` (keyed by digest) in batches; cache each module.

    Batches run on ``jobs`` threads, each waiting on its Yosys process; the first failure
    cancels what has not started and is raised once the running ones end. Returns one record
    per batch (modules, seconds, peak memory).
    """
    family, use_dsp, libmap = recipe_args
    batches = _batches(todo, out_dir, jobs)
    records: list[dict] = []

    def one(b: batch.Batch, digests: list[str]) -> None:
        stats, seconds, peak_mb = batch.run_batch(b, exe, family, use_dsp, libmap, timeout_s)
        for digest, module in zip(digests, b.modules, strict=True):
            entry = {
                "digest": digest,
                "module": module.name,
                "cells": cells.cell_counts({"modules": {module.name: stats[module.name]}}),
                "batch": {"modules": len(b.modules), "seconds": round(seconds, 2)},
                "peak_memory_mb": round(peak_mb, 1),
                "log": str(b.work / batch.LOG_FILE),
            }
            write_json(cache_dir / f"{digest}.json", entry)
        modules = [m.name for m in b.modules]
        records.append(
            {"modules": modules, "seconds": round(seconds, 2), "peak_memory_mb": round(peak_mb, 1)}
        )
        log.info("synthesized %s in %.1f s", b.what, seconds)

    if not batches:
        return records
    with (
        batch.ProgressLine([b for b, _ in batches], log.info),
        ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="yosys") as pool,
    ):
        futures: list[Future] = [pool.submit(one, b, d) for b, d in batches]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in futures if f in done and f.exception() is not None]
        if failed:
            for f in pending:
                f.cancel()
            raise failed[0].exception()
    return records


def _plan_runs(
    requests: list[_Request], recipe: str, version: str, cache_dir: Path
) -> tuple[dict[_Request, str], dict[str, _Request]]:
    """Each request's digest, and one request per distinct digest not in the cache yet."""
    digests = {r: _digest(r, recipe, version) for r in requests}
    todo: dict[str, _Request] = {}
    for r in requests:
        d = digests[r]
        if d not in todo and not (cache_dir / f"{d}.json").is_file():
            todo[d] = r
    log.info(
        "synthesis: %d modules, %d to synthesize, %d cached",
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
            batch=entry["batch"],
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
    stitched_top: bool = False,
    finn_estimates: dict | None = None,
    cache_dir: Path | None = None,
) -> dict:
    """Synthesize every node of each hardware variant folder (and the stitched tops if asked).

    Nodes are synthesized out of context, in batches of many modules per Yosys process
    (:mod:`flow.hw.batch`; one batch per variant, split further to keep ``jobs`` processes
    busy). A variant's top-level figures are the sum of its nodes' (``top_from:
    "sum_of_nodes"``): the stitched top holds only the wires between them. With
    ``stitched_top`` the flattened top is also synthesized as one module of its own
    (``top_from: "stitched"``); Yosys then optimises across node boundaries, which moved the
    total by -1.2 % to +0.4 % on tfc_digits, at the cost of synthesizing everything twice.

    ``variant_dirs`` maps a variant name (``exact``, ``acc32``) to a folder holding the
    generated sources and its ``plan.json``. Each module's result is cached by content digest
    in ``cache_dir`` (default ``out_dir/cache``; the synth stage shares one per build root,
    so builds and sweep points reuse each other's unchanged nodes) and Yosys works in
    ``out_dir/work/<variant>/<batch>/`` (its log is ``yosys.log`` there). ``timeout_s``
    bounds each Yosys process. ``finn_estimates`` (FINN's ``estimate_layer_resources.json``)
    are put beside the nodes (:func:`attach_estimates`); the acc32/exact ratios of
    :func:`comparison` are part of the result. Writes ``out_dir/synth.json`` (once) and
    returns it. Raises :class:`HardwareError` for a bad part, family or plan (before any
    synthesis) and :class:`ToolError` naming the modules and the log when Yosys fails.
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

    out_dir = Path(out_dir)
    cache_dir = Path(cache_dir) if cache_dir is not None else out_dir / "cache"
    if cache_dir.exists() and not cache_dir.is_dir():
        raise HardwareError(
            f"the synthesis cache {cache_dir} is a file, not a folder; remove it or point "
            "A2Q_SYNTH_CACHE at a folder"
        )
    exe = yosys()
    if first_yowasp_run(exe):
        log.info("first run of YoWASP's Yosys: compiling it to machine code, ~45 s, once")
    version = yosys_version(exe)
    recipe = batch.recipe(family, use_dsp)
    digests, todo = _plan_runs(requests, recipe, version, cache_dir)
    records: list[dict] = []
    if todo:
        libmap = batch.libmap_command(exe, version, family, use_dsp, cache_dir)
        records = _run_all(
            todo, out_dir, cache_dir, exe, (family, use_dsp, libmap), jobs, timeout_s
        )
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
        "batches": records,
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


def synth_cache_dir(build_dir: Path) -> Path:
    """The synthesis cache a build uses: one beside it, shared by every build of its root.

    Entries are keyed by content (:func:`_digest`), so builds of one root (the points of a
    sweep, a config tried twice) share every unchanged node. ``A2Q_SYNTH_CACHE`` names
    another folder (one per machine, or a shared file system on a cluster).
    """
    env = os.environ.get("A2Q_SYNTH_CACHE")
    return Path(env) if env else Path(build_dir).parent / ".synth-cache"


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
        cache_dir=synth_cache_dir(Path(out_dir).parent),
        family=device.family,
        part=cfg.compile.fpga_part,
        use_dsp=hc.use_dsp,
        jobs=hc.synth_jobs,
        timeout_s=hc.synth_timeout_s,
        stitched_top=hc.synth_top,
        finn_estimates=artifacts.FINN_RESOURCES.load(Path(compile_dir).parent),
    )
