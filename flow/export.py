"""Export stage: QONNX export, then proof that the exported integers meet their bounds.

Brevitas >= 0.12.1 ``export_qonnx`` writes the raw float weights behind a plain Quant node, so
the A2Q constraint is lost (and it writes 1-bit unsigned activations as bipolar ones, which
:class:`~flow.passes.FixUnsignedBinaryActs` rewrites). We write each layer's quantized weights
back into ``weight`` first, export, then read the file back and check every constrained layer
per output channel: L1 norm <= budget and exact accumulator width <= target. QONNX execution
is compared with Brevitas on test samples. ``model.onnx`` only appears when every check passes.

A build of a QONNX file made elsewhere (``model.source``) gets the same checks on the file's
integers (:func:`check_file`): a file whose integers break the targets the config states is
refused, naming the layer and the excess, and saying why a Brevitas export of an A2Q network
most likely does.
"""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path

import numpy as np
import torch
from brevitas.export import export_qonnx
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.general import RemoveStaticGraphInputs

from flow import artifacts, bounds
from flow.config import BuildConfig, LayerPlan, layer_plans
from flow.data.loading import load_data
from flow.data.tensors import to_tensors
from flow.errors import ExportError
from flow.executor import tie_aware_argmax
from flow.metrics import ACCURACY, metric_for, score
from flow.models import build_model, integer_weights, mac_layers
from flow.passes.unsigned_binary_acts import FixUnsignedBinaryActs
from flow.qonnx_weights import exported_integer_weights
from flow.util import atomic_write_bytes

log = logging.getLogger(__name__)


@torch.no_grad()
def write_back_quant_weights(
    model: torch.nn.Module, sample: torch.Tensor, names: list[str] | None = None
) -> None:
    """Replace the float weight of the MAC layers ``names`` (default: all) by its quantized
    value (the exporter's bug).

    Only accumulator-aware layers need it: the exporter re-quantizes a plain quantizer's float
    weights exactly as Brevitas does, while writing quantized values back into a layer whose
    scale is derived from its weights may change that scale (power-of-two scales halve when
    the largest quantized weight falls to the next power of two below).
    """
    layers = {n: m for n, m in mac_layers(model).items() if names is None or n in names}
    quant_values = {}
    captured: dict[str, object] = {}
    hooks = [
        layer.register_forward_pre_hook(lambda _m, inp, n=n: captured.__setitem__(n, inp[0]))
        for n, layer in layers.items()
    ]
    model.eval()
    model(sample)
    for h in hooks:
        h.remove()
    for name, layer in layers.items():
        try:
            qw = layer.quant_weight(quant_input=captured[name])
        except TypeError:
            qw = layer.quant_weight()
        quant_values[name] = qw.value.detach().clone()
    for name, layer in layers.items():
        layer.weight.data = quant_values[name]


def check_layer(plan: LayerPlan, q: np.ndarray) -> dict:
    """Per-layer check of integer weights (out, in) against the plan's budget and target."""
    lo, hi = bounds.input_range(plan.input_bits, plan.input_signed)
    l1 = np.abs(q).sum(axis=1)
    exact = max(bounds.exact_acc_bits([int(v) for v in row], lo, hi) for row in q)
    dt = bounds.datatype_bound_bits(
        q.shape[1], plan.input_bits, plan.weight_bits, plan.input_signed
    )
    row = {
        "name": plan.name,
        "K": int(q.shape[1]),
        "input_bits": plan.input_bits,
        "input_signed": plan.input_signed,
        "weight_bits": plan.weight_bits,
        "method": plan.method,
        "target_bits": plan.acc_bits,
        "datatype_bound_bits": dt,
        "max_l1": int(l1.max()),
        "budget": None,
        "exact_bits": int(exact),
        "ok": True,
        "problems": [],
    }
    w_lo, w_hi = bounds.input_range(plan.weight_bits, True)
    if q.size and (q.min() < w_lo or q.max() > w_hi):
        row["problems"].append(
            f"integer weights span [{int(q.min())}, {int(q.max())}], outside the "
            f"{plan.weight_bits}-bit range [{w_lo}, {w_hi}]"
        )
    budget = plan.l1_budget
    if budget is not None:
        row["budget"] = float(budget)
        worst = int(np.argmax(l1))
        if l1[worst] > budget:
            row["problems"].append(
                f"channel {worst} has L1 norm {int(l1[worst])} > budget {float(budget):.4g} "
                f"(over by {float(l1[worst] - budget):.4g})"
            )
    if plan.method == "datatype":
        # The guarantee is the types: any K inputs of N bits times M-bit weights fit P.
        typed = bounds.datatype_exact_bits(
            q.shape[1], plan.input_bits, plan.weight_bits, plan.input_signed
        )
        row["datatype_exact_bits"] = typed
        if typed > plan.acc_bits:
            row["problems"].append(
                f"data types (N={plan.input_bits}, M={plan.weight_bits}, K={q.shape[1]}) need "
                f"{typed} bits > target {plan.acc_bits} bits"
            )
    if plan.constrained and exact > plan.acc_bits:
        row["problems"].append(
            f"exact accumulator width {exact} bits > target {plan.acc_bits} bits "
            f"(over by {exact - plan.acc_bits})"
        )
    row["ok"] = not row["problems"]
    return row


def run_export(cfg: BuildConfig, build_dir: Path) -> dict:
    """Export the build's trained model to ``export/model.onnx`` and prove it (a build of a
    QONNX file: :func:`check_file`)."""
    t0 = time.perf_counter()
    if cfg.model.source and cfg.model.source.startswith("onnx:"):
        return check_file(cfg, build_dir)
    plans = layer_plans(cfg)
    model = build_model(cfg)
    model.load_state_dict(artifacts.MODEL.read(build_dir))
    model.eval()
    ds = load_data(cfg)
    data = to_tensors(ds, torch.device("cpu"))
    sample = data.x_train[: min(256, len(data.x_train))]
    brevitas_ints = integer_weights(model, sample)

    exportable = copy.deepcopy(model)
    write_back_quant_weights(exportable, sample, [p.name for p in plans if p.l1_budget is not None])
    target = artifacts.QONNX.at(build_dir)
    tmp = target.with_name(f".{target.name}.tmp")
    target.parent.mkdir(parents=True, exist_ok=True)
    export_qonnx(exportable, input_t=data.x_test[:1], export_path=str(tmp))
    try:
        # Brevitas' export of some networks also lists initializers as graph inputs, which
        # FINN reads as more than one input; and 1-bit ReLU quantizers as bipolar ones.
        qmodel = ModelWrapper(str(tmp))
        for rewrite in (RemoveStaticGraphInputs(), FixUnsignedBinaryActs()):
            qmodel = qmodel.transform(rewrite, make_deepcopy=False, cleanup=False)
        qmodel.save(str(tmp))
        exported = exported_integer_weights(qmodel)
        if len(exported) != len(plans):
            raise ExportError(
                f"export has {len(exported)} MAC nodes but the model has {len(plans)} layers"
            )
        layers = []
        for plan, (node_name, q) in zip(plans, exported, strict=True):
            row = check_layer(plan, q)
            row["node"] = node_name
            same = np.array_equal(q, brevitas_ints[plan.name])
            row["matches_brevitas"] = bool(same)
            if not same:
                row["ok"] = False
                diff = int(np.abs(q - brevitas_ints[plan.name]).max())
                row["problems"].append(f"exported integers differ from Brevitas' by up to {diff}")
            layers.append(row)
        with torch.no_grad():
            ref = model(data.x_test[: cfg.export.check_samples]).numpy()
        fidelity = check_fidelity(
            ref,
            qmodel,
            data.x_test,
            data.y_test,
            cfg.export.check_samples,
            cfg.export.atol,
            cfg.export.max_mismatch_fraction,
            ds.test_groups,
        )
        report = _conclude(build_dir, tmp, layers, fidelity, t0)
    finally:
        tmp.unlink(missing_ok=True)
        # torch's ONNX exporter may spill initializers into a side file next to the temporary
        # model; the ModelWrapper above has read them in, and model.onnx is self-contained.
        tmp.with_name(tmp.name + ".data").unlink(missing_ok=True)
    return report


def _conclude(build_dir: Path, tmp: Path, layers: list, fidelity: dict, t0: float, advice=""):
    """Write ``export_check.json``; rename ``tmp`` to ``model.onnx`` when every check passed,
    else raise naming each failed layer and what ``advice`` adds."""
    target = artifacts.QONNX.at(build_dir)
    ok = all(r["ok"] for r in layers) and fidelity["ok"]
    report = {
        "ok": ok,
        "model": target.name if ok else None,
        "layers": layers,
        "fidelity": fidelity,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    check = artifacts.EXPORT_CHECK.write(build_dir, report)
    if not ok:
        bad = [f"{r['name']}: {'; '.join(r['problems'])}" for r in layers if not r["ok"]]
        if not fidelity["ok"]:
            bad.append(f"QONNX vs {fidelity['reference']}: {fidelity['summary']}")
        raise ExportError(
            f"export check failed, {target.name} not written (see {check}):\n  "
            + "\n  ".join(bad)
            + advice
        )
    atomic_write_bytes(target, tmp.read_bytes())
    return report


# What a file's layer that breaks the bound it was said to be trained with most likely is.
_SILENT_A2Q = (
    "\n  The file's integer weights break the accumulator bound the config says {layers} "
    "{were} trained with. Brevitas >= 0.12.1's export_qonnx writes the raw float weights of "
    "accumulator-aware layers (Int8AccumulatorAwareWeightQuant and its A2Q+ variants), not the "
    "constrained ones, so a file exported that way has lost the guarantee: write each layer's "
    "quant_weight() back into its weight before exporting "
    "(flow.export.write_back_quant_weights does), or, if the network was not trained with a "
    "bound, set quant.method: baseline."
)


def check_file(cfg: BuildConfig, build_dir: Path) -> dict:
    """The export stage of a build of a QONNX file (``model.source``): its 1-bit ReLU
    quantizers rewritten, its integers checked against the config's targets per layer
    (the file's own layers, :func:`flow.config.layer_plans`) and its outputs against the file
    as given; ``export/model.onnx`` when every check passes."""
    from flow.foreign import read_file, run_file

    t0 = time.perf_counter()
    plans = layer_plans(cfg)
    source = artifacts.SOURCE_QONNX.at(build_dir)
    qmodel = read_file(source, "train/source.onnx")
    layers = []
    for plan, (node_name, q) in zip(plans, exported_integer_weights(qmodel), strict=True):
        row = check_layer(plan, q)
        row["node"] = node_name
        layers.append(row)
    ds = load_data(cfg)
    n = min(cfg.export.check_samples, len(ds.x_test))
    ref = run_file(artifacts.SOURCE_QONNX.read(build_dir), ds.x_test[:n])
    fidelity = check_fidelity(
        ref, qmodel, torch.as_tensor(ds.x_test, dtype=torch.float32), torch.as_tensor(ds.y_test),
        n, cfg.export.atol, cfg.export.max_mismatch_fraction, ds.test_groups, "source",
    )  # fmt: skip
    broken = [r["name"] for r in layers if not r["ok"] and r["method"] in bounds.METHODS]
    advice = (
        _SILENT_A2Q.format(layers=", ".join(broken), were="was" if len(broken) == 1 else "were")
        if broken
        else ""
    )
    target = artifacts.QONNX.at(build_dir)
    tmp = target.with_name(f".{target.name}.tmp")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        qmodel.save(str(tmp))
        return _conclude(build_dir, tmp, layers, fidelity, t0, advice)
    finally:
        tmp.unlink(missing_ok=True)


def check_fidelity(
    ref: np.ndarray,
    qmodel: ModelWrapper,
    x: torch.Tensor,
    y: torch.Tensor,
    n: int,
    atol: float,
    max_fraction: float = 0.0,
    groups: np.ndarray | None = None,
    reference: str = "brevitas",
) -> dict:
    """Run the QONNX model on ``n`` test samples and compare its outputs with ``ref``, those
    of Brevitas (or of the QONNX file as given: ``reference`` names which).

    A sample matches when every output is within ``atol`` and the argmax agrees. Up to
    ``max_fraction`` of the samples (of the output pixels, for images) may differ: an
    activation exactly at a rounding tie can land one level apart in PyTorch (float32) and
    numpy (a whole number of output quanta).
    """
    from qonnx.core.onnx_exec import execute_onnx

    n = min(n, len(x))
    ref = np.asarray(ref)[:n]
    iname = qmodel.graph.input[0].name
    oname = qmodel.graph.output[0].name
    got = np.concatenate(
        [execute_onnx(qmodel, {iname: x[i : i + 1].numpy()})[oname] for i in range(n)]
    )
    yn = y[:n].numpy()
    metric = metric_for(yn)
    err = np.abs(got - ref).reshape(n, -1).max(axis=1)
    # Classifiers must also agree on the class; an image has no argmax to agree on. Top
    # logits equal up to float32 rounding are a tie both sides break alike (lowest index):
    # an undertrained or low-bit head gives them, and a plain argmax picks either (found by
    # tests/test_fuzz.py: 19/20 samples "agreeing" at a max |error| of 4.5e-08).
    agree = (
        tie_aware_argmax(got)[0] == tie_aware_argmax(ref)[0]
        if metric is ACCURACY
        else np.ones(n, dtype=bool)
    )
    off = int(((err > atol) | ~agree).sum())
    res = {
        "samples": n,
        "max_abs_error": float(err.max()),
        "atol": atol,
        "samples_beyond_atol": int((err > atol).sum()),
        "argmax_agreement": int(agree.sum()),
        "mismatched_samples": off,
        "max_mismatch_fraction": max_fraction,
        "metric": metric.key,
        "reference": reference,
        f"{reference}_{metric.key}": score(ref, yn, groups),
        f"qonnx_{metric.key}": score(got, yn, groups),
    }
    if metric is ACCURACY:
        res["ok"] = off <= max_fraction * n
        res["summary"] = (
            f"{n - off}/{n} samples within |error| {atol:g} with the same argmax "
            f"(allowed to differ: {max_fraction:.0%}); max |error| {err.max():.3g}"
        )
    else:
        # An image has thousands of outputs, so one rounding tie anywhere upstream marks a
        # whole sample: images are compared pixel by pixel.
        pixels = int(got.size)
        off_px = int((np.abs(got - ref) > atol).sum())
        res.update(pixels=pixels, mismatched_pixels=off_px)
        res["ok"] = off_px <= max_fraction * pixels
        res["summary"] = (
            f"{pixels - off_px}/{pixels} output pixels within |error| {atol:g} (allowed to "
            f"differ: {max_fraction:.0%}); max |error| {err.max():.3g}"
        )
    return res
