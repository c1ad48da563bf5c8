"""Sweep engines: a killed worker fails alone, a re-run resumes, Ray gives the local summary."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
import yaml

from flow import engines
from flow.cli import main
from flow.config import parse_config
from flow.engines import Job, RayEngine, make_engine
from flow.errors import A2QError
from flow.pipeline import FAULT_ENV
from flow.report.sweep_report import render_sweep_report
from flow.sweep import run_sweep
from tests.conftest import TINY, write_config

# The point whose compile stage is killed (SIGKILL, as the OOM killer would) in these sweeps.
CRASH = "compile@t__method*acc_bits13"
# What differs between two runs of one sweep: where and how fast it ran.
RUN_KEYS = ("build_dir", "build_seconds", "error")


def _sweep_file(tmp_path):
    write_config(tmp_path, copy.deepcopy(TINY), "base.yaml")
    data = {
        "name": "t",
        "base": "base.yaml",
        "axes": {"method": ["a2q_plus"], "acc_bits": [12, 13]},
        "until": "compile",
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _comparable(summary: dict) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in RUN_KEYS} for r in summary["points"]]


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    """The two-point sweep on the local engine, its acc_bits=13 worker killed in compile."""
    tmp = tmp_path_factory.mktemp("local")
    path = _sweep_file(tmp)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(FAULT_ENV, CRASH)
        summary = run_sweep(path, tmp / "build", jobs=2, quiet=True)
    return path, tmp / "build", summary


def _rows(summary: dict) -> dict[int, dict]:
    return {r["acc_bits"]: r for r in summary["points"]}


def test_a_killed_worker_fails_alone_and_a_rerun_resumes(local_sweep):
    path, build, summary = local_sweep
    rows = _rows(summary)
    assert [rows[b]["status"] for b in (12, 13)] == ["ok", "failed"]
    assert "was killed by SIGKILL" in rows[13]["error"]
    assert rows[12]["exact_bits"]["fc1"] <= 12 and rows[13]["exact_bits"] == {}
    out = build / "sweeps" / "t"
    assert json.loads((out / "summary.json").read_text())["points"] == summary["points"]
    log = (out / "sweep.log").read_text()
    assert "2 to run" in log and "[2/2]" in log and "1 done, 1 failed" in log
    # The re-run builds only the killed point; the finished one is not run again.
    again = run_sweep(path, build, jobs=2, quiet=True)
    assert [r["status"] for r in again["points"]] == ["ok", "ok"]
    assert list(again["tasks"]) == ["method=a2q_plus,acc_bits=13"]
    assert "1 to run, 1 finished or infeasible" in (out / "sweep.log").read_text()
    assert _comparable(again)[0] == _comparable(summary)[0]
    assert again["points"][1]["exact_bits"]["fc1"] <= 13


def test_the_summary_is_written_as_points_finish(tmp_path):
    path = _sweep_file(tmp_path)
    seen = []

    def on_update(out):
        rows = json.loads((out / "summary.json").read_text())["points"]
        seen.append(sorted(r["status"] for r in rows))
        if len(seen) == 2:  # the report of a sweep still running
            counts = "2 (0 ok, 1 failed, 1 not built yet)"
            assert counts in Path(render_sweep_report(out)["md"]).read_text()

    with pytest.MonkeyPatch.context() as mp:  # every point's train is killed: quick
        mp.setenv(FAULT_ENV, "train@t__*")
        run_sweep(path, tmp_path / "build", jobs=1, quiet=True, on_update=on_update)
    assert seen == [["pending", "pending"], ["failed", "pending"], ["failed", "failed"]]


def test_cli_engine_errors_exit_2(tmp_path, capsys):
    path = _sweep_file(tmp_path)
    assert main(["sweep", str(path), "--engine", "ray", "--jobs", "2"]) == 2
    assert "--jobs is the local engine's" in capsys.readouterr().err
    assert main(["sweep", str(path), "--address", "auto"]) == 2
    assert "--address names a Ray cluster: use it with --engine ray" in capsys.readouterr().err


def test_engine_options_are_checked_before_anything_runs():
    with pytest.raises(A2QError, match="unknown engine 'dask'; engines are local, ray"):
        make_engine("dask")
    with pytest.raises(A2QError, match="--jobs: must be at least 1, got 0"):
        make_engine("local", jobs=0)
    with pytest.raises(A2QError, match="--address names a Ray cluster"):
        make_engine("local", address="auto")
    with pytest.raises(A2QError, match="--jobs is the local engine's"):
        make_engine("ray", jobs=2)


class _FakeCluster(RayEngine):
    def __init__(self, nodes):
        super().__init__()
        self._nodes = nodes

    def nodes(self):
        return self._nodes


def _job(**sections) -> Job:
    data = copy.deepcopy(TINY)
    for key, value in sections.items():
        section, name = key.split("__")
        data.setdefault(section, {})[name] = value
    return Job("p", parse_config(data), "synth")


def test_ray_requests_follow_the_config_and_a_gpu_is_asked_for_only_where_one_exists():
    gpu_node = [{"CPU": 8, "GPU": 1}]
    (train, _, req, cfg), (build, until, build_req, build_cfg) = _FakeCluster(gpu_node).steps(
        _job(hardware__synth_jobs=4)
    )
    assert (train, req, cfg.train.device) == ("train+export", {"CPU": 1, "GPU": 1}, "auto")
    assert (build, until, build_req) == ("compile..synth", "synth", {"CPU": 4})
    assert (build_cfg.hardware.synth_jobs, build_cfg.train.device) == (4, "cpu")
    # No GPU in the cluster: train asks for CPUs only, and runs on the CPU it was given.
    (_, _, req, cfg), _ = _FakeCluster([{"CPU": 8}]).steps(_job())
    assert (req, cfg.train.device) == ({"CPU": 1}, "cpu")
    assert len(_FakeCluster([{"CPU": 8}]).steps(Job("p", _job().cfg, "export"))) == 1


def test_a_request_no_node_can_meet_is_refused_naming_the_resource():
    cluster = _FakeCluster([{"CPU": 2, "GPU": 0}, {"CPU": 4}])
    with pytest.raises(
        A2QError,
        match=r"point p: its compile..synth task asks for 8 CPU \(hardware.synth_jobs\), but no "
        r"node of the Ray cluster has that \(the largest has 4 CPU\)",
    ):
        cluster.check([_job(hardware__synth_jobs=8)])
    with pytest.raises(A2QError, match=r"train\+export task asks for 1 GPU \(train.device\)"):
        cluster.check([_job(train__device="cuda")])
    cluster.check([_job(hardware__synth_jobs=4)])  # fits the second node


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster of 2 CPUs and one logical GPU (CI installs Ray: never skipped)."""
    ray = pytest.importorskip("ray") if not os.environ.get("CI") else __import__("ray")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(FAULT_ENV, CRASH)  # the workers the cluster starts inherit it
        ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_sweep_equals_the_local_one_and_trains_on_the_gpu(ray_cluster, tmp_path, local_sweep):
    summary = run_sweep(_sweep_file(tmp_path), tmp_path / "build", engine="ray", quiet=True)
    assert summary["engine"] == "ray"
    assert _comparable(summary) == _comparable(local_sweep[2])
    rows = _rows(summary)
    assert "the Ray task 'compile..compile'" in rows[13]["error"]
    assert "WorkerCrashedError" in rows[13]["error"]
    for pid, tasks in summary["tasks"].items():
        steps = {t["step"]: t for t in tasks}
        assert steps["train+export"]["resources"] == {"CPU": 1, "GPU": 1}, pid
        assert steps["train+export"]["gpu_ids"] == ["0"], pid
        if not pid.endswith("acc_bits=13"):
            assert steps["compile..compile"]["resources"] == {"CPU": 2}
            assert steps["compile..compile"]["gpu_ids"] == []
    assert (
        "Ray cluster (local): 1 node(s), 2 CPUs, 1 GPUs"
        in (tmp_path / "build" / "sweeps" / "t" / "sweep.log").read_text()
    )


def test_ray_engine_refuses_an_impossible_request_before_starting(ray_cluster, tmp_path):
    path = _sweep_file(tmp_path)
    spec = yaml.safe_load(path.read_text())
    spec["set"] = ["hardware.synth_jobs=3"]
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(A2QError, match=r"asks for 3 CPU \(hardware.synth_jobs\)"):
        run_sweep(path, tmp_path / "build", engine="ray", quiet=True)
    assert not (tmp_path / "build" / "sweeps" / "t" / "builds").exists()


def test_ray_missing_is_a_clear_error(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(A2QError, match=r"needs Ray, not installed here: pip install"):
        engines.RayEngine().__enter__()


def test_a_configs_own_train_threads_are_kept_on_every_engine():
    # CPU training results depend on the thread count: a point trains as `a2q run` would.
    fixed, free = _job(train__threads=2).cfg, _job(train__threads=None).cfg
    assert engines.with_resources(fixed, 1).train.threads == 2
    assert engines.with_resources(free, 1).train.threads == 1
    assert engines.with_resources(fixed, 1).hardware.synth_jobs == 1
    (_, _, req, cfg), _ = _FakeCluster([{"CPU": 8}]).steps(Job("p", fixed, "synth"))
    assert req == {"CPU": 2} and cfg.train.threads == 2
