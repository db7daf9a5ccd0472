"""Theorem 4 at L = 3: a proof that the certified minimum of phi_3 on S is the global minimum.

Setting (family (11), GD++, L = 3, x ~ N(0, Sigma), w* ~ N(0, Sigma^-1)): on
S = {A_l = a_l Sigma^-1, B_l = b_l I} the population loss is (theory.restricted)

    phi_3(a, b) = d int p(s)^2 dmu(s),   p = f_0 f_1 f_2,
    f_0 = 1 + a_0 s,  f_1 = 1 + a_1 s g_1^2,  f_2 = 1 + a_2 s g_2^2,
    g_1 = 1 + c_0 s,  g_2 = g_1 (1 + c_1 s g_1^2),   c_l = a_l b_l,

with mu the expected spectral measure of S_hat = W / n (theory.spectral).  The proof has four steps.

1. Gauss form.  mu has an N = 14 point Gauss rule (nodes x_i, weights w_i > 0, exact to degree
   27 >= deg p^2 = 26), so phi_3 = d sum_i w_i p(x_i)^2: a sum of squares with no cancellation.  Nodes
   are isolated as the real roots of the exact orthogonal polynomial pi_14 (flint, rigorous balls),
   weights are Christoffel numbers 1 / sum_k pi_k(x_i)^2 / h_k in arb.

2. Sign cases (exact).  On s >= 0 (the support of mu) a factor 1 + a s r(s)^2 with a >= 0 is >= 1.
   So a_2 >= 0 gives phi_3 >= d int (f_0 f_1)^2 dmu >= K_4, and a_1 >= 0 gives phi_3 >= K_10, where
   K_D = d / (H_D^-1)_00 is the least value of d int q^2 dmu over polynomials q of degree <= D with
   q(0) = 1 (theory.critical.global_minimum_value_family8, exact rationals).  A sign case whose bound
   exceeds the target is closed; the others are searched.

3. Charts and coercivity.  Write a_1 = tau_1 K, a_2 = tau_2 Lam^2 (K, Lam >= 0, tau = +-1) and
   M = Lam c_1.  Then f_1 = 1 + tau_1 K s g^2, f_2 = 1 + tau_2 s q^2, q = g (Lam + M s g^2) with
   g = 1 + c_0 s (chart 1, |c_0| <= C) or, dividing by c_0, g = u + s with u = 1 / c_0,
   (K, Lam, M) -> (K c_0^2, Lam c_0, M c_0^3) (chart 2, |u| <= 1 / C, the closure adds u = 0: the
   limit c_0 -> inf).  p is a polynomial in the five chart coordinates; every point of R^5 maps
   into a chart with p unchanged, and q -> -q leaves p unchanged, so Lam >= 0 in both charts.
   Sublevel set: phi_3 <= T bounds the coefficients v_k of p (v_0 = 1) by the ellipsoid of the
   Hankel form (|v_k - v*_k| <= sqrt((T / d - Q_min) (H_1^-1)_kk), exact rationals), hence the
   reciprocal roots of p by R (Cauchy's bound), hence every factor's coefficients (elementary
   symmetric functions of a subset of those roots: |e_k| <= C(deg, k) R^k), hence the chart
   coordinates (q's coefficients through |q|^2 = |r| on [-nu, nu] and Lagrange interpolation, and
   in chart 1 through q_1^2 = r_2 - 6 Lam M c_0).
   Outside that explicit box phi_3 > T.

4. Branch and bound.  Each remaining (sign case, chart) box is bisected; a box is removed when
   the affine-arithmetic enclosure (theory.affine: rigorous, outward-rounded float64, linear in the
   box variables, second-order remainder) of d sum_i w_i p(x_i)^2 over it is > T, or when it lies
   outside the chart box.  Around the candidate the chart box is split into an inner parallelepiped
   x0 + A [-rho, rho]^5 (A whitens the Hessian at the candidate; searched in z coordinates) and the
   outer rest (searched in x coordinates; boxes whose preimage lies in the inner region are left to
   it).  In the inner region the box Z* = [-r, r]^5 holds the Krawczyk-certified critical point and
   the Hessian enclosure over Z* (theory.interval_jet, order 2) is positive definite (verified
   eigenvalue bounds, theory.certify), so phi_3 is convex on Z* and min over Z* = phi_3(candidate).
   Argument: every point of a chart box lies in a removed box (phi > T >= phi(candidate)), in Z*
   (phi >= phi(candidate)) or outside the chart box; with step 3, phi_3 >= phi(candidate) on R^5.
   A midpoint whose rigorous upper bound falls below the candidate's lower bound refutes the claim.

Status (measured at d = 5, n = 20): steps 1-3 hold and the inner whitened region closes
(37,441 boxes); the outer chart-1 box and the chart-2 box do not close within any budget tried:
after 6.15 million boxes (374 CPU-s) 15.4% of the outer chart-1 box's volume is decided (the
coercivity box, e.g. |M| <= 1056 against |M| ~ 4 at the low minima, is far too loose for a
five-dimensional bisection of a degree-26 polynomial).  So ``proved`` is False there, with the
record saying which parts were established.

Paper: Theorem 4 (eq. 12) and its footnote (attainment).  Result: :class:`GlobalMinimumProof`.
"""

from __future__ import annotations

import collections
import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from flint import arb, arb_mat, arb_poly, ctx, fmpq, fmpq_mat

from theory.affine import Aff, box_variables
from theory.interval_jet import Iv, Jet, variables

__all__ = [
    "VERSION",
    "GlobalMinimumProof",
    "coercivity_bounds",
    "gauss_enclosure",
    "phi_jet",
    "prove_global_minimum",
]

#: Bumped whenever the proof's method or output changes (keys the cache).
VERSION = "2"
#: Gauss rule size: exact for polynomials of degree <= 27 >= deg p^2 = 26 at L = 3.
N_NODES = 14
#: Degree of p at L = 3 (f_0, f_1, f_2 of degrees 1, 3, 9).
DEG_P = 13
_PREC = 256


# --- step 1: the Gauss rule of mu, enclosed -----------------------------------------------------


def _moments(n, d, count):
    from theory.spectral import spectral_moments

    return spectral_moments(n, d, count)


def gauss_enclosure(n: int, d: int, N: int = N_NODES) -> tuple[Iv, Iv]:
    """Outward float enclosures (nodes, weights) of the N-point Gauss rule of mu (shape (N,)).

    pi_N from the exact three-term recurrence (theory.spectral.recurrence); its real roots isolated
    by flint (fmpz_poly.complex_roots, rigorous balls); weights w_i = 1 / sum_{k<N} pi_k(x_i)^2 / h_k
    (Christoffel numbers), h_k = beta_0 ... beta_k, in arb.  sum_i w_i x_i^k = int s^k dmu for k < 2N.
    """
    from theory.spectral import recurrence

    alpha, beta = recurrence(n, d, N)
    from flint import fmpq_poly

    q = lambda f: fmpq(f.numerator, f.denominator)
    pis = [fmpq_poly([1]), fmpq_poly([-q(alpha[0]), 1])]
    for k in range(1, N):
        pis.append(fmpq_poly([-q(alpha[k]), 1]) * pis[k] - q(beta[k]) * pis[k - 1])
    h = [q(beta[0])]
    for k in range(1, N):
        h.append(h[-1] * q(beta[k]))
    with ctx.workprec(_PREC):
        roots = fmpq_poly(pis[N]).complex_roots()
        if len(roots) != N or any(m != 1 for _, m in roots):
            raise ArithmeticError("pi_N must have N simple roots")
        nodes = sorted((r.real for r, _ in roots), key=lambda v: float(v.mid()))
        polys = [arb_poly([arb(c) for c in p.coeffs()]) for p in pis[:N]]
        weights = []
        for x in nodes:
            total = arb(0)
            for k in range(N):
                total += polys[k](x) ** 2 / arb(h[k])
            weights.append(1 / total)
    return _to_iv(nodes), _to_iv(weights)


def _to_iv(balls) -> Iv:
    lo = np.array([float(b.lower()) for b in balls])
    hi = np.array([float(b.upper()) for b in balls])
    return Iv(np.nextafter(lo, -np.inf), np.nextafter(hi, np.inf))


# --- the loss in chart coordinates ----------------------------------------------------------------


def _p_jet(x, node, chart, tau1, tau2):
    """p(node) for chart coordinates x = (a_0, K, Lam, M, c_0 or u) (jets), node an interval."""
    a0, K, Lam, M, z = x
    g = z * node + 1.0 if chart == 1 else z + node
    g2 = g.sqr()
    f0 = a0 * node + 1.0
    f1 = K * g2 * (node * float(tau1)) + 1.0
    q = g * (Lam + M * g2 * node)
    f2 = q.sqr() * (node * float(tau2)) + 1.0
    return f0 * f1 * f2


def phi_lower_upper(z_lo, z_hi, dom: "_Domain", rule, d: int):
    """Rigorous (lower, upper) bounds of phi_3 over each box z in [z_lo, z_hi] (shape (B, 5)).

    Affine arithmetic (theory.affine) of d sum_i w_i p(x_i)^2 with x = x0 + A z kept affine in z.
    """
    nodes, weights = rule
    z = box_variables(z_lo, z_hi)
    if dom.A is None:
        x = z
    else:
        x = []
        for j in range(5):
            acc = z[0].scale(float(dom.A[j, 0]))
            for k in range(1, 5):
                acc = acc + z[k].scale(float(dom.A[j, k]))
            x.append(acc + float(dom.x0[j]))
    nl, nh = nodes.lo[:, None], nodes.hi[:, None]
    a0, K, Lam, M, zc = x
    if dom.chart == 1:
        g = zc.mul_interval(nl, nh) + 1.0
    else:
        g = zc.add_interval(nl, nh)
    g2 = g.sqr()
    f0 = a0.mul_interval(nl, nh) + 1.0
    f1 = (K * g2).mul_interval(nl, nh).scale(float(dom.tau1)) + 1.0
    q = g * (Lam + (M * g2).mul_interval(nl, nh))
    f2 = q.sqr().mul_interval(nl, nh).scale(float(dom.tau2)) + 1.0
    p2 = (f0 * f1 * f2).sqr().mul_interval(weights.lo[:, None], weights.hi[:, None])
    total = Aff(p2.c[0], p2.a[:, 0], p2.e[0])
    for i in range(1, p2.c.shape[0]):
        total = total + Aff(p2.c[i], p2.a[:, i], p2.e[i])
    total = total.scale(float(d))
    return np.maximum(total.lower(), 0.0), total.upper(), total


def _take(j: Jet, i) -> Jet:
    v = j.v[i]
    g = None if j.g is None else Iv(j.g.lo[:, i], j.g.hi[:, i])
    h = None if j.h is None else Iv(j.h.lo[:, :, i], j.h.hi[:, :, i])
    return Jet(v, g, h)


def phi_jet(z_lo, z_hi, dom: "_Domain", rule, d: int, order: int) -> Jet:
    """Jet of phi_3 = d sum_i w_i p(x_i)^2 over boxes z in [z_lo, z_hi] (shape (B, 5)), x = x0 + A z.

    Returns enclosures of the value (B,), gradient in z (5, B) and, if order == 2, Hessian (5, 5, B).
    """
    nodes, weights = rule
    z = variables([Iv(z_lo[:, k][None], z_hi[:, k][None]) for k in range(5)], order)
    if dom.A is None:
        x = z
    else:
        x = []
        for j in range(5):
            acc = None
            for k in range(5):
                if dom.A[j, k] != 0.0:
                    t = z[k] * float(dom.A[j, k])
                    acc = t if acc is None else acc + t
            x.append(acc + float(dom.x0[j]))
    node = Iv(nodes.lo[:, None], nodes.hi[:, None])
    p2 = _p_jet(x, node, dom.chart, dom.tau1, dom.tau2).sqr()
    p2 = p2 * Iv(weights.lo[:, None], weights.hi[:, None])
    total = _take(p2, 0)
    for i in range(1, len(nodes.lo)):
        total = total + _take(p2, i)
    return total * float(d)


# --- step 3: coercivity ---------------------------------------------------------------------------


def _fq(x: Fraction) -> fmpq:
    x = Fraction(x)
    return fmpq(x.numerator, x.denominator)


def coercivity_bounds(n: int, d: int, T: Fraction, C: Fraction) -> dict:
    """Explicit chart boxes containing {phi_3 <= T} (step 3 of the module docstring).

    T, C: exact rationals.  Returns {"R": reciprocal-root bound, "coef": bounds V_k on |v_k|,
    "chart1": [(lo, hi)] x 5, "chart2": [(lo, hi)] x 5} (floats rounded outward), or
    {"empty": True} when T < K_13 (no polynomial of degree 13 reaches T).
    """
    m = _moments(n, d, 2 * DEG_P + 1)
    D = DEG_P
    H = fmpq_mat(D + 1, D + 1, [_fq(m[i + j]) for i in range(D + 1) for j in range(D + 1)])
    H1 = fmpq_mat(D, D, [H[i, j] for i in range(1, D + 1) for j in range(1, D + 1)])
    hv = fmpq_mat(D, 1, [H[i, 0] for i in range(1, D + 1)])
    H1i = H1.inv()
    wstar = -(H1i * hv)
    qmin = H[0, 0] + (hv.transpose() * wstar)[0, 0]
    slack = _fq(T) / d - qmin
    if slack < 0:
        return {"empty": True, "qmin": str(qmin)}
    with ctx.workprec(_PREC):
        V = [abs(arb(wstar[k, 0])) + (arb(slack) * arb(H1i[k, k])).sqrt() for k in range(D)]
        R = _cauchy_bound(V)
        Ra = arb(R)
        binom = lambda a, b: math.comb(a, b)
        # f_2 = 1 + tau_2 s q^2: |r_j| <= C(9, j+1) R^(j+1) for the coefficients r_j of q^2
        rb = [binom(9, j + 1) * Ra ** (j + 1) for j in range(9)]
        q1 = min(_q1_bound(rb, fmpq(1, 2**k)) for k in range(0, 12))
        Ca = arb(_fq(C))
        lam1 = (9 * Ra).sqrt()
        # chart 1 also: q_1^2 = r_2 - 6 Lam M c_0 and |M| <= |q_1| + Lam C give
        # |q_1| <= 3 Lam C + sqrt(15 Lam^2 C^2 + |r_2|)
        q1c = 3 * lam1 * Ca + (15 * lam1**2 * Ca**2 + rb[2]).sqrt()
        q1c = q1c if q1c < q1 else q1
        box1 = [
            (-Ra, Ra),
            (arb(0), 3 * Ra),
            (arb(0), lam1),
            (-(q1c + Ca * lam1), q1c + Ca * lam1),
            (-Ca, Ca),
        ]
        m2 = Ra**4 * Ra.sqrt()
        lam2 = q1 + m2 / Ca**3
        box2 = [(-Ra, Ra), (arb(0), Ra**3), (arb(0), lam2), (-m2, m2), (-1 / Ca, 1 / Ca)]
        out = {
            "R": float(Ra.upper()),
            "coef": [float(v.upper()) for v in V],
            "chart1": [(_down(lo), _up(hi)) for lo, hi in box1],
            "chart2": [(_down(lo), _up(hi)) for lo, hi in box2],
        }
        for key in ("chart1", "chart2"):  # K, Lam >= 0 exactly
            out[key][1] = (0.0, out[key][1][1])
            out[key][2] = (0.0, out[key][2][1])
        out = {
            **out,
        }
    return out


def _down(x: arb) -> float:
    return float(np.nextafter(float(x.lower()), -np.inf))


def _up(x: arb) -> float:
    return float(np.nextafter(float(x.upper()), np.inf))


def _cauchy_bound(V) -> fmpq:
    """A rational R with sum_k V_k R^-k < 1 (then every root of z^D + sum v_k z^(D-k), |v_k| <= V_k,
    has |z| < R: for |z| >= R, |sum v_k z^(D-k)| <= |z|^D sum V_k R^-k < |z|^D)."""
    f = lambda r: sum(float(v.upper()) * r ** -(k + 1) for k, v in enumerate(V))
    lo, hi = 1e-3, 1.0
    while f(hi) >= 1:
        hi *= 2
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if f(mid) < 1 else (mid, hi)
    R = fmpq(math.ceil(hi * 1.001 * 2**20), 2**20)
    Ra = arb(R)
    if not sum((v / Ra ** (k + 1) for k, v in enumerate(V)), arb(0)) < 1:
        raise ArithmeticError("Cauchy bound not verified")
    return R


def _q1_bound(rb, nu: fmpq) -> arb:
    """|q_1| <= 3 sqrt(sum_j rb_j nu^j) / nu: |q| <= sqrt(sum_j |r_j| nu^j) on [-nu, nu] (q^2 = r),
    and q_1 = q'(0) = sum_i q(nu t_i) l_i'(0) / nu over t = (-1, -1/2, 0, 1/2, 1), where the
    Lagrange basis derivatives at 0 are (1/6, -4/3, 0, 4/3, -1/6): sum of moduli 3."""
    nua = arb(nu)
    sup = sum((r * nua**j for j, r in enumerate(rb)), arb(0)).sqrt()
    return 3 * sup / nua


# --- step 4: branch and bound ---------------------------------------------------------------------


@dataclass
class _Domain:
    """One (sign case, chart) box: x in [box_lo, box_hi]; search coordinates x = x0 + A z."""

    name: str
    chart: int
    tau1: int
    tau2: int
    box_lo: np.ndarray
    box_hi: np.ndarray
    x0: np.ndarray | None = None
    A: np.ndarray | None = None
    z_lo: np.ndarray | None = None
    z_hi: np.ndarray | None = None
    star: tuple | None = None  # (lo, hi) of the certified convex box in z
    hole: tuple | None = None  # (Ainv_lo, Ainv_hi, x0, rho): x-boxes inside x0 + A [-rho, rho]^5


@dataclass
class _Outcome:
    closed: bool
    reason: str
    stats: dict = field(default_factory=dict)
    witness: list | None = None


def _x_hull(dom: _Domain, lo, hi):
    """Interval hull (B, 5) of x = x0 + A z over the z-boxes."""
    if dom.A is None:
        return lo, hi
    xs_lo, xs_hi = [], []
    for j in range(5):
        acc = Iv(np.full(lo.shape[0], dom.x0[j]))
        for k in range(5):
            if dom.A[j, k] != 0.0:
                acc = acc + Iv(lo[:, k], hi[:, k]) * float(dom.A[j, k])
        xs_lo.append(acc.lo)
        xs_hi.append(acc.hi)
    return np.stack(xs_lo, 1), np.stack(xs_hi, 1)


def _in_hole(hole, lo, hi):
    """x-boxes (B, 5) whose preimage A^-1 (X - x0) lies in [-rho, rho]^5 (interval arithmetic)."""
    Ail, Aih, x0, rho = hole
    ok = np.ones(lo.shape[0], dtype=bool)
    dx = [Iv(lo[:, j], hi[:, j]) - Iv(np.full(lo.shape[0], x0[j])) for j in range(5)]
    for k in range(5):
        acc = dx[0] * Iv(Ail[k, 0], Aih[k, 0])
        for j in range(1, 5):
            acc = acc + dx[j] * Iv(Ail[k, j], Aih[k, j])
        ok &= (acc.lo >= -rho) & (acc.hi <= rho)
    return ok


def _branch_and_bound(dom, rule, d, T_hi, T_lo, max_boxes=200_000, batch=8192, progress=None):
    """Decide every box of the domain (step 4), largest boxes first; returns an _Outcome.

    Stats: boxes evaluated, pruned by value / gradient, certified (inside Z*), outside the chart
    box, and the fraction of the search box's volume decided (z coordinates).
    """
    width0 = dom.z_hi - dom.z_lo
    queue = collections.deque([(dom.z_lo[None].copy(), dom.z_hi[None].copy())])
    st = dict(evaluated=0, value_pruned=0, certified=0, outside=0)
    decided = 0.0

    def frac(lo, hi):
        return float(np.sum(np.prod((hi - lo) / width0, axis=1)))

    while queue:
        lo, hi = queue.popleft()
        if lo.shape[0] > batch:  # process a slice, queue the rest
            queue.appendleft((lo[batch:], hi[batch:]))
            lo, hi = lo[:batch], hi[:batch]
        st["evaluated"] += lo.shape[0]
        if progress is not None and st["evaluated"] % (50 * batch) < lo.shape[0]:
            progress(dom.name, st, decided)
        if st["evaluated"] > max_boxes:
            st["volume_decided_fraction"] = decided
            return _Outcome(False, f"box budget {max_boxes} exhausted", st)
        keep = np.ones(lo.shape[0], dtype=bool)
        if dom.star is not None:
            inside = np.all((lo >= dom.star[0]) & (hi <= dom.star[1]), axis=1)
            st["certified"] += int(inside.sum())
            keep &= ~inside
        xl, xh = _x_hull(dom, lo, hi)
        outside = np.any((xh < dom.box_lo) | (xl > dom.box_hi), axis=1) & keep
        st["outside"] += int(outside.sum())
        keep &= ~outside
        if dom.hole is not None:
            covered = _in_hole(dom.hole, lo, hi) & keep
            st["inner"] = st.get("inner", 0) + int(covered.sum())
            keep &= ~covered
        decided += frac(lo[~keep], hi[~keep])
        lo, hi, xl, xh = lo[keep], hi[keep], xl[keep], xh[keep]
        if lo.shape[0] == 0:
            continue
        mid = 0.5 * (lo + hi)
        lb, _, form = phi_lower_upper(lo, hi, dom, rule, d)
        ub_mid = phi_lower_upper(mid, mid, dom, rule, d)[1]
        if np.any(ub_mid < T_lo):
            i = int(np.argmin(ub_mid))
            xm = _x_hull(dom, mid[i : i + 1], mid[i : i + 1])[0][0]
            st["volume_decided_fraction"] = decided
            return _Outcome(
                False,
                f"refuted: phi_3 <= {ub_mid[i]:.17g} < the claimed value at chart point "
                f"{[float(v) for v in xm]} ({dom.name})",
                st,
                witness=[float(v) for v in xm],
            )
        vpr = lb > T_hi
        st["value_pruned"] += int(vpr.sum())
        decided += frac(lo[vpr], hi[vpr])
        split = ~vpr
        if not split.any():
            continue
        lo, hi = lo[split], hi[split]
        w = hi - lo
        # split where the linear part of the form is largest; the nonlinear error e by width
        lin = np.abs(form.a[:, split]).T  # (B, 5)
        rel = (w / width0) / np.sum(w / width0, axis=1, keepdims=True)
        score = lin + form.e[split][:, None] * rel
        bad = ~np.all(np.isfinite(score), axis=1)
        j = np.argmax(np.where(np.isfinite(score), score, 0.0), axis=1)
        j[bad] = np.argmax((w / width0)[bad], axis=1)
        rows = np.arange(len(j))
        if np.any(w[rows, j] < 1e-12 * width0[j]):
            st["volume_decided_fraction"] = decided
            return _Outcome(False, "a box reached the minimal width undecided", st)
        m = 0.5 * (lo[rows, j] + hi[rows, j])
        lo2, hi1 = lo.copy(), hi.copy()
        hi1[rows, j] = m
        lo2[rows, j] = m
        queue.append((np.concatenate([lo, lo2]), np.concatenate([hi1, hi])))
    st["volume_decided_fraction"] = decided
    return _Outcome(True, "every box decided", st)


# --- the candidate: search, certificate, certified convex box --------------------------------------


def _phi_float(x, nodes, weights, d, chart, tau1, tau2):
    a0, K, Lam, M, z = x
    s = nodes
    g = 1 + z * s if chart == 1 else z + s
    q = g * (Lam + M * s * g * g)
    p = (1 + a0 * s) * (1 + tau1 * K * s * g * g) * (1 + tau2 * s * q * q)
    return d * float(np.sum(weights * p * p))


def _search(rule, d, box, signs, rng, starts):
    """Float multi-start local minimisation in chart 1 over the sign cases (candidate only)."""
    from scipy.optimize import minimize

    nodes = 0.5 * (rule[0].lo + rule[0].hi)
    weights = 0.5 * (rule[1].lo + rule[1].hi)
    best = (math.inf, None, None)
    lo = np.array([b[0] for b in box])
    hi = np.array([b[1] for b in box])
    # starts uniform in a moderate region (step sizes of order one), clipped to the chart box
    s_lo = np.maximum(lo, [-2.0, 0.0, 0.0, -10.0, -1.0])
    s_hi = np.minimum(hi, [2.0, 10.0, 5.0, 10.0, 1.0])
    for tau in signs:
        f = lambda x, tau=tau: _phi_float(x, nodes, weights, d, 1, *tau)
        for _ in range(starts):
            x0 = s_lo + (s_hi - s_lo) * rng.random(5)
            r = minimize(f, x0, method="L-BFGS-B", bounds=list(zip(lo, hi)))
            if r.fun < best[0]:
                best = (float(r.fun), r.x, tau)
    return best


def _lowest_table_row(n, d):
    """Lowest row of theory/data/gdpp_L3_n{n}_d{d}.json (a float search's output), or None."""
    from theory.critical import _load_table

    table = _load_table(3, n, d)
    if table is None or not table["points"]:
        return None
    return min(table["points"], key=lambda r: r["loss_float"])


def _chart1_to_effective(x, tau):
    """(a_0, K, Lam, M, c_0), signs -> effective (a_0, a_1, a_2, b_0, b_1)."""
    a0, K, Lam, M, c0 = (float(v) for v in x)
    a1, a2 = tau[0] * K, tau[1] * Lam * Lam
    return [a0, a1, a2, c0 / a0, (M / Lam) / a1]


def _effective_to_chart1(t_balls):
    """Chart-1 coordinates (arb balls) and signs of the effective point t (balls)."""
    a0, a1, a2, b0, b1 = t_balls
    if not all(v > 0 or v < 0 for v in (a0, a1, a2)):
        return None, None
    tau = (1 if a1 > 0 else -1, 1 if a2 > 0 else -1)
    lam = (tau[1] * a2).sqrt()
    return [a0, tau[0] * a1, lam, lam * a1 * b1, a0 * b0], tau


def _arb_iv(lo, hi) -> arb:
    return arb(float(lo)).union(arb(float(hi)))


def _certify_star(dom: _Domain, rule, d, x_star):
    """Whiten at the candidate and find a z-box [-r, r]^5 with a positive definite Hessian.

    Sets dom.x0, dom.A (x = x0 + A z, A^T H(x0) A ~ I) and dom.star.  Returns (ok, r, reason,
    least eigenvalue lower bound).  x_star: arb balls of the certified critical point (chart 1).
    """
    from theory.certify import eigenvalue_bounds

    x0 = np.array([float(v.mid()) for v in x_star])
    H0 = phi_jet(x0[None], x0[None], _Domain("", dom.chart, dom.tau1, dom.tau2, 0, 0), rule, d, 2).h
    Hm = 0.5 * (H0.lo + H0.hi)[:, :, 0]
    ev, V = np.linalg.eigh(0.5 * (Hm + Hm.T))
    if not np.all(ev > 0):
        return False, 0.0, "the Hessian at the candidate is not positive definite", None
    dom.x0, dom.A = x0, V / np.sqrt(ev)
    with ctx.workprec(_PREC):
        Aa = arb_mat(5, 5, [arb(float(v)) for v in dom.A.ravel()])
        dz = Aa.solve(arb_mat(5, 1, [x_star[j] - arb(float(x0[j])) for j in range(5)]))
        zmag = max(float(abs(dz[k, 0]).upper()) for k in range(5))
    for r in [0.5 * 2.0**-k for k in range(24)]:
        if zmag >= r:
            break
        lo, hi = np.full((1, 5), -r), np.full((1, 5), r)
        H = phi_jet(lo, hi, dom, rule, d, 2).h
        with ctx.workprec(_PREC):
            Hb = arb_mat(
                5, 5, [_arb_iv(H.lo[i, j, 0], H.hi[i, j, 0]) for i in range(5) for j in range(5)]
            )
            bounds = eigenvalue_bounds(Hb, _PREC)
        if bounds is not None and all(s == 1 for *_, s in bounds):
            dom.star = (lo[0], hi[0])
            return True, r, "Hessian enclosure positive definite over the box", bounds[0][0]
    return (
        False,
        0.0,
        "no box around the candidate with a positive definite Hessian enclosure",
        None,
    )


def _split_inner_outer(dom: _Domain, rho: float):
    """The candidate's domain as an inner whitened box z in [-rho, rho]^5 (holding Z*) and the
    outer chart box in x coordinates minus the parallelepiped x0 + A [-rho, rho]^5."""
    import copy

    inner = copy.copy(dom)
    inner.name = dom.name + " (inner, whitened)"
    inner.z_lo, inner.z_hi = np.full(5, -rho), np.full(5, rho)
    outer = _Domain(dom.name + " (outer)", dom.chart, dom.tau1, dom.tau2, dom.box_lo, dom.box_hi)
    with ctx.workprec(_PREC):
        Ai = arb_mat(5, 5, [arb(float(v)) for v in dom.A.ravel()]).inv()
        lo = np.array([[_down(Ai[k, j]) for j in range(5)] for k in range(5)])
        hi = np.array([[_up(Ai[k, j]) for j in range(5)] for k in range(5)])
    outer.hole = (lo, hi, dom.x0, rho)
    return [inner, outer]


def _z_box(dom: _Domain):
    """Hull of A^-1 (B - x0) (rigorous, arb), widened by a relative 1e-9."""
    if dom.A is None:
        return dom.box_lo.copy(), dom.box_hi.copy()
    with ctx.workprec(_PREC):
        Aa = arb_mat(5, 5, [arb(float(v)) for v in dom.A.ravel()])
        Bx = arb_mat(
            5,
            1,
            [_arb_iv(dom.box_lo[j], dom.box_hi[j]) - arb(float(dom.x0[j])) for j in range(5)],
        )
        Z = Aa.inv() * Bx
        lo = np.array([float(Z[k, 0].lower()) for k in range(5)])
        hi = np.array([float(Z[k, 0].upper()) for k in range(5)])
    pad = 1e-9 * (hi - lo) + 1e-300
    return lo - pad, hi + pad


@dataclass(frozen=True)
class GlobalMinimumProof:
    """Outcome of :func:`prove_global_minimum` (plain data; ``to_json`` gives the JSON record).

    proved: True only if every step of the module docstring closed rigorously.  value: the
    global minimum of phi_3 on S as a ball [lower, upper] (strings, 20 digits, outward) when
    proved, else the candidate's certified value.  box: the coercivity chart boxes.  domains:
    per (sign case, chart) the branch and bound counts.  method: what was proved and how.
    """

    n: int
    d: int
    L: int
    proved: bool
    value: tuple
    candidate_ab: tuple
    method: str
    reason: str
    box: dict
    sign_cases: dict
    domains: dict
    certified_box: dict
    boxes_total: int
    cpu_seconds: float
    version: str = VERSION

    def to_json(self) -> dict:
        return json.loads(json.dumps(asdict(self)))


def _method(n, d, sign_cases, cbox, domains, total, proved, reason):
    """One paragraph: what was proved (or what was established and what remains) and how."""
    how = (
        "Method: phi_3 = d sum_i w_i p(x_i)^2 with the 14-point Gauss rule of the spectral measure "
        "(nodes isolated by flint, weights in arb); sign cases a_1 >= 0 or a_2 >= 0 closed where the "
        "exact kernel-polynomial bounds K_10 / K_4 exceed the value; the sublevel set confined to "
        "explicit chart boxes (a_0, K = |a_1|, Lam = sqrt|a_2|, M = Lam a_1 b_1, c_0 = a_0 b_0 for "
        "|c_0| <= C, and u = 1/c_0 beyond, closure included) by an ellipsoid bound on p's "
        "coefficients (exact Hankel inverse), Cauchy's root bound and factor bounds; a branch and "
        "bound removing boxes whose rigorous affine-arithmetic lower bound (outward-rounded float64) "
        "exceeds the value; the candidate (Krawczyk-certified critical point) inside a whitened box "
        f"of half-width {cbox.get('half_width_whitened', 0)} where the Hessian enclosure is positive "
        f"definite (verified eigenvalue bounds), so phi_3 is convex there.  {total} boxes evaluated."
    )
    if proved:
        return (
            f"Proved: no point of R^5 (a_0, a_1, a_2, b_0, b_1) has phi_3 below the certified minimum "
            f"at n = {n}, d = {d} (family (11), L = 3, on S); the global minimum is attained there.  "
            + how
        )
    closed_signs = [k for k, v in sign_cases.items() if v.startswith("closed")]
    closed = [k for k, v in domains.items() if v.get("closed")]
    open_ = [
        f"{k} ({v['reason']}; {100 * v.get('volume_decided_fraction', 0):.3g}% of its volume decided)"
        for k, v in domains.items()
        if not v.get("closed")
    ]
    est = "; ".join(
        (
            [f"phi_3 > the value on the sign cases ({'), ('.join(closed_signs)})"]
            if closed_signs
            else []
        )
        + (["the sublevel set lies in the chart boxes"] if domains else [])
        + ([f"phi_3 >= the value on {' and '.join(closed)}"] if closed else [])
    )
    return (
        f"NOT proved at n = {n}, d = {d} ({reason}).  Established rigorously: "
        + (est or "nothing beyond the candidate's certificate")
        + ".  Not established: "
        + ("; ".join(open_) if open_ else "the remaining domains were not searched")
        + ".  "
        + how
    )


def _fraction(x: float) -> Fraction:
    return Fraction(x)


def prove_global_minimum(
    n: int,
    d: int,
    L: int = 3,
    candidate=None,
    C: float | None = None,
    seed: int = 0,
    starts: int = 8,
    max_boxes: int = 50_000,
    rho: float = 0.005,
    progress=None,
) -> GlobalMinimumProof:
    """Prove (or refuse to prove) that a certified minimum of phi_3 is its global minimum on S.

    candidate: effective coordinates (a_0, a_1, a_2, b_0, b_1) near a critical point (strings,
    floats or mpf); None searches (float multi-start in chart 1, ``seed``, ``starts``).  The
    candidate is Newton-polished and Krawczyk-certified (theory.critical.certify_point).  Returns a
    :class:`GlobalMinimumProof`; ``proved`` is False whenever any step fails (a saddle or a local
    minimum that is not global is refused: a box of lower values cannot be pruned).  Theorem 4.
    """
    if L != 3:
        raise ValueError(f"prove_global_minimum handles L = 3 only; got L={L!r}")
    if not (isinstance(n, int) and isinstance(d, int) and n >= 1 and d >= 1):
        raise ValueError(f"n and d must be positive integers; got n={n!r}, d={d!r}")
    from theory.critical import certify_point, global_minimum_value_family8

    t_start = time.process_time()
    rule = gauss_enclosure(n, d)
    signs_all = [(-1, -1), (1, -1), (-1, 1), (1, 1)]
    if candidate is None:
        pre = coercivity_bounds(n, d, Fraction(d), Fraction(1))["chart1"]  # level of a = 0
        val, x, tau = _search(rule, d, pre, [(-1, -1)], np.random.default_rng(seed), starts)
        candidate = _chart1_to_effective(x, tau)
        row = _lowest_table_row(n, d)  # the shipped search table, where one exists, as a start too
        if row is not None and row["loss_float"] < val:
            candidate = row["t"]
    cert = certify_point("11", 3, n, d, list(candidate))
    c = cert["certificate"]
    loss_lo = float(cert["loss"]) - 2 * c["loss_radius"] - 1e-30
    loss_hi = float(cert["loss"]) + 2 * c["loss_radius"] + 1e-30
    loss_lo, loss_hi = float(np.nextafter(loss_lo, -1)), float(np.nextafter(loss_hi, 2))
    rad = c["box_radius"] * 1.000001 + 1e-90
    with ctx.workprec(_PREC):
        t_balls = [arb(str(v)) + arb(0, rad) for v in cert["t"]]
        x_star, tau_star = _effective_to_chart1(t_balls)
    common = dict(n=n, d=d, L=3, candidate_ab=tuple(float(v) for v in cert["t"]))

    def refuse(reason, **kw):
        fields = dict(
            proved=False,
            value=(repr(loss_lo), repr(loss_hi)),
            method=_method(
                n,
                d,
                kw.get("sign_cases", {}),
                kw.get("certified_box", {}),
                kw.get("domains", {}),
                kw.get("total", 0),
                False,
                reason,
            ),
            reason=reason,
            box=kw.get("box", {}),
            sign_cases=kw.get("sign_cases", {}),
            domains=kw.get("domains", {}),
            certified_box=kw.get("certified_box", {}),
            boxes_total=kw.get("total", 0),
            cpu_seconds=round(time.process_time() - t_start, 2),
        )
        return GlobalMinimumProof(**common, **fields)

    if not c["existence_uniqueness"]:
        return refuse("the candidate is not a Krawczyk-certified critical point")
    if x_star is None:
        return refuse("the candidate has a_0, a_1 or a_2 = 0 (not handled by the charts)")
    # step 2: sign cases
    T = _fraction(loss_hi)
    kern = {4: global_minimum_value_family8(4, n, d), 10: global_minimum_value_family8(10, n, d)}
    sign_cases, open_signs = {}, []
    for tau in signs_all:
        D = 13 if tau == (-1, -1) else (4 if tau[1] == 1 else 10)
        bound = None if D == 13 else Fraction(int(kern[D].p), int(kern[D].q))
        closed = bound is not None and bound > T
        key = f"a_1 {'<=' if tau[0] < 0 else '>='} 0, a_2 {'<=' if tau[1] < 0 else '>='} 0"
        sign_cases[key] = (
            f"closed: phi_3 >= K_{D} = {float(bound):.6g} > value" if closed else "searched"
        )
        if not closed:
            open_signs.append(tau)
    # step 3: coercivity
    if C is None:
        C = max(1.0, 2.0 ** math.ceil(math.log2(2 * abs(float(x_star[4].mid())) + 1e-300)))
    cb = coercivity_bounds(n, d, T, Fraction(C))
    if cb.get("empty"):
        return refuse("the level is below K_13: the candidate's value cannot be certified")
    box = {k: v for k, v in cb.items()} | {"C": C, "level": loss_hi}
    # step 4: branch and bound per domain
    domains, total, ok, reason, star_r = {}, 0, True, "", 0
    cbox = {}
    for tau in open_signs:
        for chart in (1, 2):
            bx = cb[f"chart{chart}"]
            dom = _Domain(
                f"tau={tau}, chart {chart}",
                chart,
                tau[0],
                tau[1],
                np.array([b[0] for b in bx]),
                np.array([b[1] for b in bx]),
            )
            jobs = [dom]
            if chart == 1 and tau == tau_star:
                good, star_r, why, lam = _certify_star(dom, rule, d, x_star)
                cbox = {"half_width_whitened": star_r, "reason": why, "least_eigenvalue": lam}
                if not good:
                    return refuse(why, box=box, sign_cases=sign_cases, certified_box=cbox)
                jobs = _split_inner_outer(dom, rho)
                cbox["inner_half_width_whitened"] = rho
            for job in jobs:
                if job.z_lo is None:
                    job.z_lo, job.z_hi = job.box_lo.copy(), job.box_hi.copy()
                out = _branch_and_bound(
                    job, rule, d, loss_hi, loss_lo, max_boxes=max_boxes, progress=progress
                )
                total += out.stats["evaluated"]
                domains[job.name] = {"closed": out.closed, "reason": out.reason, **out.stats}
                if not out.closed and ok:  # keep searching the other domains for the record
                    ok, reason = False, f"{job.name}: {out.reason}"
                if out.reason.startswith("refuted"):
                    break
            if reason.startswith(f"{dom.name}") and "refuted" in reason:
                break
        if "refuted" in reason:
            break
    if not ok:
        return refuse(
            reason,
            box=box,
            sign_cases=sign_cases,
            domains=domains,
            certified_box=cbox,
            total=total,
        )
    return GlobalMinimumProof(
        **common,
        proved=True,
        value=(repr(loss_lo), repr(loss_hi)),
        method=_method(n, d, sign_cases, cbox, domains, total, True, ""),
        reason="every box decided",
        box=box,
        sign_cases=sign_cases,
        domains=domains,
        certified_box=cbox,
        boxes_total=total,
        cpu_seconds=round(time.process_time() - t_start, 2),
    )


# --- cache and command line -----------------------------------------------------------------------


def cache_dir() -> Path:
    """$ICL_VERIFY_CACHE, else $XDG_CACHE_HOME/icl-verify, else ~/.cache/icl-verify."""
    env = os.environ.get("ICL_VERIFY_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "icl-verify"


def cached_global_minimum(n: int, d: int, L: int = 3, max_boxes: int = 50_000) -> dict:
    """:func:`prove_global_minimum` (default candidate search) as JSON, cached per (n, d, L, budget).

    The file global_min_L{L}_n{n}_d{d}_b{max_boxes}_v{VERSION}.json in :func:`cache_dir` is written
    atomically (temporary file + os.replace); a file that does not parse is recomputed.
    """
    path = cache_dir() / f"global_min_L{L}_n{n}_d{d}_b{max_boxes}_v{VERSION}.json"
    try:
        rec = json.loads(path.read_text())
        if rec.get("version") == VERSION and (rec["n"], rec["d"], rec["L"]) == (n, d, L):
            return rec
    except (OSError, ValueError, KeyError):
        pass
    rec = prove_global_minimum(n, d, L, max_boxes=max_boxes).to_json()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".global_min_", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(rec, fh, indent=1, sort_keys=True)
    os.replace(tmp, path)
    return rec


def main(argv=None) -> int:
    """python -m theory.global_min --n 20 --d 5 [--max-boxes B] [--json]: run and print the proof."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="python -m theory.global_min", description=main.__doc__)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--d", type=int, default=5)
    ap.add_argument("--max-boxes", type=int, default=50_000)
    ap.add_argument("--json", action="store_true", help="print the JSON record")
    args = ap.parse_args(argv)
    if args.n < 1 or args.d < 1 or args.max_boxes < 1:
        print("error: --n, --d and --max-boxes must be positive integers", file=sys.stderr)
        return 2
    res = prove_global_minimum(args.n, args.d, max_boxes=args.max_boxes)
    if args.json:
        print(json.dumps(res.to_json(), indent=1, sort_keys=True))
    else:
        print(f"proved: {res.proved}  value: [{res.value[0]}, {res.value[1]}]")
        print(f"reason: {res.reason}")
        print(f"boxes: {res.boxes_total}  CPU: {res.cpu_seconds} s")
        print(res.method)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
