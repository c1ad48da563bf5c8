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
from pathlib import Path
from typing import Any, Literal

import yaml

from flow.errors import ConfigError


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error (plain
    YAML keeps the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                line = key_node.start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (line {line}); give each key once"
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _StrictLoader.construct_mapping
)


def parse_yaml(text: str, source: str) -> Any:
    """``text`` parsed as YAML, strictly (duplicate keys are errors); a :class:`ConfigError`
    naming ``source`` and the line when it is not valid YAML."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: not valid YAML: {_yaml_message(e)}") from None


def _yaml_message(e: yaml.YAMLError) -> str:
    if isinstance(e, yaml.MarkedYAMLError) and e.problem:
        mark = e.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        return f"{e.problem}{where}"
    return str(e).replace("\n", " ")


def read_yaml_file(path: Path, what: str) -> Any:
    """The YAML document of a ``what`` file (``config file``, ``sweep file``), strictly; a
    missing, unreadable or empty file is a :class:`ConfigError` naming it."""
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, not a {what}")
    if not path.is_file():
        raise ConfigError(f"{path}: {what} does not exist")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the {what}: {e}") from None
    data = parse_yaml(text, str(path))
    if data is None:
        raise ConfigError(f"{path}: the {what} is empty (or only comments)")
    return data


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


class _RangeError(ConfigError):
    """A number of the right type outside its key's range."""

    def __init__(self, path: str, lo: float, hi: float, value: Any, nullable: bool = False):
        self.path, self.lo, self.hi, self.value = path, lo, hi, value
        null = " or null" if nullable else ""
        super().__init__(f"{path}: must be in {lo:g}..{hi:g}{null}, not {value!r}")


class Problems(ConfigError):
    """Several config errors found in one pass, reported together."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} problems:\n{lines}")


def problems_of(e: ConfigError) -> list[str]:
    """The single messages an error holds (one, or each of a :class:`Problems`)."""
    return e.problems if isinstance(e, Problems) else [str(e)]


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
            except _RangeError as e:  # the type was right: the range is the problem
                raise _RangeError(e.path, e.lo, e.hi, e.value, type(None) in args) from None
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
        raise _RangeError(path, rng[0], rng[1], value)
    return value


def suggest(word: str, candidates: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the candidate closest to ``word``, or nothing."""
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def build(cls: type, data: Any, ranges: RangeOf, path: str = "") -> Any:
    """Dataclass ``cls`` from the mapping ``data``, every field converted to its type.

    An unknown key (with a did-you-mean), a missing required key, a value of the wrong type or
    outside ``ranges(key path)`` is a :class:`ConfigError` naming the key path under ``path``;
    all of them are reported at once (a :class:`Problems` when there are several).
    """
    if not isinstance(data, dict):
        where = path or "the config file"
        raise ConfigError(f"{where}: must be a mapping of keys, not {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs, problems = {}, []
    for key, value in data.items():
        sub = f"{path}.{key}" if path else str(key)
        if key not in fields:
            hint = suggest(str(key), list(fields))
            allowed = ", ".join(fields)
            problems.append(f"{sub}: unknown key{hint}; allowed keys here: {allowed}")
            continue
        try:
            kwargs[key] = _convert(value, hints[key], sub, ranges)
        except ConfigError as e:
            problems.extend(problems_of(e))
    missing = [
        n
        for n, f in fields.items()
        if n not in data
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    where = f"{path}." if path else ""
    problems += [f"{where}{n}: required key is missing" for n in missing]
    if len(problems) == 1:
        raise ConfigError(problems[0])
    if problems:
        raise Problems(problems)
    return cls(**kwargs)
