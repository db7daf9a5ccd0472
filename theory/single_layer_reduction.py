"""Every one-layer (P, Q) reduces exactly to family (8) plus a non-negative penalty.

Write P's last row as [p_x^T, p_y] and Q's first d columns as [[Q11], [q21^T]]. For L = 1

    TF(P, Q) = -[Z_1]_{d+1,n+1} = -(1/n) sum_i (p_x^T x_i + p_y y_i)(x_i^T Q11 x_q + y_i q21^T x_q)
             = odd + even,
    odd  = (1/n) sum_i y_i x_i^T A_eff x_q   (family-(8) prediction),  A_eff = -(p_y Q11 + p_x q21^T)
    even = -(1/n) sum_i [p_x^T x_i x_i^T Q11 x_q + p_y y_i^2 q21^T x_q].

odd is linear in the labels, even has label degree 0 and 2. Under (w*, eps) -> (-w*, -eps)
(a symmetry of the data distribution) y -> -y, so E[(odd - <w*, x_q>) even] = 0 and

    f(P, Q) = f_8(A_eff) + E[even^2] >= f_8(A*),

with equality iff A_eff = A* and even = 0, i.e. (p_x = 0 or Q11 = 0) and (p_y = 0 or q21 = 0).
For d >= 2 this forces p_x = 0, q21 = 0, -p_y Q11 = A*: family (8) up to (gP, Q/g) and the
entries the loss cannot see. For d = 1 there is a second branch: Q11 = 0, p_y = 0,
-p_x q21 = A* (a scalar), which computes the same predictor through the covariate row.
Paper: Theorem 1 ("up to rescaling"), Appendix A.
"""

from __future__ import annotations

import functools

import numpy as np
import sympy as sp

from theory.derivation import Derivation, Step, fact_step, identity_step, is_zero
from theory.gaussian import standard_normal_expectation
from theory.single_layer_symbolic import gamma_symbolic, n_sym, symbolic_population_loss
from theory.symbolic_model import family8, forward, readout, symbolic_matrix, symbolic_prompt


def effective_preconditioner(P, Q) -> np.ndarray:
    """A_eff = -(p_y Q11 + p_x q21^T), the family-(8) block of the label-odd part of TF.

    P, Q: (d+1, d+1) arrays; p_x = P[d, :d], p_y = P[d, d], Q11 = Q[:d, :d], q21 = Q[d, :d].
    Returns (d, d). For family (8) (P = [[0,0],[0,1]], Q = -[[A,0],[0,0]]) it returns A.
    """
    P, Q = _pair(P, Q)
    d = P.shape[0] - 1
    return -(P[d, d] * Q[:d, :d] + np.outer(P[d, :d], Q[d, :d]))


def even_part_vanishes(P, Q) -> bool:
    """True iff the label-even part of TF is identically zero: (p_x = 0 or Q11 = 0) and
    (p_y = 0 or q21 = 0), tested exactly (no tolerance). P, Q: (d+1, d+1)."""
    P, Q = _pair(P, Q)
    d = P.shape[0] - 1
    p_x, p_y, Q11, q21 = P[d, :d], P[d, d], Q[:d, :d], Q[d, :d]
    return (not p_x.any() or not Q11.any()) and (p_y == 0 or not q21.any())


def _pair(P, Q) -> tuple[np.ndarray, np.ndarray]:
    P, Q = np.asarray(P, dtype=float), np.asarray(Q, dtype=float)
    for name, M in (("P", P), ("Q", Q)):
        if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] < 2:
            raise ValueError(
                f"{name} must be a square (d+1) x (d+1) matrix with d >= 1; got shape {M.shape}"
            )
        if not np.all(np.isfinite(M)):
            raise ValueError(f"{name} must have finite entries")
    if P.shape != Q.shape:
        raise ValueError(f"P and Q must have the same shape; got {P.shape} and {Q.shape}")
    return P, Q


def _blocks(P, Q, d):
    """(p_x (d x 1), p_y, Q11 (d x d), q21 (d x 1)) of symbolic (d+1) x (d+1) P, Q."""
    return (
        sp.Matrix(d, 1, list(P[d, :d])),
        P[d, d],
        sp.Matrix(Q[:d, :d]),
        sp.Matrix(d, 1, list(Q[d, :d])),
    )


def _split_by_label_degree(expr, y, t):
    """Coefficients of t^0, t^1, t^2 after y -> t y."""
    scaled = sp.expand(expr.subs({yi: t * yi for yi in y}, simultaneous=True))
    return [scaled.coeff(t, k) for k in range(3)]


@functools.lru_cache(maxsize=None)
def _symbolic_split(d: int, n: int):
    """Forward pass with full symbolic P, Q; returns the pieces used by the steps."""
    prompt = symbolic_prompt(d, n)
    P, Q = symbolic_matrix("P", d + 1, d + 1), symbolic_matrix("Q", d + 1, d + 1)
    TF = readout(forward(prompt.Z, [(P, Q)], n)[-1])
    p_x, p_y, Q11, q21 = _blocks(P, Q, d)
    X, y, x_q = sp.Matrix(prompt.X), sp.Matrix(prompt.y), sp.Matrix(prompt.x_q)
    A_eff = -(p_y * Q11 + p_x * q21.T)
    odd = (x_q.T * A_eff.T * X * y)[0, 0] / n
    even = (
        -sum(
            (p_x.T * X[:, i] * X[:, i].T * Q11 * x_q)[0, 0] + p_y * y[i] ** 2 * (q21.T * x_q)[0, 0]
            for i in range(n)
        )
        / n
    )
    return prompt, P, Q, TF, p_x, p_y, Q11, q21, odd, even


def _cross_term_and_decomposition(n: int = 2):
    """d = 1, Wick expectations with x = c z, w* = k v, eps = s e and symbolic P, Q entries."""
    c, k, s = sp.symbols("c k s", positive=True)
    p_x, p_y, q11, q21 = sp.symbols("p_x p_y q_11 q_21", real=True)
    z = sp.symbols(f"z0:{n + 1}")
    v = sp.Symbol("v")
    e = sp.symbols(f"e0:{n}")
    x = [c * zi for zi in z]
    w = k * v
    y = [w * x[i] + s * e[i] for i in range(n)]
    x_q = x[n]
    odd = sum(y[i] * x[i] * x_q for i in range(n)) * (-(p_y * q11 + p_x * q21)) / n
    even = -sum(p_x * x[i] ** 2 * q11 * x_q + p_y * y[i] ** 2 * q21 * x_q for i in range(n)) / n
    variables = list(z) + [v] + list(e)
    cross = standard_normal_expectation((odd - w * x_q) * even, variables)
    total = standard_normal_expectation((odd + even - w * x_q) ** 2, variables)
    f8 = symbolic_population_loss(
        sp.Matrix([[-(p_y * q11 + p_x * q21)]]), sp.Matrix([[c**2]]), n, sp.Matrix([[k**2]]), s**2
    )
    penalty = standard_normal_expectation(even**2, variables)
    return cross, total, f8 + penalty


_TF_SPLIT = (
    r"\mathrm{TF} = \underbrace{\tfrac1n x_q^\top A_{\mathrm{eff}}^\top X y}_{\mathrm{odd}}"
    r" \underbrace{- \tfrac1n \textstyle\sum_i \big[p_x^\top x_i x_i^\top Q_{11} x_q"
    r" + p_y y_i^2 q_{21}^\top x_q\big]}_{\mathrm{even}},\quad"
    r" A_{\mathrm{eff}} = -(p_y Q_{11} + p_x q_{21}^\top)"
)


@functools.lru_cache(maxsize=None)
def derive_reduction(d: int = 2, n: int = 2) -> Derivation:
    """All one-layer (P, Q) reduce to family (8): f(P, Q) = f_8(A_eff) + E[even^2]."""
    if d not in (1, 2, 3) or n not in (1, 2, 3):
        raise ValueError(
            f"derive_reduction supports d, n in (1, 2, 3) (sympy cost); got d={d}, n={n}"
        )
    prompt, P, Q, TF, p_x, p_y, Q11, q21, odd, even = _symbolic_split(d, n)
    t = sp.Symbol("t")
    degree = _split_by_label_degree(TF, list(prompt.y), t)
    visible = set(P[d, :]) | set(Q[:, :d])
    g = sp.Symbol("g", nonzero=True, real=True)
    TF_scaled = readout(forward(prompt.Z, [(g * P, Q / g)], n)[-1])
    steps = [
        fact_step(
            f"TF sees P only through its last row and Q only through its first d columns "
            f"(d={d}, n={n})",
            sp.FiniteSet(*sorted(TF.free_symbols & (set(P) | set(Q)), key=sp.default_sort_key)),
            (TF.free_symbols & (set(P) | set(Q))) <= visible,
            "exact symbolic forward pass, fully symbolic P and Q",
        ),
        identity_step(
            "TF = odd + even",
            TF,
            odd + even,
            latex=_TF_SPLIT,
            detail=(
                "odd = (1/n) x_q^T A_eff^T X y with A_eff = -(p_y Q11 + p_x q21^T); "
                "even = -(1/n) sum_i [p_x^T x_i x_i^T Q11 x_q + p_y y_i^2 q21^T x_q]"
            ),
        ),
        identity_step(
            "odd is the label-degree-1 part of TF",
            degree[1],
            sp.expand(odd),
            latex=r"[\mathrm{TF}]_{y^1} = \tfrac1n x_q^\top A_{\mathrm{eff}}^\top X y",
        ),
        identity_step(
            "even is the label-degree-0 and -2 part of TF",
            degree[0] + degree[2],
            sp.expand(even),
            latex=r"[\mathrm{TF}]_{y^0} + [\mathrm{TF}]_{y^2} = \mathrm{even}",
        ),
        identity_step(
            "TF is invariant under (P, Q) -> (g P, Q / g)",
            TF_scaled,
            TF,
            latex=r"\mathrm{TF}_{gP,\,Q/g} = \mathrm{TF}_{P,Q}\quad (g \ne 0)",
        ),
        *_decomposition_steps(prompt, n, p_x, p_y, Q11, q21, degree),
    ]
    steps += _branch_steps()
    return Derivation(
        "Theorem 1: every one-layer (P, Q) reduces to family (8)",
        "Theorem 1 (all P, Q, L = 1), Appendix A",
        tuple(steps),
    )


def _decomposition_steps(prompt, n, p_x, p_y, Q11, q21, degree) -> list[Step]:
    """f(P, Q) = f_8(A_eff) + E[even^2], and when the even part vanishes."""
    cross, total, decomposed = _cross_term_and_decomposition()
    i_term = sp.expand(-(p_x.T * prompt.X[:, 0] * prompt.X[:, 0].T * Q11 * prompt.x_q)[0, 0] / n)
    product = sp.expand(
        -(p_x.T * prompt.X[:, 0])[0, 0] * (prompt.X[:, 0].T * Q11 * prompt.x_q)[0, 0] / n
    )
    return [
        fact_step(
            "Cross term vanishes: E[(odd - <w*, x_q>) even] = 0 (d=1, n=2, label noise)",
            r"\mathbb{E}[(\mathrm{odd} - \langle w^*, x_q\rangle)\,\mathrm{even}] = 0",
            cross == 0,
            "exact Wick expectation over the prompt, symbolic P, Q entries, Sigma, Omega, s2",
        ),
        identity_step(
            "Loss decomposition f(P, Q) = f_8(A_eff) + E[even^2] (d=1, n=2, label noise)",
            total,
            decomposed,
            latex=r"f(P,Q) = f_8(A_{\mathrm{eff}}) + \mathbb{E}[\mathrm{even}^2]",
            detail="f_8 is the assembled closed form of theory.single_layer_symbolic",
            method="exact Wick expectation against the assembled family-(8) loss",
        ),
        identity_step(
            "Label-degree-0 term of example i factors into two linear forms",
            i_term,
            product,
            "A product of polynomials is zero iff a factor is, so this term "
            "vanishes iff p_x = 0 or Q11 = 0.",
            latex=r"-\tfrac1n (p_x^\top x_i)(x_i^\top Q_{11} x_q)",
        ),
        identity_step(
            "Coefficient of y_i^2 in TF",
            sp.expand(degree[2]).coeff(prompt.y[0], 2),
            sp.expand(-p_y * (q21.T * prompt.x_q)[0, 0] / n),
            detail="vanishes iff p_y = 0 or q21 = 0",
            latex=r"[\mathrm{TF}]_{y_i^2} = -\tfrac{p_y}{n} q_{21}^\top x_q",
        ),
    ]


def _branch_steps() -> list[Step]:
    """d >= 2: the p_x != 0 branch is impossible; d = 1: it exists."""
    px = sp.Matrix(sp.symbols("px1 px2", real=True))
    qv = sp.Matrix(sp.symbols("q1 q2", real=True))
    lam = sp.symbols("lambda1 lambda2", positive=True)
    det_gamma_inv = sp.factor(gamma_symbolic(sp.diag(*lam), n_sym).inv().det())
    n = 2
    prompt = symbolic_prompt(1, n)
    p_x, q21, P11, P12, Q12, Q22 = sp.symbols("p_x q_21 P_11 P_12 Q_12 Q_22", real=True)
    P = sp.Matrix([[P11, P12], [p_x, 0]])
    Q = sp.Matrix([[0, Q12], [q21, Q22]])
    TF_branch = readout(forward(prompt.Z, [(P, Q)], n)[-1])
    TF_family8 = readout(forward(prompt.Z, [family8(sp.Matrix([[-p_x * q21]]))], n)[-1])
    return [
        fact_step(
            "d = 2: a rank-one A_eff = -p_x q21^T has zero determinant, A* does not",
            r"\det(p_x q_{21}^\top) = 0 \ne \det \Gamma^{-1}",
            is_zero(sp.det(px * qv.T)) and bool(det_gamma_inv.is_positive),
            "exact determinant; det Gamma^{-1} > 0 by sign inference (positive n, lambda_i)",
            "So for d >= 2 every minimiser has p_x = 0, q21 = 0 and -p_y Q11 = A*: family (8) "
            "up to (g P, Q / g) and the entries the loss cannot see.",
        ),
        identity_step(
            "d = 1: second branch Q11 = 0, p_y = 0 computes the family-(8) predictor "
            "with A = -p_x q21",
            TF_branch,
            TF_family8,
            latex=r"\mathrm{TF}_{P,Q} = \tfrac1n \textstyle\sum_i y_i x_i (-p_x q_{21}) x_q",
            detail=(
                "With -p_x q21 = A* this is a global minimiser whose P has last "
                "row [p_x, 0], not g [0, 1]: outside the (g P, Q / g) orbit of "
                "Theorem 1's minimiser, so uniqueness 'up to rescaling' fails "
                "for d = 1."
            ),
        ),
    ]
