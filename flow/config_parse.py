"""Plain YAML data to typed frozen dataclasses, strictly.

Unknown keys are errors (with a did-you-mean), values must have their field's type (unions,
literals, lists, mappings and nested dataclasses included) and numbers lie in the range the
caller gives for their key path; every error names the key path and what is allowed.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Callable
from typing import Any, Literal

from flow.errors import ConfigError

# The inclusive (min, max) of the number at a key path, or None for any value.
RangeOf = Callable[[str], tuple[float, float] | None]


def type_name(tp: Any) -> str:
    """How an error message names type ``tp`` (``an integer``, ``one of 'a', 'b'``)."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (types.UnionType, typing.Union):
        return " or ".join(type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return "a mapping"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        tp, str(tp)
    )


def _convert(value: Any, tp: Any, path: str, ranges: RangeOf) -> Any:
    """Convert a YAML value to ``tp``; raise ConfigError naming ``path`` on mismatch."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, path, ranges)
            except ConfigError:
                pass
        raise ConfigError(f"{path}: must be {type_name(tp)}, not {value!r}")
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            hint = suggest(str(value), [str(a) for a in allowed])
            raise ConfigError(
                f"{path}: must be one of {', '.join(map(repr, allowed))}, not {value!r}{hint}"
            )
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{path}: must be {type_name(tp)}, not {value!r}")
        (inner,) = typing.get_args(tp)
        return [_convert(v, inner, f"{path}[{i}]", ranges) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: must be a mapping, not {value!r}")
        _, inner = typing.get_args(tp)
        return {str(k): _convert(v, inner, f"{path}.{k}", ranges) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return build(tp, value, ranges, path)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: must be true or false, not {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: must be an integer, not {value!r}")
        return _check_range(value, path, ranges)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: must be a number, not {value!r}")
        return _check_range(float(value), path, ranges)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: must be a string, not {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp!r} at {path}")  # a bug: a field type not handled


def _check_range(value: float, path: str, ranges: RangeOf) -> float:
    rng = ranges(path)
    if rng is not None and not rng[0] <= value <= rng[1]:
        lo, hi = rng
        raise ConfigError(f"{path}: must be in {lo:g}..{hi:g}, not {value!r}")
    return value


def suggest(word: str, candidates: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the candidate closest to ``word``, or nothing."""
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def build(cls: type, data: Any, ranges: RangeOf, path: str = "") -> Any:
    """Dataclass ``cls`` from the mapping ``data``, every field converted to its type.

    An unknown key (with a did-you-mean), a missing required key, a value of the wrong type or
    outside ``ranges(key path)`` is a :class:`ConfigError` naming the key path under ``path``.
    """
    if not isinstance(data, dict):
        where = path or "the config file"
        raise ConfigError(f"{where}: must be a mapping of keys, not {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        sub = f"{path}.{key}" if path else str(key)
        if key not in fields:
            hint = suggest(str(key), list(fields))
            allowed = ", ".join(fields)
            raise ConfigError(f"{sub}: unknown key{hint}; allowed keys here: {allowed}")
        kwargs[key] = _convert(value, hints[key], sub, ranges)
    missing = [
        n
        for n, f in fields.items()
        if n not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        where = f"{path}." if path else ""
        raise ConfigError(f"{where}{missing[0]}: required key is missing")
    return cls(**kwargs)
