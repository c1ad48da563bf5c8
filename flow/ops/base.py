"""What the rest of a2q-flow needs to know about one hardware op, and the types it uses.

An op is a :class:`HwOp` subclass in its own module of :mod:`flow.ops` (see
``flow/ops/README.md``): its FINN attributes for the layer summary, its folding rule, its
integer semantics for the executor (:mod:`flow.executor`), its template and how a HW-graph
node becomes a :class:`HwNode` (template parameters, stream packing, memory files), and its
acc32 widening. Nothing here imports the stages (compile, verify, hardware).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from qonnx.core.datatype import DataType

from flow.errors import HardwareError
from flow.hw.templates import TEMPLATE_DIR

WIDE_ACC = 32
# Sliding-window line buffers of at least this many bits go to block RAM.
BLOCK_ROM_BITS = 16384
# A weight/threshold ROM goes to block RAM where that saves more LUTs per BRAM36 than the part
# has LUTs per BRAM36 (xc7z020: 53,200 / 140 = 380), LUT logic costing one LUT per about 11
# ROM bits (Yosys synth_xilinx on mvau.sv: 640 x 16 bits, ~910 LUT). The exact and acc32
# variants both get the exact variant's choice, so they stay comparable.
LUT_PER_BRAM36 = 380
ROM_BITS_PER_LUT = 11
# Width of one 18 Kb block RAM by depth (xc7 RAMB18 aspect ratios).
_BRAM18_WIDTH = ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1))
# Integers up to these magnitudes are exact in float32 / float64, sums of them included.
F32_EXACT, F64_EXACT = 1 << 24, 1 << 53

Elem = tuple[int, int]  # (element bits, elements per word)
Range = tuple[int, int]  # (min, max) of a tensor's values, or a bound of them
Stream = tuple[np.ndarray, int, int]  # a tensor (batch first) and its Range


def bram36(width: int, depth: int) -> float:
    """BRAM36 equivalents of a ``depth`` x ``width`` ROM in 18 Kb blocks."""
    for max_depth, w in _BRAM18_WIDTH:
        if depth <= max_depth:
            return math.ceil(width / w) / 2
    return width * math.ceil(depth / 16384) / 2


def rom_style(width: int, depth: int) -> str:
    """The ``ROM_STYLE`` of a ROM of ``depth`` words of ``width`` bits: ``block`` where block
    RAM saves at least :data:`LUT_PER_BRAM36` LUTs per BRAM36 it takes, else ``logic``.

    A ROM of one word (a fully parallel layer) is a constant: logic, which synthesis folds
    into the arithmetic.
    """
    if depth <= 1:
        return "logic"
    luts = width * depth / ROM_BITS_PER_LUT
    return "block" if luts >= LUT_PER_BRAM36 * bram36(width, depth) else "logic"


def dtype_bits(name: str) -> tuple[int, bool]:
    """(bits, signed) of a FINN integer datatype name; other types have no template."""
    dt = DataType[name]
    if not dt.is_integer():
        raise HardwareError(f"datatype {name} is not an integer type; no template takes it")
    return dt.bitwidth(), dt.signed()


def magnitude(lo: int, hi: int) -> int:
    """The largest magnitude of a value in ``[lo, hi]``."""
    return max(abs(lo), abs(hi))


def compact(h: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``h`` as float32 when its values (in [lo, hi]) are exact there: cheaper to move."""
    if magnitude(lo, hi) < F32_EXACT:
        return h.astype(np.float32)
    return h.astype(np.int64, copy=False)


def exact_dtype(bound: int) -> type:
    """The cheapest dtype whose arithmetic is exact on integers up to ``bound``."""
    if bound < F32_EXACT:
        return np.float32
    return np.float64 if bound < F64_EXACT else np.int64


@dataclass
class HwNode:
    """One module instance of the accelerator: a HW-graph node or glue (FIFO, DWC).

    ``inputs``/``outputs`` name the streams on its ports (``in``/``out``, or ``in0``/``in1``
    for a join and ``out0``/``out1`` for a fork), ``in_elems``/``out_elems`` their packing.
    ``generated``: SystemVerilog files written for this node alone (file name -> text), and
    ``module`` the module of them its wrapper instantiates instead of the op's template
    (e.g. a const-style MVAU); ``mac_style``: a MAC node's style, recorded in ``plan.json``.
    """

    name: str
    op_type: str
    layer: str | None
    params: dict[str, int | str]
    in_elems: list[Elem]
    out_elems: list[Elem]
    mem: dict[str, str] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    in_signed: bool = False  # of the elements on port in/in0
    generated: dict[str, str] = field(default_factory=dict)
    module: str | None = None
    mac_style: str | None = None
    # Groups of PE lanes synthesized instead of the whole node (flow.hw.slices).
    slices: list[HwNode] = field(default_factory=list)

    @property
    def in_elem(self) -> Elem:
        return self.in_elems[0]

    @property
    def out_elem(self) -> Elem:
        return self.out_elems[0]

    @property
    def in_width(self) -> int:
        return self.in_elem[0] * self.in_elem[1]

    @property
    def out_width(self) -> int:
        return self.out_elem[0] * self.out_elem[1]

    @property
    def in_ports(self) -> list[str]:
        return ["in"] if len(self.in_elems) == 1 else [f"in{i}" for i in range(len(self.in_elems))]

    @property
    def out_ports(self) -> list[str]:
        n = len(self.out_elems)
        return ["out"] if n == 1 else [f"out{i}" for i in range(n)]


@dataclass
class PlanContext:
    """What :meth:`HwOp.plan` gets besides the node's summary entry.

    ``wide``: the acc32 variant widens this node (see :meth:`HwOp.widens`); ``header``: the
    "generated by" line of its memory files; ``mac_style``: how a MAC layer multiplies
    (``rom``: its template with a weight ROM, ``const``: weights hard-wired in a generated
    module; see ``flow.config.MacStyle``).
    """

    name: str
    layer: str | None
    wide: bool
    header: str
    mac_style: str = "rom"


@dataclass
class ExecNode:
    """One HW-graph node as the integer executor runs it.

    ``producer``: the op type feeding its first input ('' for the graph input); ``state``:
    what :meth:`HwOp.prepare` computed for it once (weights, lookup tables).
    """

    name: str
    e: dict
    producer: str = ""
    state: Any = None

    def out_shape(self, n: int) -> tuple[int, ...]:
        """Its first output's shape for a batch of ``n`` samples."""
        return (n, *self.e["out_shapes"][0][1:])


class HwOp:
    """A hardware op: a FINN HW op type, its template and its rules, with defaults.

    Subclasses set the class attributes and override the methods whose default does not fit.
    A module of :mod:`flow.ops` exposes its op as ``OP``; ops defined elsewhere are added
    with :func:`flow.ops.register`.
    """

    op_type: ClassVar[str]  # FINN's op type
    template: ClassVar[str]  # hw_templates/<template>.sv, module <template>
    # What it comes from, for the compile error's "Supported: ..." ('' for glue).
    source: ClassVar[str] = ""
    # FINN attributes copied into the layer summary (besides datatypes and PE/SIMD).
    summary_attrs: ClassVar[tuple[str, ...]] = ()
    # Where it appears in listings of supported ops (then by op type).
    order: ClassVar[int] = 100
    is_mac: ClassVar[bool] = False  # a dot-product layer (an accumulator, a config layer)
    is_join: ClassVar[bool] = False  # joins two streams (ends a branch)
    is_fork: ClassVar[bool] = False  # copies one stream to several (starts branches)
    is_glue: ClassVar[bool] = False  # inserted by the hardware stage, never in a HW graph
    # Its output is a sliding window over its input, K times larger: the executor expands it
    # per sub-batch inside its consumer, and an MVAU after it may align SIMD to it.
    is_window: ClassVar[bool] = False
    # A stream op folded to its consumer's word (see stream_channels, stream_word).
    pass_through: ClassVar[bool] = False
    # Folded with the MAC layer that feeds it (same PE, so the stream widths match).
    folds_with_mac: ClassVar[bool] = False
    # Folding attributes its template fixes, set before streams are matched.
    fixed_folding: ClassVar[dict[str, int]] = {}

    def template_path(self) -> Path:
        """The SystemVerilog file of its template (an op outside the package may override)."""
        return TEMPLATE_DIR / f"{self.template}.sv"

    # ---------------------------------------------------------------- compile: checks, folding

    def supports(self, inst) -> bool:
        """Whether its template implements this FINN node (``inst``: its custom op)."""
        return True

    def elems(self, inst, side: str) -> int:
        """Elements per stream word on its ``"in"`` or ``"out"`` side (``SIMD`` for a
        pass-through op, else ``PE``)."""
        return inst.get_nodeattr("SIMD" if self.pass_through else "PE")

    def stream_channels(self, inst) -> int:
        """A pass-through op's channels, which its words must divide."""
        raise NotImplementedError(f"{self.op_type} is not a pass-through stream op")

    def stream_word(self, inst, consumer_elems: int, producer_elems: int = 0) -> int:
        """A pass-through op's elements per word, its consumer taking ``consumer_elems`` and
        its producer, when that one's folding is fixed, sending ``producer_elems`` (0: any).
        The word divides its channels and the consumer's word, and is lowered to divide the
        producer's too when neither of those two words divides the other."""
        word = math.gcd(consumer_elems, self.stream_channels(inst))
        if producer_elems and word % producer_elems and producer_elems % word:
            word = math.gcd(word, producer_elems)
        return word

    def align_simd(self, inst, channels: int) -> None:
        """Adapt its folding to a sliding window of ``channels`` channels feeding it."""

    def before_set_folding(self, inst) -> None:
        """Adjust a specialized copy of the node before FINN's SetFolding runs on it."""

    def sum_terms(self, e: dict) -> int | None:
        """For an op that sums integer streams, how many terms each output sums; else None."""
        return None

    # ---------------------------------------------------------------- the integer executor

    def prepare(self, name: str, e: dict) -> Any:
        """Check a summary entry for the executor (raise ``CompileError``) and precompute what
        :meth:`execute` needs; the result becomes ``ExecNode.state``."""
        return None

    def execute(self, node: ExecNode, ins: list[Stream]) -> tuple[np.ndarray, Range | None]:
        """Its integer semantics on a batch: the output (exact integers, in any dtype that
        holds them exactly) and, for ops that only move values, its range bound (else None:
        the executor measures it). ``ins``: the input streams, batch first."""
        raise NotImplementedError(f"{self.op_type} has no integer semantics")

    # ---------------------------------------------------------------- hardware generation

    def widens(self, acc32: bool, fed_by_mac: bool) -> bool:
        """Whether the acc32 variant widens this node (``acc32``: that variant is planned)."""
        return False

    def plan(self, e: dict, ctx: PlanContext) -> HwNode:
        """The module instance of a summary entry: template parameters, packing, memory files."""
        raise NotImplementedError(f"{self.op_type} has no hardware plan")

    def input_fifo_depth(self, node: HwNode) -> int:
        """The least depth of the FIFO in front of it (the glue's default applies above it)."""
        return 0

    def output_signed(self, node: HwNode) -> bool:
        """Whether the elements of its (first) output are signed."""
        return bool(node.params.get("OUT_SIGNED", 1))
