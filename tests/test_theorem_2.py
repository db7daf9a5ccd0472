"""Theorem 2: two family-(8) layers, isotropic data -- the global minimiser over symmetric
A_0, A_1 is diagonal; in fact it is (a*_0 I, a*_1 I), the restricted optimum of phi_2."""

import math

import numpy as np
import pytest

from theory import single_layer as sl
from theory.restricted import RestrictedLoss
from theory.theorem2 import (
    ExactLoss,
    exact_loss,
    perfect_matchings,
    sym_gradient,
    sym_pack,
    sym_unpack,
    wick_moment,
)
from theory.wishart import mixed_moment
from verify.checks import K_SIGMA
from verify.claims import theorem2 as t2
from verify.compare import dist_identity
from verify.sampling import sample_prompts
from verify.setting import Setting
from verify.theorem2_search import Coordinates, hessian, offdiag_ratio, search, swap_distance

EPS = np.finfo(float).eps


def _trace_slots(parts):
    """Slot labels of prod_i tr W^{parts_i}: each trace is a cycle a->b->...->a."""
    slots, k = "", 0
    for m in parts:
        lab = "abcdefgh"[k : k + m]
        slots += "".join(lab[t] + lab[(t + 1) % m] for t in range(m))
        k += m
    return slots


# --- the Wick engine ---------------------------------------------------------------------------


def test_wick_engine_enumerates_the_7_double_factorial_matchings_of_eight_slots():
    assert [len(perfect_matchings(2 * k)) for k in range(1, 5)] == [1, 3, 15, 105]


@pytest.mark.parametrize("n,d", [(1, 1), (3, 2), (7, 3), (20, 5)])
@pytest.mark.parametrize(
    "parts", [(1,), (2,), (3,), (4,), (1, 1), (2, 2), (1, 3), (1, 1, 2), (1, 1, 1, 1)]
)
def test_wick_engine_equals_stein_recursion_trace_moments_exactly(parts, n, d):
    assert int(wick_moment(_trace_slots(parts), "", n, d)) == int(mixed_moment(parts, n, d))


@pytest.mark.parametrize("n,d", [(4, 3), (20, 5)])
def test_wick_second_moment_is_the_textbook_wishart_covariance(n, d):
    # E[W_ij W_kl] = n^2 d_ij d_kl + n (d_ik d_jl + d_il d_jk)
    I = np.eye(d, dtype=np.int64)
    expected = n * n * np.einsum("ij,kl->ijkl", I, I) + n * (
        np.einsum("ik,jl->ijkl", I, I) + np.einsum("il,jk->ijkl", I, I)
    )
    assert np.array_equal(wick_moment("ijkl", "ijkl", n, d), expected)
    assert np.array_equal(wick_moment("ij", "ij", n, d), n * I)


def test_wick_engine_switches_to_python_integers_before_int64_could_overflow():
    big = wick_moment("abbcca" + "dd", "", 10**6, 3)  # (7!!) n^4 d^4 > 2^62
    assert int(big) == int(mixed_moment((3, 1), 10**6, 3))


# --- the exact loss --------------------------------------------------------------------------------


@pytest.mark.parametrize("n,d", [(1, 1), (5, 2), (7, 3), (20, 5)])
def test_exact_loss_on_S_equals_restricted_phi2(n, d):
    F, R = ExactLoss(n, d), RestrictedLoss("8", 2, n, d)
    rng = np.random.default_rng(n * 100 + d)
    for a0, a1 in rng.uniform(-1.0, 2.0, size=(8, 2)):
        I = np.eye(d)
        phi = float(R.value([a0, a1]))
        # basis: Higham's (d^8 + 2) eps sum|terms| for f plus 64 eps for phi's float conversion
        assert abs(F.restricted(a0, a1) - phi) <= F.roundoff(a0 * I, a1 * I) + 64 * EPS * abs(phi)


@pytest.mark.parametrize("n,d", [(3, 2), (20, 5)])
def test_exact_loss_with_one_layer_off_is_the_theorem1_single_layer_loss(n, d):
    A = np.random.default_rng(d).standard_normal((d, d))  # non-symmetric on purpose
    F, Z = ExactLoss(n, d), np.zeros((d, d))
    ref = sl.population_loss(A, np.eye(d), n)
    # basis: f's round-off bound plus 64 d^2 eps |ref| for the single-layer formula
    for val in (F.value(A, Z), F.value(Z, A)):
        assert abs(val - ref) <= F.roundoff(A, Z) + 64 * d * d * EPS * abs(ref)


def test_layer_order_matters_for_non_commuting_layers_but_not_on_S():
    F = exact_loss(7, 3)
    rng = np.random.default_rng(3)
    A0, A1 = rng.standard_normal((2, 3, 3))
    I = np.eye(3)
    assert abs(F.value(A0, A1) - F.value(A1, A0)) > 1e3 * F.roundoff(A0, A1)
    assert abs(F.value(0.3 * I, 1.1 * I) - F.value(1.1 * I, 0.3 * I)) <= 2 * F.roundoff(
        0.3 * I, 1.1 * I
    )


def test_exact_gradient_and_hessian_match_central_differences():
    F = ExactLoss(7, 3)
    rng = np.random.default_rng(11)
    A = 0.5 * rng.standard_normal((2, 3, 3))
    f, G0, G1 = F.value_and_grad(*A)
    H = F.hessian(*A)
    h = 1e-5
    for l, a, b in [(0, 0, 1), (0, 2, 2), (1, 1, 0), (1, 2, 1)]:
        E = np.zeros((2, 3, 3))
        E[l, a, b] = h
        fd = (F.value(*(A + E)) - F.value(*(A - E))) / (2 * h)
        # basis: central differences of a quartic: h^2 |f'''| / 6 ~ 1e-9 plus eps |f| / h ~ 1e-10
        assert fd == pytest.approx((G0, G1)[l][a, b], abs=1e-7)
        gp, gm = np.array(F.value_and_grad(*(A + E))[1:]), np.array(F.value_and_grad(*(A - E))[1:])
        assert np.allclose((gp - gm) / (2 * h), H[l, a, b], atol=1e-7)


def test_symmetric_coordinates_round_trip_and_pull_back_the_gradient():
    d = 4
    rng = np.random.default_rng(0)
    theta = rng.standard_normal(d * (d + 1))
    A0, A1 = sym_unpack(theta, d)
    assert np.array_equal(A0, A0.T) and np.array_equal(sym_pack(A0, A1), theta)
    F = exact_loss(9, d)
    g = sym_gradient(*F.value_and_grad(A0, A1)[1:])
    e = np.zeros_like(theta)
    e[1] = 1e-6  # an off-diagonal coordinate: it moves two matrix entries
    fd = (F.value(*sym_unpack(theta + e, d)) - F.value(*sym_unpack(theta - e, d))) / 2e-6
    assert fd == pytest.approx(g[1], abs=1e-6)  # basis: as in the central-difference test


@pytest.mark.parametrize("n,d,symmetric", [(7, 3, False), (20, 5, False), (20, 5, True)])
def test_exact_loss_equals_sampled_numpy_transformer_loss(n, d, symmetric):
    rng = np.random.default_rng([n, d, symmetric])
    A0 = 0.5 * np.eye(d) + 0.2 * rng.standard_normal((d, d))
    A1 = 1.0 * np.eye(d) + 0.2 * rng.standard_normal((d, d))
    if symmetric:
        A0, A1 = (A0 + A0.T) / 2, (A1 + A1.T) / 2
    prompts = sample_prompts(100_000, n, np.eye(d), rng)
    sq = t2._sampled_loss(A0, A1, prompts)
    se = sq.std(ddof=1) / math.sqrt(sq.size)
    # basis: K_SIGMA = 5 standard errors of a mean of 1e5 i.i.d. squared residuals
    assert abs(sq.mean() - exact_loss(n, d).value(A0, A1)) <= K_SIGMA * se


# --- the search: the minimiser is diagonal, a multiple of I, and equals a* -------------------------


@pytest.fixture(scope="module")
def small_search():
    return search(7, 3, starts=12, seed=0)


def test_search_minimum_equals_restricted_minimum_and_is_a_star_times_identity(small_search):
    best_S, phi_star, _ = t2.restricted_minimiser(7, 3)
    b = small_search.best
    A0, A1 = b.matrices()
    phi = phi_star.p / phi_star.q
    F = exact_loss(7, 3)
    # basis: optimiser stopping rule g^T H^-1 g / 2 plus twice the float bound of f
    assert abs(b.loss - phi) <= b.loss_bound + 2 * F.roundoff(A0, A1) + 4 * EPS
    tol_x = math.sqrt(2) * (
        b.step_bound + 2 * F.gradient_roundoff(A0, A1) / b.min_eig
    )  # Newton bound
    norm = math.hypot(np.linalg.norm(A0), np.linalg.norm(A1))
    assert offdiag_ratio(A0, A1) <= tol_x / norm
    assert max(dist_identity(A0), dist_identity(A1)) <= tol_x / min(
        np.linalg.norm(A0), np.linalg.norm(A1)
    )
    I = np.eye(3)
    assert swap_distance(A0, A1, float(best_S.a[0]) * I, float(best_S.a[1]) * I) <= tol_x / norm


def test_every_start_reaches_the_same_minimiser_up_to_the_layer_swap(small_search):
    b = small_search.best
    for m in small_search.minima:
        assert m.loss - b.loss <= 1e-12  # basis: all end points are Newton-polished (g ~ 1e-15)
        assert swap_distance(*m.matrices(), *b.matrices()) <= 1e-10


def test_minimiser_is_a_strict_local_minimum_over_all_general_directions(small_search):
    F = exact_loss(7, 3)
    A0, A1 = small_search.best.matrices()
    lam = np.linalg.eigvalsh(hessian(Coordinates(3, False).pack(A0, A1), F, Coordinates(3, False)))
    assert lam[0] > 1e3 * EPS * 9  # basis: 1e3 d^2 eps round-off of the exact Hessian


def test_search_over_general_matrices_finds_the_same_minimum():
    best_S, phi_star, _ = t2.restricted_minimiser(7, 3)
    r = search(7, 3, starts=4, seed=1, symmetric=False)
    # basis: Newton-polished end point; 1e-12 is 1e3 times the float bound of f at d = 3
    assert abs(r.best.loss - phi_star.p / phi_star.q) <= 1e-12


def test_search_starts_far_from_the_identity():
    from verify.theorem2_search import random_start

    rng = np.random.default_rng(0)
    c = Coordinates(5, True)
    dists = [dist_identity(A) for _ in range(40) for A in c.unpack(random_start(c, rng))]
    assert min(dists) > 0.5  # typical value sqrt(1 - 2/(d(d+1))) = 0.97 at d = 5


# --- the claim: verdict, controls, hypotheses --------------------------------------------------------


@pytest.fixture(scope="module")
def quick_verdict():
    return t2.run(t2.default_setting(quick=True), with_controls=True)


def test_quick_verdict_passes_every_check(quick_verdict):
    failed = [(c.name, c.observed, c.tolerance) for c in quick_verdict.checks if not c.passed]
    assert quick_verdict.passed, failed


def test_every_negative_control_is_rejected(quick_verdict):
    names = [c["name"] for c in quick_verdict.controls]
    assert len(names) == 4
    assert all(c["rejected"] for c in quick_verdict.controls), names


def test_closed_form_json_carries_found_matrices_a_star_and_decimal_loss(quick_verdict):
    cf = quick_verdict.to_dict()["closed_form"]
    assert np.asarray(cf["A0"]).shape == (5, 5) and np.asarray(cf["A1"]).shape == (5, 5)
    assert cf["restricted_minimum_exact"] == "1795/4969"
    assert cf["restricted_minimum"].startswith("0.3612396860535318977661501308")
    assert len(cf["restricted_a_star"]) == 2 and cf["restricted_a_star"][0].startswith(
        "0.515370682835992416"
    )


def test_every_check_states_its_tolerance_basis(quick_verdict):
    for c in quick_verdict.checks:
        assert c.basis and c.kind and c.status in ("passed", "failed")


def test_a_users_candidate_pair_is_checked_and_a_wrong_one_fails():
    best_S, _, _ = t2.restricted_minimiser(
        7, 3
    )  # a small setting: the candidate path, not the search
    I = np.eye(3)
    small = t2.default_setting(d=3, n=7, quick=True)
    good = t2.run(
        small, candidate=lambda sigma, n: [float(best_S.a[1]) * I, float(best_S.a[0]) * I]
    )
    assert good.passed
    bad = t2.run(small, candidate=lambda sigma, n: [0.7 * I, 0.7 * I])
    assert not bad.passed


def test_candidate_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match=r"shape \(2, 5, 5\)"):
        t2.run(t2.default_setting(quick=True), candidate=lambda sigma, n: np.eye(5))


@pytest.mark.parametrize(
    "kw,word",
    [
        ({"spectrum": (1.0, 1.0, 0.5)}, "spectrum"),
        ({"spectrum": (1.0, 1.0, 1.0), "prior": "inverse"}, "prior"),
        ({"spectrum": (1.0, 1.0, 1.0), "noise": 0.1}, "noise"),
        ({"spectrum": (1.0, 1.0, 1.0), "layers": 3}, "L = 2"),
    ],
)
def test_settings_outside_the_hypotheses_raise_value_error_naming_them(kw, word):
    with pytest.raises(ValueError, match=word):
        t2.run(Setting(d=3, n=7, **kw))


def test_exact_loss_refuses_wrong_shapes_and_sizes():
    with pytest.raises(ValueError, match="3 x 3"):
        exact_loss(7, 3).value(np.eye(2), np.eye(3))
    with pytest.raises(ValueError, match="positive integers"):
        ExactLoss(0, 3)


@pytest.mark.slow
def test_default_verdict_passes_with_controls_at_d5_n20():
    # one seed at the default effort; the quick verdict above uses another
    v = t2.run(t2.default_setting(seed=1), with_controls=True)
    assert v.passed, [c.name for c in v.checks if not c.passed]
    assert all(c["rejected"] for c in v.controls)


def test_one_dimensional_case_runs_without_the_off_diagonal_control():
    v = t2.run(t2.default_setting(d=1, n=1, quick=True), with_controls=True)
    assert v.passed and len(v.controls) == 3
    assert (
        v.closed_form["restricted_minimum_exact"] == "8/15"
    )  # d = n = 1: phi_2 min from theory.critical
