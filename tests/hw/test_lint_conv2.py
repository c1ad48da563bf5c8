"""vvau, pool, global_acc_pool, add_streams and duplicate_streams lint clean on their own."""

from __future__ import annotations

from pathlib import Path

import pytest

from flow.errors import ToolError

from .test_lint import lint

# Defaults plus parameter sets that reach the other branches and corner widths: a single
# fold / kernel position / pixel (1-bit counters), products and inputs cut to a narrower
# accumulator or sum, and sums wider than needed (sign extension).
VARIANTS = [
    ("vvau", {}),
    ("vvau", {"CHANNELS": 6, "K": 9, "PE": 3, "IN_SIGNED": 1, "ACC_WIDTH": 5}),
    ("vvau", {"CHANNELS": 1, "K": 1, "IN_WIDTH": 1, "W_WIDTH": 1, "ACC_WIDTH": 1}),
    ("vvau", {"CHANNELS": 8, "K": 2, "PE": 8, "IN_WIDTH": 8, "W_WIDTH": 8, "ACC_WIDTH": 32}),
    ("pool", {}),
    ("pool", {"CHANNELS": 6, "K": 9, "PE": 6, "WIDTH": 3, "SIGNED": 1}),
    ("pool", {"CHANNELS": 1, "K": 1, "WIDTH": 1}),
    ("global_acc_pool", {}),
    ("global_acc_pool", {"CHANNELS": 6, "PE": 3, "PIXELS": 49, "IN_SIGNED": 1, "OUT_WIDTH": 14}),
    ("global_acc_pool", {"CHANNELS": 1, "PIXELS": 1, "IN_WIDTH": 1, "OUT_WIDTH": 1}),
    ("global_acc_pool", {"CHANNELS": 4, "PE": 4, "IN_WIDTH": 8, "OUT_WIDTH": 4}),
    ("add_streams", {}),
    ("add_streams", {"PE": 4, "IN0_WIDTH": 3, "IN0_SIGNED": 0, "IN1_WIDTH": 7, "OUT_WIDTH": 12}),
    ("add_streams", {"IN0_WIDTH": 1, "IN1_WIDTH": 1, "OUT_WIDTH": 1, "IN1_SIGNED": 0}),
    ("add_streams", {"PE": 2, "IN0_WIDTH": 8, "IN1_WIDTH": 2, "OUT_WIDTH": 3, "OUT_SIGNED": 0}),
    ("duplicate_streams", {}),
    ("duplicate_streams", {"WIDTH": 1}),
    ("duplicate_streams", {"WIDTH": 300}),
]


@pytest.mark.parametrize(("template", "params"), VARIANTS)
def test_template_lints_alone(template: str, params: dict[str, int], tmp_path: Path) -> None:
    lint(template, params, tmp_path)


@pytest.mark.parametrize(
    ("template", "params", "message"),
    [
        ("vvau", {"CHANNELS": 6, "PE": 4}, "vvau: PE must divide CHANNELS"),
        ("vvau", {"K": 0}, "vvau: K must be at least 1"),
        ("pool", {"CHANNELS": 5, "PE": 2}, "pool: PE must divide CHANNELS"),
        ("pool", {"K": 0}, "pool: K must be at least 1"),
        ("global_acc_pool", {"CHANNELS": 3, "PE": 2}, "global_acc_pool: PE must divide CHANNELS"),
        ("global_acc_pool", {"PIXELS": 0}, "global_acc_pool: PIXELS must be at least 1"),
        ("add_streams", {"OUT_WIDTH": 0}, "add_streams: PE and all widths must be at least 1"),
        ("duplicate_streams", {"WIDTH": 0}, "duplicate_streams: WIDTH must be at least 1"),
    ],
)
def test_bad_parameters_fail_elaboration(
    template: str, params: dict[str, int], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ToolError, match="lint.log"):
        lint(template, params, tmp_path)
    assert message in (tmp_path / "lint.log").read_text()
