"""Bring your own model, with Brevitas networks written outside flow/ (tests/byom/nets.py):

- as a QONNX file (``model.source: onnx:PATH``): its layers read from the file, the targets
  the config states checked on the file's integers (Brevitas' own export of an A2Q network
  refused, with the reason), the layers FINN cannot lower refused by name;
- as a Python function returning the network (``model.source: python:MODULE:FUNCTION``),
  trained here with its own quantizers or with the config's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from flow.cli import main
from tests.byom import nets

P_FC1 = 12


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """theirs.onnx (Brevitas' export: raw float A2Q weights), fixed.onnx (the quantized weights
    written back), mlp.onnx, trunc.onnx and digits.npz, in one folder."""
    t = tmp_path_factory.mktemp("byom")
    x, y = nets.digits()
    np.savez(t / "digits.npz", x_train=x[:1400], y_train=y[:1400], x_test=x[1400:],
             y_test=y[1400:])  # fmt: skip
    torch.manual_seed(0)  # the networks' initial weights: the same files on every run
    conv = nets.train(nets.ConvNet(acc_bits=P_FC1), x[:1400], y[:1400])
    nets.export(conv, t / "theirs.onnx", x[:256])
    nets.export(conv, t / "fixed.onnx", x[:256], write_back=True)
    nets.export(nets.train(nets.MLP(), x[:1400], y[:1400]), t / "mlp.onnx", x[:256])
    nets.export(nets.ConvNet(trunc_pool=True).eval(), t / "trunc.onnx", x[:256])
    return t


def _write(t: Path, name: str, data: dict, model: dict, **sections) -> Path:
    """A config ``t/<name>.yaml`` of a small build of ``model`` on ``data``."""
    cfg = {
        "name": name,
        "data": data,
        "model": model,
        "export": {"check_samples": 40},
        "compile": {"folding": {"target_cycles_per_frame": 640}},
        "hardware": {"sim_frames": 8},
        **sections,
    }
    path = t / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _config(t: Path, source: str, **quant) -> Path:
    """A build of the QONNX file ``t/source`` on the digits archive."""
    data = {"dataset": "npz", "path": str(t / "digits.npz")}
    model = {"source": f"onnx:{t / source}", "input_bits": 5}
    return _write(t, Path(source).stem, data, model, quant={"method": "baseline", **quant})


def _run(t: Path, config: Path, *extra: str) -> int:
    return main(["run", str(config), "--build-dir", str(t / "build"), "--quiet", *extra])


def test_layers_come_from_the_file(files):
    from flow.foreign import file_layers

    layers = file_layers(f"onnx:{files / 'theirs.onnx'}", 5)
    got = [(fl.spec.name, fl.spec.kind, fl.spec.fan_in, fl.spec.out_channels, fl.input_bits,
            fl.input_signed, fl.weight_bits) for fl in layers]  # fmt: skip
    assert got == [
        ("conv", "conv", 9, 8, 8, True, 4),  # behind the signed 8-bit input quantizer
        ("fc1", "linear", 512, 32, 4, False, 4),
        ("fc2", "linear", 32, 10, 3, False, 6),
    ]
    assert layers[0].spec.in_size == 8 and layers[0].spec.padding == 1


def test_file_through_verify_with_exact_widths(files):
    """The fixed export with fc1 stated as A2Q at P: export check passes, every accumulator is
    its exact width, the HW graph equals the file on the test set."""
    config = _config(files, "fixed.onnx", layers={"fc1": {"method": "a2q", "acc_bits": P_FC1}})
    assert _run(files, config, "--until", "verify") == 0
    build = files / "build" / "fixed"
    check = json.loads((build / "export" / "export_check.json").read_text())
    assert check["ok"] and check["fidelity"]["reference"] == "source"
    fc1 = next(r for r in check["layers"] if r["name"] == "fc1")
    assert fc1["method"] == "a2q" and fc1["exact_bits"] <= P_FC1 and fc1["target_bits"] == P_FC1
    rows = json.loads((build / "compile" / "accumulators.json").read_text())
    assert [r["name"] for r in rows] == ["conv", "fc1", "fc2"]
    assert all(r["hw_acc_bits"] == r["exact_bits"] for r in rows)
    assert rows[0]["input_signed"] is True and rows[0]["input_bits"] == 8
    verify = json.loads((build / "verify" / "verify.json").read_text())
    metrics = json.loads((build / "train" / "metrics.json").read_text())
    assert verify["mismatches"] == 0 and verify["hw_vs_integer_model_mismatches"] == 0
    assert verify["hw_accuracy"] == verify["qonnx_accuracy"]
    # The file as given scores the same up to logits tied within float32 rounding, which
    # verify breaks toward the lowest class as the hardware does.
    differ = round(abs(verify["hw_accuracy"] - metrics["quant_accuracy"]) * 397 / 100)
    assert differ <= verify["top_ties"]
    assert metrics["float_accuracy"] is None and metrics["source"].startswith("onnx:")


def test_silent_a2q_export_is_refused(files, capsys):
    """Brevitas' own export of the A2Q network: the config says fc1 was trained at P, the
    file's integers break it, and the error says why."""
    config = _config(files, "theirs.onnx", layers={"fc1": {"method": "a2q", "acc_bits": P_FC1}})
    assert _run(files, config, "--until", "export") == 2
    err = capsys.readouterr().err
    assert "fc1: channel" in err and f"> target {P_FC1} bits" in err
    assert "Brevitas >= 0.12.1's export_qonnx writes the raw float weights" in err
    assert "Traceback" not in err
    assert not (files / "build" / "theirs" / "export" / "model.onnx").exists()
    # Stated as a baseline, the same file builds (its widths sized for what it holds).
    config = _config(files, "theirs.onnx")
    assert _run(files, config, "--until", "compile") == 0
    rows = json.loads((files / "build/theirs/compile/accumulators.json").read_text())
    assert rows[1]["exact_bits"] > P_FC1


def test_the_cache_key_holds_the_file_content(files, tmp_path):
    """The train stage's cache key holds the file's content, not only its name: another file
    at the same path rebuilds everything, the same bytes again reuse it."""
    from flow.config import load_config

    src = tmp_path / "model.onnx"
    src.write_bytes((files / "mlp.onnx").read_bytes())
    config = _config(files, "mlp.onnx")
    data = yaml.safe_load(config.read_text())
    data["model"]["source"] = f"onnx:{src}"
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(data))
    key = load_config(config).section_digest("model")
    src.write_bytes((files / "fixed.onnx").read_bytes())
    assert load_config(config).section_digest("model") != key
    src.write_bytes((files / "mlp.onnx").read_bytes())
    assert load_config(config).section_digest("model") == key


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("torch:nets.pt", ["model.source", "'onnx:PATH'", "'python:MODULE:FUNCTION'"]),
        ("onnx:{t}/nope.onnx", ["model.source", "nope.onnx", "no such file"]),
        ("onnx:{t}/digits.npz", ["model.source", "cannot be read as a QONNX model"]),
        ("onnx:{t}/trunc.onnx", ["Trunc", "TruncAvgPool2d", "FLOOR"]),
    ],
)
def test_bad_sources_are_named(files, capsys, source, says):
    config = _config(files, "mlp.onnx")
    data = yaml.safe_load(config.read_text())
    data["model"]["source"] = source.format(t=files)
    config.write_text(yaml.safe_dump(data))
    assert _run(files, config) == 2
    err = capsys.readouterr().err
    assert all(s in err for s in says), err
    assert "Traceback" not in err


def test_compile_refuses_trunc_avg_pool_by_name(files, capsys):
    out = files / "trunc-out"
    argv = ["compile", str(files / "trunc.onnx"), "--config", "configs/tfc_digits.yaml",
            "--out", str(out), "--quiet"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "node" in err and "(Trunc, a Brevitas TruncAvgPool2d)" in err


def test_npz_dataset_errors_name_the_array(files, capsys):
    bad = files / "bad.npz"
    np.savez(bad, x_test=np.zeros((2, 1, 8, 8), np.uint8))
    config = _config(files, "mlp.onnx")
    data = yaml.safe_load(config.read_text())
    data["data"]["path"] = str(bad)
    config.write_text(yaml.safe_dump(data))
    assert _run(files, config) == 2
    assert "no array y_test" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["onnx", "python"])
def test_through_every_stage_bit_exact(files, kind):
    """The MLP file, and ConvNet as a Python source, through hardware, Verilator and Yosys."""
    if kind == "onnx":
        config = _config(files, "mlp.onnx")
    else:
        config = _py_config(files, "py_conv", "python:tests/byom/nets.py:ConvNet")
    assert _run(files, config) == 0
    build = files / "build" / config.stem
    rows = json.loads((build / "compile" / "accumulators.json").read_text())
    assert all(r["hw_acc_bits"] == r["exact_bits"] for r in rows)
    sim = json.loads((build / "sim" / "sim.json").read_text())
    assert sim["bit_exact"] and sim["frames"] == 8
    synth = json.loads((build / "synth" / "synth.json").read_text())
    assert synth["variants"]["exact"]["top"]["lut"] > 0


# ---------------------------------------------------------------- your own Brevitas network


def _py_config(t: Path, name: str, source: str, **model) -> Path:
    """A build of the Python source ``source`` on digits, trained 2+2 epochs."""
    train = {"float_epochs": 2, "qat_epochs": 2, "batch_size": 64, "threads": 1}
    return _write(t, name, {"dataset": "digits"}, {"source": source, **model}, train=train)


def test_python_source_trains_as_given(tmp_path):
    """ConvNet's own quantizers: fc1's A2Q at P=14 becomes its method and target, the conv
    takes the signed 8-bit input; trained, exported, compiled to exact widths, verified."""
    config = _py_config(tmp_path, "conv", "python:tests/byom/nets.py:ConvNet")
    assert _run(tmp_path, config, "--until", "verify") == 0
    build = tmp_path / "build" / "conv"
    metrics = json.loads((build / "train" / "metrics.json").read_text())
    assert metrics["float_accuracy"] is not None and metrics["quant_accuracy"] > 50
    check = json.loads((build / "export" / "export_check.json").read_text())
    layers = {r["name"]: r for r in check["layers"]}
    assert list(layers) == ["conv", "fc1", "fc2"]
    assert layers["fc1"]["method"] == "a2q" and layers["fc1"]["target_bits"] == 14
    assert layers["fc1"]["exact_bits"] <= 14
    assert layers["conv"]["input_signed"] and layers["conv"]["input_bits"] == 8
    rows = json.loads((build / "compile" / "accumulators.json").read_text())
    assert all(r["hw_acc_bits"] == r["exact_bits"] for r in rows)
    verify = json.loads((build / "verify" / "verify.json").read_text())
    assert verify["mismatches"] == 0 and verify["hw_vs_integer_model_mismatches"] == 0


def test_python_source_takes_the_config_quantizers(tmp_path):
    """model.quantizers: config puts A2Q+ at P=13 on the MLP's first layer (signed 8-bit
    input, 5-bit weights as the network has them), with EP-init."""
    config = _py_config(tmp_path, "mlp", "python:tests.byom.nets:MLP", quantizers="config")
    data = yaml.safe_load(config.read_text())
    data["quant"] = {"method": "a2q_plus", "acc_bits": 13, "first_layer": "constrained"}
    config.write_text(yaml.safe_dump(data))
    assert _run(tmp_path, config, "--until", "compile") == 0
    build = tmp_path / "build" / "mlp"
    hidden = json.loads((build / "export" / "export_check.json").read_text())["layers"][0]
    assert (hidden["name"], hidden["method"], hidden["target_bits"]) == ("hidden", "a2q_plus", 13)
    assert hidden["input_signed"] and hidden["weight_bits"] == 5
    assert hidden["exact_bits"] <= 13 and hidden["max_l1"] <= hidden["budget"]
    metrics = json.loads((build / "train" / "metrics.json").read_text())
    assert metrics["ep_init_layers"] == ["hidden"]


_NETS = """
import torch
from brevitas.nn import QuantLinear


def floats():  # a MAC layer on a float input
    return torch.nn.Sequential(torch.nn.Flatten(), QuantLinear(64, 10, bias=False))


def not_a_module():
    return 3


def broken():
    raise RuntimeError("no weights here")
"""


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("python:nets.py", ["model.source", "'python:MODULE:FUNCTION'"]),
        ("python:nowhere_such_module:f", ["cannot find module 'nowhere_such_module'"]),
        ("python:{t}/nets.py:missing", ["has no function 'missing'", "floats"]),
        ("python:{t}/nets.py:not_a_module", ["returned int, not a torch.nn.Module"]),
        ("python:{t}/nets.py:broken", ["broken() raised RuntimeError: no weights here"]),
        ("python:{t}/nets.py:floats", ["layer layer_1 is a float tensor", "QuantIdentity"]),
    ],
)
def test_bad_python_sources_are_named(tmp_path, capsys, source, says):
    (tmp_path / "nets.py").write_text(_NETS)
    config = _py_config(tmp_path, "bad", source.format(t=tmp_path))
    assert _run(tmp_path, config) == 2
    err = capsys.readouterr().err
    assert all(s in err for s in says), err
    assert "Traceback" not in err


def test_the_cache_key_holds_the_network_package(tmp_path, monkeypatch):
    """A python source's key covers every file of its package, not only the named module:
    editing a module it imports rebuilds; a file outside the package does not."""
    from flow.config import source_digest

    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "layers.py").write_text("WIDTH = 8\n")
    (pkg / "nets.py").write_text("from mypkg.layers import WIDTH\n")
    (tmp_path / "unrelated.py").write_text("")
    monkeypatch.chdir(tmp_path)
    key = source_digest("python:mypkg.nets:build")
    assert source_digest("python:mypkg/nets.py:build") == key  # the same files either way
    (tmp_path / "unrelated.py").write_text("x = 1\n")
    assert source_digest("python:mypkg.nets:build") == key
    (pkg / "layers.py").write_text("WIDTH = 16\n")
    assert source_digest("python:mypkg.nets:build") != key


def test_quant_layers_need_the_config_quantizers(tmp_path, capsys):
    config = _py_config(tmp_path, "c", "python:tests/byom/nets.py:ConvNet")
    data = yaml.safe_load(config.read_text())
    data["quant"] = {"layers": {"fc1": {"acc_bits": 12}}}
    config.write_text(yaml.safe_dump(data))
    assert _run(tmp_path, config) == 2
    assert "quant.layers.fc1: with model.quantizers: given" in capsys.readouterr().err


def test_layer_names_are_config_keys():
    """Unique last parts of the module path, else the whole path; never a bare number."""
    import torch
    from brevitas.nn import QuantLinear

    from flow.user_net import mac_modules

    def lin():
        return QuantLinear(2, 2, bias=False)

    net = torch.nn.Sequential(lin(), torch.nn.Sequential(lin()))
    assert list(mac_modules(net)) == ["layer_0", "layer_1_0"]
    net = torch.nn.Module()
    net.features, net.head = torch.nn.Sequential(lin(), lin()), lin()
    assert list(mac_modules(net)) == ["features_0", "features_1", "head"]
    assert list(mac_modules(nets.ConvNet())) == ["conv", "fc1", "fc2"]
