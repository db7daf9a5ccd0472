"""Critical points on S (theory/critical.py) and full-matrix Hessians (theory/hessian.py)."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from flint import arb
from scipy.optimize import root

from theory.critical import (
    certified_critical_points,
    critical_points,
    derive_critical_points,
    global_minimum_value_family8,
    partitions,
)
from theory.hessian import full_gradient_trace, hessian_block
from theory.restricted import RestrictedLoss

N, D = 20, 5  # the paper's Figs. 1-2 setting

# Gradients at certified points: Krawczyk encloses the zero within 1e-40 of the centre, so the
# exact gradient at the centre is O(|Hessian| * 1e-40); 1e-30 leaves ten digits of margin.
GRAD_TOL = mpmath.mpf(10) ** -30

#: Global minima on S, family (8), d = 5, n = 20, as computed by the enumeration (all digits
#: the certificate guarantees) -- cross-checked against the independent Hankel value below.
FAMILY8_MINIMA = {5: "0.024781295360313051715", 6: "0.012034436259115607068"}
#: Number of critical points (up to the Lemma 4 permutations), one per pattern solution.
FAMILY8_COUNTS = {1: 1, 2: 2, 3: 4, 4: 8, 5: 16, 6: 32}


@pytest.fixture(scope="module")
def family8_sets():
    return {L: certified_critical_points("8", L, N, D) for L in (1, 2, 3, 4, 5)}


@pytest.mark.parametrize("L", [1, 2, 3, 4, 5])
def test_family8_lists_are_complete_and_every_point_is_certified(family8_sets, L):
    cs = family8_sets[L]
    assert cs.complete and cs.global_minimum_proved
    assert len(cs.points) == FAMILY8_COUNTS[L]
    assert all(p.certified and p.certificate["existence_uniqueness"] for p in cs.points)
    with mpmath.workdps(60):
        R = RestrictedLoss("8", L, N, D)
        for p in cs.points:
            assert max(abs(g) for g in R.gradient(list(p.a))) < GRAD_TOL


def test_family8_global_minimum_equals_hankel_closed_form(family8_sets):
    for L, cs in family8_sets.items():
        exact = global_minimum_value_family8(L, N, D)
        with mpmath.workdps(60):
            # 1e-40: losses carry >= 60 certified digits (ball radius in the certificate).
            assert abs(cs.points[0].loss - mpmath.mpf(exact.p) / exact.q) < mpmath.mpf(10) ** -40
        best = cs.points[0]
        assert best.is_global_minimum_on_S and best.kind == "minimum"
        assert len(set(best.a)) == L and min(best.a) > 0  # distinct positive step sizes


def test_family8_five_layer_minimum_is_pinned(family8_sets):
    best = family8_sets[5].points[0]
    assert mpmath.nstr(best.loss, 20) == FAMILY8_MINIMA[5]
    assert best.certificate["loss_radius"] < 1e-40


@pytest.mark.slow
def test_family8_six_layers_complete_with_pinned_minimum():
    cs = certified_critical_points("8", 6, N, D)  # ~1 min: 11 patterns, 32 certified points
    assert (
        cs.complete and len(cs.points) == FAMILY8_COUNTS[6] and all(p.certified for p in cs.points)
    )
    assert {p.pattern for p in cs.points} == set(partitions(6))  # three repeated values: (2, 2, 2)
    assert mpmath.nstr(cs.points[0].loss, 20) == FAMILY8_MINIMA[6]
    exact = global_minimum_value_family8(6, N, D)
    with mpmath.workdps(60):
        assert abs(cs.points[0].loss - mpmath.mpf(exact.p) / exact.q) < mpmath.mpf(10) ** -40


def test_family8_reference_kinds_at_paper_setting(family8_sets):
    kinds = {L: [p.kind for p in cs.points] for L, cs in family8_sets.items() if L <= 4}
    assert kinds == {
        1: ["minimum"],
        2: ["minimum", "saddle"],
        3: ["minimum"] + ["saddle"] * 3,
        4: ["minimum"] + ["saddle"] * 7,
    }
    assert all(p.kind == "saddle" for p in family8_sets[5].points[1:])


def test_family8_no_critical_point_has_a_zero_step_size():
    # Lemma A: d phi / d a_j = -2 d int s q^2 dmu < 0 whenever a_j = 0.
    rng = np.random.default_rng(0)
    R = RestrictedLoss("8", 3, 9, 4)
    for _ in range(20):
        a = list(rng.normal(size=3) * 2)
        a[rng.integers(3)] = 0.0
        j = a.index(0.0)
        with mpmath.workdps(30):
            assert R.gradient(a)[j] < 0


@pytest.mark.parametrize("n,d", [(7, 3), (4, 6), (30, 2)])
def test_family8_exact_list_matches_independent_multistart_search(n, d):
    # Completeness cross-check: 300 random Newton starts find nothing outside the exact list.
    L = 3
    exact = critical_points("8", L, n, d)
    R = RestrictedLoss("8", L, n, d)
    rng = np.random.default_rng(n * d)
    grad = lambda a: np.array(R.gradient(list(a), backend="numpy"), dtype=float)
    listed = [np.array([float(x) for x in p.a]) for p in exact]
    for _ in range(300):
        sol = root(grad, rng.uniform(-0.5, 4.0, size=L), method="hybr")
        if not sol.success or np.max(np.abs(grad(sol.x))) > 1e-9:
            continue
        # 1e-6: hybr stops at xtol 1.5e-8 relative; points in the list are >= 1e-2 apart.
        assert min(np.max(np.abs(np.sort(sol.x) - q)) for q in listed) < 1e-6, sol.x


def test_partitions_enumerate_multiplicity_patterns():
    assert partitions(4) == [(4,), (3, 1), (2, 2), (2, 1, 1), (1, 1, 1, 1)]
    assert (2, 2, 2) in partitions(6) and len(partitions(6)) == 11


@pytest.mark.parametrize(
    "family,L,t", [("8", 3, [0.4, 0.7, 1.6]), ("11", 2, [-0.5, -3.4, 0.87, 0.2])]
)
def test_trace_block_of_full_hessian_equals_restricted_hessian_over_d(family, L, t):
    with mpmath.workdps(40):
        _, g, H = RestrictedLoss(family, L, N, D).evaluate(t)
        a, b = t[:L], t[L:]
        Ht = hessian_block(family, a, b, N, D, "trace")
        gt = full_gradient_trace(family, a, b, N, D)
        scale = 1 + max(abs(x) for row in H for x in row)
        # 1e-25: two independent 40-digit computations, cancellation < 15 digits.
        assert (
            max(abs(Ht[i][j] - H[i][j] / D) for i in range(len(t)) for j in range(len(t)))
            < 1e-25 * scale
        )
        assert max(abs(gt[i] - g[i] / mpmath.sqrt(D)) for i in range(len(t))) < 1e-25 * scale


def test_arb_hessian_block_encloses_the_mpmath_value():
    a, b = [-0.5, -3.4], [0.87, 0.0]
    with mpmath.workdps(40):
        H = hessian_block("11", a, b, N, D, "sym")
    Ha = [[arb(x) for x in row] for row in hessian_block("11", a, b, N, D, "sym", arith="arb")]
    # the ball (53-bit default precision) must contain the 40-digit value up to its radius + 1e-30
    assert all(
        abs(float(Ha[i][j].mid()) - float(H[i][j])) <= float(Ha[i][j].rad()) + 1e-12
        for i in range(4)
        for j in range(4)
    )


def _sampled_second_difference(family, a, b, E, theta_a, theta_b, d, n, prompts, rng, h=1e-3):
    """Per-prompt (f(h) - 2 f(0) + f(-h)) / h^2 with A_l = a_l I + eps theta_l E (Sigma = I)."""
    L = len(a)
    X = rng.standard_normal((prompts, n + 1, d))  # (B, n+1, d)
    w = rng.standard_normal((prompts, d))  # (B, d)
    y = np.einsum("bid,bd->bi", X, w)  # (B, n+1)
    Z0 = np.concatenate([X.transpose(0, 2, 1), y[:, None, :]], axis=1)  # (B, d+1, n+1)
    Z0[:, d, n] = 0.0

    def loss(eps):
        Z = Z0.copy()
        for l in range(L):
            P = np.zeros((d + 1, d + 1))
            Q = np.zeros((d + 1, d + 1))
            P[d, d] = 1.0
            A = a[l] * np.eye(d) + eps * theta_a[l] * E
            if family == "8":
                Q[:d, :d] = -A
            else:
                P[:d, :d] = b[l] * np.eye(d) + eps * theta_b[l] * E
                Q[:d, :d] = A
            ctx = Z[:, :, :n]  # (B, d+1, n): mask removes the query column
            Z = Z + (P @ (ctx @ ctx.transpose(0, 2, 1)) @ Q) @ Z / n  # (B, d+1, n+1)
        return (Z[:, d, n] + np.einsum("bd,bd->b", X[:, n, :], w)) ** 2

    return (loss(h) - 2 * loss(0.0) + loss(-h)) / h**2


@pytest.mark.parametrize("kind", ["sym", "antisym"])
@pytest.mark.parametrize("family", ["8", "11"])
def test_traceless_hessian_blocks_match_sampled_second_differences(family, kind):
    d, n, L = 3, 10, 2
    rng = np.random.default_rng(11 if family == "8" else 12)
    pts = critical_points(family, L, n, d)
    p = pts[-1] if family == "8" else pts[0]  # family 8: the saddle; family 11: the best minimum
    a = [float(x) for x in p.a]
    b = [float(x) for x in p.b] if family == "11" else [0.0] * L
    M = rng.standard_normal((d, d))
    E = (M + M.T) / 2 - np.trace(M) / d * np.eye(d) if kind == "sym" else (M - M.T) / 2
    E /= np.linalg.norm(E)  # unit Frobenius norm
    theta = rng.standard_normal(2 * L)
    ta, tb = theta[:L], (theta[L:] if family == "11" else np.zeros(L))
    samples = _sampled_second_difference(family, a, b, E, ta, tb, d, n, 200_000, rng)
    with mpmath.workdps(30):
        H = hessian_block(family, a, b if family == "11" else [], n, d, kind)
        Ht = hessian_block(family, a, b if family == "11" else [], n, d, "trace")
    vec = list(ta) + (list(tb) if family == "11" else [])
    exact = float(sum(vec[i] * H[i][j] * vec[j] for i in range(len(vec)) for j in range(len(vec))))
    wrong = float(sum(vec[i] * Ht[i][j] * vec[j] for i in range(len(vec)) for j in range(len(vec))))
    se = samples.std(ddof=1) / math.sqrt(samples.size)
    # 5 SE (CLT, false alarm < 1e-6); finite-difference bias O(h^2) = O(1e-6) << SE.
    assert abs(samples.mean() - exact) < 5 * se, (samples.mean(), exact, se)
    # Negative control: the commuting (trace-block) value is rejected by the same check.
    assert abs(samples.mean() - wrong) > 5 * se, (samples.mean(), wrong, se)


@pytest.fixture(scope="module")
def family11_two_layers():
    return certified_critical_points("11", 2, N, D)


def test_family11_two_layers_complete_list_of_seven_certified_points(family11_two_layers):
    cs = family11_two_layers
    assert cs.complete and len(cs.points) == 7 and all(p.certified for p in cs.points)
    assert [p.kind for p in cs.points].count("minimum") == 3
    # at (n, d) = (20, 5): no critical point of psi with a_0 = 0, c != 0; one critical point of the
    # boundary at infinity (a_1 -> 0, |b_0| -> inf), far above the minimum
    assert [e for e in cs.escaping if "a1" in e] == []
    assert len([e for e in cs.escaping if "gamma" in e]) == 1
    assert all(e["loss_limit"] > 0.8 for e in cs.escaping)
    assert "escaping" in cs.coverage_statement and "strictly above" in cs.coverage_statement


def test_family11_two_layers_global_minimum_is_proved_and_pinned(family11_two_layers):
    cs = family11_two_layers
    best = cs.lowest
    assert cs.global_minimum_proved and best.is_global_minimum_on_S and best.kind == "minimum"
    assert mpmath.nstr(best.loss, 20) == "0.057501152635811810708"
    assert any("boundary at infinity" in s["title"] and s["status"] == "proved" for s in cs.steps)


def test_family11_two_layers_points_trace_one_to_one_to_the_exact_solve_boxes(
    family11_two_layers,
):
    from dataclasses import replace

    from theory.critical import _traced
    from theory.family11 import solve_family11

    sol = solve_family11(2, N, D)
    pts = [p for p in family11_two_layers.points]
    order = {id(p): i for i, p in enumerate(pts)}
    # the list is sorted by loss; put the points back in the solve's order by containment
    by_box = []
    for box in sol.enclosures:
        match = [p for p in pts if abs(float(p.a[0]) - float(box[0].mid())) < 1e-12]
        match = [p for p in match if abs(float(p.a[1]) - float(box[1].mid())) < 1e-12]
        by_box.append(match[0])
    assert len({order[id(p)] for p in by_box}) == len(sol.enclosures) == 7
    assert _traced(by_box, sol.enclosures)
    # evidence that must fail it: a lost point, a point listed twice, a point in the wrong box
    assert not _traced(by_box[:-1], sol.enclosures)
    assert not _traced(by_box[:-1] + by_box[:1], sol.enclosures)
    assert not _traced(by_box[1:] + by_box[:1], sol.enclosures)
    assert not _traced([replace(by_box[0], certified=False)] + by_box[1:], sol.enclosures)


def test_certified_loss_ball_encloses_phi_at_the_centre(family11_two_layers):
    from theory.restricted import RestrictedLoss

    R = RestrictedLoss("11", 2, N, D)
    for p in family11_two_layers.points:
        r = p.certificate["loss_radius"]
        with mpmath.workdps(100):
            val = R.value(tuple(p.a) + tuple(p.b))
            # the zero is within 1e-100 of the centre and the gradient vanishes there: phi at
            # the centre differs from phi at the zero by O(1e-200); 1e-90 covers the round-off
            # of a 100-digit evaluation of phi (a few digits lost to cancellation)
            assert abs(val - p.loss) <= r + mpmath.mpf(10) ** -90


def test_family11_two_layers_embedded_one_layer_point(family11_two_layers):
    # a_0 = 0: the remaining layer is the L = 1 optimum a_1 = -n/(n+d+1), and d phi/d a_0 = 0
    # fixes b_0 (= -1/2 here).
    emb = [p for p in family11_two_layers.points if p.a[0] == 0]
    assert len(emb) == 1
    with mpmath.workdps(60):
        assert abs(emb[0].a[1] + mpmath.mpf(N) / (N + D + 1)) < mpmath.mpf(10) ** -40
        assert abs(emb[0].b[0] + mpmath.mpf(1) / 2) < mpmath.mpf(10) ** -40
    assert emb[0].kind == "saddle" and all(p.zero_directions for p in family11_two_layers.points)


def test_family11_two_layers_exact_list_contains_every_float_search_zero(family11_two_layers):
    from verify.search import gdpp_search, polish

    listed = [np.array([float(x) for x in p.a + p.b[:1]]) for p in family11_two_layers.points]
    for t, _ in gdpp_search(2, N, D, starts=15, seed=3):
        tp, res, _ = polish(2, N, D, t, dps=30)
        if res > 1e-20:
            continue  # an escaping float64 limit, not a zero
        # 1e-8: both sides are 30-digit Newton limits of isolated zeros >= 1e-2 apart
        assert min(np.max(np.abs(np.array([float(v) for v in tp]) - q)) for q in listed) < 1e-8


def test_family11_minimum_is_degenerate_only_along_last_B(family11_two_layers):
    best = family11_two_layers.lowest
    with mpmath.workdps(40):
        H = hessian_block("11", best.a, best.b, N, D, "sym")
    # The B_{L-1} row and column vanish exactly (f does not depend on B_{L-1}).
    assert all(H[3][j] == 0 for j in range(4))
    bounds = best.certificate["eigenvalue_bounds"]
    assert all(lo > 0 for blk in bounds.values() for lo, _ in blk["bounds"])


def test_derivation_for_family8_holds_and_says_complete():
    D_ = derive_critical_points("8", 2, N, D)
    assert D_.all_hold and any("complete" in s.title for s in D_.steps)


def test_paper_figure2_values_are_near_the_family8_minimum_at_n20():
    # Fig. 2: Sigma^{1/2} A_l Sigma^{1/2} ~ 0.69, 0.42, 1.71 (two printed digits).
    R = RestrictedLoss("8", 3, N, D)
    best = critical_points("8", 3, N, D)[0]
    paper = R.value([0.69, 0.42, 1.71])
    # Rounding to 2 digits moves phi by O(|Hess| * 0.005^2) ~ 1e-4 at most.
    assert 0 <= paper - best.loss < 1e-4
    assert R.value([0.42, 0.69, 1.71]) == pytest.approx(float(paper), rel=1e-12)  # Lemma 4


def test_bad_requests_are_refused():
    with pytest.raises(ValueError, match="1 <= L <= 6"):
        certified_critical_points("8", 7, 20, 5)
    with pytest.raises(ValueError, match="1 <= L <= 3"):
        certified_critical_points("11", 4, 20, 5)
    with pytest.raises(ValueError, match="family must be"):
        critical_points("12", 2, 20, 5)


#: Lowest known critical point of family (11), L = 3, d = 5, n = 20 (issue 9; from the shipped
#: table of `python -m verify.search gdpp --layers 3 --starts 1000`), re-certified at every call.
GDPP_L3_LOWEST = "0.000961310661946142"


@pytest.fixture(scope="module")
def gdpp_l3_lowest():
    """The lowest row of the shipped L = 3 table, re-certified (one point: ~3 s)."""
    from theory.critical import _load_table, _point

    table = _load_table(3, N, D)
    row = min(table["points"], key=lambda r: r["loss_float"])
    return _point("11", 3, N, D, row["t"]), table


def test_family11_three_layers_lowest_table_row_is_a_certified_minimum(gdpp_l3_lowest):
    best, table = gdpp_l3_lowest
    assert best.certified and best.kind == "minimum"
    # the pinned value has 15 significant digits: agreement to half a unit in the last place
    assert abs(best.loss - mpmath.mpf(GDPP_L3_LOWEST)) < mpmath.mpf("5e-19")
    # a = (-0.33830, -2.09084, -8.56806), b = (0.87758, 0.57816) to the five printed decimals
    assert [round(float(x), 5) for x in best.a] == [-0.3383, -2.09084, -8.56806]
    assert [round(float(x), 5) for x in best.b[:2]] == [0.87758, 0.57816]
    assert (
        table["command"].startswith("python -m verify.search gdpp --layers 3")
        and table["starts"] >= 1000
    )


def test_family11_three_layers_perturbed_table_row_fails_certification(gdpp_l3_lowest):
    best, _ = gdpp_l3_lowest
    moved = [x + mpmath.mpf("1e-8") for x in list(best.a) + list(best.b[:2])]
    from theory.critical import certify_point

    assert not certify_point("11", 3, N, D, moved, polish=False)["certified"]


@pytest.mark.slow
def test_family11_three_layers_whole_table_is_recertified_and_not_claimed_complete():
    cs = certified_critical_points("11", 3, N, D)  # ~40 s: 61 points, 14 minima with full blocks
    assert cs.points and all(p.certified for p in cs.points)
    # the (a, c = a b) search adds 15 saddles the 1000-start (a, b) search missed (issue 18),
    # among them phi_3 = 0.7245 near a = (-0.977, -0.0132, -0.474)
    assert len(cs.points) == 61
    assert any(abs(float(p.loss) - 0.72447901) < 1e-8 for p in cs.points)
    assert (
        not cs.complete
        and not cs.global_minimum_proved
        and "NOT proved complete" in cs.coverage_statement
    )
    best = cs.lowest
    assert abs(best.loss - mpmath.mpf(GDPP_L3_LOWEST)) < mpmath.mpf("5e-19")
    assert best.kind == "minimum" and best.global_status.startswith("lowest known")


def test_family11_three_layer_strata_with_a_zero_step_come_from_the_two_layer_list():
    from theory.family11 import embedded_candidates

    cands, steps = embedded_candidates(N, D)
    assert steps[0]["status"] == "proved" and len(cands) == 14  # 7 L = 2 points x 2 strata
    # the a_1 = 0 embedding of the L = 2 minimum is a critical point of phi_3 with the same loss
    from theory.critical import certify_point

    best2 = min(
        cands[::2],
        key=lambda c: float(RestrictedLoss("11", 2, N, D).value([c[0][0], c[0][2], c[0][3], 0])),
    )
    res = certify_point("11", 3, N, D, best2[0])
    assert res["certified"] and res["kind"] == "saddle"
    with mpmath.workdps(40):
        assert abs(res["loss"] - mpmath.mpf("0.057501152635811810708")) < mpmath.mpf("1e-20")
