"""The schemas of the JSON and YAML files of a build folder (see :mod:`flow.artifacts`).

Each is a pydantic model with extra keys allowed: it pins the keys every reader relies on and
the type of every key it declares (strictly: no "12" for 12, no true for 1). Keys declared
with a default are optional. Figures of the build's metric live under ``<prefix>_<k>`` with
``k`` = ``accuracy`` or ``psnr`` named by a ``metric`` field (files without one are
accuracy): :class:`Scored` checks those by the metric the file names. Derived from what the
writers write: ``train.run_train``, ``export.run_export``, ``width_tables.accumulator_table`` /
``sums_table``, ``verify.run_verify``, ``simulate.run_simulation`` and
``synthesize.run_synth_stage``.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, model_validator

from flow.metrics import metric_named


class Schema(BaseModel):
    """A JSON object of a build file: declared keys typed (strictly), other keys allowed."""

    model_config = ConfigDict(extra="allow", strict=True)


Number = float  # strict floats take ints too (JSON writes 2.0 and 2 alike)
MetricKey = Literal["accuracy", "psnr"]


class Scored(Schema):
    """An object holding figures ``<prefix>_<k>`` of the metric ``k`` it names in ``metric``.

    ``figures`` lists the prefixes that must be numbers (``quant_`` -> ``quant_accuracy``);
    the empty prefix is the bare key (``accuracy``). ``optional`` lists those that may also be
    missing or null (a build of a QONNX file has no float model to score).
    """

    figures: ClassVar[tuple[str, ...]] = ()
    optional: ClassVar[tuple[str, ...]] = ()
    metric: MetricKey | None = None

    @model_validator(mode="after")
    def _figures_are_numbers(self) -> Scored:
        extra = self.model_extra or {}
        require_figures(extra, self.metric, self.figures)
        k = metric_named(self.metric).key
        given = tuple(p for p in self.optional if extra.get(f"{p}{k}") is not None)
        require_figures(extra, self.metric, given)
        return self


def require_figures(data: dict, metric: str | None, prefixes: tuple[str, ...]) -> None:
    """Raise ``ValueError`` unless ``data[<prefix><k>]`` is a number for every prefix."""
    k = metric_named(metric).key
    for prefix in prefixes:
        value = data.get(f"{prefix}{k}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{prefix}{k} must be a number, not {value!r}")


class Config(Schema):
    """``config.yaml``: the resolved config; readers use these sections."""

    name: str
    data: dict = {}
    quant: dict = {}
    compile: dict = {}


class Timing(Schema):
    """One stage's entry of ``timings.json`` (a cached stage may have no seconds yet)."""

    seconds: Number | None = None
    last_status: str | None = None


class Marker(Schema):
    """``<stage>/.stage.json``: written last by a finished stage."""

    stage: str
    digest: str
    seconds: Number | None = None
    summary: dict = {}
    version: str | None = None
    # File (relative to the stage folder) -> content hash of every output, checked before reuse.
    outputs: dict[str, str] | None = None


class LayerMetrics(Schema):
    """One layer of ``train/metrics.json``."""

    name: str
    sparsity: Number
    method: str | None = None
    target_bits: int | None = None
    K: int | None = None
    input_bits: int | None = None
    weight_bits: int | None = None
    max_l1: int | None = None
    l1_budget: Number | None = None
    zero_channels: int | None = None
    all_zero: bool | None = None


class TrainMetrics(Scored):
    """``train/metrics.json``: ``float_<k>``, ``quant_<k>`` and the per-layer statistics."""

    figures: ClassVar[tuple[str, ...]] = ("quant_",)
    optional: ClassVar[tuple[str, ...]] = ("float_",)
    # "onnx:PATH" for a build of a QONNX file made elsewhere (nothing trained).
    source: str | None = None
    dataset: str | None = None
    train_samples: int | None = None
    test_samples: int | None = None
    device: str | None = None
    bicubic_psnr: Number | None = None
    ep_init_layers: list[str] = []
    layers: list[LayerMetrics] = []
    warnings: list[str] = []


class ExportLayer(Schema):
    """One layer of the export check: the exported integers against the layer's bound."""

    name: str
    exact_bits: int
    ok: bool
    node: str | None = None
    K: int | None = None
    input_bits: int | None = None
    input_signed: bool | None = None
    weight_bits: int | None = None
    method: str | None = None
    target_bits: int | None = None
    datatype_bound_bits: int | None = None
    # Data-type layers: the width their (K, N, M) types guarantee.
    datatype_exact_bits: int | None = None
    max_l1: int | None = None
    budget: Number | None = None
    problems: list[str] = []


class Fidelity(Scored):
    """Brevitas (or, for a build of a QONNX file, that file as given) vs the exported QONNX
    model on the export-check samples."""

    figures: ClassVar[tuple[str, ...]] = ("qonnx_",)
    optional: ClassVar[tuple[str, ...]] = ("brevitas_", "source_")
    samples: int
    ok: bool
    summary: str


class ExportCheck(Schema):
    """``export/export_check.json``."""

    ok: bool
    layers: list[ExportLayer]
    fidelity: Fidelity


class AccumulatorRow(Schema):
    """One MAC layer of ``compile/accumulators.json``: the guarantee chain of its widths."""

    name: str
    exact_bits: int
    node: str | None = None
    op: str | None = None
    K: int | None = None
    MH: int | None = None
    input_bits: int | None = None
    input_signed: bool | None = None
    weight_bits: int | None = None
    datatype_bound_bits: int | None = None
    target_bits: int | None = None
    exact_range: list[int] | None = None
    hw_acc_bits: int | None = None
    finn_acc_bits: int | None = None
    threshold_bits: int | None = None
    guaranteed: bool | None = None
    # What guarantees it: "A2Q L1 budget", "A2Q+ L1 budget" or "data-type bound".
    guarantee: str | None = None
    PE: int | None = None
    SIMD: int | None = None
    # Weight sparsity: zero weights, and (PE, SIMD) lanes zero in every fold (fractions).
    zero_weight_fraction: Number | None = None
    zero_lane_fraction: Number | None = None
    # Output channels removed as never read or constant (flow.passes.prune_channels).
    pruned_channels: int | None = None


class FoldingRow(Schema):
    """One MAC layer of ``compile/folding.json`` (:mod:`flow.folding`)."""

    name: str
    node: str
    op: str
    pe: int
    simd: int
    cycles: int
    mac_style: Literal["rom", "const"]
    asked_style: str
    by: Literal["config", "finn", "area"]
    finn_pe: int
    finn_simd: int
    estimate: dict[str, Number] | None = None
    candidates: list[dict[str, Any]] = []


class SumRow(Schema):
    """One residual add or global pool of ``compile/sums.json``."""

    node: str
    op: str
    inputs: list[str]
    terms: int | None = None
    hw_bits: int | None = None
    hw_type: str | None = None
    PE: int | None = None


class HostOp(Schema):
    """One float op of ``compile/host_tail.json``, replayed on the host after the HW."""

    op_type: str
    shape: list[int]
    constant: Any


class FinnPerformance(Schema):
    """``compile/report/estimate_network_performance.json`` (FINN's analysis)."""

    max_cycles: Number
    estimated_throughput_fps: Number
    max_cycles_node_name: str | None = None
    critical_path_cycles: Number | None = None


class Verify(Scored):
    """``verify/verify.json``: the HW graph against QONNX on the test samples."""

    figures: ClassVar[tuple[str, ...]] = ("hw_",)
    samples: int | None = None
    mismatches: int | None = None
    tolerance: str | None = None
    ok: bool | None = None


class WorstCase(Schema):
    """Whether both worst-case input vectors of a MAC node fit its accumulator."""

    node: str
    fits: bool
    hw_acc_bits: int | None = None


class AtHwWidth(Schema):
    """One policy layer's overflow count on the test set at its hardware width."""

    overflow_events: int
    dot_products: int | None = None


class WrapRow(Schema):
    """One forced width P of the wrap-around study; its ``<k>`` is checked by the parent."""

    acc_bits: int
    overflow_events: int | None = None
    layers: dict[str, dict] = {}


class Overflow(Schema):
    """``verify/overflow.json``: worst-case check, test-set overflows, wrap-around study."""

    metric: MetricKey | None = None
    worst_case: list[WorstCase] = []
    test_set_at_hw_widths: dict[str, AtHwWidth] = {}
    sums: list[dict] = []
    wrap_study: list[WrapRow]
    samples: int | None = None

    @model_validator(mode="after")
    def _wrap_figures(self) -> Overflow:
        for i, row in enumerate(self.wrap_study):
            try:
                require_figures(row.model_extra or {}, self.metric, ("",))
            except ValueError as e:
                raise ValueError(f"wrap_study[{i}]: {e}") from None
        return self


class Sim(Scored):
    """``sim/sim.json``: the simulated ``<k>``, bit-exactness and throughput."""

    figures: ClassVar[tuple[str, ...]] = ("",)
    frames: int
    mismatches: int
    bit_exact: bool
    latency_cycles: int
    cycles_per_frame: Number
    clock_mhz: Number
    fps: Number | None
    worst_case_ok: bool
    peak_memory_mb: Number | None = None


class Resources(Schema):
    """LUT/LUTRAM/FF/BRAM36/DSP of one synthesized module or sum."""

    lut: Number
    lutram: Number
    ff: Number
    bram36: Number
    dsp: Number


class SynthNode(Resources):
    """One node of a variant; ``estimate`` is FINN's figure for it, when matched."""

    layer: str | None = None
    op_type: str | None = None
    estimate: dict | None = None
    estimate_delta_lut: Number | None = None


class SynthVariant(Schema):
    """One hardware variant: per node, the top level (stitched or summed) and utilization."""

    layers: dict[str, SynthNode]
    top: Resources | None = None
    top_from: str | None = None
    utilization: dict[str, Number] = {}
    # Nodes synthesized in slices and scaled (flow.hw.slices).
    scaled_nodes: list[str] = []


class Synth(Schema):
    """``synth/synth.json``: both variants, the acc32 comparison and the tool's identity."""

    flow: str
    part: str
    variants: dict[Literal["exact", "acc32"], SynthVariant]
    version: str | None = None
    exact: Resources | None = None
    acc32: Resources | None = None
    lut_ratio: Number | None = None
    lutram_ratio: Number | None = None
    ff_ratio: Number | None = None
    bram_ratio: Number | None = None
    dsp_ratio: Number | None = None
    peak_memory_mb: Number | None = None

    @model_validator(mode="after")
    def _has_exact(self) -> Synth:
        if "exact" not in self.variants:
            raise ValueError("variants: the exact variant is missing")
        return self


class SweepSummary(Schema):
    """``summary.json`` of a sweep folder: one row per point (figures may be None)."""

    name: str | None = None
    base_config: str | None = None
    metric: str | None = None
    axes: dict[str, list] = {}
    points: list[dict] = []
    groups: list[dict] = []


@functools.cache
def adapter(schema: Any) -> TypeAdapter:
    """A (cached) validator of ``schema``: a model, or ``list``/``dict`` of one."""
    return TypeAdapter(schema)


def _where(loc: tuple) -> str:
    """``("layers", 0, "exact_bits")`` -> ``layers[0].exact_bits: `` (nothing for the top)."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return f"{out}: " if out else ""


def explain(error: ValidationError, limit: int = 3) -> str:
    """The first ``limit`` problems of a validation error, one line: where, what, the value."""
    parts = []
    for err in error.errors()[:limit]:
        value = err.get("input")
        shown = "" if isinstance(value, dict | list) else f" (got {value!r:.60})"
        parts.append(f"{_where(err['loc'])}{err['msg'].removeprefix('Value error, ')}{shown}")
    more = error.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
