"""Theorem 1 and its generalisation: the exact one-layer optimum of family (8).

Model (family (8), L = 1): P = [[0,0],[0,1]], Q = -[[A,0],[0,0]] gives

    TF(Z_0) = -[Z_1]_{d+1,n+1} = (1/n) x_q^T A^T X y = x_q^T A^T h,   h = (1/n) X y.

Data: x ~ N(0, Sigma), w* with E[w* w*^T] = Omega (Gaussian where symmetry is used),
y_i = <w*, x_i> + eps_i with eps_i ~ N(0, s2) (the paper has s2 = 0, Omega = I).

    H    = E[h h^T] = ((n+1)/n) Sigma Omega Sigma + ((tr(Omega Sigma) + s2)/n) Sigma
    f(A) = tr(Sigma A^T H A) - 2 tr(Sigma A^T Sigma Omega) + tr(Sigma Omega)
    grad f(A) = 2 (H A Sigma - Sigma Omega Sigma),   Hessian = 2 H (x) Sigma  (PD)
    A*   = H^{-1} Sigma Omega,    f* = tr(Sigma Omega) - tr(A*^T Sigma Omega Sigma)

Cases: Omega = c I (any c > 0) and s2 = 0 give A* = Gamma^{-1},
Gamma = ((n+1)/n) Sigma + (tr Sigma / n) I, exactly Theorem 1 (eq. 6); Sigma = I gives
n/(n+d+1) I (eq. 7). Omega = Sigma^{-1} gives A* = n/(n+1+d+s2) Sigma^{-1}. Any label
noise (s2 > 0) or, for Omega commuting with Sigma, any non-scalar Omega moves the optimum
away from Gamma^{-1}. For invertible Omega, A* is always symmetric:
A* = (((n+1)/n) Sigma + ((tr(Omega Sigma) + s2)/n) Omega^{-1})^{-1}.

The reduction of all (P, Q) to family (8) lives in :mod:`theory.single_layer_reduction`
and is re-exported here (``effective_preconditioner``, ``derive_reduction``).
"""

from __future__ import annotations

import numbers

import mpmath
import numpy as np

# Rounding in products such as U D U^T leaves an asymmetry of a few eps * ||M||; 1e-10
# relative is far above that and far below any asymmetry a caller could mean.
_SYMMETRY_RTOL = 1e-10


def _as_count(n) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n (number of context examples) must be an integer >= 1; got {n!r}")
    return int(n)


def _as_square(name: str, M, d: int | None = None) -> np.ndarray:
    M = np.asarray(M, dtype=float)
    if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square matrix; got shape {M.shape}")
    if d is not None and M.shape != (d, d):
        raise ValueError(f"{name} must have shape {(d, d)} to match Sigma; got {M.shape}")
    if not np.all(np.isfinite(M)):
        raise ValueError(f"{name} must have finite entries; got {M!r}")
    return M


def _as_symmetric(name: str, M, d: int | None = None) -> np.ndarray:
    M = _as_square(name, M, d)
    scale = max(float(np.max(np.abs(M))), np.finfo(float).tiny)
    asym = float(np.max(np.abs(M - M.T)))
    if asym > _SYMMETRY_RTOL * scale:
        raise ValueError(f"{name} must be symmetric; got max |M - M^T| = {asym:.3g}")
    return (M + M.T) / 2


def _as_sigma(sigma) -> np.ndarray:
    sigma = _as_symmetric("Sigma", sigma)
    try:
        np.linalg.cholesky(sigma)
    except np.linalg.LinAlgError:
        raise ValueError(
            "Sigma must be positive definite; Cholesky factorisation failed "
            f"(smallest eigenvalue {np.linalg.eigvalsh(sigma)[0]:.3g})"
        ) from None
    return sigma


def _as_omega(omega, d: int) -> np.ndarray:
    if omega is None:
        return np.eye(d)
    omega = _as_symmetric("Omega", omega, d)
    smallest = float(np.linalg.eigvalsh(omega)[0])
    # Same basis as the symmetry check: rounding-level negative eigenvalues are accepted.
    if smallest < -_SYMMETRY_RTOL * max(float(np.max(np.abs(omega))), 1.0):
        raise ValueError(
            f"Omega must be positive semi-definite; smallest eigenvalue {smallest:.3g}"
        )
    return omega


def _as_noise(noise) -> float:
    if (
        isinstance(noise, bool)
        or not isinstance(noise, numbers.Real)
        or not np.isfinite(noise)
        or noise < 0
    ):
        raise ValueError(
            f"noise (label-noise variance s2) must be a finite real >= 0; got {noise!r}"
        )
    return float(noise)


def _inputs(sigma, n, omega, noise):
    sigma = _as_sigma(sigma)
    n = _as_count(n)
    omega = _as_omega(omega, sigma.shape[0])
    noise = _as_noise(noise)
    if np.trace(omega @ sigma) + noise <= 0:
        raise ValueError(
            "tr(Omega Sigma) + noise must be > 0 (otherwise the labels vanish and "
            "the optimum is not unique); got Omega = 0 and noise = 0"
        )
    return sigma, n, omega, noise


def gamma(sigma, n) -> np.ndarray:
    """Gamma = ((n+1)/n) Sigma + (tr Sigma / n) I (Theorem 1, eq. 6).

    sigma: (d, d) SPD covariance of x; n: number of context examples. Returns (d, d).
    """
    sigma = _as_sigma(sigma)
    n = _as_count(n)
    d = sigma.shape[0]
    return (n + 1) / n * sigma + np.trace(sigma) / n * np.eye(d)


def h_moment(sigma, n, omega=None, noise=0.0) -> np.ndarray:
    """H = E[h h^T] = ((n+1)/n) Sigma Omega Sigma + ((tr(Omega Sigma) + s2)/n) Sigma.

    h = (1/n) X y. sigma, omega: (d, d); noise: label-noise variance s2. Returns (d, d).
    """
    sigma, n, omega, noise = _inputs(sigma, n, omega, noise)
    return _h(sigma, n, omega, noise)


def _h(sigma, n, omega, noise):
    return (n + 1) / n * sigma @ omega @ sigma + (np.trace(omega @ sigma) + noise) / n * sigma


def optimal_preconditioner(sigma, n, omega=None, noise=0.0) -> np.ndarray:
    """A* = H^{-1} Sigma Omega, the unique minimiser of f over family (8) (L = 1).

    Convention (8): A* is the negated top-left block of Q_0. With omega None (identity) and
    noise 0 this is Gamma^{-1} (Theorem 1, eq. 6). sigma, omega: (d, d). Returns (d, d).
    """
    sigma, n, omega, noise = _inputs(sigma, n, omega, noise)
    return np.linalg.solve(_h(sigma, n, omega, noise), sigma @ omega)


def population_loss(A, sigma, n, omega=None, noise=0.0) -> float:
    """f(A) = E[(TF - <w*, x_q>)^2] = tr(Sigma A^T H A) - 2 tr(Sigma A^T Sigma Omega) + tr(Sigma Omega).

    A: (d, d) block of family (8); sigma, omega: (d, d). Theorem 1 (Appendix A).
    """
    sigma, n, omega, noise = _inputs(sigma, n, omega, noise)
    A = _as_square("A", A, sigma.shape[0])
    H = _h(sigma, n, omega, noise)
    return float(
        np.trace(sigma @ A.T @ H @ A)
        - 2 * np.trace(sigma @ A.T @ sigma @ omega)
        + np.trace(sigma @ omega)
    )


def population_loss_gradient(A, sigma, n, omega=None, noise=0.0) -> np.ndarray:
    """grad_A f(A) = 2 (H A Sigma - Sigma Omega Sigma); A, sigma, omega: (d, d). Returns (d, d)."""
    sigma, n, omega, noise = _inputs(sigma, n, omega, noise)
    A = _as_square("A", A, sigma.shape[0])
    return 2 * (_h(sigma, n, omega, noise) @ A @ sigma - sigma @ omega @ sigma)


def optimal_loss(sigma, n, omega=None, noise=0.0) -> float:
    """f* = tr(Sigma Omega) - tr(A*^T Sigma Omega Sigma) (minimum of f over family (8), L = 1)."""
    sigma, n, omega, noise = _inputs(sigma, n, omega, noise)
    A = np.linalg.solve(_h(sigma, n, omega, noise), sigma @ omega)
    return float(np.trace(sigma @ omega) - np.trace(A.T @ sigma @ omega @ sigma))


def _mp(M) -> mpmath.matrix:
    return mpmath.matrix([[mpmath.mpf(float(v)) for v in row] for row in np.asarray(M)])


def optimal_preconditioner_mp(sigma, n, omega=None, noise=0.0, dps: int = 50) -> mpmath.matrix:
    """High-precision twin of :func:`optimal_preconditioner`: A* = H^{-1} Sigma Omega at dps digits.

    Float inputs are converted exactly; arithmetic runs inside mpmath.workdps(dps).
    """
    sigma, n, omega, noise = _inputs(sigma, n, omega, noise)
    with mpmath.workdps(dps):
        S, W = _mp(sigma), _mp(omega)
        H = _h_mp(S, n, W, noise)
        rhs = S * W
        A = mpmath.matrix(S.rows, S.cols)
        for j in range(S.cols):  # lu_solve takes one right-hand side at a time
            column = mpmath.lu_solve(H, rhs.column(j))
            for i in range(S.rows):
                A[i, j] = column[i]
        return A


def _h_mp(S, n, W, noise):
    d = S.rows
    tr = mpmath.fsum((W * S)[i, i] for i in range(d))
    return mpmath.mpf(n + 1) / n * S * W * S + (tr + mpmath.mpf(noise)) / n * S


def population_loss_mp(A, sigma, n, omega=None, noise=0.0, dps: int = 50) -> mpmath.mpf:
    """High-precision twin of :func:`population_loss`; A may be an mpmath matrix or an array."""
    sigma, n, omega, noise = _inputs(sigma, n, omega, noise)
    d = sigma.shape[0]
    with mpmath.workdps(dps):
        S, W = _mp(sigma), _mp(omega)
        A = A if isinstance(A, mpmath.matrix) else _mp(_as_square("A", A, d))
        H = _h_mp(S, n, W, noise)

        def tr(M):
            return mpmath.fsum(M[i, i] for i in range(d))

        return +(tr(S * A.T * H * A) - 2 * tr(S * A.T * S * W) + tr(S * W))


from theory.single_layer_reduction import derive_reduction, effective_preconditioner  # noqa: E402
from theory.single_layer_symbolic import derive_general, derive_theorem1  # noqa: E402

__all__ = [
    "gamma",
    "h_moment",
    "optimal_preconditioner",
    "population_loss",
    "population_loss_gradient",
    "optimal_loss",
    "optimal_preconditioner_mp",
    "population_loss_mp",
    "derive_theorem1",
    "derive_general",
    "derive_reduction",
    "effective_preconditioner",
]
