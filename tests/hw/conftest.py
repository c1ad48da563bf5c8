"""Shared fixtures of the hardware tests: template paths and a persistent simulator cache."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from flow.hw.streamsim import ParamValue, SimResult, simulate_stream
from flow.hw.templates import template_paths


@pytest.fixture(scope="session")
def sim_workdir(request: pytest.FixtureRequest) -> Path:
    """Simulator build cache, kept across test sessions in pytest's cache directory."""
    return Path(request.config.cache.mkdir("a2q_hw_sim"))


SimulateFn = Callable[..., SimResult]


@pytest.fixture
def simulate(sim_workdir: Path) -> SimulateFn:
    """``simulate(template, params, in_width, out_width, inputs, n_outputs, **kw)``."""

    def run(
        template: str,
        params: Mapping[str, ParamValue],
        in_width: int,
        out_width: int,
        inputs: list[int],
        n_outputs: int,
        **kwargs: object,
    ) -> SimResult:
        return simulate_stream(
            template_paths(template),
            template,
            params,
            in_width,
            out_width,
            inputs,
            n_outputs,
            sim_workdir,
            **kwargs,
        )

    return run
