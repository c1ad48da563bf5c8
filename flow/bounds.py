"""The accumulator arithmetic of A2Q and A2Q+, in exact integers.

Notation: K = dot-product length, N = input bits, M = weight bits, P = accumulator bits
(signed two's complement), q = the integer weights of one output channel, s = 1 if the
input is signed else 0.

Everything here is pure Python ``int`` / ``Fraction`` arithmetic: widths near 32 bits and
sums of thousands of products are exactly where float32 (and even float64 logarithms at
powers of two) would round the wrong way, and one bit too few is an overflow in hardware.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from fractions import Fraction

from flow.errors import BoundError

METHODS = ("a2q", "a2q_plus")
MAX_BITS = 32
# Accumulators wider than the operands are normal (P_dt for K = 2^32, N = M = 32 is 98).
MAX_ACC_BITS = 128
MAX_K = 2**32


def _check_int(name: str, value: object, lo: int, hi: int) -> int:
    # bool is an int subclass; True as a bit width is always a caller mistake.
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise BoundError(f"{name} must be an integer in {lo}..{hi}, not {value!r}")
    return value


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise BoundError(f"{name} must be a bool, not {value!r}")
    return value


def _as_int(name: str, value: object) -> int:
    # operator.index accepts numpy integers but refuses floats, which would hide rounding.
    if isinstance(value, bool):
        raise BoundError(f"{name} must be an integer, not {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise BoundError(f"{name} must be an integer, not {value!r}") from None


def _check_method(method: object) -> str:
    if method not in METHODS:
        allowed = ", ".join(repr(m) for m in METHODS)
        raise BoundError(f"method must be one of {allowed}, not {method!r}")
    return method  # type: ignore[return-value]


def input_range(bits: int, signed: bool) -> tuple[int, int]:
    """Return the integer range ``(lo, hi)`` of an N-bit input.

    Unsigned: ``(0, 2^N - 1)``; signed two's complement: ``(-2^(N-1), 2^(N-1) - 1)``.
    """
    bits = _check_int("bits", bits, 1, MAX_BITS)
    if _check_bool("signed", signed):
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def signed_bits(lo: int, hi: int) -> int:
    """Return the smallest signed two's complement width holding every value in ``[lo, hi]``.

    A 1-bit signed number holds {-1, 0}, so the width holding only 0 (or only -1) is 1.
    """
    lo = _as_int("lo", lo)
    hi = _as_int("hi", hi)
    if lo > hi:
        raise BoundError(f"lo must not exceed hi, got lo={lo}, hi={hi}")

    def width(v: int) -> int:
        # v needs 2^(P-1) > v when v >= 0 and 2^(P-1) >= -v when v < 0.
        return (v if v >= 0 else -v - 1).bit_length() + 1

    return max(width(lo), width(hi))


def datatype_bound_bits(k: int, input_bits: int, weight_bits: int, input_signed: bool) -> int:
    """Return the A2Q paper's data-type bound ``P_dt = ceil(a + log2(1 + 2^-a) + 1)``.

    ``a = log2(K) + N + M - 1 - s``. With ``B = 2^a = K * 2^(N-s) * 2^(M-1)`` the formula is
    the smallest P with ``2^(P-1) - 1 >= B``, i.e. ``signed_bits(-B, B)``, which is how it is
    computed here (no logarithms, so no rounding at powers of two).

    This is the paper's closed form, not the tightest width the types allow: it bounds an
    unsigned input's magnitude ``2^N - 1`` by ``2^N`` and lets the worst product take either
    sign. For signed inputs it always equals :func:`datatype_exact_bits`; for unsigned inputs
    it can be one bit more (K=128, N=M=4 unsigned: 16 here, 15 exact; always so when K is a
    power of two and N >= 2), two for 1-bit unsigned inputs. The tests check all three claims.
    """
    k = _check_int("k", k, 1, MAX_K)
    input_bits = _check_int("input_bits", input_bits, 1, MAX_BITS)
    weight_bits = _check_int("weight_bits", weight_bits, 1, MAX_BITS)
    s = int(_check_bool("input_signed", input_signed))
    magnitude = k * 2 ** (input_bits - s) * 2 ** (weight_bits - 1)
    return signed_bits(-magnitude, magnitude)


def datatype_exact_bits(k: int, input_bits: int, weight_bits: int, input_signed: bool) -> int:
    """Return the exact width of any K-long dot product of N-bit inputs and M-bit signed weights.

    This is the tightest width a compiler that knows only the two types can choose: the signed
    width of K times the extreme products of the two integer ranges. It is at most
    :func:`datatype_bound_bits`.
    """
    k = _check_int("k", k, 1, MAX_K)
    x_lo, x_hi = input_range(_check_int("input_bits", input_bits, 1, MAX_BITS), input_signed)
    w_lo, w_hi = input_range(_check_int("weight_bits", weight_bits, 1, MAX_BITS), True)
    products = [x * w for x in (x_lo, x_hi) for w in (w_lo, w_hi)]
    return signed_bits(k * min(products), k * max(products))


# The widest activation and weight types the pipeline builds (model.act_bits / weight_bits).
DATATYPE_MAX_BITS = 8
# A signed weight type needs 2 bits to hold more than {-1, 0}.
DATATYPE_MIN_WEIGHT_BITS = 2
# How the data-type method splits an accumulator between input bits N and weight bits M.
SPLITS = ("balanced", "weights", "inputs")


def datatype_fits(
    k: int,
    acc_bits: int,
    input_signed: bool = False,
    *,
    input_bits: int | None = None,
    max_bits: int = DATATYPE_MAX_BITS,
) -> list[tuple[int, int]]:
    """Return the (N, M) pairs that fully use a P-bit accumulator for K-long dot products.

    A pair fits when the data-type width :func:`datatype_exact_bits` (K, N, M) is at most P;
    it is on the boundary when it fits and neither N + 1 nor M + 1 does (or is past
    ``max_bits``): de Bruin et al.'s "configurations that fully use the accumulator". With
    ``input_bits`` given (the first layer, whose input type the data fixes) N is that and only
    M is maximised. Sorted by N; empty when not even (N, M = 2) fits.
    """
    k = _check_int("k", k, 1, MAX_K)
    acc_bits = _check_int("acc_bits", acc_bits, 1, MAX_ACC_BITS)
    s = _check_bool("input_signed", input_signed)
    max_bits = _check_int("max_bits", max_bits, DATATYPE_MIN_WEIGHT_BITS, MAX_BITS)
    if input_bits is not None:
        ns = [_check_int("input_bits", input_bits, 1, MAX_BITS)]
    else:
        ns = list(range(1, max_bits + 1))

    def fits(n: int, m: int) -> bool:
        return datatype_exact_bits(k, n, m, s) <= acc_bits

    pairs = []
    for n in ns:
        # The width grows with M, so the M that fit are 2..m.
        m = max((m for m in range(DATATYPE_MIN_WEIGHT_BITS, max_bits + 1) if fits(n, m)), default=0)
        if not m:
            continue
        if input_bits is None and n < max_bits and fits(n + 1, m):
            continue  # a wider input fits beside the same weights: not on the boundary
        pairs.append((n, m))
    return pairs


def choose_datatypes(
    k: int,
    acc_bits: int,
    split: str,
    input_signed: bool = False,
    *,
    input_bits: int | None = None,
    max_bits: int = DATATYPE_MAX_BITS,
) -> tuple[int, int] | None:
    """Return the (N, M) the data-type method trains a layer at, or None when none fits.

    One of :func:`datatype_fits`' boundary pairs, by ``split``: ``weights`` takes the most
    weight bits, ``inputs`` the most input bits, ``balanced`` the smallest ``|N - M|`` (ties:
    more weight bits).
    """
    if split not in SPLITS:
        raise BoundError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    pairs = datatype_fits(k, acc_bits, input_signed, input_bits=input_bits, max_bits=max_bits)
    if not pairs:
        return None
    key = {
        "weights": lambda nm: (nm[1], nm[0]),
        "inputs": lambda nm: (nm[0], nm[1]),
        "balanced": lambda nm: (-abs(nm[0] - nm[1]), nm[1]),
    }[split]
    return max(pairs, key=key)


def datatype_min_acc_bits(k: int, input_signed: bool = False, input_bits: int | None = None) -> int:
    """Return the smallest P at which some (N >= 1, M >= 2) fits K (N fixed if given)."""
    return datatype_exact_bits(k, input_bits or 1, DATATYPE_MIN_WEIGHT_BITS, input_signed)


def a2q_l1_budget(acc_bits: int, input_bits: int, input_signed: bool) -> Fraction:
    """Return the A2Q per-channel L1 budget ``(2^(P-1) - 1) * 2^(s - N)``.

    Any integer q with ``||q||_1`` within it keeps every dot product in P signed bits.
    """
    acc_bits = _check_int("acc_bits", acc_bits, 1, MAX_ACC_BITS)
    input_bits = _check_int("input_bits", input_bits, 1, MAX_BITS)
    s = int(_check_bool("input_signed", input_signed))
    return Fraction(2 ** (acc_bits - 1) - 1) * Fraction(2) ** (s - input_bits)


def a2q_plus_l1_budget(acc_bits: int, input_bits: int) -> Fraction:
    """Return the A2Q+ per-channel L1 budget ``(2^P - 2) / (2^N - 1)`` for zero-centred q.

    With ``sum(q) == 0`` the dot product only sees the input's spread ``2^N - 1``, which is the
    same for signed and unsigned inputs, so the sign does not enter.
    """
    acc_bits = _check_int("acc_bits", acc_bits, 1, MAX_ACC_BITS)
    input_bits = _check_int("input_bits", input_bits, 1, MAX_BITS)
    return Fraction(2**acc_bits - 2, 2**input_bits - 1)


def l1_budget(method: str, acc_bits: int, input_bits: int, input_signed: bool) -> Fraction:
    """Return the L1 budget of ``method`` ("a2q" or "a2q_plus") at P accumulator bits."""
    if _check_method(method) == "a2q":
        return a2q_l1_budget(acc_bits, input_bits, input_signed)
    _check_bool("input_signed", input_signed)
    return a2q_plus_l1_budget(acc_bits, input_bits)


def min_acc_bits(method: str, input_bits: int, input_signed: bool) -> int:
    """Return the smallest P whose budget admits a non-zero integer weight vector.

    A non-zero integer vector has L1 >= 1, and a zero-centred one has L1 >= 2 (a +1 needs a
    -1), so A2Q needs a budget of at least 1 and A2Q+ at least 2.
    """
    need = 1 if _check_method(method) == "a2q" else 2
    for acc_bits in range(1, MAX_ACC_BITS + 1):
        if l1_budget(method, acc_bits, input_bits, input_signed) >= need:
            return acc_bits
    # Unreachable for input_bits <= 32; kept so a future MAX_BITS change cannot loop silently.
    raise BoundError(f"no accumulator width up to {MAX_ACC_BITS} bits admits a weight")


def _check_q_and_x(q: Sequence[int], x_min: int, x_max: int) -> tuple[list[int], int, int]:
    q_int = [_as_int(f"q[{i}]", v) for i, v in enumerate(q)]
    if not q_int:
        raise BoundError("q must hold at least one weight, got an empty sequence")
    x_min = _as_int("x_min", x_min)
    x_max = _as_int("x_max", x_max)
    if x_min > x_max:
        raise BoundError(f"x_min must not exceed x_max, got x_min={x_min}, x_max={x_max}")
    return q_int, x_min, x_max


def accumulator_range(q: Sequence[int], x_min: int, x_max: int) -> tuple[int, int]:
    """Return the exact range of ``sum_i q_i * x_i`` over all inputs ``x_i`` in ``[x_min, x_max]``.

    Each term is linear in its own ``x_i``, so its extremes sit at the ends of the input range
    and the sum's extremes are the sums of the per-term extremes.
    """
    q_int, x_min, x_max = _check_q_and_x(q, x_min, x_max)
    lo = sum(min(w * x_min, w * x_max) for w in q_int)
    hi = sum(max(w * x_min, w * x_max) for w in q_int)
    return lo, hi


def exact_acc_bits(q: Sequence[int], x_min: int, x_max: int) -> int:
    """Return the smallest signed width holding every dot product of q with inputs in range."""
    return signed_bits(*accumulator_range(q, x_min, x_max))


def worst_case_inputs(q: Sequence[int], x_min: int, x_max: int) -> tuple[list[int], list[int]]:
    """Return ``(x_for_max, x_for_min)``: inputs reaching the top and bottom of the range.

    Where q is zero the input does not matter; ``x_min`` is used.
    """
    q_int, x_min, x_max = _check_q_and_x(q, x_min, x_max)
    x_for_max = [x_max if w > 0 else x_min for w in q_int]
    x_for_min = [x_max if w < 0 else x_min for w in q_int]
    return x_for_max, x_for_min


def bounds_report(
    k: int,
    input_bits: int,
    weight_bits: int,
    input_signed: bool,
    acc_bits: int | None = None,
) -> dict:
    """Return a JSON-able summary of the bounds for one layer shape.

    The L1 budgets are given at ``acc_bits`` when it is passed (and ``"acc_bits"`` is then a
    key), else at the data-type bound; ``"budget_acc_bits"`` always says which P was used.
    """
    p_dt = datatype_bound_bits(k, input_bits, weight_bits, input_signed)
    if acc_bits is not None:
        acc_bits = _check_int("acc_bits", acc_bits, 1, MAX_ACC_BITS)
    p = p_dt if acc_bits is None else acc_bits
    report: dict = {
        "k": k,
        "input_bits": input_bits,
        "weight_bits": weight_bits,
        "input_signed": input_signed,
        "input_range": list(input_range(input_bits, input_signed)),
        "weight_range": list(input_range(weight_bits, True)),
        "datatype_bound_bits": p_dt,
        "datatype_exact_bits": datatype_exact_bits(k, input_bits, weight_bits, input_signed),
        "budget_acc_bits": p,
        "a2q_l1_budget": float(a2q_l1_budget(p, input_bits, input_signed)),
        "a2q_plus_l1_budget": float(a2q_plus_l1_budget(p, input_bits)),
        "a2q_min_acc_bits": min_acc_bits("a2q", input_bits, input_signed),
        "a2q_plus_min_acc_bits": min_acc_bits("a2q_plus", input_bits, input_signed),
    }
    if acc_bits is not None:
        report["acc_bits"] = acc_bits
    return report


_LABELS = {
    "k": "dot length K",
    "input_bits": "input bits N",
    "weight_bits": "weight bits M",
    "input_signed": "input signed",
    "input_range": "input range",
    "weight_range": "weight range",
    "acc_bits": "target accumulator bits P",
    "datatype_bound_bits": "data-type bound P_dt (paper)",
    "datatype_exact_bits": "data-type exact width",
    "budget_acc_bits": "budgets given at P",
    "a2q_l1_budget": "A2Q L1 budget",
    "a2q_plus_l1_budget": "A2Q+ L1 budget (zero-centred)",
    "a2q_min_acc_bits": "A2Q smallest usable P",
    "a2q_plus_min_acc_bits": "A2Q+ smallest usable P",
}


def _format_value(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def format_bounds_table(report: dict) -> str:
    """Return ``report`` (from :func:`bounds_report`) as an aligned two-column text table.

    Known keys get readable labels in a fixed order; unknown keys follow under their own name.
    """
    keys = [key for key in _LABELS if key in report]
    keys += [key for key in report if key not in _LABELS]
    rows = [(_LABELS.get(key, key), _format_value(report[key])) for key in keys]
    if not rows:
        return ""
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def fit_report(
    k: int, acc_bits: int, input_signed: bool = False, input_bits: int | None = None
) -> dict:
    """Return a JSON-able list of the (N, M) pairs that fully use a P-bit accumulator for K.

    ``pairs`` (by N) carry the data-type width each needs and the paper's closed form
    ``P_dt``; ``choices`` says which pair each ``quant.datatype_split`` takes;
    ``smallest_acc_bits`` is the narrowest P any pair fits (:func:`datatype_min_acc_bits`).
    """
    pairs = datatype_fits(k, acc_bits, input_signed, input_bits=input_bits)
    return {
        "k": k,
        "acc_bits": acc_bits,
        "input_signed": input_signed,
        "input_bits": input_bits,
        "pairs": [
            {
                "input_bits": n,
                "weight_bits": m,
                "datatype_exact_bits": datatype_exact_bits(k, n, m, input_signed),
                "datatype_bound_bits": datatype_bound_bits(k, n, m, input_signed),
            }
            for n, m in pairs
        ],
        "choices": {
            split: list(pair)
            if (pair := choose_datatypes(k, acc_bits, split, input_signed, input_bits=input_bits))
            else None
            for split in SPLITS
        },
        "smallest_acc_bits": datatype_min_acc_bits(k, input_signed, input_bits),
    }


def format_fit_table(report: dict) -> str:
    """Return ``report`` (from :func:`fit_report`) as a text table, one line per pair."""
    sign = "signed" if report["input_signed"] else "unsigned"
    fixed = f", N fixed at {report['input_bits']}" if report["input_bits"] else ""
    head = f"K={report['k']}, P={report['acc_bits']}, {sign} inputs{fixed}"
    if not report["pairs"]:
        what = "no M" if report["input_bits"] else "no (N >= 1, M)"
        return (
            f"{head}: {what} with M >= {DATATYPE_MIN_WEIGHT_BITS} fits; the smallest P that "
            f"does is {report['smallest_acc_bits']}"
        )
    chosen: dict[tuple, list[str]] = {}
    for split, pair in report["choices"].items():
        if pair:
            chosen.setdefault(tuple(pair), []).append(split)
    lines = [
        f"{head}: (N, M) pairs that fully use the accumulator",
        f"{'N':>3} {'M':>3}  {'width':>5}  {'P_dt':>4}  quant.datatype_split",
    ]
    for r in report["pairs"]:
        splits = ", ".join(chosen.get((r["input_bits"], r["weight_bits"]), []))
        lines.append(
            f"{r['input_bits']:>3} {r['weight_bits']:>3}  {r['datatype_exact_bits']:>5}  "
            f"{r['datatype_bound_bits']:>4}  {splits}".rstrip()
        )
    return "\n".join(lines)
