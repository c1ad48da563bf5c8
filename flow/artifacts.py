"""Every file of a build folder, in one place: stages and readers talk through these names.

A build folder ``build/<name>/`` holds one sub-folder per stage (``train``, ``export``,
``compile``, ``verify``, ``hardware``, ``sim``, ``synth``, ``report``) and a few run-level
files. Each :class:`Artifact` names one file: the stage that writes it, its path inside the
build folder, what it holds, and how it is read (``kind``). Writers call
:meth:`Artifact.write` (atomic: a temporary name, then a rename), readers
:meth:`Artifact.read` / :meth:`Artifact.load`; nobody else spells a file name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flow.errors import A2QError
from flow.util import atomic_write_text, read_json, write_json

STAGE_MARKER = ".stage.json"


class ArtifactError(A2QError):
    """A build file that is missing or does not hold what its artifact declares."""


@dataclass(frozen=True)
class Artifact:
    """One file of a build folder.

    ``path`` is relative to the build folder (``compile/accumulators.json``); ``stage`` is
    the stage that writes it (``run`` for the pipeline itself); ``kind`` is ``json``,
    ``yaml``, ``onnx``, ``torch``, ``npz``, ``text`` or ``dir``; ``check`` validates what
    :meth:`read` returns (raises ``ValueError``/``TypeError``/``KeyError`` naming the problem).
    """

    path: str
    stage: str
    kind: str
    shows: str
    check: Callable[[Any], None] | None = None

    def at(self, build_dir: Path) -> Path:
        """This file inside ``build_dir``."""
        return Path(build_dir) / self.path

    def exists(self, build_dir: Path) -> bool:
        return self.at(build_dir).exists()

    def read(self, build_dir: Path) -> Any:
        """The parsed content (JSON/YAML/text); a missing or malformed file is an error."""
        path = self.at(build_dir)
        if not path.exists():
            raise ArtifactError(f"{path}: missing (written by the {self.stage} stage)")
        try:
            if self.kind == "json":
                data = read_json(path)
            elif self.kind == "yaml":
                import yaml

                data = yaml.safe_load(path.read_text())
            elif self.kind == "text":
                data = path.read_text()
            else:
                raise ArtifactError(f"{self.path}: a {self.kind} artifact is not read as data")
            if self.check is not None:
                self.check(data)
        except ArtifactError:
            raise
        except (ValueError, TypeError, KeyError) as e:
            raise ArtifactError(f"{path}: not a valid {self.path} ({e})") from None
        return data

    def load(self, build_dir: Path, default: Any = None) -> Any:
        """:meth:`read`, or ``default`` when the file does not exist (stage not run)."""
        return self.read(build_dir) if self.exists(build_dir) else default

    def write(self, build_dir: Path, data: Any) -> Path:
        """Write JSON/text content atomically; returns the path."""
        path = self.at(build_dir)
        if self.check is not None:
            self.check(data)
        if self.kind == "json":
            write_json(path, data)
        elif self.kind == "text":
            atomic_write_text(path, data)
        else:
            raise ArtifactError(f"{self.path}: a {self.kind} artifact is written by its tool")
        return path


def _run(path: str, kind: str, shows: str) -> Artifact:
    return Artifact(path, "run", kind, shows)


# Run level.
CONFIG = _run("config.yaml", "yaml", "the resolved config (name, dataset, method, P)")
TIMINGS = _run("timings.json", "json", "the seconds and ran/cached status of each stage")
LOG = _run("log.txt", "text", "the build's log")

# train
TRAIN_METRICS = Artifact(
    "train/metrics.json",
    "train",
    "json",
    "the float and quantized {metric} and each layer's method, L1 norm and sparsity",
)
MODEL = Artifact("train/model.pt", "train", "torch", "the trained QAT state dict")
FLOAT_MODEL = Artifact("train/float.pt", "train", "torch", "the float pre-training state dict")
CHECKPOINT = Artifact("train/checkpoint.pt", "train", "torch", "the last epoch, to resume")
EXAMPLES = Artifact(
    "train/examples.npz", "train", "npz", "super-resolution example tiles (uint8 arrays)"
)

# export
QONNX = Artifact("export/model.onnx", "export", "onnx", "the QONNX model with exact integers")
EXPORT_CHECK = Artifact(
    "export/export_check.json",
    "export",
    "json",
    "whether the exported integers meet every layer's bound and the QONNX fidelity",
)

# compile
HW_ONNX = Artifact("compile/hw.onnx", "compile", "onnx", "the FINN HW-layer graph")
ACCUMULATORS = Artifact(
    "compile/accumulators.json",
    "compile",
    "json",
    "each layer's data-type bound, target, exact, hardware and FINN accumulator widths",
)
SUMS = Artifact(
    "compile/sums.json", "compile", "json", "residual adds and global pools: exact sum widths"
)
HOST_TAIL = Artifact(
    "compile/host_tail.json", "compile", "json", "the float ops left to the host after the HW"
)
TIME_PER_STEP = Artifact(
    "compile/time_per_step.json", "compile", "json", "seconds per compile step"
)
COMPILE_STEPS = Artifact("compile/steps", "compile", "dir", "the model after each step")
FINN_RESOURCES = Artifact(
    "compile/report/estimate_layer_resources.json",
    "compile",
    "json",
    "FINN's per-layer LUT/BRAM estimates",
)
FINN_CYCLES = Artifact(
    "compile/report/estimate_layer_cycles.json",
    "compile",
    "json",
    "FINN's estimated cycles per layer",
)
FINN_PERFORMANCE = Artifact(
    "compile/report/estimate_network_performance.json",
    "compile",
    "json",
    "FINN's estimated cycles per frame and throughput",
)

# verify
VERIFY = Artifact(
    "verify/verify.json",
    "verify",
    "json",
    "the HW graph's {metric} and mismatches against QONNX",
)
OVERFLOW = Artifact(
    "verify/overflow.json",
    "verify",
    "json",
    "the worst-case overflow check and the wrap-around study ({metric} vs forced P)",
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
)
SYNTH = Artifact(
    "synth/synth.json",
    "synth",
    "json",
    "LUT/FF/BRAM per layer with exact and with 32-bit accumulators, totals and the LUT ratio",
)
REPORT_MD = Artifact("report/report.md", "report", "text", "the Markdown report")
REPORT_HTML = Artifact("report/report.html", "report", "text", "the HTML report")


def marker(stage: str) -> Artifact:
    """``<stage>/.stage.json``: written last by a finished stage."""
    return Artifact(f"{stage}/{STAGE_MARKER}", stage, "json", f"the {stage} stage's status")
