"""Typed build configuration, loaded strictly from YAML and validated before any slow work.

A config is a tree of frozen dataclasses. ``load_config`` rejects unknown keys (with a
did-you-mean), wrong types and out-of-range values, each error naming the key path and what is
allowed (:mod:`flow.config_parse`); ``validate`` then cross-checks values against each other
(e.g. a target accumulator width that admits no non-zero weight) and checks that a dataset
path exists.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from flow import bounds
from flow.archs import MacSpec, Shape, arch_specs
from flow.config_parse import build, parse_yaml, read_yaml_file, suggest
from flow.data.base import SUPERRES_DATASETS
from flow.errors import ConfigError, DataError, InfeasibleError
from flow.util import file_digest, text_digest

Method = Literal["baseline", "a2q", "a2q_plus", "datatype"]
Split = Literal["balanced", "weights", "inputs"]
# Networks in which every activation feeds exactly one MAC layer (through pools and
# flattening), so the data-type method can size each activation for the layer that reads it.
DATATYPE_ARCHS = ("tfc", "cnv", "mobilenetv1", "espcn")
_SHARED_ACTS = {"resnet18": "residual joins", "unet": "skip connections"}
EdgePolicy = Literal["constrained", "unconstrained"]
DatasetName = Literal["digits", "mnist", "cifar10", "samples", "bsd300", "npz"]
Device = Literal["auto", "cpu", "cuda"]
# How a MAC layer multiplies: weights in a ROM read per fold (hw_templates/mvau.sv), or
# hard-wired into a generated module (flow/hw/constmac.py; MVAU layers only), or ``auto``:
# per layer the one the area model (flow/hw/area.py) prices smaller at its folding.
MacStyle = Literal["rom", "const", "auto"]
# How a throughput target becomes PE/SIMD: FINN's SetFolding (the first folding that meets
# it), or per MVAU layer the folding (and, with mac_style auto, the style) of fewest LUTs.
FoldingObjective = Literal["finn", "area"]
DEFAULT_TARGET_CYCLES = 1024


@dataclass(frozen=True)
class DataConfig:
    """Which dataset to train and evaluate on."""

    dataset: DatasetName = "digits"
    path: str | None = None
    test_fraction: float = 0.2
    limit: int | None = None
    # Super-resolution datasets (samples, bsd300): the upscaling factor, the low-resolution
    # tile the accelerator takes (the high-resolution target is upscale * tile), random
    # training crops (with flips) per training image and grid tiles per test image.
    upscale: int = 2
    tile: int = 16
    patches: int = 32
    test_tiles: int = 8


@dataclass(frozen=True)
class ModelConfig:
    """The network: an architecture of ``flow.archs`` and its sizes, or a QONNX file."""

    # null: build and train ``arch``; "onnx:PATH": a QONNX file made elsewhere (e.g. Brevitas'
    # export_qonnx) taking the dataset's integer pixels, compiled as it is (flow/foreign.py);
    # "python:MODULE:FUNCTION": your own Brevitas network, trained here (flow/user_net.py).
    source: str | None = None
    # A python source's weight quantizers: "given" trains them as the network has them (an
    # accumulator-aware one sets the layer's method and P), "config" replaces each by the
    # one the quant section asks (A2Q / A2Q+ / baseline per layer, the layer's own bits).
    quantizers: Literal["given", "config"] = "given"
    arch: Literal["tfc", "cnv", "mobilenetv1", "resnet18", "espcn", "unet"] = "tfc"
    # Dense layers of tfc, and the dense head of cnv.
    hidden: list[int] = field(default_factory=lambda: [256, 256, 256])
    # cnv: output channels of the 3x3 convs (a 2x2 max-pool follows every second one);
    # espcn: output channels of its feature convs (the first is 5x5); unet: channels per level.
    channels: list[int] = field(default_factory=lambda: [16, 16, 32, 32])
    # mobilenetv1 / resnet18: width multiplier of the papers' channel plans.
    width: float = 1.0
    weight_bits: int = 4
    act_bits: int = 4
    # Weight bits of the first and the last layer (the papers keep them at 8); null -> weight_bits.
    edge_weight_bits: int | None = None
    # Super-resolution: add the nearest-neighbour upsampled input to the output, so the
    # network learns only the detail (a global residual; an 8-bit signed residual in HW).
    residual: bool = False
    # Bits of the integer pixels the accelerator receives; null -> from the dataset.
    input_bits: int | None = None


@dataclass(frozen=True)
class LayerOverride:
    """Per-layer override of the quantization method and target accumulator width."""

    method: Method | None = None
    acc_bits: int | None = None


@dataclass(frozen=True)
class QuantConfig:
    """Accumulator-aware quantization: method and target width P per layer."""

    method: Method = "a2q_plus"
    acc_bits: int = 16
    first_layer: EdgePolicy = "unconstrained"
    last_layer: EdgePolicy = "unconstrained"
    # Method of depthwise convs when the rest is constrained: A2Q+'s zero-centring hurts
    # their short (K = 9) dot products, so the paper keeps them on A2Q.
    depthwise: Method | Literal["same"] = "a2q"
    # quant.method datatype (de Bruin et al.): how a layer's P is split between its input
    # bits N and weight bits M, among the pairs that fully use it (flow.bounds.choose_datatypes).
    datatype_split: Split = "balanced"
    # Scales of weights and activations: "float" (learned), or "po2" (learned powers of two,
    # i.e. fixed point, as de Bruin et al. use; for baseline and datatype layers).
    scale: Literal["float", "po2"] = "float"
    layers: dict[str, LayerOverride] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainConfig:
    """Float pre-training followed by quantization-aware training from that checkpoint."""

    device: Device = "auto"
    float_epochs: int = 20
    qat_epochs: int = 20
    batch_size: int = 64
    lr: float = 0.005
    qat_lr: float = 0.002
    weight_decay: float = 0.0
    # EP-init before QAT: "auto" -> for A2Q+ layers (as in the paper), or true/false.
    ep_init: bool | Literal["auto"] = "auto"
    # Random crops (4-pixel zero padding) and horizontal flips, as in the papers' CIFAR-10
    # recipes: "auto" -> on for cifar10, off for digits/mnist (flips change digits).
    augment: bool | Literal["auto"] = "auto"
    threads: int | None = None


@dataclass(frozen=True)
class ExportConfig:
    """QONNX export and its checks."""

    check_samples: int = 200
    atol: float = 1e-4
    # Fraction of check samples allowed beyond atol or with another argmax: an activation at
    # a rounding tie can land one level apart in PyTorch (float32) and numpy execution. For
    # images it is a fraction of output pixels, here and in the verify stage's HW-vs-QONNX
    # check (at a tie, QONNX's float32 and FINN's integer thresholds may round apart).
    max_mismatch_fraction: float = 0.02


@dataclass(frozen=True)
class LayerFolding:
    """Explicit folding of one MAC layer: PE must divide its outputs, SIMD its inputs."""

    pe: int = 1
    simd: int = 1


@dataclass(frozen=True)
class FoldingConfig:
    """At most one of: a cycles-per-frame target, an fps target, or PE/SIMD per layer (none:
    the default target of 1024 cycles per frame)."""

    target_cycles_per_frame: int | None = None
    fps: float | None = None
    layers: dict[str, LayerFolding] = field(default_factory=dict)
    objective: FoldingObjective = "finn"

    def __post_init__(self) -> None:
        if self.target_cycles_per_frame is None and not self.fps and not self.layers:
            object.__setattr__(self, "target_cycles_per_frame", DEFAULT_TARGET_CYCLES)

    def target(self, clock_mhz: float) -> int | None:
        """The cycles-per-frame target, or None for an explicit per-layer folding."""
        if self.fps:
            return max(1, int(clock_mhz * 1e6 / self.fps))
        return self.target_cycles_per_frame


@dataclass(frozen=True)
class CompileConfig:
    """FINN lowering to HW layers, folding, estimates and the overflow study."""

    folding: FoldingConfig = field(
        default_factory=lambda: FoldingConfig(target_cycles_per_frame=DEFAULT_TARGET_CYCLES)
    )
    fpga_part: str = "xc7z020clg400-1"
    clock_mhz: float = 100.0
    # Append top-1 (FINN LabelSelect) so the accelerator outputs the class index.
    top_k: bool = True
    # Float ops at the end of the graph the host may compute (otherwise they are an error).
    host_ops: list[Literal["Mul", "Add"]] = field(default_factory=list)
    # Accumulator widths of the wrap-around study; empty -> target-4 .. target.
    wrap_bits: list[int] = field(default_factory=list)
    # Test samples for the fidelity check; null -> the whole test set.
    verify_samples: int | None = None
    # Remove channels between two dense layers that are never read or always constant
    # (flow/passes/prune_channels.py): A2Q's all-zero neurons cost no hardware.
    prune_channels: bool = True


@dataclass(frozen=True)
class LayerHardware:
    """Per-layer override of the hardware section."""

    mac_style: MacStyle | None = None


@dataclass(frozen=True)
class HardwareConfig:
    """Generation, simulation and synthesis of the accelerator."""

    fifo_depth: int = 2
    # How every MAC layer multiplies (see MacStyle); per layer in ``layers``.
    mac_style: MacStyle = "rom"
    layers: dict[str, LayerHardware] = field(default_factory=dict)
    # Test frames simulated (bit-exact check and cycles per frame).
    sim_frames: int = 100
    # Also simulate with random input gaps and output back-pressure.
    sim_stalls: bool = True
    # DSP48 MACs instead of LUT MACs (synth_xilinx without -nodsp).
    use_dsp: bool = False
    # Also synthesize the 32-bit-accumulator variant for the comparison.
    acc32: bool = True
    # Also synthesize the flattened stitched top (else the top's figures are the sum of the
    # nodes', which is what the top holds: the nodes and the wires between them).
    synth_top: bool = False
    synth_jobs: int = 2
    synth_timeout_s: int = 1800
    # A MAC layer estimated above this many LUTs is synthesized in slices of its PE lanes,
    # synth_slices of them, and scaled (flow/hw/slices.py); 0 never slices.
    synth_slice_lut: int = 40000
    synth_slices: int = 2


# Keys that say how a stage runs on this machine, not what it computes: left out of the stage
# cache key, so another thread count, device or ``sweep --jobs`` reuses finished stages.
RESOURCE_KEYS = frozenset(
    {"train.device", "train.threads", "hardware.synth_jobs", "hardware.synth_timeout_s"}
)


@dataclass(frozen=True)
class BuildConfig:
    """One build: everything from data to export for one network."""

    name: str
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    quant: QuantConfig = field(default_factory=QuantConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    compile: CompileConfig = field(default_factory=CompileConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)

    def section_digest(self, *sections: str) -> str:
        """A stable hash of the named sections (used for stage caching), without their
        machine resources (:data:`RESOURCE_KEYS`). A dotted name is one key of a section
        (``hardware.mac_style``)."""
        blob = {}
        for s in sections:
            value: Any = self
            for part in s.split("."):
                value = getattr(value, part)
            value = to_dict(value)
            if isinstance(value, dict):
                value = {k: v for k, v in value.items() if f"{s}.{k}" not in RESOURCE_KEYS}
            blob[s] = value
        if "model" in sections and self.model.source:  # the files' content, not their names
            blob["model.source files"] = source_digest(self.model.source)
        text = json.dumps(blob, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# Ranges checked on load: key path suffix -> (min, max). Bounds are inclusive.
RANGES: dict[str, tuple[float, float]] = {
    "seed": (0, 2**31 - 1),
    "data.test_fraction": (0.01, 0.9),
    "data.limit": (1, 10**9),
    "data.upscale": (2, 4),
    "data.tile": (4, 512),
    "data.patches": (1, 10**6),
    "data.test_tiles": (1, 10**6),
    "model.hidden[]": (1, 65536),
    "model.channels[]": (1, 65536),
    "model.width": (0.01, 8.0),
    "model.weight_bits": (2, 8),
    "model.edge_weight_bits": (2, 8),
    "model.act_bits": (1, 8),
    "model.input_bits": (1, 16),
    "quant.acc_bits": (2, 32),
    "quant.layers.*.acc_bits": (2, 32),
    "train.float_epochs": (0, 10000),
    # At least one: Brevitas' activation quantizers take their scales from statistics
    # collected in QAT steps; with none the quantized model has no activation scales.
    "train.qat_epochs": (1, 10000),
    # Batches of one sample are skipped (BatchNorm needs two), so one gives no step at all.
    "train.batch_size": (2, 65536),
    "train.lr": (1e-8, 10.0),
    "train.qat_lr": (1e-8, 10.0),
    "train.weight_decay": (0.0, 1.0),
    "train.threads": (1, 1024),
    "export.check_samples": (1, 10**6),
    "export.atol": (0.0, 1.0),
    "export.max_mismatch_fraction": (0.0, 0.5),
    "compile.folding.target_cycles_per_frame": (1, 10**9),
    "compile.folding.fps": (1e-3, 1e9),
    "compile.folding.layers.*.pe": (1, 65536),
    "compile.folding.layers.*.simd": (1, 65536),
    "compile.clock_mhz": (1.0, 1000.0),
    "compile.wrap_bits[]": (2, 64),
    "compile.verify_samples": (1, 10**9),
    "hardware.fifo_depth": (2, 1 << 16),
    "hardware.sim_frames": (1, 10**6),
    "hardware.synth_jobs": (1, 64),
    "hardware.synth_timeout_s": (10, 86400),
    "hardware.synth_slice_lut": (0, 10**9),
    "hardware.synth_slices": (1, 64),
}


def _range_for(path: str) -> tuple[float, float] | None:
    generic = re.sub(r"\[\d+\]", "[]", path)
    generic = re.sub(r"^quant\.layers\.[^.]+\.", "quant.layers.*.", generic)
    generic = re.sub(r"^compile\.folding\.layers\.[^.]+\.", "compile.folding.layers.*.", generic)
    return RANGES.get(generic)


def to_dict(obj: Any) -> Any:
    """The plain-data (JSON/YAML) form of a config object."""
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj


def parse_config(data: Any, *, source: str = "<config>") -> BuildConfig:
    """Build a validated ``BuildConfig`` from plain data (a parsed YAML document)."""
    try:
        cfg = build(BuildConfig, data, _range_for)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    try:
        validate(cfg)
    except ConfigError as e:
        raise type(e)(f"{source}: {e}") from None
    return cfg


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``key.path=value`` overrides (value parsed as YAML) to plain config data."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: must be KEY=VALUE, e.g. data.path=/data/mnist")
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {part} is not a mapping")
        node[parts[-1]] = parse_yaml(raw, f"--set {item!r}")
    return data


def load_config(path: str | Path, overrides: list[str] | None = None) -> BuildConfig:
    """Load, type-check and validate a build config YAML file.

    ``name`` defaults to the file's stem. ``overrides`` are ``key=value`` strings (``--set``).
    """
    path = Path(path)
    data = read_yaml_file(path, "config file")
    if isinstance(data, dict):
        data.setdefault("name", path.stem)
        apply_overrides(data, overrides or [])
    return parse_config(data, source=str(path))


# ---------------------------------------------------------------------------------------------
# Cross-checks (cheap; run before any slow stage)


@dataclass(frozen=True)
class LayerPlan:
    """What the config asks of one MAC layer, resolved from defaults, policies and overrides."""

    name: str
    in_features: int  # K, the dot-product length (fan-in) of one output
    out_features: int  # outputs (channels of a conv)
    method: Method
    acc_bits: int | None  # None: unconstrained
    # The width the config targets for this position whatever the method (None for an edge
    # layer left unconstrained): a baseline layer is forced to it in the wrap-around study.
    policy_bits: int | None
    input_bits: int
    input_signed: bool
    weight_bits: int
    spec: MacSpec | None = None  # the layer's shape (kind, channels, kernel, stride...)
    # Power-of-two scales for the weights and the activation after the layer (quant.scale).
    po2: bool = False

    @property
    def constrained(self) -> bool:
        """Whether training guarantees the target: an L1 budget or the data types."""
        return self.method != "baseline"

    @property
    def l1_budget(self):
        """The per-channel L1 budget of an A2Q / A2Q+ layer (a Fraction), else None."""
        if self.method not in bounds.METHODS or self.acc_bits is None:
            return None
        return bounds.l1_budget(self.method, self.acc_bits, self.input_bits, self.input_signed)

    @property
    def kind(self) -> str:
        return self.spec.kind if self.spec else "linear"


def dataset_pixel_bits(dataset: str) -> int:
    """Bits of the integer pixels of a dataset (digits: 0..16 -> 5; 8-bit images -> 8)."""
    return 5 if dataset == "digits" else 8


def is_superres(cfg: BuildConfig) -> bool:
    """Whether the build maps low- to high-resolution images (PSNR) rather than classifying."""
    return cfg.data.dataset in SUPERRES_DATASETS


def dataset_shape(data: DataConfig) -> Shape:
    """Channels, image size and classes (or upscaling factor) of a dataset's network input."""
    if data.dataset in SUPERRES_DATASETS:
        # Luminance tiles: one channel in, one channel out, upscale x larger.
        return Shape(1, data.tile, 0, data.upscale)
    if data.dataset == "npz":
        from flow.data.npz import image_shape

        try:
            return Shape(*image_shape(Path(data.path) if data.path else None))
        except DataError as e:
            raise ConfigError(f"data.path: {e}") from None
    return {
        "digits": Shape(1, 8, 10),
        "mnist": Shape(1, 28, 10),
        "cifar10": Shape(3, 32, 10),
    }[data.dataset]


def mac_specs(cfg: BuildConfig) -> list[MacSpec]:
    """The MAC layers of the configured network, in forward order."""
    m = cfg.model
    if m.source:
        return [layer.spec for layer in _source_layers(cfg)]
    return arch_specs(
        m.arch, dataset_shape(cfg.data), hidden=m.hidden, channels=m.channels, width=m.width
    )


def layer_plans(cfg: BuildConfig) -> list[LayerPlan]:
    """Resolve the per-layer method, target width and data types of every MAC layer, in order.

    A layer's input bits are the bits of the activation before it: the data's pixels for the
    first layer, ``model.act_bits`` for the others, except that a ``datatype`` layer chooses
    its own input and weight bits (:func:`_datatypes`).
    """
    m = cfg.model
    specs = mac_specs(cfg)
    pixel_bits = pixel_bits_of(cfg)
    files = _source_layers(cfg) if m.source else None
    given = m.source and (m.source.startswith("python:") and m.quantizers == "given")
    n = len(specs)
    plans = []
    for i, spec in enumerate(specs):
        edge = cfg.quant.first_layer if i == 0 else cfg.quant.last_layer if i == n - 1 else None
        method: Method = cfg.quant.method
        acc = cfg.quant.acc_bits
        if edge == "unconstrained":
            method = "baseline"
        elif (
            spec.kind == "depthwise" and method in bounds.METHODS and cfg.quant.depthwise != "same"
        ):
            method = cfg.quant.depthwise
        edge_weights = m.edge_weight_bits if i in (0, n - 1) else None
        override = cfg.quant.layers.get(spec.name)
        if given:  # what the network's own quantizer trains
            method, acc, edge = files[i].method, files[i].acc_bits, None
        elif override is not None:
            method = override.method or method
            acc = override.acc_bits or acc
        input_bits = pixel_bits if i == 0 else m.act_bits
        weight_bits = edge_weights or m.weight_bits
        input_signed = False  # integer pixels and ReLU outputs are unsigned
        if files:  # what the file multiplies
            input_bits, input_signed, weight_bits = (
                files[i].input_bits, files[i].input_signed, files[i].weight_bits
            )  # fmt: skip
        elif method == "datatype":
            input_bits, weight_bits = _datatypes(cfg, spec, acc, pixel_bits if i == 0 else None)
        plans.append(
            LayerPlan(
                name=spec.name,
                in_features=spec.fan_in,
                out_features=spec.out_channels,
                method=method,
                acc_bits=None if method == "baseline" else acc,
                policy_bits=None if edge == "unconstrained" else acc,
                input_bits=input_bits,
                input_signed=input_signed,
                weight_bits=weight_bits,
                spec=spec,
                po2=cfg.quant.scale == "po2",
            )
        )
    return plans


def source_file(source: str) -> Path:
    """The file behind a ``model.source``: the QONNX file, or the Python file of the module
    (its content is part of the train stage's cache key); errors name what is wrong."""
    if source.startswith("python:"):
        from flow.user_net import module_file

        return module_file(source)
    from flow.foreign import source_path

    path = source_path(source)
    if not path.is_file():
        raise ConfigError(f"model.source: {path}: no such file")
    return path


def source_digest(source: str) -> str:
    """The content of what a ``model.source`` builds from: the QONNX file, or the Python
    files of the network's package (:func:`flow.user_net.source_files`)."""
    if source.startswith("python:"):
        from flow.user_net import source_files

        files = source_files(source)
        return text_digest(*(f"{name}:{file_digest(p)}" for name, p in files.items()))
    return file_digest(source_file(source))


def pixel_bits_of(cfg: BuildConfig) -> int:
    """Bits of the unsigned integer pixels the accelerator takes."""
    return cfg.model.input_bits or dataset_pixel_bits(cfg.data.dataset)


def _source_layers(cfg: BuildConfig) -> list:
    """The MAC layers of the model ``model.source`` names: a QONNX file's
    (:mod:`flow.foreign`) or a Brevitas network's (:mod:`flow.user_net`)."""
    source = cfg.model.source
    if source.startswith("python:"):
        from flow.user_net import net_layers

        shape = dataset_shape(cfg.data)
        return net_layers(source, (shape.channels, shape.size, shape.size))
    from flow.foreign import file_layers

    return file_layers(source, pixel_bits_of(cfg))


def acc_bits_key(cfg: BuildConfig, layer: str) -> str:
    """The config key that sets a layer's target P: its override, else ``quant.acc_bits``."""
    override = cfg.quant.layers.get(layer)
    if override is not None and override.acc_bits:
        return f"quant.layers.{layer}.acc_bits"
    return "quant.acc_bits"


def _datatypes(cfg: BuildConfig, spec: MacSpec, acc: int, fixed_input: int | None) -> tuple:
    """(N, M) of a ``datatype`` layer: the boundary pair of ``quant.datatype_split`` at P.

    The rule for a whole network: each activation feeds one MAC layer (``DATATYPE_ARCHS``),
    so that layer chooses the activation's bits N together with its own weight bits M; only
    the first layer's N is fixed, by the data. Raises :class:`InfeasibleError` naming the
    layer, K and the smallest P that fits when no (N >= 1, M >= 2) fits.
    """
    if cfg.model.arch not in DATATYPE_ARCHS:
        raise ConfigError(
            f"quant.method: 'datatype' sizes each activation for the one layer that reads it; "
            f"{cfg.model.arch}'s {_SHARED_ACTS.get(cfg.model.arch, 'layers')} share "
            "activations between layers, which this rule does not cover; allowed with "
            f"model.arch {', '.join(DATATYPE_ARCHS)}"
        )
    pair = bounds.choose_datatypes(
        spec.fan_in, acc, cfg.quant.datatype_split, input_bits=fixed_input
    )
    if pair is not None:
        return pair
    key = acc_bits_key(cfg, spec.name)
    m_min = bounds.DATATYPE_MIN_WEIGHT_BITS
    fits = (
        f"its {fixed_input}-bit input (fixed by the data) with M >= {m_min} weight bits does not"
        if fixed_input
        else f"no input bits N >= 1 with weight bits M >= {m_min}"
    )
    smallest = bounds.datatype_min_acc_bits(spec.fan_in, input_bits=fixed_input)
    raise InfeasibleError(
        f"{key}: P={acc} is too small for layer {spec.name} (datatype, K={spec.fan_in}): "
        f"{fits} keep its dot products within P bits; the smallest P that fits is {smallest}"
    )


def mac_styles(cfg: BuildConfig) -> dict[str, str]:
    """The MAC style asked for every layer (layer name -> ``rom``, ``const`` or ``auto``),
    overrides applied; the compile stage resolves ``auto`` (``compile/folding.json``)."""
    hw = cfg.hardware
    return {
        p.name: (hw.layers[p.name].mac_style if p.name in hw.layers else None) or hw.mac_style
        for p in layer_plans(cfg)
    }


def config_warnings(cfg: BuildConfig) -> list[str]:
    """What a valid config asks that has no effect: an A2Q / A2Q+ target P whose L1 budget
    admits every weight vector of the layer's bits (K weights of -2^(M-1)), so its bound is
    idle (A2Q+ still zero-centres the weights)."""
    out = []
    for p in layer_plans(cfg):
        budget = p.l1_budget
        largest = p.in_features * 2 ** (p.weight_bits - 1)  # K weights of -2^(M-1)
        if budget is None or budget < largest:
            continue
        smaller = range(bounds.min_acc_bits(p.method, p.input_bits, p.input_signed), p.acc_bits)
        tight = max(
            (
                q
                for q in smaller
                if bounds.l1_budget(p.method, q, p.input_bits, p.input_signed) < largest
            ),
            default=None,
        )
        out.append(
            f"{acc_bits_key(cfg, p.name)}: P={p.acc_bits} does not constrain layer {p.name} "
            f"({p.method}): its L1 budget {float(budget):g} admits every {p.weight_bits}-bit "
            f"weight vector of K={p.in_features} (L1 <= {largest}), so the accumulator bound "
            + (f"is idle; P <= {tight} constrains it" if tight else "is idle")
        )
    return out


def check_name(name: Any, key: str) -> None:
    """A build or sweep name becomes a folder: one path component, no spaces, not hidden."""
    if (
        not isinstance(name, str)
        or not name
        or any(c in name for c in "/\\ ")
        or name.startswith(".")
    ):
        raise ConfigError(
            f"{key}: must be a file-name-safe identifier (letters, digits, -, _, .; no "
            f"slashes or spaces, not starting with '.'), not {name!r}"
        )


def validate(cfg: BuildConfig) -> None:
    """Cross-check a config; raise ConfigError naming the key on the first problem."""
    from flow.data import check_dataset_path

    check_name(cfg.name, "name")
    if cfg.model.source:
        source_file(cfg.model.source)
        given = cfg.model.source.startswith("python:") and cfg.model.quantizers == "given"
        if given and cfg.quant.layers:
            raise ConfigError(
                f"quant.layers.{next(iter(cfg.quant.layers))}: with model.quantizers: given "
                "the network's own quantizers set each layer's method and P; set "
                "model.quantizers: config to apply the quant section"
            )
    elif cfg.model.arch == "tfc" and not cfg.model.hidden:
        raise ConfigError("model.hidden: must list at least one hidden layer size")
    if cfg.model.residual and not is_superres(cfg):
        raise ConfigError(
            "model.residual: only super-resolution networks (espcn, unet) add their input "
            "to the output; set it to false"
        )
    if cfg.model.arch == "cnv" and not cfg.model.channels and not cfg.model.source:
        raise ConfigError("model.channels: must list at least one conv layer size")
    plans = layer_plans(cfg)
    names = [p.name for p in plans]
    for key in cfg.quant.layers:
        if key not in names:
            hint = suggest(key, names)
            raise ConfigError(
                f"quant.layers.{key}: no such layer{hint}; the layers are {', '.join(names)}"
            )
    for p in plans:
        if p.acc_bits is None or p.method not in bounds.METHODS:
            continue  # a datatype layer's P was checked when its plan was made
        key = acc_bits_key(cfg, p.name)
        smallest = bounds.min_acc_bits(p.method, p.input_bits, p.input_signed)
        if p.acc_bits < smallest:
            raise ConfigError(
                f"{key}: P={p.acc_bits} is too small for layer {p.name} ({p.method}, "
                f"{p.input_bits}-bit {'signed' if p.input_signed else 'unsigned'} input): its "
                f"L1 budget admits no non-zero weight; the smallest P that does is {smallest}"
            )
    l1 = [p.name for p in plans if p.method in bounds.METHODS]
    if cfg.quant.scale == "po2" and l1:
        raise ConfigError(
            f"quant.scale: 'po2' takes baseline and datatype layers only, and {', '.join(l1)} "
            f"use{'s' if len(l1) == 1 else ''} A2Q/A2Q+, whose per-channel scales come from "
            "the weight norm and stay float; set quant.scale: float or another quant.method"
        )
    _validate_compile(cfg, plans)
    _validate_hardware(cfg, plans)
    try:
        check_dataset_path(cfg.data.dataset, Path(cfg.data.path) if cfg.data.path else None)
    except DataError as e:
        raise ConfigError(f"data.path: {e}") from None


def _divisors(n: int) -> str:
    return ", ".join(str(d) for d in range(1, n + 1) if n % d == 0)


def _validate_compile(cfg: BuildConfig, plans: list[LayerPlan]) -> None:
    f = cfg.compile.folding
    given = [
        k
        for k, v in (
            ("target_cycles_per_frame", f.target_cycles_per_frame),
            ("fps", f.fps),
            ("layers", f.layers),
        )
        if v
    ]
    if len(given) > 1:
        raise ConfigError(
            "compile.folding: give exactly one of target_cycles_per_frame, fps or layers, "
            f"not {' and '.join(given) or 'none'}"
        )
    if f.layers and f.objective != "finn":
        raise ConfigError(
            f"compile.folding.objective: {f.objective!r} chooses PE/SIMD for a "
            "target_cycles_per_frame or fps; with explicit compile.folding.layers leave it "
            "at 'finn' (the layers are used as given)"
        )
    target = f.target(cfg.compile.clock_mhz)
    slowest = max(plans, key=lambda p: p.spec.out_size if p.spec else 1)
    floor = slowest.spec.out_size**2 if slowest.spec else 1
    if target is not None and target < floor:
        key = "fps" if f.fps else "target_cycles_per_frame"
        given = (
            f"{f.fps:g} fps ({target} cycles at {cfg.compile.clock_mhz:g} MHz)" if f.fps else target
        )
        raise ConfigError(
            f"compile.folding.{key}: {given} cannot be reached: layer {slowest.name} computes "
            f"{floor} output positions per frame, at least one cycle each even with every "
            f"MAC in parallel; allowed: at least {floor} cycles per frame"
        )
    by_name = {p.name: p for p in plans}
    for name, lf in f.layers.items():
        key = f"compile.folding.layers.{name}"
        if name not in by_name:
            raise ConfigError(
                f"{key}: no such layer{suggest(name, list(by_name))}; the layers are "
                f"{', '.join(by_name)}"
            )
        p = by_name[name]
        if p.out_features % lf.pe:
            raise ConfigError(
                f"{key}.pe: {lf.pe} does not divide the layer's {p.out_features} outputs (MH); "
                f"allowed: {_divisors(p.out_features)}"
            )
        if p.kind == "depthwise" and lf.simd != 1:
            raise ConfigError(
                f"{key}.simd: a depthwise layer takes one kernel position per cycle, so SIMD "
                f"must be 1, not {lf.simd}; fold it with pe (allowed: {_divisors(p.out_features)})"
            )
        if p.in_features % lf.simd:
            raise ConfigError(
                f"{key}.simd: {lf.simd} does not divide the layer's {p.in_features} inputs (MW); "
                f"allowed: {_divisors(p.in_features)}"
            )
    if f.layers and set(f.layers) != set(by_name):
        missing = [n for n in by_name if n not in f.layers]
        raise ConfigError(f"compile.folding.layers: missing layers {', '.join(missing)}")
    if cfg.compile.top_k and is_superres(cfg):
        raise ConfigError(
            f"compile.top_k: {cfg.model.arch} outputs an image, not class scores; set "
            "compile.top_k: false"
        )
    if cfg.compile.top_k and plans[-1].method in bounds.METHODS:
        raise ConfigError(
            f"compile.top_k: the last layer {plans[-1].name} uses {plans[-1].method}, whose "
            "per-channel scale changes the argmax, so top-1 cannot run in hardware; set "
            "quant.last_layer: unconstrained or compile.top_k: false (with host_ops: [Mul])"
        )


def _validate_hardware(cfg: BuildConfig, plans: list[LayerPlan]) -> None:
    hw = cfg.hardware
    names = [p.name for p in plans]
    for name in hw.layers:
        if name not in names:
            raise ConfigError(
                f"hardware.layers.{name}: no such layer{suggest(name, names)}; the layers are "
                f"{', '.join(names)}"
            )
    styles = mac_styles(cfg)
    depthwise = [p.name for p in plans if p.kind == "depthwise" and styles[p.name] == "const"]
    if depthwise:
        # The generator writes MVAUs; a depthwise layer runs on the VVAU template.
        own = [n for n in depthwise if n in hw.layers and hw.layers[n].mac_style]
        key = f"hardware.layers.{own[0]}.mac_style" if own else "hardware.mac_style"
        raise ConfigError(
            f"{key}: 'const' takes MVAU layers only, and {', '.join(depthwise)} "
            f"{'is a depthwise layer' if len(depthwise) == 1 else 'are depthwise layers'} "
            "(VVAU); give them hardware.layers.<name>.mac_style: rom"
        )
