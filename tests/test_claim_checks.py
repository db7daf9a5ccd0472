"""Every check of claims 1 and 5 fails on evidence that must fail it (synthetic evidence, no
training: seconds), and the replica bookkeeping makes checks inconclusive, never passed."""

import numpy as np
import pytest

from theory import relu as tr
from theory import single_layer as sl
from verify.claims import theorem1 as c1
from verify.claims import theorem5 as c5
from verify.families import GD
from verify.model import RELU, predict
from verify.resolution import check_resolution, run_resolution
from verify.sampling import make_sigma, sample_prompts
from verify.setting import Setting

R = c1.REPLICAS


def _ev1(spread=1e-3, kept=R, vanish=1e-3, seed=0):
    s = Setting(d=3, n=6, spectrum=(1.0, 0.5, 0.2), seed=seed)
    rng = np.random.default_rng(seed)
    sigma = make_sigma(s.eigenvalues, rng)
    A = sl.optimal_preconditioner(sigma, s.n)
    reps = A + spread * np.linalg.norm(A) * rng.standard_normal((R, 3, 3)) / 3
    test = sample_prompts(4000, s.n, sigma, rng)
    preds = np.array([predict(GD(3, 1).unpack(M.ravel()), test) for M in reps])
    ev = c1.Evidence(
        sigma,
        np.eye(3),
        reps,
        1000,
        reps.copy(),
        10.0,
        reps[:kept].copy(),
        vanish * rng.standard_normal((kept, 6)),
        0.0,
        [],
        [(r, "synthetic") for r in range(kept, R)],
        test,
        preds,
    )
    return s, ev, A


def _by_name(checks):
    return {c.name: c for c in checks}


def test_claim1_truth_passes_synthetic_evidence():
    s, ev, A = _ev1()
    assert all(c.passed for c in c1.closed_form_checks(A, ev, s))


@pytest.mark.parametrize(
    "name",
    [
        c1.INT_CHECK,
        c1.GD_CHECK,
        c1.FULL_CHECK,
        "predictor on fresh prompts: trained vs closed form (rel. RMS)",
    ],
)
def test_claim1_relative_checks_fail_a_5_percent_wrong_form(name):
    s, ev, A = _ev1()
    assert _by_name(c1.closed_form_checks(1.05 * A, ev, s))[name].status == "failed"


def test_claim1_dist_check_fails_an_anisotropic_form():
    s, ev, A = _ev1()
    C = A + 0.2 * np.linalg.norm(A) * np.diag([1.0, -1.0, 0.0])
    assert (
        _by_name(c1.closed_form_checks(C, ev, s))[
            "Dist(Sigma^1/2 A Sigma^1/2, I): trained vs closed form"
        ].status
        == "failed"
    )


def test_claim1_loss_checks_fail_a_form_the_trained_models_beat():
    s, ev, A = _ev1()
    chk = _by_name(c1.closed_form_checks(2.0 * A, ev, s))
    assert (
        chk["test loss of trained model vs exact loss of closed form (relative)"].status == "failed"
    )
    beaten = chk["closed form's exact loss minus the best trained model's exact loss"]
    assert beaten.status == "failed" and beaten.observed > 0 and "beats" in beaten.reason


def test_claim1_spread_above_the_ceiling_is_inconclusive_not_passed():
    s, ev, A = _ev1(spread=2.0)  # replicas disagree wildly: the tolerance swells
    chk = _by_name(c1.closed_form_checks(A, ev, s))
    assert chk[c1.INT_CHECK].status == "inconclusive" and "ceiling" in chk[c1.INT_CHECK].reason


def test_claim1_too_few_converged_replicas_make_their_checks_inconclusive():
    s, ev, A = _ev1(kept=3)
    chk = _by_name(c1.closed_form_checks(A, ev, s))
    assert chk[c1.FULL_CHECK].status == "inconclusive"
    conv = c1.convergence_check(ev)
    assert conv.status == "inconclusive" and "replica 9: synthetic" in conv.reason


def test_claim1_vanishing_entries_check_fails_when_they_do_not_vanish():
    _, ev, _ = _ev1(vanish=1e-3)
    assert c1.vanish_check(ev).passed
    ev.vanish = ev.vanish + 0.05  # a systematic offset; 5 standard errors are ~2e-3
    assert c1.vanish_check(ev).status == "failed"


def test_resolution_is_obs_plus_tol_over_one_minus_tol_and_rejects_every_direction_beyond_it():
    s, ev, A = _ev1()
    checks = c1.closed_form_checks(A, ev, s)
    res, basis = run_resolution(checks, c1.RESOLUTION_CHECKS)
    c = _by_name(checks)[c1.INT_CHECK]
    assert res <= check_resolution(c) and "worst-case" in basis
    rng = np.random.default_rng(5)
    for _ in range(20):  # random directions at 1.01 x the resolution are all rejected
        D = rng.standard_normal(A.shape)
        C = A + 1.01 * res * np.linalg.norm(A) * D / np.linalg.norm(D)
        assert any(
            x.status == "failed"
            for x in c1.closed_form_checks(C, ev, s)
            if x.name in c1.RESOLUTION_CHECKS
        )


def _ev5(spread=1e-3, seed=0):
    s = Setting(d=2, n=5, spectrum=(1.0, 1.0), seed=seed)
    rng = np.random.default_rng(seed)
    C = -tr.optimal_scale(s.n, s.d) * np.eye(2)
    reps = C + spread * rng.standard_normal((R, 2, 2))
    test = sample_prompts(4000, s.n, np.eye(2), rng)
    preds = np.array([predict([c5._closed_form_params(M, 1.0)], test, RELU) for M in reps])
    return (
        s,
        c5.Evidence(
            reps, 1e-3 * rng.standard_normal((R, 2)), np.ones(R), 0.0, test, preds, [], [], 1000
        ),
        C,
    )


def test_claim5_truth_passes_and_every_check_fails_a_wrong_form():
    s, ev, C = _ev5()
    assert all(c.passed for c in c5.closed_form_checks(C, ev, s))
    wrong = _by_name(c5.closed_form_checks(1.05 * C, ev, s))
    for name in (
        c5.B_CHECK,
        "predictor on fresh prompts: trained vs closed form on the same branch (rel. RMS)",
    ):
        assert wrong[name].status == "failed", name
    aniso = _by_name(c5.closed_form_checks(C + np.diag([0.1, -0.1]), ev, s))
    assert aniso["Dist(B_eff, I): trained vs closed form"].status == "failed"
    assert (
        _by_name(c5.closed_form_checks(0.5 * C, ev, s))[
            "closed form's exact loss minus the trained B_eff's exact loss"
        ].status
        == "failed"
    )
    far = _by_name(c5.closed_form_checks(0.0 * C, ev, s))  # 4000 test prompts: a coarse check
    assert (
        far["test loss of trained model vs exact loss of closed form (relative)"].status == "failed"
    )


def test_claim5_spread_above_the_ceiling_is_inconclusive():
    s, ev, C = _ev5(spread=3.0)
    assert _by_name(c5.closed_form_checks(C, ev, s))[c5.B_CHECK].status == "inconclusive"


def test_claim1_resolution_request_grows_the_integrated_sample_until_reached():
    from dataclasses import replace

    s, ev, A = _ev1(spread=0.02)  # 2 % per replica from "1000 contexts": resolution ~ 0.05
    s = replace(s, resolution=0.01)
    before, _ = run_resolution(c1.closed_form_checks(A, ev, s), c1.RESOLUTION_CHECKS)
    cost = c1._grow_resolution(s, ev, A, c1.Progress(None))
    after, _ = run_resolution(c1.closed_form_checks(A, ev, s), c1.RESOLUTION_CHECKS)
    assert before > 0.01 >= after and ev.int_contexts > 1000 and "extra round" in cost
    assert c1.resolution_check(s, after).passed
    assert c1.resolution_check(s, 0.02).status == "inconclusive"  # a cap that was hit is not a pass
