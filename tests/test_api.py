"""The Python API (flow.api, lazily on the ``flow`` package): configs, runs, build results."""

from __future__ import annotations

import copy
import json
import logging
import subprocess
import sys

import pytest

import flow
from flow.artifacts import ArtifactError
from flow.cli import main
from flow.errors import A2QError, ConfigError
from flow.inspect import inspect_build
from tests.conftest import TINY, write_config

BUILT = ("train", "export", "compile", "verify")


@pytest.fixture(scope="module")
def api_build(tmp_path_factory):
    """The tiny config run through verify by ``flow.run``: (result, build root)."""
    root = tmp_path_factory.mktemp("api")
    return flow.run(copy.deepcopy(TINY), build_dir=root, until="verify"), root


def test_load_config_from_a_file_and_from_a_dict(tmp_path):
    data = copy.deepcopy(TINY)
    del data["name"]
    path = write_config(tmp_path, data, "digits_small.yaml")
    cfg = flow.load_config(path, overrides=["quant.acc_bits=11", "seed=3"])
    assert (cfg.name, cfg.quant.acc_bits, cfg.seed) == ("digits_small", 11, 3)
    assert cfg == flow.config.load_config(path, ["quant.acc_bits=11", "seed=3"])
    assert flow.load_config(str(path), "seed=3").seed == 3  # one override, a str
    from_dict = flow.load_config(TINY, overrides=["quant.acc_bits=11"])
    assert (from_dict.name, from_dict.quant.acc_bits) == ("tiny", 11)
    assert TINY["quant"]["acc_bits"] == 12  # the caller's dict is left alone
    assert isinstance(from_dict, flow.BuildConfig)
    with pytest.raises(TypeError, match="a path to a YAML file or a dict, not int"):
        flow.load_config(12)


def test_a_bad_key_is_the_error_the_command_line_reports(tmp_path, capsys):
    data = copy.deepcopy(TINY)
    data["quant"]["acc_bitz"] = 12
    path = write_config(tmp_path, data)
    with pytest.raises(ConfigError) as bad_file:
        flow.load_config(path)
    assert main(["run", str(path), "--build-dir", str(tmp_path / "b")]) == 2
    assert capsys.readouterr().err == f"error: {bad_file.value}\n"
    assert "acc_bitz" in str(bad_file.value) and "acc_bits" in str(bad_file.value)
    # A dict says the same, after its own source; so does an override, as --set does.
    with pytest.raises(ConfigError) as bad_dict:
        flow.load_config(data)
    assert str(bad_dict.value).partition(": ")[2] == str(bad_file.value).partition(": ")[2]
    good = write_config(tmp_path, TINY, "good.yaml")
    with pytest.raises(ConfigError) as bad_set:
        flow.load_config(good, ["quant.acc_bitz=3"])
    args = ["run", str(good), "--set", "quant.acc_bitz=3", "--build-dir", str(tmp_path / "b")]
    assert main(args) == 2
    assert capsys.readouterr().err == f"error: {bad_set.value}\n"


def test_run_returns_what_the_files_say(api_build):
    build, root = api_build
    out = root / "tiny"
    assert build.path == out and build.name == "tiny" and build.metric == "accuracy"
    assert list(build.stages) == list(BUILT)
    assert {s.status for s in build.stages.values()} == {"ran"}
    for name, stage in build.stages.items():
        marker = json.loads((out / name / ".stage.json").read_text())
        assert (stage.name, stage.digest) == (name, marker["digest"])
        assert (stage.seconds, dict(stage.summary)) == (marker["seconds"], marker["summary"])
    verify = json.loads((out / "verify" / "verify.json").read_text())
    metrics = json.loads((out / "train" / "metrics.json").read_text())
    assert build.accuracy == build.hw_score == verify["hw_accuracy"] and build.psnr is None
    assert build.verify == verify and build.train == metrics
    assert build.quant_score == metrics["quant_accuracy"]
    assert build.float_score == metrics["float_accuracy"]
    assert build.accumulators == json.loads((out / "compile" / "accumulators.json").read_text())
    widths = [r["hw_acc_bits"] for r in build.accumulators]
    assert widths == build.stages["compile"].summary["hw_acc_bits"]
    assert build.overflow is not None and build.export["fidelity"]["ok"] is not None
    # Stages not run are None, not read.
    assert build.sim is build.synth is build.sim_score is build.resources is build.report is None
    assert build.unfinished == ()
    assert "verify   running" in (out / "log.txt").read_text()


def test_a_second_run_reuses_every_stage_and_adds_no_handlers(api_build, capfd):
    build, root = api_build
    logger = logging.getLogger("flow")
    before = (list(logger.handlers), logger.level)
    config = write_config(root, TINY)  # a path works as well as a config
    again = flow.run(config, build_dir=root, until="verify")
    assert {s.status for s in again.stages.values()} == {"cached"}
    assert again.accumulators == build.accumulators and again.accuracy == build.accuracy
    assert (list(logger.handlers), logger.level) == before
    assert capfd.readouterr() == ("", "")  # quiet: no progress, nothing printed
    assert "verify   up to date" in (root / "tiny" / "log.txt").read_text()


def test_open_build_gives_the_results_of_a_build_folder(api_build):
    build, root = api_build
    opened = flow.open_build(root / "tiny")
    assert isinstance(opened, flow.BuildResult)
    assert {s.status for s in opened.stages.values()} == {"finished"}
    assert {n: s.digest for n, s in opened.stages.items()} == {
        n: s.digest for n, s in build.stages.items()
    }
    assert (opened.accuracy, opened.accumulators, opened.verify) == (
        build.accuracy,
        build.accumulators,
        build.verify,
    )


def test_open_build_of_a_folder_that_is_no_build_is_the_inspect_error(tmp_path):
    for folder in (tmp_path, tmp_path / "missing"):
        with pytest.raises(ArtifactError) as opened:
            flow.open_build(folder)
        with pytest.raises(ArtifactError) as inspected:
            inspect_build(folder)
        assert str(opened.value) == str(inspected.value)


def test_a_bad_stage_is_the_command_line_error_and_leaves_logging_as_it_was(tmp_path, capsys):
    logger = logging.getLogger("flow")
    before = list(logger.handlers)
    with pytest.raises(A2QError) as bad:
        flow.run(TINY, build_dir=tmp_path, until="verfy")
    assert list(logger.handlers) == before
    args = ["run", str(write_config(tmp_path, TINY)), "--until", "verfy"]
    assert main([*args, "--build-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"error: {bad.value}\n"
    assert "unknown stage 'verfy' (did you mean 'verify'?)" in str(bad.value)


def test_the_package_loads_its_public_names_lazily():
    assert flow.run is flow.api.run and flow.run_compile is flow.compile.run_compile
    assert set(flow.__all__) <= set(dir(flow))
    for name in flow.__all__:
        assert getattr(flow, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'rn'"):
        flow.rn  # noqa: B018


def test_import_flow_imports_no_flow_module_and_no_torch():
    code = (
        "import sys, flow; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('flow', 'torch', 'numpy')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['flow']"


def test_no_stage_cache_key_covers_the_api():
    from flow.pipeline import STAGES
    from flow.sources import _closure, _imports

    assert _imports("flow") == frozenset()  # the package itself imports no flow module
    for stage in STAGES:
        assert "flow.api" not in _closure(stage.module), stage.name
