"""Family (8), one layer, trained on sampled contexts with the rest of the prompt integrated.

Model (family (8), L = 1, docs/conventions.md): ``TF(Z_0) = x_q^T A^T h`` with
``h = (1/n) X^T y``, ``y = X w* + eps``.  The squared error of one prompt is
``(x_q^T (A^T h - w*))^2``.  Its expectation over the parts of the prompt that enter
linearly -- the query ``x_q ~ N(0, Sigma)``, the task ``w* ~ N(0, Omega)`` and the label
noise ``eps ~ N(0, s2 I)`` -- given the context covariates X is (Gaussian second moments only)

    l(A | X) = tr(Sigma A^T (S Omega S + (s2/n) S) A) - 2 tr(Sigma A^T S Omega) + tr(Sigma Omega),

with ``S = X^T X / n`` the context's sample covariance.  Averaging over B sampled contexts,
``f_B(A) = mean_b l(A | X_b)`` is a quadratic in A whose exact minimiser is

    A_hat = M^{-1} N,   M = mean_b (S_b Omega S_b + (s2/n) S_b),   N = (mean_b S_b) Omega.

This is Rao-Blackwellisation of the plain empirical loss: the same model and the same
population loss, with the query, the task and the noise averaged exactly instead of sampled,
so only the contexts carry sampling error.  No closed form is consulted: the population
moments of S (Wishart) are never used, only samples of it.  S is sampled exactly through its
sufficient statistic ``X^T X = Sigma^{1/2} W Sigma^{1/2}``, ``W ~ Wishart(n, I)`` drawn by
Bartlett's decomposition (n >= d; rows are sampled directly for n < d), so a context costs
O(d^2) random numbers instead of O(n d).

``tests/test_integrated.py`` checks ``l(A | X)`` against a Monte Carlo average over sampled
queries, tasks and noise, and Bartlett's W against ``X^T X`` in distribution.
"""

from __future__ import annotations

import numpy as np

__all__ = ["conditional_gradient", "conditional_loss", "fit_integrated_layer", "wishart_moments"]


def wishart_moments(B: int, n: int, d: int, rng: np.random.Generator, chunk: int = 50_000):
    """Sums over B draws of ``W ~ Wishart(n, I_d)`` (= X^T X, X with n rows N(0, I_d)).

    Returns ``(s1, s2)``: ``s1 = sum_b vec(W_b)`` (d*d,) and ``s2 = sum_b vec(W_b) vec(W_b)^T``
    (d*d, d*d).  Bartlett: ``W = L L^T``, L lower triangular, ``L_ii^2 ~ chi2(n - i)``
    (i = 0..d-1), ``L_ij ~ N(0, 1)`` for i > j (valid for n >= d).
    """
    s1, s2 = np.zeros(d * d), np.zeros((d * d, d * d))
    il = np.tril_indices(d, -1)
    dg = np.arange(d)
    for a in range(0, B, chunk):
        b = min(chunk, B - a)
        if n >= d:
            L = np.zeros((b, d, d))
            L[:, il[0], il[1]] = rng.standard_normal((b, il[0].size))
            L[:, dg, dg] = np.sqrt(rng.chisquare(n - dg, size=(b, d)))
            W = np.einsum("bik,bjk->bij", L, L).reshape(b, d * d)
        else:
            X = rng.standard_normal((b, n, d))
            W = np.einsum("bki,bkj->bij", X, X).reshape(b, d * d)
        s1 += W.sum(0)
        s2 += W.T @ W
    return s1, s2


def _sqrt_psd(S: np.ndarray) -> np.ndarray:
    lam, V = np.linalg.eigh(S)
    return (V * np.sqrt(np.clip(lam, 0, None))) @ V.T


def fit_integrated_layer(
    B: int,
    n: int,
    sigma: np.ndarray,
    rng: np.random.Generator,
    omega: np.ndarray | None = None,
    noise: float = 0.0,
) -> tuple[np.ndarray, float]:
    """Exact minimiser ``A_hat = M^{-1} N`` of ``f_B`` over B sampled contexts; returns (A_hat, cond(M)).

    ``sigma`` (d, d) covariance of x; ``omega`` (d, d) covariance of w* (None: I); ``noise``
    the label-noise variance s2.  With ``S_b = Sigma^{1/2} W_b Sigma^{1/2} / n``:
    ``mean S_b Omega S_b = Sigma^{1/2} (mean W G W) Sigma^{1/2} / n^2``, G = Sigma^{1/2} Omega Sigma^{1/2},
    contracted from the second moments of vec(W) (one GEMM per chunk).
    """
    sigma = np.asarray(sigma, dtype=float)
    d = sigma.shape[0]
    om = np.eye(d) if omega is None else np.asarray(omega, dtype=float)
    half = _sqrt_psd(sigma)
    s1, s2 = wishart_moments(B, n, d, rng)
    EW = s1.reshape(d, d) / B
    EWW = s2.reshape(d, d, d, d) / B  # [i, k, l, j] = mean W_ik W_lj
    G = half @ om @ half
    WGW = np.einsum("iklj,kl->ij", EWW, G)
    M = half @ (WGW / n**2 + noise / n**2 * EW) @ half
    M = (M + M.T) / 2
    N = half @ EW @ half / n @ om
    return np.linalg.solve(M, N), float(np.linalg.cond(M))


def conditional_loss(
    A: np.ndarray,
    S: np.ndarray,
    sigma: np.ndarray,
    n: int,
    omega: np.ndarray | None = None,
    noise: float = 0.0,
) -> float:
    """``l(A | X)`` of the module docstring for one context with sample covariance S (d, d)."""
    d = sigma.shape[0]
    om = np.eye(d) if omega is None else omega
    M = S @ om @ S + noise / n * S
    return float(
        np.trace(sigma @ A.T @ M @ A) - 2 * np.trace(sigma @ A.T @ S @ om) + np.trace(sigma @ om)
    )


def conditional_gradient(
    A: np.ndarray,
    S: np.ndarray,
    sigma: np.ndarray,
    n: int,
    omega: np.ndarray | None = None,
    noise: float = 0.0,
) -> np.ndarray:
    """Gradient of ``l(A | X)`` w.r.t. A (d, d): ``2 M A Sigma - 2 S Omega Sigma`` with
    ``M = S Omega S + (s2/n) S`` (symmetric); ``f_B`` is stationary exactly at ``M^{-1} N``."""
    d = sigma.shape[0]
    om = np.eye(d) if omega is None else omega
    M = S @ om @ S + noise / n * S
    return 2.0 * M @ A @ sigma - 2.0 * S @ om @ sigma
