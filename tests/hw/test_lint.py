"""Every template lints clean on its own with ``verilator --lint-only -Wall``."""

from __future__ import annotations

from pathlib import Path

import pytest

from flow.errors import ToolError
from flow.hw.tools import run_tool, verilator

from .conftest import TEMPLATES

# Defaults plus parameter sets that reach the other generate branches and corner widths.
VARIANTS = [
    ("mvau", {}),
    ("mvau", {"MW": 6, "MH": 6, "PE": 2, "SIMD": 3, "IN_SIGNED": 1, "ACC_WIDTH": 5}),
    ("mvau", {"MW": 1, "MH": 1, "IN_WIDTH": 1, "W_WIDTH": 1, "ACC_WIDTH": 1}),
    ("thresholding", {}),
    ("thresholding", {"CHANNELS": 3, "PE": 3, "IN_SIGNED": 0, "THR_WIDTH": 3, "OUT_BIAS": 0}),
    ("thresholding", {"NUM_STEPS": 1, "OUT_WIDTH": 1, "OUT_BIAS": 0}),
    ("fifo", {}),
    ("fifo", {"DEPTH": 5, "WIDTH": 1}),
    ("dwc", {}),
    ("dwc", {"IN_WIDTH": 16, "OUT_WIDTH": 4}),
    ("dwc", {"IN_WIDTH": 8, "OUT_WIDTH": 8}),
    ("label_select", {}),
    ("label_select", {"NUM_LABELS": 4, "PE": 4, "IN_SIGNED": 0}),
    ("label_select", {"NUM_LABELS": 1}),
]


def lint(template: str, params: dict[str, int], tmp_path: Path) -> None:
    args = [verilator(), "--lint-only", "-Wall", *(f"-G{k}={v}" for k, v in params.items())]
    run_tool([*args, str(TEMPLATES / f"{template}.sv")], tmp_path, tmp_path / "lint.log", 120)


@pytest.mark.parametrize(("template", "params"), VARIANTS)
def test_template_lints_alone(template: str, params: dict[str, int], tmp_path: Path) -> None:
    lint(template, params, tmp_path)


@pytest.mark.parametrize(
    ("template", "params", "message"),
    [
        ("mvau", {"MW": 6, "SIMD": 4}, "SIMD must divide MW"),
        ("thresholding", {"OUT_BIAS": -1, "OUT_SIGNED": 0}, "does not fit OUT_WIDTH"),
        ("fifo", {"DEPTH": 1}, "DEPTH must be at least 2"),
        ("dwc", {"IN_WIDTH": 6, "OUT_WIDTH": 4}, "must be a multiple of the other"),
        ("label_select", {"NUM_LABELS": 9, "OUT_WIDTH": 2}, "cannot hold NUM_LABELS-1"),
    ],
)
def test_bad_parameters_fail_elaboration(
    template: str, params: dict[str, int], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ToolError, match="lint.log"):
        lint(template, params, tmp_path)
    assert message in (tmp_path / "lint.log").read_text()
