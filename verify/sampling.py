"""Prompt sampling (conventions: :mod:`verify.conventions`) and the covariance construction of Section 4.3.

All randomness flows from an explicit ``numpy.random.Generator``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .model import Prompts

__all__ = [
    "PAPER_SPECTRUM",
    "PromptLaw",
    "random_rotation",
    "make_sigma",
    "sample_tasks",
    "prompts_from_tasks",
    "sample_prompts",
    "sqrtm_psd",
]

#: The paper's spectrum D = diag(1, 1, 0.25, 0.0625, 1) (Section 4.3), the package default.
PAPER_SPECTRUM = (1.0, 1.0, 0.25, 0.0625, 1.0)


def random_rotation(d: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-distributed orthogonal d x d matrix (QR of a Gaussian matrix, sign-fixed)."""
    G = rng.standard_normal((d, d))
    Qm, R = np.linalg.qr(G)
    return Qm * np.sign(np.diag(R))


def validate_spectrum(spectrum, d: int | None = None) -> tuple:
    """The eigenvalues of Sigma as a tuple of floats; the one place they are validated.

    ValueError (one message for every caller: CLI, Setting, make_sigma) unless they are a
    non-empty sequence of finite numbers > 0 (Sigma positive definite), of length ``d`` if given.
    """
    try:
        lam = tuple(float(v) for v in spectrum)
    except (TypeError, ValueError):
        raise ValueError(
            f"spectrum (the eigenvalues of Sigma) must be a sequence of numbers; got {spectrum!r}"
        ) from None
    if not lam or not all(math.isfinite(v) and v > 0 for v in lam):
        raise ValueError(
            "spectrum (the eigenvalues of Sigma) must be finite numbers > 0, as Sigma is positive "
            f"definite; got {list(lam)}"
        )
    if d is not None and len(lam) != d:
        raise ValueError(f"spectrum must have d = {d} eigenvalues; got {len(lam)}: {list(lam)}")
    return lam


def make_sigma(spectrum, rng: np.random.Generator | None = None, rotate: bool = True) -> np.ndarray:
    """``Sigma = U^T diag(spectrum) U`` with U Haar-random (Section 4.3), or diagonal.

    ``spectrum``: sequence of d positive eigenvalues.  Returns a symmetric (d, d) array.
    """
    lam = np.asarray(validate_spectrum(np.ravel(spectrum)), dtype=float)
    if not rotate:
        return np.diag(lam)
    if rng is None:
        raise ValueError("a numpy.random.Generator is required for a random rotation")
    U = random_rotation(lam.size, rng)
    S = U.T @ np.diag(lam) @ U
    return (S + S.T) / 2


def sqrtm_psd(S: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix."""
    lam, V = np.linalg.eigh(S)
    return (V * np.sqrt(np.clip(lam, 0, None))) @ V.T


def sample_tasks(
    N: int,
    n: int,
    sigma: np.ndarray,
    rng: np.random.Generator,
    omega: np.ndarray | None = None,
    noise: float = 0.0,
    queries: int = 1,
):
    """Sample N in-context regression tasks, each with ``queries`` query points.

    x ~ N(0, Sigma), w* ~ N(0, Omega), context labels y_i = <w*, x_i> + eps_i with
    eps_i ~ N(0, noise).  Returns ``X`` (N, n, d) context covariates, ``y`` (N, n) context
    labels, ``w`` (N, d) task vectors and ``Xq`` (N, queries, d) query covariates.  Several
    queries per context are several valid prompts that share a context.
    """
    sigma = np.asarray(sigma, dtype=float)
    if sigma.ndim != 2 or sigma.shape[0] != sigma.shape[1]:
        raise ValueError(f"sigma must be a square matrix; got shape {sigma.shape}")
    d = sigma.shape[0]
    if N < 1 or n < 1 or queries < 1:
        raise ValueError(
            f"need N >= 1 prompts, n >= 1 context examples and >= 1 query; "
            f"got N={N}, n={n}, queries={queries}"
        )
    if noise < 0:
        raise ValueError(f"noise is a variance and must be >= 0; got {noise}")
    Ls = sqrtm_psd(sigma)
    X = rng.standard_normal((N, n + queries, d)) @ Ls  # (N, n+K, d), rows are x^(i)
    Lw = np.eye(d) if omega is None else sqrtm_psd(omega)
    w = rng.standard_normal((N, d)) @ Lw  # (N, d)
    y = np.einsum("bid,bd->bi", X[:, :n], w)  # (N, n)
    if noise > 0:
        y += np.sqrt(noise) * rng.standard_normal((N, n))
    return X[:, :n], y, w, X[:, n:]


def prompts_from_tasks(X, y, w, Xq) -> Prompts:
    """Materialise the prompts Z_0 (eq. 1) of tasks with one query each: (N, d+1, n+1)."""
    if Xq.shape[1] != 1:
        raise ValueError(f"prompts need exactly one query per context; got {Xq.shape[1]}")
    N, n, d = X.shape
    Z0 = np.zeros((N, d + 1, n + 1))
    Z0[:, :d, :n] = X.transpose(0, 2, 1)
    Z0[:, d, :n] = y
    Z0[:, :d, n] = Xq[:, 0]
    target = np.einsum("bd,bd->b", Xq[:, 0], w)
    return Prompts(Z0, target)


def sample_prompts(
    N: int,
    n: int,
    sigma: np.ndarray,
    rng: np.random.Generator,
    omega: np.ndarray | None = None,
    noise: float = 0.0,
) -> Prompts:
    """Sample N prompts (eq. 1): ``Z0`` (N, d+1, n+1) and targets ``<w*, x^(n+1)>`` (N,).

    The query label is the noiseless ``<w*, x^(n+1)>``; the query token carries 0.
    """
    return prompts_from_tasks(*sample_tasks(N, n, sigma, rng, omega, noise, queries=1))


@dataclass(frozen=True, eq=False)
class PromptLaw:
    """The law of the prompts (eq. 1): x ~ N(0, Sigma), w* ~ N(0, Omega), eps ~ N(0, noise).

    ``sigma`` (d, d) positive definite; ``omega`` (d, d), or None for Omega = I (the paper's
    prior; the samplers then skip a square root); ``noise`` the variance of the context-label
    noise.  One object for what was a ``(sigma, omega, noise)`` triple at every sampler call:
    :meth:`prompts` and :meth:`tasks` sample it, :meth:`population_loss` and :meth:`optimum`
    evaluate its one-layer closed forms (:mod:`theory.single_layer`).  Built once per setting
    (:attr:`verify.setting.Setting.law`).
    """

    sigma: np.ndarray
    omega: np.ndarray | None = None
    noise: float = 0.0

    @property
    def d(self) -> int:
        return self.sigma.shape[0]

    @property
    def Omega(self) -> np.ndarray:
        """Covariance of w* as a matrix (I when ``omega`` is None)."""
        return np.eye(self.d) if self.omega is None else self.omega

    def prompts(self, B: int, n: int, rng: np.random.Generator) -> Prompts:
        """B prompts with n context examples (:func:`sample_prompts`)."""
        return sample_prompts(B, n, self.sigma, rng, self.omega, self.noise)

    def tasks(self, B: int, n: int, rng: np.random.Generator, queries: int = 1):
        """B tasks (X, y, w, Xq) with n context examples and ``queries`` queries (:func:`sample_tasks`)."""
        return sample_tasks(B, n, self.sigma, rng, self.omega, self.noise, queries)

    def population_loss(self, A: np.ndarray, n: int) -> float:
        """Exact one-layer population loss f(A) of family (8) under this law (Theorem 1's)."""
        from theory.single_layer import population_loss

        return population_loss(A, self.sigma, n, self.omega, self.noise)

    def optimum(self, n: int) -> np.ndarray:
        """The one-layer optimum A* = H^-1 Sigma Omega under this law (Theorem 1, generalised)."""
        from theory.single_layer import optimal_preconditioner

        return optimal_preconditioner(self.sigma, n, self.omega, self.noise)

    def optimal_loss(self, n: int) -> float:
        """f(A*), the optimum's population loss under this law (Theorem 1, generalised)."""
        from theory.single_layer import optimal_loss

        return optimal_loss(self.sigma, n, self.omega, self.noise)
