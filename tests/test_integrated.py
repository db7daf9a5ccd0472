"""The Rao-Blackwellised family-(8) trainer (verify.training.integrated): Bartlett's W is
X^T X in distribution; its minimiser converges to the exact optimum.  That its conditional loss
and gradient are the transformer's squared error averaged over queries, tasks and noise is a
contract of the conformance harness (tests/test_conformance.py), checked exactly there."""

import numpy as np

from theory import single_layer as sl
from verify.sampling import make_sigma
from verify.training.integrated import fit_integrated_layer, wishart_moments

K = 5.0  # standard errors: the package's K_SIGMA


def test_bartlett_wishart_has_the_moments_of_x_transpose_x():
    # E W = n I; E W_ik W_lj = n^2 d_ik d_lj + n (d_il d_kj + d_ij d_kl) (Wishart(n, I))
    d, n, B = 3, 7, 400_000
    s1, s2 = wishart_moments(B, n, d, np.random.default_rng(1))
    I = np.eye(d)
    m2 = n * n * np.einsum("ik,lj->iklj", I, I) + n * (
        np.einsum("il,kj->iklj", I, I) + np.einsum("ij,kl->iklj", I, I)
    )
    assert np.allclose(s1.reshape(d, d) / B, n * I, atol=K * np.sqrt(2 * n / B))
    # fourth moments of W entries are O(n^4); their sd over B draws bounds the error
    assert np.max(np.abs(s2.reshape(d, d, d, d) / B - m2)) <= K * 4 * n * n / np.sqrt(B)
    # n < d: direct sampling of the rows, same first moment
    t1, _ = wishart_moments(50_000, 2, 4, np.random.default_rng(2))
    assert np.allclose(t1.reshape(4, 4) / 50_000, 2 * np.eye(4), atol=0.05)


def test_integrated_minimiser_matches_the_exact_optimum_within_sampling_error():
    rng = np.random.default_rng(3)
    sigma = make_sigma((1.0, 0.5, 0.2), rng)
    omega, n, s2 = np.linalg.inv(sigma), 8, 0.5
    reps = np.array([fit_integrated_layer(20_000, n, sigma, rng, omega, s2)[0] for _ in range(10)])
    A_star = sl.optimal_preconditioner(sigma, n, omega, s2)
    se = np.sqrt(((reps - reps.mean(0)) ** 2).sum() / 9 / 10)
    assert np.linalg.norm(reps.mean(0) - A_star) <= K * se
    # and a 1 % wrong optimum is far outside that band (the estimator can tell them apart)
    assert np.linalg.norm(reps.mean(0) - 1.01 * A_star) > K * se
