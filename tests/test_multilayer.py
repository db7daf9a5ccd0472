"""The fast family-(8)/(11) evaluation equals the NumPy transformer; Jacobians are exact."""

import numpy as np
import pytest

from verify.families import FAMILY8, FAMILY11, GD, GDPlusPlus
from verify.model import loss_and_grad
from verify.sampling import make_sigma, sample_prompts
from verify.training.multilayer import (
    FamilyObjective,
    Summaries,
    residuals_and_jacobian_8,
    residuals_and_jacobian_11,
    train_family,
)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    sigma = make_sigma([1.0, 0.5, 0.2], rng)
    prompts = sample_prompts(60, 6, sigma, rng, np.linalg.inv(sigma), noise=0.3)
    return rng, prompts, Summaries.from_prompts(prompts)


@pytest.mark.parametrize(
    "family",
    [GD(3, 3), GDPlusPlus(3, 3), GD(3, 1), GDPlusPlus(3, 4)],
    ids=["gd3", "gdpp3", "gd1", "gdpp4"],
)
def test_summary_recursion_equals_the_transformer_loss_and_gradient(family, data):
    rng, prompts, sm = data
    theta = 0.5 * rng.standard_normal(family.size)
    f, grads = loss_and_grad(family.unpack(theta), prompts)
    f2, g2 = FamilyObjective(family.family, family.L, sm)(theta)
    g = family.pullback(grads)
    assert abs(f - f2) <= 1e-12 * f  # same function, different association: round-off only
    np.testing.assert_allclose(g2, g, rtol=1e-9, atol=1e-12 * np.abs(g).max())


@pytest.mark.parametrize("family", [FAMILY8, FAMILY11], ids=["family8", "family11"])
def test_per_prompt_jacobian_sums_to_the_gradient(family, data):
    rng, _, sm = data
    L, d = 3, 3
    theta = 0.4 * rng.standard_normal(family.size(d, L))
    mats = list(theta.reshape(-1, d, d))
    jacobian = {
        FAMILY8: lambda: residuals_and_jacobian_8(mats, sm),
        FAMILY11: lambda: residuals_and_jacobian_11(mats[:L], mats[L:], sm),
    }[family]
    r, J = jacobian()
    _, g = FamilyObjective(family, L, sm)(theta)
    np.testing.assert_allclose(2 * J.T @ r / len(r), g, rtol=1e-9, atol=1e-12 * np.abs(g).max())


def test_family_8_training_from_a_small_start_reaches_a_stationary_point(data):
    rng, prompts, _ = data
    sigma = make_sigma([1.0, 0.5, 0.2], rng)
    sm = Summaries.from_prompts(sample_prompts(4000, 6, sigma, rng, np.linalg.inv(sigma)))
    theta, info = train_family(FAMILY8, 2, sm, rng)
    assert info["grad_norm"] < 1e-6 * max(1.0, np.linalg.norm(theta))  # LM stopping rule reached
