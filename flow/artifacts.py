"""Every file of a build folder, in one place: stages and readers talk through these names.

A build folder ``build/<name>/`` holds one sub-folder per stage (:data:`STAGES`: ``train``,
``export``, ``compile``, ``verify``, ``hardware``, ``sim``, ``synth``, ``report``) and a few
run-level files. Each :class:`Artifact` names one file: the stage that writes it, its path
inside the build folder, what it holds, how it is read (``kind``) and, for JSON and YAML, its
schema. Writers call :meth:`Artifact.write` (checked against the schema, then atomic: a
temporary name, then a rename), readers :meth:`Artifact.read` / :meth:`Artifact.load` or a
:class:`Build` view; nobody else spells a file name.

Schemas (:mod:`flow.schemas`) pin the keys every reader relies on and the types of the keys
they declare, so a file that drifts from its writer is an :class:`ArtifactError` naming the
file and the key, not a ``KeyError`` deep in a report. Readers get the data as parsed (plain
dicts and lists) and read the keys a schema makes optional with ``.get``.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from flow.errors import A2QError
from flow.metrics import Metric, metric_named
from flow.schemas import (
    AccumulatorRow,
    Config,
    ExportCheck,
    FinnPerformance,
    FoldingRow,
    HostOp,
    Marker,
    Number,
    Overflow,
    Sim,
    SumRow,
    SweepSummary,
    Synth,
    Timing,
    TrainMetrics,
    Verify,
    adapter,
    explain,
)
from flow.util import atomic_write_text, read_json

# The stages in the order the pipeline runs them (each reads only what earlier ones wrote).
STAGES = ("train", "export", "compile", "verify", "hardware", "sim", "synth", "report")
STAGE_MARKER = ".stage.json"


class ArtifactError(A2QError):
    """A build file that is missing or does not hold what its artifact declares."""


def read_onnx(path: Path):
    """The ONNX model in ``path`` as a qonnx ``ModelWrapper``; an empty, truncated or
    non-ONNX file (or one with an empty graph) is a ``ValueError`` saying which."""
    import onnx
    from google.protobuf.message import DecodeError
    from qonnx.core.modelwrapper import ModelWrapper

    data = Path(path).read_bytes()
    if not data:
        raise ValueError("the file is empty")
    try:
        proto = onnx.load_model_from_string(data)
    except (DecodeError, RuntimeError) as e:
        raise ValueError(f"not an ONNX model (truncated or another format): {e}") from None
    if not proto.graph.node or not proto.graph.input or not proto.graph.output:
        raise ValueError("not an ONNX model: its graph has no nodes, inputs or outputs")
    return ModelWrapper(proto)


# ----------------------------------------------------------------------------- artifacts


@dataclass(frozen=True)
class Artifact:
    """One file of a build folder.

    ``path`` is relative to the build folder (``compile/accumulators.json``); ``stage`` is
    the stage that writes it (``run`` for the pipeline itself); ``kind`` is ``json``,
    ``yaml``, ``onnx``, ``torch``, ``npz``, ``text`` or ``dir``; ``shows`` says what it holds
    (``{metric}`` stands for the build's metric); ``schema`` is the type its content must
    validate as (a :class:`Schema` model, ``list[...]`` or ``dict[...]`` of one), or None.
    """

    path: str
    stage: str
    kind: str
    shows: str
    schema: Any = None

    def at(self, build_dir: Path) -> Path:
        """This file inside ``build_dir``."""
        return Path(build_dir) / self.path

    def exists(self, build_dir: Path) -> bool:
        return self.at(build_dir).exists()

    def read(self, build_dir: Path) -> Any:
        """The parsed, checked content (JSON/YAML/text, the arrays of an NPZ file, an ONNX
        file's qonnx ``ModelWrapper``, a torch file's object).

        A missing, unparsable or schema-breaking file is an :class:`ArtifactError` naming it.
        """
        path = self.at(build_dir)
        if not path.is_file():
            raise ArtifactError(f"{path}: missing (written by the {self.stage} stage)")
        data = self._parse(path)
        self.check(data, path)
        return data

    def _parse(self, path: Path) -> Any:
        import yaml

        try:
            if self.kind == "json":
                return read_json(path)
            if self.kind == "yaml":
                return yaml.safe_load(path.read_text())
            if self.kind == "text":
                return path.read_text()
            if self.kind == "npz":
                import numpy as np

                with np.load(path, allow_pickle=False) as z:
                    return {k: np.asarray(z[k]) for k in z.files}
            if self.kind == "onnx":
                return read_onnx(path)
            if self.kind == "torch":
                import torch

                try:
                    return torch.load(path, map_location="cpu", weights_only=True)
                except (RuntimeError, pickle.UnpicklingError) as e:  # a torn or foreign file
                    first = str(e).strip().splitlines()
                    why = first[0] if first else type(e).__name__
                    raise ValueError(f"truncated or not a torch file ({why})") from None
        except (OSError, ValueError, EOFError, yaml.YAMLError) as e:
            raise ArtifactError(f"{path}: cannot be read as {self.kind.upper()}: {e}") from None
        raise ArtifactError(f"{self.path}: a {self.kind} artifact is not read as data")

    def check(self, data: Any, path: Path | None = None) -> None:
        """Raise :class:`ArtifactError` naming the file and key if ``data`` breaks the schema."""
        if self.schema is None:
            return
        try:
            adapter(self.schema).validate_python(data)
        except ValidationError as e:
            raise ArtifactError(
                f"{path or self.path}: not a valid {self.path}: {explain(e)}"
            ) from None

    def load(self, build_dir: Path, default: Any = None) -> Any:
        """:meth:`read`, or ``default`` when the file does not exist (stage not run)."""
        return self.read(build_dir) if self.exists(build_dir) else default

    def write(self, build_dir: Path, data: Any) -> Path:
        """Write JSON/text content atomically, after checking it; returns the path.

        JSON is checked as it will be read back (tuples become lists), so a writer that
        breaks its schema fails here, naming the key, rather than a reader later.
        """
        path = self.at(build_dir)
        if self.kind == "json":
            text = json.dumps(data, indent=2, sort_keys=False) + "\n"
            self.check(json.loads(text), path)
            atomic_write_text(path, text)
        elif self.kind == "text":
            atomic_write_text(path, data)
        else:
            raise ArtifactError(f"{self.path}: a {self.kind} artifact is written by its tool")
        return path


def _run(path: str, kind: str, shows: str, schema: Any = None) -> Artifact:
    return Artifact(path, "run", kind, shows, schema)


# Run level.
CONFIG = _run("config.yaml", "yaml", "the resolved config (name, dataset, method, P)", Config)
TIMINGS = _run(
    "timings.json",
    "json",
    "the seconds and ran/cached status of each stage",
    dict[str, Timing],
)
LOG = _run("log.txt", "text", "the build's log")

# train
TRAIN_METRICS = Artifact(
    "train/metrics.json",
    "train",
    "json",
    "the float and quantized {metric} and each layer's method, L1 norm and sparsity",
    TrainMetrics,
)
MODEL = Artifact("train/model.pt", "train", "torch", "the trained QAT state dict")
FLOAT_MODEL = Artifact("train/float.pt", "train", "torch", "the float pre-training state dict")
SOURCE_QONNX = Artifact(
    "train/source.onnx", "train", "onnx", "the QONNX file of model.source, as given"
)
CHECKPOINT = Artifact("train/checkpoint.pt", "train", "torch", "the last epoch, to resume")
EXAMPLES = Artifact(
    "train/examples.npz",
    "train",
    "npz",
    "a few test tiles side by side (low-res input, bicubic, float and quantized outputs, "
    "target) with each output's PSNR against the target",
)

# export
QONNX = Artifact("export/model.onnx", "export", "onnx", "the QONNX model with exact integers")
EXPORT_CHECK = Artifact(
    "export/export_check.json",
    "export",
    "json",
    "whether the exported integers meet every layer's bound and the QONNX fidelity",
    ExportCheck,
)

# compile
HW_ONNX = Artifact("compile/hw.onnx", "compile", "onnx", "the FINN HW-layer graph")
ACCUMULATORS = Artifact(
    "compile/accumulators.json",
    "compile",
    "json",
    "each layer's data-type bound, target, exact, hardware and FINN accumulator widths",
    list[AccumulatorRow],
)
FOLDING = Artifact(
    "compile/folding.json",
    "compile",
    "json",
    "each MAC layer's PE, SIMD and MAC style, how they were chosen, and the area estimates",
    list[FoldingRow],
)
SUMS = Artifact(
    "compile/sums.json",
    "compile",
    "json",
    "residual adds and global pools: exact sum widths",
    list[SumRow],
)
HOST_TAIL = Artifact(
    "compile/host_tail.json",
    "compile",
    "json",
    "the float ops left to the host after the HW",
    list[HostOp],
)
TIME_PER_STEP = Artifact(
    "compile/time_per_step.json", "compile", "json", "seconds per compile step", dict[str, Number]
)
COMPILE_STEPS = Artifact("compile/steps", "compile", "dir", "the model after each step")
FINN_RESOURCES = Artifact(
    "compile/report/estimate_layer_resources.json",
    "compile",
    "json",
    "FINN's per-layer LUT/BRAM estimates",
    dict[str, dict],
)
FINN_CYCLES = Artifact(
    "compile/report/estimate_layer_cycles.json",
    "compile",
    "json",
    "FINN's estimated cycles per layer",
    dict[str, Number],
)
FINN_PERFORMANCE = Artifact(
    "compile/report/estimate_network_performance.json",
    "compile",
    "json",
    "FINN's estimated cycles per frame and throughput",
    FinnPerformance,
)

# verify
VERIFY = Artifact(
    "verify/verify.json",
    "verify",
    "json",
    "the HW graph's {metric} and mismatches against QONNX",
    Verify,
)
VERIFY_OUTPUTS = Artifact(
    "verify/outputs.npz",
    "verify",
    "npz",
    "the test inputs' outputs of the HW graph (FINN) and of the QONNX model",
)
OVERFLOW = Artifact(
    "verify/overflow.json",
    "verify",
    "json",
    "the worst-case overflow check and the wrap-around study ({metric} vs forced P)",
    Overflow,
)

# hardware (one folder per variant)
VARIANTS = ("exact", "acc32")


def hardware_dir(build_dir: Path, variant: str) -> Path:
    """The generated files of one hardware variant."""
    if variant not in VARIANTS:
        raise ArtifactError(f"unknown variant {variant!r}; variants are {', '.join(VARIANTS)}")
    return Path(build_dir) / "hardware" / variant


def plan_artifact(variant: str) -> Artifact:
    """``hardware/<variant>/plan.json``: the generated files, nodes and streams."""
    return Artifact(
        f"hardware/{variant}/plan.json", "hardware", "json", f"the {variant} hardware plan"
    )


# sim, synth, report
SIM = Artifact(
    "sim/sim.json",
    "sim",
    "json",
    "the simulated {metric}, bit-exactness, cycles per frame and frames per second",
    Sim,
)
SYNTH = Artifact(
    "synth/synth.json",
    "synth",
    "json",
    "LUT/FF/BRAM per layer with exact and with 32-bit accumulators, totals and the LUT ratio",
    Synth,
)
REPORT_MD = Artifact("report/report.md", "report", "text", "the Markdown report")
REPORT_HTML = Artifact("report/report.html", "report", "text", "the HTML report")

# Written by `a2q hls4ml` (flow/hls4ml_bridge.py) into a compiled build; not a stage.
HLS4ML_MODEL = Artifact("hls4ml/model.onnx", "hls4ml", "onnx", "the QONNX model as hls4ml reads it")
HLS4ML_CONFIG = Artifact(
    "hls4ml/hls4ml_config.yml",
    "hls4ml",
    "yaml",
    "the hls4ml config: exact accumulator widths and exact fixed-point types between them",
)


def marker(stage: str) -> Artifact:
    """``<stage>/.stage.json``: written last by a finished stage."""
    return Artifact(f"{stage}/{STAGE_MARKER}", stage, "json", f"the {stage} stage's status", Marker)


# A sweep folder (``build/sweeps/<name>/``) holds one run-level file of its own.
SWEEP_SUMMARY = Artifact(
    "summary.json", "sweep", "json", "one row per point of the sweep", SweepSummary
)


# ---------------------------------------------------------------------------- build view


class Build:
    """One build folder as readers see it: each artifact read and checked at most once.

    :meth:`get` gives an artifact's content, or None when its stage has not finished (no
    ``.stage.json``: not run, or interrupted, whose files are not results); a malformed file
    is an :class:`ArtifactError`.
    """

    def __init__(self, build_dir: Path) -> None:
        self.dir = Path(build_dir)
        self._cache: dict[Artifact, Any] = {}

    def get(self, artifact: Artifact) -> Any:
        if artifact not in self._cache:
            unfinished = artifact.stage in STAGES and artifact.path != marker(artifact.stage).path
            if unfinished and self.marker(artifact.stage) is None:
                return None
            self._cache[artifact] = artifact.load(self.dir)
        return self._cache[artifact]

    def check_is_build(self) -> None:
        """Raise :class:`ArtifactError` unless this is a build folder (``a2q run``'s)."""
        if not self.dir.is_dir():
            raise ArtifactError(f"{self.dir}: no such build folder (run `a2q run CONFIG` first)")
        if not CONFIG.exists(self.dir) and not any((self.dir / s).is_dir() for s in STAGES):
            raise ArtifactError(
                f"{self.dir}: not a build folder (no {CONFIG.path} and no stage folder "
                f"{', '.join(STAGES)}); give build/<name>, the folder `a2q run` writes"
            )

    def unfinished(self) -> list[str]:
        """Stages with a folder but no ``.stage.json``: interrupted, their files not results."""
        return [s for s in STAGES if (self.dir / s).is_dir() and self.marker(s) is None]

    def metric_key(self) -> str | None:
        """The metric the first stage file naming one names (None: none does)."""
        named = [self.get(a) for a in (TRAIN_METRICS, VERIFY, OVERFLOW, SIM)]
        named.append((self.get(EXPORT_CHECK) or {}).get("fidelity"))
        return next((str(d["metric"]) for d in named if d and d.get("metric")), None)

    @property
    def metric(self) -> Metric:
        """The build's metric (files written before PSNR existed name none: accuracy)."""
        return metric_named(self.metric_key())

    def marker(self, stage: str) -> dict | None:
        """The ``.stage.json`` of a finished stage, or None."""
        return self.get(marker(stage))

    def stage_digests(self) -> dict[str, str]:
        """Stage name -> digest of every finished stage, in :data:`STAGES` order (then by name)."""
        found = {p.parent.name for p in self.dir.glob(f"*/{STAGE_MARKER}")}
        order = [s for s in STAGES if s in found] + sorted(found - set(STAGES))
        return {stage: self.marker(stage)["digest"] for stage in order}


# The acc32 / exact ratio of each resource as synth.json stores it (top level).
RATIO_KEYS = {"lut": "lut_ratio", "lutram": "lutram_ratio", "ff": "ff_ratio",
              "bram36": "bram_ratio", "dsp": "dsp_ratio"}  # fmt: skip


def synth_variant(synth: dict, name: str) -> dict:
    """Variant ``name`` of ``synth.json``; a top-level ``<name>`` total stands in for its top."""
    variant = dict(synth.get("variants", {}).get(name) or {})
    if "top" not in variant and isinstance(synth.get(name), dict):
        variant["top"] = synth[name]
    return variant


def synth_ratios(synth: dict) -> dict[str, float | None]:
    """acc32 / exact per resource (:data:`RATIO_KEYS`), as ``synth.json`` stores them.

    A file that stores no ratio for a resource (written before the comparison was, or by
    hand) gets the ratio of the two variants' tops; None when a top or its figure is absent
    or the exact figure is 0.
    """
    tops = [synth_variant(synth, v).get("top") or {} for v in ("acc32", "exact")]
    out = {}
    for resource, key in RATIO_KEYS.items():
        if synth.get(key) is not None:
            out[resource] = synth[key]
            continue
        wide, exact = (top.get(resource) for top in tops)
        out[resource] = round(wide / exact, 4) if wide is not None and exact else None
    return out
