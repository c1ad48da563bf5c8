"""``a2q inspect`` on hand-written stage outputs (the build report's fixtures): no tools."""

from __future__ import annotations

from flow.inspect import inspect_build
from tests.test_report import make_build, make_sr_build


def test_inspect_reads_every_stage_file(tmp_path):
    text = inspect_build(make_build(tmp_path))
    assert "  verify   done" in text and "  synth    done" in text and "  hardware not run" in text
    assert "HW graph vs QONNX on 360 test samples: 0 mismatches" in text
    assert "32-bit / exact: LUT 2.22x, FF 2.06x, BRAM 1.00x" in text
    # The width table ends with the weight sparsity: zero weights and zero lanes, percent.
    table = text.split("accumulator widths")[1]
    assert "zero w %  zero lanes %" in table
    assert table.splitlines()[4].split()[-4:] == ["1", "8", "43.8", "12.5"]
    psnr = inspect_build(make_sr_build(tmp_path))
    assert "bicubic 26.20 dB" in psnr and "HW psnr 27.16 dB" in psnr
