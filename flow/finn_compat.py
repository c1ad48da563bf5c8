"""Every finn-plus (1.6.1) work-around of a2q-flow, and the only place FINN is imported from.

FINN is driven offline, without Vivado, Vitis or finn-hlslib:

- ``finn.builder`` is never imported: it imports Vivado's simulator bindings when loaded and
  asks for ``XILINX_VIVADO`` at its end. We replicate the builder steps we need instead.
- FINN refuses to run most transformations before a global settings object exists
  (``FINNUserError: Could not find global settings``). ``initialize_dummy_settings()`` would
  read ``~/.finn/settings.yaml`` (creating ``~/.finn``), resolve the build directory against
  the current working directory and export ``FINN_*`` environment variables. ``init_finn``
  builds the same settings object from a settings path that does not exist (so defaults are
  used) and an explicit build directory, without touching the environment.
- Importing FINN's transformations takes ~3 s (``finn.custom_op.fpgadataflow`` imports torch),
  so the imports are lazy: call :func:`finn_api` when a FINN step actually runs.
- Import paths: HW-layer conversion lives in the package
  ``finn.transformation.fpgadataflow.convert_to_hw`` (one module per layer kind), not in a
  ``convert_to_hw_layers`` module as in upstream FINN.
- Specialized nodes (``MVAU_hls``/``MVAU_rtl``, ``Thresholding_rtl``...) cannot be executed in
  Python (their ``execute_node`` needs cppsim/rtlsim), while ``SetFolding``, ``AnnotateCycles``,
  ``res_estimation``, ``exp_cycles_per_layer`` and ``dataflow_performance`` skip unspecialized
  nodes. The flow therefore keeps the abstract HW graph (``MVAU``, ``Thresholding``,
  ``LabelSelect``) as its result and specializes a copy only for folding and estimates.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

_SETTINGS_FILE_NAME = "finn_settings_unused.yaml"
_FLOW_CONFIG_NAME = "flow_config_unused.yaml"


def init_finn(build_dir: Path) -> None:
    """Create FINN's global settings with ``build_dir`` as its build directory.

    Idempotent for the same directory; calling it again with another directory switches the
    build directory. ``build_dir`` is created if missing (FINN checks it exists before any
    code generation).
    """
    import finn.util.settings as finn_settings
    from finn.interface.settings import FINNSettings

    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    current = finn_settings._SETTINGS
    if current is not None and current.finn_build_dir == build_dir:
        return
    # A settings path that never exists: FINN then uses its defaults instead of a user's
    # ~/.finn/settings.yaml, which would be a hidden input to the build. FINN's default
    # build dir is the relative "FINN_TMP", which it cannot even serialise without a flow
    # config path to resolve it against, so one (never read) is given as well.
    settings = FINNSettings.init(
        override_settings_path=build_dir / _SETTINGS_FILE_NAME,
        flow_config=build_dir / _FLOW_CONFIG_NAME,
        finn_build_dir=str(build_dir),
        auto_set_environment_vars=False,
    )
    # finn.util.settings only offers initialize_dummy_settings() (see module docstring), so
    # the module-level instance that get_settings() returns is set directly.
    finn_settings._SETTINGS = settings


@dataclass(frozen=True)
class FinnApi:
    """The FINN transformations and analyses a2q-flow uses, imported once."""

    ConvertQONNXtoFINN: type
    Streamline: type
    absorb: ModuleType
    reorder: ModuleType
    # Every Infer* transformation of finn.transformation.fpgadataflow.convert_to_hw.
    to_hw: SimpleNamespace
    RemoveCNVtoFCFlatten: type
    MinimizeWeightBitWidth: type
    MinimizeAccumulatorWidth: type
    SpecializeLayers: type
    SetFolding: type
    AnnotateCycles: type
    res_estimation: Any
    exp_cycles_per_layer: Any
    dataflow_performance: Any
    aggregate_dict_keys: Any


@functools.cache
def finn_api() -> FinnApi:
    """Import and return the FINN API. Call :func:`init_finn` before running any of it."""
    import finn.transformation.fpgadataflow.convert_to_hw as convert_to_hw
    import finn.transformation.streamline.absorb as absorb
    import finn.transformation.streamline.reorder as reorder
    from finn.analysis.fpgadataflow.dataflow_performance import dataflow_performance
    from finn.analysis.fpgadataflow.exp_cycles_per_layer import exp_cycles_per_layer
    from finn.analysis.fpgadataflow.op_and_param_counts import aggregate_dict_keys
    from finn.analysis.fpgadataflow.res_estimation import res_estimation
    from finn.transformation.fpgadataflow.annotate_cycles import AnnotateCycles
    from finn.transformation.fpgadataflow.minimize_accumulator_width import (
        MinimizeAccumulatorWidth,
    )
    from finn.transformation.fpgadataflow.minimize_weight_bit_width import (
        MinimizeWeightBitWidth,
    )
    from finn.transformation.fpgadataflow.set_folding import SetFolding
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
    from finn.transformation.move_reshape import RemoveCNVtoFCFlatten
    from finn.transformation.qonnx.convert_qonnx_to_finn import ConvertQONNXtoFINN
    from finn.transformation.streamline import Streamline

    to_hw = SimpleNamespace()
    for info in pkgutil.iter_modules(convert_to_hw.__path__):
        module = importlib.import_module(f"{convert_to_hw.__name__}.{info.name}")
        for name, value in vars(module).items():
            if name.startswith("Infer") and isinstance(value, type):
                setattr(to_hw, name, value)
    return FinnApi(
        ConvertQONNXtoFINN=ConvertQONNXtoFINN,
        Streamline=Streamline,
        absorb=absorb,
        reorder=reorder,
        to_hw=to_hw,
        RemoveCNVtoFCFlatten=RemoveCNVtoFCFlatten,
        MinimizeWeightBitWidth=MinimizeWeightBitWidth,
        MinimizeAccumulatorWidth=MinimizeAccumulatorWidth,
        SpecializeLayers=SpecializeLayers,
        SetFolding=SetFolding,
        AnnotateCycles=AnnotateCycles,
        res_estimation=res_estimation,
        exp_cycles_per_layer=exp_cycles_per_layer,
        dataflow_performance=dataflow_performance,
        aggregate_dict_keys=aggregate_dict_keys,
    )
