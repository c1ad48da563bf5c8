"""The convolution stream templates lint clean alone and reject illegal parameters."""

from __future__ import annotations

from pathlib import Path

import pytest

from flow.errors import ToolError

from .test_lint import lint

# Defaults plus parameter sets that reach the other generate branches and corner sizes.
VARIANTS = [
    ("sliding_window", {}),
    ("sliding_window", {"DEPTHWISE": 1}),
    # 1x1 stride 2 (ResNet shortcut), one word per pixel, a row never used
    (
        "sliding_window",
        {"IFM_H": 6, "IFM_W": 6, "CHANNELS": 4, "SIMD": 4, "K_H": 1, "K_W": 1, "STRIDE_H": 2},
    ),
    # window covers the whole map, channel-fold-major order
    ("sliding_window", {"IFM_H": 4, "IFM_W": 3, "K_H": 4, "K_W": 3, "DEPTHWISE": 1}),
    # one pixel of one 1-bit channel: every counter is a single bit
    (
        "sliding_window",
        {"IFM_H": 1, "IFM_W": 1, "CHANNELS": 1, "SIMD": 1, "K_H": 1, "K_W": 1, "WIDTH": 1},
    ),
    # 32x32x256 feature map (the size the line buffer must scale to), block RAM hint
    (
        "sliding_window",
        {"IFM_H": 32, "IFM_W": 32, "CHANNELS": 256, "SIMD": 8, "RAM_STYLE": '"block"'},
    ),
    ("fmpadding", {}),
    ("fmpadding", {"PAD_TOP": 0, "PAD_BOTTOM": 0, "PAD_LEFT": 0, "PAD_RIGHT": 0}),
    ("fmpadding", {"IFM_H": 1, "IFM_W": 1, "CHANNELS": 1, "WIDTH": 1, "PAD_TOP": 3}),
    ("fmpadding", {"IFM_H": 32, "IFM_W": 32, "CHANNELS": 256, "SIMD": 16, "PAD_RIGHT": 0}),
]


@pytest.mark.parametrize(("template", "params"), VARIANTS)
def test_conv_template_lints_alone(template: str, params: dict[str, int], tmp_path: Path) -> None:
    lint(template, params, tmp_path)


@pytest.mark.parametrize(
    ("template", "params", "message"),
    [
        ("sliding_window", {"CHANNELS": 6, "SIMD": 4}, "SIMD must divide CHANNELS"),
        ("sliding_window", {"K_H": 6}, "must fit in the input map"),
        ("sliding_window", {"IFM_W": 2}, "must fit in the input map"),
        ("sliding_window", {"STRIDE_H": 0}, "must be at least 1"),
        ("fmpadding", {"CHANNELS": 6, "SIMD": 4}, "SIMD must divide CHANNELS"),
        ("fmpadding", {"PAD_LEFT": -1}, "must not be negative"),
    ],
)
def test_conv_bad_parameters_fail_elaboration(
    template: str, params: dict[str, int], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ToolError, match="lint.log"):
        lint(template, params, tmp_path)
    assert message in (tmp_path / "lint.log").read_text()
