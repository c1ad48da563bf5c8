"""Simulation stage: the stitched accelerator in Verilator, bit-exact against the HW graph.

Test frames go through ``a2q_top`` (once back to back, once with random stalls); its outputs
are compared with FINN's Python execution of ``hw.onnx``, with our integer model of it and
with the QONNX model. Throughput comes from the cycle counts of 1 and of N frames. Then the
worst-case inputs of every MVAU and VVAU channel are driven through that node's RTL alone
and must give the exact dot products. Writes ``sim.json``.
"""

from __future__ import annotations

import logging
import resource
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from flow import artifacts, ops
from flow.config import BuildConfig
from flow.data.loading import load_data
from flow.errors import HardwareError
from flow.executor import IntegerGraph, execute_finn, graph_input, image_nchw, tie_aware_argmax
from flow.hw.memfiles import pack_words, unpack_words
from flow.hw.streamsim import simulate_stream
from flow.metrics import PSNR, metric_for, score
from flow.passes import hw_layer_summary

log = logging.getLogger(__name__)


def pack_frames(x: np.ndarray, spec: dict) -> list[int]:
    """Input stream words for a batch of integer frames (flattened, element 0 first)."""
    flat = np.asarray(x, dtype=np.int64).reshape(len(x), -1)
    per = spec["elems_per_word"]
    if flat.shape[1] % per:
        raise HardwareError(
            f"frame of {flat.shape[1]} values is not a whole number of {per}-element input words"
        )
    return pack_words(flat.reshape(-1), spec["elem_bits"], per, signed=spec["signed"])


def unpack_frames(words: list[int], frames: int, spec: dict) -> np.ndarray:
    """Output stream words back to one row of values per frame."""
    values = unpack_words(words, spec["elem_bits"], spec["elems_per_word"], signed=spec["signed"])
    return np.asarray(values, dtype=np.int64).reshape(frames, -1)


def _top_sim(
    hw_dir: Path, plan: dict, words: list[int], n_out: int, workdir: Path, stall_seed: int | None
):
    sources = [hw_dir / s for s in plan["top_sources"]]
    mems = {m: (hw_dir / m).read_text() for n in plan["nodes"] for m in n["mem_files"]}
    return simulate_stream(
        sources,
        plan["top"],
        {},
        plan["input"]["word_bits"],
        plan["output"]["word_bits"],
        words,
        n_out,
        workdir,
        stall_seed=stall_seed,
        run_files=mems,
    )


def worst_case_rtl(hw_dir: Path, plan: dict, summary: dict[str, dict], workdir: Path) -> dict:
    """Drive each MAC node's per-channel worst-case inputs through its RTL; count mismatches."""
    out = {}
    for node in plan["nodes"]:
        op = ops.get(node["op_type"], node=node["name"], error=HardwareError)
        if not op.is_mac:
            continue
        e, p = summary[node["name"]], node["params"]
        values, expected, in_per = op.worst_case_stimulus(p, e)
        pe = p["PE"]
        words = pack_words(values, p["IN_WIDTH"], in_per, signed=bool(p["IN_SIGNED"]))
        n_out = expected.size // pe
        res = simulate_stream(
            [hw_dir / s for s in node["sources"]],
            node["name"],
            {},
            node["in_width"],
            node["out_width"],
            words,
            n_out,
            workdir,
            run_files={m: (hw_dir / m).read_text() for m in node["mem_files"]},
        )
        got = np.asarray(
            unpack_words(res.outputs, p["ACC_WIDTH"], pe, signed=True), dtype=np.int64
        ).reshape(len(expected), -1)
        out[node["name"]] = {
            "vectors": int(len(expected)),
            "acc_bits": p["ACC_WIDTH"],
            "extremes": [int(expected.min()), int(expected.max())],
            "mismatches": int((got != expected).sum()),
        }
    return out


def _reference_outputs(
    build_dir: Path, hw_model: ModelWrapper, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """FINN's outputs of the HW graph and of the QONNX model for ``x`` (the first test inputs):
    the verify stage's, when it ran on at least as many, else executed here."""
    saved = artifacts.VERIFY_OUTPUTS.load(build_dir)
    if saved is not None and len(saved["hw"]) >= len(x):
        return saved["hw"][: len(x)], saved["qonnx"][: len(x)]
    qonnx = artifacts.QONNX.read(build_dir)
    return execute_finn(hw_model, x), execute_finn(qonnx, x)


def run_simulation(cfg: BuildConfig, build_dir: Path) -> dict:
    """The simulation stage for the ``exact`` variant; writes ``sim/sim.json``."""
    t0 = time.perf_counter()
    plan = artifacts.plan_artifact("exact").read(build_dir)
    hw_dir = artifacts.hardware_dir(build_dir, "exact")
    hw_model = artifacts.HW_ONNX.read(build_dir)
    summary = hw_layer_summary(hw_model)
    ds = load_data(cfg)
    frames = min(cfg.hardware.sim_frames, len(ds.x_test))
    x, y = ds.x_test[:frames], ds.y_test[:frames]
    work = artifacts.SIM.at(build_dir).parent / "verilator"

    shape = hw_model.get_tensor_shape(hw_model.graph.input[0].name)
    words = pack_frames(graph_input(x, shape), plan["input"])
    ref_hw, qonnx = _reference_outputs(build_dir, hw_model, x)
    ref_int = IntegerGraph(summary).run(x).outputs
    per_frame_out = ref_int.reshape(frames, -1).shape[1] // plan["output"]["elems_per_word"]
    # Each MAC node's worst-case testbench builds and runs on the second core while the
    # stitched top's simulator compiles (one g++ each).
    log.info(
        "sim: %d frames through the stitched top%s; worst-case vectors through each MAC node",
        frames,
        " (back to back, then with random stalls)" if cfg.hardware.sim_stalls else "",
    )
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="worst-case") as pool:
        worst_future = pool.submit(worst_case_rtl, hw_dir, plan, summary, work)
        one = _top_sim(hw_dir, plan, words[: len(words) // frames], per_frame_out, work, None)
        if one.build_seconds:
            log.info("sim: Verilator built the stitched top in %.1f s", one.build_seconds)
        full = _top_sim(hw_dir, plan, words, per_frame_out * frames, work, None)
        got = unpack_frames(full.outputs, frames, plan["output"])
        runs = {"back_to_back": got}
        if cfg.hardware.sim_stalls:
            stalled = _top_sim(hw_dir, plan, words, per_frame_out * frames, work, cfg.seed + 1)
            runs["random_stalls"] = unpack_frames(stalled.outputs, frames, plan["output"])
        worst = worst_future.result()

    mismatch = {
        name: int((out != ref_hw.reshape(frames, -1)).any(axis=1).sum())
        for name, out in runs.items()
    }
    vs_int = int((got != ref_int.reshape(frames, -1)).any(axis=1).sum())
    metric = metric_for(y)
    if metric is PSNR:  # an image, channels-last from the accelerator
        out = image_nchw(got, hw_model.get_tensor_shape(hw_model.graph.output[0].name))
        vs_qonnx = int((out.reshape(frames, -1) != qonnx.reshape(frames, -1)).any(axis=1).sum())
    else:
        label_out = plan["nodes"][-1]["op_type"] == "LabelSelect"
        out = got.reshape(-1) if label_out else got.argmax(1)
        vs_qonnx = int((out != tie_aware_argmax(qonnx)[0]).sum())
    cycles_per_frame = (full.cycles - one.cycles) / max(1, frames - 1)
    clock_hz = cfg.compile.clock_mhz * 1e6
    result = {
        "frames": frames,
        "mismatches": sum(mismatch.values()),
        "mismatches_by_run": mismatch,
        "mismatches_vs_integer_model": vs_int,
        # Class (argmax) or every pixel, as the metric compares them.
        "mismatches_vs_qonnx": vs_qonnx,
        "bit_exact": sum(mismatch.values()) == 0 and vs_int == 0,
        "metric": metric.key,
        metric.key: score(out, y, ds.test_groups),
        "latency_cycles": one.cycles,
        "cycles_per_frame": cycles_per_frame,
        "clock_mhz": cfg.compile.clock_mhz,
        "fps": clock_hz / cycles_per_frame if cycles_per_frame else None,
        "worst_case_rtl": worst,
        "worst_case_ok": all(w["mismatches"] == 0 for w in worst.values()),
        "build_seconds": round(one.build_seconds, 2),
        "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    path = artifacts.SIM.write(build_dir, result)
    if not (result["bit_exact"] and result["worst_case_ok"]):
        raise HardwareError(
            f"simulation is not bit-exact: {result['mismatches']} frame mismatches vs FINN's "
            f"execution, {vs_int} vs the integer model, worst-case RTL "
            f"{ {k: v['mismatches'] for k, v in worst.items()} } (see {path})"
        )
    return result
