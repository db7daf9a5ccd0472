"""Global minimum of phi_3 (theory/global_min.py): every piece encloses the truth and can fail.

The enclosures are checked against independent exact evaluations (theory.restricted in the
original coordinates (a, b), mpmath at 30 digits), the refusals against evidence that must be
refused (a local minimum that is not global, a saddle).  Setting: d = 5, n = 20 (the shipped table).
"""

from __future__ import annotations

import json
from fractions import Fraction
from importlib import resources

import mpmath
import numpy as np
import pytest
from flint import arb, ctx

from theory.affine import box_variables
from theory.critical import global_minimum_value_family8
from theory.global_min import (
    _branch_and_bound,
    _certify_star,
    _Domain,
    _effective_to_chart1,
    _split_inner_outer,
    coercivity_bounds,
    gauss_enclosure,
    main,
    phi_lower_upper,
    prove_global_minimum,
)
from theory.interval_jet import Iv
from theory.restricted import RestrictedLoss
from theory.spectral import spectral_moments

N, D = 20, 5


@pytest.fixture(scope="module")
def rule():
    return gauss_enclosure(N, D)


@pytest.fixture(scope="module")
def table():
    text = resources.files("theory").joinpath("data", f"gdpp_L3_n{N}_d{D}.json").read_text()
    return json.loads(text)["points"]


@pytest.fixture(scope="module")
def loss():
    return RestrictedLoss("11", 3, N, D)


def _chart_to_ab(x, chart, tau):
    """Chart coordinates -> (a_0, a_1, a_2, b_0, b_1, b_2) (the inverse of the module's charts)."""
    a0, K, Lam, M, z = (mpmath.mpf(float(v)) for v in x)
    c0 = z if chart == 1 else 1 / z
    if chart == 2:
        K, Lam, M = K / c0**2, Lam / c0, M / c0**3
    a1, a2 = tau[0] * K, tau[1] * Lam**2
    return [a0, a1, a2, c0 / a0, (M / Lam) / a1, 0]


def _star(table):
    with ctx.workprec(256):
        xs, tau = _effective_to_chart1([arb(v) + arb(0, 1e-40) for v in table[0]["t"]])
    dom = _Domain("test", 1, tau[0], tau[1], np.full(5, -100.0), np.full(5, 100.0))
    return dom, xs


def test_outward_rounding_encloses_exact_products_and_sums():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=200), rng.normal(size=200)
    x, y = Iv(a, a + 1e-3), Iv(b, b + 1e-3)
    for op in (lambda u, v: u * v, lambda u, v: u + v, lambda u, v: u - v):
        r = op(x, y)
        for i in range(0, 200, 17):
            exact = op(Fraction(a[i]), Fraction(b[i]))
            assert Fraction(r.lo[i]) <= exact <= Fraction(r.hi[i])
    s = Iv(np.array([-1.0, 2.0]), np.array([3.0, 4.0])).sqr()
    assert s.lo.tolist() == [0.0, np.nextafter(4.0, 0)] or s.lo[0] == 0.0


def test_gauss_rule_enclosure_integrates_exactly_to_degree_27_and_no_further(rule):
    nodes, weights = rule
    m = spectral_moments(N, D, 29)
    for k in range(29):
        acc = Iv(0.0)
        for i in range(len(nodes.lo)):
            p = Iv(1.0)
            for _ in range(k):
                p = p * nodes[i]
            acc = acc + p * weights[i]
        inside = Fraction(float(acc.lo)) <= m[k] <= Fraction(float(acc.hi))
        assert inside == (k <= 27), k  # exact up to 2N - 1 = 27; k = 28 must be missed


@pytest.mark.parametrize("chart,tau", [(1, (-1, -1)), (2, (-1, -1)), (1, (1, -1)), (1, (-1, 1))])
def test_affine_bounds_enclose_the_exact_loss_on_random_boxes(rule, loss, chart, tau):
    rng = np.random.default_rng(chart + 3 * tau[0] + 7 * tau[1] + 20)
    centre = np.array([-0.34, 2.1, 2.9, -3.5, -0.3 if chart == 1 else -3.4])
    half = np.array([0.05, 0.2, 0.1, 0.3, 0.05])
    lo = centre + rng.uniform(-1, 1, (6, 5)) * half
    hi = lo + rng.uniform(0, 1, (6, 5)) * half
    dom = _Domain("test", chart, tau[0], tau[1], lo.min(0), hi.max(0))
    lb, ub, _ = phi_lower_upper(lo, hi, dom, rule, D)
    with mpmath.workdps(30):
        for i in range(6):
            for _ in range(3):
                x = lo[i] + (hi[i] - lo[i]) * rng.random(5)
                v = loss.value(_chart_to_ab(x, chart, tau))
                assert lb[i] <= v * (1 + 1e-12) and v <= ub[i] * (1 + 1e-12)
    # the enclosures are informative: at the minimiser's box the width is second order
    x0 = np.array([[-0.33829706, 2.09084142, 2.92712432, -3.53844065, -0.29688207]])
    dom1 = _Domain("test", 1, -1, -1, x0[0] - 1, x0[0] + 1)
    lb, ub, _ = phi_lower_upper(x0 - 1e-4, x0 + 1e-4, dom1, rule, D)
    assert 0 < ub[0] - lb[0] < 1e-7


def test_coercivity_box_holds_the_minimiser_and_outside_points_lie_above_the_level(rule, table):
    T = Fraction(table[0]["loss_float"]) * (1 + Fraction(1, 10**9))
    cb = coercivity_bounds(N, D, T, Fraction(1))
    with ctx.workprec(256):
        xs, _ = _effective_to_chart1([arb(v) for v in table[0]["t"]])
    box = cb["chart1"]
    assert all(lo < float(v.mid()) < hi for v, (lo, hi) in zip(xs, box))
    # evidence for the bound (not part of it): points just outside the box are far above T
    rng = np.random.default_rng(5)
    dom = _Domain("test", 1, -1, -1, np.zeros(5), np.zeros(5))
    for k in (0, 1, 2, 3):  # a_0, K, Lam and M just beyond their bounds
        pts = np.array([[float(v.mid()) for v in xs]] * 4)
        pts[:, k] = box[k][1] * (1.01 + rng.random(4))
        lb = phi_lower_upper(pts, pts, dom, rule, D)[0]
        assert np.all(lb > float(T))
    assert coercivity_bounds(N, D, Fraction(1, 10**6), Fraction(1)) == {
        "empty": True,
        "qmin": coercivity_bounds(N, D, Fraction(1, 10**6), Fraction(1))["qmin"],
    }  # below K_13 / d no polynomial of degree 13 reaches the level


def test_sign_cases_are_closed_by_the_kernel_bounds_and_the_bound_holds(loss, table):
    K10 = global_minimum_value_family8(10, N, D)
    assert K10 > Fraction(table[0]["loss_float"]) > global_minimum_value_family8(11, N, D)
    rng = np.random.default_rng(2)
    with mpmath.workdps(30):
        for _ in range(5):  # a_1 >= 0: f_1 >= 1 on the support, so phi_3 >= K_10
            t = [rng.normal(-0.3, 0.2), abs(rng.normal(0, 1)), rng.normal(-8, 2)]
            t += list(rng.normal(0.5, 0.5, 2)) + [0]
            assert loss.value(t) >= float(K10)


def test_convex_box_is_certified_at_the_minimum_and_refused_at_a_saddle(rule, table):
    dom, xs = _star(table)
    ok, r, _, lam = _certify_star(dom, rule, D, xs)
    assert ok and r > 0 and lam > 0
    saddle = table[4]  # the restricted Hessian there has a negative eigenvalue
    with ctx.workprec(256):
        xs2, tau2 = _effective_to_chart1([arb(v) for v in saddle["t"]])
    dom2 = _Domain("test", 1, tau2[0], tau2[1], np.full(5, -100.0), np.full(5, 100.0))
    ok2, r2, why, _ = _certify_star(dom2, rule, D, xs2)
    assert not ok2 and r2 == 0 and "not positive definite" in why


def test_inner_region_around_the_minimum_closes(rule, table):
    dom, xs = _star(table)
    ok, r, _, _ = _certify_star(dom, rule, D, xs)
    inner, _ = _split_inner_outer(dom, 2 * r)
    v = Fraction(table[0]["loss_float"])
    out = _branch_and_bound(inner, rule, D, float(v * (1 + Fraction(1, 10**12))), float(v * 0.999))
    assert out.closed and out.stats["certified"] > 0 and out.stats["value_pruned"] > 0


def test_a_local_minimum_that_is_not_global_is_refuted(rule, table):
    # claim the second-lowest certified minimum: the region around the lowest one cannot be pruned
    second, first = table[1], table[0]
    with ctx.workprec(256):
        x1 = [float(v.mid()) for v in _effective_to_chart1([arb(v) for v in first["t"]])[0]]
        x2 = [float(v.mid()) for v in _effective_to_chart1([arb(v) for v in second["t"]])[0]]
    lo, hi = np.array(x1) - 0.02, np.array(x1) + 0.05  # holds the lowest minimum off-centre
    assert not np.all((lo <= x2) & (x2 <= hi))
    dom = _Domain("test", 1, -1, -1, lo, hi)
    dom.z_lo, dom.z_hi = lo.copy(), hi.copy()
    v = second["loss_float"]
    out = _branch_and_bound(dom, rule, D, v * (1 + 1e-9), v * (1 - 1e-9), max_boxes=5000)
    assert not out.closed and out.reason.startswith("refuted") and out.witness is not None
    assert phi_lower_upper(np.array([out.witness]), np.array([out.witness]), dom, rule, D)[1][0] < v
    # ... while the same search with the true minimum's value does not refute it
    v1 = first["loss_float"]
    out1 = _branch_and_bound(dom, rule, D, v1 * (1 + 1e-12), v1 * (1 - 1e-12), max_boxes=1000)
    assert not out1.reason.startswith("refuted")


def test_prove_refuses_a_saddle_and_reports_plain_json(table):
    res = prove_global_minimum(N, D, candidate=table[4]["t"], max_boxes=10)
    assert res.proved is False and "not positive definite" in res.reason
    rec = res.to_json()
    assert json.loads(json.dumps(rec)) == rec and rec["proved"] is False
    assert "NOT proved" in rec["method"]


def test_prove_without_budget_does_not_claim_a_proof(table):
    res = prove_global_minimum(N, D, candidate=table[0]["t"], max_boxes=500)
    assert res.proved is False and "budget" in res.reason
    assert float(res.value[0]) <= table[0]["loss_float"] <= float(res.value[1])
    assert res.sign_cases["a_1 >= 0, a_2 <= 0"].startswith("closed")
    assert res.certified_box["half_width_whitened"] > 0


def test_cli_refuses_bad_input_with_exit_2(capsys):
    assert main(["--n", "0"]) == 2
    assert "positive" in capsys.readouterr().err


def test_box_variables_cover_the_box():
    lo = np.array([[0.1, -1.0]])
    hi = np.array([[0.3, 2.0]])
    z = box_variables(lo, hi)
    for k in range(2):
        assert z[k].lower()[0, 0] <= lo[0, k] and z[k].upper()[0, 0] >= hi[0, k]


def test_cache_is_keyed_written_atomically_and_reused(tmp_path, monkeypatch):
    import theory.global_min as gm

    calls = []

    class Fake:
        def to_json(self):
            calls.append(1)
            return {"n": N, "d": D, "L": 3, "proved": False, "version": gm.VERSION}

    monkeypatch.setenv("ICL_VERIFY_CACHE", str(tmp_path))
    monkeypatch.setattr(gm, "prove_global_minimum", lambda *a, **k: Fake())
    first = gm.cached_global_minimum(N, D, max_boxes=7)
    again = gm.cached_global_minimum(N, D, max_boxes=7)
    assert first == again and len(calls) == 1
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [f"global_min_L3_n{N}_d{D}_b7_v{gm.VERSION}.json"]  # no temporary left
    (tmp_path / files[0]).write_text("{not json")
    gm.cached_global_minimum(N, D, max_boxes=7)
    assert len(calls) == 2  # a corrupt file is recomputed
