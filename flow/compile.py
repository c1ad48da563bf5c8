"""Compile stage: QONNX -> FINN HW-layer graph with every accumulator at its exact width.

Steps (each ``(model, ctx) -> model``, timed, saved as ``steps/NN_<step>.onnx``): QONNX
cleanup and conversion to FINN, tidy-up, input annotation (the accelerator takes integer
pixels), streamlining, host tail, conversion to HW layers with standalone thresholds, width
minimization (FINN's, then our exact widths), folding, FINN's estimates. The result is
``hw.onnx`` (abstract MVAU / Thresholding / LabelSelect nodes) plus ``accumulators.json``,
``verify.json`` (fidelity), ``overflow.json`` (independent overflow check) and
``report/estimate_*.json`` under FINN's file names.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.fold_constants import FoldConstants
from qonnx.transformation.general import (
    GiveReadableTensorNames,
    GiveUniqueNodeNames,
    RemoveStaticGraphInputs,
    RemoveUnusedTensors,
)
from qonnx.transformation.infer_data_layouts import InferDataLayouts
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.transformation.insert_topk import InsertTopK
from qonnx.util.cleanup import cleanup_model

from flow import bounds
from flow.config import BuildConfig, CompileConfig, LayerPlan, dataset_pixel_bits, layer_plans
from flow.errors import CompileError
from flow.finn_compat import finn_api, init_finn
from flow.passes import (
    HOST_TAIL_KEY,
    AbsorbInputReshape,
    AnnotateInputDatatype,
    ExactAccumulatorWidth,
    RemoveIdentityInputThreshold,
    SplitOffHostTail,
    hw_layer_summary,
)
from flow.util import atomic_write_bytes, write_json

log = logging.getLogger(__name__)

HW_DOMAIN = "finn.custom_op.fpgadataflow"
MAC_OPS = ("MVAU",)
SUPPORTED = (
    "MatMul/Gemm with constant integer weights (-> MVAU), quantized activations "
    "(MultiThreshold -> Thresholding), TopK k=1 (-> LabelSelect), and a final Mul/Add "
    "left to the host with compile.host_ops"
)


@dataclass
class CompileContext:
    """Inputs of a compile run and what its steps record on the way."""

    out_dir: Path
    cc: CompileConfig
    input_datatype: str
    plans: list[LayerPlan] | None = None
    finn_widths: dict[str, str] = field(default_factory=dict)
    host_tail: list[dict] = field(default_factory=list)
    reports: dict[str, Any] = field(default_factory=dict)


def step_qonnx_to_finn(model: ModelWrapper, ctx: CompileContext) -> ModelWrapper:
    """QONNX cleanup, then Quant nodes -> MultiThreshold / integer weights + float Mul."""
    model = cleanup_model(model)
    return model.transform(finn_api().ConvertQONNXtoFINN())


def step_tidy_up(model: ModelWrapper, ctx: CompileContext) -> ModelWrapper:
    """Shapes, constant folding, names, datatypes (FINN's step_tidy_up)."""
    for t in (
        InferShapes(),
        FoldConstants(),
        GiveUniqueNodeNames(),
        GiveReadableTensorNames(),
        InferDataTypes(),
        RemoveStaticGraphInputs(),
    ):
        model = model.transform(t)
    return model


def step_annotate_input(model: ModelWrapper, ctx: CompileContext) -> ModelWrapper:
    """The accelerator takes integer pixels: annotate the input, drop an identity input quant."""
    model = model.transform(AnnotateInputDatatype(ctx.input_datatype))
    model = model.transform(AbsorbInputReshape())
    return model.transform(RemoveIdentityInputThreshold())


def step_streamline(model: ModelWrapper, ctx: CompileContext) -> ModelWrapper:
    """FINN's streamlining for MLPs, plus top-1 as a TopK node when asked for."""
    api = finn_api()
    model = model.transform(api.absorb.AbsorbScalarBiasIntoMultiThreshold())
    model = model.transform(api.Streamline())
    model = model.transform(api.Streamline())
    if ctx.cc.top_k:
        model = model.transform(InsertTopK(k=1))
        model = model.transform(api.absorb.AbsorbScalarMulAddIntoTopK())
        topk = model.get_nodes_by_op_type("TopK")
        producer = model.find_producer(topk[0].input[0]) if topk else None
        if producer is not None and producer.op_type in ("Mul", "Add"):
            raise CompileError(
                f"compile.top_k: node {producer.name} ({producer.op_type}) scales the logits "
                "per channel, so argmax cannot move before it into hardware; quantize the last "
                "layer per tensor or set compile.top_k: false"
            )
    model = model.transform(InferDataLayouts())
    return model.transform(RemoveUnusedTensors())


def step_host_tail(model: ModelWrapper, ctx: CompileContext) -> ModelWrapper:
    """Split a final float Mul/Add off to the host, if the config allows it."""
    if not ctx.cc.host_ops:
        return model
    model = model.transform(SplitOffHostTail())
    tail = json.loads(model.get_metadata_prop(HOST_TAIL_KEY) or "[]")
    bad = [op["op_type"] for op in tail if op["op_type"] not in ctx.cc.host_ops]
    if bad:
        raise CompileError(
            f"compile.host_ops: the host tail needs {bad}, allowed are {ctx.cc.host_ops}"
        )
    ctx.host_tail = tail
    return model


def step_convert_to_hw(model: ModelWrapper, ctx: CompileContext) -> ModelWrapper:
    """Standalone Thresholding first, then MVAU without activation, then LabelSelect."""
    api = finn_api()
    model = model.transform(api.InferThresholdingLayer())
    model = model.transform(api.InferQuantizedMatrixVectorActivation())
    model = model.transform(api.InferLabelSelectLayer())
    for t in (GiveUniqueNodeNames(), InferDataLayouts(), InferDataTypes(), InferShapes()):
        model = model.transform(t)
    left = [n for n in model.graph.node if not n.domain.startswith(HW_DOMAIN)]
    if left:
        names = ", ".join(f"{n.name} ({n.op_type})" for n in left)
        raise CompileError(f"cannot map to a hardware layer: {names}. Supported: {SUPPORTED}")
    return model


def step_minimize_widths(model: ModelWrapper, ctx: CompileContext) -> ModelWrapper:
    """Minimal weight types, then our exact accumulator and threshold widths.

    FINN's ``MinimizeAccumulatorWidth`` runs on a copy only, as a second opinion recorded in
    the width table (it rounds a graph-final MVAU up to a multiple of 8; we never do).
    """
    api = finn_api()
    for i, node in enumerate(_mac_nodes(model)):
        if not model.get_initializer(node.input[1]).any():
            # Still built (a 1-bit accumulator holding 0) so sweeps keep the data point.
            layer = f" (layer {ctx.plans[i].name})" if ctx.plans else ""
            log.warning(
                "%s%s: every weight is zero; its output is constant (A2Q at this target "
                "P leaves no weight: raise P or enable train.ep_init)",
                node.name,
                layer,
            )
    # Ours first: FINN's passes assert on negative thresholds of unsigned streams, which
    # only our clipping removes; and last, since FINN may re-type thresholds.
    model = model.transform(ExactAccumulatorWidth())
    model = model.transform(api.MinimizeWeightBitWidth())
    model = model.transform(ExactAccumulatorWidth())
    finn = ModelWrapper(copy.deepcopy(model.model)).transform(api.MinimizeAccumulatorWidth())
    ctx.finn_widths = {
        n.name: getCustomOp(n).get_nodeattr("accDataType")
        for n in finn.graph.node
        if n.op_type in MAC_OPS
    }
    return model.transform(InferDataTypes())


def _specialized(model: ModelWrapper, ctx: CompileContext) -> ModelWrapper:
    """A specialized copy (MVAU_hls, Thresholding_rtl...) for SetFolding and estimates."""
    spec = ModelWrapper(copy.deepcopy(model.model))
    for node in spec.graph.node:
        if node.op_type == "MVAU":
            getCustomOp(node).set_nodeattr("preferred_impl_style", "hls")
    return spec.transform(finn_api().SpecializeLayers(ctx.cc.fpga_part))


def _mac_nodes(model: ModelWrapper) -> list:
    return [n for n in model.graph.node if n.op_type in MAC_OPS]


def step_folding(model: ModelWrapper, ctx: CompileContext) -> ModelWrapper:
    """PE/SIMD from the config: explicit per layer, or FINN's SetFolding for a target."""
    f = ctx.cc.folding
    if f.layers:
        macs = _mac_nodes(model)
        names = [p.name for p in ctx.plans] if ctx.plans else [n.name for n in macs]
        for name, node in zip(names, macs, strict=True):
            lf = f.layers.get(name)
            if lf is None:
                raise CompileError(f"compile.folding.layers: no folding for layer {name}")
            inst = getCustomOp(node)
            mh, mw = inst.get_nodeattr("MH"), inst.get_nodeattr("MW")
            if mh % lf.pe or mw % lf.simd:
                raise CompileError(
                    f"compile.folding.layers.{name}: PE={lf.pe} must divide MH={mh} and "
                    f"SIMD={lf.simd} must divide MW={mw}"
                )
            inst.set_nodeattr("PE", lf.pe)
            inst.set_nodeattr("SIMD", lf.simd)
            _fold_thresholds_like(model, node, lf.pe)
        return model
    target = f.target_cycles_per_frame or max(1, int(ctx.cc.clock_mhz * 1e6 / f.fps))
    # mvau_wwidth_max is a limit of FINN's HLS MVAU weight memory ports; our MVAU keeps its
    # weights in LUT ROM, so it does not apply.
    spec = _specialized(model, ctx).transform(finn_api().SetFolding(target, mvau_wwidth_max=8191))
    by_output = {n.output[0]: n for n in spec.graph.node}
    for node in model.graph.node:
        src, dst = getCustomOp(by_output[node.output[0]]), getCustomOp(node)
        for attr in ("PE", "SIMD"):
            if attr in dst.get_nodeattr_types():
                dst.set_nodeattr(attr, src.get_nodeattr(attr))
    return model


def _fold_thresholds_like(model: ModelWrapper, mvau, pe: int) -> None:
    """Give the Thresholding fed by an MVAU the same PE, so the stream widths match."""
    for consumer in model.find_consumers(mvau.output[0]) or []:
        if consumer.op_type == "Thresholding":
            getCustomOp(consumer).set_nodeattr("PE", pe)


def step_estimates(model: ModelWrapper, ctx: CompileContext) -> ModelWrapper:
    """FINN's step_generate_estimate_reports, without finn.builder; the model is unchanged."""
    api = finn_api()
    spec = _specialized(model, ctx)
    resources = spec.analysis(lambda m: api.res_estimation(m, ctx.cc.fpga_part))
    resources["total"] = api.aggregate_dict_keys(resources)
    cycles = spec.analysis(api.exp_cycles_per_layer)
    spec = spec.transform(api.AnnotateCycles())
    perf = dict(spec.analysis(api.dataflow_performance))
    period_ns = 1e3 / ctx.cc.clock_mhz
    perf["estimated_throughput_fps"] = 1e9 / period_ns / perf["max_cycles"]
    perf["estimated_latency_ns"] = perf["critical_path_cycles"] * period_ns
    report = ctx.out_dir / "report"
    for name, data in (
        ("estimate_layer_resources", resources),
        ("estimate_layer_cycles", cycles),
        ("estimate_network_performance", perf),
    ):
        write_json(report / f"{name}.json", data)
        ctx.reports[name] = data
    return model


STEPS: list[tuple[str, Callable[[ModelWrapper, CompileContext], ModelWrapper]]] = [
    ("qonnx_to_finn", step_qonnx_to_finn),
    ("tidy_up", step_tidy_up),
    ("annotate_input", step_annotate_input),
    ("streamline", step_streamline),
    ("host_tail", step_host_tail),
    ("convert_to_hw", step_convert_to_hw),
    ("minimize_widths", step_minimize_widths),
    ("folding", step_folding),
    ("estimates", step_estimates),
]


def accumulator_table(
    summary: dict[str, dict], plans: list[LayerPlan] | None, finn_widths: dict[str, str]
) -> list[dict]:
    """One row per MAC layer: the guarantee chain data-type bound >= target >= exact == hw."""
    macs = [(name, e) for name, e in summary.items() if e["op_type"] in MAC_OPS]
    if plans is not None and len(plans) != len(macs):
        raise CompileError(
            f"the HW graph has {len(macs)} MAC layers but the config describes {len(plans)}"
        )
    names = list(summary)
    rows = []
    for i, (node, e) in enumerate(macs):
        plan = plans[i] if plans else None
        idt = _dt(e["inputDataType"])
        wdt = _dt(e["weightDataType"])
        hw_bits = _dt(e["accDataType"])["bits"]
        k = e["MW"]
        nxt = summary[names[names.index(node) + 1]] if names.index(node) + 1 < len(names) else None
        thr_bits = (
            _dt(nxt["weightDataType"])["bits"] if nxt and nxt["op_type"] == "Thresholding" else None
        )
        target = plan.acc_bits if plan else None
        exact = e["exact_width"]
        rows.append(
            {
                "name": plan.name if plan else node,
                "node": node,
                "op": e["op_type"],
                "K": k,
                "MH": e["MH"],
                "input_bits": idt["bits"],
                "input_signed": idt["signed"],
                "weight_bits": plan.weight_bits if plan else wdt["bits"],
                "datatype_bound_bits": bounds.datatype_bound_bits(
                    k, idt["bits"], plan.weight_bits if plan else wdt["bits"], idt["signed"]
                ),
                "target_bits": target,
                "exact_bits": exact,
                "exact_range": e["exact_range"],
                "hw_acc_bits": hw_bits,
                "finn_acc_bits": _dt(finn_widths[node])["bits"] if node in finn_widths else None,
                "threshold_bits": thr_bits,
                "guaranteed": bool(target is not None and exact <= target and hw_bits == exact),
                "PE": e.get("PE"),
                "SIMD": e.get("SIMD"),
            }
        )
    return rows


def _dt(name: str) -> dict:
    from qonnx.core.datatype import DataType

    dt = DataType[name]
    return {"name": name, "bits": dt.bitwidth(), "signed": dt.signed()}


def compile_model(
    qonnx_path: Path,
    out_dir: Path,
    cc: CompileConfig,
    input_datatype: str,
    plans: list[LayerPlan] | None = None,
) -> dict[str, Any]:
    """Compile a QONNX model to ``out_dir/hw.onnx``; write ``accumulators.json`` and reports."""
    out_dir.mkdir(parents=True, exist_ok=True)
    init_finn(out_dir / "finn_build")
    ctx = CompileContext(out_dir=out_dir, cc=cc, input_datatype=input_datatype, plans=plans)
    try:
        model = ModelWrapper(str(qonnx_path))
    except Exception as e:
        raise CompileError(f"{qonnx_path}: cannot read as an ONNX model: {e}") from None
    timings: dict[str, float] = {}
    steps_dir = out_dir / "steps"
    steps_dir.mkdir(exist_ok=True)
    for i, (name, step) in enumerate(STEPS):
        t0 = time.perf_counter()
        model = step(model, ctx)
        timings[name] = round(time.perf_counter() - t0, 3)
        model.save(str(steps_dir / f"{i:02d}_{name}.onnx"))
        log.debug("compile step %s: %.2f s", name, timings[name])
    summary = hw_layer_summary(model)
    table = accumulator_table(summary, plans, ctx.finn_widths)
    write_json(out_dir / "time_per_step.json", timings)
    write_json(out_dir / "accumulators.json", table)
    write_json(out_dir / "host_tail.json", ctx.host_tail)
    atomic_write_bytes(out_dir / "hw.onnx", model.model.SerializeToString())
    return {
        "accumulators": table,
        "time_per_step": timings,
        "host_tail": ctx.host_tail,
        **ctx.reports,
    }


def input_datatype(cfg: BuildConfig) -> str:
    """The graph input type: unsigned integer pixels of the configured width."""
    bits = cfg.model.input_bits or dataset_pixel_bits(cfg.data.dataset)
    return f"UINT{bits}"


def run_compile(cfg: BuildConfig, export_dir: Path, out_dir: Path) -> dict:
    """The compile stage: compile, then verify fidelity and overflow on the test set."""
    from flow.verify import run_verification

    t0 = time.perf_counter()
    plans = layer_plans(cfg)
    result = compile_model(
        export_dir / "model.onnx", out_dir, cfg.compile, input_datatype(cfg), plans
    )
    verification = run_verification(cfg, export_dir / "model.onnx", out_dir, plans)
    result["seconds"] = round(time.perf_counter() - t0, 2)
    return {**result, **verification}


def hw_summary(out_dir: Path) -> dict[str, dict]:
    """The per-node summary of a compiled ``hw.onnx`` (weights, thresholds, widths, folding)."""
    return hw_layer_summary(ModelWrapper(str(out_dir / "hw.onnx")))
