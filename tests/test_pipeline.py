"""The train -> export pipeline on a tiny model: caching, resume, --from/--until, export guard."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from qonnx.core.modelwrapper import ModelWrapper

from flow import export as export_mod
from flow import pipeline as pipeline_mod
from flow import sources
from flow import train as train_mod
from flow.config import layer_plans, parse_config
from flow.errors import A2QError, ExportError
from flow.pipeline import run_pipeline
from flow.qonnx_weights import exported_integer_weights


def _cfg(data):
    return parse_config(data)


def _exact_range(q: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Independent oracle: per-row min/max of q.x over the input box, in int64 numpy."""
    q = q.astype(np.int64)
    return np.minimum(q * lo, q * hi).sum(1), np.maximum(q * lo, q * hi).sum(1)


def test_train_export_cache_and_guarantee(tmp_path, tiny_data):
    cfg = _cfg(tiny_data)
    res = run_pipeline(cfg, tmp_path, until="export", show_progress=False)
    assert [r["status"] for r in res.values()] == ["ran", "ran"]
    out = tmp_path / "tiny"
    check = json.loads((out / "export" / "export_check.json").read_text())
    assert check["ok"] and check["fidelity"]["argmax_agreement"] == 20
    assert check["fidelity"]["max_abs_error"] <= 1e-4
    # Re-read the shipped file and verify each constrained layer against the bound ourselves.
    ints = exported_integer_weights(ModelWrapper(str(out / "export" / "model.onnx")))
    for plan, (_, q), row in zip(layer_plans(cfg), ints, check["layers"], strict=True):
        lo_x, hi_x = (0, 2**plan.input_bits - 1)
        lo, hi = _exact_range(q, lo_x, hi_x)
        exact = max(int(max(-lo.min(), hi.max() + 1)).bit_length() + 1, 1)
        assert row["exact_bits"] == exact
        if plan.constrained:
            assert hi.max() <= 2 ** (plan.acc_bits - 1) - 1
            assert lo.min() >= -(2 ** (plan.acc_bits - 1))
            assert exact <= plan.acc_bits < row["datatype_bound_bits"]
    metrics = json.loads((out / "train" / "metrics.json").read_text())
    assert metrics["ep_init_layers"] == ["fc1"]  # fc2 is the unconstrained last layer
    assert {"float_accuracy", "quant_accuracy", "layers"} <= metrics.keys()
    assert json.loads((out / "timings.json").read_text())["train"]["last_status"] == "ran"

    again = run_pipeline(cfg, tmp_path, until="export", show_progress=False)
    assert [r["status"] for r in again.values()] == ["cached", "cached"]
    tiny_data["export"]["check_samples"] = 10  # only the export section changed
    changed = run_pipeline(_cfg(tiny_data), tmp_path, until="export", show_progress=False)
    assert [r["status"] for r in changed.values()] == ["cached", "ran"]


def test_from_and_until(tmp_path, tiny_data):
    cfg = _cfg(tiny_data)
    with pytest.raises(A2QError, match="--from export: stage 'train' has no up-to-date result"):
        run_pipeline(cfg, tmp_path, from_stage="export", until="export", show_progress=False)
    res = run_pipeline(cfg, tmp_path, until="train", show_progress=False)
    assert list(res) == ["train"]
    res = run_pipeline(cfg, tmp_path, from_stage="export", until="export", show_progress=False)
    assert [r["status"] for r in res.values()] == ["cached", "ran"]
    with pytest.raises(
        A2QError, match="--until: unknown stage 'bogus'; stages are train, export, compile, "
    ):
        run_pipeline(cfg, tmp_path, until="bogus", show_progress=False)


def test_interrupted_training_resumes_to_same_weights(tmp_path, tiny_data, monkeypatch):
    cfg = _cfg(tiny_data)
    run_pipeline(cfg, tmp_path / "ref", until="train", show_progress=False)
    reference = torch.load(tmp_path / "ref" / "tiny" / "train" / "model.pt")

    real_epoch = train_mod._epoch
    calls = {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:  # the second QAT epoch
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(train_mod, "_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(cfg, tmp_path / "run", until="train", show_progress=False)
    stage = tmp_path / "run" / "tiny" / "train"
    assert not (stage / ".stage.json").exists() and not (stage / "model.pt").exists()
    assert torch.load(stage / "checkpoint.pt", weights_only=False)["phase"] == "qat"

    monkeypatch.setattr(train_mod, "_epoch", real_epoch)
    resumed_calls = {"n": 0}

    def counting(*args, **kwargs):
        resumed_calls["n"] += 1
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(train_mod, "_epoch", counting)
    run_pipeline(cfg, tmp_path / "run", until="train", show_progress=False)
    assert resumed_calls["n"] == 1  # only the QAT epoch that was interrupted
    resumed = torch.load(stage / "model.pt")
    assert reference.keys() == resumed.keys()
    for key in reference:
        assert torch.equal(reference[key], resumed[key]), key


def test_export_refuses_weights_that_break_the_bound(tmp_path, tiny_data, monkeypatch):
    # Without the write-back, Brevitas' exporter ships the raw float weights (the known bug).
    monkeypatch.setattr(
        export_mod, "write_back_quant_weights", lambda model, sample, names=None: None
    )
    cfg = _cfg(tiny_data)
    with pytest.raises(ExportError, match="export check failed, model.onnx not written") as e:
        run_pipeline(cfg, tmp_path, until="export", show_progress=False)
    assert "fc1:" in str(e.value)
    out = tmp_path / "tiny" / "export"
    assert not (out / "model.onnx").exists()
    assert not (out / ".stage.json").exists()
    assert json.loads((out / "export_check.json").read_text())["ok"] is False


def test_cache_key_leaves_out_resources_and_covers_code(tmp_path, tiny_data, monkeypatch):
    res = run_pipeline(_cfg(tiny_data), tmp_path, until="export", show_progress=False)
    assert [r["status"] for r in res.values()] == ["ran", "ran"]
    # Machine resources (sweep --jobs sets train.threads and hardware.synth_jobs) are not
    # part of what a stage computes: the results stay cached.
    tiny_data["train"].update(threads=2, device="cpu")
    tiny_data["hardware"] = {"synth_jobs": 3, "synth_timeout_s": 60}
    res = run_pipeline(_cfg(tiny_data), tmp_path, until="export", show_progress=False)
    assert [r["status"] for r in res.values()] == ["cached", "cached"]
    # Another export code digest (an edited flow/export.py) re-runs export, not train.
    real = pipeline_mod.code_digest

    def edited(module: str, templates: bool = False) -> str:
        return real(module, templates) + ("-edited" if module == "flow.export" else "")

    monkeypatch.setattr(pipeline_mod, "code_digest", edited)
    res = run_pipeline(_cfg(tiny_data), tmp_path, until="export", show_progress=False)
    assert [r["status"] for r in res.values()] == ["cached", "ran"]


def test_code_digest_follows_imports_and_templates(tmp_path, monkeypatch):
    assert {"flow.train", "flow.config", "flow.data.base", "flow"} <= set(
        sources._closure("flow.train")
    )
    assert "flow.hardware" not in sources._closure("flow.train")
    monkeypatch.setattr(sources, "TEMPLATE_DIR", tmp_path)
    template = tmp_path / "queue.sv"
    digests = []
    try:
        for text in ("module q; endmodule\n", "module q; wire w; endmodule\n"):
            template.write_text(text)
            sources.code_digest.cache_clear()
            digests.append(sources.code_digest("flow.hardware", True))
        assert digests[0] != digests[1]
        assert sources.code_digest("flow.hardware") == sources.code_digest("flow.hardware")
    finally:
        sources.code_digest.cache_clear()
