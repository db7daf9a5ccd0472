"""The expected spectral measure mu of S_hat = W / n: moments, recurrence, Gauss rule.

mu is the probability measure with int s^k dmu = E tr S_hat^k / d (W ~ Wishart_d(n, I)).
It lives on [0, inf) and has a density part on (0, inf) (the nonzero eigenvalues of W have
a joint density), so it has infinitely many support points: every Hankel matrix of its
moments is positive definite and every orthogonal polynomial has real, simple roots in
(0, inf).  These facts carry the completeness argument of :mod:`theory.critical`.

On S every restricted loss is phi = d int p(s)^2 dmu (see :mod:`theory.restricted`); an
N-point Gauss rule of mu integrates polynomials of degree <= 2N - 1 exactly, so

    phi = d sum_i w_i p(x_i)^2        whenever deg p <= N - 1,

a sum of nonnegative terms that float64 evaluates without the cancellation that the
monomial form sum_k c_k E tr S^k suffers at large degree.
"""

from __future__ import annotations

from fractions import Fraction

import mpmath

from theory.wishart import sample_cov_moment

__all__ = ["spectral_moments", "recurrence", "gauss_rule"]


def spectral_moments(n: int, d: int, count: int) -> list[Fraction]:
    """[int s^k dmu for k < count] = [E tr S_hat^k / d], exact."""
    return [sample_cov_moment((k,), n, d) / d for k in range(count)]


def recurrence(n: int, d: int, N: int) -> tuple[list[Fraction], list[Fraction]]:
    """Three-term recurrence (alpha_k, beta_k), k < N, of the monic orthogonal polynomials of mu.

    pi_{k+1}(s) = (s - alpha_k) pi_k(s) - beta_k pi_{k-1}(s), beta_0 = 1.  Chebyshev's
    algorithm on the exact moments m_0..m_{2N-1} (Gautschi, Orthogonal Polynomials, 2.1.7),
    in rational arithmetic so the ill-conditioning of moments costs nothing.
    """
    if N < 1:
        raise ValueError(f"N must be >= 1; got {N}")
    m = spectral_moments(n, d, 2 * N)
    alpha, beta = [m[1] / m[0]], [m[0]]
    prev, cur = [Fraction(0)] * (2 * N), list(m)
    for k in range(1, N):
        nxt = [Fraction(0)] * (2 * N)
        for l in range(k, 2 * N - k):
            nxt[l] = cur[l + 1] - alpha[k - 1] * cur[l] - beta[k - 1] * prev[l]
        alpha.append(nxt[k + 1] / nxt[k] - cur[k] / cur[k - 1])
        beta.append(nxt[k] / cur[k - 1])
        prev, cur = cur, nxt
    return alpha, beta


def gauss_rule(n: int, d: int, N: int):
    """N-point Gauss rule (nodes, weights) of mu as mpf lists, at the caller's precision.

    Golub-Welsch: nodes are the eigenvalues of the Jacobi matrix of :func:`recurrence`,
    weights the squared first eigenvector components (mu has total mass 1).  Exact for
    polynomials of degree <= 2N - 1.
    """
    alpha, beta = recurrence(n, d, N)
    J = mpmath.zeros(N, N)
    for k in range(N):
        J[k, k] = mpmath.mpf(alpha[k].numerator) / alpha[k].denominator
        if k + 1 < N:
            off = mpmath.sqrt(mpmath.mpf(beta[k + 1].numerator) / beta[k + 1].denominator)
            J[k, k + 1] = J[k + 1, k] = off
    evals, evecs = mpmath.eigsy(J)
    nodes = [evals[i] for i in range(N)]
    weights = [evecs[0, i] ** 2 for i in range(N)]
    order = sorted(range(N), key=lambda i: nodes[i])
    return [nodes[i] for i in order], [weights[i] for i in order]
