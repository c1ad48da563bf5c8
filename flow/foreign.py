"""A QONNX file made elsewhere as a build's model (``model.source: onnx:PATH``).

The build takes the file instead of training: its MAC layers (names, shapes, input and weight
types) are read from the file itself, so the config's per-layer targets, folding and MAC
styles name them like the built-in networks' layers, and every stage after export runs
unchanged. The file must take the dataset's integer pixels as its input (as a2q-flow's own
exports do: a Brevitas input quantizer inside the file maps them to whatever it learned).

Needs qonnx and numpy only; :mod:`flow.config` reads the layers through here, so this module
imports no config.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flow.archs import MacSpec
from flow.errors import A2QError, ConfigError
from flow.qonnx_weights import MAC_OPS, exported_integer_weights, node_attr, weight_quant_bits

SCHEME = "onnx:"
# Ops a MAC layer's input may pass through on its way from its quantizer: they move or
# select values, never change them.
_PASS_THROUGH = ("Reshape", "Flatten", "Transpose", "MaxPool", "Pad", "Identity", "Squeeze",
                 "Unsqueeze", "Concat", "Resize", "Upsample")  # fmt: skip


@dataclass(frozen=True)
class FileLayer:
    """One MAC layer of a model made elsewhere (a QONNX file's node, a Brevitas network's
    module): its layer name and shape, the types it multiplies and, where the model says so
    (a Brevitas accumulator-aware quantizer), the method and P it was trained with."""

    spec: MacSpec
    node: str
    input_bits: int
    input_signed: bool
    weight_bits: int
    method: str | None = None
    acc_bits: int | None = None


def source_path(source: str, key: str = "model.source") -> Path:
    """The file a ``model.source`` value names; anything but ``onnx:PATH`` is an error."""
    if not isinstance(source, str) or not source.startswith(SCHEME) or not source[len(SCHEME) :]:
        raise ConfigError(
            f"{key}: {source!r} is not a model source; allowed: 'onnx:PATH' (a QONNX file, "
            "e.g. from Brevitas' export_qonnx), 'python:MODULE:FUNCTION' (a function returning "
            "your Brevitas network), or leave it out to build model.arch"
        )
    return Path(source[len(SCHEME) :])


def read_file(path: Path, key: str = "model.source"):
    """The QONNX file at ``path`` as a qonnx ModelWrapper, with shapes inferred and 1-bit
    ReLU quantizers exported as bipolar ones rewritten; errors name the key and the file."""
    from qonnx.transformation.general import RemoveStaticGraphInputs
    from qonnx.transformation.infer_shapes import InferShapes

    from flow.artifacts import read_onnx
    from flow.passes.unsigned_binary_acts import FixUnsignedBinaryActs

    if not path.is_file():
        raise ConfigError(f"{key}: {path}: no such file")
    try:
        model = read_onnx(path)
    except (OSError, ValueError) as e:
        raise ConfigError(f"{key}: {path} cannot be read as a QONNX model: {e}") from None
    try:
        for rewrite in (RemoveStaticGraphInputs(), FixUnsignedBinaryActs(), InferShapes()):
            model = model.transform(rewrite)
        return model
    except Exception as e:  # noqa: BLE001 - onnx shape inference raises many types
        raise ConfigError(f"{key}: {path}: ONNX shape inference fails: {e}") from None


def file_layers(source: str, input_bits: int) -> list[FileLayer]:
    """The MAC layers of the QONNX file ``source`` names, in graph order; ``input_bits`` is
    the width of the unsigned integer pixels the file takes. Cached per file content."""
    path = source_path(source)
    if not path.is_file():
        raise ConfigError(f"model.source: {path}: no such file")
    stat = path.stat()
    return _file_layers(str(path.resolve()), stat.st_mtime_ns, stat.st_size, input_bits)


@functools.lru_cache(maxsize=16)
def _file_layers(path: str, _mtime: int, _size: int, input_bits: int) -> list[FileLayer]:
    model = read_file(Path(path))
    check_supported(model, f"model.source: {path}")
    try:
        weights = dict(exported_integer_weights(model))
    except Exception as e:  # noqa: BLE001 - an ExportError or a malformed quantizer
        raise ConfigError(f"model.source: {path}: {e}") from None
    if not weights:
        raise ConfigError(
            f"model.source: {path} has no MAC node ({', '.join(MAC_OPS)}) with quantized "
            "weights; nothing to build"
        )
    nodes = [node for node in model.graph.node if node.op_type in MAC_OPS]
    layers = []
    for node, name in zip(nodes, layer_names([_module_path(model, n) for n in nodes]), strict=True):
        bits, signed = _input_type(model, node, input_bits, path)
        spec = _mac_spec(model, node, name, weights[node.name].shape, path)
        wbits = weight_quant_bits(model, node)
        layers.append(FileLayer(spec, node.name, bits, signed, wbits))
    return layers


def check_supported(model, where: str, error: type[A2QError] = ConfigError) -> None:
    """Refuse (``error``), naming the node and what to change, the layers the compile stage
    cannot lower, before FINN or qonnx fail on them with a traceback."""
    for node in model.graph.node:
        if node.op_type == "Trunc":
            mode = node_attr(node, "rounding_mode", "FLOOR")
            if mode != "FLOOR":
                raise error(
                    f"{where}: node {node.name} (Trunc, a Brevitas TruncAvgPool2d) truncates "
                    f"with rounding_mode {mode!r}; FINN lowers only FLOOR truncation to an "
                    "average pool; use a max-pool, a global average pool "
                    "(nn.AdaptiveAvgPool2d(1) before a quantizer), or TruncAvgPool2d with "
                    "float_to_int_impl_type='FLOOR'"
                )
        elif node.op_type == "Conv" and len(node.input) > 2 and node.input[2]:
            producer = model.find_producer(node.input[2])
            if producer is not None and producer.op_type == "Quant":
                consts = [model.get_initializer(t) for t in producer.input]
                if any(c is None for c in consts):
                    raise error(
                        f"{where}: node {node.name} (Conv) has a quantized bias whose scale "
                        "is computed in the graph, not a constant; export it with a constant "
                        "bias scale (Brevitas Int32Bias with a fixed input scale) or "
                        "bias=False"
                    )
        elif node.op_type == "AveragePool" and not _feeds(model, node, "Trunc"):
            raise error(
                f"{where}: node {node.name} (AveragePool) is a float average pool the "
                "integer datapath cannot compute; use a max-pool or a global average pool "
                "followed by a quantizer"
            )


def _feeds(model, node, op_type: str) -> bool:
    return any(c.op_type == op_type for c in model.find_consumers(node.output[0]) or [])


def layer_names(paths: list[str | None]) -> list[str]:
    """The config names of MAC layers from their module paths (a Brevitas network's, or those
    its exporter left in a QONNX file): the last part of the path where that is unique and a
    name (``fc1``), else the whole path (``features.0`` -> ``features_0``; a top-level
    ``nn.Sequential``'s ``0`` -> ``layer_0``); ``mac<index>`` for a layer of no known path."""
    lasts = [p.split(".")[-1] if p else None for p in paths]
    names = []
    for i, (path, last) in enumerate(zip(paths, lasts, strict=True)):
        if path is None:
            names.append(f"mac{i}")
        elif last.isidentifier() and lasts.count(last) == 1:
            names.append(last)
        else:
            flat = re.sub(r"\W", "_", path)
            names.append(flat if flat.isidentifier() else f"layer_{flat}")
    return names


def _module_path(model, node) -> str | None:
    """The module path Brevitas' exporter left in the names of a MAC node's weight tensors
    (``fc1.weight``, ``features.0.weight_quant...`` -> ``fc1``, ``features.0``)."""
    quant = model.find_producer(node.input[1])
    for tensor in [node.input[1], *(quant.input if quant is not None else [])]:
        m = re.match(r"^(?:onnx::)?([A-Za-z_][\w.]*?)\.weight(?:$|_quant|\.)", tensor)
        if m:
            return m.group(1)
    return None


def _input_type(model, node, input_bits: int, path: str) -> tuple[int, bool]:
    """(bits, signed) of the integers a MAC node multiplies: its input's quantizer, found
    through ops that only move values, or the graph input (unsigned pixels)."""
    tensor = node.input[0]
    graph_inputs = {i.name for i in model.graph.input}
    while True:
        if tensor in graph_inputs:
            return input_bits, False
        producer = model.find_producer(tensor)
        if producer is None:
            break
        if producer.op_type == "Quant":
            bits = model.get_initializer(producer.input[3])
            if bits is None:
                break
            return int(bits), bool(node_attr(producer, "signed", 1))
        if producer.op_type == "BipolarQuant":
            return 1, True
        if producer.op_type not in _PASS_THROUGH:
            break
        tensor = producer.input[0]
    raise ConfigError(
        f"model.source: {path}: the input of node {node.name} ({node.op_type}) does not come "
        "from a quantizer (a Quant node, through reshapes and pools) or the graph input, so "
        "its integers are unknown; quantize every MAC layer's input (e.g. Brevitas "
        "QuantReLU / QuantIdentity before it)"
    )


def _mac_spec(model, node, name: str, wshape: tuple, path: str) -> MacSpec:
    out_ch, k = int(wshape[0]), int(wshape[1])
    if node.op_type != "Conv":
        return MacSpec(name, "linear", k, out_ch)
    kernel = list(node_attr(node, "kernel_shape", []) or model.get_tensor_shape(node.input[1])[2:])
    strides = list(node_attr(node, "strides", []) or [1, 1])
    pads = list(node_attr(node, "pads", []) or [0, 0, 0, 0])
    group = int(node_attr(node, "group", 1))
    in_shape = model.get_tensor_shape(node.input[0])
    in_ch = int(in_shape[1])
    if len(set(kernel)) != 1 or len(set(strides)) != 1 or len(set(pads)) != 1:
        raise ConfigError(
            f"model.source: {path}: node {node.name} (Conv, layer {name}) has kernel "
            f"{kernel}, strides {strides}, pads {pads}; allowed: square kernels with equal "
            "strides and padding on every side"
        )
    if in_shape[2] != in_shape[3]:
        raise ConfigError(
            f"model.source: {path}: node {node.name} (Conv, layer {name}) takes a "
            f"{in_shape[2]}x{in_shape[3]} image; allowed: square images"
        )
    if group not in (1, in_ch) or (group == in_ch and out_ch != in_ch and group != 1):
        raise ConfigError(
            f"model.source: {path}: node {node.name} (Conv, layer {name}) has group={group}; "
            f"allowed: 1 (a dense conv) or {in_ch} with as many outputs (depthwise)"
        )
    kind = "depthwise" if group == in_ch and group > 1 else "conv"
    return MacSpec(
        name, kind, in_ch, out_ch, kernel=int(kernel[0]), stride=int(strides[0]),
        padding=int(pads[0]), in_size=int(in_shape[2]),
    )  # fmt: skip


def run_file(model, x: np.ndarray) -> np.ndarray:
    """The outputs of a QONNX model on inputs ``x``, one sample per execution (exports have
    a batch of one)."""
    from qonnx.core.onnx_exec import execute_onnx

    iname, oname = model.graph.input[0].name, model.graph.output[0].name
    return np.concatenate(
        [
            execute_onnx(model, {iname: x[i : i + 1].astype(np.float32)})[oname]
            for i in range(len(x))
        ]
    )
