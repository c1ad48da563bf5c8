"""Build artifacts: read/load/write, their schemas and the errors that name the file."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from flow import artifacts as A
from flow.artifacts import ArtifactError, Build
from flow.util import write_json
from tests.test_report import ACCUMULATORS, SIM, SYNTH, make_build, make_sr_build


def test_write_then_read_round_trips(tmp_path):
    path = A.ACCUMULATORS.write(tmp_path, ACCUMULATORS)
    assert path == tmp_path / "compile" / "accumulators.json"
    assert A.ACCUMULATORS.read(tmp_path) == ACCUMULATORS
    # tuples are written as lists and checked as they will be read back
    A.SUMS.write(tmp_path, [{"node": "Add_0", "op": "ElementwiseAdd", "inputs": ("INT8", "INT8")}])
    assert A.SUMS.read(tmp_path)[0]["inputs"] == ["INT8", "INT8"]
    assert A.VERIFY.at(tmp_path) == tmp_path / "verify" / "verify.json"


def test_load_of_a_missing_file_is_the_default_and_read_names_the_stage(tmp_path):
    assert A.SIM.load(tmp_path) is None and A.SIM.load(tmp_path, {}) == {}
    with pytest.raises(ArtifactError, match=r"sim/sim\.json: missing \(written by the sim stage\)"):
        A.SIM.read(tmp_path)


def test_write_refuses_data_that_breaks_the_schema(tmp_path):
    with pytest.raises(
        ArtifactError,
        match=r"sim/sim\.json: not a valid sim/sim\.json: frames: Input should be a valid "
        r"integer \(got 'x'\)",
    ):
        A.SIM.write(tmp_path, {**SIM, "frames": "x"})
    assert not A.SIM.exists(tmp_path)
    with pytest.raises(ArtifactError, match=r"\[1\]\.exact_bits: Field required"):
        A.ACCUMULATORS.write(tmp_path, [ACCUMULATORS[0], {"name": "fc1"}])
    with pytest.raises(ArtifactError, match="guaranteed: Input should be a valid boolean"):
        A.ACCUMULATORS.write(tmp_path, [{**ACCUMULATORS[0], "guaranteed": 1}])


def test_metric_figures_are_checked_by_the_metric_the_file_names(tmp_path):
    with pytest.raises(ArtifactError, match="psnr must be a number, not None"):
        A.SIM.write(tmp_path, {**SIM, "metric": "psnr"})
    with pytest.raises(ArtifactError, match="metric: Input should be 'accuracy' or 'psnr'"):
        A.SIM.write(tmp_path, {**SIM, "metric": "ssim"})
    with pytest.raises(ArtifactError, match=r"wrap_study\[0\]: accuracy must be a number"):
        A.OVERFLOW.write(tmp_path, {"wrap_study": [{"acc_bits": 10, "psnr": 20.0}]})
    A.OVERFLOW.write(tmp_path, {"metric": "psnr", "wrap_study": [{"acc_bits": 10, "psnr": 20.0}]})


def test_read_names_a_malformed_or_drifted_file(tmp_path):
    build = make_build(tmp_path)
    (build / "sim" / "sim.json").write_text("{not json")
    with pytest.raises(ArtifactError, match=r"sim/sim\.json: cannot be read as JSON"):
        A.SIM.read(build)
    synth = copy.deepcopy(SYNTH)
    del synth["variants"]["exact"]
    write_json(A.SYNTH.at(build), synth)
    with pytest.raises(ArtifactError, match="synth.json: variants: the exact variant is missing"):
        A.SYNTH.read(build)
    (build / "config.yaml").write_text("name: [unclosed")
    with pytest.raises(ArtifactError, match=r"config\.yaml: cannot be read as YAML"):
        A.CONFIG.read(build)
    write_json(A.TRAIN_METRICS.at(build), {"float_accuracy": 98.0})
    with pytest.raises(ArtifactError, match="quant_accuracy must be a number"):
        A.TRAIN_METRICS.read(build)


def test_every_fixture_file_matches_its_schema(tmp_path):
    build = make_build(tmp_path)
    for art in (A.CONFIG, A.TIMINGS, A.TRAIN_METRICS, A.EXPORT_CHECK, A.ACCUMULATORS, A.VERIFY,
                A.OVERFLOW, A.FINN_RESOURCES, A.FINN_PERFORMANCE, A.SIM, A.SYNTH):  # fmt: skip
        art.read(build)
    arrays = A.EXAMPLES.read(make_sr_build(tmp_path))
    assert arrays["target"].dtype == np.uint8 and arrays["target"].ndim == 4


def test_build_view(tmp_path):
    build = make_build(tmp_path)
    (build / "verify" / ".stage.json").unlink()  # verify was interrupted
    b = Build(build)
    assert b.get(A.SIM) is b.get(A.SIM)  # read once
    assert b.get(A.HOST_TAIL) is None
    assert b.metric.key == "accuracy" and b.metric_key() is None
    assert list(b.stage_digests()) == ["train", "export", "compile", "sim", "synth"]
    assert b.marker("verify") is None and b.marker("train")["digest"] == "aaaa000011112222"
    # The files of an unfinished stage are not results.
    assert A.VERIFY.exists(build) and b.get(A.VERIFY) is None and b.unfinished() == ["verify"]
    assert Build(make_sr_build(tmp_path)).metric.key == "psnr"


def test_synth_ratios_are_read_from_synth_json():
    stored = {**SYNTH, "lut_ratio": 2.5, "ff_ratio": 2.0, "bram_ratio": None}
    ratios = A.synth_ratios(stored)
    assert ratios["lut"] == 2.5 and ratios["ff"] == 2.0
    # not stored: the two tops' ratio (None where the exact figure is 0)
    assert ratios["bram36"] == 1.0 and ratios["dsp"] is None
    assert A.synth_ratios(SYNTH)["lut"] == round(13138 / 5917, 4)
    assert A.synth_ratios({}) == dict.fromkeys(A.RATIO_KEYS)
    moved = copy.deepcopy(SYNTH)
    moved["acc32"] = moved["variants"]["acc32"].pop("top")
    assert A.synth_variant(moved, "acc32")["top"]["lut"] == 13138


def test_stage_order_has_verify_between_compile_and_hardware():
    assert A.STAGES.index("compile") + 1 == A.STAGES.index("verify")
    assert A.STAGES.index("verify") + 1 == A.STAGES.index("hardware")
    with pytest.raises(ArtifactError, match="unknown variant 'acc16'"):
        A.hardware_dir(".", "acc16")
