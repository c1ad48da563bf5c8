"""Cycle-accurate stream simulation of one module with Verilator.

A testbench wraps a device under test (DUT) that has the template stream interface
(``clk``, ``rst_n``, ``in_valid/in_ready/in_data``, ``out_valid/out_ready/out_data``). Its
parts are real SystemVerilog in ``tb_streams.sv`` (:data:`TB_LIBRARY`): a source per input
stream feeds words from a hex file, a sink per output stream writes the words it receives,
both with optional seeded random gaps on ``valid`` and back-pressure on ``ready``, and a
control stops the run after the expected number of outputs or after a cycle limit. Only the
top that wires them to the DUT is generated (:func:`ports_testbench`), from one list of
:class:`Stream`. :func:`simulate_stream` drives that one-input, one-output interface;
:func:`simulate_ports` drives any number of input and output streams, each named by its port
prefix (``in0`` for ``in0_valid/in0_ready/in0_data``), with its own stall probability.

Building is the slow part, so it happens once per (sources, top, parameters, port names and
word widths): the binary is cached in ``workdir`` under a digest of all of them. Everything
that changes between runs (input words, seed, stall probabilities, cycle limit, and the
*contents* of the memory files the DUT reads with ``$readmemh`` at start-up) is a run-time
argument, so one build serves any number of runs. Verilator's own run-time library is
compiled once per workdir and linked into every build, which saves most of the compile time
of small designs.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from flow import __version__
from flow.errors import HardwareError
from flow.hw.tools import run_tool, verilator

TB_TOP = "a2q_stream_tb"
# The testbench's sources, streams, stall generator and control (real SystemVerilog).
TB_LIBRARY = Path(__file__).with_name("tb_streams.sv")
# Verilator's C++ is compiled at -O1: builds are twice as fast as the default -Os and the
# simulation speed is about the same for stream-sized designs.
_OPT = "-O1"
_MAKE_VARS = f"OPT_FAST={_OPT} OPT_SLOW={_OPT} OPT_GLOBAL={_OPT} CFG_CXXFLAGS_PCH_I=-include"
_VERILATOR_FLAGS = [
    "--binary",
    "--timing",
    "--x-assign",
    "fast",
    "--x-initial",
    "fast",
    # Warnings of the (lint-clean) templates under unusual parameters should not stop a
    # simulation, but an elaboration-time $error in a template must.
    "-Wno-fatal",
    "-Werror-USERERROR",
]
_BUILD_TIMEOUT_S = 900.0
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*\Z")

ParamValue = int | bool | str | Path


@dataclass(frozen=True)
class SimResult:
    """Outcome of one stream simulation."""

    outputs: list[int]
    """Output words in the order they left the DUT."""
    cycles: int
    """Clock cycles from reset release to the last expected output handshake (inclusive)."""
    build_seconds: float
    """Time spent building the simulator for this call (0.0 when the cache was used)."""
    run_seconds: float
    """Wall-clock time of the simulation run itself."""


@dataclass(frozen=True)
class PortsResult:
    """Outcome of one multi-stream simulation (:func:`simulate_ports`)."""

    outputs: dict[str, list[int]]
    """Output words of each output port prefix, in the order they left the DUT."""
    cycles: int
    """Clock cycles from reset release to the last expected output handshake of all streams."""
    build_seconds: float
    """Time spent building the simulator for this call (0.0 when the cache was used)."""
    run_seconds: float
    """Wall-clock time of the simulation run itself."""


def _sv_param(name: str, value: ParamValue) -> str:
    if not _IDENT.match(name):
        raise HardwareError(f"parameter name {name!r} is not a SystemVerilog identifier")
    if isinstance(value, bool):
        return f".{name}({int(value)})"
    if isinstance(value, int):
        return f".{name}({value})"
    if isinstance(value, str | Path):
        text = str(value)
        if any(c in text for c in '"\\\n'):
            raise HardwareError(f"parameter {name}={text!r} may not contain quotes, \\ or newlines")
        return f'.{name}("{text}")'
    raise HardwareError(
        f"parameter {name} must be an int, bool, str or Path, not {type(value).__name__}"
    )


def _check_ports(kind: str, widths: Mapping[str, int]) -> None:
    if not widths:
        raise HardwareError(f"at least one {kind} stream is needed")
    for prefix, width in widths.items():
        if not isinstance(prefix, str) or not _IDENT.match(prefix):
            raise HardwareError(f"port prefix {prefix!r} is not a SystemVerilog identifier")
        if not isinstance(width, int) or isinstance(width, bool) or width < 1:
            raise HardwareError(
                f"width of port {prefix!r} must be a positive integer, not {width!r}"
            )


@dataclass(frozen=True)
class Stream:
    """One stream of the device under test, as the testbench drives or watches it."""

    prefix: str
    """The DUT's port prefix: ``in0`` for ``in0_valid/in0_ready/in0_data``."""
    width: int
    """Word width in bits."""
    name: str
    """The testbench's name for it, also its plusarg prefix: ``i<k>`` for input ``k``,
    ``o<k>`` for output ``k``."""

    @property
    def is_input(self) -> bool:
        return self.name.startswith("i")


def streams(inputs: Mapping[str, int], outputs: Mapping[str, int]) -> list[Stream]:
    """The one stream description (port prefix -> word width) of a testbench and its runs,
    inputs first, each side in the given order; :class:`HardwareError` for bad ports."""
    _check_ports("input", inputs)
    _check_ports("output", outputs)
    clash = set(inputs) & set(outputs)
    if clash:
        raise HardwareError(f"port prefixes {sorted(clash)} are both inputs and outputs")
    return [Stream(p, w, f"i{k}") for k, (p, w) in enumerate(inputs.items())] + [
        Stream(p, w, f"o{k}") for k, (p, w) in enumerate(outputs.items())
    ]


def _stream_block(s: Stream, k: int) -> str:
    """Signals and the source or sink of stream ``s``, ``k``-th in the generator's path."""
    n, index = s.name, s.name[1:]
    ports = [".clk", ".rst_n", f".rng_in(rng{k})", f".rng_out(rng{k + 1})"]
    if not s.is_input:
        ports += [f".done(done[{index}])", f".done_next(done_next[{index}])"]
    ports += [f".valid({n}_valid)", f".ready({n}_ready)", f".data({n}_data)"]
    sep = ",\n      "
    return (
        f"  // {'input' if s.is_input else 'output'} {index}: {s.prefix}, {s.width} bits\n"
        f"  logic {n}_valid, {n}_ready;\n"
        f"  logic [{s.width - 1}:0] {n}_data;\n"
        f"  a2q_tb_{'source' if s.is_input else 'sink'} #(\n"
        f'      .WIDTH({s.width}),\n      .NAME("{n}")\n'
        f"  ) {n} (\n      {sep.join(ports)}\n  );\n"
    )


def ports_testbench(
    top: str,
    params: Mapping[str, ParamValue],
    inputs: Mapping[str, int],
    outputs: Mapping[str, int],
) -> str:
    """The testbench top (module ``a2q_stream_tb``) around a multi-stream ``top``.

    ``inputs`` and ``outputs`` map each stream's port prefix to its word width (see
    :func:`streams`). The top wires one ``a2q_tb_source`` or ``a2q_tb_sink`` of
    :data:`TB_LIBRARY` (which documents the run-time plusargs and the stats file) to each of
    the DUT's streams, and the stall generator through them all.
    """
    if not _IDENT.match(top):
        raise HardwareError(f"top module name {top!r} is not a SystemVerilog identifier")
    ss = streams(inputs, outputs)
    n_out = len(outputs)
    overrides = ",\n      ".join(_sv_param(k, v) for k, v in params.items())
    param_block = f" #(\n      {overrides}\n  )" if overrides else ""
    conns = [".clk", ".rst_n"] + [
        f".{s.prefix}_{sig}({s.name}_{sig})" for s in ss for sig in ("valid", "ready", "data")
    ]
    port_list = " -> ".join(
        ", ".join(f"{s.prefix} ({s.width} bits)" for s in ss if s.is_input == side)
        for side in (True, False)
    )
    rngs = ", ".join(f"rng{k}" for k in range(len(ss) + 1))
    blocks = "\n".join(_stream_block(s, k) for k, s in enumerate(ss))
    conn_text = ",\n      ".join(conns)
    return f"""\
// Generated by a2q-flow {__version__} (flow/hw/streamsim.py); do not edit.
// Stream testbench for {top}: {port_list}.
module {TB_TOP};
  logic clk, rst_n;
  int unsigned {rngs};  // the stall generator's state, passed through every stream
  bit [{n_out - 1}:0] done, done_next;

  a2q_tb_control #(.N_OUT({n_out})) control (
      .clk, .rst_n, .rng(rng0), .rng_next(rng{len(ss)}), .done, .done_next
  );

{blocks}
  {top}{param_block} dut (
      {conn_text}
  );
endmodule
"""


def stream_testbench(
    top: str, params: Mapping[str, ParamValue], in_width: int, out_width: int
) -> str:
    """The testbench around a one-input, one-output ``top`` (ports ``in_*`` and ``out_*``).

    :func:`ports_testbench` with the input stream ``in`` and the output stream ``out``.
    """
    for name, width in (("in_width", in_width), ("out_width", out_width)):
        if not isinstance(width, int) or width < 1:
            raise HardwareError(f"{name} must be a positive integer, not {width!r}")
    return ports_testbench(top, params, {"in": in_width}, {"out": out_width})


def _digest(parts: Sequence[bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


def _tool_identity(exe: str) -> bytes:
    st = Path(exe).stat()
    return f"{exe}:{st.st_size}:{st.st_mtime_ns}:{_VERILATOR_FLAGS}:{_MAKE_VARS}".encode()


def _runtime_library(exe: str, workdir: Path) -> Path | None:
    """Verilator's run-time library (verilated*.o) compiled once and archived per workdir.

    Returns None when it cannot be used (a workdir path with whitespace cannot be passed
    through Verilator's make flags), in which case each build compiles its own copy.
    """
    key = _digest([_tool_identity(exe)])[:16]
    lib_dir = (workdir / f"_verilator_runtime-{key}").resolve()
    lib = lib_dir / "libverilated_rt.a"
    if any(c.isspace() for c in str(lib)):
        return None
    if lib.is_file():
        return lib
    tmp = Path(tempfile.mkdtemp(prefix="_verilator_runtime-", dir=workdir))
    (tmp / "rt.sv").write_text(
        "// Generated by a2q-flow: compiles Verilator's run-time library.\n"
        "module a2q_rt;\n  initial begin\n    #1 $finish;\n  end\nendmodule\n"
    )
    run_tool(
        [exe, *_VERILATOR_FLAGS, "-Mdir", "obj", "-MAKEFLAGS", _MAKE_VARS, "rt.sv"],
        cwd=tmp,
        log_path=tmp / "build.log",
        timeout=_BUILD_TIMEOUT_S,
    )
    objects = sorted(str(p.name) for p in (tmp / "obj").glob("verilated*.o"))
    if not objects:
        raise HardwareError(f"Verilator built no run-time objects in {tmp / 'obj'}")
    run_tool(
        ["ar", "rcs", "../libverilated_rt.a", *objects],
        cwd=tmp / "obj",
        log_path=tmp / "ar.log",
        timeout=60.0,
    )
    try:
        tmp.rename(lib_dir)
    except OSError:  # another process finished first; its library is as good as ours
        shutil.rmtree(tmp, ignore_errors=True)
    return lib


def _build(tb: str, sources: Sequence[Path], top: str, workdir: Path) -> tuple[Path, float]:
    """Build (or find in the cache) the simulator of testbench text ``tb`` around ``top``."""
    exe = verilator()
    srcs = [TB_LIBRARY, *(Path(s).resolve() for s in sources)]
    for s in srcs:
        if not s.is_file():
            raise HardwareError(f"simulation source {s} does not exist")
    key = _digest(
        [tb.encode(), _tool_identity(exe)]
        + [part for s in srcs for part in (s.name.encode(), s.read_bytes())]
    )[:20]
    workdir.mkdir(parents=True, exist_ok=True)
    build_dir = workdir / f"{top}-{key}"
    binary = build_dir / "obj" / f"V{TB_TOP}"
    if binary.is_file():
        return binary, 0.0

    start = time.monotonic()
    make_vars = _MAKE_VARS
    runtime = _runtime_library(exe, workdir)
    if runtime is not None:
        make_vars += f" VM_GLOBAL_FAST= VM_GLOBAL_SLOW= LOADLIBES={runtime}"
    tmp = Path(tempfile.mkdtemp(prefix=f"{top}-{key}.tmp-", dir=workdir))
    (tmp / "tb.sv").write_text(tb)
    run_tool(
        [
            exe,
            *_VERILATOR_FLAGS,
            "--top-module",
            TB_TOP,
            "-Mdir",
            "obj",
            "-MAKEFLAGS",
            make_vars,
            "tb.sv",
            *map(str, srcs),
        ],
        cwd=tmp,
        log_path=tmp / "build.log",
        timeout=_BUILD_TIMEOUT_S,
    )
    try:
        tmp.rename(build_dir)
    except OSError:  # built concurrently by someone else: use theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return binary, time.monotonic() - start


def build_ports_simulator(
    sources: Sequence[Path],
    top: str,
    params: Mapping[str, ParamValue],
    inputs: Mapping[str, int],
    outputs: Mapping[str, int],
    workdir: Path,
) -> tuple[Path, float]:
    """Build (or find in the cache) the simulator of :func:`ports_testbench` around ``top``
    (port prefix -> word width); returns (binary, build seconds)."""
    return _build(ports_testbench(top, params, inputs, outputs), sources, top, workdir)


def _read_stats(path: Path) -> dict[str, str]:
    stats = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        stats[key] = value
    return stats


# Default stall probabilities with a stall seed: a gap on an input in a quarter of the
# cycles, back-pressure on an output in three eighths of them.
DEFAULT_INPUT_STALL = 0.25
DEFAULT_OUTPUT_STALL = 0.375
_STALL_BITS = 16


def _stall_fraction(prefix: str, p: float) -> tuple[int, int]:
    """(bits, thr) with thr / 2^bits = p, exact for dyadic p, else rounded to 2^-16."""
    if not isinstance(p, int | float) or isinstance(p, bool) or not 0.0 <= p < 1.0:
        raise HardwareError(f"stall probability of port {prefix!r} must be in [0, 1), not {p!r}")
    for bits in range(1, _STALL_BITS + 1):
        thr = p * (1 << bits)
        if thr == int(thr):
            return bits, int(thr)
    return _STALL_BITS, min((1 << _STALL_BITS) - 1, round(p * (1 << _STALL_BITS)))


_RESERVED_RUN_FILES = re.compile(r"(stats\.txt|sim\.log|in\.hex|out\.hex|[io][0-9]+\.hex)\Z")


def _checked_inputs(
    inputs: Mapping[str, tuple[int, Sequence[int]]],
    outputs: Mapping[str, tuple[int, int]],
    stall_seed: int | None,
    stalls: Mapping[str, float] | None,
) -> tuple[dict[str, list[int]], dict[str, int], dict[str, tuple[int, int]]]:
    """Input words and output counts per port prefix, checked, and each stream's stall
    fraction ``(bits, thr)``; :class:`HardwareError` naming the first bad value."""
    widths = {k: v[0] for k, v in inputs.items()}
    words = {k: [int(w) for w in v[1]] for k, v in inputs.items()}
    n_out = {k: int(v[1]) for k, v in outputs.items()}
    single = len(inputs) == 1 and len(outputs) == 1
    for prefix, ws in words.items():
        for i, word in enumerate(ws):
            if not 0 <= word < 1 << widths[prefix]:
                where = "" if single else f" of {prefix}"
                raise HardwareError(
                    f"input word {i}{where} = {word} does not fit {widths[prefix]} bits"
                )
    for prefix, n in n_out.items():
        if n < 0:
            what = "n_outputs" if single else f"the output count of {prefix}"
            raise HardwareError(f"{what} must be >= 0, not {n}")
    levels = {k: DEFAULT_INPUT_STALL for k in inputs} | {k: DEFAULT_OUTPUT_STALL for k in outputs}
    if stalls:
        if stall_seed is None:
            raise HardwareError("per-port stalls need a stall_seed")
        unknown = set(stalls) - set(levels)
        if unknown:
            raise HardwareError(f"stalls name unknown ports {sorted(unknown)}")
        levels |= dict(stalls)
    return words, n_out, {k: _stall_fraction(k, p) for k, p in levels.items()}


def _run_args(
    run_dir: Path,
    ss: list[Stream],
    words: dict[str, list[int]],
    n_out: dict[str, int],
    stalls: dict[str, tuple[int, int]] | None,
) -> list[str]:
    """The per-stream plusargs of a run (see :data:`TB_LIBRARY`); writes the input files."""
    args = []
    for s in ss:
        path = run_dir / f"{s.name}.hex"
        if s.is_input:
            digits = (s.width + 3) // 4
            path.write_text("".join(f"{w:0{digits}x}\n" for w in words[s.prefix]))
            args.append(f"+{s.name}={path}")
        else:
            args += [f"+{s.name}={path}", f"+{s.name}_n={n_out[s.prefix]}"]
        if stalls is not None:
            bits, thr = stalls[s.prefix]
            args += [f"+{s.name}_bits={bits}", f"+{s.name}_thr={thr}"]
    return args


def _check_counts(
    top: str,
    where: str,
    stats: dict[str, str],
    ss: list[Stream],
    words: dict[str, list[int]],
    n_out: dict[str, int],
    got: dict[str, list[int]],
    max_cycles: int,
) -> None:
    """:class:`HardwareError` unless every output delivered exactly its words in time and
    every input word was taken (``where`` names the simulation)."""
    ins = [s.prefix for s in ss if s.is_input]
    outs = [s.prefix for s in ss if not s.is_input]
    consumed = {s.prefix: int(stats[f"{s.name}_consumed"]) for s in ss if s.is_input}
    extra = {s.prefix: int(stats[f"{s.name}_extra"]) for s in ss if not s.is_input}
    single = len(ins) == 1 and len(outs) == 1
    if stats["status"] == "timeout":
        if single:
            (p_in,), (p_out,) = ins, outs
            delivered = f"{len(got[p_out])} of {n_out[p_out]} output words"
            taken = f"{consumed[p_in]} of {len(words[p_in])} inputs"
        else:
            delivered = "output words " + ", ".join(
                f"{p}: {len(got[p])} of {n_out[p]}" for p in outs
            )
            taken = "input words " + ", ".join(
                f"{p}: {consumed[p]} of {len(words[p])}" for p in ins
            )
        raise HardwareError(
            f"{top} delivered {delivered} within {max_cycles} cycles, consuming {taken} {where}"
        )
    for p in outs:
        if extra[p]:
            on = "" if single else f" on {p}"
            raise HardwareError(
                f"{top} delivered {extra[p]} more output words than the {n_out[p]} "
                f"expected{on} {where}"
            )
    for p in ins:
        if consumed[p] != len(words[p]):
            of = "" if single else f" {p}"
            raise HardwareError(
                f"{top} consumed only {consumed[p]} of {len(words[p])}{of} input words {where}"
            )


def simulate_ports(
    sources: Sequence[Path],
    top: str,
    params: Mapping[str, ParamValue],
    inputs: Mapping[str, tuple[int, Sequence[int]]],
    outputs: Mapping[str, tuple[int, int]],
    workdir: Path,
    *,
    stall_seed: int | None = None,
    stalls: Mapping[str, float] | None = None,
    max_cycles: int | None = None,
    run_files: Mapping[str, str] | None = None,
    timeout_s: float = 600.0,
) -> PortsResult:
    """Simulate ``top`` with several input and output streams.

    ``inputs`` maps each input port prefix (``in0`` for ``in0_valid/in0_ready/in0_data``)
    to ``(word width, words)``, ``outputs`` each output port prefix to ``(word width,
    number of words expected)``. ``stall_seed`` switches on random stalls on every stream:
    gaps in ``valid`` on inputs (probability :data:`DEFAULT_INPUT_STALL` per cycle) and
    back-pressure on outputs (:data:`DEFAULT_OUTPUT_STALL`); ``stalls`` (port prefix ->
    probability in [0, 1), needs ``stall_seed``) overrides them per stream, 0.0 for none.
    ``params``, ``run_files``, ``max_cycles`` and ``timeout_s`` are as in
    :func:`simulate_stream`; the build is cached per port names and widths.
    Raises :class:`HardwareError` if an output stream does not deliver its words within
    ``max_cycles``, any delivers more, or input words are left unconsumed.
    """
    in_widths = {k: v[0] for k, v in inputs.items()}
    out_widths = {k: v[0] for k, v in outputs.items()}
    ss = streams(in_widths, out_widths)
    words, n_out, fractions = _checked_inputs(inputs, outputs, stall_seed, stalls)
    if max_cycles is None:
        max_cycles = 100_000 + 1_000 * (sum(map(len, words.values())) + sum(n_out.values()))

    # The simulator runs in its own folder, so every path handed to it must be absolute.
    workdir = Path(workdir).resolve()
    binary, build_seconds = build_ports_simulator(
        sources, top, params, in_widths, out_widths, workdir
    )
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=binary.parent.parent))
    for name, text in (run_files or {}).items():
        if Path(name).name != name or _RESERVED_RUN_FILES.match(name):
            raise HardwareError(f"run file name {name!r} must be a plain, unreserved file name")
        (run_dir / name).write_text(text)
    args = [
        str(binary),
        f"+stats={run_dir / 'stats.txt'}",
        f"+max_cycles={max_cycles}",
        f"+seed={stall_seed or 0}",
        *_run_args(run_dir, ss, words, n_out, None if stall_seed is None else fractions),
    ]
    run_seconds = run_tool(args, cwd=run_dir, log_path=run_dir / "sim.log", timeout=timeout_s)
    stats = _read_stats(run_dir / "stats.txt")
    got = {
        s.prefix: [int(line, 16) for line in (run_dir / f"{s.name}.hex").read_text().split()]
        for s in ss
        if not s.is_input
    }
    where = f"(simulation of {top} in {run_dir})"
    _check_counts(top, where, stats, ss, words, n_out, got, max_cycles)
    shutil.rmtree(run_dir, ignore_errors=True)
    return PortsResult(got, int(stats["cycles"]), build_seconds, run_seconds)


def simulate_stream(
    sources: Sequence[Path],
    top: str,
    params: Mapping[str, ParamValue],
    in_width: int,
    out_width: int,
    inputs: Sequence[int],
    n_outputs: int,
    workdir: Path,
    *,
    stall_seed: int | None = None,
    max_cycles: int | None = None,
    run_files: Mapping[str, str] | None = None,
    timeout_s: float = 600.0,
) -> SimResult:
    """Simulate ``top`` on a stream of input words and collect ``n_outputs`` output words.

    ``sources`` are the SystemVerilog files of the DUT; ``params`` its parameter overrides
    ``run_files`` (name -> text) are written into the scratch directory the simulator runs in
    before it starts, so a memory file parameter can be a fixed relative name (e.g.
    ``"weights.mem"``) and one build serves any weights; other relative paths would resolve
    against that scratch directory, so give them absolutely.
    ``stall_seed`` switches on random input gaps and output back-pressure with that seed.
    Raises :class:`HardwareError` if the DUT does not deliver ``n_outputs`` words within
    ``max_cycles`` (default: generous, proportional to the stream lengths), delivers more
    than that, or leaves input words unconsumed.
    """
    for name, width in (("in_width", in_width), ("out_width", out_width)):
        if not isinstance(width, int) or width < 1:
            raise HardwareError(f"{name} must be a positive integer, not {width!r}")
    res = simulate_ports(
        sources,
        top,
        params,
        {"in": (in_width, inputs)},
        {"out": (out_width, n_outputs)},
        workdir,
        stall_seed=stall_seed,
        max_cycles=max_cycles,
        run_files=run_files,
        timeout_s=timeout_s,
    )
    return SimResult(res.outputs["out"], res.cycles, res.build_seconds, res.run_seconds)
