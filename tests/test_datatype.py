"""The data-type method (de Bruin et al.): the (N, M) selection rule against brute force, the
network rule in the layer plans, its errors, a trained network's exported integers against
the data-type bound, `a2q bounds --fit`, and the sweep's infeasible points and winners."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from brevitas.nn import QuantReLU
from qonnx.core.modelwrapper import ModelWrapper

from flow import bounds
from flow.cli import main
from flow.config import layer_plans, load_config, parse_config
from flow.errors import ConfigError, InfeasibleError
from flow.export import check_layer
from flow.inspect import inspect_build
from flow.metrics import ACCURACY
from flow.models import build_model
from flow.pipeline import run_pipeline
from flow.qonnx_weights import exported_integer_weights
from flow.report.by_p import data_types, method_winners
from flow.report.sweep_report import sweep_findings
from flow.sweep import load_sweep, point_rows
from tests.conftest import TINY, write_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _width(k: int, n: int, m: int, signed: bool) -> int:
    """Independent oracle: the smallest P holding K times every product of the two types."""
    xs = (-(2 ** (n - 1)), 2 ** (n - 1) - 1) if signed else (0, 2**n - 1)
    ws = (-(2 ** (m - 1)), 2 ** (m - 1) - 1)
    lo = k * min(x * w for x in xs for w in ws)
    hi = k * max(x * w for x in xs for w in ws)
    p = 1
    while not (-(2 ** (p - 1)) <= lo and hi <= 2 ** (p - 1) - 1):
        p += 1
    return p


def _brute_boundary(k, p, signed, fixed=None, top=8):
    ns = [fixed] if fixed else range(1, top + 1)
    fit = {(n, m) for n in ns for m in range(2, top + 1) if _width(k, n, m, signed) <= p}
    return sorted(
        (n, m)
        for n, m in fit
        if (m == top or (n, m + 1) not in fit)
        and (fixed or n == top or _width(k, n + 1, m, signed) > p)
    )


CASES = list(itertools.product([1, 9, 27, 64, 100, 256, 1000, 4608], range(3, 30)))


@pytest.mark.parametrize("signed", [False, True])
def test_boundary_pairs_and_choice_match_brute_force(signed):
    for k, p in CASES:
        want = _brute_boundary(k, p, signed)
        assert bounds.datatype_fits(k, p, signed) == want, (k, p)
        for split, key in [
            ("weights", lambda nm: (nm[1], nm[0])),
            ("inputs", lambda nm: (nm[0], nm[1])),
            ("balanced", lambda nm: (-abs(nm[0] - nm[1]), nm[1])),
        ]:
            got = bounds.choose_datatypes(k, p, split, signed)
            assert got == (max(want, key=key) if want else None), (k, p, split)
            if got:  # fits, and fully uses the accumulator
                n, m = got
                assert _width(k, n, m, signed) <= p
                assert m == 8 or _width(k, n, m + 1, signed) > p


@pytest.mark.parametrize("signed", [False, True])
def test_smallest_p_is_the_first_with_a_pair(signed):
    for k in {k for k, _ in CASES}:
        smallest = next(q for q in range(1, 64) if _brute_boundary(k, q, signed))
        assert bounds.datatype_min_acc_bits(k, signed) == smallest, k


def test_fixed_input_bits_only_maximise_weights():
    for k, p in CASES:
        want = _brute_boundary(k, p, False, fixed=5)
        assert bounds.datatype_fits(k, p, input_bits=5) == want
        assert bounds.choose_datatypes(k, p, "inputs", input_bits=5) == (want[0] if want else None)
    assert bounds.datatype_min_acc_bits(64, input_bits=5) == 13  # 64 * 31 * -2 needs 13 bits


def test_known_values():
    # K=256 unsigned: an N-bit input costs N bits, an M-bit weight M bits, K eight more.
    assert bounds.datatype_fits(256, 12) == [(1, 4), (2, 2)]
    assert bounds.choose_datatypes(256, 16, "balanced") == (4, 4)
    assert bounds.choose_datatypes(256, 13, "balanced") == (2, 3)
    assert bounds.choose_datatypes(256, 13, "inputs") == (3, 2)
    assert bounds.choose_datatypes(256, 13, "weights") == (1, 5)
    assert bounds.choose_datatypes(256, 9, "balanced") is None
    with pytest.raises(bounds.BoundError, match="split must be one of balanced, weights"):
        bounds.choose_datatypes(256, 12, "even")


def _tfc(overrides):
    return load_config(CONFIGS / "tfc_digits.yaml", ["quant.method=datatype", *overrides])


def test_network_rule_sets_each_layers_input_and_weight_bits():
    plans = layer_plans(_tfc(["quant.acc_bits=13"]))
    got = [(p.name, p.method, p.input_bits, p.weight_bits, p.acc_bits) for p in plans]
    assert got == [
        ("fc0", "baseline", 5, 4, None),  # unconstrained first layer: the data's 5-bit pixels
        ("fc1", "datatype", 2, 3, 13),
        ("fc2", "datatype", 2, 3, 13),
        ("fc3", "baseline", 4, 4, None),  # after a datatype layer: act_bits again
    ]
    plans = layer_plans(_tfc(["quant.acc_bits=13", "quant.datatype_split=weights"]))
    assert [(p.input_bits, p.weight_bits) for p in plans[1:3]] == [(1, 5), (1, 5)]
    # A constrained first layer keeps the data's input type and maximises its weights.
    plans = layer_plans(_tfc(["quant.acc_bits=14", "quant.first_layer=constrained"]))
    assert (plans[0].input_bits, plans[0].weight_bits) == (5, 3)
    # Per-layer override of the width.
    plans = layer_plans(_tfc(["quant.acc_bits=16", "quant.layers.fc2.acc_bits=12"]))
    assert [(p.input_bits, p.weight_bits) for p in plans[1:3]] == [(4, 4), (2, 2)]


def test_models_quantize_each_activation_to_its_readers_input_bits():
    model = build_model(_tfc(["quant.acc_bits=13"]))
    bits = {n: int(a.act_quant.bit_width()) for n, a in model.acts.items()}
    assert bits == {"fc0": 2, "fc1": 2, "fc2": 4}
    cnv = load_config(CONFIGS / "cnv_digits.yaml", ["quant.method=datatype", "quant.acc_bits=14"])
    plans = layer_plans(cnv)
    model = build_model(cnv)
    relus = {n: int(a.act_quant.bit_width()) for n, a in model.acts.items()}
    for p, nxt in zip(plans[:-1], plans[1:], strict=True):
        assert relus[p.name] == nxt.input_bits
    assert all(isinstance(a, QuantReLU) for a in model.acts.values())


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        (
            ["quant.acc_bits=9"],
            InfeasibleError,
            "quant.acc_bits: P=9 is too small for layer fc1 (datatype, K=256): no input bits "
            "N >= 1 with weight bits M >= 2 keep its dot products within P bits; the smallest "
            "P that fits is 10",
        ),
        (
            ["quant.acc_bits=12", "quant.first_layer=constrained"],
            InfeasibleError,
            "quant.acc_bits: P=12 is too small for layer fc0 (datatype, K=64): its 5-bit input "
            "(fixed by the data) with M >= 2 weight bits does not keep its dot products within "
            "P bits; the smallest P that fits is 13",
        ),
        (
            ["quant.acc_bits=16", "quant.layers.fc2.acc_bits=8"],
            InfeasibleError,
            "quant.layers.fc2.acc_bits: P=8 is too small for layer fc2",
        ),
        (
            ["quant.datatype_split=even"],
            ConfigError,
            "quant.datatype_split",
        ),
    ],
)
def test_config_errors_name_the_layer_k_and_smallest_p(overrides, error, message):
    with pytest.raises(error) as e:
        _tfc(overrides)
    assert message in str(e.value)


def test_shared_activations_are_refused():
    with pytest.raises(ConfigError, match="resnet18's residual joins share activations"):
        load_config(CONFIGS / "resnet18_cifar10.yaml", ["quant.method=datatype"])


def test_check_layer_refuses_integers_outside_the_types():
    plan = layer_plans(_tfc(["quant.acc_bits=12"]))[1]  # fc1: N=2, M=2
    ok = check_layer(plan, np.ones((4, 256), dtype=np.int64))
    assert ok["ok"] and ok["datatype_exact_bits"] == 12 and ok["budget"] is None
    bad = check_layer(plan, np.full((4, 256), 2, dtype=np.int64))
    assert bad["problems"][0] == "integer weights span [2, 2], outside the 2-bit range [-2, 1]"


def test_trained_datatype_network_satisfies_its_bound_in_the_file(tmp_path, tiny_data):
    tiny_data["model"]["hidden"] = [32, 32, 32]
    tiny_data["quant"] = {"method": "datatype", "acc_bits": 13, "first_layer": "constrained"}
    cfg = parse_config(tiny_data)
    plans = layer_plans(cfg)
    assert [(p.input_bits, p.weight_bits) for p in plans] == [(5, 2), (4, 4), (4, 4), (4, 4)]
    run_pipeline(cfg, tmp_path, until="compile", show_progress=False)
    out = tmp_path / "tiny"
    check = json.loads((out / "export" / "export_check.json").read_text())
    assert check["ok"]
    ints = exported_integer_weights(ModelWrapper(str(out / "export" / "model.onnx")))
    for plan, (_, q) in zip(plans, ints, strict=True):
        if plan.method != "datatype":
            continue
        # The exported integers are M-bit weights, and the types of the layer bound every
        # dot product within P bits (independent oracle: the integer ranges).
        assert q.min() >= -(2 ** (plan.weight_bits - 1))
        assert q.max() <= 2 ** (plan.weight_bits - 1) - 1
        assert _width(q.shape[1], plan.input_bits, plan.weight_bits, False) <= plan.acc_bits
        x_hi = 2**plan.input_bits - 1
        assert np.maximum(q * x_hi, 0).sum(1).max() <= 2 ** (plan.acc_bits - 1) - 1
        assert np.minimum(q * x_hi, 0).sum(1).min() >= -(2 ** (plan.acc_bits - 1))
    acc = {r["name"]: r for r in json.loads((out / "compile" / "accumulators.json").read_text())}
    for plan in plans[:3]:
        row = acc[plan.name]
        assert (row["input_bits"], row["weight_bits"]) == (plan.input_bits, plan.weight_bits)
        assert row["guaranteed"] and row["guarantee"] == "data-type bound"
    assert not acc["fc3"]["guaranteed"] and acc["fc3"]["guarantee"] is None
    text = inspect_build(out)
    assert "yes: data-type bound" in text
    metrics = json.loads((out / "train" / "metrics.json").read_text())
    assert metrics["ep_init_layers"] == []  # no L1 budget to project onto
    assert [r["weight_bits"] for r in metrics["layers"]] == [2, 4, 4, 4]
    assert torch.load(out / "train" / "model.pt")  # a normal trained model


def test_bounds_fit_cli(capsys):
    assert main(["bounds", "--k", "256", "--acc-bits", "12", "--fit"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "K=256, P=12, unsigned inputs: (N, M) pairs that fully use the accumulator",
        "  N   M  width  P_dt  quant.datatype_split",
        "  1   4     12    14  weights",
        "  2   2     12    13  balanced, inputs",
    ]
    assert main(["bounds", "--k", "64", "--acc-bits", "12", "--fit", "--input-bits", "5"]) == 0
    assert "smallest P that does is 13" in capsys.readouterr().out
    assert main(["bounds", "--k", "256", "--acc-bits", "16", "--fit", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["choices"] == {"balanced": [4, 4], "weights": [1, 8], "inputs": [6, 2]}
    assert main(["bounds", "--k", "256", "--fit"]) == 2
    assert "give --acc-bits P" in capsys.readouterr().err
    assert main(["bounds", "--k", "256"]) == 2
    assert "give --input-bits and --weight-bits" in capsys.readouterr().err


def test_sweep_records_infeasible_points_without_building_them(tmp_path):
    write_config(tmp_path, dict(TINY, model={"hidden": [256, 256]}), "base.yaml")
    path = tmp_path / "s.yaml"
    axes = {"method": ["datatype", "a2q"], "acc_bits": [9, 12]}
    path.write_text(
        yaml.safe_dump({"name": "s", "base": "base.yaml", "axes": axes}, sort_keys=False)
    )
    sweep = load_sweep(path)
    status = {p.id: p.infeasible for p in sweep.points}
    assert status["method=a2q,acc_bits=9"] is None and status["method=datatype,acc_bits=12"] is None
    assert (
        "P=9 is too small for layer fc1 (datatype, K=256)" in status["method=datatype,acc_bits=9"]
    )
    p = next(p for p in sweep.points if p.infeasible)
    result = {"status": "infeasible", "error": p.infeasible, "seconds": 0.0}
    (row,) = point_rows(p, tmp_path / "never_built", result, ACCURACY.key)
    assert row["status"] == "infeasible" and row["acc_bits"] == 9 and row["quant_accuracy"] is None


def _row(method, bits, quant=None, wrap=None, status="ok", types=None):
    return {"point": f"{method}{bits}", "method": method, "acc_bits": bits, "status": status,
            "metric": "accuracy", "quant_accuracy": quant, "wrap_accuracy": wrap,
            "data_types": types}  # fmt: skip


def test_method_winners_at_each_p():
    points = [
        _row("baseline", 10, 99.0, wrap=40.0),
        _row("baseline", 12, 99.0, wrap=99.0),
        _row("datatype", 10, status="infeasible"),
        _row("datatype", 12, 98.0, types={"fc1": [2, 2]}),
        _row("a2q", 10, 95.0),
        _row("a2q", 12, 97.5),
        _row("a2q_plus", 10, 95.0),
        _row("a2q_plus", 12, 96.0),
    ]
    w = {e["acc_bits"]: e for e in method_winners(points, ACCURACY)}
    assert w[10]["winner"] == "A2Q = A2Q+" and w[10]["margin"] is None
    assert w[10]["infeasible"] == ["data-type bound"] and w[10]["wrap_above"] is None
    assert w[10]["statement"] == (
        "P=10: A2Q = A2Q+ tie as the best guaranteed method with 95.00 %; cannot build P=10: "
        "data-type bound."
    )
    assert w[12]["winner"] == "data-type bound" and w[12]["runner_up"] == "A2Q"
    assert w[12]["margin"] == pytest.approx(0.5) and w[12]["wrap_above"] == pytest.approx(1.0)
    assert w[12]["statement"] == (
        "P=12: data-type bound is the best guaranteed method with 98.00 %, 0.50 % above A2Q "
        "(97.50 %); the baseline wrapped around at 12 bits scores 99.00 % on the test set, "
        "with no guarantee."
    )
    assert data_types(points) == [{"point": "datatype12", "acc_bits": 12, "layers": {"fc1": "2/2"}}]
    best = sweep_findings({"points": points})["best_method_by_p"]
    assert best["wins"] == {"A2Q": [10], "A2Q+": [10], "data-type bound": [12]}
    assert best["statement"] == (
        "Best guaranteed method at each P (2 widths, ties count for each): A2Q at 1 (P = 10); "
        "A2Q+ at 1 (P = 10); data-type bound at 1 (P = 12)."
    )


def test_sweep_report_says_who_wins_at_each_p(tmp_path):
    from flow.report.sweep_report import render_sweep_report

    points = [
        _row("baseline", 10, 99.0, wrap=40.0),
        _row("datatype", 10, status="infeasible"),
        _row("a2q", 10, 95.0),
        _row("datatype", 12, 98.0, types={"fc0": [5, 4], "fc1": [2, 2]}),
        _row("a2q", 12, 97.5),
    ]
    points[1]["error"] = "quant.acc_bits: P=10 is too small for layer fc1 (datatype, K=256)"
    axes = {"method": ["baseline", "datatype", "a2q"], "acc_bits": [10, 12]}
    summary = {"name": "t", "metric": "accuracy", "points": points, "axes": axes}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    render_sweep_report(tmp_path)
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| points | 5 (4 ok, 0 failed, 1 infeasible) |" in md
    assert "## Which method wins at each P" in md
    assert (
        "| P | baseline (wrap-around at P) | data-type bound | A2Q | A2Q+ | best guaranteed "
        "| margin |"
    ) in md
    assert "| 10 | 40.00 | infeasible | 95.00 | - | A2Q | - |" in md
    assert (
        "P=12: data-type bound is the best guaranteed method with 98.00 %, 0.50 % above A2Q" in md
    )
    assert "| datatype12 | 12 | 5/4 | 2/2 |" in md
    assert "`datatype10`: quant.acc_bits: P=10 is too small for layer fc1" in md
