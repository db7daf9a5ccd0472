"""Exact Wishart moments (theory/wishart.py) against independent computations."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import sympy

from theory import wishart
from theory.wishart import (
    D_SYMBOL as d,
)
from theory.wishart import (
    N_SYMBOL as n,
)
from theory.wishart import (
    expected_trace_pair,
    isotropic_pq,
    mixed_moment,
    sample_cov_moment,
    trace_moment,
)

# --- an independent reference: Wick pairings of the Gaussian entries -------------------


def _pairings(items):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for k in range(len(rest)):
        for tail in _pairings(rest[:k] + rest[k + 1 :]):
            yield [(first, rest[k])] + tail


def _wick_moment(parts):
    """E prod tr W^{m} by summing over all Wick pairings of the 2 sum(m) entries of G.

    tr W^m = sum G[a_1, i_1] G[a_2, i_1] G[a_2, i_2] G[a_3, i_2] ... G[a_1, i_m]; a pairing
    identifies the row labels and the column labels of the two paired factors, and
    contributes d^(#row classes) n^(#column classes).  Exponential in sum(m): small only.
    """
    factors = []  # (row label, column label) of each G factor
    label = 0
    zero_parts = sum(1 for m in parts if m == 0)  # tr W^0 = tr I = d
    for m in parts:
        rows = [("a", label + t) for t in range(m)]
        cols = [("i", label + t) for t in range(m)]
        for t in range(m):
            factors.append((rows[t], cols[t]))
            factors.append((rows[(t + 1) % m], cols[t]))
        label += m
    total = 0
    for pairing in _pairings(list(range(len(factors)))):
        parent = {}

        def find(x):
            while parent.setdefault(x, x) != x:
                x = parent[x]
            return x

        for u, v in pairing:
            for slot in (0, 1):
                parent[find(factors[u][slot])] = find(factors[v][slot])
        labels = {f[s] for f in factors for s in (0, 1)}
        roots = {find(x) for x in labels}
        total += d ** sum(1 for r in roots if r[0] == "a") * n ** sum(
            1 for r in roots if r[0] == "i"
        )
    return sympy.expand(total * d**zero_parts)


@pytest.mark.parametrize(
    "parts",
    [(1,), (2,), (3,), (4,), (5,), (1, 1), (2, 1), (2, 2), (3, 1), (3, 2), (2, 1, 1), (0, 2)],
)
def test_stein_recursion_equals_wick_pairing_enumeration(parts):
    assert sympy.expand(mixed_moment(parts) - _wick_moment(parts)) == 0


def test_first_moments_match_textbook_formulas():
    # E tr W = nd, E tr W^2 = nd(n+d+1), E tr W^3 = nd(n^2 + d^2 + 3nd + 3n + 3d + 4).
    assert sympy.expand(trace_moment(1) - n * d) == 0
    assert sympy.expand(trace_moment(2) - n * d * (n + d + 1)) == 0
    assert (
        sympy.expand(trace_moment(3) - n * d * (n**2 + d**2 + 3 * n * d + 3 * n + 3 * d + 4)) == 0
    )


@pytest.mark.parametrize("k", [4, 7, 12])
def test_trace_moment_is_symmetric_in_n_and_d(k):
    # tr (G G^T)^k = tr (G^T G)^k for k >= 1: swapping the roles of n and d.
    expr = trace_moment(k)
    assert sympy.expand(expr - expr.subs({n: d, d: n}, simultaneous=True)) == 0


@pytest.mark.parametrize("k", [5, 10, 16])
def test_top_degree_part_is_narayana_polynomial(k):
    # Free-probability limit (Marchenko-Pastur): the degree-(k+1) part of E tr W^k is
    # sum_j N(k, j) n^j d^(k+1-j), N(k, j) = C(k, j) C(k, j-1) / k (Narayana numbers).
    poly = wishart.moment_poly(k)
    top = {mon: c for mon, c in poly.terms() if sum(mon) == k + 1}
    expected = {(j, k + 1 - j): math.comb(k, j) * math.comb(k, j - 1) // k for j in range(1, k + 1)}
    assert top == expected


def test_integer_engine_agrees_with_symbolic_engine():
    for parts in [(6,), (4, 3), (2, 2, 2), (5, 1, 0)]:
        sym = mixed_moment(parts)
        assert mixed_moment(parts, 9, 4) == sym.subs({n: 9, d: 4})


def test_moments_agree_with_monte_carlo_within_five_standard_errors():
    rng = np.random.default_rng(0)
    nn, dd, reps = 7, 3, 40000
    G = rng.standard_normal((reps, dd, nn))  # (reps, d, n)
    W = G @ G.transpose(0, 2, 1)  # (reps, d, d)
    W2 = W @ W
    W3 = W2 @ W
    samples = {
        (3,): np.trace(W3, axis1=1, axis2=2),
        (2, 1): np.trace(W2, axis1=1, axis2=2) * np.trace(W, axis1=1, axis2=2),
        (2, 2): np.trace(W2, axis1=1, axis2=2) ** 2,
    }
    for parts, x in samples.items():
        se = x.std(ddof=1) / math.sqrt(reps)
        # 5 standard errors: a false alarm has probability < 1e-6 per moment (CLT).
        assert abs(x.mean() - mixed_moment(parts, nn, dd)) < 5 * se, parts


def test_isotropic_tensor_at_power_zero_is_exact():
    # S^0 = I, so E[(S^0)_ab (S^j)_cd] = d_ab E[S^j]_cd = d_ab d_cd E tr S^j / d: q = 0.
    p, q = isotropic_pq(0, 3, 11, 4)
    assert q == 0 and p == sample_cov_moment((3,), 11, 4) / 4


def test_expected_trace_pair_matches_monte_carlo_within_five_standard_errors():
    rng = np.random.default_rng(1)
    nn, dd, reps = 6, 3, 40000
    X = rng.standard_normal((dd, dd))
    Y = rng.standard_normal((dd, dd))
    G = rng.standard_normal((reps, dd, nn))
    S = G @ G.transpose(0, 2, 1) / nn  # (reps, d, d)
    S2 = S @ S
    vals = np.einsum("rab,bc,rcd,da->r", S2, X, S, Y)  # tr(S^2 X S Y) per sample
    exact = float(expected_trace_pair(2, 1, X.tolist(), Y.tolist(), nn, dd))
    se = vals.std(ddof=1) / math.sqrt(reps)
    assert abs(vals.mean() - exact) < 5 * se  # 5 SE: CLT false-alarm rate < 1e-6


def test_expected_trace_pair_rejects_wrong_shape():
    with pytest.raises(ValueError, match="must be 3 x 3"):
        expected_trace_pair(1, 1, [[1.0]], [[1.0]], 5, 3)


def test_invalid_parts_are_refused_with_a_message():
    with pytest.raises(ValueError, match="non-negative integers"):
        mixed_moment((2, -1))


def test_trace_moment_24_is_fast():
    wishart._engine.cache_clear()
    start = time.perf_counter()
    wishart.moment_poly(24)
    # Brief: under 2 s; the bound is 5x looser to absorb slow CI machines.
    assert time.perf_counter() - start < 10.0
