"""The step runner: ordered stages into ``build/<name>/<stage>/``, cached by content hash.

A stage's digest covers its config sections (machine resources left out, see
:data:`flow.config.RESOURCE_KEYS`), the digest of the code that produces it
(:func:`flow.sources.code_digest`) and the digest of the stage before it. A finished stage
writes ``.stage.json`` (atomically, last) with the content hash of every file it wrote, so a
stage whose marker matches and whose files are unchanged is skipped; one whose files were
changed or lost since is re-run with the stages after it (with a warning naming the files), and
an interrupted one is re-run (training resumes from its own checkpoint). ``--from`` re-runs from
a stage on the saved results of the ones before it.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import yaml

import flow
from flow import artifacts
from flow.config import BuildConfig, to_dict
from flow.errors import A2QError
from flow.sources import code_digest
from flow.stages import (
    STAGE_NAMES,
    damaged_outputs,
    output_digests,
    stage_index,
    stage_status,
)
from flow.util import atomic_write_text, make_folder, text_digest

log = logging.getLogger(__name__)

# Fault injection for the crash-recovery tests: ``A2Q_FAULT=<stage>@<build name glob>`` kills
# the process (SIGKILL, as the kernel's OOM killer would) as that stage of a matching build
# starts. Unset in normal use.
FAULT_ENV = "A2Q_FAULT"


@dataclass(frozen=True)
class StageContext:
    """What a stage function gets: the config, its folder and the build folder it reads from."""

    cfg: BuildConfig
    build_dir: Path
    stage_dir: Path
    digest: str
    force: bool
    show_progress: bool

    def input_dir(self, stage: str) -> Path:
        """Folder of an earlier stage's results (for stages that take folders, not the build)."""
        return self.build_dir / stage


@dataclass(frozen=True)
class Stage:
    """One pipeline step: its name, the config sections it depends on, its entry function,
    the module whose code produces its results and whether ``hw_templates/`` do too."""

    name: str
    sections: tuple[str, ...]
    run: Callable[[StageContext], dict]
    module: str
    templates: bool = False

    def digest(self, cfg: BuildConfig, prev: str) -> str:
        """The cache key of this stage's results, after a stage whose key is ``prev``."""
        code = code_digest(self.module, self.templates)
        return text_digest(self.name, cfg.section_digest(*self.sections), code, prev)


def _train(ctx: StageContext) -> dict:
    from flow.train import run_train

    if ctx.force:
        artifacts.CHECKPOINT.at(ctx.build_dir).unlink(missing_ok=True)
    m = run_train(ctx.cfg, ctx.stage_dir, digest=ctx.digest, show_progress=ctx.show_progress)
    k = m["metric"]
    return {"metric": k, f"float_{k}": m.get(f"float_{k}"), f"quant_{k}": m[f"quant_{k}"],
            "warnings": m["warnings"]}  # fmt: skip


def _export(ctx: StageContext) -> dict:
    from flow.export import run_export

    r = run_export(ctx.cfg, ctx.build_dir)
    return {"ok": r["ok"], "fidelity": r["fidelity"]["summary"]}


def _compile(ctx: StageContext) -> dict:
    from flow.compile import run_compile

    r = run_compile(ctx.cfg, ctx.build_dir, ctx.stage_dir)
    return {"hw_acc_bits": [row["hw_acc_bits"] for row in r["accumulators"]]}


def _verify(ctx: StageContext) -> dict:
    from flow.verify import run_verify

    r = run_verify(ctx.cfg, ctx.build_dir)
    v = r["verify"]
    return {
        "ok": r["ok"],
        f"hw_{v['metric']}": v[f"hw_{v['metric']}"],
        "mismatches": v["mismatches"],
        "overflow_events": r["overflow_events_at_hw_widths"],
    }


def _hardware(ctx: StageContext) -> dict:
    from flow.hardware import run_hardware

    return run_hardware(ctx.cfg, ctx.input_dir("compile"), ctx.stage_dir, ctx.digest)


def _sim(ctx: StageContext) -> dict:
    from flow.simulate import run_simulation

    r = run_simulation(ctx.cfg, ctx.build_dir)
    return {k: r[k] for k in ("frames", "bit_exact", "cycles_per_frame", "fps", r["metric"])}


def _synth(ctx: StageContext) -> dict:
    from flow.synthesize import run_synth_stage

    r = run_synth_stage(ctx.cfg, ctx.input_dir("compile"), ctx.input_dir("hardware"), ctx.stage_dir)
    top = r["variants"]["exact"]["top"]
    return {
        "lut": top["lut"],
        "ff": top["ff"],
        "bram36": top["bram36"],
        "dsp": top["dsp"],
        "lut_ratio": r.get("lut_ratio"),
    }


def _report(ctx: StageContext) -> dict:
    from flow.report.build_report import render_build_report

    r = render_build_report(ctx.build_dir)
    return {"html": str(r["html"]), "missing": len(r["missing"])}


# The stages after compile read the config through the digests of the ones before them.
_STAGES = {
    "train": Stage("train", ("seed", "data", "model", "quant", "train"), _train, "flow.train"),
    "export": Stage("export", ("export",), _export, "flow.export"),
    # The folding step resolves the MAC styles (auto) with the folding, so it reads them.
    "compile": Stage(
        "compile", ("compile", "hardware.mac_style", "hardware.layers"), _compile, "flow.compile"
    ),
    "verify": Stage("verify", (), _verify, "flow.verify"),
    "hardware": Stage("hardware", ("hardware",), _hardware, "flow.hardware", templates=True),
    "sim": Stage("sim", (), _sim, "flow.simulate"),
    "synth": Stage("synth", (), _synth, "flow.synthesize"),
    "report": Stage("report", (), _report, "flow.report.build_report"),
}
STAGES: list[Stage] = [_STAGES[name] for name in STAGE_NAMES]


def run_pipeline(
    cfg: BuildConfig,
    build_root: Path = Path("build"),
    *,
    from_stage: str | None = None,
    until: str | None = None,
    force: bool = False,
    show_progress: bool = True,
) -> dict[str, dict]:
    """Run the stages of ``cfg`` in order; return each stage's status and summary."""
    first = stage_index(from_stage, "--from") if from_stage else None
    last = stage_index(until, "--until") if until else len(STAGES) - 1
    if first is not None and first > last:
        raise A2QError(f"--from {from_stage} comes after --until {until}")
    build_dir = build_folder(build_root, cfg.name)
    for stage in STAGES[: last + 1]:  # a file where a stage's folder goes: said before any work
        if (build_dir / stage.name).is_file():
            make_folder(build_dir / stage.name, f"the {stage.name} stage")
    atomic_write_text(artifacts.CONFIG.at(build_dir), yaml.safe_dump(to_dict(cfg), sort_keys=False))
    timings = artifacts.TIMINGS.load(build_dir, {})
    results: dict[str, dict] = {}
    prev = ""
    for i, stage in enumerate(STAGES[: last + 1]):
        digest = prev = stage.digest(cfg, prev)
        stage_dir = build_dir / stage.name
        done = stage_status(build_dir, stage.name)
        up_to_date = done is not None and done.get("digest") == digest
        damaged = damaged_outputs(build_dir, stage.name, done) if up_to_date else []
        if damaged and (first is None or i >= first):
            # Never reused: built again, and so is every stage after it.
            log.warning(
                "%s: %s since the stage finished; running it again",
                stage.name,
                ", ".join(damaged),
            )
            up_to_date, first = False, i if first is None else first
        rerun = force or (first is not None and i >= first)
        if first is not None and i < first:
            if damaged:
                raise A2QError(
                    f"--from {from_stage}: the results of stage {stage.name!r} were changed "
                    f"since it finished: {', '.join(damaged)}; run without --from to rebuild it"
                )
            if not up_to_date:
                raise A2QError(
                    f"--from {from_stage}: stage {stage.name!r} has no up-to-date result in "
                    f"{stage_dir}; run without --from first"
                )
            results[stage.name] = {"status": "cached", **done}
            continue
        if up_to_date and not rerun:
            log.info("%-8s up to date (%s)", stage.name, digest)
            results[stage.name] = {"status": "cached", **done}
            timings[stage.name] = {**timings.get(stage.name, {}), "last_status": "cached"}
            continue
        stage_dir.mkdir(parents=True, exist_ok=True)
        artifacts.marker(stage.name).at(build_dir).unlink(missing_ok=True)
        log.info("%-8s running (stage %d/%d)", stage.name, i + 1, last + 1)
        t0 = time.perf_counter()
        _inject_fault(stage.name, cfg.name)
        ctx = StageContext(cfg, build_dir, stage_dir, digest, force or rerun, show_progress)
        summary = stage.run(ctx)
        seconds = round(time.perf_counter() - t0, 2)
        marker = {
            "stage": stage.name,
            "digest": digest,
            "seconds": seconds,
            "summary": summary,
            "version": flow.__version__,
            "outputs": output_digests(stage_dir),
        }
        artifacts.marker(stage.name).write(build_dir, marker)
        log.info("%-8s done in %.1f s", stage.name, seconds)
        results[stage.name] = {"status": "ran", **marker}
        timings[stage.name] = {"seconds": seconds, "last_status": "ran"}
        artifacts.TIMINGS.write(build_dir, timings)
    artifacts.TIMINGS.write(build_dir, timings)
    return results


def build_folder(build_root: Path, name: str) -> Path:
    """``build_root/name``, created; a file in the way is an error naming it."""
    make_folder(build_root, "--build-dir")
    return make_folder(build_root / name, f"the build {name!r}")


def stages_to_run(cfg: BuildConfig, build_root: Path, until: str | None = None) -> list[str]:
    """The stages up to ``until`` that :func:`run_pipeline` would run (none: the build of
    ``cfg`` under ``build_root`` is finished and up to date)."""
    last = stage_index(until, "--until") if until else len(STAGES) - 1
    prev, out = "", []
    for stage in STAGES[: last + 1]:
        prev = stage.digest(cfg, prev)
        done = stage_status(build_root / cfg.name, stage.name)
        if (
            out  # a stage before it runs
            or done is None
            or done.get("digest") != prev
            or damaged_outputs(build_root / cfg.name, stage.name, done)
        ):
            out.append(stage.name)
    return out


def _inject_fault(stage: str, build: str) -> None:
    spec = os.environ.get(FAULT_ENV, "")
    name, _, pattern = spec.partition("@")
    if name == stage and fnmatch(build, pattern):
        log.warning("%s=%s: killing this process as %s of %s starts", FAULT_ENV, spec, stage, build)
        os.kill(os.getpid(), signal.SIGKILL)
