"""Importance-sampled prompts (verify.population): exact weights, unbiased loss and gradient.

The exact references come from theory.restricted (phi on S and its gradient), used here only
as independent values to test against; the sampler never sees them.
"""

import mpmath
import numpy as np
import pytest

from theory.restricted import RestrictedLoss
from verify.population import (
    DEFAULT_PROPOSAL,
    Proposal,
    sample_population,
    sphere_average_exp,
    train_population_adam,
)
from verify.sampling import PAPER_SPECTRUM, make_sigma, sample_prompts, sqrtm_psd
from verify.training.multilayer import FamilyObjective, Summaries, resjac

N, D = 20, 5
K = 5.0  # standard errors: P(|N(0,1)| > 5) = 5.7e-7 per comparison (B >= 8000 prompts, CLT)
PAPER_GDPP = ((-0.38, -2.40, -9.59), (0.90, 0.56, 0.0))  # the paper's Figs. 4-5 values (reported)


@pytest.fixture(scope="module")
def sigma():
    return make_sigma(PAPER_SPECTRUM, np.random.default_rng(7))


def on_S(a, b, sigma):
    """theta of family (11) with A_l = a_l Sigma^{-1}, B_l = b_l I."""
    Si = np.linalg.inv(sigma)
    return np.concatenate(
        [(x * Si).ravel() for x in a] + [(x * np.eye(len(sigma))).ravel() for x in b]
    )


def exact(family, L, t, order=0):
    with mpmath.workdps(30):
        R = RestrictedLoss(family, L, N, D)
        return R.evaluate(t, order=order) if order else R.value(t)


def test_sphere_average_matches_monte_carlo_and_more_nodes():
    rng = np.random.default_rng(0)
    m = -np.abs(rng.standard_normal((3, D))) * np.array([[0.3], [3.0], [40.0]])
    g = rng.standard_normal((200_000, D))
    mc = np.exp((g * g / (g * g).sum(1, keepdims=True)) @ m.T)  # (200000, 3)
    ours = sphere_average_exp(m)
    # 16 vs 40 Talbot nodes: the quadrature error (float64 cancellation ~ e^{2 nodes / 5} eps)
    np.testing.assert_allclose(ours, sphere_average_exp(m, nodes=40), rtol=1e-8)
    se = mc.std(0) / np.sqrt(len(mc))
    assert np.all(np.abs(ours - mc.mean(0)) <= K * se)


@pytest.mark.parametrize("M", [1.0, 30.0, 400.0])
def test_sphere_average_matches_the_exact_beta_integral(M):
    # m = (0, -M, ..., -M) (the shape Proposal.weights passes: max m_i = 0): the average is
    # E exp(-M (1 - v_1^2)) with v_1^2 ~ Beta(1/2, (D - 1)/2), integrated by mpmath
    m = np.array([[0.0] + [-M] * (D - 1)])
    a, b = mpmath.mpf(1) / 2, mpmath.mpf(D - 1) / 2
    with mpmath.workdps(30):
        f = lambda t: (
            mpmath.exp(-M * (1 - t)) * t ** (a - 1) * (1 - t) ** (b - 1) / mpmath.beta(a, b)
        )
        exact = float(mpmath.quad(f, [0, 1 - 1 / mpmath.mpf(M + 1), 1]))
    assert abs(sphere_average_exp(m)[0] / exact - 1) <= 1e-9


def test_weights_are_positive_bounded_by_one_over_pi0_and_average_to_one(sigma):
    ps = sample_population(20_000, N, sigma, np.random.default_rng(1))
    w = ps.weights
    assert np.all(w > 0) and w.max() <= DEFAULT_PROPOSAL.max_weight() * (
        1 + 1e-9
    )  # float eps of omega
    assert abs(w.mean() - 1.0) <= K * w.std() / np.sqrt(len(w))  # E_q omega = 1


def test_loss_estimate_is_unbiased_for_family8_two_layers(sigma):
    # family (8), A_l = a_l Sigma^{-1} (eq. 8 sign); phi_2 on S from theory.restricted
    a = (0.9, 0.3)
    theta = on_S(a, (), sigma)
    sm = sample_population(20_000, N, sigma, np.random.default_rng(2)).summaries
    r, _ = resjac("gd", 2, sm)(theta, False)
    h = r * r
    assert abs(h.mean() - float(exact("8", 2, a))) <= K * h.std() / np.sqrt(len(h))


def test_loss_and_gradient_unbiased_at_paper_gdpp_values_where_plain_sampling_fails(sigma):
    a, b = PAPER_GDPP
    theta = on_S(a, b, sigma)
    val, grad = exact("11", 3, a + b, order=1)
    val, grad = float(val), np.array([float(g) for g in grad])
    sm = sample_population(8_000, N, sigma, np.random.default_rng(3)).summaries
    r, J = resjac("gdpp", 3, sm)(theta, True)
    h = r * r
    assert abs(h.mean() - val) <= K * h.std() / np.sqrt(len(h))
    # d phi / d a_l = <grad_{A_l} f, Sigma^{-1}>, d phi / d b_l = <grad_{B_l} f, I>
    dirs = np.array(
        [on_S(np.eye(3)[i], (0.0,) * 3, sigma) for i in range(3)]
        + [on_S((0.0,) * 3, np.eye(3)[i], sigma) for i in range(2)]
    )  # b_2 is invisible
    g = 2 * r[:, None] * (J @ dirs.T)  # (B, 5) per-prompt directional gradients
    se = g.std(0) / np.sqrt(len(g))
    assert np.all(np.abs(g.mean(0) - grad[:5]) <= K * se), (g.mean(0), grad[:5], se)
    # the same number of plain prompts misses most of phi (the spectral tail)
    plain = Summaries.from_prompts(
        sample_prompts(8_000, N, sigma, np.random.default_rng(3), np.linalg.inv(sigma))
    )
    assert FamilyObjective("gdpp", 3, plain)(theta)[0] < 0.2 * val


def test_same_seed_same_bytes(sigma):
    one = sample_population(500, N, sigma, np.random.default_rng(11))
    two = sample_population(500, N, sigma, np.random.default_rng(11))
    for x, y in [
        (one.weights, two.weights),
        (one.summaries.S, two.summaries.S),
        (one.summaries.u0, two.summaries.u0),
        (one.summaries.target, two.summaries.target),
    ]:
        assert x.tobytes() == y.tobytes()


def test_whitened_prompts_have_the_claims_law(sigma):
    # under the weights, E[S] = Sigma and E[x_q x_q^T] = Sigma (second moments of the true law)
    ps = sample_population(20_000, N, sigma, np.random.default_rng(5))
    wS = ps.weights[:, None, None] * ps.summaries.S
    se = wS.std(0) / np.sqrt(len(wS))
    assert np.all(np.abs(wS.mean(0) - sigma) <= K * se + 1e-12)
    sh = sqrtm_psd(sigma)
    xq_white = ps.summaries.xq @ np.linalg.inv(sh)
    C = xq_white.T @ xq_white / len(xq_white)
    assert np.abs(C - np.eye(D)).max() < K * np.sqrt(2 / len(xq_white))  # untilted: N(0, I)


@pytest.mark.parametrize(
    "tilts, probs",
    [
        ((0.5, 1.0), (0.5, 0.5)),
        ((0.0, -1.0), (0.5, 0.5)),
        ((0.0, 1.0), (0.6, 0.6)),
        ((0.0, 1.0), (1.0,)),
    ],
)
def test_bad_proposals_are_refused(tilts, probs):
    with pytest.raises(ValueError):
        Proposal(tilts, probs)


def test_adam_trajectory_api_and_reproducibility(sigma):
    theta0 = 1e-2 * np.random.default_rng(0).standard_normal(2 * 2 * D * D)
    runs = [
        train_population_adam(
            "gdpp",
            2,
            N,
            sigma,
            np.random.default_rng(4),
            theta0,
            steps=30,
            batch=200,
            record_every=10,
        )
        for _ in range(2)
    ]
    tr = runs[0]
    assert tr.iterations.tolist() == [0, 9, 19, 29, 30]
    assert tr.thetas.shape == (5, theta0.size) and np.isfinite(tr.loss[:-1]).all()
    assert tr.thetas.tobytes() == runs[1].thetas.tobytes()
    with pytest.raises(ValueError):
        train_population_adam(
            "unconstrained", 2, N, sigma, np.random.default_rng(4), theta0, steps=1
        )
