"""Every template lints clean with ``verilator --lint-only -Wall`` on its own (with the files
it requires, e.g. ``out_queue.sv``) and illegal parameters stop elaboration."""

from __future__ import annotations

from pathlib import Path

import pytest

from flow.errors import ToolError
from flow.hw.templates import template_paths
from flow.hw.tools import run_tool, verilator

# Defaults plus parameter sets that reach the other generate branches and corner widths.
VARIANTS = [
    ("out_queue", {}),
    ("out_queue", {"WIDTH": 1}),
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
    # The convolution stream templates.
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
    # vvau, pool, global_acc_pool, add_streams, duplicate_streams: a single fold / kernel
    # position / pixel (1-bit counters), products and inputs cut to a narrower accumulator or
    # sum, and sums wider than needed (sign extension).
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
    # upsample and concat: scale 1 (1-bit repetition counters), a single pixel per row and a
    # single fold (1-bit counters, one-word rows), odd row lengths (buffer addresses not a
    # power of two); for concat, outputs exactly as wide as an input (no extension bit kept),
    # much wider outputs, 1-bit types.
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

BAD_PARAMETERS = [
    ("out_queue", {"WIDTH": 0}, "out_queue: WIDTH must be at least 1"),
    ("mvau", {"MW": 6, "SIMD": 4}, "SIMD must divide MW"),
    ("thresholding", {"OUT_BIAS": -1, "OUT_SIGNED": 0}, "does not fit OUT_WIDTH"),
    ("fifo", {"DEPTH": 1}, "DEPTH must be at least 2"),
    ("dwc", {"IN_WIDTH": 6, "OUT_WIDTH": 4}, "must be a multiple of the other"),
    ("label_select", {"NUM_LABELS": 9, "OUT_WIDTH": 2}, "cannot hold NUM_LABELS-1"),
    ("sliding_window", {"CHANNELS": 6, "SIMD": 4}, "SIMD must divide CHANNELS"),
    ("sliding_window", {"K_H": 6}, "must fit in the input map"),
    ("sliding_window", {"IFM_W": 2}, "must fit in the input map"),
    ("sliding_window", {"STRIDE_H": 0}, "must be at least 1"),
    ("fmpadding", {"CHANNELS": 6, "SIMD": 4}, "SIMD must divide CHANNELS"),
    ("fmpadding", {"PAD_LEFT": -1}, "must not be negative"),
    ("vvau", {"CHANNELS": 6, "PE": 4}, "vvau: PE must divide CHANNELS"),
    ("vvau", {"K": 0}, "vvau: K must be at least 1"),
    ("pool", {"CHANNELS": 5, "PE": 2}, "pool: PE must divide CHANNELS"),
    ("pool", {"K": 0}, "pool: K must be at least 1"),
    ("global_acc_pool", {"CHANNELS": 3, "PE": 2}, "global_acc_pool: PE must divide CHANNELS"),
    ("global_acc_pool", {"PIXELS": 0}, "global_acc_pool: PIXELS must be at least 1"),
    ("add_streams", {"OUT_WIDTH": 0}, "add_streams: PE and all widths must be at least 1"),
    ("duplicate_streams", {"WIDTH": 0}, "duplicate_streams: WIDTH must be at least 1"),
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
]


def lint(template: str, params: dict[str, int], tmp_path: Path) -> None:
    """``verilator --lint-only -Wall`` of a template and the files it requires."""
    args = [verilator(), "--lint-only", "-Wall", *(f"-G{k}={v}" for k, v in params.items())]
    files = [str(p) for p in template_paths(template)]
    run_tool([*args, "--top-module", template, *files], tmp_path, tmp_path / "lint.log", 120)


@pytest.mark.parametrize(("template", "params"), VARIANTS)
def test_template_lints_alone(template: str, params: dict[str, int], tmp_path: Path) -> None:
    lint(template, params, tmp_path)


@pytest.mark.parametrize(("template", "params", "message"), BAD_PARAMETERS)
def test_bad_parameters_fail_elaboration(
    template: str, params: dict[str, int], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ToolError, match="lint.log"):
        lint(template, params, tmp_path)
    assert message in (tmp_path / "lint.log").read_text()
