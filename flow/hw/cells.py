"""Resource figures of a Yosys ``synth_xilinx`` netlist, and the FPGA devices we know.

The ``stat -json`` cell counts become logic LUTs, LUTRAM, FFs, BRAM36 equivalents and DSPs,
and a design's figures the utilization of a named part.

How cells count (Yosys 0.70 ``synth_xilinx``, families ``xc7`` and ``xcup``; the xcup flow
also emits ``CARRY4``, and Vivado accepts it):

- ``lut``: ``LUT1``..``LUT6`` and ``INV`` (an inverter is a LUT1 to Vivado).
- ``lutram``: LUTs used as memory, per primitive as Vivado counts them: ``RAM32X1S``,
  ``RAM64X1S``, ``SRL16E``, ``SRLC16E``, ``SRLC32E`` 1; ``RAM32X1D``, ``RAM64X1D``,
  ``RAM128X1S`` 2; ``RAM32M``, ``RAM64M``, ``RAM128X1D``, ``RAM256X1S`` 4; ``RAM32M16``,
  ``RAM64M8``, ``RAM256X1D``, ``RAM512X1S``, ``RAM32X16DR8``, ``RAM64X8SW`` 8 (UltraScale).
- ``ff``: ``FDRE``, ``FDSE``, ``FDCE``, ``FDPE`` (and their ``_1`` forms), latches ``LDCE``,
  ``LDPE``.
- ``bram36``: ``RAMB36E1``/``RAMB36E2`` 1, ``RAMB18E1``/``RAMB18E2`` 0.5; ``uram``: ``URAM288``.
- ``dsp``: ``DSP48E1``/``DSP48E2``; ``carry``: ``CARRY4``/``CARRY8``; ``muxf``: ``MUXF7``..9.
- No resource: clock and I/O buffers (``BUFG``, ``IBUF``, ``OBUF``, ...), ``GND``, ``VCC``.

Any other cell type (an unmapped ``$``-cell, a primitive added by a later Yosys) stays in the
raw ``cells`` counts and adds a warning to the result instead of vanishing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flow.errors import HardwareError

METRICS = ("lut", "lutram", "ff", "bram36", "uram", "dsp", "carry", "muxf")


@dataclass(frozen=True)
class Device:
    """Capacities of one FPGA device (any package and speed grade)."""

    family: str
    lut: int
    ff: int
    bram36: int
    dsp: int


# Keyed by device; a part name (device + package + speed grade) is matched by prefix.
DEVICES: dict[str, Device] = {
    "xc7a35t": Device("xc7", 20800, 41600, 50, 90),
    "xc7z010": Device("xc7", 17600, 35200, 60, 80),
    "xc7z020": Device("xc7", 53200, 106400, 140, 220),
    "xczu3eg": Device("xcup", 70560, 141120, 216, 360),
    "xczu7ev": Device("xcup", 230400, 460800, 312, 1728),
    "xck26": Device("xcup", 117120, 234240, 144, 1248),
}

_LUT = {f"LUT{i}": 1 for i in range(1, 7)} | {"INV": 1}
_LUTRAM = {
    **dict.fromkeys(("RAM32X1S", "RAM64X1S", "SRL16E", "SRLC16E", "SRLC32E"), 1),
    **dict.fromkeys(("RAM32X1D", "RAM64X1D", "RAM128X1S"), 2),
    **dict.fromkeys(("RAM32M", "RAM64M", "RAM128X1D", "RAM256X1S"), 4),
    **dict.fromkeys(
        ("RAM32M16", "RAM64M8", "RAM256X1D", "RAM512X1S", "RAM32X16DR8", "RAM64X8SW"), 8
    ),
}
_FF = dict.fromkeys(
    ("FDRE", "FDSE", "FDCE", "FDPE", "FDRE_1", "FDSE_1", "FDCE_1", "FDPE_1", "LDCE", "LDPE"), 1
)
_BRAM36 = {"RAMB36E1": 1.0, "RAMB36E2": 1.0, "RAMB18E1": 0.5, "RAMB18E2": 0.5}
_CELL_WEIGHTS: dict[str, dict[str, float]] = {
    "lut": _LUT,
    "lutram": _LUTRAM,
    "ff": _FF,
    "bram36": _BRAM36,
    "uram": {"URAM288": 1},
    "dsp": {"DSP48E1": 1, "DSP48E2": 1},
    "carry": {"CARRY4": 1, "CARRY8": 1},
    "muxf": {"MUXF7": 1, "MUXF8": 1, "MUXF9": 1},
}
_NO_RESOURCE = {"BUFG", "BUFGCTRL", "BUFH", "IBUF", "OBUF", "IOBUF", "OBUFT", "GND", "VCC"}


def device_of(part: str) -> tuple[str, Device]:
    """The device a part name belongs to; :class:`HardwareError` listing known ones if none."""
    matches = [name for name in DEVICES if part.lower().startswith(name)]
    if not matches:
        raise HardwareError(
            f"unknown FPGA part {part!r}; known devices (any package and speed grade): "
            f"{', '.join(sorted(DEVICES))}"
        )
    name = max(matches, key=len)
    return name, DEVICES[name]


def cell_counts(stat: dict) -> dict[str, int]:
    """The cell type -> count table of a Yosys ``stat -json`` output (whole design)."""
    design = stat.get("design")
    if design is None:
        modules = stat.get("modules", {})
        if len(modules) != 1:
            raise HardwareError(
                f"stat -json output has no 'design' entry and {len(modules)} modules; "
                "expected a flattened design"
            )
        design = next(iter(modules.values()))
    cells = design.get("num_cells_by_type")
    if not isinstance(cells, dict):
        raise HardwareError("stat -json output has no 'num_cells_by_type' table")
    return {str(k).lstrip("\\"): int(v) for k, v in sorted(cells.items())}


def resources(cells: dict[str, int]) -> dict[str, Any]:
    """Resource figures (:data:`METRICS`) of a cell count table, with the raw counts.

    Returns ``{"lut", "lutram", "ff", "bram36", "uram", "dsp", "carry", "muxf", "cells",
    "warnings"}``; ``bram36`` is a float (RAMB18 = 0.5), the rest integers. A cell type that
    belongs to no metric and is not a buffer or constant is named in ``warnings``.
    """
    out: dict[str, Any] = {m: 0 for m in METRICS}
    out["bram36"] = 0.0
    unknown = []
    for cell, n in cells.items():
        for metric, weights in _CELL_WEIGHTS.items():
            if cell in weights:
                out[metric] += weights[cell] * n
                break
        else:
            if cell not in _NO_RESOURCE:
                unknown.append(f"{cell} x{n}")
    for m in METRICS:
        out[m] = float(out[m]) if m == "bram36" else int(out[m])
    out["cells"] = dict(cells)
    out["warnings"] = (
        [f"cell types not counted in any resource (kept in 'cells'): {', '.join(unknown)}"]
        if unknown
        else []
    )
    return out


def sum_figures(figures: list[dict]) -> dict[str, Any]:
    """The :data:`METRICS` of several designs added up."""
    total: dict[str, Any] = {m: sum(f[m] for f in figures) for m in METRICS}
    total["bram36"] = float(total["bram36"])
    return total


def scaled(fig: dict, factor: float) -> dict[str, Any]:
    """The :data:`METRICS` of ``fig`` times ``factor`` (a layer measured on a fraction of its
    lanes, :mod:`flow.hw.slices`), rounded: whole cells, half BRAM36s."""
    out: dict[str, Any] = {m: round(fig[m] * factor) for m in METRICS}
    out["bram36"] = round(fig["bram36"] * factor * 2) / 2
    return out


def utilization(fig: dict, dev: Device) -> dict[str, float]:
    """Percent of the device; LUTs count logic and memory LUTs together, as Vivado does."""
    return {
        "lut": round(100.0 * (fig["lut"] + fig["lutram"]) / dev.lut, 2),
        "ff": round(100.0 * fig["ff"] / dev.ff, 2),
        "bram36": round(100.0 * fig["bram36"] / dev.bram36, 2),
        "dsp": round(100.0 * fig["dsp"] / dev.dsp, 2),
    }
