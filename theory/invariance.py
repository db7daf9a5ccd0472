"""Computed forms of two steps the critical-point derivations used to argue in text.

1. **O(d) invariance** (:func:`orthogonal_invariance_step`).  On S, in whitened coordinates,
   every layer is a multiple of I and the law of the whitened covariates x ~ N(0, I) is
   invariant under x -> R x for every orthogonal R; hence so is the law of S_hat = X X^T / n
   (S_hat -> R S_hat R^T), and every expectation G = E g(S_hat) of a matrix polynomial g with
   scalar coefficients (the gradient of f in one layer's matrix, :mod:`theory.hessian`) obeys
   R G R^T = G.  Computed here: the generators of the signed-permutation group (a sign flip, a
   transposition, a d-cycle) are orthogonal (R^T R = I exactly) and the matrices commuting with
   all of them form a space of dimension 1 (the exact null space of the linear system
   M R - R M = 0), i.e. G = c I.  So the gradient along any traceless direction X is
   tr(G X) = c tr X = 0, and the full gradient is (1/d) d phi_L / d a_l in the trace direction.

2. **Coercivity of family (8) on S** (:func:`coercivity_step`).  phi_L(a) = d c^T H c, with
   c = (c_0, ..., c_L) the coefficients of the residual p(s) = prod_l (1 - a_l s) (c_0 = 1) and
   H_ij = int s^{i+j} dmu the Hankel matrix of the spectral measure of S_hat.  Computed: p from
   the token recursion equals prod (1 - a_l s); phi_L - d c^T H c expands to 0; H is positive
   definite (its leading minors are positive rationals), so phi_L >= d |c|^2 / tr(H^-1).  On the
   sublevel set {phi_L <= phi_L(a*)}: |c| <= R := sqrt(phi_L(a*) tr(H^-1) / d), and the a_l are
   the roots of the monic t^L p(1/t) = sum_k c_k t^(L-k), so by Cauchy's root bound
   |a_l| <= 1 + max_k |c_k| <= 1 + R.  The sublevel set is closed and bounded and phi_L is
   continuous: its minimum is attained.

Paper: Theorems 3, 4 (eqs. 10, 12) and the footnote on attainment of the infimum.
"""

from __future__ import annotations

import math

import sympy

from theory.derivation import fact_step

__all__ = ["commutant_dimension", "orthogonal_invariance_step", "coercivity_step"]


def _generators(d: int) -> list:
    """A sign flip, a transposition and a d-cycle: they generate the signed permutations."""
    flip = sympy.diag(*([-1] + [1] * (d - 1)))
    swap = sympy.eye(d).permute_rows([1, 0] + list(range(2, d))) if d > 1 else sympy.eye(d)
    cycle = sympy.eye(d).permute_rows(list(range(1, d)) + [0])
    return [flip, swap, cycle]


def commutant_dimension(d: int) -> int:
    """dim {M in R^{d x d} : M R = R M for every generator R} (exact rank over QQ)."""
    if not (isinstance(d, int) and d >= 1):
        raise ValueError(f"d must be a positive int; got {d!r}")
    rows = []
    for R in _generators(d):
        # vec(M R - R M) = (R^T (x) I - I (x) R) vec(M), column-major vec
        K = sympy.kronecker_product(R.T, sympy.eye(d)) - sympy.kronecker_product(sympy.eye(d), R)
        rows.append(K)
    system = sympy.Matrix.vstack(*rows)
    return d * d - system.rank()


def orthogonal_invariance_step(d: int):
    """The step 'the full gradient of f is (1/d) grad phi_L in the trace direction', computed."""
    gens = _generators(d)
    orthogonal = all(R.T * R == sympy.eye(d) for R in gens)
    dim = commutant_dimension(d)
    return fact_step(
        "the full gradient of f in every matrix direction is (1/d) grad phi_L in the trace direction",
        r"R\,\mathbb{E}\,g(\hat S)\,R^\top = \mathbb{E}\,g(\hat S)\ \forall R"
        r"\ \Rightarrow\ \mathbb{E}\,g(\hat S) = c\,I",
        orthogonal and dim == 1,
        f"exact: the {len(gens)} generators of the signed permutations are orthogonal (R^T R = I) "
        f"and their commutant in R^({d}x{d}) has dimension {dim} (rank of the linear system "
        "M R - R M = 0 over QQ)",
        "the law of x ~ N(0, I), hence of S_hat, is invariant under every orthogonal R (module "
        "docstring of theory.invariance); a traceless direction X then gets tr(c X) = 0",
    )


def coercivity_step(L: int, n: int, d: int, phi_star):
    """The step 'phi_L is coercive on S, so its minimum is attained' (family (8)), computed.

    ``phi_star``: phi_L at a point of S (the enumerated minimum); the sublevel set below it is
    confined to the box |a_l| <= 1 + R."""
    from theory.restricted import S_SYMBOL, parameter_symbols, phi, residual_polynomial
    from theory.spectral import spectral_moments

    a, _ = parameter_symbols("8", L)
    s = S_SYMBOL
    p = residual_polynomial("8", L)
    product = sympy.expand(sympy.prod([1 - x * s for x in a]) - p) == 0
    c = list(reversed(sympy.Poly(p, s).all_coeffs()))  # c_0 .. c_L
    mu = [sympy.Rational(m.numerator, m.denominator) for m in spectral_moments(n, d, 2 * L + 1)]
    H = sympy.Matrix(L + 1, L + 1, lambda i, j: mu[i + j])
    cv = sympy.Matrix(c)
    quadratic = len(c) == L + 1 and (  # a residual of another degree is not this quadratic form
        sympy.expand(phi("8", L, n, d) - d * (cv.T * H * cv)[0, 0]) == 0
    )
    minors = [H[:k, :k].det() for k in range(1, L + 2)]
    definite = all(m > 0 for m in minors)
    trace_inv = H.inv().trace()
    radius = math.sqrt(float(phi_star) * float(trace_inv) / d)
    return fact_step(
        "phi_L is coercive on S, so its minimum is attained",
        r"\varphi_L(a) = d\,c^\top H c \ \ge\ \frac{d\,\|c\|^2}{\operatorname{tr} H^{-1}},"
        r"\qquad |a_l| \le 1 + \max_k |c_k|",
        product and quadratic and definite,
        "exact: p(s) = prod_l (1 - a_l s) from the token recursion, phi_L - d c^T H c expanded to 0, "
        f"the {L + 1} leading minors of the Hankel matrix H of mu positive rationals",
        f"on the sublevel set below the enumerated minimum, |c| <= {radius:.4g}, so every a_l lies "
        f"in |a_l| <= {1 + radius:.4g} (Cauchy's root bound on the monic t^L p(1/t)); a continuous "
        "function on that compact set attains its minimum",
    )
