"""The hardware ops, one module each, registered in one place.

Every module of this package that defines ``OP`` (an instance of :class:`flow.ops.base.HwOp`)
is registered when the package is imported; an op defined elsewhere (a test, a plugin) is
added with :func:`register`. Compile, the layer summary, the integer executor and the
hardware stage loop over this registry, so a new op is one module, its template and its test.
"""

from __future__ import annotations

import importlib
import pkgutil

from flow.errors import A2QError
from flow.ops.base import HwOp

OPS: dict[str, HwOp] = {}
# FINN's specialized node types (MVAU_hls, Thresholding_rtl) are their op with a suffix.
_SPECIALIZED = ("_hls", "_rtl")


def register(op: HwOp) -> HwOp:
    """Add ``op`` to the registry; an op type may be registered once."""
    if op.op_type in OPS:
        raise A2QError(
            f"op {op.op_type} is registered twice: {type(OPS[op.op_type]).__module__} and "
            f"{type(op).__module__}"
        )
    OPS[op.op_type] = op
    return op


def supported() -> list[HwOp]:
    """The ops a HW graph may hold (glue excluded), in listing order."""
    return sorted((op for op in OPS.values() if not op.is_glue), key=lambda o: (o.order, o.op_type))


def get(op_type: str, node: str | None = None, error: type[A2QError] = A2QError) -> HwOp:
    """The op of ``op_type``; else ``error`` naming the op (and ``node``) and the supported ops."""
    op = OPS.get(op_type)
    if op is None:
        what = f"node {node} ({op_type})" if node else f"op type {op_type!r}"
        names = ", ".join(o.op_type for o in supported())
        raise error(
            f"{what} has no template in hw_templates/; supported: {names} (a new op is one "
            "module in flow/ops/, see flow/ops/README.md)"
        )
    return op


def find(op_type: str) -> HwOp | None:
    """The op of a FINN node type, specialized ones (``MVAU_hls``) included; else None."""
    if op_type in OPS:
        return OPS[op_type]
    for suffix in _SPECIALIZED:
        if op_type.endswith(suffix):
            return OPS.get(op_type.removesuffix(suffix))
    return None


def mac_op_types() -> tuple[str, ...]:
    """The op types of the MAC layers (the ones with an accumulator), in listing order."""
    return tuple(op.op_type for op in supported() if op.is_mac)


def _discover() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        op = getattr(module, "OP", None)
        if op is not None:
            register(op)


_discover()
