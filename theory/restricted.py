"""Exact population losses of Theorems 3 and 4 restricted to the sets S.

Whitening.  Put x' = Sigma^{-1/2} x, w' = Sigma^{1/2} w* ~ N(0, I) and
A'_l = Sigma^{1/2} A_l Sigma^{1/2}.  The labels are unchanged (<w*, x> = <w', x'>) and on S
(A_l = a_l Sigma^{-1}, B_l = b_l I) every layer acts on whitened tokens through
A'_l = a_l I, so the loss on S does not depend on Sigma.  Let S_hat = (1/n) X X^T be the
whitened sample covariance of the n context covariates (S_hat = W / n, W ~ Wishart_d(n, I)).

Token recursion, one layer (eq. 4), P = [[P_x, 0], [0, 1]], Q = [[Q_x, 0], [0, 0]], the
x-parts X_l = G_l X_0 and the context labels Y_l M = u_l^T X_0 M:

    G_{l+1} = (I + P_x S_l Q_x) G_l,           S_l = (1/n) X_l M X_l^T = G_l S_hat G_l^T,
    u_{l+1} = (I + G_l^T Q_x^T G_l S_hat) u_l,  u_0 = w',
    [Z_L]_{d+1,n+1} + <w*, x_q> = <u_L, x_q>,   so f = E ||u_L||^2.

On S all factors are polynomials in S_hat and commute, so u_L = p(S_hat) w' with a scalar
polynomial p and

    phi_L = E tr p(S_hat)^2 = sum_k c_k E tr W^k / n^k,   p(s)^2 = sum_k c_k s^k.

Family (8) (P_x = 0, Q_x = -a_l): p(s) = prod_l (1 - a_l s)  (Lemma 1: L steps of
preconditioned GD).  Family (11) (P_x = b_l, Q_x = a_l, no minus sign):
g_0 = 1, g_{l+1} = (1 + a_l b_l g_l^2 s) g_l, p(s) = prod_l (1 + a_l g_l(s)^2 s); p does
not involve b_{L-1}.  With b = 0 the families coincide under a -> -a.

p(s) is derived below by running the scalar (spectral) form of this recursion in sympy,
never typed in by hand.  Paper reference: Theorems 3, 4 (eqs. 8-12), Lemma 1.
"""

from __future__ import annotations

import functools

import mpmath
import numpy as np
import sympy

from theory.families import FAMILIES as _EXACT
from theory.families import exact_family
from theory.wishart import D_SYMBOL, N_SYMBOL, mixed_moment, sample_cov_moment

__all__ = [
    "FAMILIES",
    "S_SYMBOL",
    "RestrictedLoss",
    "effective_symbols",
    "p_coefficients_mpoly",
    "parameter_symbols",
    "phi",
    "phi_mpoly",
    "residual_polynomial",
]

#: The families' equation numbers (:mod:`theory.families` holds the objects).
FAMILIES = tuple(f.equation for f in _EXACT)
S_SYMBOL = sympy.Symbol("s", nonnegative=True)


def _check_family_L(family, L: int):
    """The :class:`theory.families.ExactFamily` of ``family``; ValueError for a bad L."""
    family = exact_family(family)
    if not isinstance(L, int) or L < 1:
        raise ValueError(f"L must be a positive int; got {L!r}")
    return family


def parameter_symbols(
    family: str, L: int
) -> tuple[tuple[sympy.Symbol, ...], tuple[sympy.Symbol, ...]]:
    """Symbols (a_0..a_{L-1}) and (b_0..b_{L-1}); b is empty for family (8)."""
    family = _check_family_L(family, L)
    a = sympy.symbols(f"a_0:{L}", real=True)
    b = sympy.symbols(f"b_0:{L}", real=True) if family.has_b else ()
    return tuple(a), tuple(b)


def _layer_blocks(family: str, L: int):
    """Scalar x-blocks (P_x, Q_x) of each layer on S, in whitened coordinates."""
    a, b = parameter_symbols(family, L)
    return exact_family(family).layer_blocks(a, b, sympy.Integer(0))


@functools.cache
def residual_polynomial(family: str, L: int) -> sympy.Expr:
    """p(s) with u_L = p(S_hat) w', from the spectral token recursion (module docstring).

    Returns a sympy polynomial expression in S_SYMBOL and the parameter symbols.
    Family (8): prod (1 - a_l s).  Family (11): prod (1 + a_l g_l^2 s).  Theorems 3, 4.
    """
    family = _check_family_L(family, L)
    s = S_SYMBOL
    g, u = sympy.Integer(1), sympy.Integer(1)
    for P_x, Q_x in _layer_blocks(family, L):
        S_l = g * s * g  # G_l S_hat G_l^T on one eigen-direction of S_hat
        g, u = sympy.expand((1 + P_x * S_l * Q_x) * g), sympy.expand((1 + g * Q_x * g * s) * u)
    return u


@functools.cache
def _square_coefficients(family: str, L: int) -> tuple[sympy.Expr, ...]:
    """Coefficients c_k of p(s)^2 = sum_k c_k s^k as polynomials in the parameters."""
    poly = sympy.Poly(sympy.expand(residual_polynomial(family, L) ** 2), S_SYMBOL)
    return tuple(reversed(poly.all_coeffs()))


def phi(family: str, L: int, n=N_SYMBOL, d=D_SYMBOL) -> sympy.Expr:
    """Exact restricted loss phi_L = sum_k c_k(a, b) E tr W^k / n^k (Theorems 3, 4).

    ``n``, ``d``: ints (coefficients become rationals) or sympy symbols/expressions
    (coefficients rational functions in n, d).  Returns a sympy expression in the symbols of
    :func:`parameter_symbols`.
    """
    family = _check_family_L(family, L)
    coeffs = _square_coefficients(family, L)
    return sum(c * mixed_moment((k,), n, d) / sympy.sympify(n) ** k for k, c in enumerate(coeffs))


class RestrictedLoss:
    """Fast numeric phi_L, its gradient and Hessian at fixed integers (n, d).

    phi = <p, p>, d phi / d t_i = 2 <p, p_i>, d^2 phi / d t_i d t_j = 2 <p_i, p_j> + 2 <p, p_ij>
    with <f, g> = sum_k (f g)_k E tr S^k.  Parameters t = (a_0..a_{L-1}) for family (8),
    t = (a_0..a_{L-1}, b_0..b_{L-1}) for family (11).  Coefficients of p and its parameter
    derivatives come from sympy (lambdified); moments are exact Fractions.
    ``backend`` "mpmath" (at the caller's working precision) or "numpy" (float64).
    """

    def __init__(self, family: str, L: int, n: int, d: int):
        self.exact = _check_family_L(family, L)
        self.family = self.exact.equation
        if not (isinstance(n, int) and isinstance(d, int) and n >= 1 and d >= 1):
            raise ValueError(f"RestrictedLoss needs positive integers n, d; got n={n!r}, d={d!r}")
        self.L, self.n, self.d = L, n, d
        a, b = parameter_symbols(family, L)
        self.params = a + b
        ctx, pc = p_coefficients_mpoly(family, L)
        self.degree = len(pc) - 1
        self.moments = [sample_cov_moment((k,), n, d) for k in range(2 * self.degree + 1)]
        names = ctx.names()
        # p does not involve b_{L-1}: its derivatives in that parameter are identically zero.
        idx = {str(t): i for i, t in enumerate(self.params)}
        self._eff = [idx[v] for v in names]
        self._coeffs = _terms(pc)
        self._grads = {i: _terms([c.derivative(v) for c in pc]) for i, v in zip(self._eff, names)}
        self._hess = {
            (i, j): _terms([c.derivative(v).derivative(w) for c in pc])
            for i, v in zip(self._eff, names)
            for j, w in zip(self._eff, names)
            if i <= j
        }

    def _f(self, t, order=2):
        """(coefficients of p, of p_i, of p_ij) at t; zero lists for b_{L-1}; None above order."""
        x = [t[i] for i in self._eff]
        zero = [0 * t[0]] * (self.degree + 1)
        P = len(self.params)
        coeffs = _eval_terms(self._coeffs, x)
        if order == 0:
            return coeffs, None, None
        grads = [_eval_terms(self._grads[i], x) if i in self._grads else zero for i in range(P)]
        if order == 1:
            return coeffs, grads, None
        hess = [
            [
                _eval_terms(self._hess[(min(i, j), max(i, j))], x)
                if (min(i, j), max(i, j)) in self._hess
                else zero
                for j in range(P)
            ]
            for i in range(P)
        ]
        return coeffs, grads, hess

    def _split(self, t):
        t = list(t)
        if len(t) != len(self.params):
            raise ValueError(f"expected {len(self.params)} parameters {self.params}; got {len(t)}")
        return t

    def _pair(self, f, g, m):
        prod = np.convolve(np.asarray(f, dtype=object), np.asarray(g, dtype=object))
        return sum(c * mk for c, mk in zip(prod, m))

    def evaluate(self, t, order: int = 2, backend: str = "mpmath"):
        """(phi, gradient, Hessian) at parameters t; lower orders only if order < 2."""
        t = self._split(t)
        if backend == "mpmath":
            t = [mpmath.mpf(x) for x in t]
            m = [mpmath.mpf(x.numerator) / x.denominator for x in self.moments]
        elif backend == "numpy":
            t = [float(x) for x in t]
            m = [float(x) for x in self.moments]
        else:
            raise ValueError(f"backend must be 'mpmath' or 'numpy'; got {backend!r}")
        coeffs, grads, hess = self._f(t, order)
        P = len(t)
        val = self._pair(coeffs, coeffs, m)
        if order == 0:
            return val
        grad = [2 * self._pair(coeffs, grads[i], m) for i in range(P)]
        if order == 1:
            return val, grad
        H = [
            [
                2 * self._pair(grads[i], grads[j], m) + 2 * self._pair(coeffs, hess[i][j], m)
                for j in range(P)
            ]
            for i in range(P)
        ]
        return val, grad, H

    def value(self, t, backend: str = "mpmath"):
        """phi_L(t)."""
        return self.evaluate(t, order=0, backend=backend)

    def gradient(self, t, backend: str = "mpmath"):
        """grad phi_L(t) as a list."""
        return self.evaluate(t, order=1, backend=backend)[1]


def _terms(polys):
    """Term lists [(exponents, Fraction)] of fmpq_mpoly's, for evaluation in any arithmetic."""
    from fractions import Fraction

    return [
        [(tuple(int(e) for e in exps), Fraction(int(c.p), int(c.q))) for exps, c in q.terms()]
        for q in polys
    ]


def _eval_terms(term_lists, x):
    """Values of polynomials (term lists) at x; exact Fractions become x's number type."""
    out = []
    for terms in term_lists:
        total = 0 * x[0]
        for exps, c in terms:
            v = _num(c, x[0])
            for xi, e in zip(x, exps):
                if e:
                    v = v * xi**e
            total += v
        out.append(total)
    return out


def _num(c, like):
    if isinstance(like, float):
        return c.numerator / c.denominator
    return mpmath.mpf(c.numerator) / c.denominator


def effective_symbols(family: str, L: int) -> tuple[sympy.Symbol, ...]:
    """The parameters phi_L depends on: a_0..a_{L-1}, and b_0..b_{L-2} for family (11)."""
    a, b = parameter_symbols(family, L)
    return a + b[:-1]


@functools.cache
def p_coefficients_mpoly(family: str, L: int):
    """(context, [p_0, .., p_D]): the coefficients of p(s) as fmpq_mpoly's in effective_symbols."""
    from flint import fmpq, fmpq_mpoly_ctx

    family = _check_family_L(family, L)
    syms = effective_symbols(family, L)
    ctx = fmpq_mpoly_ctx.get(tuple(str(t) for t in syms), "lex")
    P = sympy.Poly(residual_polynomial(family, L), S_SYMBOL, *syms)
    coeffs = [{} for _ in range(P.degree(S_SYMBOL) + 1)]
    for (k, *exps), c in P.terms():
        c = sympy.Rational(c)
        coeffs[k][tuple(exps)] = fmpq(int(c.p), int(c.q))
    return ctx, [ctx.from_dict(c) for c in coeffs]


@functools.cache
def phi_mpoly(family: str, L: int, n: int, d: int):
    """phi_L as an exact python-flint fmpq_mpoly in :func:`effective_symbols` (Theorems 3, 4).

    phi_L = sum_k (p^2)_k E tr S^k with p the residual polynomial of :func:`residual_polynomial`
    and exact rational moments (:mod:`theory.wishart`).  Returns (context, phi).  Exact algebra
    (derivatives, resultants) and ball-arithmetic evaluation run on this object.
    """
    family = _check_family_L(family, L)
    if not (isinstance(n, int) and isinstance(d, int) and n >= 1 and d >= 1):
        raise ValueError(f"phi_mpoly needs positive integers n, d; got n={n!r}, d={d!r}")
    ctx, pc = p_coefficients_mpoly(family, L)
    return ctx, contract_square_with_moments(ctx, pc, n, d)


def contract_square_with_moments(ctx, pc, n: int, d: int):
    """sum_k (p^2)_k E tr S^k for p = sum_k pc[k] s^k (fmpq_mpoly coefficients in ``ctx``).

    The square's coefficients are the Cauchy products sum_i pc[i] pc[k-i]; E tr S^k are exact
    rational Wishart moments (:func:`theory.wishart.sample_cov_moment`).
    """
    from flint import fmpq

    deg = len(pc) - 1
    out = ctx.from_dict({})
    for k in range(2 * deg + 1):
        sq = ctx.from_dict({})
        for i in range(max(0, k - deg), min(k, deg) + 1):
            sq += pc[i] * pc[k - i]
        m = sample_cov_moment((k,), n, d)
        out += sq * fmpq(m.numerator, m.denominator)
    return out
