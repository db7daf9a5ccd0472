"""Gaussian moment identities used by Theorems 1 and 5, each checked independently.

Encoded identities (x ~ N(0, Sigma) in R^d):

* Isserlis: E[x_i x_j x_k x_l] = S_ij S_kl + S_ik S_jl + S_il S_jk.
* Quartic matrix moment: E[x x^T Omega x x^T] = 2 Sigma Omega Sigma + tr(Omega Sigma) Sigma
  for symmetric Omega.
* Half-Gaussian moments (u ~ N(0, 1)): E[u^k 1(u > 0)], in particular E[u^2 1(u>0)] = 1/2
  and E[u^4 1(u>0)] = 3/2 (Theorem 5).

The independent references are derivatives of the moment generating function
exp(t^T Sigma t / 2) at t = 0 and direct sympy integration against the normal density.
:func:`standard_normal_expectation` takes the expectation of any polynomial in
independent standard normals (Wick's theorem for independent coordinates); other modules
use it as a brute-force reference for assembled closed forms.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence

import sympy as sp

from theory.derivation import Derivation, Step


def symbolic_symmetric(name: str, d: int) -> sp.ImmutableMatrix:
    """A d x d symmetric matrix of fresh real symbols ``name_ij`` (i <= j)."""
    entries = {}
    for i in range(d):
        for j in range(i, d):
            entries[(i, j)] = entries[(j, i)] = sp.Symbol(f"{name}_{i + 1}{j + 1}", real=True)
    return sp.ImmutableMatrix(d, d, lambda i, j: entries[(i, j)])


def isserlis_fourth_moment(S, i: int, j: int, k: int, l: int):
    """E[x_i x_j x_k x_l] = S_ij S_kl + S_ik S_jl + S_il S_jk for x ~ N(0, S) (Isserlis)."""
    return S[i, j] * S[k, l] + S[i, k] * S[j, l] + S[i, l] * S[j, k]


def quartic_matrix_moment(Sigma, Omega):
    """E[x x^T Omega x x^T] = 2 Sigma Omega Sigma + tr(Omega Sigma) Sigma, x ~ N(0, Sigma).

    Sigma, Omega: d x d sympy matrices, Omega symmetric. Returns a d x d sympy matrix.
    Used for E[h h^T] in Theorem 1 (Appendix A of the paper).
    """
    Sigma, Omega = sp.Matrix(Sigma), sp.Matrix(Omega)
    return 2 * Sigma * Omega * Sigma + (Omega * Sigma).trace() * Sigma


def _mgf_moment(Sigma, index: tuple[int, ...]):
    """E[prod_k x_{index_k}] as the mixed derivative of exp(t^T Sigma t / 2) at t = 0."""
    d = Sigma.shape[0]
    t = sp.symbols(f"t1:{d + 1}")
    tv = sp.Matrix(t)
    expr = sp.exp((tv.T * Sigma * tv)[0, 0] / 2)
    for k in index:
        expr = sp.diff(expr, t[k])
    return sp.expand(expr.subs({ti: 0 for ti in t}))


@functools.lru_cache(maxsize=None)
def check_isserlis(d: int) -> bool:
    """Isserlis' fourth moment equals the MGF derivative for every index tuple, symbolic Sigma."""
    S = symbolic_symmetric("S", d)
    for index in itertools.combinations_with_replacement(range(d), 4):
        if sp.expand(_mgf_moment(S, index) - isserlis_fourth_moment(S, *index)) != 0:
            return False
    return True


@functools.lru_cache(maxsize=None)
def check_quartic_matrix_moment(d: int) -> bool:
    """E[x x^T Omega x x^T] from MGF fourth moments equals the closed form, symbolic Sigma, Omega."""
    S = symbolic_symmetric("S", d)
    W = symbolic_symmetric("W", d)
    fourth = {
        index: _mgf_moment(S, index)
        for index in itertools.combinations_with_replacement(range(d), 4)
    }

    def moment(*index):
        return fourth[tuple(sorted(index))]

    brute = sp.Matrix(
        d,
        d,
        lambda a, b: sum(W[j, k] * moment(a, j, k, b) for j in range(d) for k in range(d)),
    )
    return sp.expand(brute - quartic_matrix_moment(S, W)) == sp.zeros(d, d)


@functools.lru_cache(maxsize=None)
def half_gaussian_moment(k: int):
    """E[u^k 1(u > 0)] for u ~ N(0, 1), by sympy integration against the normal density."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 0:
        raise ValueError(f"half_gaussian_moment requires an integer k >= 0; got {k!r}")
    u = sp.Symbol("u", real=True)
    density = sp.exp(-(u**2) / 2) / sp.sqrt(2 * sp.pi)
    return sp.simplify(sp.integrate(u**k * density, (u, 0, sp.oo)))


def _normal_moment(m: int):
    """E[z^m] for z ~ N(0, 1): (m - 1)!! for even m, 0 for odd m."""
    return sp.Integer(0) if m % 2 else sp.factorial2(m - 1)


def standard_normal_expectation(expr, variables: Sequence[sp.Symbol]):
    """E[expr] when ``variables`` are independent N(0, 1) and expr is polynomial in them.

    Other symbols in expr are treated as constants. Expands expr, and replaces each
    monomial prod z_k^{m_k} by prod E[z_k^{m_k}].
    """
    poly = sp.Poly(sp.expand(expr), *variables)
    total = sp.Integer(0)
    for powers, coeff in poly.terms():
        factor = sp.Integer(1)
        for m in powers:
            factor *= _normal_moment(m)
            if factor == 0:
                break
        total += coeff * factor
    return sp.expand(total)


@functools.lru_cache(maxsize=None)
def derive_gaussian_moments(d: int = 2) -> Derivation:
    """The moment identities, each shown equal to an independent computation."""
    steps = [
        Step(
            f"Isserlis' fourth moment (d = {d}, symbolic Sigma)",
            r"\mathbb{E}[x_i x_j x_k x_l] = \Sigma_{ij}\Sigma_{kl} + \Sigma_{ik}\Sigma_{jl}"
            r" + \Sigma_{il}\Sigma_{jk}",
            "exact: mixed derivatives of exp(t^T Sigma t / 2) at t = 0",
            check_isserlis(d),
        ),
        Step(
            f"Quartic matrix moment (d = {d}, symbolic Sigma and symmetric Omega)",
            r"\mathbb{E}[x x^\top \Omega x x^\top] = 2 \Sigma \Omega \Sigma"
            r" + \operatorname{tr}(\Omega \Sigma) \Sigma",
            "exact: sum of MGF fourth moments against the closed form",
            check_quartic_matrix_moment(d),
        ),
    ]
    for k, value in ((1, 1 / sp.sqrt(2 * sp.pi)), (2, sp.Rational(1, 2)), (4, sp.Rational(3, 2))):
        lhs = sp.Symbol(rf"\mathbb{{E}}[u^{{{k}}} \mathbf{{1}}(u>0)]")
        steps.append(
            Step(
                f"Half-Gaussian moment of order {k}",
                sp.latex(sp.Eq(lhs, value)),
                "sympy integration against the N(0,1) density",
                sp.simplify(half_gaussian_moment(k) - value) == 0,
            )
        )
    return Derivation(
        "Gaussian moment identities", "Appendix A (moments used by Thms 1, 5)", tuple(steps)
    )
