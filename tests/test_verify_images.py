"""The compile stage's HW-vs-QONNX check on image outputs: channels-last pixels, per-image
PSNR, and the pixel tolerance for rounding ties."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from flow import verify
from flow.data.superres import psnr


def _check(hw_nhwc: np.ndarray, ref_nchw: np.ndarray, y, groups, fraction):
    """``fidelity`` of the given outputs (flat rows, as ``execute_finn`` returns them) and an
    integer model equal to the HW graph."""
    n = len(y)
    outputs = {"hw": hw_nhwc.reshape(n, -1), "qonnx": ref_nchw.reshape(n, -1)}
    graph = SimpleNamespace(
        nodes=[("Thresholding_0", {"op_type": "Thresholding"})],
        output_shape=[1, *hw_nhwc.shape[1:]],
        run=lambda x: SimpleNamespace(outputs=outputs["hw"].astype(np.int64)),
    )
    hw, ref = (outputs[k].astype(np.float32) for k in ("hw", "qonnx"))
    return verify.fidelity(hw, ref, graph, [], np.zeros(n), y, groups, fraction)


def test_image_outputs_compare_channels_last_pixels_and_score_per_image():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 256, (4, 2, 6, 5), dtype=np.uint8)  # (N, C, H, W) targets
    ref = np.clip(y.astype(np.int64) + rng.integers(-3, 4, y.shape), 0, 255)
    groups = np.array([0, 1, 0, 1])
    res = _check(ref.transpose(0, 2, 3, 1), ref, y, groups, 0.0)
    assert res["output"] == "image" and res["ok"]
    assert (res["mismatches"], res["mismatched_pixels"], res["pixels"]) == (0, 0, y.size)
    assert res["hw_psnr"] == pytest.approx(psnr(ref.astype(np.uint8), y, groups=groups))
    assert res["hw_psnr"] != pytest.approx(psnr(ref.astype(np.uint8), y))  # per image, not tile


def test_a_rounding_tie_is_tolerated_up_to_the_pixel_fraction():
    y = np.full((2, 1, 8, 8), 100, dtype=np.uint8)
    ref = y.astype(np.int64)
    hw = ref.transpose(0, 2, 3, 1).copy()
    hw[1, 2:4, 3, 0] += 4  # one tie upstream: a small patch off by up to 4
    res = _check(hw, ref, y, None, 0.02)
    assert res["ok"] and (res["mismatches"], res["mismatched_pixels"]) == (1, 2)
    assert res["max_abs_error"] == 4.0 and "rounding tie" in res["tolerance"]
    strict = _check(hw, ref, y, None, 0.0)
    assert not strict["ok"]
