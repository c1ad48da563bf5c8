"""Tests of flow.bounds: closed forms against exact integers and brute force."""

import itertools
import json
import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flow.bounds import (
    a2q_l1_budget,
    a2q_plus_l1_budget,
    accumulator_range,
    bounds_report,
    datatype_bound_bits,
    datatype_exact_bits,
    exact_acc_bits,
    format_bounds_table,
    input_range,
    l1_budget,
    min_acc_bits,
    signed_bits,
    worst_case_inputs,
)
from flow.errors import BoundError

FAST = settings(max_examples=150, deadline=None)


def brute_force_range(q: list[int], x_lo: int, x_hi: int) -> tuple[int, int]:
    """The min and max of q . x over every input vector in the range."""
    dots = [
        sum(w * x for w, x in zip(q, xs, strict=True))
        for xs in itertools.product(range(x_lo, x_hi + 1), repeat=len(q))
    ]
    return min(dots), max(dots)


def fits(lo: int, hi: int, bits: int) -> bool:
    return -(2 ** (bits - 1)) <= lo and hi <= 2 ** (bits - 1) - 1


# --- basic helpers -------------------------------------------------------------------------


def test_input_range() -> None:
    assert input_range(4, False) == (0, 15)
    assert input_range(4, True) == (-8, 7)
    assert input_range(1, False) == (0, 1)
    assert input_range(1, True) == (-1, 0)


@pytest.mark.parametrize(
    ("lo", "hi", "bits"),
    [
        (0, 0, 1),
        (-1, 0, 1),
        (-1, -1, 1),
        (0, 1, 2),
        (-2, 1, 2),
        (-2, 2, 3),
        (-128, 127, 8),
        (-129, 0, 9),
        (0, 128, 9),
        (-(2**63), 2**63 - 1, 64),
    ],
)
def test_signed_bits_examples(lo: int, hi: int, bits: int) -> None:
    assert signed_bits(lo, hi) == bits


@given(st.integers(-(2**70), 2**70), st.integers(0, 2**70))
@FAST
def test_signed_bits_is_smallest(lo: int, span: int) -> None:
    hi = lo + span
    bits = signed_bits(lo, hi)
    assert fits(lo, hi, bits)
    assert bits == 1 or not fits(lo, hi, bits - 1)


# --- data-type bound ---------------------------------------------------------------------


def test_datatype_bound_paper_example() -> None:
    # design.md section 1: K=128, N=M=4, unsigned input -> 16 bits.
    assert datatype_bound_bits(128, 4, 4, False) == 16
    # The types alone need one bit less: 128 * 15 * -8 = -15360 fits in 15 signed bits.
    assert datatype_exact_bits(128, 4, 4, False) == 15


def closed_form_float(k: int, n: int, m: int, signed: bool) -> int:
    a = math.log2(k) + n + m - 1 - int(signed)
    return math.ceil(a + math.log2(1 + 2**-a) + 1)


@pytest.mark.parametrize("signed", [False, True])
def test_datatype_bound_matches_paper_formula(signed: bool) -> None:
    # Float is exact enough here (a <= 26); the integer version must agree everywhere.
    for k, n, m in itertools.product(range(1, 300), range(1, 9), range(1, 9)):
        assert datatype_bound_bits(k, n, m, signed) == closed_form_float(k, n, m, signed), (
            k,
            n,
            m,
            signed,
        )


def test_datatype_exact_against_integer_range() -> None:
    ks = [*range(1, 33), 127, 128, 129, 1000, 4096]
    for k, n, m, signed in itertools.product(ks, range(1, 9), range(1, 9), (0, 1)):
        x_lo, x_hi = input_range(n, bool(signed))
        w_lo, w_hi = input_range(m, True)
        # Worst weights are all at one end of their range, so the exact range is two
        # accumulator_range calls over constant weight vectors.
        ends = [accumulator_range([w] * k, x_lo, x_hi) for w in (w_lo, w_hi)]
        want = signed_bits(min(e[0] for e in ends), max(e[1] for e in ends))
        assert datatype_exact_bits(k, n, m, bool(signed)) == want


@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 3), st.booleans())
@FAST
def test_datatype_exact_brute_force(k: int, n: int, m: int, signed: bool) -> None:
    x_lo, x_hi = input_range(n, signed)
    w_lo, w_hi = input_range(m, True)
    lo = hi = 0
    for q in itertools.product(range(w_lo, w_hi + 1), repeat=k):
        q_lo, q_hi = brute_force_range(list(q), x_lo, x_hi)
        lo, hi = min(lo, q_lo), max(hi, q_hi)
    assert datatype_exact_bits(k, n, m, signed) == signed_bits(lo, hi)


def test_closed_form_vs_exact() -> None:
    # The paper's closed form equals the exact type width for signed inputs. For unsigned ones
    # it rounds the input magnitude 2^N - 1 up to 2^N and lets the worst product be positive:
    # at most one bit more for N >= 2, two for N = 1 (K=1, N=1, M=2: [-2, 1] needs 2, not 4).
    differ = 0
    for k, n, m in itertools.product(range(1, 600), range(1, 9), range(1, 9)):
        assert datatype_bound_bits(k, n, m, True) == datatype_exact_bits(k, n, m, True)
        closed, exact = datatype_bound_bits(k, n, m, False), datatype_exact_bits(k, n, m, False)
        assert exact <= closed <= exact + (2 if n == 1 else 1), (k, n, m)
        differ += closed != exact
        if k & (k - 1) == 0 and n > 1:
            # Powers of two: K * 2^N * 2^(M-1) is a power of two, so the extra bit is always paid.
            assert closed == exact + 1, (k, n, m)
    assert differ > 0
    assert datatype_bound_bits(1, 1, 2, False) == 4
    assert datatype_exact_bits(1, 1, 2, False) == 2


# --- exact range and worst-case inputs ----------------------------------------------------

small_range = st.tuples(st.integers(1, 3), st.booleans()).map(lambda nb: input_range(*nb))


@given(
    q=st.lists(st.integers(-4, 3), min_size=1, max_size=3),
    x_range=small_range,
)
@FAST
def test_accumulator_range_brute_force(q: list[int], x_range: tuple[int, int]) -> None:
    x_lo, x_hi = x_range
    want = brute_force_range(q, x_lo, x_hi)
    assert accumulator_range(q, x_lo, x_hi) == want
    assert exact_acc_bits(q, x_lo, x_hi) == signed_bits(*want)
    x_for_max, x_for_min = worst_case_inputs(q, x_lo, x_hi)
    dot = lambda xs: sum(w * x for w, x in zip(q, xs, strict=True))  # noqa: E731
    assert dot(x_for_max) == want[1]
    assert dot(x_for_min) == want[0]
    assert all(x_lo <= x <= x_hi for x in x_for_max + x_for_min)


def test_worst_case_inputs_zero_weight_uses_x_min() -> None:
    assert worst_case_inputs([2, 0, -1], -8, 7) == ([7, -8, -8], [-8, -8, 7])


def test_accumulator_range_big_ints() -> None:
    # Far outside float32/float64 integer precision: must stay exact.
    q = [2**40 + 1] * 1000 + [-(2**40) - 3]
    lo, hi = accumulator_range(q, -(2**31), 2**31 - 1)
    assert hi == 1000 * (2**40 + 1) * (2**31 - 1) + (2**40 + 3) * 2**31
    assert lo == -1000 * (2**40 + 1) * 2**31 - (2**40 + 3) * (2**31 - 1)


def test_accepts_numpy_integers() -> None:
    np = pytest.importorskip("numpy")
    q = np.array([3, -2, 0], dtype=np.int8)
    assert accumulator_range(q, np.int64(0), np.int64(15)) == (-30, 45)


# --- L1 budgets ---------------------------------------------------------------------------


def test_budget_values() -> None:
    assert a2q_l1_budget(16, 4, False) == Fraction(2**15 - 1, 16)
    assert a2q_l1_budget(16, 4, True) == Fraction(2**15 - 1, 8)
    assert a2q_plus_l1_budget(16, 4) == Fraction(2**16 - 2, 15)
    assert l1_budget("a2q", 12, 3, False) == a2q_l1_budget(12, 3, False)
    assert l1_budget("a2q_plus", 12, 3, True) == a2q_plus_l1_budget(12, 3)


def test_budget_ratio() -> None:
    for n, p in itertools.product(range(1, 17), range(2, 41)):
        two_n = 2**n
        unsigned = l1_budget("a2q_plus", p, n, False) / l1_budget("a2q", p, n, False)
        signed = l1_budget("a2q_plus", p, n, True) / l1_budget("a2q", p, n, True)
        assert unsigned == Fraction(2 * two_n, two_n - 1)
        assert signed == Fraction(two_n, two_n - 1)
    assert float(Fraction(2 * 16, 15)) == pytest.approx(2.1333, abs=1e-4)


@st.composite
def budgeted_weights(draw: st.DrawFn, zero_centred: bool) -> tuple[list[int], int, int, bool]:
    """A weight vector inside its budget, with (P, N, signed)."""
    n = draw(st.integers(1, 3))
    signed = draw(st.booleans())
    method = "a2q_plus" if zero_centred else "a2q"
    p = draw(st.integers(min_acc_bits(method, n, signed), 9))
    budget = math.floor(l1_budget(method, p, n, signed))
    k = draw(st.integers(2 if zero_centred else 1, 3))
    q = draw(st.lists(st.integers(-budget, budget), min_size=k, max_size=k))
    if zero_centred:
        q[-1] = -sum(q[:-1])
    # Halve towards zero until inside the budget (the zero vector always is).
    while sum(abs(w) for w in q) > budget:
        q = [w // 2 if w >= 0 else -((-w) // 2) for w in q]
        if zero_centred:
            q[-1] = -sum(q[:-1])
    return q, p, n, signed


@given(budgeted_weights(zero_centred=False))
@FAST
def test_a2q_budget_never_overflows(case: tuple[list[int], int, int, bool]) -> None:
    q, p, n, signed = case
    assert sum(abs(w) for w in q) <= a2q_l1_budget(p, n, signed)
    assert fits(*brute_force_range(q, *input_range(n, signed)), p)


@given(budgeted_weights(zero_centred=True))
@FAST
def test_a2q_plus_budget_never_overflows(case: tuple[list[int], int, int, bool]) -> None:
    q, p, n, signed = case
    assert sum(q) == 0
    assert sum(abs(w) for w in q) <= a2q_plus_l1_budget(p, n)
    assert fits(*brute_force_range(q, *input_range(n, signed)), p)


@given(
    n=st.integers(1, 16),
    signed=st.booleans(),
    p=st.integers(2, 40),
    k=st.integers(1, 64),
    data=st.data(),
)
@FAST
def test_budgets_sound_for_larger_shapes(
    n: int, signed: bool, p: int, k: int, data: st.DataObject
) -> None:
    # accumulator_range is proven equal to brute force above, so it stands in for it here.
    x_lo, x_hi = input_range(n, signed)
    for method in ("a2q", "a2q_plus"):
        budget = math.floor(l1_budget(method, p, n, signed))
        if method == "a2q_plus":
            budget -= budget % 2  # a zero-centred vector has an even L1 norm
            half = budget // 2
            if half == 0 or k < 2:
                continue
            # Split +half and -half over two disjoint index groups.
            cut = data.draw(st.integers(1, k - 1))
            pos = _split(half, cut, data)
            neg = _split(half, k - cut, data)
            q = pos + [-v for v in neg]
        else:
            if budget == 0:
                continue
            q = [v * data.draw(st.sampled_from((-1, 1))) for v in _split(budget, k, data)]
        assert fits(*accumulator_range(q, x_lo, x_hi), p), (method, q)


def _split(total: int, parts: int, data: st.DataObject) -> list[int]:
    """Non-negative integers of length ``parts`` summing to ``total``."""
    cuts = sorted(
        data.draw(st.lists(st.integers(0, total), min_size=parts - 1, max_size=parts - 1))
    )
    edges = [0, *cuts, total]
    return [b - a for a, b in itertools.pairwise(edges)]


@pytest.mark.parametrize("method", ["a2q", "a2q_plus"])
@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("n", range(1, 33))
def test_min_acc_bits_is_tight(method: str, signed: bool, n: int) -> None:
    need = 1 if method == "a2q" else 2
    p = min_acc_bits(method, n, signed)
    assert l1_budget(method, p, n, signed) >= need
    assert p == 1 or l1_budget(method, p - 1, n, signed) < need
    # The smallest admitted vector really fits in p bits.
    q = [1] if method == "a2q" else [1, -1]
    assert fits(*accumulator_range(q, *input_range(n, signed)), p)


def test_min_acc_bits_values() -> None:
    assert min_acc_bits("a2q", 4, False) == 6
    assert min_acc_bits("a2q", 4, True) == 5
    assert min_acc_bits("a2q_plus", 4, False) == 5
    assert min_acc_bits("a2q_plus", 4, True) == 5


# --- report ------------------------------------------------------------------------------


def test_bounds_report() -> None:
    report = bounds_report(128, 4, 4, False)
    json.dumps(report)
    assert report["datatype_bound_bits"] == 16
    assert report["datatype_exact_bits"] == 15
    assert report["budget_acc_bits"] == 16
    assert "acc_bits" not in report
    assert report["a2q_l1_budget"] == float(Fraction(2**15 - 1, 16))
    assert report["a2q_plus_l1_budget"] == float(Fraction(2**16 - 2, 15))
    assert report["a2q_min_acc_bits"] == 6
    assert report["a2q_plus_min_acc_bits"] == 5

    at12 = bounds_report(128, 4, 4, False, acc_bits=12)
    assert at12["acc_bits"] == at12["budget_acc_bits"] == 12
    assert at12["a2q_l1_budget"] == float(Fraction(2**11 - 1, 16))


def test_format_bounds_table() -> None:
    table = format_bounds_table(bounds_report(128, 4, 4, False, acc_bits=12))
    lines = table.splitlines()
    assert len(lines) == len(bounds_report(128, 4, 4, False, acc_bits=12))
    # Values start in one column.
    starts = {len(line) - len(line.split("  ")[-1].lstrip()) for line in lines}
    assert len(starts) == 1
    assert any(line.startswith("data-type bound P_dt") and line.endswith(" 16") for line in lines)
    assert any(line.startswith("A2Q L1 budget") and line.endswith(" 127.9375") for line in lines)
    assert "input signed" in table and " no" in table
    assert format_bounds_table({}) == ""
    assert format_bounds_table({"extra": 1}) == "extra  1"


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: input_range(0, False), r"^bits must be an integer in 1\.\.32, not 0$"),
        (lambda: input_range(4, 1), r"^signed must be a bool, not 1$"),
        (lambda: datatype_bound_bits(0, 4, 4, False), r"^k must be an integer in 1\.\.\d+, not 0$"),
        (
            lambda: datatype_bound_bits(8, 0, 4, False),
            r"^input_bits must be an integer in 1\.\.32, not 0$",
        ),
        (
            lambda: datatype_bound_bits(8, 4, 33, False),
            r"^weight_bits must be an integer in 1\.\.32, not 33$",
        ),
        (
            lambda: datatype_bound_bits(8, 4.0, 4, False),
            r"^input_bits must be an integer in 1\.\.32, not 4\.0$",
        ),
        (
            lambda: datatype_bound_bits(8, True, 4, False),
            r"^input_bits must be an integer in 1\.\.32, not True$",
        ),
        (lambda: a2q_l1_budget(0, 4, False), r"^acc_bits must be an integer in 1\.\.128, not 0$"),
        (
            lambda: l1_budget("a2q+", 16, 4, False),
            r"^method must be one of 'a2q', 'a2q_plus', not 'a2q\+'$",
        ),
        (lambda: min_acc_bits("A2Q", 4, False), r"^method must be one of 'a2q', 'a2q_plus'"),
        (lambda: signed_bits(1, 0), r"^lo must not exceed hi, got lo=1, hi=0$"),
        (lambda: signed_bits(0.5, 1), r"^lo must be an integer, not 0\.5$"),
        (lambda: accumulator_range([], 0, 1), r"^q must hold at least one weight"),
        (lambda: accumulator_range([1, 0.5], 0, 1), r"^q\[1\] must be an integer, not 0\.5$"),
        (lambda: accumulator_range([1], 2, 1), r"^x_min must not exceed x_max, got x_min=2"),
        (lambda: worst_case_inputs([1], 0, "7"), r"^x_max must be an integer, not '7'$"),
        (
            lambda: bounds_report(8, 4, 4, False, acc_bits=200),
            r"^acc_bits must be an integer in 1\.\.128, not 200$",
        ),
    ],
)
def test_error_messages(call, message: str) -> None:
    with pytest.raises(BoundError, match=message):
        call()
