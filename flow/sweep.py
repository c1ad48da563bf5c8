"""Sweeps: one build per point of a grid of config values, on an engine of :mod:`flow.engines`.

A sweep YAML names a base config and axes::

    name: tfc_digits
    base: ../tfc_digits.yaml          # relative to the sweep file
    axes:
      method: [baseline, a2q, a2q_plus]   # shorthand for quant.method
      acc_bits: [10, 11, 12, 13, 14, 16]  # shorthand for quant.acc_bits
      seed: [0]
      cycles: [1024]                      # compile.folding.target_cycles_per_frame
      mac_style: [rom, const]             # hardware.mac_style
    set: ["train.qat_epochs=20"]      # fixed overrides for every point (optional)
    until: null                        # last stage of every build (optional)

Each point is a normal build under ``build/sweeps/<name>/builds/`` (cached and resumable),
run by the local engine (worker processes) or on a Ray cluster; a failed point, or one whose
worker was killed, is recorded with its error and the others go on. The summary is rewritten
as each point finishes, and a re-run builds only the points not finished yet. A point no
network can meet (``InfeasibleError``: a data-type point whose P is below what any (N, M)
needs) is recorded with status ``infeasible`` and its reason, and not built. A baseline is
trained the same way at every P, so it is built once per remaining combination and evaluated
at each P with wrap-around (the verify stage's overflow study): its rows carry ``wrap_<k>``.
Writes ``summary.json`` and ``summary.csv`` (one row per point, plus per-group means; a point
not built yet is a ``pending`` row) and appends its progress to ``sweep.log``.

Every point of a sweep is scored by one metric (:mod:`flow.metrics`), ``k`` = ``accuracy``
for classifiers or ``psnr`` for super-resolution: rows carry ``metric`` and ``float_<k>``,
``quant_<k>``, ``hw_<k>``, ``wrap_<k>`` (and ``bicubic_psnr`` for super-resolution); group
rows ``<k>_mean``, ``<k>_std``, ``wrap_<k>_mean``. A sweep whose points would mix the two is
refused when it is loaded.

Rows also carry what the equal-throughput comparison of the sweep report needs:
``cycles_per_frame`` (the folding target, or the simulated figure when the build was folded
by fps or by hand), ``sim_cycles_per_frame``, ``macs_per_cycle`` (sum of PE x SIMD over the
MAC layers of the exact plan), ``mac_style`` (the config's) and ``mac_styles`` (per layer,
from the plan), and the acc32 variant's ``lut_acc32``, ``ff_acc32`` and ``bram36_acc32``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flow import artifacts as A
from flow import ops
from flow.artifacts import Build
from flow.config import BuildConfig, check_name, is_superres, load_config
from flow.config_parse import read_yaml_file, suggest
from flow.engines import Job, make_engine
from flow.errors import A2QError, ConfigError, InfeasibleError
from flow.metrics import ACCURACY, PSNR, metric_named
from flow.pipeline import stages_to_run
from flow.stages import stage_index
from flow.util import atomic_write_text, write_json

log = logging.getLogger(__name__)

ALIASES = {
    "method": "quant.method",
    "acc_bits": "quant.acc_bits",
    "seed": "seed",
    "cycles": "compile.folding.target_cycles_per_frame",
    "mac_style": "hardware.mac_style",
}
SWEEP_KEYS = ("name", "base", "axes", "set", "until")


@dataclass(frozen=True)
class Point:
    """One build of a sweep: its id, the overrides that make it, and the P values it covers."""

    id: str
    values: dict[str, Any]
    overrides: list[str]
    covers_bits: list[int] = field(default_factory=list)
    # Why no network of this point can exist (InfeasibleError), e.g. an accumulator too narrow
    # for any data types: recorded as an "infeasible" row, never built.
    infeasible: str | None = None


@dataclass(frozen=True)
class Sweep:
    """A parsed, validated sweep file."""

    name: str
    base: Path
    axes: dict[str, list]
    overrides: list[str]
    until: str | None
    points: list[Point]
    metric: str = ACCURACY.key
    # The resolved config of each feasible point, named as its build (by point id).
    configs: dict[str, BuildConfig] = field(default_factory=dict)


def _key(axis: str) -> str:
    return ALIASES.get(axis, axis)


def load_sweep(path: str | Path) -> Sweep:
    """Parse a sweep file and validate the config of every point before anything runs."""
    path = Path(path)
    data = read_yaml_file(path, "sweep file")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping with keys {', '.join(SWEEP_KEYS)}")
    problems = [
        f"{key}: unknown key{suggest(str(key), list(SWEEP_KEYS))}; allowed: {', '.join(SWEEP_KEYS)}"
        for key in data
        if key not in SWEEP_KEYS
    ]
    problems += [f"{key}: required key is missing" for key in ("base", "axes") if key not in data]
    if problems:
        raise ConfigError(f"{path}: {'; '.join(problems)}")
    if not isinstance(data["base"], str):
        raise ConfigError(
            f"{path}: base: must be a file name (a config YAML, relative to the sweep file), "
            f"not {data['base']!r}"
        )
    base = (path.parent / data["base"]).resolve()
    axes = data["axes"]
    if (
        not isinstance(axes, dict)
        or not axes
        or not all(isinstance(v, list) and v for v in axes.values())
    ):
        raise ConfigError(f"{path}: axes: must map each axis to a non-empty list of values")
    for axis, values in axes.items():
        for v in values:
            if isinstance(v, dict) or (
                isinstance(v, list) and any(isinstance(x, (dict, list)) for x in v)
            ):
                raise ConfigError(
                    f"{path}: axes.{axis}: {v!r} is not a value an axis can take (a number, a "
                    "string, or a list of them); give mappings through a base config per value"
                )
    overrides = data.get("set") or []
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        raise ConfigError(
            f'{path}: set: must be a list of KEY=VALUE strings, e.g. ["train.qat_epochs=20"], '
            f"not {overrides!r}"
        )
    name = data.get("name", path.stem)
    try:
        check_name(name, "name")
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    until = data.get("until")
    if until is not None:
        try:
            stage_index(until, "until")
        except A2QError as e:
            raise ConfigError(f"{path}: {e}") from None
    points = plan_points(axes, overrides)
    metrics: dict[str, list[str]] = {}
    configs: dict[str, BuildConfig] = {}
    for i, p in enumerate(points):  # every point's config is checked now, not an hour in
        try:
            cfg = configs[p.id] = load_config(base, [*p.overrides, f"name={_build_name(name, p)}"])
        except InfeasibleError as e:
            points[i] = dataclasses.replace(p, infeasible=str(e))
            continue
        except ConfigError as e:
            raise ConfigError(f"{path}: point {p.id}: {e}") from None
        metrics.setdefault((PSNR if is_superres(cfg) else ACCURACY).key, []).append(p.id)
    if len(metrics) > 1:
        mix = "; ".join(f"{k}: {', '.join(ids)}" for k, ids in sorted(metrics.items()))
        raise ConfigError(
            f"{path}: points mix metrics ({mix}); a sweep compares one figure, so its points "
            "must be all classifiers (accuracy) or all super-resolution (PSNR)"
        )
    metric = next(iter(metrics), ACCURACY.key)
    return Sweep(name, base, axes, overrides, until, points, metric, configs)


def _fmt(values: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in values.items())


def plan_points(axes: dict[str, list], fixed: list[str]) -> list[Point]:
    """The builds of a grid; baseline points of all widths collapse into one build."""
    names = list(axes)
    points: dict[str, Point] = {}
    for combo in itertools.product(*(axes[n] for n in names)):
        values = dict(zip(names, combo, strict=True))
        overrides = [*fixed, *(f"{_key(k)}={v}" for k, v in values.items())]
        if values.get("method") == "baseline" and "acc_bits" in values:
            widths = sorted(axes["acc_bits"])
            shared = {k: v for k, v in values.items() if k != "acc_bits"}
            shared["acc_bits"] = max(widths)  # the width only names the build
            pid = _fmt(shared)
            overrides = [
                *fixed,
                *(f"{_key(k)}={v}" for k, v in shared.items()),
                f"compile.wrap_bits={widths}",
            ]
            points.setdefault(pid, Point(pid, shared, overrides, widths))
            continue
        pid = _fmt(values)
        points[pid] = Point(pid, values, overrides, [values.get("acc_bits")])
    return list(points.values())


def _build_name(sweep: str, point: Point) -> str:
    def text(v: Any) -> str:  # a list-valued axis: model.hidden [64, 32] -> 64x32
        return "x".join(map(str, v)) if isinstance(v, list) else str(v)

    return f"{sweep}__" + "_".join(f"{k}{text(v)}" for k, v in point.values.items())


def run_sweep(
    path: str | Path,
    build_root: Path = Path("build"),
    *,
    jobs: int | None = None,
    engine: str = "local",
    address: str | None = None,
    quiet: bool = False,
    on_update: Callable[[Path], None] | None = None,
) -> dict:
    """Run every point of a sweep on ``engine`` (:mod:`flow.engines`) and write its summary.

    The summary is rewritten (atomically) as each point finishes, with the points still to
    build as ``pending`` rows, and ``on_update(sweep folder)`` is called after each write.
    Points whose builds are finished and up to date are not run again, so a re-run resumes an
    interrupted sweep. Progress goes to the console (unless ``quiet``) and to ``sweep.log``.
    """
    sweep = load_sweep(path)
    runner = make_engine(engine, jobs=jobs, address=address)
    out = build_root / "sweeps" / sweep.name
    builds = (out / "builds").resolve()
    results: dict[str, dict] = {}
    todo: list[Job] = []
    for p in sweep.points:
        if p.infeasible:
            results[p.id] = {"status": "infeasible", "error": p.infeasible, "seconds": 0.0}
            continue
        cfg = sweep.configs[p.id]
        if stages_to_run(cfg, builds, sweep.until):
            todo.append(Job(p.id, cfg, sweep.until))
        else:  # finished by an earlier run of this sweep
            results[p.id] = {
                "status": "ok",
                "error": None,
                "seconds": _build_seconds(builds / cfg.name),
            }
    tasks: dict[str, list] = {}

    def write_summary() -> dict:
        summary = _summary(sweep, builds, results, runner.name, tasks)
        write_json(out / "summary.json", summary)
        atomic_write_text(out / "summary.csv", to_csv(summary["points"]))
        if on_update is not None:
            on_update(out)
        return summary

    with runner:
        runner.check(todo)
        progress = Progress(out / "sweep.log", len(todo), runner.parallel(todo), quiet)
        progress.line(
            f"sweep {sweep.name}: {len(sweep.points)} builds, {len(todo)} to run, "
            f"{len(sweep.points) - len(todo)} finished or infeasible; {runner.describe()}"
        )
        summary = write_summary()

        def done(job: Job, result: dict) -> None:
            nonlocal summary
            results[job.id] = result
            tasks[job.id] = result.get("tasks", [])
            progress.point(job.id, result)
            summary = write_summary()

        runner.run(todo, builds, done)
    progress.line(f"sweep {sweep.name}: finished; summary in {out / 'summary.json'}")
    return summary


def _build_seconds(build: Path) -> float:
    """The stage seconds of a finished build (its ``timings.json``)."""
    timings = Build(build).get(A.TIMINGS) or {}
    return float(sum(t.get("seconds") or 0 for t in timings.values()))


def _summary(sweep: Sweep, builds: Path, results: dict, engine: str, tasks: dict) -> dict:
    rows = []
    for p in sweep.points:
        build = builds / _build_name(sweep.name, p)
        if p.id in results:
            rows += point_rows(p, build, results[p.id], sweep.metric)
        else:
            rows += pending_rows(p, build, sweep.metric)
    return {
        "name": sweep.name,
        "base_config": str(sweep.base),
        "metric": sweep.metric,
        "axes": sweep.axes,
        "engine": engine,
        "points": rows,
        "groups": group_rows(rows),
        # where each point's tasks ran (the Ray engine adds node, resources and GPU ids)
        "tasks": tasks,
    }


class Progress:
    """Points done/failed/running of N with an estimate of the time left, on the console
    (unless quiet) and appended to the sweep's log file."""

    def __init__(self, log_file: Path, total: int, parallel: int, quiet: bool):
        self.log_file, self.total, self.parallel, self.quiet = log_file, total, parallel, quiet
        self.finished = self.failed = 0
        self.took = 0.0
        log_file.parent.mkdir(parents=True, exist_ok=True)

    def line(self, text: str) -> None:
        """Print ``text`` (unless quiet) and append it, time-stamped, to the log file."""
        if not self.quiet:
            print(text, flush=True)
        with open(self.log_file, "a") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")

    def point(self, pid: str, result: dict) -> None:
        """Record a finished point."""
        self.finished += 1
        self.failed += result["status"] == "failed"
        self.took += result["seconds"]
        left = self.total - self.finished
        running = min(self.parallel, left)
        # The points left, ``parallel`` at a time, at the mean time of the finished ones.
        eta = self.took / self.finished * left / max(1, self.parallel)
        error = result.get("error")
        self.line(
            f"[{self.finished}/{self.total}] {pid}: {result['status']} in "
            f"{result['seconds']:.0f} s"
            + (f" ({error.splitlines()[0]})" if error else "")
            + f"; {self.finished - self.failed} done, {self.failed} failed, {running} running"
            + (f", about {eta / 60:.0f} min left" if left else "")
        )


def pending_rows(point: Point, build: Path, metric: str) -> list[dict]:
    """The rows of a point not built yet (status ``pending``), in the sweep's ``metric``."""
    base = {"status": "pending", "error": None, "build_dir": str(build), "metric": metric}
    return [{"point": _fmt(v), **v, **base} for v in _covered_values(point)]


def _covered_values(point: Point) -> list[dict]:
    """The axis values of each row of ``point`` (a baseline build covers every width)."""
    return [
        {**point.values, "acc_bits": bits} if bits is not None else dict(point.values)
        for bits in point.covers_bits
    ]


def point_rows(point: Point, build: Path, result: dict, metric: str | None = None) -> list[dict]:
    """Summary rows of one build (a baseline build gives one row per width it covers).

    The figures are in the metric the build's files name; ``metric`` (the sweep's) stands in
    for a build that failed before writing any, so its row still has the sweep's keys. The
    files are read through :class:`flow.artifacts.Build`; the LUT ratio is synth.json's.
    """
    b = Build(build)
    metrics = b.get(A.TRAIN_METRICS) or {}
    acc = b.get(A.ACCUMULATORS) or []
    verify = b.get(A.VERIFY) or {}
    overflow = b.get(A.OVERFLOW) or {}
    synth = b.get(A.SYNTH) or {}
    cfg = b.get(A.CONFIG) or {}
    sim = b.get(A.SIM) or {}
    target = cfg.get("compile", {}).get("folding", {}).get("target_cycles_per_frame")
    macs = _mac_nodes(b.get(A.plan_artifact("exact")) or {})
    per_cycle = sum(int(n["params"].get("PE", 1)) * int(n["params"].get("SIMD", 1)) for n in macs)
    top = A.synth_variant(synth, "exact").get("top") or {}
    wide = A.synth_variant(synth, "acc32").get("top") or {}
    named = b.metric_key()
    if named is None and not metrics:
        named = metric  # nothing written: the sweep's metric (old builds name none: accuracy)
    k = metric_named(named).key
    wrap = {r["acc_bits"]: r.get(k) for r in overflow.get("wrap_study", [])}
    base = {
        "status": result["status"],
        "error": result["error"],
        "build_dir": str(build),
        "metric": k,
        f"float_{k}": metrics.get(f"float_{k}"),
        **({"bicubic_psnr": metrics.get("bicubic_psnr")} if k == PSNR.key else {}),
        f"quant_{k}": metrics.get(f"quant_{k}"),
        f"hw_{k}": verify.get(f"hw_{k}"),
        "max_exact_bits": max((r["exact_bits"] for r in acc), default=None),
        "exact_bits": {r["name"]: r["exact_bits"] for r in acc},
        # (input bits N, weight bits M) per layer: what the data-type method chose
        "data_types": {r["name"]: [r.get("input_bits"), r.get("weight_bits")] for r in acc},
        "lut": top.get("lut"),
        "ff": top.get("ff"),
        "bram36": top.get("bram36"),
        "dsp": top.get("dsp"),
        "lut_acc32": wide.get("lut"),
        "ff_acc32": wide.get("ff"),
        "bram36_acc32": wide.get("bram36"),
        "lut_ratio": A.synth_ratios(synth)["lut"],
        "sparsity": {r["name"]: r["sparsity"] for r in metrics.get("layers", [])},
        # fps or explicit folding has no target: the simulated figure stands in
        "cycles_per_frame": target if target is not None else sim.get("cycles_per_frame"),
        "sim_cycles_per_frame": sim.get("cycles_per_frame"),
        "macs_per_cycle": per_cycle or None,
        "mac_style": cfg.get("hardware", {}).get("mac_style", point.values.get("mac_style")),
        # plans written before MAC styles existed are all ROM-based
        "mac_styles": {n["layer"]: n.get("mac_style", "rom") for n in macs},
        "build_seconds": round(result["seconds"], 1),
    }
    rows = []
    for values in _covered_values(point):
        bits = values.get("acc_bits")
        wrap_value = wrap.get(bits) if point.values.get("method") == "baseline" else None
        rows.append({"point": _fmt(values), **values, **base, f"wrap_{k}": wrap_value})
    return rows


def _mac_nodes(plan: dict) -> list[dict]:
    """The MAC nodes (MVAU, VVAU) of a hardware plan."""
    return [n for n in plan.get("nodes", []) if (op := ops.find(n["op_type"])) and op.is_mac]


def rows_metric(rows: list[dict]) -> str:
    """The one metric key of summary rows (rows without ``metric`` are accuracy).

    Raises :class:`A2QError` naming the rows when they mix metrics.
    """
    keys: dict[str, list[str]] = {}
    for r in rows:
        keys.setdefault(str(r.get("metric") or ACCURACY.key), []).append(str(r.get("point")))
    if len(keys) > 1:
        mix = "; ".join(f"{k}: {', '.join(ids[:3])}" for k, ids in sorted(keys.items()))
        raise A2QError(f"sweep rows mix metrics ({mix}); a sweep compares one figure")
    return next(iter(keys), ACCURACY.key)


def group_rows(rows: list[dict]) -> list[dict]:
    """Mean/std over seeds per (method, acc_bits), from the points that succeeded.

    Keys ``<k>_mean``, ``<k>_std`` and ``wrap_<k>_mean`` for the rows' metric ``k``.
    """
    k = rows_metric(rows)
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r["status"] == "ok" and r.get(f"quant_{k}") is not None:
            groups.setdefault((r.get("method"), r.get("acc_bits")), []).append(r)
    out = []
    for (method, bits), rs in sorted(groups.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        values = [r[f"quant_{k}"] for r in rs]
        luts = [r["lut"] for r in rs if r.get("lut") is not None]
        ratios = [r["lut_ratio"] for r in rs if r.get("lut_ratio") is not None]
        wraps = [r[f"wrap_{k}"] for r in rs if r.get(f"wrap_{k}") is not None]
        out.append(
            {
                "method": method,
                "acc_bits": bits,
                "seeds": len(rs),
                f"{k}_mean": statistics.fmean(values),
                f"{k}_std": statistics.stdev(values) if len(values) > 1 else 0.0,
                f"wrap_{k}_mean": statistics.fmean(wraps) if wraps else None,
                "lut_mean": statistics.fmean(luts) if luts else None,
                "lut_ratio_mean": statistics.fmean(ratios) if ratios else None,
                "max_exact_bits": max((r["max_exact_bits"] or 0) for r in rs) or None,
            }
        )
    return out


CSV_COLUMNS = [
    "point",
    "method",
    "acc_bits",
    "seed",
    "status",
    "float_accuracy",
    "quant_accuracy",
    "hw_accuracy",
    "wrap_accuracy",
    "max_exact_bits",
    "lut",
    "ff",
    "bram36",
    "dsp",
    "lut_acc32",
    "ff_acc32",
    "bram36_acc32",
    "lut_ratio",
    "mac_style",
    "cycles_per_frame",
    "sim_cycles_per_frame",
    "macs_per_cycle",
    "build_seconds",
    "error",
]


def csv_columns(metric: str) -> list[str]:
    """The CSV columns for metric key ``metric``: ``<prefix>_<k>``, plus the bicubic PSNR."""
    cols = [c.replace("_accuracy", f"_{metric}") for c in CSV_COLUMNS]
    if metric == PSNR.key:
        cols.insert(cols.index("float_psnr") + 1, "bicubic_psnr")
    return cols


def to_csv(rows: list[dict]) -> str:
    """The summary rows as CSV (per-layer dicts are left to summary.json)."""
    columns = csv_columns(rows_metric(rows))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k) for k in columns})
    return buf.getvalue()
