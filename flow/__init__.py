"""a2q-flow: from accumulator-aware quantized training to a synthesized FPGA accelerator.

The Python API (:mod:`flow.api`) and the stage entry points are attributes of this package,
loaded on first use: ``import flow`` imports nothing else (no torch), and this file imports
no ``flow`` module, since every stage's cache key covers the code of the modules it imports
(:func:`flow.sources.code_digest`), this package included.
"""

import importlib

__version__ = "0.1.0"

# Public name -> "module:attribute".
_LAZY = {
    "load_config": "flow.api:load_config",
    "run": "flow.api:run",
    "open_build": "flow.api:open_build",
    "BuildResult": "flow.api:BuildResult",
    "StageResult": "flow.api:StageResult",
    "BuildConfig": "flow.config:BuildConfig",
    "A2QError": "flow.errors:A2QError",
    "ConfigError": "flow.errors:ConfigError",
    # The stage entry points, in pipeline order (flow.pipeline calls them).
    "run_train": "flow.train:run_train",
    "run_export": "flow.export:run_export",
    "run_compile": "flow.compile:run_compile",
    "run_verify": "flow.verify:run_verify",
    "run_hardware": "flow.hardware:run_hardware",
    "run_simulation": "flow.simulate:run_simulation",
    "run_synth_stage": "flow.synthesize:run_synth_stage",
    "render_build_report": "flow.report.build_report:render_build_report",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> object:
    """Load a public name of :data:`_LAZY` on first use (then it is a plain attribute)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'flow' has no attribute {name!r}")
    module, _, attr = _LAZY[name].partition(":")
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
