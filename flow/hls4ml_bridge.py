"""hls4ml bridge: a build's QONNX model and an hls4ml config with our exact accumulator widths.

:func:`export_hls4ml` writes into ``BUILD/hls4ml/``:

- ``model.onnx``: the build's ``export/model.onnx`` rewritten so that hls4ml 1.3.0 reads it
  (after qonnx's cleanup, as hls4ml's documentation asks, which leaves it as it is): the
  flattening ``Reshape`` at the input absorbed (:class:`~flow.passes.AbsorbInputReshape`; with
  it, hls4ml's ``io_stream`` reads the 8 pixels of a row as one 64-wide word), every ``Gemm``
  made a ``MatMul`` (:class:`~flow.passes.ConstWeightGemmToMatMul`; qonnx's ``GemmToMatMul``
  fails on a bias-free Gemm) and the weights made integers with their scale applied after the
  MatMul (:class:`~flow.passes.MoveWeightScaleAfterMatMul`; hls4ml's ``ScaleDownMatMul``
  fails on per-channel weight scales). The model computes the same function.
- ``hls4ml_config.yml``: the ``hls_config`` of ``hls4ml.converters.convert_from_onnx_model``.
  Each ``Dense`` layer's ``accum`` and ``result`` types are the accumulator width of
  ``compile/accumulators.json`` (``hw_acc_bits``). The fixed-point types between two of them
  (the BatchNorm and scale layers hls4ml makes, their ``scale``, ``bias`` and ``result``) are
  derived so that hls4ml computes exactly what exact arithmetic on the same constants does:
  for every accumulator value a layer can reach, the next layer gets the same integers. The
  check is exhaustive yet cheap, since each channel's path from accumulator to quantized
  activation is monotone: two monotone step functions that agree on both sides of every step
  of one of them, and at the ends, agree everywhere. The smallest number of fractional bits
  passing it is used; the output layer's constants are held exactly.

Only MLPs are bridged (``MatMul``/``Gemm``, ``BatchNormalization``, ``Relu``, ``Quant``); a
model with any other op (``Conv``, ``MaxPool`` ...) is refused, naming the node.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flow import __version__, artifacts
from flow.bounds import signed_bits
from flow.errors import A2QError
from flow.util import atomic_write_bytes, atomic_write_text, file_digest

log = logging.getLogger(__name__)

HLS4ML_VERSION = "1.3.0"
BACKEND = "Vitis"

# The ops of an MLP after the rewrites: what hls4ml is given.
_MLP_OPS = ("Quant", "MatMul", "Mul", "Add", "BatchNormalization", "Relu")


class Hls4mlError(A2QError):
    """A build that cannot be bridged to hls4ml."""


def export_hls4ml(build_dir: Path) -> dict:
    """Write ``BUILD/hls4ml/model.onnx`` and ``hls4ml_config.yml`` for the compiled build in
    ``build_dir``; return their paths and, per MAC layer, the widths chosen and hls4ml's own.
    """
    build = artifacts.Build(build_dir)
    build.check_is_build()
    qonnx = build.get(artifacts.QONNX)
    if qonnx is None:
        raise Hls4mlError(
            f"{build.dir}: the export stage has not finished ({artifacts.QONNX.path} is "
            "missing); run `a2q run CONFIG --until compile` first"
        )
    accumulators = build.get(artifacts.ACCUMULATORS)
    hw = build.get(artifacts.HW_ONNX)
    if accumulators is None or hw is None:
        raise Hls4mlError(
            f"{build.dir}: the build is not compiled yet (no {artifacts.ACCUMULATORS.path}); "
            "run `a2q run CONFIG --until compile` first"
        )
    model = hls4ml_model(qonnx, artifacts.QONNX.at(build.dir))
    hls4ml = _import_hls4ml()
    out = build.dir / "hls4ml"
    base = hls4ml.utils.config.config_from_onnx_model(model, granularity="name", backend=BACKEND)
    chains = _chains(
        _convert(hls4ml, model, base, out), hw.get_tensor_datatype(hw.graph.input[0].name)
    )
    macs = [c for c in chains if c.source.class_name == "Dense"]
    if len(macs) != len(accumulators):
        raise Hls4mlError(
            f"hls4ml made {len(macs)} Dense layers of {artifacts.QONNX.path} but "
            f"{artifacts.ACCUMULATORS.path} has {len(accumulators)} MAC layers"
        )
    for chain, row in zip(macs, accumulators, strict=True):
        chain.hw_acc_bits = int(row["hw_acc_bits"])
    for chain in chains:
        _derive(chain)
    onnx_names = {n.name for n in model.graph.node} | {t.name for t in model.graph.input}
    config = _with_types(base, chains, onnx_names)
    _check_applied(_convert(hls4ml, model, config, out), chains)
    _write(build.dir, model, config)
    layers = [
        {
            "layer": row["name"],
            "node": row["node"],
            "hls4ml_layer": chain.source.name,
            "hw_acc_bits": chain.hw_acc_bits,
            "exact_bits": chain.exact_bits,
            "accum": str(chain.accum),
            "hls4ml_inferred_accum": str(chain.source.types["accum_t"].precision),
            "fraction_bits": chain.fraction_bits,
        }
        for chain, row in zip(macs, accumulators, strict=True)
    ]
    return {
        "model": artifacts.HLS4ML_MODEL.at(build.dir),
        "config": artifacts.HLS4ML_CONFIG.at(build.dir),
        "layers": layers,
    }


def hls4ml_model(qonnx, where: Path | str = "the model"):
    """The QONNX model ``qonnx`` (a ``ModelWrapper``, not changed) as hls4ml reads it: our
    rewrites, then the qonnx steps hls4ml's documentation asks for; a model with an op other
    than an MLP's is refused naming the node (``where`` names the file)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.util.cleanup import cleanup_model

    from flow.passes import (
        AbsorbInputReshape,
        ConstWeightGemmToMatMul,
        MoveReshapeBeforeQuant,
        MoveWeightScaleAfterMatMul,
    )

    model = cleanup_model(ModelWrapper(qonnx.model.SerializeToString()))
    for rewrite in (
        MoveReshapeBeforeQuant(),
        AbsorbInputReshape(),
        ConstWeightGemmToMatMul(),
        MoveWeightScaleAfterMatMul(),
    ):
        model = model.transform(rewrite)
    model = cleanup_model(model)
    bad = [n for n in model.graph.node if n.op_type not in _MLP_OPS]
    if bad:
        n = bad[0]
        raise Hls4mlError(
            f"{where}: node {n.name} ({n.op_type}) cannot be bridged to hls4ml: the bridge "
            f"converts MLPs only, made of {', '.join(_MLP_OPS)} nodes after its rewrites "
            "(conv nets are not supported)"
        )
    model = cleanup_model(model.transform(ConvertToChannelsLastAndClean()))
    return model


# ------------------------------------------------------------------------- hls4ml access


def _import_hls4ml():
    try:
        import hls4ml
    except ImportError:
        raise Hls4mlError(
            f"hls4ml is not installed: pip install hls4ml=={HLS4ML_VERSION}"
        ) from None
    if hls4ml.__version__ != HLS4ML_VERSION:
        log.warning(
            "hls4ml %s is installed; the bridge is verified with hls4ml %s",
            hls4ml.__version__,
            HLS4ML_VERSION,
        )
    return hls4ml


def _convert(hls4ml, model, config: dict, out: Path):
    """hls4ml's graph of ``model`` under ``config`` (nothing is written to disk; hls4ml adds
    the layers it makes to the config it is given, so it gets a copy)."""
    return hls4ml.converters.convert_from_onnx_model(
        model,
        output_dir=str(out / "hls4ml_prj"),
        backend=BACKEND,
        hls_config=copy.deepcopy(config),
    )


# ---------------------------------------------------------------------- fixed-point types


@dataclass(frozen=True)
class _Fixed:
    """An ``ap_(u)fixed<width, integer>`` type as hls4ml's config spells it."""

    width: int
    integer: int
    signed: bool = True

    @property
    def fractional(self) -> int:
        return self.width - self.integer

    def __str__(self) -> str:
        return f"{'' if self.signed else 'u'}fixed<{self.width},{self.integer}>"

    @classmethod
    def holding(cls, lo: int, hi: int, fractional: int) -> _Fixed:
        """The signed type holding every numerator in ``[lo, hi]`` at ``fractional`` bits
        (at least 1 integer bit, for the sign)."""
        width = max(signed_bits(int(lo), int(hi)), fractional + 1)
        return cls(width, width - fractional)

    def same_as(self, precision) -> bool:
        """Whether hls4ml's ``precision`` is this type (its rounding and overflow modes aside)."""
        return (precision.width, precision.integer, bool(precision.signed)) == (
            self.width,
            self.integer,
            self.signed,
        )


def _numerators(values: np.ndarray, fractional: int) -> np.ndarray:
    """The integers ``v * 2**fractional`` that hls4ml's C simulation holds for ``values`` in a
    type with ``fractional`` bits: each printed with that many decimals, read back as a
    double and truncated (AP_TRN, towards minus infinity)."""
    scale = 2.0**fractional
    return np.array(
        [math.floor(float(f"{v:.{fractional}f}") * scale) for v in np.ravel(values)],
        dtype=object,
    )


def _exact_fraction_bits(values: np.ndarray) -> int:
    """The fractional bits holding every value exactly (floats are binary fractions)."""
    return max(
        (float(v).as_integer_ratio()[1].bit_length() - 1 for v in np.ravel(values)), default=0
    )


def _round(num: np.ndarray, shift: int, mode: str) -> np.ndarray:
    """``num / 2**shift`` rounded as ap_fixed rounds (``mode``: TRN, RND or RND_CONV)."""
    if shift <= 0:
        return num * (1 << -shift)
    floor, rest = num // (1 << shift), num % (1 << shift)
    half = 1 << (shift - 1)
    if mode == "TRN":
        return floor
    if mode == "RND":
        return floor + (rest >= half)
    if mode == "RND_CONV":
        return floor + ((rest > half) | ((rest == half) & (floor % 2 == 1)))
    raise Hls4mlError(f"hls4ml quantizer rounding {mode} is not emulated (TRN, RND, RND_CONV)")


# ------------------------------------------------------------------------------- chains


@dataclass
class _Step:
    """One layer between two sources: an ``affine`` ``x * scale + bias`` per channel, a
    ``relu``, or a ``quant`` cast to the layer's output type (a QONNX quantizer)."""

    layer: Any
    kind: str
    scale: np.ndarray | None = None
    bias: np.ndarray | None = None


@dataclass
class _Chain:
    """A source of integers (the input, a Dense layer's accumulator) and the layers after it
    up to the next Dense or the output; per channel ``c`` the source's numerators lie in
    ``[lo[c], hi[c]]`` at ``fractional`` bits."""

    source: Any
    lo: np.ndarray
    hi: np.ndarray
    fractional: int
    steps: list[_Step]
    exact_bits: int | None = None
    hw_acc_bits: int | None = None
    accum: _Fixed | None = None
    fraction_bits: int = 0
    types: dict[str, dict[str, Any]] | None = None


def _chains(graph, input_datatype) -> list[_Chain]:
    """Split hls4ml's graph into chains; refuse a layer the bridge does not model."""
    chains: list[_Chain] = []
    prev = None
    for layer in graph.get_layers():
        if prev is not None and list(layer.inputs) != [prev.outputs[0]]:
            raise Hls4mlError(f"hls4ml layer {layer.name} does not follow {prev.name} alone")
        prev = layer
        cls = layer.class_name
        if cls == "Input":
            chains.append(_input_chain(layer, input_datatype))
        elif cls == "Dense":
            if not chains or not _ends_integer(chains[-1]):
                raise Hls4mlError(
                    f"hls4ml layer {layer.name}: its input is not quantized to integers"
                )
            chains.append(_dense_chain(layer))
        elif cls in ("BatchNormalization", "ApplyAlpha"):
            scale = np.asarray(layer.weights["scale"].data, dtype=np.float64).reshape(-1)
            bias = np.asarray(layer.weights["bias"].data, dtype=np.float64).reshape(-1)
            chains[-1].steps.append(_Step(layer, "affine", scale, bias))
            if layer.get_attr("quantizer") is not None:
                chains[-1].steps.append(_Step(layer, "quant"))
        elif cls == "Activation" and str(layer.get_attr("activation")).lower() == "relu":
            chains[-1].steps.append(_Step(layer, "relu"))
        elif cls == "Activation" and layer.get_attr("quantizer") is not None:
            chains[-1].steps.append(_Step(layer, "quant"))
        else:
            raise Hls4mlError(f"hls4ml layer {layer.name} ({cls}) is not bridged")
    return chains


def _ends_integer(chain: _Chain) -> bool:
    return bool(chain.steps) and chain.steps[-1].kind == "quant"


def _input_chain(layer, datatype) -> _Chain:
    if not datatype.is_integer() or datatype.bitwidth() < 2:
        raise Hls4mlError(
            f"the HW graph's input is {datatype.name}; the bridge needs an integer input type"
        )
    n = int(np.prod(layer.get_output_variable().shape))
    lo, hi = int(datatype.min()), int(datatype.max())
    chain = _Chain(layer, np.full(n, lo, dtype=object), np.full(n, hi, dtype=object), 0, [])
    chain.types = {layer.name: {"result": _Fixed(datatype.bitwidth(), datatype.bitwidth(),
                                                 datatype.signed())}}  # fmt: skip
    return chain


def _dense_chain(layer) -> _Chain:
    """A Dense layer's accumulator: per output channel, the range over every input the
    previous quantizer can give (its type's range) and the layer's integer weights."""
    x = layer.get_input_variable().type.precision
    w_type = layer.weights["weight"].type.precision
    w = np.asarray(layer.weights["weight"].data, dtype=np.float64) * 2.0**w_type.fractional
    if not np.array_equal(w, np.rint(w)):
        raise Hls4mlError(f"hls4ml layer {layer.name}: its weights are not integers")
    if np.any(np.asarray(layer.weights["bias"].data) != 0):
        raise Hls4mlError(f"hls4ml layer {layer.name}: a bias inside the Dense is not bridged")
    w = np.rint(w).astype(np.int64).reshape(-1, w.shape[-1])
    x_lo, x_hi = (-(1 << (x.width - 1)), (1 << (x.width - 1)) - 1) if x.signed else (
        0, (1 << x.width) - 1)  # fmt: skip
    pos, neg = np.clip(w, 0, None), np.clip(w, None, 0)
    lo = (pos * x_lo + neg * x_hi).sum(axis=0)
    hi = (pos * x_hi + neg * x_lo).sum(axis=0)
    frac = x.fractional + w_type.fractional
    chain = _Chain(layer, lo.astype(object), hi.astype(object), frac, [])
    chain.exact_bits = signed_bits(int(lo.min()), int(hi.max()))
    return chain


# ---------------------------------------------------------------------- the derivation


def _run(chain: _Chain, fractional: int, ch: np.ndarray, acc: np.ndarray) -> list[tuple]:
    """hls4ml's fixed-point arithmetic on source numerators ``acc`` of channels ``ch``, each
    constant at ``fractional`` bits and every result type exact: after each step, its
    numerators and their fractional bits."""
    num, frac = acc, chain.fractional
    trace = []
    for step in chain.steps:
        if step.kind == "affine":
            s = _per_channel(_numerators(step.scale, fractional), ch)
            b = _per_channel(_numerators(step.bias, fractional), ch)
            num = num * s + b * (1 << frac)
            frac += fractional
        elif step.kind == "relu":
            num = np.where(num > 0, num, 0).astype(object)
        else:
            p = step.layer.get_output_variable().type.precision
            if str(p.saturation_mode) not in ("SAT", "SAT_SYM"):
                raise Hls4mlError(f"hls4ml layer {step.layer.name}: overflow mode is not SAT")
            num = _round(num, frac - p.fractional, str(p.rounding_mode))
            frac = p.fractional
            top = (1 << (p.width - 1)) - 1 if p.signed else (1 << p.width) - 1
            bottom = -top - (str(p.saturation_mode) == "SAT") if p.signed else 0
            num = np.clip(num, bottom, top)
        trace.append((num, frac))
    return trace


def _per_channel(values: np.ndarray, ch: np.ndarray) -> np.ndarray:
    """``values`` (one per channel, or one for all) at channels ``ch``."""
    return values[ch] if len(values) > 1 else np.repeat(values, len(ch))


def _steps_of(chain: _Chain, exact: int) -> tuple[np.ndarray, np.ndarray]:
    """The channels and source values ``a`` at which the exact output changes from its value
    at ``a - 1``: by bisection for each output level, each channel's path being monotone."""
    ch = np.arange(len(chain.lo))
    ends = _run(chain, exact, np.concatenate([ch, ch]), np.concatenate([chain.lo, chain.hi]))
    first, last = ends[-1][0][: len(ch)], ends[-1][0][len(ch) :]
    sign = np.sign((last - first).astype(np.int64))
    pairs = [
        (c, v, s)
        for c, f, g, s in zip(ch, first, last, sign, strict=True)
        if s
        for v in range(int(s * f) + 1, int(s * g) + 1)
    ]
    if not pairs:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object)
    pc = np.array([p[0] for p in pairs])
    level = np.array([p[1] for p in pairs], dtype=object)
    s = np.array([p[2] for p in pairs], dtype=object)
    a_lo, a_hi = chain.lo[pc].copy(), chain.hi[pc].copy()
    while np.any(a_lo < a_hi):
        mid = (a_lo + a_hi) // 2
        reached = s * _run(chain, exact, pc, mid)[-1][0] >= level
        a_hi = np.where(reached, mid, a_hi)
        a_lo = np.where(reached, a_lo, mid + 1)
    return pc, a_lo


def _derive(chain: _Chain) -> None:
    """Choose the chain's types: the Dense accumulator, and the fewest fractional bits for
    its constants with which every reachable source value gives the exact result."""
    if chain.source.class_name == "Dense":
        width = max(chain.hw_acc_bits, chain.exact_bits)
        if width > chain.hw_acc_bits:
            log.warning(
                "%s: the hls4ml layer needs a %d-bit accumulator, the HW one %d bits "
                "(channels pruned in the HW graph contribute in hls4ml's)",
                chain.source.name,
                width,
                chain.hw_acc_bits,
            )
        chain.accum = _Fixed(width, width - chain.fractional)
        chain.types = {chain.source.name: {"accum": chain.accum, "result": chain.accum}}
    constants = [v for st in chain.steps if st.kind == "affine" for v in (st.scale, st.bias)]
    exact = _exact_fraction_bits(np.concatenate(constants)) if constants else 0
    channels = np.arange(len(chain.lo))
    if not constants:
        chain.fraction_bits = 0
    elif _ends_integer(chain):
        ch, at = _steps_of(chain, exact)
        points = np.concatenate([chain.lo, chain.hi, at - 1, at])
        pch = np.concatenate([channels, channels, ch, ch])
        want = _run(chain, exact, pch, points)[-1][0]
        fewest, most = 0, exact
        while fewest < most:
            mid = (fewest + most) // 2
            if np.array_equal(_run(chain, mid, pch, points)[-1][0], want):
                most = mid
            else:
                fewest = mid + 1
        chain.fraction_bits = fewest
    else:
        chain.fraction_bits = exact
    _types(chain)


def _types(chain: _Chain) -> None:
    """Every step's types at the chosen fractional bits; result types exact over the
    source's whole range (each path is monotone, so its ends bound it)."""
    n = len(chain.lo)
    ch = np.concatenate([np.arange(n), np.arange(n)])
    trace = _run(chain, chain.fraction_bits, ch, np.concatenate([chain.lo, chain.hi]))
    types = chain.types if chain.types is not None else {}
    current = chain.accum
    for step, (num, frac) in zip(chain.steps, trace, strict=True):
        entry = types.setdefault(step.layer.name, {})
        if step.kind == "affine":
            f = chain.fraction_bits
            s = _numerators(step.scale, f)
            entry["scale"] = _Fixed.holding(min(s), max(s), f)
            b = _numerators(step.bias, f)
            if any(b):
                entry["bias"] = _Fixed.holding(min(b), max(b), f)
            if step.layer.get_attr("quantizer") is None:
                entry["result"] = _Fixed.holding(min(num), max(num), frac)
                current = entry["result"]
        elif step.kind == "relu" and current is not None:
            entry["result"] = current
        else:
            current = step.layer.get_output_variable().type.precision
    chain.types = types


# ------------------------------------------------------------------------------ config


def _with_types(base: dict, chains: list[_Chain], onnx_names: set[str]) -> dict:
    """``base`` with every derived type under the ONNX node name hls4ml makes the layer
    from (``Dense_MatMul_0`` from ``MatMul_0``, ``Quant_4_scale`` from ``Quant_4``)."""
    config = copy.deepcopy(base)
    names = config.setdefault("LayerName", {})
    for chain in chains:
        for layer_name, types in chain.types.items():
            key = _onnx_name(layer_name, onnx_names)
            precision = names.setdefault(key, {}).setdefault("Precision", {})
            for var, t in types.items():
                if var in precision and precision[var] not in ("auto", str(t)):
                    raise Hls4mlError(
                        f"hls4ml layers from ONNX node {key} need two {var} types: "
                        f"{precision[var]} and {t}"
                    )
                precision[var] = str(t)
    return config


def _onnx_name(layer_name: str, onnx_names: set[str]) -> str:
    if layer_name in onnx_names:
        return layer_name
    inside = [n for n in onnx_names if n in layer_name]
    if not inside:
        raise Hls4mlError(f"hls4ml layer {layer_name} comes from no ONNX node")
    return max(inside, key=len)


def _check_applied(graph, chains: list[_Chain]) -> None:
    """Every derived type is what hls4ml's graph under the new config holds."""
    layers = {layer.name: layer for layer in graph.get_layers()}
    for chain in chains:
        for name, types in chain.types.items():
            layer = layers.get(name)
            if layer is None:
                raise Hls4mlError(f"hls4ml layer {name} is gone under the derived config")
            for var, want in types.items():
                if not isinstance(want, _Fixed):
                    continue
                got = (
                    layer.weights[var].type.precision
                    if var in layer.weights
                    else layer.types[f"{var}_t"].precision
                )
                if not want.same_as(got):
                    raise Hls4mlError(
                        f"hls4ml layer {name}: {var} type is {got}, the bridge derived {want}"
                    )


def _write(build_dir: Path, model, config: dict) -> None:
    """Write the model and the config, each saying where it comes from."""
    import yaml

    sources = (artifacts.QONNX, artifacts.ACCUMULATORS)
    origin = ", ".join(f"{a.path} ({file_digest(a.at(build_dir))})" for a in sources)
    stamp = f"generated by a2q-flow {__version__} for hls4ml {HLS4ML_VERSION} from {origin}"
    model.model.metadata_props.add(key="a2q_flow", value=stamp)
    atomic_write_bytes(artifacts.HLS4ML_MODEL.at(build_dir), model.model.SerializeToString())
    header = (
        f"# hls_config for hls4ml.converters.convert_from_onnx_model(model.onnx, ...), {stamp}.\n"
        "# Dense accum/result: the exact accumulator widths of compile/accumulators.json;\n"
        "# BatchNormalization/ApplyAlpha scale, bias and result types: exact\n"
        "# (see flow/hls4ml_bridge.py). Do not edit: a2q hls4ml BUILD writes it again.\n"
    )
    atomic_write_text(
        artifacts.HLS4ML_CONFIG.at(build_dir), header + yaml.safe_dump(config, sort_keys=False)
    )
