"""Exact moments of a real Wishart matrix W = G G^T by Stein's identity.

G is a d x n matrix with i.i.d. N(0, 1) entries, so W ~ Wishart_d(n, I) and the sample
covariance of n whitened context covariates is S = W / n (the S_hat of Theorems 3 and 4).
Every mixed trace moment E[tr W^k1 ... tr W^kr] is a polynomial in (n, d) with integer
coefficients; this module computes it exactly.

Recursion (Gaussian integration by parts, E[G_ai h(G)] = E[dh/dG_ai]).  Write
tr W^k = sum_{a,i} G_ai (G^T W^{k-1})_ia, F = prod_i tr W^{m_i}, and tr W^0 = d:

    E[tr W^k F] = (n + k - 1) E[tr W^{k-1} F]
                  + sum_{j=0}^{k-2} E[tr W^{j+1} tr W^{k-2-j} F]
                  + sum_i 2 m_i E[tr W^{k+m_i-1} prod_{i' != i} tr W^{m_i'}].

The three terms come from differentiating G^T (giving n tr W^{k-1}), W^{k-1} (the two
index contractions of dW give (k - 1) tr W^{k-1} and the split sum), and F
(d tr W^m / dG = 2 m W^{m-1} G).  Each step lowers the total degree sum(parts) by one.
Two shortcuts keep the state space small: the part that is reduced is always the
smallest, and parts equal to 1 are removed in closed form,

    E[(tr W)^r F] = prod_{t=0}^{r-1} (n d + 2 (|F| + t)) E[F],   |F| = sum of F's parts,

which is the k = 1 case of the recursion applied r times.  States are sorted tuples of
parts >= 2 and are memoised, so E tr W^32 needs only a few hundred states.

Polynomials are sympy sparse ``PolyElement`` objects over ZZ in the ring (n, d) (exact,
fast); at given integers (n, d) the same recursion runs on Python ints.  Conversion to
sympy expressions happens only at the public boundary.

Paper reference: the losses of Theorems 3 and 4 restricted to the sets S are linear
combinations of E tr S^k (see :mod:`theory.restricted`); the isotropic 4-tensor below gives
the full-matrix Hessians of :mod:`theory.hessian`.
"""

from __future__ import annotations

import functools
import numbers
from fractions import Fraction

import sympy
from sympy import ZZ
from sympy.polys.rings import ring

__all__ = [
    "RING",
    "moment_poly",
    "mixed_moment",
    "trace_moment",
    "sample_cov_moment",
    "isotropic_pq",
    "expected_trace_pair",
]

RING, _n, _d = ring("n,d", ZZ)
N_SYMBOL, D_SYMBOL = sympy.symbols("n d", positive=True, integer=True)


class _Engine:
    """Memoised Stein recursion over partitions, generic in the coefficient domain.

    ``n``, ``d`` are either ring generators (symbolic) or Python ints (numeric).
    """

    def __init__(self, n, d, one):
        self.n, self.d, self.one = n, d, one
        self.memo: dict[tuple[int, ...], object] = {}

    def value(self, parts: tuple[int, ...]):
        """E[prod tr W^{m}] for any multiset of parts >= 0."""
        zeros = sum(1 for p in parts if p == 0)
        ones = sum(1 for p in parts if p == 1)
        rest = tuple(sorted(p for p in parts if p >= 2))
        val = self._reduced(rest)
        total = sum(rest)
        for t in range(ones):
            val = val * (self.n * self.d + 2 * (total + t))
        for _ in range(zeros):
            val = val * self.d
        return val

    def _reduced(self, parts: tuple[int, ...]):
        if not parts:
            return self.one
        hit = self.memo.get(parts)
        if hit is not None:
            return hit
        k, rest = parts[0], parts[1:]
        # (n + k - 1) term and the j = k-2 split term (tr W^{k-1} tr W^0 = d tr W^{k-1}).
        res = (self.n + self.d + (k - 1)) * self.value(rest + (k - 1,))
        for p in range(1, k - 1):
            res = res + self.value(rest + (p, k - 1 - p))
        counts: dict[int, int] = {}
        for m in rest:
            counts[m] = counts.get(m, 0) + 1
        for m, c in counts.items():
            others = list(rest)
            others.remove(m)
            res = res + (2 * m * c) * self.value(tuple(others) + (k + m - 1,))
        self.memo[parts] = res
        return res


@functools.lru_cache(maxsize=None)
def _engine(key):
    if key == "symbolic":
        return _Engine(_n, _d, RING.one)
    n, d = key
    return _Engine(n, d, 1)


def _check_parts(parts) -> tuple[int, ...]:
    if isinstance(parts, numbers.Integral):
        parts = (parts,)
    parts = tuple(parts)
    if not all(isinstance(p, numbers.Integral) and p >= 0 for p in parts):
        raise ValueError(f"parts must be non-negative integers; got {parts!r}")
    return tuple(int(p) for p in parts)


def _numeric_nd(n, d) -> tuple[int, int] | None:
    """(n, d) as Python ints if both are integers, None if either is symbolic."""
    ints = [isinstance(v, numbers.Integral) or (isinstance(v, sympy.Integer)) for v in (n, d)]
    if all(ints):
        n, d = int(n), int(d)
        if n < 1 or d < 1:
            raise ValueError(f"n and d must be positive integers; got n={n}, d={d}")
        return n, d
    for name, v in (("n", n), ("d", d)):
        if not isinstance(v, (numbers.Integral, sympy.Basic)):
            raise ValueError(f"{name} must be an int or a sympy expression; got {v!r}")
    return None


def moment_poly(parts) -> "RING.dtype":
    """E[prod_i tr W^{parts_i}] as an exact sparse polynomial in ``RING`` = ZZ[n, d].

    Formula: Stein recursion of the module docstring.  ``parts``: an int k or a tuple of
    non-negative ints.  Example: moment_poly(2) == n*d*(n + d + 1).
    """
    return _engine("symbolic").value(_check_parts(parts))


def mixed_moment(parts, n=N_SYMBOL, d=D_SYMBOL):
    """E[prod_i tr W^{parts_i}], W = G G^T with G a d x n standard Gaussian matrix.

    Returns a Python int when n and d are integers (exact), else a sympy expression in the
    given n and d (symbols or expressions).  Formula: Stein recursion (module docstring).
    """
    parts = _check_parts(parts)
    nd = _numeric_nd(n, d)
    if nd is not None:
        return _engine(nd).value(parts)
    expr = moment_poly(parts).as_expr()
    gens = RING.symbols
    return sympy.expand(expr.subs({gens[0]: n, gens[1]: d}, simultaneous=True))


def trace_moment(k: int, n=N_SYMBOL, d=D_SYMBOL):
    """E tr W^k (exact); e.g. E tr W = n d, E tr W^2 = n d (n + d + 1).  See mixed_moment."""
    return mixed_moment((k,), n, d)


def sample_cov_moment(parts, n: int, d: int) -> Fraction:
    """E[prod_i tr S^{parts_i}] for S = W / n at integers (n, d), as an exact Fraction."""
    parts = _check_parts(parts)
    nd = _numeric_nd(n, d)
    if nd is None:
        raise ValueError(f"sample_cov_moment needs integer n and d; got n={n!r}, d={d!r}")
    return Fraction(_engine(nd).value(parts), nd[0] ** sum(parts))


def isotropic_pq(i: int, j: int, n: int, d: int) -> tuple[Fraction, Fraction]:
    """Coefficients (p, q) of the isotropic 4-tensor of S = W / n.

    Formula: E[(S^i)_ab (S^j)_cd] = p d_ab d_cd + q (d_ac d_bd + d_ad d_bc), O(d)-invariance
    plus symmetry of S^i.  Contracting (a=b, c=d) and (b=c, a=d):
        p d^2 + 2 q d = M2 := E tr S^i tr S^j,   p d + q (d^2 + d) = M1 := E tr S^{i+j},
    so q = (d M1 - M2) / (d (d+2)(d-1)), p = ((d+1) M2 - 2 M1) / (d (d+2)(d-1)).
    Needs d >= 2 (for d = 1 the three deltas coincide and only p + 2q = M1 is defined).
    """
    if d < 2:
        raise ValueError(
            f"isotropic_pq needs d >= 2 (the tensor basis is degenerate at d = 1); got d={d}"
        )
    m1 = sample_cov_moment((i + j,), n, d)
    m2 = sample_cov_moment((i, j), n, d)
    den = d * (d + 2) * (d - 1)
    return ((d + 1) * m2 - 2 * m1) / den, (d * m1 - m2) / den


def expected_trace_pair(i: int, j: int, X, Y, n: int, d: int):
    """E tr(S^i X S^j Y) = p tr(XY) + q (tr(X Y^T) + tr X tr Y) for fixed d x d X, Y.

    Formula: contract the 4-tensor of :func:`isotropic_pq` with X_bc Y_da.  X, Y: d x d
    arrays (NumPy or nested lists; entries may be floats, Fractions or mpf).
    Used for the full-matrix Hessians of Theorems 3 and 4 (:mod:`theory.hessian`).
    """
    p, q = isotropic_pq(i, j, n, d)
    rows = len(X)
    if rows != d or len(Y) != d:
        raise ValueError(f"X and Y must be {d} x {d}; got {rows} and {len(Y)} rows")
    tr_xy = sum(X[a][b] * Y[b][a] for a in range(d) for b in range(d))
    tr_xyt = sum(X[a][b] * Y[a][b] for a in range(d) for b in range(d))
    tr_x = sum(X[a][a] for a in range(d))
    tr_y = sum(Y[a][a] for a in range(d))
    return p * tr_xy + q * (tr_xyt + tr_x * tr_y)
