"""Synthesis baselines, hls4ml style: resource figures stored as JSON and checked with
per-metric tolerances (``tests/baselines/``)."""

from __future__ import annotations

from pathlib import Path

from flow.errors import HardwareError
from flow.util import read_json, write_json

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
