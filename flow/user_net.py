"""Your own Brevitas network as a build's model (``model.source: python:MODULE:FUNCTION``).

``FUNCTION`` (no arguments) returns a ``torch.nn.Module`` built from Brevitas layers:
``QuantLinear`` / ``QuantConv2d`` MAC layers whose inputs come from quantizers returning
QuantTensors (``QuantIdentity`` / ``QuantReLU`` with ``return_quant_tensor=True``). Its MAC
layers are found by running it once on a zero input of the dataset's shape: their names
(module paths, ``features.0`` -> ``features_0``), shapes, input bits and signedness, weight
bits, and, with ``model.quantizers: given``, the method and P of an accumulator-aware
quantizer the user chose. With ``config`` the train stage gives each MAC layer the weight
quantizer the config asks (:func:`flow.models.build_model`).

``MODULE`` is a module importable from the working directory (``mypkg.nets``) or a ``.py``
file (``nets/my_net.py``). Imports torch and Brevitas; :mod:`flow.config` reads the layers
through here, so this module imports no config.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
from pathlib import Path

from flow.archs import MacSpec
from flow.errors import ConfigError
from flow.foreign import FileLayer, layer_names

SCHEME = "python:"
# Brevitas' accumulator-aware weight quantizers -> a2q-flow's method names.
_METHODS = {  # the more special first: the zero-centred one derives from the other
    "AccumulatorAwareZeroCenterWeightQuant": "a2q_plus",
    "AccumulatorAwareWeightQuant": "a2q",
}


def parse(source: str) -> tuple[str, str]:
    """(module or file, function) of a ``python:MODULE:FUNCTION`` source."""
    body = source[len(SCHEME) :] if source.startswith(SCHEME) else ""
    module, sep, func = body.rpartition(":")
    if not sep or not module or not func.isidentifier():
        raise ConfigError(
            f"model.source: {source!r} is not a model source; allowed: "
            "'python:MODULE:FUNCTION' (e.g. python:mypkg.nets:build_net or "
            "python:nets.py:build_net), 'onnx:PATH', or leave it out to build model.arch"
        )
    return module, func


def module_file(source: str) -> Path:
    """The Python file of the source's module (without running it)."""
    module, _ = parse(source)
    if module.endswith(".py"):
        path = Path(module)
        if not path.is_file():
            raise ConfigError(f"model.source: {path}: no such file")
        return path
    _on_path()
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as e:
        spec, why = None, f" ({e})"
    else:
        why = ""
    if spec is None or not spec.origin or not Path(spec.origin).is_file():
        raise ConfigError(
            f"model.source: cannot find module {module!r}{why}; give a module importable from "
            "the working directory or a .py file"
        )
    return Path(spec.origin)


def source_files(source: str) -> dict[str, Path]:
    """The Python files the source's network may be built from, for the cache key, by their
    path below the folder they are looked up in: the whole top-level package the module is
    in (``mypkg.nets`` -> every ``.py`` under ``mypkg/``), or the ``.py`` files beside a
    module that is in no package."""
    main = module_file(source).resolve()
    root = main.parent
    while (root / "__init__.py").is_file() and (root.parent / "__init__.py").is_file():
        root = root.parent
    if (root / "__init__.py").is_file():
        files, base = root.rglob("*.py"), root.parent
    else:
        files, base = root.glob("*.py"), root
    return {p.relative_to(base).as_posix(): p for p in sorted(files)}


def _on_path() -> None:
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))


def build_net(source: str):
    """Call the source's function and return the network; errors name what was wrong."""
    import torch

    module, func = parse(source)
    mod = _import(source)
    fn = getattr(mod, func, None)
    if not callable(fn):
        have = [n for n in dir(mod) if callable(getattr(mod, n)) and not n.startswith("_")]
        raise ConfigError(
            f"model.source: {module} has no function {func!r}; it has {', '.join(have[:12])}"
        )
    try:
        net = fn()
    except Exception as e:  # noqa: BLE001 - the user's code: name it, with its error
        raise ConfigError(
            f"model.source: {module}:{func}() raised {type(e).__name__}: {e}"
        ) from None
    if not isinstance(net, torch.nn.Module):
        raise ConfigError(
            f"model.source: {module}:{func}() returned {type(net).__name__}, not a torch.nn.Module"
        )
    return net


def _import(source: str):
    module, _ = parse(source)
    if module.endswith(".py"):
        path = module_file(source)
        name = f"a2q_user_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mod)
        except Exception as e:  # noqa: BLE001 - the user's code
            raise ConfigError(f"model.source: importing {path} raised {e!r}") from None
        return mod
    _on_path()
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ConfigError(
            f"model.source: cannot import {module!r} ({e}); give a module importable from "
            "the working directory or a .py file"
        ) from None


def mac_modules(net) -> dict[str, object]:
    """The MAC layers of a network by layer name (:func:`flow.foreign.layer_names` of their
    module paths, as a QONNX export of the same network names them)."""
    from brevitas.nn import QuantConv2d, QuantLinear

    macs = {p: m for p, m in net.named_modules() if isinstance(m, QuantLinear | QuantConv2d)}
    return dict(zip(layer_names(list(macs)), macs.values(), strict=True))


def net_layers(source: str, shape: tuple[int, int, int]) -> list[FileLayer]:
    """The MAC layers of the source's network, traced on a zero input of ``shape`` (C, H,
    W). Cached per source and shape (the module's code is imported once per process)."""
    return _net_layers(source, tuple(shape))


@functools.lru_cache(maxsize=8)
def _net_layers(source: str, shape: tuple) -> list[FileLayer]:
    import torch

    net = build_net(source)
    layers = mac_modules(net)
    if not layers:
        raise ConfigError(
            f"model.source: {source} has no Brevitas QuantLinear or QuantConv2d layer; "
            "a2q-flow builds the MAC layers of a Brevitas network"
        )
    seen: dict[str, tuple] = {}
    hooks = [
        m.register_forward_pre_hook(lambda _m, inp, n=n: seen.setdefault(n, (inp[0],)))
        for n, m in layers.items()
    ]
    net.eval()
    try:
        with torch.no_grad():
            net(torch.zeros(1, *shape))
    except Exception as e:  # noqa: BLE001 - the user's forward
        raise ConfigError(
            f"model.source: {source}: the network fails on a {shape} input of the dataset's "
            f"shape (C, H, W): {type(e).__name__}: {e}"
        ) from None
    finally:
        for h in hooks:
            h.remove()
    order = [*seen, *(n for n in layers if n not in seen)]  # forward order; unused ones refused
    return [_layer(source, name, layers[name], seen.get(name)) for name in order]


def _layer(source: str, name: str, m, seen) -> FileLayer:
    from brevitas.nn import QuantConv2d

    if seen is None:
        raise ConfigError(f"model.source: {source}: layer {name} is never called in forward")
    x = seen[0]
    bits, signed = getattr(x, "bit_width", None), getattr(x, "signed", None)
    if bits is None:
        raise ConfigError(
            f"model.source: {source}: the input of layer {name} is a float tensor, so its "
            "integers are unknown; put a quantizer returning a QuantTensor before it "
            "(QuantIdentity or QuantReLU with return_quant_tensor=True)"
        )
    injector = m.weight_quant.quant_injector
    bases = [c.__name__ for c in getattr(injector, "__mro__", ())]
    method = next((v for k, v in _METHODS.items() if any(b.endswith(k) for b in bases)), None)
    acc = injector.accumulator_bit_width if method else None
    wbits = int(injector.bit_width)
    if isinstance(m, QuantConv2d):
        k, s, p, g = m.kernel_size, m.stride, m.padding, m.groups
        if len({*k}) != 1 or len({*s}) != 1 or len({*p}) != 1 or isinstance(p, str):
            raise ConfigError(
                f"model.source: {source}: conv {name} has kernel {k}, stride {s}, padding {p}; "
                "allowed: square kernels with equal strides and padding on every side"
            )
        depthwise = g == m.in_channels and g > 1
        if g not in (1, m.in_channels):
            raise ConfigError(
                f"model.source: {source}: conv {name} has groups={g}; allowed: 1 or "
                f"{m.in_channels} (depthwise)"
            )
        spec = MacSpec(name, "depthwise" if depthwise else "conv", m.in_channels,
                       m.out_channels, kernel=k[0], stride=s[0], padding=p[0],
                       in_size=int(x.shape[-1]))  # fmt: skip
    else:
        spec = MacSpec(name, "linear", m.in_features, m.out_features)
    return FileLayer(
        spec, name, int(bits), bool(signed), wbits, method=method or "baseline",
        acc_bits=int(acc) if method and acc is not None else None,
    )  # fmt: skip
