"""upsample.sv (nearest-neighbour upsampling) against the numpy model: scales 2 and 3 (and
1, 4, 5), SIMD folds, non-square frames, frames back to back under stalls, and cycles."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from flow.hw.memfiles import pack_words, unpack_words

from . import refmodels_conv2, refmodels_sr

# Unstalled, N frames take exactly N*OUT_H*OUT_W*CF cycles plus this, from reset release:
# in_ready rises 1 cycle after it, the first output word leaves 3 cycles after the first
# input word (registered RAM read, output queue).
LATENCY = 4


@dataclass(frozen=True)
class Cfg:
    in_h: int
    in_w: int
    scale: int
    channels: int
    simd: int
    width: int

    def params(self) -> dict[str, int]:
        return {
            "IN_H": self.in_h,
            "IN_W": self.in_w,
            "SCALE": self.scale,
            "CHANNELS": self.channels,
            "SIMD": self.simd,
            "WIDTH": self.width,
        }

    @property
    def in_words(self) -> int:
        """Input words per frame."""
        return self.in_h * self.in_w * self.channels // self.simd

    @property
    def out_words(self) -> int:
        """Output words per frame: OUT_H*OUT_W*CF."""
        return self.scale * self.scale * self.in_words


# Cfg(IN_H, IN_W, SCALE, CHANNELS, SIMD, WIDTH)
DEFAULT = {
    "s2_simd2_3x4": Cfg(3, 4, 2, 4, 2, 4),
    "s3_simd1_2x3": Cfg(2, 3, 3, 3, 1, 3),
}
SLOW = {
    "s2_cf1_5x2": Cfg(5, 2, 2, 4, 4, 8),
    "s3_cf3_4x5": Cfg(4, 5, 3, 6, 2, 5),
    "s4_one_column": Cfg(3, 1, 4, 2, 1, 6),
    "s2_one_pixel_1bit": Cfg(1, 1, 2, 1, 1, 1),
    "s2_one_row_cf2": Cfg(1, 6, 2, 4, 2, 2),
    "s1_copy": Cfg(3, 4, 1, 2, 1, 4),
    "s1_one_word_rows": Cfg(4, 1, 1, 1, 1, 3),
    "s5_cf2": Cfg(2, 3, 5, 4, 2, 4),
    "s2_10x10_cf4": Cfg(10, 10, 2, 8, 2, 4),
}
CONFIGS = [pytest.param(c, id=name) for name, c in DEFAULT.items()] + [
    pytest.param(c, id=name, marks=pytest.mark.slow) for name, c in SLOW.items()
]


def run(workdir: Path, cfg: Cfg, x: np.ndarray, **kwargs: object) -> tuple[np.ndarray, int]:
    """Output elements and cycle count of the upsampler for frames x (N, H, W, C)."""
    words = pack_words(x.reshape(-1), cfg.width, cfg.simd, signed=False)
    width = cfg.simd * cfg.width
    res = refmodels_conv2.simulate_templates(
        workdir,
        "upsample",
        cfg.params(),
        {"in": (width, words)},
        {"out": (width, len(x) * cfg.out_words)},
        **kwargs,
    )
    return unpack_words(res.outputs["out"], cfg.width, cfg.simd, signed=False), res.cycles


def frames_of(cfg: Cfg, rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.integers(0, 1 << cfg.width, size=(n, cfg.in_h, cfg.in_w, cfg.channels))
    # One frame whose values spell their position (modulo 2^WIDTH): catches reordering.
    x[0] = np.arange(x[0].size).reshape(x[0].shape) % (1 << cfg.width)
    return x


def test_reference_model() -> None:
    x = np.arange(2 * 2 * 3 * 2).reshape(2, 2, 3, 2)
    y = refmodels_sr.upsample(x, 3)
    assert y.shape == (2, 6, 9, 2)
    for oy in range(6):
        for ox in range(9):
            np.testing.assert_array_equal(y[:, oy, ox], x[:, oy // 3, ox // 3])


def test_reference_model_matches_onnx_resize() -> None:
    """FINN executes UpsampleNearestNeighbour as an ONNX Resize (nearest, opset 13)."""
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    x = np.random.default_rng(1).integers(-8, 8, size=(2, 3, 4, 5)).astype(np.float32)
    for scale in (2, 3, 4):
        oshape = [2, 3 * scale, 4 * scale, 5]
        graph = helper.make_graph(
            [helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest")],
            "resize",
            [
                helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape)),
                helper.make_tensor_value_info("scales", TensorProto.FLOAT, [4]),
            ],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, oshape)],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        sess = ort.InferenceSession(model.SerializeToString())
        scales = np.array([1, scale, scale, 1], dtype=np.float32)
        (y,) = sess.run(None, {"x": x, "scales": scales})
        np.testing.assert_array_equal(y, refmodels_sr.upsample(x, scale))


@pytest.mark.parametrize("cfg", CONFIGS)
def test_upsample_matches_model_under_stalls(sim_workdir: Path, cfg: Cfg) -> None:
    rng = np.random.default_rng(cfg.scale * 10 + cfg.in_w)
    x = frames_of(cfg, rng, 3)
    expected = refmodels_sr.upsample(x, cfg.scale).reshape(-1)
    for seed in (5, 12):
        y, _ = run(sim_workdir, cfg, x, stall_seed=seed)
        np.testing.assert_array_equal(y, expected)
    # A slow input (the output waits for it) and a heavily back-pressured output.
    for stalls in ({"in": 0.9, "out": 0.0}, {"in": 0.0, "out": 0.8}):
        y, _ = run(sim_workdir, cfg, x, stall_seed=7, stalls=stalls)
        np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("cfg", CONFIGS)
def test_back_to_back_frames_cycles(sim_workdir: Path, cfg: Cfg) -> None:
    rng = np.random.default_rng(3)
    frames = 4
    x = frames_of(cfg, rng, frames)
    y, cycles = run(sim_workdir, cfg, x)
    np.testing.assert_array_equal(y, refmodels_sr.upsample(x, cfg.scale).reshape(-1))
    # One output word per cycle: OUT_H*OUT_W*CF cycles per frame, plus the latency once.
    assert cycles == frames * cfg.out_words + LATENCY
