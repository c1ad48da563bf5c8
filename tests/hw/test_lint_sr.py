"""upsample and concat lint clean on their own; illegal parameters stop elaboration."""

from __future__ import annotations

from pathlib import Path

import pytest

from flow.errors import ToolError

from .test_lint import lint

# Defaults plus parameter sets that reach the other branches and corner widths: scale 1
# (1-bit repetition counters), a single pixel per row and a single fold (1-bit counters,
# one-word rows), odd row lengths (buffer addresses not a power of two); for concat, outputs
# exactly as wide as an input (no extension bit kept), much wider outputs, 1-bit types.
VARIANTS = [
    ("upsample", {}),
    ("upsample", {"IN_H": 5, "IN_W": 5, "SCALE": 3, "CHANNELS": 6, "SIMD": 2, "WIDTH": 3}),
    ("upsample", {"IN_H": 1, "IN_W": 1, "SCALE": 1, "CHANNELS": 1, "WIDTH": 1}),
    ("upsample", {"IN_W": 1, "SCALE": 4, "CHANNELS": 8, "SIMD": 8, "RAM_STYLE": '"block"'}),
    ("upsample", {"IN_H": 32, "IN_W": 32, "SCALE": 2, "CHANNELS": 64, "SIMD": 4, "WIDTH": 8}),
    ("concat", {}),
    (
        "concat",
        {"CHANNELS0": 6, "CHANNELS1": 3, "SIMD": 3, "WIDTH0": 8, "SIGNED1": 0, "OUT_WIDTH": 9},
    ),
    (
        "concat",
        {
            "PIXELS": 1,
            "CHANNELS0": 1,
            "CHANNELS1": 1,
            "WIDTH0": 1,
            "WIDTH1": 1,
            "OUT_WIDTH": 1,
            "SIGNED0": 0,
            "SIGNED1": 0,
            "OUT_SIGNED": 0,
        },
    ),
    ("concat", {"WIDTH0": 3, "SIGNED0": 1, "WIDTH1": 2, "SIGNED1": 1, "OUT_WIDTH": 3}),
    ("concat", {"SIMD": 2, "CHANNELS0": 4, "CHANNELS1": 8, "OUT_WIDTH": 32}),
]


@pytest.mark.parametrize(("template", "params"), VARIANTS)
def test_template_lints_alone(template: str, params: dict[str, int], tmp_path: Path) -> None:
    lint(template, params, tmp_path)


@pytest.mark.parametrize(
    ("template", "params", "message"),
    [
        ("upsample", {"CHANNELS": 6, "SIMD": 4}, "upsample: SIMD must divide CHANNELS"),
        ("upsample", {"IN_W": 0}, "upsample: IN_H, IN_W and WIDTH must be at least 1"),
        ("upsample", {"SCALE": 0}, "upsample: SCALE must be at least 1"),
        ("concat", {"CHANNELS1": 3, "SIMD": 2}, "concat: SIMD must divide CHANNELS0 and CHANNELS1"),
        ("concat", {"PIXELS": 0}, "concat: PIXELS, WIDTH0 and WIDTH1 must be at least 1"),
        # The default in0 is 4-bit unsigned: a 4-bit signed output cannot hold 15.
        ("concat", {"OUT_WIDTH": 4}, "cannot hold the in0 type (WIDTH0, SIGNED0)"),
        # The default in1 is signed: an unsigned output cannot hold it.
        ("concat", {"OUT_SIGNED": 0}, "cannot hold the in1 type (WIDTH1, SIGNED1)"),
        ("concat", {"WIDTH1": 6, "OUT_WIDTH": 5}, "cannot hold the in1 type (WIDTH1, SIGNED1)"),
    ],
)
def test_bad_parameters_fail_elaboration(
    template: str, params: dict[str, int], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ToolError, match="lint.log"):
        lint(template, params, tmp_path)
    assert message in (tmp_path / "lint.log").read_text()
