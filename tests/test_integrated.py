"""The Rao-Blackwellised family-(8) trainer (verify.training.integrated): its conditional loss
is the transformer's squared error averaged over queries, tasks and noise; Bartlett's W is
X^T X in distribution; its minimiser converges to the exact optimum."""

import numpy as np

from theory import single_layer as sl
from verify.families import GD
from verify.model import predict
from verify.sampling import make_sigma, prompts_from_tasks
from verify.training.integrated import conditional_loss, fit_integrated_layer, wishart_moments

K = 5.0  # standard errors: the package's K_SIGMA


def test_conditional_loss_is_the_model_error_averaged_over_query_task_and_noise():
    rng = np.random.default_rng(0)
    d, n, B, s2 = 2, 4, 200_000, 0.3
    sigma = make_sigma((1.0, 0.25), rng)
    omega = np.array([[1.0, 0.2], [0.2, 0.5]])
    A = np.array([[0.7, -0.2], [0.1, 1.3]])
    half = np.linalg.cholesky(sigma)
    X1 = rng.standard_normal((n, d)) @ half.T  # one fixed context
    X = np.broadcast_to(X1, (B, n, d)).copy()
    w = rng.standard_normal((B, d)) @ np.linalg.cholesky(omega).T
    y = np.einsum("bid,bd->bi", X, w) + np.sqrt(s2) * rng.standard_normal((B, n))
    Xq = rng.standard_normal((B, 1, d)) @ half.T
    prompts = prompts_from_tasks(X, y, w, Xq)
    sq = (predict(GD(d, 1).unpack(A.ravel()), prompts) - prompts.target) ** 2
    exact = conditional_loss(A, X1.T @ X1 / n, sigma, n, omega, s2)
    assert abs(sq.mean() - exact) <= K * sq.std(ddof=1) / np.sqrt(B)


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
