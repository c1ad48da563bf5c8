"""``make bench``: run the benchmark configs and write comparable figures to one JSON file.

Speed and resource goals live here, not in timed tests: each config's stage times (from a
run with nothing cached when ``fresh``: the build folder and the synthesis cache are deleted
first), the time of a second run with nothing changed, how synthesis was split into Yosys
processes, accuracies, accumulator widths, simulated throughput and synthesized resources
with the LUT ratio against 32-bit accumulators.
"""

from __future__ import annotations

import platform
import shutil
import time
from pathlib import Path

import flow
from flow import artifacts as A
from flow.artifacts import Build
from flow.config import load_config
from flow.errors import ConfigError
from flow.metrics import metric_named
from flow.pipeline import run_pipeline
from flow.synthesize import synth_cache_dir
from flow.util import write_json


def bench_entry(build: Path) -> dict:
    """The figures of one finished build, read through :class:`flow.artifacts.Build`."""
    b = Build(build)
    metrics = b.get(A.TRAIN_METRICS) or {}
    acc = b.get(A.ACCUMULATORS) or []
    sim = b.get(A.SIM) or {}
    synth = b.get(A.SYNTH) or {}
    exact = A.synth_variant(synth, "exact").get("top") or {}
    ratios = A.synth_ratios(synth)
    k = metric_named(metrics.get("metric")).key
    return {
        "timings": b.get(A.TIMINGS),
        "stage_seconds": {stage: t.get("seconds") for stage, t in (b.get(A.TIMINGS) or {}).items()},
        "synth_runs": synth.get("runs"),
        "synth_batches": [
            {"modules": len(r["modules"]), "seconds": r["seconds"]}
            for r in synth.get("batches", [])
        ],
        "metric": k,
        f"float_{k}": metrics.get(f"float_{k}"),
        f"quant_{k}": metrics.get(f"quant_{k}"),
        f"sim_{k}": sim.get(k),
        **({"bicubic_psnr": metrics["bicubic_psnr"]} if "bicubic_psnr" in metrics else {}),
        "hw_acc_bits": {r["name"]: r.get("hw_acc_bits") for r in acc},
        "guaranteed": [r["name"] for r in acc if r.get("guaranteed")],
        "bit_exact": sim.get("bit_exact"),
        "cycles_per_frame": sim.get("cycles_per_frame"),
        "fps": sim.get("fps"),
        "lut": exact.get("lut"),
        "ff": exact.get("ff"),
        "bram36": exact.get("bram36"),
        "lut_ratio": ratios["lut"],
        "ff_ratio": ratios["ff"],
        "bram_ratio": ratios["bram36"],
    }


def run_bench(configs: list[Path], build_root: Path, out: Path, *, fresh: bool = False) -> dict:
    """Build every config (from scratch when ``fresh``) and write ``out``."""
    results = {}
    for path in configs:
        try:
            cfg = load_config(path)
        except ConfigError as e:
            if "data.path" not in str(e):
                raise
            # A benchmark on a dataset this machine lacks (CIFAR-10 with no path) is named
            # with the reason, not silently left out.
            results[path.stem] = {"config": str(path), "skipped": str(e)}
            continue
        if fresh:
            shutil.rmtree(build_root / cfg.name, ignore_errors=True)
            shutil.rmtree(synth_cache_dir(build_root / cfg.name), ignore_errors=True)
        t0 = time.perf_counter()
        run_pipeline(cfg, build_root, show_progress=False)
        wall = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_pipeline(cfg, build_root, show_progress=False)
        results[cfg.name] = {
            "config": str(path),
            "wall_seconds": round(wall, 1),
            "rerun_seconds": round(time.perf_counter() - t0, 2),
            **bench_entry(build_root / cfg.name),
        }
    report = {
        "version": flow.__version__,
        "machine": platform.platform(),
        "python": platform.python_version(),
        "fresh": fresh,
        "benchmarks": results,
    }
    write_json(out, report)
    return report
