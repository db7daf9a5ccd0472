"""Symbolic derivation of Theorem 1 and of the general (Omega, s2) one-layer optimum.

The population loss is assembled from the encoded moment identities of
:mod:`theory.gaussian` (not typed in), then differentiated and its linear stationarity
equations solved with sympy for symbolic n and symbolic covariances:

    f(A) = tr(Sigma E[e e^T]),  e = A^T h - w*,  h = (1/n) X y              (x_q independent)
    E[h h^T] = (1/n^2) [n(n-1) E[x x^T] Omega E[x x^T] + n (E[x x^T Omega x x^T] + s2 Sigma)]
    E[h w*^T] = E[x x^T] Omega

Re-exported by :mod:`theory.single_layer`. Paper: Theorem 1, eqs. (6)-(7), Appendix A.
"""

from __future__ import annotations

import functools

import sympy as sp

from theory.derivation import Derivation, Step, fact_step, identity_step, is_zero
from theory.gaussian import (
    check_quartic_matrix_moment,
    quartic_matrix_moment,
    standard_normal_expectation,
    symbolic_symmetric,
)
from theory.symbolic_model import family8, forward, readout, symbolic_matrix, symbolic_prompt

n_sym = sp.Symbol("n", positive=True)
s2_sym = sp.Symbol("s2", nonnegative=True)


def symbolic_h_moment(Sigma, n, Omega=None, s2=0) -> sp.Matrix:
    """E[h h^T] for h = (1/n) X y, assembled from Gaussian moments (Theorem 1, Appendix A).

    Pairs i != j contribute E[x x^T] Omega E[x x^T] each (independence), the n diagonal
    terms E[x x^T Omega x x^T] + s2 E[x x^T] (quartic moment; noise independent, mean 0).
    """
    Sigma = sp.Matrix(Sigma)
    Omega = sp.eye(Sigma.shape[0]) if Omega is None else sp.Matrix(Omega)
    off_diagonal = Sigma * Omega * Sigma
    diagonal = quartic_matrix_moment(Sigma, Omega) + s2 * Sigma
    return ((n * (n - 1) * off_diagonal + n * diagonal) / n**2).applyfunc(sp.factor)


def symbolic_population_loss(A, Sigma, n, Omega=None, s2=0) -> sp.Expr:
    """f(A) = tr(Sigma (A^T H A - A^T E[h w^T] - E[w h^T] A + Omega)), e = A^T h - w*."""
    A, Sigma = sp.Matrix(A), sp.Matrix(Sigma)
    Omega = sp.eye(Sigma.shape[0]) if Omega is None else sp.Matrix(Omega)
    H = symbolic_h_moment(Sigma, n, Omega, s2)
    E_hw = Sigma * Omega
    second = A.T * H * A - A.T * E_hw - E_hw.T * A + Omega
    return sp.expand((Sigma * second).trace())


def gamma_symbolic(Sigma, n) -> sp.Matrix:
    """Gamma = ((n+1)/n) Sigma + (tr Sigma / n) I (eq. 6)."""
    Sigma = sp.Matrix(Sigma)
    return (n + 1) / n * Sigma + Sigma.trace() / n * sp.eye(Sigma.shape[0])


def _stationary_point(loss, A) -> tuple[sp.Matrix, int]:
    """Solve grad f = 0 (linear in the entries of A); returns (A*, number of solutions)."""
    unknowns = list(A)
    equations = [sp.diff(loss, a) for a in unknowns]
    solutions = sp.linsolve(equations, unknowns)
    (solution,) = solutions
    free = set().union(*(sp.sympify(v).free_symbols for v in solution)) & set(unknowns)
    A_star = sp.Matrix(A.shape[0], A.shape[1], [sp.factor(v) for v in solution])
    return A_star, (1 if not free else 0)


def _kron(M, N) -> sp.Matrix:
    return sp.Matrix(
        sp.BlockMatrix(
            [[M[i, j] * N for j in range(M.shape[1])] for i in range(M.shape[0])]
        ).as_explicit()
    )


def brute_force_loss(d: int, n: int, with_noise: bool) -> tuple[sp.Expr, sp.Expr]:
    """(Wick expectation of (TF - <w*, x_q>)^2 from the prompt, assembled loss), exactly.

    x = C z, w* = K v with C, K symbolic lower triangular (so Sigma = C C^T and
    Omega = K K^T are general), eps = s e; z, v, e independent N(0, 1). Fixed integer n,
    symbolic A (d x d). Wick's theorem replaces every monomial by its moment.
    """
    C = sp.Matrix(d, d, lambda i, j: sp.Symbol(f"c_{i + 1}{j + 1}", real=True) if j <= i else 0)
    K = sp.Matrix(d, d, lambda i, j: sp.Symbol(f"k_{i + 1}{j + 1}", real=True) if j <= i else 0)
    s = sp.Symbol("s", positive=True) if with_noise else sp.Integer(0)
    A = symbolic_matrix("a", d, d)
    z = [[sp.Symbol(f"z_{i}{k}") for k in range(d)] for i in range(n + 1)]
    v = [sp.Symbol(f"v_{k}") for k in range(d)]
    e = [sp.Symbol(f"e_{i}") for i in range(n)] if with_noise else []
    xs = [C * sp.Matrix(z[i]) for i in range(n + 1)]
    w = K * sp.Matrix(v)
    ys = [(w.T * xs[i])[0, 0] + (s * e[i] if with_noise else 0) for i in range(n)]
    h = sum((xs[i] * ys[i] for i in range(n)), sp.zeros(d, 1)) / n
    err = (xs[n].T * (A.T * h - w))[0, 0]
    variables = [zz for row in z for zz in row] + v + e
    brute = standard_normal_expectation(err**2, variables)
    assembled = symbolic_population_loss(A, C * C.T, n, K * K.T, s**2)
    return brute, assembled


def _prediction_step(d: int) -> Step:
    n = 2
    prompt = symbolic_prompt(d, n)
    A = symbolic_matrix("a", d, d)
    TF = readout(forward(prompt.Z, [family8(A)], n)[-1])
    claim = (prompt.x_q.T * A.T * prompt.X * prompt.y)[0, 0] / n
    return Step(
        f"Family (8) predicts (1/n) x_q^T A^T X y (d={d}, n={n})",
        r"\mathrm{TF}(Z_0) = -[Z_1]_{d+1,n+1} = \tfrac{1}{n}\, x_q^\top A^\top X y",
        "exact symbolic forward pass, symbolic X, y, x_q, A",
        is_zero(TF - claim),
        "Note A^T: the bilinear form is x_i^T A x_q.",
    )


def _diag_sigma(d: int) -> tuple[sp.Matrix, tuple[sp.Symbol, ...]]:
    lam = sp.symbols(f"lambda1:{d + 1}", positive=True)
    return sp.diag(*lam), lam


def _general_sigma_2x2() -> sp.Matrix:
    a, c = sp.symbols("sigma_11 sigma_22", positive=True)
    b = sp.Symbol("sigma_12", real=True)
    return sp.Matrix([[a, b], [b, c]])


@functools.lru_cache(maxsize=None)
def _solve_theorem1(Sigma: sp.ImmutableMatrix):
    """Loss, gradient, stationary point and Hessian of family (8), Omega = I, s2 = 0."""
    d = Sigma.shape[0]
    A = symbolic_matrix("a", d, d)
    loss = symbolic_population_loss(A, Sigma, n_sym)
    A_star, unique = _stationary_point(loss, A)
    return A, loss, A_star, unique


@functools.lru_cache(maxsize=None)
def _brute_force_agrees(d: int, n: int, with_noise: bool) -> bool:
    brute, assembled = brute_force_loss(d, n, with_noise)
    return sp.expand(brute - assembled) == 0


def _brute_force_steps() -> list[Step]:
    steps = []
    for d, n in ((1, 3), (2, 1)):
        steps.append(
            Step(
                f"Assembled loss equals the brute-force Wick expectation (d={d}, n={n})",
                r"\mathbb{E}\big[(\tfrac1n x_q^\top A^\top X y - \langle w^*, x_q\rangle)^2\big]"
                r" = \operatorname{tr}(\Sigma A^\top H A) - 2\operatorname{tr}(\Sigma A^\top \Sigma"
                r"\Omega) + \operatorname{tr}(\Sigma\Omega)",
                "exact: expand the prompt polynomial, replace monomials of independent N(0,1) "
                "coordinates by their moments; Sigma = C C^T, Omega = K K^T general, label noise s2",
                _brute_force_agrees(d, n, True),
            )
        )
    return steps


@functools.lru_cache(maxsize=None)
def derive_theorem1(d: int = 2) -> Derivation:
    """Theorem 1 for family (8): Gamma^{-1} is the unique stationary point, a strict minimum.

    Diagonal Sigma = diag(lambda_1..lambda_d) with symbolic n (d = 1, 2, 3) and a general
    symbolic symmetric 2 x 2 Sigma. Omega = I, s2 = 0 (the paper's setting).
    """
    if d not in (1, 2, 3):
        raise ValueError(f"derive_theorem1 supports d in (1, 2, 3) (sympy cost); got {d!r}")
    steps = _theorem1_steps(d) + list(_general_2x2_steps())
    return Derivation(
        f"Theorem 1: one-layer optimum Gamma^(-1) (d = {d})",
        "Theorem 1, eqs. (6)-(7)",
        tuple(steps),
    )


def _theorem1_steps(d: int) -> list:
    """The steps of :func:`derive_theorem1` for diagonal Sigma (symbolic n, lambda_i)."""
    n = n_sym
    Sigma, lam = _diag_sigma(d)
    A, loss, A_star, unique = _solve_theorem1(sp.ImmutableMatrix(Sigma))
    H = symbolic_h_moment(Sigma, n)
    T = sum(lam)
    gradient = sp.Matrix(d, d, lambda i, j: sp.diff(loss, A[i, j]))
    f_star = sp.simplify(loss.subs(dict(zip(A, A_star))))
    return [
        _prediction_step(d),
        Step(
            f"Quartic Gaussian moment (d={d})",
            r"\mathbb{E}[x x^\top \Omega x x^\top] = 2\Sigma\Omega\Sigma"
            r" + \operatorname{tr}(\Omega\Sigma)\Sigma",
            "exact: MGF derivatives, symbolic Sigma and Omega",
            check_quartic_matrix_moment(d),
        ),
        identity_step(
            "Second moment of h = X y / n assembled from the moments",
            sp.ImmutableMatrix(H),
            sp.ImmutableMatrix((n + 1) / n * Sigma**2 + T / n * Sigma),
        ),
        *_brute_force_steps(),
        identity_step(
            "Gradient of the loss",
            sp.ImmutableMatrix(gradient),
            sp.ImmutableMatrix(2 * (H * A * Sigma - Sigma**2)),
            "grad f(A) = 2 (H A Sigma - Sigma^2)",
        ),
        fact_step(
            "Stationarity equations have a unique solution",
            sp.Eq(gradient, sp.zeros(d, d)),
            unique == 1,
            "sympy linsolve, symbolic n and lambda_i",
        ),
        *_convexity_steps(d, Sigma, lam, A, loss, A_star, H),
        identity_step(
            "Minimal loss",
            f_star,
            sum(l * (l + T) / ((n + 1) * l + T) for l in lam),
            "f* = tr Sigma - tr(Gamma^{-1} Sigma^2) = sum_i l_i (l_i + T)/((n+1) l_i + T)",
        ),
        identity_step(
            "Sigma = I gives n/(n+d+1) I (eq. 7)",
            sp.ImmutableMatrix(A_star.subs({l: 1 for l in lam})),
            sp.ImmutableMatrix(n / (n + d + 1) * sp.eye(d)),
        ),
        identity_step(
            "Sigma = I gives f* = d(d+1)/(n+d+1)",
            f_star.subs({l: 1 for l in lam}),
            sp.Integer(d) * (d + 1) / (n + d + 1),
        ),
    ]


def _convexity_steps(d, Sigma, lam, A, loss, A_star, H) -> list:
    """The stationary point is Gamma^{-1}; the Hessian 2 H (x) Sigma is positive definite."""
    hessian = sp.hessian(loss, list(A))
    eigen = [2 * H[i, i] * lam[j] for i in range(d) for j in range(d)]
    return [
        identity_step(
            "The stationary point is Gamma^{-1} (eq. 6)",
            sp.ImmutableMatrix(A_star),
            sp.ImmutableMatrix(gamma_symbolic(Sigma, n_sym).inv()),
        ),
        identity_step(
            "Hessian is 2 H (x) Sigma (row-major vec A)",
            sp.ImmutableMatrix(hessian),
            sp.ImmutableMatrix(2 * _kron(H, Sigma)),
        ),
        fact_step(
            "Hessian eigenvalues 2 h_i lambda_j are positive: strictly convex",
            sp.ImmutableMatrix(eigen),
            all(e.is_positive for e in eigen),
            "sympy sign inference with positive n, lambda_i",
        ),
    ]


def _spectral_form_holds() -> bool:
    """Gamma(U Lambda U^T) * U diag(1/((n+1)/n l_i + (l_1+l_2)/n)) U^T = I modulo c^2 + s^2 = 1."""
    n = n_sym
    c, s = sp.symbols("c s", real=True)
    l1, l2 = sp.symbols("l1 l2", positive=True)
    U = sp.Matrix([[c, -s], [s, c]])
    rotated = U * sp.diag(l1, l2) * U.T
    spectral = U * sp.diag(*[1 / ((n + 1) / n * l + (l1 + l2) / n) for l in (l1, l2)]) * U.T
    residual = gamma_symbolic(rotated, n) * spectral - sp.eye(2)
    for entry in residual:
        numerator = sp.expand(sp.numer(sp.together(entry)))
        _, remainder = sp.reduced(numerator, [c**2 + s**2 - 1], c, s)
        if remainder != 0:
            return False
    return True


@functools.lru_cache(maxsize=None)
def _general_2x2_steps() -> tuple[Step, ...]:
    n = n_sym
    Sigma = _general_sigma_2x2()
    _, _, A_star, unique = _solve_theorem1(sp.ImmutableMatrix(Sigma))
    return (
        fact_step(
            "General symmetric 2x2 Sigma: unique stationary point",
            sp.ImmutableMatrix(Sigma),
            unique == 1,
            "sympy linsolve, symbolic n and Sigma entries",
        ),
        identity_step(
            "General symmetric 2x2 Sigma: stationary point is Gamma^{-1}",
            sp.ImmutableMatrix(A_star),
            sp.ImmutableMatrix(gamma_symbolic(Sigma, n).inv()),
        ),
        fact_step(
            "Spectral form of eq. (6) (Sigma = U diag(l1, l2) U^T, U a rotation)",
            r"\Gamma^{-1} = U \operatorname{diag}\Big(\frac{1}{\frac{n+1}{n}\lambda_i"
            r" + \frac1n\sum_k \lambda_k}\Big) U^\top",
            _spectral_form_holds(),
            "exact: Gamma times the spectral form minus I reduces to 0 modulo c^2 + s^2 = 1",
        ),
    )


@functools.lru_cache(maxsize=None)
def _solve_general(d: int):
    Sigma, lam = _diag_sigma(d)
    Omega = sp.Matrix(symbolic_symmetric("omega", d))
    A = symbolic_matrix("a", d, d)
    loss = symbolic_population_loss(A, Sigma, n_sym, Omega, s2_sym)
    A_star, unique = _stationary_point(loss, A)
    return Sigma, lam, Omega, A, loss, A_star, unique


def _diagonal_omega_step(d: int) -> Step:
    """Diagonal Omega: A*_ii - Gamma^{-1}_ii = n (omega_i tr Sigma - tr(Sigma Omega) - s2) / (...)."""
    n, s2 = n_sym, s2_sym
    Sigma, lam = _diag_sigma(d)
    om = sp.symbols(f"omega1:{d + 1}", positive=True)
    Omega = sp.diag(*om)
    A_star = symbolic_h_moment(Sigma, n, Omega, s2).inv() * Sigma * Omega
    Gamma_inv = gamma_symbolic(Sigma, n).inv()
    trace, t_omega = sum(lam), sum(l * o for l, o in zip(lam, om))
    lhs = sp.ImmutableMatrix([A_star[i, i] - Gamma_inv[i, i] for i in range(d)])
    rhs = sp.ImmutableMatrix(
        [
            n
            * (om[i] * trace - t_omega - s2)
            / (((n + 1) * lam[i] * om[i] + t_omega + s2) * ((n + 1) * lam[i] + trace))
            for i in range(d)
        ]
    )
    return identity_step(
        "Diagonal Omega: where A* departs from Gamma^{-1}",
        lhs,
        rhs,
        "Zero for every i iff omega_i tr Sigma = tr(Sigma Omega) + s2 for all i, i.e. "
        "Omega = c I and s2 = 0: for Omega commuting with Sigma, Theorem 1's formula holds "
        "exactly in that case and no other.",
    )


@functools.lru_cache(maxsize=None)
def derive_general(d: int = 2) -> Derivation:
    """General one-layer optimum A* = H^{-1} Sigma Omega with task covariance Omega, noise s2.

    Diagonal Sigma, general symmetric Omega, symbolic n and s2 (d = 1, 2). Shows exactly
    which cases Theorem 1's Gamma^{-1} covers.
    """
    if d not in (1, 2):
        raise ValueError(f"derive_general supports d in (1, 2) (sympy cost); got {d!r}")
    n, s2 = n_sym, s2_sym
    Sigma, lam, Omega, A, loss, A_star, unique = _solve_general(d)
    H = symbolic_h_moment(Sigma, n, Omega, s2)
    closed = H.inv() * Sigma * Omega
    gradient = sp.Matrix(d, d, lambda i, j: sp.diff(loss, A[i, j]))
    f_star = loss.subs(dict(zip(A, A_star)))
    steps = [
        identity_step(
            "Second moment of h with task covariance Omega and label noise s2",
            sp.ImmutableMatrix(H),
            sp.ImmutableMatrix(
                (n + 1) / n * Sigma * Omega * Sigma + ((Omega * Sigma).trace() + s2) / n * Sigma
            ),
        ),
        *_brute_force_steps(),
        identity_step(
            "Gradient of the loss",
            sp.ImmutableMatrix(gradient),
            sp.ImmutableMatrix(2 * (H * A * Sigma - Sigma * Omega * Sigma)),
        ),
        fact_step(
            "Stationarity equations have a unique solution",
            sp.Eq(gradient, sp.zeros(d, d)),
            unique == 1,
            "sympy linsolve, symbolic n, s2, lambda_i, Omega entries",
        ),
        identity_step(
            "The stationary point is A* = H^{-1} Sigma Omega",
            sp.ImmutableMatrix(A_star),
            sp.ImmutableMatrix(closed),
        ),
        identity_step(
            "Hessian is 2 H (x) Sigma",
            sp.ImmutableMatrix(sp.hessian(loss, list(A))),
            sp.ImmutableMatrix(2 * _kron(H, Sigma)),
            "H = ((n+1)/n) Sigma Omega Sigma + ((tr(Omega Sigma)+s2)/n) Sigma is PD "
            "when tr(Omega Sigma) + s2 > 0, so f is strictly convex",
        ),
        identity_step(
            "Minimal loss f* = tr(Sigma Omega) - tr(A*^T Sigma Omega Sigma)",
            f_star,
            (Sigma * Omega).trace() - (A_star.T * Sigma * Omega * Sigma).trace(),
        ),
        *_special_case_steps(d, Sigma, lam, Omega, closed),
    ]
    steps.append(_diagonal_omega_step(d))
    if d == 2:
        steps.append(_symmetric_form_step())
    return Derivation(
        f"General one-layer optimum with task covariance and label noise (d = {d})",
        "Theorem 1 generalised (eq. 6 is the case Omega = c I, s2 = 0)",
        tuple(steps),
    )


def _special_case_steps(d, Sigma, lam, Omega, closed) -> list:
    """The general optimum H^{-1} Sigma Omega in the cases the paper and the package use."""
    n, s2 = n_sym, s2_sym
    c = sp.Symbol("c", positive=True)
    Gamma = gamma_symbolic(Sigma, n)
    scalar = {Omega[i, j]: (c if i == j else 0) for i in range(d) for j in range(d)}
    inverse = {Omega[i, j]: (1 / lam[i] if i == j else 0) for i in range(d) for j in range(d)}
    noisy_scalar = closed.subs(scalar)
    return [
        identity_step(
            "Omega = c I, s2 = 0: A* = Gamma^{-1} for every c > 0 (Theorem 1 applies)",
            sp.ImmutableMatrix(noisy_scalar.subs(s2, 0)),
            sp.ImmutableMatrix(Gamma.inv()),
        ),
        identity_step(
            "Omega = Sigma^{-1}: A* = n/(n+1+d+s2) Sigma^{-1}",
            sp.ImmutableMatrix(closed.subs(inverse)),
            sp.ImmutableMatrix(n / (n + 1 + d + s2) * Sigma.inv()),
        ),
        identity_step(
            "Omega = c I with noise: A* = c (c Gamma + (s2/n) I)^{-1}",
            sp.ImmutableMatrix(noisy_scalar),
            sp.ImmutableMatrix(c * (c * Gamma + s2 / n * sp.eye(d)).inv()),
        ),
        fact_step(
            "Omega = c I with s2 > 0: A* differs from Gamma^{-1}",
            sp.Ne(sp.ImmutableMatrix(noisy_scalar), sp.ImmutableMatrix(Gamma.inv())),
            not is_zero(noisy_scalar - Gamma.inv()),
            EXACT_NONZERO,
        ),
    ]


EXACT_NONZERO = "exact simplification (difference is a nonzero expression)"


def _symmetric_form_step() -> Step:
    """A* = H^{-1} Sigma Omega = (((n+1)/n) Sigma + ((tr(Omega Sigma)+s2)/n) Omega^{-1})^{-1}."""
    n, s2 = n_sym, s2_sym
    Sigma, _, Omega, _, _, A_star, _ = _solve_general(2)
    Gamma_omega = (n + 1) / n * Sigma + ((Omega * Sigma).trace() + s2) / n * Omega.inv()
    return identity_step(
        "A* is symmetric: A* = Gamma_Omega^{-1} (invertible Omega)",
        sp.ImmutableMatrix(A_star),
        sp.ImmutableMatrix(Gamma_omega.inv()),
        "Gamma_Omega = ((n+1)/n) Sigma + ((tr(Omega Sigma) + s2)/n) Omega^{-1}; "
        "with Omega = I, s2 = 0 it is Gamma, so eq. (6) is its special case.",
    )
