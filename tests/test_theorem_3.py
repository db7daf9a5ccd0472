"""Theorem 3 on trained models: family (8) reaches the exact global minimiser on S."""

import pytest

from verify import verify_theorem


@pytest.fixture(scope="module")
def quick_verdict():
    return verify_theorem("3", quick=True, seed=1, controls=True)


def test_trained_family_8_matches_the_exact_global_minimiser_up_to_layer_order(quick_verdict):
    assert quick_verdict.passed, [c for c in quick_verdict.checks if not c.passed]


def test_wrong_step_sizes_and_saddles_are_rejected(quick_verdict):
    assert len(quick_verdict.controls) >= 2 and all(c["rejected"] for c in quick_verdict.controls)


def test_critical_points_are_reported_with_30_digit_losses(quick_verdict):
    cps = quick_verdict.to_dict()["closed_form"]["critical_points"]
    assert any(c["kind"] == "minimum" for c in cps)
    assert all(len(c["loss"].replace("0.", "").lstrip("0")) >= 30 for c in cps)


def test_isotropic_prior_violates_theorem3_hypothesis():
    with pytest.raises(ValueError, match="prior inverse"):
        verify_theorem("3", prior="identity", quick=True)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [840834, 5, 10])
def test_tail_dominated_small_setting_passes_with_controls(seed):
    # d = 1, n = 6: the per-prompt loss is dominated by rare prompts.  On plain samples these
    # three seeds failed (calibration sweep, issue 8: margins 1.36, 1.07, 1.03); training and
    # testing on importance-sampled prompts removes the bias.
    v = verify_theorem(
        "3", d=1, n=6, layers=3, spectrum=[25.8506], quick=True, seed=seed, controls=True
    )
    assert v.passed, [c for c in v.checks if not c.passed]
    assert all(c["rejected"] for c in v.controls)


@pytest.mark.slow
def test_two_and_four_layers_pass_at_the_quick_setting():
    assert verify_theorem("3", layers=2, seed=3, quick=True, controls=True).passed
    assert verify_theorem("3", layers=4, seed=3, quick=True, controls=True).passed
