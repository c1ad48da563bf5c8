"""Crash recovery and the cache's own checks: a build killed at random points resumes to the
same bytes, a damaged output is rebuilt (never reused), unfinished stages are not results."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from flow.config import parse_config
from flow.errors import A2QError
from flow.inspect import inspect_build
from flow.pipeline import FAULT_ENV, run_pipeline, stages_to_run
from flow.util import file_digest
from tests.conftest import TINY

# The files the guarantee lives in: integers, graph and widths.
PROVEN = ("export/model.onnx", "compile/hw.onnx", "compile/accumulators.json")


def _a2q(config: Path, root: Path, *extra: str, env: dict | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "flow.cli", "run", str(config), "--build-dir", str(root)]
    return subprocess.Popen(
        [*cmd, "--until", "compile", "--quiet", *extra],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _kill_during(stage: str, config: Path, root: Path, delay: float) -> int:
    """Start a build, SIGKILL it ``delay`` s after ``stage`` starts (or when it ends first);
    return the process's exit code (-9 when the kill landed)."""
    proc = _a2q(config, root)
    log = root / "tiny" / "log.txt"
    t0 = time.monotonic()
    while proc.poll() is None and time.monotonic() - t0 < 300:
        if log.exists() and f"{stage:8s} running" in log.read_text():
            time.sleep(delay)
            break
        time.sleep(0.05)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    return proc.wait(60)


def test_killed_at_random_points_resumes_to_the_same_bytes(tmp_path, tiny_build):
    _, reference = tiny_build
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY, sort_keys=False))
    root = tmp_path / "build"
    rng = random.Random(15)
    codes = []
    # A kill inside each of train, export and compile, at a seeded random moment.
    for stage, longest in (("train", 4.0), ("export", 3.0), ("compile", 1.0)):
        codes.append(_kill_during(stage, config, root, rng.uniform(0.2, longest)))
    # And one as a stage starts, the way the OOM killer would (the pipeline's fault hook).
    fault = _a2q(config, root, "--force", env={FAULT_ENV: "export@tiny"})
    codes.append(fault.wait(300))
    assert -signal.SIGKILL in codes
    assert _a2q(config, root).wait(300) == 0
    for rel in PROVEN:
        assert file_digest(root / "tiny" / rel) == file_digest(reference / rel), rel


def test_damaged_output_is_rebuilt_not_reused(tmp_path, tiny_data, caplog):
    cfg = parse_config(tiny_data)
    run_pipeline(cfg, tmp_path, until="compile", show_progress=False)
    build = tmp_path / "tiny"
    before = {rel: file_digest(build / rel) for rel in PROVEN}
    onnx = build / "export" / "model.onnx"
    onnx.write_bytes(onnx.read_bytes()[:100])  # truncated after the build finished
    assert stages_to_run(cfg, tmp_path, "compile") == ["export", "compile"]
    with pytest.raises(A2QError, match=r"--from compile: the results of stage 'export' were "):
        run_pipeline(cfg, tmp_path, from_stage="compile", until="compile", show_progress=False)
    res = run_pipeline(cfg, tmp_path, until="compile", show_progress=False)
    assert [r["status"] for r in res.values()] == ["cached", "ran", "ran"]
    assert "export/model.onnx (changed) since the stage finished; running it again" in caplog.text
    assert {rel: file_digest(build / rel) for rel in PROVEN} == before
    (build / "compile" / "accumulators.json").unlink()
    res = run_pipeline(cfg, tmp_path, until="compile", show_progress=False)
    assert [r["status"] for r in res.values()] == ["cached", "cached", "ran"]
    assert "compile/accumulators.json (missing)" in caplog.text
    again = run_pipeline(cfg, tmp_path, until="compile", show_progress=False)
    assert [r["status"] for r in again.values()] == ["cached", "cached", "cached"]


def test_compile_is_byte_reproducible(tmp_path, tiny_build):
    cfg, reference = tiny_build
    root = tmp_path / "b"
    (root / "tiny").mkdir(parents=True)
    for stage in ("train", "export"):  # the same inputs, a fresh compile
        os.symlink(reference / stage, root / "tiny" / stage)
    run_pipeline(cfg, root, until="compile", show_progress=False)
    for rel in PROVEN[1:]:
        assert (root / "tiny" / rel).read_bytes() == (reference / rel).read_bytes(), rel


def test_inspect_does_not_present_an_unfinished_stage(tmp_path, tiny_build):
    _, reference = tiny_build
    build = tmp_path / "tiny"
    for stage in ("train", "export", "compile"):
        shutil.copytree(reference / stage, build / stage)
    shutil.copy(reference / "config.yaml", build)
    assert "accumulator widths" in inspect_build(build)
    (build / "compile" / ".stage.json").unlink()  # as a compile killed before it finished
    text = inspect_build(build)
    assert "compile  unfinished (interrupted, files not shown)" in text
    assert "accumulator widths" not in text and "exported layers" in text
    assert "verify   not run" in text


def test_a_torn_file_without_recorded_hashes_is_named(tmp_path, tiny_build):
    """Markers written before output hashes were recorded cannot tell a damaged file: the
    stage that reads it names the file instead of failing with a traceback."""
    cfg, reference = tiny_build
    build = tmp_path / "tiny"
    for stage in ("train", "export", "compile"):
        shutil.copytree(reference / stage, build / stage)
        marker = build / stage / ".stage.json"
        marker.write_text(json.dumps({**json.loads(marker.read_text()), "outputs": None}))
    hw = build / "compile" / "hw.onnx"
    hw.write_bytes(hw.read_bytes()[:300])
    with pytest.raises(A2QError, match=r"compile/hw.onnx: cannot be read as ONNX: not an ONNX "):
        run_pipeline(cfg, tmp_path, from_stage="verify", until="verify", show_progress=False)
    model = build / "train" / "model.pt"
    model.write_bytes(model.read_bytes()[:200])
    with pytest.raises(A2QError, match=r"train/model.pt: cannot be read as TORCH: truncated or "):
        run_pipeline(cfg, tmp_path, from_stage="export", until="export", show_progress=False)
