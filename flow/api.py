"""The Python API: what ``a2q run`` and ``a2q inspect`` do, from Python.

::

    import flow

    cfg = flow.load_config("configs/tfc_digits.yaml", overrides=["quant.acc_bits=12"])
    build = flow.run(cfg, build_dir="build", until="verify")
    build.stages["compile"].status      # "ran" or "cached"
    build.accuracy, build.accumulators  # figures read from the build's files
    flow.open_build("build/tfc_digits") # the same view of a build folder made earlier

Every figure is read from the files the stages wrote, through :mod:`flow.artifacts` (checked
against their schemas). Errors are the :class:`flow.errors.A2QError` the command line reports,
with the same messages; they are raised, not printed.

No stage imports this module, so editing it leaves every stage's cache key
(:func:`flow.sources.code_digest`) unchanged.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from flow import artifacts as A
from flow.artifacts import Build
from flow.logs import setup_logging

if TYPE_CHECKING:  # the config module imports numpy: loaded when a config is
    from flow.config import BuildConfig

ConfigSource = str | os.PathLike | Mapping


@dataclass(frozen=True)
class StageResult:
    """One finished stage of a build, as its ``.stage.json`` records it.

    ``status`` is ``ran`` (this :func:`run` ran it) or ``cached`` (its results were up to date
    and reused) for the stages of a :func:`run`, and ``finished`` for those of
    :func:`open_build`. ``seconds`` is the time the stage took when it ran; ``summary`` the
    figures ``a2q run`` prints beside it; ``digest`` its cache key.
    """

    name: str
    status: str
    seconds: float | None
    summary: Mapping[str, Any]
    digest: str


@dataclass(frozen=True)
class BuildResult:
    """A build folder's results: its finished stages and what their files hold.

    ``stages`` maps stage name -> :class:`StageResult`, in pipeline order. The file contents
    are the parsed, schema-checked JSON (plain dicts and lists), None when their stage is not
    among ``stages``: ``train`` is ``train/metrics.json``, ``export`` is
    ``export/export_check.json``, ``accumulators`` the rows of ``compile/accumulators.json``,
    ``verify`` and ``overflow`` the verify stage's ``verify.json`` and ``overflow.json``,
    ``sim`` is ``sim/sim.json`` and ``synth`` is ``synth/synth.json``. ``metric`` is the key of
    the build's metric (``accuracy`` or ``psnr``; the properties below are figures of it).
    ``unfinished`` lists the stages with a folder but no ``.stage.json`` (interrupted).
    """

    path: Path
    stages: Mapping[str, StageResult]
    metric: str
    train: dict | None
    export: dict | None
    accumulators: list[dict] | None
    verify: dict | None
    overflow: dict | None
    sim: dict | None
    synth: dict | None
    unfinished: tuple[str, ...]

    @property
    def name(self) -> str:
        """The build's name (its folder's name)."""
        return self.path.name

    @property
    def float_score(self) -> float | None:
        """The float model's figure of the metric (train stage)."""
        return self.train[f"float_{self.metric}"] if self.train else None

    @property
    def quant_score(self) -> float | None:
        """The quantized (QAT) model's figure of the metric (train stage)."""
        return self.train[f"quant_{self.metric}"] if self.train else None

    @property
    def hw_score(self) -> float | None:
        """The HW graph's figure of the metric on the test set (verify stage)."""
        return self.verify[f"hw_{self.metric}"] if self.verify else None

    @property
    def sim_score(self) -> float | None:
        """The simulated accelerator's figure of the metric on its frames (sim stage)."""
        return self.sim[self.metric] if self.sim else None

    @property
    def score(self) -> float | None:
        """The build's figure of its metric: the HW graph's when verify finished, else the
        quantized model's (None before training finished)."""
        return self.hw_score if self.verify else self.quant_score

    @property
    def accuracy(self) -> float | None:
        """:attr:`score` in percent for a classifier; None for a super-resolution build."""
        return self.score if self.metric == "accuracy" else None

    @property
    def psnr(self) -> float | None:
        """:attr:`score` in dB for a super-resolution build; None for a classifier."""
        return self.score if self.metric == "psnr" else None

    @property
    def resources(self) -> dict | None:
        """LUT / LUTRAM / FF / BRAM36 / DSP of the accelerator with exact accumulators."""
        return A.synth_variant(self.synth, "exact").get("top") if self.synth else None

    @property
    def ratios(self) -> dict[str, float | None] | None:
        """32-bit over exact accumulators, per resource (:func:`flow.artifacts.synth_ratios`)."""
        return A.synth_ratios(self.synth) if self.synth else None

    @property
    def report(self) -> Path | None:
        """The HTML report, once the report stage finished."""
        return A.REPORT_HTML.at(self.path) if "report" in self.stages else None


def load_config(source: ConfigSource, overrides: Iterable[str] = ()) -> BuildConfig:
    """A checked :class:`flow.config.BuildConfig` from a YAML file or from plain data.

    ``source`` is a path to a config YAML (``name`` defaults to the file's stem) or a dict of
    the same keys (``name`` required); ``overrides`` are ``key.path=value`` strings, the
    values parsed as YAML, as ``a2q run --set`` takes them. Raises the
    :class:`flow.errors.ConfigError` ``a2q run`` reports for the same config.
    """
    from flow import config

    overrides = [overrides] if isinstance(overrides, str) else list(overrides)
    if isinstance(source, str | os.PathLike):
        return config.load_config(source, overrides)
    if isinstance(source, Mapping):
        data = config.apply_overrides(copy.deepcopy(dict(source)), overrides)
        return config.parse_config(data)
    raise TypeError(f"config: give a path to a YAML file or a dict, not {type(source).__name__}")


def run(
    config: BuildConfig | ConfigSource,
    build_dir: str | os.PathLike = "build",
    *,
    until: str | None = None,
    from_stage: str | None = None,
    force: bool = False,
    quiet: bool = True,
) -> BuildResult:
    """Run a build's stages, as ``a2q run`` does, and return its results.

    ``config`` is a :class:`flow.config.BuildConfig` or anything :func:`load_config` takes;
    the build goes to ``build_dir/<name>/``. ``until``, ``from_stage`` and ``force`` are
    ``--until``, ``--from`` and ``--force``. The build's ``log.txt`` gets the log as with the
    command line; ``quiet`` (the default) shows warnings only and no progress bars, otherwise
    the progress goes to stderr. The ``flow`` logger's handlers and level are restored
    afterwards, so repeated runs add none. The result covers the stages up to ``until``.
    """
    from flow.config import BuildConfig
    from flow.pipeline import build_folder, run_pipeline

    cfg = config if isinstance(config, BuildConfig) else load_config(config)
    root = Path(build_dir)
    folder = build_folder(root, cfg.name)
    with _build_log(quiet, A.LOG.at(folder)):
        results = run_pipeline(
            cfg,
            root,
            from_stage=from_stage,
            until=until,
            force=force,
            show_progress=not quiet,
        )
    stages = {name: _stage(name, r["status"], r) for name, r in results.items()}
    return _result(Build(folder), stages)


def open_build(path: str | os.PathLike) -> BuildResult:
    """The results of an existing build folder (``build/<name>``), every finished stage's.

    Raises the :class:`flow.artifacts.ArtifactError` ``a2q inspect`` reports when ``path`` is
    not a build folder or one of its files is malformed.
    """
    build = Build(Path(path))
    build.check_is_build()
    stages = {
        name: _stage(name, "finished", marker)
        for name in A.STAGES
        if (marker := build.marker(name)) is not None
    }
    return _result(build, stages)


def _stage(name: str, status: str, marker: dict) -> StageResult:
    return StageResult(
        name=name,
        status=status,
        seconds=marker.get("seconds"),
        summary=MappingProxyType(marker.get("summary") or {}),
        digest=marker["digest"],
    )


def _result(build: Build, stages: dict[str, StageResult]) -> BuildResult:
    """Read the files of ``stages`` (a later stage's files, left from an earlier run, may be
    stale: they are not read)."""

    def get(artifact: A.Artifact) -> Any:
        return build.get(artifact) if artifact.stage in stages else None

    return BuildResult(
        path=build.dir,
        stages=MappingProxyType(stages),
        metric=build.metric.key,
        train=get(A.TRAIN_METRICS),
        export=get(A.EXPORT_CHECK),
        accumulators=get(A.ACCUMULATORS),
        verify=get(A.VERIFY),
        overflow=get(A.OVERFLOW),
        sim=get(A.SIM),
        synth=get(A.SYNTH),
        unfinished=tuple(build.unfinished()),
    )


@contextmanager
def _build_log(quiet: bool, log_file: Path) -> Iterator[None]:
    """The command line's logging (:func:`flow.logs.setup_logging`) for one run, then the
    ``flow`` logger as it was: its handlers back, the run's closed (the log file with them)."""
    logger = logging.getLogger("flow")
    handlers, level = list(logger.handlers), logger.level
    setup_logging(quiet, log_file)
    try:
        yield
    finally:
        for handler in logger.handlers:
            handler.close()
        logger.handlers[:] = handlers
        logger.setLevel(level)
