"""Theorem 5: one ReLU attention layer, x ~ N(0, I), w* ~ N(0, I), last row of Q zero.

With P's last row [p_x^T, p_y] and B = Q11 (top-left d x d block of Q):

    TF = -(1/n) sum_i (p_x^T x_i + p_y y_i) relu(x_i^T B x_q)                  (Section 6)

Conditioning on the query and using E[x relu(x^T b)] = b/2,
E[||x||^2 relu(x^T b)^2] = ||b||^2 (d+2)/2 and E[x x^T relu(x^T b)^2] = ||b||^2/2 I + b b^T:

    f(p_x, p_y, B) = d + p_y tr B + p_y^2 k ||B||_F^2
                     + ||p_x||^2 ||B||_F^2 / (2n) + ((n+3)/(4n)) ||B^T p_x||^2,
    k = (n - 1 + 2(d+2)) / (4n).

With P = [[0,0],[0,1]]: f(B) = d + tr B + k ||B||_F^2, strictly convex, unique minimiser
B* = -(1/(2k)) I = -(2n/(n-1+2(d+2))) I (the paper's Q_0), f* = d(2d+3)/(n+2d+3).
Minimisers over (P, Q) need p_x = 0 and p_y B = B*. The loss is invariant under
(P, Q) -> (gP, Q/g) for every g != 0, but the predictor only for g > 0: g < 0 turns
relu(u) into relu(-u), a different function with the same loss.
"""

from __future__ import annotations

import functools
import itertools
import numbers

import mpmath
import numpy as np
import sympy as sp

from theory.derivation import Derivation, Step, fact_step, identity_step
from theory.gaussian import half_gaussian_moment, standard_normal_expectation
from theory.symbolic_model import attention_layer, readout, symbolic_matrix, symbolic_prompt

n_sym = sp.Symbol("n", positive=True, integer=True)
d_sym = sp.Symbol("d", positive=True, integer=True)


def _relu(u):
    return sp.Max(0, u)


@functools.lru_cache(maxsize=None)
def _coefficients():
    """(k, c1, c2) with k derived from the half-Gaussian moments c1 = E[u^2 1(u>0)], c2 = E[u^4 1(u>0)].

    E||v||^2 = (1/n) E[||x||^2 relu^2] + ((n-1)/n) ||E[x relu]||^2 = ||b||^2 k for
    v = (1/n) sum_i x_i relu(x_i^T b), with E[x relu(x^T b)] = c1 b and
    E[||x||^2 relu(x^T b)^2] = ||b||^2 (c2 + (d-1) c1).
    """
    c1, c2 = half_gaussian_moment(2), half_gaussian_moment(4)
    k = sp.factor((c2 + (d_sym - 1) * c1) / n_sym + (n_sym - 1) * c1**2 / n_sym)
    return k, c1, c2


def _rational(expr, n: int, d: int) -> sp.Rational:
    return sp.nsimplify(expr.subs({n_sym: n, d_sym: d}))


def _as_count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
    return int(value)


def _as_B(B) -> np.ndarray:
    B = np.asarray(B, dtype=float)
    if B.ndim != 2 or B.shape[0] != B.shape[1] or B.shape[0] == 0:
        raise ValueError(f"B must be a non-empty square d x d matrix; got shape {B.shape}")
    if not np.all(np.isfinite(B)):
        raise ValueError("B must have finite entries")
    return B


def loss_coefficient(n, d) -> float:
    """k = (n - 1 + 2(d+2)) / (4n), the coefficient of ||B||_F^2 (derived, see _coefficients)."""
    n, d = _as_count("n", n), _as_count("d", d)
    return float(_rational(_coefficients()[0], n, d))


def optimal_scale(n, d) -> float:
    """c = 1/(2k) = 2n/(n-1+2(d+2)), so B* = -c I (Theorem 5), from the derived k."""
    n, d = _as_count("n", n), _as_count("d", d)
    return float(1 / (2 * _rational(_coefficients()[0], n, d)))


def population_loss(B, n) -> float:
    """f(B) = d + tr B + k ||B||_F^2 for P = [[0,0],[0,1]], Q = [[B, *], [0, 0]] (Theorem 5).

    B: (d, d), the top-left block of Q (the paper's minimiser has B = -c I). Exact formula.
    """
    B = _as_B(B)
    k = loss_coefficient(n, B.shape[0])
    return float(B.shape[0] + np.trace(B) + k * np.sum(B * B))


def population_loss_general(p_x, p_y, B, n) -> float:
    """f = d + p_y tr B + p_y^2 k ||B||_F^2 + ||p_x||^2 ||B||_F^2/(2n) + ((n+3)/(4n)) ||B^T p_x||^2.

    p_x: (d,) and p_y: scalar, P's last row; B: (d, d) top-left block of Q (last row of Q zero).
    """
    B = _as_B(B)
    d = B.shape[0]
    n = _as_count("n", n)
    p_x = np.asarray(p_x, dtype=float).reshape(-1)
    if p_x.shape != (d,) or not np.all(np.isfinite(p_x)):
        raise ValueError(f"p_x must be a finite vector of length d={d}; got shape {p_x.shape}")
    if isinstance(p_y, bool) or not isinstance(p_y, numbers.Real) or not np.isfinite(p_y):
        raise ValueError(f"p_y must be a finite real number; got {p_y!r}")
    k = loss_coefficient(n, d)
    frob = float(np.sum(B * B))
    return float(
        d
        + p_y * np.trace(B)
        + p_y**2 * k * frob
        + p_x @ p_x * frob / (2 * n)
        + (n + 3) / (4 * n) * float(np.sum((B.T @ p_x) ** 2))
    )


def optimal_loss(n, d) -> float:
    """f* = d (2d + 3) / (n + 2d + 3), the minimum of f(B) (Theorem 5)."""
    n, d = _as_count("n", n), _as_count("d", d)
    k = _rational(_coefficients()[0], n, d)
    return float(d - d / (4 * k))


def relu_prediction(P, Q, X, y, x_q) -> float:
    """TF = -(1/n) [P Z M relu(Z^T Q Z)]_{d+1, n+1} for one prompt (Section 6, L = 1).

    P, Q: (d+1, d+1); X: (d, n); y: (n,); x_q: (d,). Used to show that (-P, -Q) has the
    same loss as (P, Q) but predicts differently.
    """
    P, Q, X = np.asarray(P, float), np.asarray(Q, float), np.asarray(X, float)
    y, x_q = np.asarray(y, float).reshape(-1), np.asarray(x_q, float).reshape(-1)
    d, n = X.shape
    if (
        P.shape != (d + 1, d + 1)
        or Q.shape != (d + 1, d + 1)
        or y.shape != (n,)
        or x_q.shape != (d,)
    ):
        raise ValueError(
            f"relu_prediction requires P, Q of shape {(d + 1, d + 1)}, y of length "
            f"{n}, x_q of length {d}; got {P.shape}, {Q.shape}, {y.shape}, {x_q.shape}"
        )
    Z = np.vstack([np.hstack([X, x_q[:, None]]), np.append(y, 0.0)[None, :]])  # (d+1, n+1)
    scores = np.maximum(Z.T @ Q @ Z[:, -1], 0.0)  # (n+1,)
    values = P[-1] @ Z[:, :n]  # (n,)
    return float(-(values @ scores[:n]) / n)


# --- derivation -------------------------------------------------------------------------

_QUAD_DPS = 30


def _half_plane_moment_mp(g, degree: int, b) -> mpmath.mpf:
    """E[g(x) 1(b^T x > 0)] for x ~ N(0, I_2) and g homogeneous of the given degree.

    Polar coordinates: (1/2pi) * 2^{m/2} Gamma(m/2 + 1) * integral of g(cos t, sin t) over
    the half circle facing b (mpmath tanh-sinh quadrature; independent of the rotation
    argument used in the derivation).
    """
    with mpmath.workdps(_QUAD_DPS):
        phi = mpmath.atan2(b[1], b[0])
        arc = mpmath.quad(
            lambda t: g(mpmath.cos(t), mpmath.sin(t)), [phi - mpmath.pi / 2, phi + mpmath.pi / 2]
        )
        radial = mpmath.mpf(2) ** (mpmath.mpf(degree) / 2) * mpmath.gamma(
            mpmath.mpf(degree) / 2 + 1
        )
        return +(arc * radial / (2 * mpmath.pi))


@functools.lru_cache(maxsize=None)
def _relu_moments_agree(b=(1, 2)) -> tuple[bool, bool, bool]:
    """mpmath check (d = 2) of E[x relu] = b/2, E[|x|^2 relu^2] = 2|b|^2, E[x x^T relu^2] = |b|^2/2 I + b b^T."""
    tol = mpmath.mpf(10) ** (
        -(_QUAD_DPS - 5)
    )  # basis: 30-digit quadrature of a smooth periodic arc integrand
    b1, b2 = (mpmath.mpf(v) for v in b)
    nb2 = b1**2 + b2**2

    def u(c, s):
        return b1 * c + b2 * s

    first = [
        _half_plane_moment_mp(lambda c, s: c * u(c, s), 2, (b1, b2)) - b1 / 2,
        _half_plane_moment_mp(lambda c, s: s * u(c, s), 2, (b1, b2)) - b2 / 2,
    ]
    norm = _half_plane_moment_mp(lambda c, s: (c * c + s * s) * u(c, s) ** 2, 4, (b1, b2)) - nb2 * 2
    outer = [
        _half_plane_moment_mp(lambda c, s: c * c * u(c, s) ** 2, 4, (b1, b2)) - nb2 / 2 - b1 * b1,
        _half_plane_moment_mp(lambda c, s: c * s * u(c, s) ** 2, 4, (b1, b2)) - b1 * b2,
        _half_plane_moment_mp(lambda c, s: s * s * u(c, s) ** 2, 4, (b1, b2)) - nb2 / 2 - b2 * b2,
    ]
    return (all(abs(e) < tol for e in first), abs(norm) < tol, all(abs(e) < tol for e in outer))


@functools.lru_cache(maxsize=None)
def orthant_loss_d1(n: int) -> tuple[sp.Expr, sp.Expr]:
    """(exact loss for d = 1 by orthant integration, closed form), both with symbolic p_x, p_y, B.

    w* is integrated by Gaussian moments; on each orthant of (x_1..x_n, x_q) the ReLU is
    either its argument or 0, so the integral is a product of half-Gaussian moments.
    Both signs of B are covered (B = +beta and B = -beta with beta > 0).
    """
    beta = sp.Symbol("beta", positive=True)
    p_x, p_y = sp.symbols("p_x p_y", real=True)
    x = sp.symbols(f"x1:{n + 1}", real=True)
    q, w = sp.symbols("q w", real=True)
    coords = list(x) + [q]
    results = []
    for sign in (1, -1):
        B = sign * beta
        total = sp.Integer(0)
        for signs in itertools.product((1, -1), repeat=n + 1):
            active = [sign * signs[i] * signs[n] > 0 for i in range(n)]
            TF = (
                -sum(
                    (p_x * x[i] + p_y * w * x[i]) * (B * x[i] * q if active[i] else 0)
                    for i in range(n)
                )
                / n
            )
            integrand = standard_normal_expectation((TF - w * q) ** 2, [w])
            poly = sp.Poly(integrand, *coords)
            for powers, coeff in poly.terms():
                factor = sp.Integer(1)
                for m, s in zip(powers, signs):
                    factor *= s**m * half_gaussian_moment(m)
                total += coeff * factor
        closed = (
            1
            + p_y * B
            + p_y**2 * _rational(_coefficients()[0], n, 1) * B**2
            + p_x**2 * B**2 / (2 * n)
            + sp.Rational(n + 3, 4 * n) * p_x**2 * B**2
        )
        results.append((sp.expand(total), sp.expand(closed)))
    return (
        sp.ImmutableMatrix([r[0] for r in results]),
        sp.ImmutableMatrix([r[1] for r in results]),
    )


def _forward_pass_step() -> Step:
    """Exact forward pass (d = 2, n = 2, generic entry-wise sigma, last row of Q zero)."""
    d, n = 2, 2
    prompt = symbolic_prompt(d, n)
    sigma = sp.Function("sigma")
    P = symbolic_matrix("P", d + 1, d + 1)
    Q = sp.Matrix(symbolic_matrix("Q", d + 1, d + 1))
    Q[d, :] = sp.zeros(1, d + 1)
    TF = readout(attention_layer(prompt.Z, P, Q, n, sigma))
    p_x, p_y, B = sp.Matrix(P[d, :d]).T, P[d, d], Q[:d, :d]
    X, y, x_q = prompt.X, prompt.y, prompt.x_q
    claim = (
        -sum(
            ((p_x.T * X[:, i])[0, 0] + p_y * y[i]) * sigma((X[:, i].T * B * x_q)[0, 0])
            for i in range(n)
        )
        / n
    )
    return identity_step(
        "Prediction of one entry-wise-sigma layer with Q's last row zero (d=2, n=2)",
        TF,
        claim,
        latex=r"\mathrm{TF} = -\tfrac1n \textstyle\sum_i (p_x^\top x_i + p_y y_i)\,"
        r"\sigma(x_i^\top B x_q)",
        detail="Exact symbolic forward pass with symbolic P, Q and an undefined sigma.",
    )


@functools.lru_cache(maxsize=None)
def _symbolic_B_steps(d: int = 2) -> tuple[Step, ...]:
    """Average over the query, convexity and the minimiser for a symbolic d x d B."""
    n = n_sym
    k = _coefficients()[0].subs(d_sym, d)
    B = sp.Matrix(symbolic_matrix("B", d, d))
    q = sp.Matrix(sp.symbols(f"q1:{d + 1}", real=True))
    p_x = sp.Matrix(sp.symbols(f"p1:{d + 1}", real=True))
    p_y, g = sp.symbols("p_y g", real=True, nonzero=True)
    b = B * q
    conditional = (q.T * q)[0, 0] + (q.T * B * q)[0, 0] + k * (b.T * b)[0, 0]
    averaged = standard_normal_expectation(conditional, list(q))
    frob = sum(v**2 for v in B)
    f_B = d + B.trace() + k * frob
    even_cond = ((b.T * b)[0, 0] * (p_x.T * p_x)[0, 0] / 2 + (p_x.T * b)[0, 0] ** 2) / n + (
        n - 1
    ) / (4 * n) * (p_x.T * b)[0, 0] ** 2
    even_avg = standard_normal_expectation(even_cond, list(q))
    Btp = B.T * p_x
    even_closed = (p_x.T * p_x)[0, 0] * frob / (2 * n) + (n + 3) / (4 * n) * (Btp.T * Btp)[0, 0]
    general = d + p_y * B.trace() + p_y**2 * k * frob + even_closed
    scaled = general.subs(
        {**{v: v / g for v in B}, **{v: g * v for v in p_x}, p_y: g * p_y}, simultaneous=True
    )
    (solution,) = sp.linsolve([sp.diff(f_B, v) for v in B], list(B))
    return (
        identity_step(
            f"Average over x_q ~ N(0, I) (d={d}, symbolic B)",
            averaged,
            f_B,
            latex=r"\mathbb{E}_q[\|q\|^2 + q^\top B q + k\|Bq\|^2] = d + \operatorname{tr}B"
            r" + k\|B\|_F^2",
            method="exact Gaussian moments of the query coordinates",
        ),
        identity_step(
            f"Hessian of f(B) is 2k I (d={d})",
            sp.ImmutableMatrix(sp.hessian(f_B, list(B))),
            sp.ImmutableMatrix(2 * k * sp.eye(d * d)),
        ),
        identity_step(
            f"Unique stationary point (d={d})",
            sp.ImmutableMatrix(d, d, list(solution)),
            sp.ImmutableMatrix(-2 * n / (n - 1 + 2 * (d + 2)) * sp.eye(d)),
            detail="sympy linsolve: a single solution, B* = -(2n/(n-1+2(d+2))) I",
        ),
        identity_step(
            f"Penalty of the covariate row p_x, averaged over x_q (d={d})",
            even_avg,
            even_closed,
            latex=r"\mathbb{E}[\mathrm{even}^2] = \frac{\|p_x\|^2\|B\|_F^2}{2n}"
            r" + \frac{n+3}{4n}\|B^\top p_x\|^2",
            detail="Conditional on q: E[(p_x^T v)^2] with E[x x^T relu^2] = |b|^2/2 I + b b^T. "
            "Zero iff p_x = 0 or B = 0, so minimisers have p_x = 0.",
            method="exact Gaussian moments of the query coordinates",
        ),
        identity_step(
            "Loss is invariant under (P, Q) -> (g P, Q / g) for every g != 0",
            scaled,
            general,
            latex=r"f(g p_x, g p_y, B/g) = f(p_x, p_y, B)",
        ),
    )


@functools.lru_cache(maxsize=None)
def _sign_flip_changes_predictor() -> tuple[sp.Expr, sp.Expr]:
    """TF at (P_0, Q_0) and at (-P_0, -Q_0) on one rational prompt (d = 2, n = 2), exactly."""
    d, n = 2, 2
    Z = sp.Matrix([[1, -2, 1], [3, 1, 2], [sp.Rational(1, 2), -1, 0]])
    c = 1 / (2 * _rational(_coefficients()[0], n, d))
    P = sp.zeros(d + 1, d + 1)
    P[d, d] = 1
    Q = sp.zeros(d + 1, d + 1)
    Q[:d, :d] = -c * sp.eye(d)
    before = readout(attention_layer(Z, P, Q, n, _relu))
    after = readout(attention_layer(Z, -P, -Q, n, _relu))
    return before, after


@functools.lru_cache(maxsize=None)
def derive_theorem5() -> Derivation:
    """Theorem 5 step by step: exact loss of one ReLU layer, its convexity and its minimiser."""
    k, c1, c2 = _coefficients()
    steps = _moment_steps(c1, c2) + _minimiser_steps(k) + _orthant_steps() + _rescaling_steps()
    return Derivation("Theorem 5: one ReLU attention layer", "Theorem 5 (Section 6)", tuple(steps))


def _moment_steps(c1, c2) -> list:
    """The forward pass and the Gaussian moments of one ReLU feature (Stein's lemma)."""
    moments = _relu_moments_agree()
    return [
        _forward_pass_step(),
        identity_step(
            "Half-Gaussian moment E[u^2 1(u>0)]",
            c1,
            sp.Rational(1, 2),
            method="sympy integration against the N(0,1) density",
        ),
        identity_step(
            "Half-Gaussian moment E[u^4 1(u>0)]",
            c2,
            sp.Rational(3, 2),
            method="sympy integration against the N(0,1) density",
        ),
        fact_step(
            "Stein: E[x relu(x^T b)] = E[u^2 1(u>0)] b = b/2",
            r"\mathbb{E}[x\,\mathrm{relu}(x^\top b)] = b/2",
            moments[0],
            f"mpmath polar quadrature at {_QUAD_DPS} digits (d=2, b=(1,2))",
        ),
        fact_step(
            "E[||x||^2 relu(x^T b)^2] = ||b||^2 (E[u^4 1] + (d-1) E[u^2 1]) = ||b||^2 (d+2)/2",
            r"\mathbb{E}[\|x\|^2 \mathrm{relu}(x^\top b)^2] = \|b\|^2 \tfrac{d+2}{2}",
            moments[1],
            f"mpmath polar quadrature at {_QUAD_DPS} digits (d=2, b=(1,2))",
        ),
        fact_step(
            "E[x x^T relu(x^T b)^2] = ||b||^2/2 I + b b^T",
            r"\mathbb{E}[x x^\top \mathrm{relu}(x^\top b)^2] = \tfrac{\|b\|^2}{2} I + b b^\top",
            moments[2],
            f"mpmath polar quadrature at {_QUAD_DPS} digits (d=2, b=(1,2))",
        ),
    ]


def _minimiser_steps(k) -> list:
    """The loss is a convex quadratic in B with curvature k; its minimiser and minimum."""
    n, d = n_sym, d_sym
    return [
        identity_step(
            "Conditional on x_q = q (b = Bq): E[(TF - <w*, q>)^2 | q] = ||q||^2 + q^T B q "
            "+ k ||Bq||^2 with k assembled from the moments",
            k,
            (n - 1 + 2 * (d + 2)) / (4 * n),
            latex=r"k = \frac{\mathbb{E}[u^4 1] + (d-1)\mathbb{E}[u^2 1]}{n} + "
            r"\frac{(n-1)\,\mathbb{E}[u^2 1]^2}{n} = \frac{n-1+2(d+2)}{4n}",
            detail="w* integrates out as ||v + q||^2, v = (1/n) sum_i x_i relu(x_i^T b); "
            "i != j pairs contribute ||b/2||^2, i = j terms E[||x||^2 relu^2].",
        ),
        *_symbolic_B_steps(2),
        fact_step(
            "k > 0, so f is strictly convex and the minimiser unique for every n, d",
            sp.StrictGreaterThan(k, 0),
            bool(k.is_positive),
            "sympy sign inference with positive integers n, d",
        ),
        identity_step(
            "Minimiser B* = -I/(2k) = -(2n/(n-1+2(d+2))) I (Theorem 5)",
            -1 / (2 * k),
            -2 * n / (n - 1 + 2 * (d + 2)),
        ),
        identity_step(
            "Minimal loss f* = d - d/(4k) = d(2d+3)/(n+2d+3)",
            d - d / (4 * k),
            d * (2 * d + 3) / (n + 2 * d + 3),
        ),
    ]


def _orthant_steps() -> list:
    """The whole closed-form loss against an independent orthant integration (d = 1)."""
    steps = []
    for n_val in (1, 2, 3):
        exact, closed = orthant_loss_d1(n_val)
        steps.append(
            identity_step(
                f"Whole closed-form loss equals exact orthant integration (d=1, n={n_val}, both signs of B, "
                "general p_x, p_y)",
                exact,
                closed,
                latex=r"\mathbb{E}[(\mathrm{TF} - w^* x_q)^2] = 1 + p_y B + p_y^2 k B^2 + "
                r"\tfrac{p_x^2 B^2}{2n} + \tfrac{n+3}{4n} p_x^2 B^2",
                method="exact: half-Gaussian moments on each orthant (independent of the Stein steps)",
            )
        )
    return steps


def _rescaling_steps() -> list:
    """(gP, Q/g): the predictor is kept for g > 0 only."""
    t, h = sp.symbols("t h", positive=True)
    before, after = _sign_flip_changes_predictor()
    return [
        identity_step(
            "ReLU is positively homogeneous: relu(u/g) = relu(u)/g for g > 0",
            sp.ImmutableMatrix([_relu(t / h) - _relu(t) / h, _relu(-t / h) - _relu(-t) / h]),
            sp.zeros(2, 1),
            detail="so (gP, Q/g) with g > 0 leaves the predictor unchanged",
        ),
        fact_step(
            "g = -1 keeps the loss but changes the predictor (one rational prompt, d=2, n=2)",
            sp.Ne(before, after, evaluate=False),
            sp.simplify(before - after) != 0,
            "exact forward pass with Max(0, .)",
            "(-P_0, -Q_0) computes (p_y/n) sum_i y_i relu(-x_i^T B x_q): another global "
            "minimiser of the loss that is a different function; Theorem 5's "
            "'up to rescaling' holds for the loss, and for the predictor only with g > 0.",
        ),
    ]
