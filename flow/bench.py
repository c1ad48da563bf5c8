"""``make bench``: run the benchmark configs and write comparable figures to one JSON file.

Speed and resource goals live here, not in timed tests: each config's stage times (from a
run with nothing cached when ``fresh``), accuracies, accumulator widths, simulated
throughput and synthesized resources with the LUT ratio against 32-bit accumulators.
"""

from __future__ import annotations

import platform
import shutil
import time
from pathlib import Path

import flow
from flow.config import load_config
from flow.errors import ConfigError
from flow.metrics import metric_named
from flow.pipeline import run_pipeline
from flow.util import read_json, write_json


def _get(path: Path) -> dict | list | None:
    return read_json(path) if path.exists() else None


def bench_entry(build: Path) -> dict:
    """The figures of one finished build."""
    metrics = _get(build / "train" / "metrics.json") or {}
    acc = _get(build / "compile" / "accumulators.json") or []
    sim = _get(build / "sim" / "sim.json") or {}
    synth = _get(build / "synth" / "synth.json") or {}
    exact = (synth.get("variants", {}).get("exact") or {}).get("top", {})
    k = metric_named(metrics.get("metric")).key
    return {
        "timings": _get(build / "timings.json"),
        "metric": k,
        f"float_{k}": metrics.get(f"float_{k}"),
        f"quant_{k}": metrics.get(f"quant_{k}"),
        f"sim_{k}": sim.get(k),
        **({"bicubic_psnr": metrics["bicubic_psnr"]} if "bicubic_psnr" in metrics else {}),
        "hw_acc_bits": {r["name"]: r["hw_acc_bits"] for r in acc},
        "guaranteed": [r["name"] for r in acc if r["guaranteed"]],
        "bit_exact": sim.get("bit_exact"),
        "cycles_per_frame": sim.get("cycles_per_frame"),
        "fps": sim.get("fps"),
        "lut": exact.get("lut"),
        "ff": exact.get("ff"),
        "bram36": exact.get("bram36"),
        "lut_ratio": synth.get("lut_ratio"),
        "ff_ratio": synth.get("ff_ratio"),
        "bram_ratio": synth.get("bram_ratio"),
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
        t0 = time.perf_counter()
        run_pipeline(cfg, build_root, show_progress=False)
        results[cfg.name] = {
            "config": str(path),
            "wall_seconds": round(time.perf_counter() - t0, 1),
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
