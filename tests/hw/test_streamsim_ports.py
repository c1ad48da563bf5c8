"""The multi-stream harness (simulate_ports): port checks, stall settings, per-port errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from flow.errors import HardwareError
from flow.hw.streamsim import _stall_fraction, ports_testbench, simulate_ports, stream_testbench
from flow.hw.templates import template_paths

from .refmodels_conv2 import simulate_templates

ADD = {"PE": 1, "IN0_WIDTH": 4, "IN1_WIDTH": 4, "OUT_WIDTH": 5}


def add(workdir: Path, a: list[int], b: list[int], n_out: int, **kwargs):
    return simulate_templates(
        workdir, "add_streams", ADD, {"in0": (4, a), "in1": (4, b)}, {"out": (5, n_out)}, **kwargs
    )


def test_testbench_names_every_port() -> None:
    tb = ports_testbench("add_streams", ADD, {"in0": 4, "in1": 4}, {"out": 5})
    for port in ("in0", "in1", "out"):
        for sig in ("valid", "ready", "data"):
            assert f".{port}_{sig}(" in tb
    assert "logic [4:0] o0_data;" in tb
    # The one-stream testbench is the same generator with ports in and out.
    assert stream_testbench("fifo", {}, 8, 8) == ports_testbench("fifo", {}, {"in": 8}, {"out": 8})


@pytest.mark.parametrize(
    ("inputs", "outputs", "message"),
    [
        ({}, {"out": 1}, "at least one input stream"),
        ({"in": 1}, {}, "at least one output stream"),
        ({"in x": 1}, {"out": 1}, "port prefix 'in x' is not"),
        ({"in": 0}, {"out": 1}, "width of port 'in' must be a positive integer"),
        ({"a": 1}, {"a": 1}, r"port prefixes \['a'\] are both inputs and outputs"),
    ],
)
def test_testbench_rejects_bad_ports(inputs, outputs, message: str) -> None:
    with pytest.raises(HardwareError, match=message):
        ports_testbench("add_streams", {}, inputs, outputs)


def test_stall_probabilities() -> None:
    assert _stall_fraction("in", 0.25) == (2, 1)  # the one-stream harness's input gaps
    assert _stall_fraction("out", 0.375) == (3, 3)  # and its output back-pressure
    assert _stall_fraction("x", 0.0) == (1, 0)
    assert _stall_fraction("x", 0.9) == (16, 58982)
    with pytest.raises(HardwareError, match="stall probability of port 'x' must be in"):
        _stall_fraction("x", 1.0)


def test_stall_settings_are_checked(tmp_path: Path) -> None:
    src = template_paths("add_streams")
    ins = {"in0": (4, [1]), "in1": (4, [2])}
    with pytest.raises(HardwareError, match="per-port stalls need a stall_seed"):
        simulate_ports(src, "add_streams", ADD, ins, {"out": (5, 1)}, tmp_path, stalls={"out": 0})
    with pytest.raises(HardwareError, match=r"stalls name unknown ports \['in2'\]"):
        simulate_ports(
            src, "add_streams", ADD, ins, {"out": (5, 1)}, tmp_path, stall_seed=1, stalls={"in2": 0}
        )
    with pytest.raises(HardwareError, match="input word 0 of in1 = 16 does not fit 4 bits"):
        simulate_ports(
            src, "add_streams", ADD, {**ins, "in1": (4, [16])}, {"out": (5, 1)}, tmp_path
        )


def test_per_port_errors(sim_workdir: Path) -> None:
    a, b = [1, 2, 3], [4, 5, 6]
    assert add(sim_workdir, a, b, 3).outputs == {"out": [5, 7, 9]}
    with pytest.raises(HardwareError, match="delivered 1 more output words than the 2 expected on"):
        add(sim_workdir, a, b, 2)
    with pytest.raises(HardwareError, match="delivered output words out: 3 of 4 within 300 cycles"):
        add(sim_workdir, a, b, 4, max_cycles=300)
    # add_streams buffers 2 words of the input that runs ahead, then stops taking it.
    with pytest.raises(HardwareError, match="consumed only 5 of 6 in0 input words"):
        add(sim_workdir, a + [0, 0, 0], b, 3)
