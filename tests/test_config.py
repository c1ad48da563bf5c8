"""Config loading: every bad-config case gets an error naming the key and what is allowed."""

from __future__ import annotations

import re

import pytest

from flow.config import layer_plans, load_config, mac_styles
from flow.errors import ConfigError
from tests.conftest import write_bsd300, write_cifar10, write_config


def _load(tmp_path, data, overrides=None):
    return load_config(write_config(tmp_path, data), overrides)


def test_shipped_configs_load(tmp_path):
    from pathlib import Path

    configs = sorted(Path("configs").glob("*.yaml"))
    assert len(configs) >= 6
    fixtures = {
        "cifar10": write_cifar10(tmp_path / "data"),
        "bsd300": write_bsd300(tmp_path / "bsd"),
    }
    for path in configs:
        try:
            cfg = load_config(path)
        except ConfigError as e:  # the CIFAR-10 and BSD300 configs name no dataset path
            name = "bsd300" if "bsd300" in path.stem else "cifar10"
            assert f"data.path: dataset '{name}' needs a path" in str(e)
            cfg = load_config(path, [f"data.path={fixtures[name]}"])
        assert cfg.name == path.stem
        assert layer_plans(cfg)


def test_cnn_configs_layers(tmp_path):
    cifar = [f"data.path={write_cifar10(tmp_path / 'data')}"]
    cnv = layer_plans(load_config("configs/cnv_digits.yaml"))
    assert [(p.name, p.kind, p.in_features, p.out_features) for p in cnv] == [
        ("conv0", "conv", 9, 16),
        ("conv1", "conv", 144, 16),
        ("conv2", "conv", 144, 32),
        ("conv3", "conv", 288, 32),
        ("fc0", "linear", 2 * 2 * 32, 64),
        ("fc1", "linear", 64, 10),
    ]
    mobile = layer_plans(load_config("configs/mobilenetv1_cifar10.yaml", cifar))
    assert len(mobile) == 28 and mobile[1].name == "dw1" and mobile[1].in_features == 9
    # Depthwise layers stay on A2Q under an A2Q+ config (the paper's choice), pointwise A2Q+.
    assert {p.method for p in mobile if p.kind == "depthwise"} == {"a2q"}
    assert {p.method for p in mobile[1:-1] if p.kind != "depthwise"} == {"a2q_plus"}
    assert mobile[-1].in_features == 1024
    resnet = layer_plans(load_config("configs/resnet18_cifar10.yaml", cifar))
    assert len(resnet) == 21  # stem + 16 block convs + 3 projection shortcuts + classifier
    shortcut = {p.name: p for p in resnet}["s2b0sc"]
    assert (shortcut.spec.kernel, shortcut.spec.stride, shortcut.in_features) == (1, 2, 64)
    assert resnet[-1].in_features == 512


def test_default_benchmark_layers():
    cfg = load_config("configs/tfc_digits.yaml")
    plans = layer_plans(cfg)
    assert [(p.name, p.in_features, p.out_features) for p in plans] == [
        ("fc0", 64, 256),
        ("fc1", 256, 256),
        ("fc2", 256, 256),
        ("fc3", 256, 10),
    ]
    assert [p.method for p in plans] == ["baseline", "a2q_plus", "a2q_plus", "baseline"]
    assert [p.acc_bits for p in plans] == [None, 14, 14, None]
    assert (plans[0].input_bits, plans[1].input_bits) == (5, 4)  # digits pixels 0..16


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (
            {"quant": {"methd": "a2q"}},
            "quant.methd: unknown key (did you mean 'method'?); allowed keys here: method,",
        ),
        ({"trian": {}}, "trian: unknown key (did you mean 'train'?)"),
        ({"model": {"weight_bits": "four"}}, "model.weight_bits: must be an integer, not 'four'"),
        ({"model": {"weight_bits": 12}}, "model.weight_bits: must be in 2..8, not 12"),
        ({"model": {"act_bits": 0}}, "model.act_bits: must be in 1..8, not 0"),
        ({"model": {"hidden": [32, "x"]}}, "model.hidden[1]: must be an integer, not 'x'"),
        ({"model": {"hidden": 32}}, "model.hidden: must be a list of an integer, not 32"),
        ({"quant": {"acc_bits": 40}}, "quant.acc_bits: must be in 2..32, not 40"),
        (
            {"quant": {"method": "a2qplus"}},
            "quant.method: must be one of 'baseline', 'a2q', 'a2q_plus', 'datatype', not 'a2qplus' "
            "(did you mean 'a2q_plus'?)",
        ),
        ({"train": {"lr": "fast"}}, "train.lr: must be a number, not 'fast'"),
        ({"train": {"device": "tpu"}}, "train.device: must be one of 'auto', 'cpu', 'cuda'"),
        (
            {"quant": {"layers": {"fc9": {"acc_bits": 12}}}},
            "quant.layers.fc9: no such layer (did you mean 'fc2'?); the layers are fc0, fc1, fc2",
        ),
        (
            {"quant": {"layers": {"fc1": {"acc_bit": 12}}}},
            "quant.layers.fc1.acc_bit: unknown key (did you mean 'acc_bits'?)",
        ),
        ({"data": {"dataset": "mnist", "path": "/nonexistent/mnist"}}, "data.path: "),
        ({"data": {"dataset": "imagenet"}}, "data.dataset: must be one of 'digits', 'mnist'"),
        ({"data": {"path": "/tmp"}}, "data.path: "),
        (
            {"compile": {"folding": {"fps": 1000, "target_cycles_per_frame": 64}}},
            "compile.folding: give exactly one of target_cycles_per_frame, fps or layers, not "
            "target_cycles_per_frame and fps",
        ),
        (
            {
                "compile": {
                    "folding": {
                        "target_cycles_per_frame": None,
                        "layers": {"fc0": {"pe": 3}, "fc1": {}, "fc2": {}},
                    }
                }
            },
            "compile.folding.layers.fc0.pe: 3 does not divide the layer's 32 outputs (MH); "
            "allowed: 1, 2, 4, 8, 16, 32",
        ),
        (
            {
                "compile": {
                    "folding": {
                        "target_cycles_per_frame": None,
                        "layers": {"fc0": {"simd": 5}, "fc1": {}, "fc2": {}},
                    }
                }
            },
            "compile.folding.layers.fc0.simd: 5 does not divide the layer's 64 inputs (MW)",
        ),
        (
            {"compile": {"folding": {"target_cycles_per_frame": None, "layers": {"fc0": {}}}}},
            "compile.folding.layers: missing layers fc1, fc2",
        ),
        ({"compile": {"host_ops": ["Relu"]}}, "compile.host_ops[0]: must be one of 'Mul', 'Add'"),
        (
            {"quant": {"last_layer": "constrained"}},
            "compile.top_k: the last layer fc2 uses a2q_plus, whose per-channel scale",
        ),
        ({"model": {"arch": "vgg"}}, "model.arch: must be one of 'tfc', 'cnv', 'mobilenetv1'"),
        ({"model": {"arch": "cnv", "channels": []}}, "model.channels: must list at least one"),
        (
            {"model": {"arch": "cnv", "channels": [4] * 10}},
            "model.channels: 10 convs pool a 8x8 input below 1x1; use at most 6 convs",
        ),
        ({"model": {"width": 0}}, "model.width: must be in 0.01..8, not 0.0"),
        ({"train": {"qat_epochs": 0}}, "train.qat_epochs: must be in 1..10000, not 0"),
        ({"quant": {"depthwise": "a2q+"}}, "quant.depthwise: must be one of 'baseline'"),
        (
            {"model": {"arch": "cnv", "channels": [4, 4]}, "quant": {"layers": {"conv9": {}}}},
            "quant.layers.conv9: no such layer (did you mean 'conv1'?); the layers are conv0, "
            "conv1, fc0, fc1, fc2",
        ),
        (
            {"hardware": {"mac_style": "constant"}},
            "hardware.mac_style: must be one of 'rom', 'const', 'auto', not 'constant' "
            "(did you mean 'const'?)",
        ),
        (
            {"hardware": {"layers": {"fc3": {"mac_style": "const"}}}},
            "hardware.layers.fc3: no such layer (did you mean 'fc2'?); the layers are fc0, fc1, "
            "fc2",
        ),
        (
            {"hardware": {"layers": {"fc1": {"mac_style": "ram"}}}},
            "hardware.layers.fc1.mac_style: must be one of 'rom', 'const', 'auto' or null, "
            "not 'ram'",
        ),
        (
            {"hardware": {"layers": {"fc1": {"style": "const"}}}},
            "hardware.layers.fc1.style: unknown key (did you mean 'mac_style'?)",
        ),
    ],
)
def test_bad_config_messages(tmp_path, tiny_data, patch, message):
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(tiny_data.get(key), dict):
            tiny_data[key].update(value)
        else:
            tiny_data[key] = value
    with pytest.raises(ConfigError, match=re.escape(message)):
        _load(tmp_path, tiny_data)


def test_target_too_small_names_smallest_p(tmp_path, tiny_data):
    tiny_data["quant"] = {"method": "a2q", "acc_bits": 5}
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, tiny_data)
    msg = str(e.value)
    # A2Q at N=4 unsigned: budget (2^(P-1)-1)*2^-4 >= 1 needs P >= 6.
    assert "quant.acc_bits: P=5 is too small for layer fc1 (a2q, 4-bit unsigned input)" in msg
    assert "the smallest P that does is 6" in msg


def test_per_layer_target_too_small_names_layer_key(tmp_path, tiny_data):
    tiny_data["quant"]["layers"] = {"fc1": {"acc_bits": 4}}
    with pytest.raises(ConfigError, match=re.escape("quant.layers.fc1.acc_bits: P=4")):
        _load(tmp_path, tiny_data)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    top = tmp_path / "list.yaml"
    top.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must be a mapping of keys"):
        load_config(top)


def test_overrides_are_validated(tmp_path, tiny_data):
    path = write_config(tmp_path, tiny_data)
    cfg = load_config(path, ["quant.acc_bits=16", "model.hidden=[8, 8]"])
    assert cfg.quant.acc_bits == 16 and cfg.model.hidden == [8, 8]
    with pytest.raises(ConfigError, match=re.escape("model.weight_bits: must be in 2..8, not 1")):
        load_config(path, ["model.weight_bits=1"])
    with pytest.raises(ConfigError, match="must be KEY=VALUE"):
        load_config(path, ["quant.acc_bits"])


def test_name_defaults_to_file_stem(tmp_path, tiny_data):
    del tiny_data["name"]
    assert load_config(write_config(tmp_path, tiny_data, "my_net.yaml")).name == "my_net"


def test_edge_policies_and_overrides(tmp_path, tiny_data):
    tiny_data["quant"].update(
        first_layer="constrained", layers={"fc2": {"method": "a2q", "acc_bits": 15}}
    )
    tiny_data["compile"] = {"top_k": False, "host_ops": ["Mul"]}
    plans = layer_plans(_load(tmp_path, tiny_data))
    assert [(p.method, p.acc_bits) for p in plans] == [
        ("a2q_plus", 12),
        ("a2q_plus", 12),
        ("a2q", 15),
    ]


def test_depthwise_folding_takes_pe_only(tmp_path):
    cifar = write_cifar10(tmp_path / "data")
    layers = {"conv0": {}, "dw1": {"pe": 4, "simd": 3}}
    with pytest.raises(ConfigError) as e:
        load_config(
            "configs/mobilenetv1_cifar10.yaml",
            [
                f"data.path={cifar}",
                "compile.folding.target_cycles_per_frame=null",
                f"compile.folding.layers={layers}",
            ],
        )
    assert "compile.folding.layers.dw1.simd: a depthwise layer takes one kernel position" in str(
        e.value
    )


def test_mac_style_per_layer_and_const_takes_mvau_layers_only(tmp_path, tiny_data):
    tiny_data["hardware"] = {"mac_style": "const", "layers": {"fc2": {"mac_style": "rom"}}}
    assert mac_styles(_load(tmp_path, tiny_data)) == {"fc0": "const", "fc1": "const", "fc2": "rom"}
    tiny_data["hardware"] = {"layers": {"fc1": {"mac_style": "const"}}}
    assert mac_styles(_load(tmp_path, tiny_data)) == {"fc0": "rom", "fc1": "const", "fc2": "rom"}
    cifar = [f"data.path={write_cifar10(tmp_path / 'data')}"]
    mobile = "configs/mobilenetv1_cifar10.yaml"
    with pytest.raises(ConfigError) as e:
        load_config(mobile, [*cifar, "hardware.layers={dw1: {mac_style: const}}"])
    assert (
        "hardware.layers.dw1.mac_style: 'const' takes MVAU layers only, and dw1 is a depthwise "
        "layer (VVAU); give them hardware.layers.<name>.mac_style: rom"
    ) in str(e.value)
    with pytest.raises(ConfigError, match=r"hardware.mac_style: 'const' takes MVAU layers only, "
                       r"and dw1, dw2, .* are depthwise layers"):  # fmt: skip
        load_config(mobile, [*cifar, "hardware.mac_style=const"])
    rom = ", ".join(f"dw{i}: {{mac_style: rom}}" for i in range(1, 14))
    cfg = load_config(mobile, [*cifar, "hardware.mac_style=const", f"hardware.layers={{{rom}}}"])
    assert mac_styles(cfg)["pw1"] == "const" and mac_styles(cfg)["dw1"] == "rom"


def test_section_digest_leaves_out_machine_resources(tmp_path, tiny_data):
    base = _load(tmp_path, tiny_data)
    sections = ("seed", "data", "model", "quant", "train", "hardware")
    faster = _load(
        tmp_path,
        tiny_data,
        [
            "train.threads=8",
            "train.device=cpu",
            "hardware.synth_jobs=4",
            "hardware.synth_timeout_s=60",
        ],
    )
    assert faster.section_digest(*sections) == base.section_digest(*sections)
    longer = _load(tmp_path, tiny_data, ["train.qat_epochs=3"])
    assert longer.section_digest(*sections) != base.section_digest(*sections)
    # The MAC style is what the hardware computes with, not a machine resource.
    const = _load(tmp_path, tiny_data, ["hardware.mac_style=const"])
    assert const.section_digest("hardware") != base.section_digest("hardware")
