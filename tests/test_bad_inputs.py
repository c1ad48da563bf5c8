"""Bad input through the command line: exit code 2, a message naming what was wrong and what
is allowed, and no traceback, before any slow work (each case runs in well under a second)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from flow.cli import main
from tests.conftest import TINY


@dataclass(frozen=True)
class Case:
    """``a2q <argv>`` in a folder prepared by ``setup``: exit 2 and every word in ``says``.

    In ``argv``, ``{t}`` is the test's folder; ``setup(t)`` writes the files the case needs
    (``tiny.yaml``, the tiny config, is always there).
    """

    id: str
    argv: list[str]
    says: list[str]
    setup: Callable[[Path], None] | None = None
    config: dict = field(default_factory=dict)  # merged into the tiny config


def _write(name: str, text: str) -> Callable[[Path], None]:
    def setup(t: Path) -> None:
        (t / name).parent.mkdir(parents=True, exist_ok=True)
        (t / name).write_text(text)

    return setup


def _sweep(body: dict | str) -> Callable[[Path], None]:
    if isinstance(body, dict):
        body = yaml.safe_dump({"base": "tiny.yaml", **body}, sort_keys=False)
    return _write("sweep.yaml", body)


RUN = ["run", "{t}/tiny.yaml", "--build-dir", "{t}/build"]
SWEEP = ["sweep", "{t}/sweep.yaml", "--build-dir", "{t}/build"]
COMPILE = ["compile", "{t}/model.onnx", "--config", "{t}/tiny.yaml", "--build-dir", "{t}/build"]

CASES = [
    # -- the config file
    Case("config-missing", ["run", "{t}/nope.yaml"], ["nope.yaml", "does not exist"]),
    Case("config-is-dir", ["run", "{t}"], ["is a folder", "config file"]),
    Case("config-empty", ["run", "{t}/e.yaml"], ["e.yaml", "empty"], _write("e.yaml", "")),
    Case("config-comments", ["run", "{t}/e.yaml"], ["empty"], _write("e.yaml", "# nothing\n")),
    Case("config-list", ["run", "{t}/e.yaml"], ["must be a mapping"], _write("e.yaml", "- 1\n")),
    Case("config-yaml", ["run", "{t}/e.yaml"], ["not valid YAML", "line 3"],
         _write("e.yaml", "name: x\nmodel: {hidden: [1\n")),
    Case("config-duplicate-key", ["run", "{t}/e.yaml"], ["duplicate key 'seed'", "line 3"],
         _write("e.yaml", "name: x\nseed: 1\nseed: 2\n")),
    Case("config-duplicate-nested", ["run", "{t}/e.yaml"], ["duplicate key 'acc_bits'"],
         _write("e.yaml", "quant:\n  acc_bits: 12\n  acc_bits: 14\n")),
    Case("unknown-key", RUN, ["modle", "unknown key", "did you mean 'model'"],
         config={"modle": {}}),
    Case("unknown-nested-key", RUN, ["quant.acc_bit", "did you mean 'acc_bits'"],
         config={"quant": {"acc_bit": 12}}),
    Case("type-list", RUN, ["model.hidden", "a list of an integer", "'abc'"],
         config={"model": {"hidden": "abc"}}),
    Case("type-int", RUN, ["seed", "an integer", "'zero'"], config={"seed": "zero"}),
    Case("type-bool", RUN, ["hardware.acc32", "true or false"], config={"hardware": {"acc32": 3}}),
    Case("range-seed", RUN, ["seed", "must be in 0..", "-1"], config={"seed": -1}),
    Case("range-weight-bits", RUN, ["model.weight_bits", "must be in 2..8", "9"],
         config={"model": {"weight_bits": 9}}),
    # Optional numbers report their range, not their type.
    Case("range-optional-limit", RUN + ["--set", "data.limit=0"],
         ["data.limit", "must be in 1..", "or null", "not 0"]),
    Case("range-optional-layer-acc", RUN + ["--set", "quant.layers.fc1.acc_bits=1"],
         ["quant.layers.fc1.acc_bits", "must be in 2..32", "not 1"]),
    Case("range-optional-threads", RUN + ["--set", "train.threads=0"],
         ["train.threads", "must be in 1..1024"]),
    Case("range-optional-fps", RUN + ["--set", "compile.folding.fps=-5"],
         ["compile.folding.fps", "must be in"]),
    Case("literal-method", RUN + ["--set", "quant.method=a2q+"],
         ["quant.method", "one of", "'a2q_plus'"]),
    Case("literal-dataset", RUN + ["--set", "data.dataset=mnsit"],
         ["data.dataset", "did you mean 'mnist'"]),
    Case("many-errors-at-once", RUN + ["--set", "seed=-1", "--set", "model.act_bits=0"],
         ["seed", "model.act_bits", "2 problems"]),
    Case("dataset-needs-path", RUN + ["--set", "data.dataset=cifar10"],
         ["data.path", "needs a path"]),
    Case("dataset-path-missing", RUN + ["--set", "data.dataset=mnist", "--set", "data.path={t}/no"],
         ["data.path", "no"]),
    Case("name-slash", RUN + ["--set", "name=a/b"], ["name", "file-name-safe"]),
    Case("name-dotdot", RUN + ["--set", "name=.."], ["name", "file-name-safe"]),
    # -- --set
    Case("set-no-equals", RUN + ["--set", "seed"], ["--set 'seed'", "KEY=VALUE"]),
    Case("set-bad-yaml", RUN + ["--set", "model.hidden=[64, 64"],
         ["--set 'model.hidden=[64, 64'", "not valid YAML"]),
    Case("set-into-scalar", RUN + ["--set", "seed.x=1"], ["--set 'seed.x=1'", "seed", "mapping"]),
    Case("set-unknown", RUN + ["--set", "train.epochs=3"],
         ["train.epochs", "unknown key", "did you mean"]),
    Case("set-empty-key", RUN + ["--set", "=3"], ["KEY=VALUE"]),
    # -- cross-checks
    Case("no-such-layer", RUN + ["--set", "quant.layers.fc9.acc_bits=12"],
         ["quant.layers.fc9", "no such layer", "fc0, fc1, fc2"]),
    Case("p-too-small", RUN + ["--set", "quant.acc_bits=4"],
         ["quant.acc_bits", "too small", "the smallest P"]),
    Case("folding-two-targets",
         RUN + ["--set", "compile.folding={fps: 10, target_cycles_per_frame: 4}"],
         ["compile.folding", "exactly one of"]),
    Case("folding-pe", RUN + ["--set",
         "compile.folding.layers={fc0: {pe: 3}, fc1: {}, fc2: {}}"],
         ["compile.folding.layers.fc0.pe", "does not divide", "allowed: 1, 2, 4"]),
    Case("top-k-a2q-head", RUN + ["--set", "quant.last_layer=constrained"],
         ["compile.top_k", "fc2", "quant.last_layer: unconstrained"]),
    Case("hardware-layer", RUN + ["--set", "hardware.layers={fcx: {mac_style: rom}}"],
         ["hardware.layers.fcx", "no such layer"]),
    Case("po2-a2q", RUN + ["--set", "quant.scale=po2"], ["quant.scale", "'po2'", "A2Q"]),
    Case("datatype-resnet", RUN + ["--set", "quant.method=datatype", "--set", "model.arch=resnet18",
         "--set", "data.dataset=cifar10", "--set", "data.path={t}"],
         ["quant.method", "'datatype'", "residual joins", "model.arch tfc"]),
    Case("datatype-infeasible",
         RUN + ["--set", "quant.method=datatype", "--set", "quant.acc_bits=6"],
         ["quant.acc_bits", "too small", "datatype"]),
    Case("residual-classifier", RUN + ["--set", "model.residual=true"], ["model.residual"]),
    Case("batch-of-one", RUN + ["--set", "train.batch_size=1"],
         ["train.batch_size", "must be in 2..65536", "not 1"]),
    Case("zero-steps-limit", RUN + ["--set", "data.limit=1"],
         ["data.limit or train.batch_size", "1 training sample(s)", "no optimizer step"]),
    Case("throughput-unreachable", RUN + ["--set", "compile.folding.target_cycles_per_frame=1",
         "--set", "model.arch=cnv", "--set", "model.hidden=[16]",
         "--set", "model.channels=[4, 4]"],
         ["compile.folding.target_cycles_per_frame", "cannot be reached", "layer conv0",
          "at least 64 cycles per frame"]),
    # -- stages
    Case("from-unknown", RUN + ["--from", "synthesis"], ["--from", "synth"]),
    Case("until-unknown", RUN + ["--until", "verfy"], ["--until", "did you mean 'verify'"]),
    Case("from-after-until", RUN + ["--from", "sim", "--until", "export"],
         ["--from sim comes after --until export"]),
    Case("from-without-build", RUN + ["--from", "verify"],
         ["--from verify", "no up-to-date result", "run without --from first"]),
    # -- folders
    Case("build-dir-is-file", ["run", "{t}/tiny.yaml", "--build-dir", "{t}/f"],
         ["f", "is a file", "--build-dir"], _write("f", "x")),
    Case("build-folder-is-file", RUN, ["build/tiny", "is a file"], _write("build/tiny", "x")),
    Case("stage-folder-is-file", RUN, ["build/tiny/train", "is a file"],
         _write("build/tiny/train", "x")),
    Case("build-dir-unwritable", ["run", "{t}/tiny.yaml", "--build-dir", "/proc/a2q-build"],
         ["/proc/a2q-build", "cannot"]),
    # -- a2q compile
    Case("compile-missing", COMPILE, ["model.onnx", "no such QONNX file"]),
    Case("compile-empty", COMPILE, ["model.onnx", "empty"], _write("model.onnx", "")),
    Case("compile-garbage", COMPILE, ["model.onnx", "not an ONNX model"],
         _write("model.onnx", "hello, not protobuf\x00\xff")),
    Case("compile-out-is-file", [*COMPILE, "--out", "{t}/o"], ["o", "is a file", "--out"],
         lambda t: (_write("o", "x")(t), _write("model.onnx", "x")(t))),
    Case("compile-config-missing", ["compile", "{t}/model.onnx", "--config", "{t}/c.yaml"],
         ["c.yaml", "does not exist"], _write("model.onnx", "x")),
    # -- a2q sweep
    Case("sweep-missing", SWEEP, ["sweep.yaml", "does not exist"]),
    Case("sweep-yaml", SWEEP, ["sweep.yaml", "not valid YAML"], _sweep("axes: {seed: [1\n")),
    Case("sweep-duplicate", SWEEP, ["duplicate key 'axes'"],
         _sweep("base: tiny.yaml\naxes: {seed: [1]}\naxes: {seed: [2]}\n")),
    Case("sweep-list", SWEEP, ["sweep.yaml", "must be a mapping"], _sweep("- 1\n")),
    Case("sweep-empty", SWEEP, ["sweep.yaml", "empty"], _sweep("")),
    Case("sweep-base-list", SWEEP, ["base", "must be a file name", "['tiny.yaml']"],
         _sweep({"base": ["tiny.yaml"], "axes": {"seed": [1]}})),
    Case("sweep-base-missing", SWEEP, ["nope.yaml", "does not exist"],
         _sweep({"base": "nope.yaml", "axes": {"seed": [1]}})),
    Case("sweep-unknown-key", SWEEP, ["axis", "unknown key", "did you mean 'axes'"],
         _sweep({"axis": {"seed": [1]}})),
    Case("sweep-no-axes", SWEEP, ["axes", "required key is missing"], _sweep({})),
    Case("sweep-axes-not-map", SWEEP, ["axes", "non-empty list"], _sweep({"axes": [1, 2]})),
    Case("sweep-axis-empty", SWEEP, ["axes", "non-empty list"], _sweep({"axes": {"seed": []}})),
    Case("sweep-axis-scalar", SWEEP, ["axes", "non-empty list"], _sweep({"axes": {"seed": 3}})),
    Case("sweep-axis-mapping-values", SWEEP,
         ["axes.compile.folding", "{'fps': 10}", "not a value an axis can take"],
         _sweep({"axes": {"compile.folding": [{"fps": 10}]}})),
    Case("sweep-axis-unknown-key", SWEEP, ["point", "train.epochs", "unknown key"],
         _sweep({"axes": {"train.epochs": [1, 2]}})),
    Case("sweep-point-invalid", SWEEP, ["point acc_bits=1", "must be in 2..32"],
         _sweep({"axes": {"acc_bits": [1, 12]}})),
    Case("sweep-name-dotdot", SWEEP, ["name", "'../out'", "file-name-safe"],
         _sweep({"name": "../out", "axes": {"seed": [1]}})),
    Case("sweep-name-list", SWEEP, ["name", "must be a"],
         _sweep({"name": ["a"], "axes": {"seed": [1]}})),
    Case("sweep-until", SWEEP, ["until", "did you mean 'verify'"],
         _sweep({"until": "verfy", "axes": {"seed": [1]}})),
    Case("sweep-set-not-list", SWEEP, ["set", "list of KEY=VALUE"],
         _sweep({"set": "seed=1", "axes": {"seed": [1]}})),
    Case("sweep-jobs-0", [*SWEEP, "--jobs", "0"], ["--jobs", "at least 1, got 0"],
         _sweep({"axes": {"seed": [1]}})),
    # -- inspect, report, bounds
    Case("inspect-missing", ["inspect", "{t}/nothing"], ["nothing", "no such build folder"]),
    Case("inspect-not-a-build", ["inspect", "{t}"], ["not a build folder", "config.yaml"]),
    Case("report-missing", ["report", "{t}/nothing"], ["nothing", "no such build or sweep"]),
    Case("report-not-a-build", ["report", "{t}"], ["not a build folder"]),
    Case("report-file", ["report", "{t}/tiny.yaml"], ["tiny.yaml", "no such build or sweep"]),
    Case("bounds-no-bits", ["bounds", "--k", "64"], ["--input-bits", "--weight-bits"]),
    Case("bounds-fit-no-acc", ["bounds", "--k", "64", "--fit"], ["--acc-bits"]),
    Case("bounds-k-zero", ["bounds", "--k", "0", "--input-bits", "4", "--weight-bits", "4"],
         ["k must be an integer in 1..", "not 0"]),
    Case("bounds-bits-zero", ["bounds", "--k", "8", "--input-bits", "0", "--weight-bits", "4"],
         ["input_bits must be an integer in 1..32", "not 0"]),
    Case("bench-missing", ["bench", "{t}/nope.yaml", "--out", "{t}/b.json"],
         ["nope.yaml", "does not exist"]),
]  # fmt: skip


class SlowWorkStarted(Exception):
    """Raised where a bad input would have started training or a stage after it."""


def _no_slow_work(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise SlowWorkStarted("the input was accepted and slow work started")

    def start(stage: str, build: str) -> None:
        if stage != "train":  # the train stage loads the data first: cheap
            refuse()

    monkeypatch.setattr("flow.train.build_float_model", refuse)
    monkeypatch.setattr("flow.pipeline._inject_fault", start)
    monkeypatch.setattr("flow.engines.LocalEngine.run", refuse)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, capsys, monkeypatch) -> None:
    _no_slow_work(monkeypatch)
    data = copy.deepcopy(TINY)
    for key, value in case.config.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) and key in data else value
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    if case.setup:
        case.setup(tmp_path)
    argv = [a.replace("{t}", str(tmp_path)) for a in case.argv]
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse's own usage errors
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err
    for word in case.says:
        assert word.replace("{t}", str(tmp_path)) in err, f"{word!r} not in {err!r}"


def test_cases_cover_the_issue():
    """The table holds at least 60 cases and each id once."""
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


def test_float_bias_head_is_named_as_such(tiny_build, tmp_path, capsys):
    """A QONNX whose logits get a float per-channel bias: the error names the Add and the
    bias, not per-channel scales."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    _, build = tiny_build
    model = onnx.load(build / "export" / "model.onnx")
    out = model.graph.output[0]
    bias = numpy_helper.from_array(np.linspace(-0.5, 0.5, 10, dtype=np.float32), "head_bias")
    model.graph.initializer.append(bias)
    model.graph.node.append(helper.make_node("Add", [out.name, "head_bias"], ["biased"]))
    model.graph.output.remove(out)
    model.graph.output.append(
        helper.make_tensor_value_info("biased", onnx.TensorProto.FLOAT, [1, 10])
    )
    onnx.save(model, tmp_path / "biased.onnx")
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    rc = main(["compile", str(tmp_path / "biased.onnx"), "--config", str(tmp_path / "tiny.yaml"),
               "--out", str(tmp_path / "out")])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert "(Add) adds a float bias to the logits per channel" in err, err
    assert "Int32Bias" in err and "compile.host_ops: [Mul, Add]" in err


def test_a_target_p_that_constrains_nothing_is_a_warning():
    from flow.config import config_warnings, load_config

    assert config_warnings(load_config("configs/tfc_digits.yaml")) == []  # P=14
    idle = config_warnings(load_config("configs/tfc_digits.yaml", ["quant.acc_bits=15"]))
    assert idle[0] == (
        "quant.acc_bits: P=15 does not constrain layer fc1 (a2q_plus): its L1 budget 2184.4 "
        "admits every 4-bit weight vector of K=256 (L1 <= 2048), so the accumulator bound is "
        "idle; P <= 14 constrains it"
    )
    assert [w.split(":")[1].split(" layer ")[1].split()[0] for w in idle] == ["fc1", "fc2"]


def test_a_throughput_target_folding_misses_is_a_warning(tiny_build, tmp_path, caplog):
    from dataclasses import replace

    from flow.compile import compile_model, input_datatype

    cfg, build = tiny_build
    cc = replace(cfg.compile, folding=replace(cfg.compile.folding, target_cycles_per_frame=1))
    result = compile_model(build / "export" / "model.onnx", tmp_path, cc, input_datatype(cfg))
    reached = result["estimate_network_performance"]["max_cycles"]
    assert reached > 1  # fc0's 64x32 4-bit weights exceed FINN's widest weight port
    assert (
        f"compile.folding.target_cycles_per_frame: the target of 1 cycles per frame is not "
        f"reached: FINN's folding gives {reached}" in caplog.text
    )


def test_a_closed_pipe_ends_quietly():
    """`a2q config | head -1`: the reader closing the pipe is no error and no traceback."""
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from flow.cli import main; sys.exit(main())", "config"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # before anything is written: every write meets a closed pipe
    err = proc.stderr.read().decode()
    assert proc.wait() == 141 and err == "", err
