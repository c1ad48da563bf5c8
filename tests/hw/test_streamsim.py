"""The stream harness itself: caching, cycle limits and protocol errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from flow.errors import HardwareError
from flow.hw.streamsim import simulate_stream, stream_testbench
from flow.hw.templates import template_paths

# The label_select build of test_label_select's default config: one output per 5 words.
PARAMS = {"NUM_LABELS": 10, "PE": 2, "IN_WIDTH": 8, "IN_SIGNED": 1}
FRAME = [0x0102, 0x0304, 0x0905, 0x0706, 0x0008]  # labels 0..9, the largest is label 5


def test_build_is_cached_and_runs_repeat(simulate) -> None:
    first = simulate("label_select", PARAMS, 16, 4, FRAME * 3, 3)
    again = simulate("label_select", PARAMS, 16, 4, FRAME, 1, stall_seed=9)
    assert first.outputs == [5, 5, 5] and again.outputs == [5]
    assert again.build_seconds == 0.0


def test_missing_outputs_hit_the_cycle_limit(simulate) -> None:
    with pytest.raises(HardwareError, match="delivered 2 of 3 output words within 200 cycles"):
        simulate("label_select", PARAMS, 16, 4, FRAME * 2, 3, max_cycles=200)


def test_surplus_outputs_are_an_error(simulate) -> None:
    with pytest.raises(HardwareError, match="delivered 1 more output words than the 1 expected"):
        simulate("label_select", PARAMS, 16, 4, FRAME * 2, 1)


def test_inputs_are_checked_before_building(tmp_path: Path) -> None:
    with pytest.raises(HardwareError, match="input word 1 = 65536 does not fit 16 bits"):
        simulate_stream(
            template_paths("label_select"),
            "label_select",
            PARAMS,
            16,
            4,
            [0, 1 << 16],
            1,
            tmp_path,
        )


def test_testbench_rejects_bad_parameters() -> None:
    with pytest.raises(HardwareError, match="parameter name 'A B' is not"):
        stream_testbench("fifo", {"A B": 1}, 8, 8)
    with pytest.raises(HardwareError, match="parameter F must be an int, bool, str or Path"):
        stream_testbench("fifo", {"F": 1.5}, 8, 8)  # type: ignore[dict-item]
    assert '.WEIGHT_FILE("w.mem")' in stream_testbench("mvau", {"WEIGHT_FILE": "w.mem"}, 8, 8)


def test_relative_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `a2q run` builds under a relative build/ folder; the simulator runs in its own folder.
    monkeypatch.chdir(tmp_path)
    res = simulate_stream(
        template_paths("label_select"), "label_select", PARAMS, 16, 4, FRAME, 1, Path("rel")
    )
    assert res.outputs == [5]
