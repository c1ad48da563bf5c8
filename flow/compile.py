"""Compile stage: QONNX -> FINN HW-layer graph with every accumulator at its exact width.

Steps (each ``(model, ctx) -> model``, timed, saved as ``steps/NN_<step>.onnx``): QONNX
cleanup and conversion to FINN, tidy-up, input annotation (the accelerator takes integer
pixels), streamlining, host tail, conversion to HW layers with standalone thresholds, width
minimization (FINN's, then our exact widths), folding, FINN's estimates. The result is
``hw.onnx`` (abstract MVAU / Thresholding / LabelSelect nodes) plus ``accumulators.json``,
``sums.json``, ``host_tail.json``, ``time_per_step.json`` and ``report/estimate_*.json`` under
FINN's file names. The ``verify`` stage (:mod:`flow.verify`) checks the result.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from qonnx.core.datatype import DataType
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
from qonnx.transformation.lower_convs_to_matmul import LowerConvsToMatMul
from qonnx.transformation.make_input_chanlast import MakeInputChannelsLast
from qonnx.util.cleanup import cleanup_model

from flow import artifacts, folding, ops, width_tables
from flow.artifacts import read_onnx
from flow.config import (
    BuildConfig,
    CompileConfig,
    LayerPlan,
    layer_plans,
    mac_styles,
    pixel_bits_of,
)
from flow.errors import CompileError
from flow.finn_compat import finn_api, init_finn
from flow.foreign import check_supported
from flow.passes import (
    HOST_TAIL_KEY,
    AbsorbInputReshape,
    AnnotateInputDatatype,
    ExactAccumulatorWidth,
    FoldConvBiasQuant,
    MakeOutputChannelsLast,
    MoveScalarMulPastMaxPoolNHWC,
    PruneDeadChannels,
    ReduceMeanToGlobalAveragePool,
    RemoveIdentityInputThreshold,
    SplitOffHostTail,
    hw_layer_summary,
)
from flow.passes.exact_accumulator_width import mac_weight_matrix
from flow.qonnx_weights import exported_integer_weights
from flow.stages import stage_file
from flow.util import atomic_write_bytes, write_json

log = logging.getLogger(__name__)

# Graph rewrites repeated until nothing changes: they move scales and layout transposes
# past forks, joins, im2col and MatMuls into the next thresholds (FINN's CNV, MobileNet and
# ResNet streamlining, in one loop).
_MAX_STREAMLINE_ROUNDS = 20


@dataclass
class CompileContext:
    """Inputs of a compile run and what its steps record on the way."""

    out_dir: Path
    cc: CompileConfig
    input_datatype: str
    plans: list[LayerPlan] | None = None
    # Integer weights (out, K) of the exported MAC layers, in the plans' order.
    plan_weights: list[np.ndarray] | None = None
    # HW MAC node name -> its config layer, set once the MAC nodes exist.
    layer_of: dict[str, LayerPlan] = field(default_factory=dict)
    finn_widths: dict[str, str] = field(default_factory=dict)
    # MAC style asked per layer (rom, const, auto); the folding step resolves auto.
    mac_styles: dict[str, str] = field(default_factory=dict)
    folding: list[dict] = field(default_factory=list)
    # MAC node -> output channels removed by the prune_channels step.
    pruned: dict[str, int] = field(default_factory=dict)
    host_tail: list[dict] = field(default_factory=list)
    reports: dict[str, Any] = field(default_factory=dict)


def step_qonnx_to_finn(model: ModelWrapper, ctx: CompileContext) -> ModelWrapper:
    """QONNX cleanup, then Quant nodes -> MultiThreshold / integer weights + float Mul."""
    check_supported(model, "the QONNX model", CompileError)
    model = cleanup_model(model.transform(FoldConvBiasQuant()))
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


def _streamline_rounds(model: ModelWrapper) -> ModelWrapper:
    api = finn_api()
    r, a = api.reorder, api.absorb
    rewrites = [
        api.to_hw.InferGlobalAccPoolLayer(),
        api.Streamline(),
        r.MoveLinearPastFork(),
        r.MoveTransposePastFork(),
        r.MoveScalarLinearPastInvariants(),
        r.MoveScalesPastIm2Col(),
        r.MoveScalarMulPastMatMul(),
        r.MoveTransposePastJoinAdd(),
        r.MoveMulPastJoinAdd(),
        r.MoveLinearPastEltwiseAdd(),
        r.MoveTransposePastJoinConcat(),
        r.MoveMulPastJoinConcat(),
        a.AbsorbTransposeIntoResize(),
        a.AbsorbTransposeIntoMultiThreshold(),
        a.AbsorbConsecutiveTransposes(),
        r.MakeMaxPoolNHWC(),
        MoveScalarMulPastMaxPoolNHWC(),
        a.AbsorbMulIntoMultiThreshold(),
    ]
    for _ in range(_MAX_STREAMLINE_ROUNDS):
        before = model.model.SerializeToString()
        for t in rewrites:
            model = model.transform(t)
        if model.model.SerializeToString() == before:
            return model
    log.warning("streamlining did not settle in %d rounds", _MAX_STREAMLINE_ROUNDS)
    return model


def step_streamline(model: ModelWrapper, ctx: CompileContext) -> ModelWrapper:
    """FINN's streamlining, convs lowered to im2col + MatMul, and top-1 as a TopK node.

    Convolutions become Im2Col + MatMul in NHWC; max-pools NHWC; the graph input becomes
    NHWC (channels last), so a 4-D accelerator input is the image in NHWC order.
    """
    api = finn_api()
    model = model.transform(ReduceMeanToGlobalAveragePool())
    model = model.transform(api.absorb.AbsorbScalarBiasIntoMultiThreshold())
    model = model.transform(api.reorder.MoveScalarLinearPastInvariants())
    model = model.transform(api.Streamline())
    model = model.transform(LowerConvsToMatMul())
    model = model.transform(api.reorder.MakeMaxPoolNHWC())
    model = model.transform(InferDataLayouts())
    model = model.transform(api.reorder.MakeScaleResizeNHWC())
    model = model.transform(api.absorb.AbsorbTransposeIntoMultiThreshold())
    model = _streamline_rounds(model)
    if len(model.graph.input[0].type.tensor_type.shape.dim) == 4:
        model = model.transform(MakeInputChannelsLast())
        model = model.transform(api.absorb.AbsorbConsecutiveTransposes())
        # A resize of the input itself (a super-resolution net's global residual) only sees
        # its NHWC layout now: make it NHWC and move the new transposes out again.
        model = model.transform(InferDataLayouts())
        model = model.transform(api.reorder.MakeScaleResizeNHWC())
        model = _streamline_rounds(model)
    if len(model.graph.output[0].type.tensor_type.shape.dim) == 4:
        # An image-producing network streams its output pixels channels-last too.
        model = model.transform(MakeOutputChannelsLast())
    if ctx.cc.top_k:
        model = model.transform(InsertTopK(k=1))
        model = model.transform(api.absorb.AbsorbScalarMulAddIntoTopK())
        topk = model.get_nodes_by_op_type("TopK")
        producer = model.find_producer(topk[0].input[0]) if topk else None
        if producer is not None and producer.op_type in ("Mul", "Add"):
            what = (
                "adds a float bias to the logits per channel (a bias the integer datapath "
                "cannot absorb); quantize the last layer's bias (e.g. Brevitas Int32Bias) or "
                "leave it out,"
                if producer.op_type == "Add"
                else "scales the logits per channel; quantize the last layer per tensor"
            )
            raise CompileError(
                f"compile.top_k: node {producer.name} ({producer.op_type}) {what} or set "
                "compile.top_k: false with compile.host_ops: [Mul, Add] (the host applies it), "
                "since argmax cannot move before it into hardware"
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
    """Standalone Thresholding first, then MVAU/VVAU without activation, then the rest.

    Pooling goes before the sliding windows, since it adds an Im2Col of its own; the
    flatten between the last conv and the first dense layer is absorbed into its weights.
    """
    api = finn_api()
    h = api.to_hw
    for t in (
        h.InferThresholdingLayer(),
        h.InferQuantizedMatrixVectorActivation(),
        h.InferVectorVectorActivation(),
        h.InferLabelSelectLayer(),
        h.InferPool(),
        h.InferConvInpGen(),
        h.InferGlobalAccPoolLayer(),
        h.InferDuplicateStreamsLayer(),
        h.InferElementwiseBinaryOperation(),
        InferDataLayouts(),  # the streams a DuplicateStreams made, which an upsample may read
        h.InferUpsample(),
        h.InferConcatLayer(),
        api.RemoveCNVtoFCFlatten(),
    ):
        model = model.transform(t)
        model = model.transform(InferDataTypes())
    for t in (GiveUniqueNodeNames(), InferDataLayouts(), InferDataTypes(), InferShapes()):
        model = model.transform(t)
    hw = [op.op_type for op in ops.supported()]
    left = [n for n in model.graph.node if n.op_type not in hw]
    unsupported = [
        n
        for n in model.graph.node
        if n.op_type in hw and not ops.get(n.op_type).supports(getCustomOp(n))
    ]
    if left or unsupported:
        names = ", ".join(f"{n.name} ({n.op_type})" for n in left + unsupported)
        raise CompileError(f"cannot map to a hardware layer: {names}. Supported: {_supported()}")
    if ctx.plans is not None:
        ctx.layer_of = match_layers(model, ctx.plans, ctx.plan_weights)
    return model


def _supported() -> str:
    """What the HW ops come from, for the compile error."""
    ways = "; ".join(f"{op.source} (-> {op.op_type})" for op in ops.supported())
    return ways + "; and a final Mul/Add left to the host with compile.host_ops"


def _signature(channels: np.ndarray) -> tuple:
    """Order-free fingerprint of a weight matrix given as one row per output channel."""
    return tuple(sorted(tuple(sorted(int(v) for v in row)) for row in channels))


def match_layers(
    model: ModelWrapper, plans: list[LayerPlan], weights: list[np.ndarray] | None
) -> dict[str, LayerPlan]:
    """Which config layer each MAC node computes.

    Streamlining may reorder the branches of a residual block, and lowering permutes each
    channel's inputs (im2col order, absorbed flattens), so nodes are matched to layers by
    shape and by the multiset of integer weights of every output channel, which none of
    these change; ties (identical layers) keep graph order.
    """
    macs = _mac_nodes(model)
    if len(macs) != len(plans):
        raise CompileError(
            f"the HW graph has {len(macs)} MAC layers but the config describes {len(plans)}"
        )
    free = list(range(len(plans)))
    out: dict[str, LayerPlan] = {}
    for node in macs:
        w = mac_weight_matrix(model, node)  # (K, channels)
        shape = (w.shape[0], w.shape[1])
        cands = [i for i in free if (plans[i].in_features, plans[i].out_features) == shape]
        if weights is not None and len(cands) > 1:
            sig = _signature(np.round(w).astype(np.int64).T)
            same = [i for i in cands if _signature(weights[i]) == sig]
            cands = same or cands
        if not cands:
            raise CompileError(
                f"HW node {node.name} (K={shape[0]}, {shape[1]} outputs) matches no layer of "
                "the config; the exported model does not belong to this config"
            )
        free.remove(cands[0])
        out[node.name] = plans[cands[0]]
    return out


def step_prune_channels(model: ModelWrapper, ctx: CompileContext) -> ModelWrapper:
    """Remove the channels between two MVAUs that are never read or always constant
    (:class:`flow.passes.PruneDeadChannels`; ``compile.prune_channels``)."""
    if not ctx.cc.prune_channels:
        return model
    prune = PruneDeadChannels()
    model = model.transform(prune)
    ctx.pruned = dict(prune.pruned)
    for node, n in prune.pruned.items():
        plan = ctx.layer_of.get(node)
        log.info(
            "%s%s: %d output channels pruned (never read or constant; %d constants moved into "
            "the next thresholds)",
            node,
            f" (layer {plan.name})" if plan else "",
            n,
            prune.folded.get(node, 0),
        )
    return model


def step_minimize_widths(model: ModelWrapper, ctx: CompileContext) -> ModelWrapper:
    """Minimal weight types, then our exact accumulator and threshold widths.

    FINN's ``MinimizeAccumulatorWidth`` runs on a copy only, as a second opinion recorded in
    the width table (it rounds a graph-final MVAU up to a multiple of 8; we never do).
    """
    api = finn_api()
    for node in _mac_nodes(model):
        if not model.get_initializer(node.input[1]).any():
            # Still built (a 1-bit accumulator holding 0) so sweeps keep the data point.
            plan = ctx.layer_of.get(node.name)
            layer = f" (layer {plan.name})" if plan else ""
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
    ctx.finn_widths = _finn_widths(model)
    return model.transform(InferDataTypes())


def _finn_widths(model: ModelWrapper) -> dict[str, str]:
    """FINN's accumulator type of each MAC node (MAC node -> type name), sized as FINN's
    ``MinimizeAccumulatorWidth`` does, on a copy. A graph-final MVAU whose weights are all
    zero has none: FINN asserts on its 0-bit accumulator (rounding it up to 8 bits)."""
    from finn.util.fpgadataflow import is_fpgadataflow_node

    finn = ModelWrapper(copy.deepcopy(model.model))
    widths = {}
    for i in range(len(finn.graph.node)):  # by index: InferDataTypes replaces the protos
        node = finn.graph.node[i]
        if not is_fpgadataflow_node(node):
            continue
        inst = getCustomOp(node)
        if not hasattr(inst, "minimize_accumulator_width"):
            continue
        try:
            inst.minimize_accumulator_width(finn)
        except AssertionError as e:
            log.info("FINN cannot size the accumulator of %s: %s", node.name, e)
            continue
        if node.op_type in ops.mac_op_types():
            widths[node.name] = inst.get_nodeattr("accDataType")
        finn = finn.transform(InferDataTypes())
    return widths


def _specialized(model: ModelWrapper, ctx: CompileContext) -> ModelWrapper:
    """A specialized copy (MVAU_hls, Thresholding_rtl...) for SetFolding and estimates."""
    spec = ModelWrapper(copy.deepcopy(model.model))
    for node in spec.graph.node:
        if node.op_type in ops.mac_op_types():
            getCustomOp(node).set_nodeattr("preferred_impl_style", "hls")
    return spec.transform(finn_api().SpecializeLayers(ctx.cc.fpga_part))


def _mac_nodes(model: ModelWrapper) -> list:
    return [n for n in model.graph.node if n.op_type in ops.mac_op_types()]


def _op(node) -> ops.HwOp:
    return ops.get(node.op_type, node=node.name, error=CompileError)


def step_folding(model: ModelWrapper, ctx: CompileContext) -> ModelWrapper:
    """PE/SIMD from the config (explicit per MAC layer, or FINN's SetFolding for a target),
    then the stream nodes around each MAC layer folded to match its templates."""
    f = ctx.cc.folding
    if f.layers:
        macs = _mac_nodes(model)
        names = [ctx.layer_of[n.name].name if ctx.layer_of else n.name for n in macs]
        for name, node in zip(names, macs, strict=True):
            lf = f.layers.get(name)
            if lf is None:
                raise CompileError(f"compile.folding.layers: no folding for layer {name}")
            inst, op = getCustomOp(node), _op(node)
            mh, mw = op.mac_dims(inst)
            if mh % lf.pe or mw % lf.simd:
                raise CompileError(
                    f"compile.folding.layers.{name}: PE={lf.pe} must divide {mh} outputs and "
                    f"SIMD={lf.simd} must divide {mw} inputs"
                )
            problem = op.check_folding(lf.pe, lf.simd)
            if problem:
                raise CompileError(f"compile.folding.layers.{name}: {problem}")
            inst.set_nodeattr("PE", lf.pe)
            inst.set_nodeattr("SIMD", lf.simd)
            _fold_thresholds_like(model, node, lf.pe)
    else:
        target = f.target(ctx.cc.clock_mhz)
        # FINN's own choice, with its HLS weight-port limit (mvau_wwidth_max: a wider weight
        # word is not tried); compile.folding.objective: area searches every folding.
        spec = _specialized(model, ctx)
        for node in spec.graph.node:
            op = ops.find(node.op_type)
            if op is not None:
                op.before_set_folding(getCustomOp(node))
        spec = spec.transform(finn_api().SetFolding(target, mvau_wwidth_max=8191))
        by_output = {n.output[0]: n for n in spec.graph.node}
        for node in model.graph.node:
            src, dst = getCustomOp(by_output[node.output[0]]), getCustomOp(node)
            for attr in ("PE", "SIMD"):
                if attr in dst.get_nodeattr_types():
                    dst.set_nodeattr(attr, src.get_nodeattr(attr))
    ctx.folding = _refine_folding(model, ctx, "config" if f.layers else f.objective)
    # An explicit folding is the user's: only FINN's choice is aligned to the windows.
    _fold_stream_nodes(model, align_simd=not f.layers)
    return model


def _refine_folding(model: ModelWrapper, ctx: CompileContext, by: str) -> list[dict]:
    """Each MAC layer's final PE, SIMD and MAC style (:mod:`flow.folding`): the area search
    for ``by`` "area", ``auto`` styles resolved by the area model; the rows of folding.json."""
    layers = []
    macs = _mac_nodes(model)
    for node in macs:
        inst, op = getCustomOp(node), _op(node)
        name = ctx.layer_of[node.name].name if ctx.layer_of else node.name
        mh, mw = op.mac_dims(inst)
        # Only MVAUs are priced: the generator writes MVAUs, a VVAU keeps the ROM template.
        priced = node.op_type == "MVAU"
        vectors = int(np.prod(inst.get_nodeattr("numInputVectors" if priced else "Dim")))
        idt = inst.get_input_datatype()
        acc = DataType[inst.get_nodeattr("accDataType")].bitwidth()
        word, source = _stream_in(model, node)
        thr = next(
            (c for c in model.find_consumers(node.output[0]) or [] if c.op_type == "Thresholding"),
            None,
        )
        layers.append(
            folding.MacLayer(
                name=name,
                node=node.name,
                op=node.op_type,
                w=model.get_initializer(node.input[1]).T.astype(np.int64) if priced else None,
                dims=(mh, mw, vectors),
                current=(inst.get_nodeattr("PE"), inst.get_nodeattr("SIMD")),
                asked_style=ctx.mac_styles.get(name, "rom"),
                by=by if priced or by == "config" else "finn",
                widths=(idt.bitwidth(), idt.signed(), acc),
                word=word,
                linked=bool(layers) and source is not None and source == layers[-1].node,
                # its thresholds are about as wide as the accumulator they compare
                thresholds=(getCustomOp(thr).get_nodeattr("numSteps"), acc) if thr else None,
            )
        )
    rows = folding.choose(layers, ctx.cc.folding.target(ctx.cc.clock_mhz))
    for node, row in zip(macs, rows, strict=True):
        if (row.pe, row.simd) != (row.finn_pe, row.finn_simd):
            inst = getCustomOp(node)
            inst.set_nodeattr("PE", row.pe)
            inst.set_nodeattr("SIMD", row.simd)
            _fold_thresholds_like(model, node, row.pe)
            log.info(
                "folding %s: PE=%d SIMD=%d %s (%s LUT estimated; FINN's PE=%d SIMD=%d)",
                row.name, row.pe, row.simd, row.mac_style,
                (row.estimate or {}).get("lut"), row.finn_pe, row.finn_simd,
            )  # fmt: skip
    return [row.model_dump() for row in rows]


def _stream_in(model: ModelWrapper, node) -> tuple[int | None, str | None]:
    """Elements per word a MAC node's producer sends, where a width converter must join them
    (None after a sliding window or other stream node, which is folded to its consumer), and
    the MAC node that stream comes from when it comes straight from one (through thresholds
    folded with it), so that its width is that MAC's PE."""
    producer = model.find_producer(node.input[0])
    if producer is None or _op(producer).pass_through:
        return None, None
    source = producer
    if _op(producer).folds_with_mac:
        source = model.find_producer(producer.input[0])
    mac = source.name if source is not None and _op(source).is_mac else None
    return _elems(producer, "out"), mac


def _elems(node, side: str) -> int:
    """Elements per stream word of a HW node's input or output side."""
    return _op(node).elems(getCustomOp(node), side)


def _fold_stream_nodes(model: ModelWrapper, align_simd: bool) -> None:
    """Fold sliding windows, paddings, upsamplers and concats to their consumers; check every
    stream's packing.

    Our VVAU takes one kernel position per cycle (SIMD=1). A depthwise sliding window emits
    its channels in words of its consumer's PE (VVAU or max-pool), since its output order
    interleaves kernel positions and channel groups; a plain one emits words of the largest
    common divisor of its channels and its MVAU's SIMD; a padding, an upsampler or a concat
    emits words of the common divisor of its channels and its consumer's word. Both also
    divide the word of a producer folded on its own (a pool's PE: found by
    tests/test_fuzz.py, a pool sending 2 to a padding that took 3).
    """
    for node in model.graph.node:
        for attr, value in _op(node).fixed_folding.items():
            getCustomOp(node).set_nodeattr(attr, value)
    for node in reversed(list(model.graph.node)):
        op = _op(node)
        if not op.pass_through:
            continue
        inst = getCustomOp(node)
        consumer = model.find_consumer(node.output[0])
        if consumer is None:
            continue
        if align_simd and op.is_window:
            _op(consumer).align_simd(getCustomOp(consumer), op.stream_channels(inst))
        # A producer folded on its own (a pool, a MAC layer) fixes the word it sends; a
        # pass-through producer adapts to this node when its turn comes.
        producer = model.find_producer(node.input[0])
        fixed = producer is not None and not _op(producer).pass_through
        word = op.stream_word(inst, _elems(consumer, "in"), _elems(producer, "out") if fixed else 0)
        inst.set_nodeattr("SIMD", word)
    for node in model.graph.node:
        for consumer in model.find_consumers(node.output[0]) or []:
            a, b = _elems(node, "out"), _elems(consumer, "in")
            if a % b and b % a:
                raise CompileError(
                    f"folding: {node.name} sends {a} elements per word to {consumer.name}, "
                    f"which takes {b}; one must divide the other (choose PE/SIMD accordingly)"
                )


def _fold_thresholds_like(model: ModelWrapper, mvau, pe: int) -> None:
    """Give the node fed by a MAC node the same PE if its op folds with it (Thresholding),
    so the stream widths match."""
    for consumer in model.find_consumers(mvau.output[0]) or []:
        if _op(consumer).folds_with_mac:
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
    target = None if ctx.cc.folding.layers else ctx.cc.folding.target(ctx.cc.clock_mhz)
    if target is not None and perf["max_cycles"] > target:
        slowest = max(cycles, key=cycles.get)
        key = "fps" if ctx.cc.folding.fps else "target_cycles_per_frame"
        log.warning(
            "compile.folding.%s: the target of %d cycles per frame is not reached: FINN's "
            "folding gives %d (slowest node %s, which it could not fold further); the build "
            "goes on at %d",
            key, target, perf["max_cycles"], slowest, perf["max_cycles"],
        )  # fmt: skip
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
    ("prune_channels", step_prune_channels),
    ("minimize_widths", step_minimize_widths),
    ("folding", step_folding),
    ("estimates", step_estimates),
]


def compile_model(
    qonnx_path: Path,
    out_dir: Path,
    cc: CompileConfig,
    input_datatype: str,
    plans: list[LayerPlan] | None = None,
    mac_styles: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Compile a QONNX model to ``out_dir/hw.onnx``; write ``accumulators.json``,
    ``folding.json`` and reports. ``mac_styles``: layer -> asked MAC style (``rom`` if none).

    ``out_dir`` holds what a build's ``compile/`` folder holds (:mod:`flow.artifacts`).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    init_finn(out_dir / "finn_build")
    ctx = CompileContext(
        out_dir=out_dir,
        cc=cc,
        input_datatype=input_datatype,
        plans=plans,
        mac_styles=dict(mac_styles or {}),
    )
    try:
        model = read_onnx(qonnx_path)
    except (OSError, ValueError) as e:
        raise CompileError(f"{qonnx_path}: cannot be read as a QONNX model: {e}") from None
    if plans is not None:
        ctx.plan_weights = [q for _, q in exported_integer_weights(model)]
    timings: dict[str, float] = {}
    steps_dir = stage_file(out_dir, artifacts.COMPILE_STEPS)
    steps_dir.mkdir(exist_ok=True)
    with _seeded_names():
        for i, (name, step) in enumerate(STEPS):
            t0 = time.perf_counter()
            model = step(model, ctx)
            timings[name] = round(time.perf_counter() - t0, 3)
            model.save(str(steps_dir / f"{i:02d}_{name}.onnx"))
            log.debug("compile step %s: %.2f s", name, timings[name])
    summary = hw_layer_summary(model)
    table = width_tables.accumulator_table(
        summary, plans, ctx.layer_of, ctx.finn_widths, ctx.pruned
    )
    sums = width_tables.sums_table(summary)
    for artifact, data in (
        (artifacts.TIME_PER_STEP, timings),
        (artifacts.ACCUMULATORS, table),
        (artifacts.FOLDING, ctx.folding),
        (artifacts.SUMS, sums),
        (artifacts.HOST_TAIL, ctx.host_tail),
    ):
        write_json(stage_file(out_dir, artifact), data)
    atomic_write_bytes(stage_file(out_dir, artifacts.HW_ONNX), model.model.SerializeToString())
    return {
        "accumulators": table,
        # graph order
        "mac_nodes": [n for n, e in summary.items() if e["op_type"] in ops.mac_op_types()],
        "sums": sums,
        "folding": ctx.folding,
        "time_per_step": timings,
        "host_tail": ctx.host_tail,
        **ctx.reports,
    }


@contextlib.contextmanager
def _seeded_names() -> Iterator[None]:
    """qonnx names new tensors with ``random.choice`` (the LabelSelect output, for one): a
    fixed seed while compiling makes ``hw.onnx`` the same bytes for the same input."""
    state = random.getstate()
    random.seed(0xA2)
    try:
        yield
    finally:
        random.setstate(state)


def input_datatype(cfg: BuildConfig) -> str:
    """The graph input type: unsigned integer pixels of the configured width."""
    bits = pixel_bits_of(cfg)
    return f"UINT{bits}"


def run_compile(cfg: BuildConfig, build_dir: Path, out_dir: Path) -> dict:
    """The compile stage: the build's QONNX model to the HW graph in ``out_dir``."""
    t0 = time.perf_counter()
    result = compile_model(
        artifacts.QONNX.at(build_dir),
        out_dir,
        cfg.compile,
        input_datatype(cfg),
        layer_plans(cfg),
        mac_styles(cfg),
    )
    result["seconds"] = round(time.perf_counter() - t0, 2)
    return result


def hw_summary(out_dir: Path) -> dict[str, dict]:
    """The per-node summary of a compiled ``hw.onnx`` (weights, thresholds, widths, folding)."""
    return hw_layer_summary(read_onnx(stage_file(out_dir, artifacts.HW_ONNX)))
