"""Training pieces: EP-init projection, zero-layer detection, float -> quant weight loading."""

from __future__ import annotations

import torch

from flow.config import layer_plans, parse_config
from flow.ep_init import _project_l1, ep_init
from flow.models import build_float_model, build_model, integer_weights
from flow.train import _load_float_weights, layer_metrics


def test_project_l1_is_the_euclidean_projection():
    torch.manual_seed(0)
    v = torch.randn(6, 40)
    radius = torch.tensor([1.0, 2.0, 5.0, 100.0, 0.5, 3.0])
    p = _project_l1(v, radius)
    for i in range(6):
        if v[i].abs().sum() <= radius[i]:
            assert torch.equal(p[i], v[i])
            continue
        assert torch.isclose(p[i].abs().sum(), radius[i], rtol=1e-5)
        assert torch.all(p[i] * v[i] >= 0)  # signs kept, entries only shrink
        # Optimality (KKT): every kept entry is shrunk by the same theta; dropped ones are <= it.
        kept = p[i] != 0
        theta = (v[i][kept].abs() - p[i][kept].abs()).mean()
        assert torch.allclose(v[i][kept].abs() - p[i][kept].abs(), theta, atol=1e-5)
        assert torch.all(v[i][~kept].abs() <= theta + 1e-5)


def _wide_cfg(tiny_data, method, acc_bits, ep):
    tiny_data["model"]["hidden"] = [256, 256]
    tiny_data["quant"] = {"method": method, "acc_bits": acc_bits}
    tiny_data["train"]["ep_init"] = ep
    return parse_config(tiny_data)


def test_float_weights_set_the_quantizer_scales(tiny_data):
    cfg = parse_config(tiny_data)
    f, q = build_float_model(cfg), build_model(cfg)
    with torch.no_grad():
        for layer in f.layers.values():
            layer.weight.mul_(7.0)
    _load_float_weights(q, f.state_dict())
    w = q.layers["fc1"].weight
    s = q.layers["fc1"].weight_quant.tensor_quant.scaling_impl(w).flatten()
    assert torch.allclose(s, w.abs().amax(1) / 7, rtol=1e-5)  # 4-bit narrow: max int 7


def test_a2q_at_low_p_zeroes_a_layer_and_ep_init_cures_it(tiny_data):
    # A2Q at P=8 with 4-bit unsigned inputs: L1 budget 127/16 ~ 7.9 over K=256 weights.
    x = torch.randint(0, 17, (64, 1, 8, 8)).float()
    cfg = _wide_cfg(tiny_data, "a2q", 8, False)
    plans = layer_plans(cfg)
    torch.manual_seed(0)
    f = build_float_model(cfg)
    plain = build_model(cfg)
    _load_float_weights(plain, f.state_dict())
    rows = {r["name"]: r for r in layer_metrics(plain, x, plans)}
    assert rows["fc1"]["all_zero"]

    cured = build_model(cfg)
    _load_float_weights(cured, f.state_dict())
    assert ep_init(cured, x, plans) == ["fc1"]
    rows = {r["name"]: r for r in layer_metrics(cured, x, plans)}
    assert not rows["fc1"]["all_zero"]
    assert 0 < rows["fc1"]["max_l1"] <= rows["fc1"]["l1_budget"]
    q = integer_weights(cured, x)["fc1"]
    assert (abs(q).sum(1) <= 127 / 16).all()
