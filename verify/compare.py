"""Invariants that factor out the symmetries listed in :mod:`verify.conventions`, and the floating-point floors.

* ``rel_fro(M, C) = ||M - C||_F / ||C||_F``;
* ``dist_identity(M) = min_a ||M - a I||_F / ||M||_F`` with ``a = tr M / d`` (the paper's
  Dist, Section 4.3), applied to ``Sigma^{1/2} A Sigma^{1/2}``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["EPS", "rel_fro", "dist_identity", "dist_tolerance", "whiten", "quadratic_form_floor"]

EPS = float(np.finfo(float).eps)


def rel_fro(M: np.ndarray, C: np.ndarray) -> float:
    """Relative Frobenius error of M against the reference C (denominator floored at eps)."""
    return float(np.linalg.norm(M - C) / max(np.linalg.norm(C), EPS))


def dist_identity(M: np.ndarray) -> float:
    """The paper's scale-free distance to the identity: ``||M - (tr M/d) I||_F / ||M||_F``."""
    M = np.asarray(M, dtype=float)
    d = M.shape[0]
    return float(np.linalg.norm(M - np.trace(M) / d * np.eye(d)) / max(np.linalg.norm(M), EPS))


def whiten(A: np.ndarray, sigma_half: np.ndarray) -> np.ndarray:
    """``Sigma^{1/2} A Sigma^{1/2}`` (the matrix the paper's heat maps show)."""
    return sigma_half @ A @ sigma_half


def quadratic_form_floor(d: int, cond: float) -> float:
    """Relative round-off bound for evaluating a d x d quadratic loss in float64.

    Each entry of the matrix products accumulates at most ~d roundings of relative size eps,
    amplified by the conditioning of the data covariance; 64 d^2 eps cond^2 is a generous
    standard forward-error bound.
    """
    return 64.0 * d * d * EPS * cond * cond


def dist_tolerance(C: np.ndarray, tau: float) -> float:
    """Tolerance on |Dist(M) - Dist(C)| implied by ||M - C||_F <= tau ||C||_F.

    The traceless projection has norm 1, so |Dist(M) - Dist(C)| <= (1 + Dist(C)) tau / (1 - tau):
    Dist is compared through its mean estimate, never through a mean of Dists (biased when
    Dist(C) = 0).
    """
    return float((1.0 + dist_identity(C)) * tau / (1.0 - tau)) if tau < 1 else float("inf")
