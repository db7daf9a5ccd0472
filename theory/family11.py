"""Family (11) ("GD++") on S for L <= 2: every real critical point, with a completeness proof.

phi(a, b) = d int p(s)^2 dmu, p from :func:`theory.restricted.residual_polynomial`; p does not
involve b_{L-1}.

L = 1: p = 1 + a_0 s, phi is a strictly convex quadratic in a_0: one critical point, the global
minimum (solved by the same exact machinery for uniformity).

L = 2 (unknowns a_0, a_1, b_0).  p = (1 + a_0 s)(1 + a_1 s (1 + a_0 b_0 s)^2) depends on b_0 only
through c = a_0 b_0.  Let psi(a_0, a_1, c) be phi in these coordinates (a polynomial).
 (i)  a_0 != 0: (a_0, a_1, b_0) -> (a_0, a_1, a_0 b_0) is a local diffeomorphism, so the critical
      points of phi with a_0 != 0 are exactly the critical points of psi with a_0 != 0, b_0 = c / a_0.
 (ii) a_0 = 0: d phi / d b_0 vanishes identically there, and the remaining two equations in
      (a_1, b_0) are solved exactly.
 (iii) critical points of psi with a_0 = 0 and c != 0 are not points of S: they are the limits of
      the escaping near-stationary sequences a_0 -> 0, |b_0| = |c / a_0| -> inf, where grad phi
      -> 0 without vanishing (the footnote's phenomenon).  They are listed separately.
All three systems are solved completely by :func:`theory.polysys.solve_real`.

Global minimum on S.  inf_S phi = inf_{R^3} psi (the image of S is dense).  Along a minimising
sequence the coefficients of p stay bounded (the Hankel matrix of mu is positive definite), a_0
stays bounded (a root -1/a_0 -> 0 would force p(0) = 0, but p(0) = 1), and h = p / (1 + a_0 s) =
1 + alpha s + beta s^2 + gamma s^3 converges with beta^2 = 4 alpha gamma.  If alpha -> alpha* != 0
the parameters converge and the infimum is a critical value of psi; if alpha -> 0 then beta -> 0
and the limit is p = (1 + a_0 s)(1 + gamma s^3), the "boundary at infinity" (a_1 -> 0, c -> inf),
whose loss beta(a_0, gamma) is coercive, so its infimum is its lowest critical value (solved
exactly too).  Hence inf_S phi = min(lowest critical value of psi, lowest critical value of beta),
attained in S iff the minimum is a critical point of phi.  Paper: Theorem 4 (eq. 12) and its
footnote.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mpmath
import sympy
from flint import arb, ctx, fmpq, fmpq_mpoly_ctx

from theory.certify import PREC, MpolyEvaluator
from theory.polysys import solve_real
from theory.restricted import (
    S_SYMBOL,
    contract_square_with_moments,
    effective_symbols,
    residual_polynomial,
)

__all__ = ["Family11Solution", "loss_mpoly", "solve_family11"]


def loss_mpoly(p_expr, syms, n: int, d: int):
    """(context, sum_k (p^2)_k E tr S^k) as an fmpq_mpoly in syms; p a sympy polynomial in s."""
    c = fmpq_mpoly_ctx.get(tuple(str(t) for t in syms), "lex")
    P = sympy.Poly(sympy.expand(p_expr), S_SYMBOL, *syms)
    deg = P.degree(S_SYMBOL)
    coeffs = [{} for _ in range(deg + 1)]
    for (k, *exps), v in P.terms():
        v = sympy.Rational(v)
        coeffs[k][tuple(exps)] = fmpq(int(v.p), int(v.q))
    return c, contract_square_with_moments(c, [c.from_dict(x) for x in coeffs], n, d)


def _grad(poly):
    return [poly.derivative(x) for x in poly.context().names()]


@dataclass
class Family11Solution:
    """Candidate points (effective coordinates, mpf), completeness and the proof record."""

    points: list
    complete: bool
    statement: str
    escaping: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    provenance: str = ""
    global_argument: str = ""
    #: certified lower bound (arb) of inf over the closure's boundary (None: nothing there)
    infimum_lower: object = None
    lowest_psi: tuple = ()  # (value ball (arb), is a point of S), strictly below every other
    enclosures: list = field(default_factory=list)  # per point: its exact-solve box (list of arb)

    def attained_at_lowest(self, points) -> bool:
        """True iff the lowest critical value of psi is a point of S and lies below the boundary
        (ball comparisons: the value's upper end strictly below the boundary's lower bound)."""
        if not self.lowest_psi or not points:
            return False
        val, in_S = self.lowest_psi
        return bool(in_S and (self.infimum_lower is None or val < self.infimum_lower))


def _mid_mpf(x: arb):
    man, exp = x.mid().man_exp()
    return mpmath.ldexp(mpmath.mpf(int(man)), int(exp))


def _values(poly, sols, prec):
    ev = MpolyEvaluator([poly])
    return [ev(K, prec)[0] for K in sols]


def solve_family11(L: int, n: int, d: int, prec: int = PREC) -> Family11Solution:
    """All critical points of phi_L (family 11) on S for L in (1, 2), proved complete."""
    if L == 1:
        return _one_layer(n, d, prec)
    if L != 2:
        raise ValueError(f"solve_family11 proves completeness for L <= 2; got L={L}")
    return _two_layers(n, d, prec)


def _one_layer(n, d, prec):
    (a0,) = effective_symbols("11", 1)
    _, phi = loss_mpoly(residual_polynomial("11", 1), (a0,), n, d)
    sol = solve_real(_grad(phi), prec)
    with mpmath.workdps(int(prec / 3.4)):
        pts = [[_mid_mpf(K[0])] for K in sol.solutions]
    vals = _values(phi, sol.solutions, prec)
    stmt = f"complete (proved): phi_1 is a convex quadratic in a_0; {sol.statement}"
    out = Family11Solution(
        pts,
        sol.complete,
        stmt,
        provenance="exact elimination (theory.family11)",
        global_argument="phi_1 is a strictly convex quadratic in a_0",
    )
    out.infimum_lower = None  # a convex quadratic: no boundary at infinity
    out.lowest_psi = (vals[0], True) if len(vals) == 1 else ()
    out.enclosures = [list(K) for K in sol.solutions]
    return out


def _two_layers(n, d, prec):
    """phi_2's critical points, proved complete: the psi coordinates c = a_0 b_0, the stratum
    a_0 = 0, and the boundary at infinity (limits of sequences leaving every compact set)."""
    a0, a1, b0 = effective_symbols("11", 2)
    acc = {"points": [], "boxes": [], "escaping": [], "in_S": [], "undecided": 0, "steps": []}
    sol_psi = _psi_stratum(a0, a1, b0, n, d, prec, acc)
    sol0 = _zero_stratum(a0, a1, b0, n, d, prec, acc)
    sol_b, b_low = _boundary_at_infinity(a0, n, d, prec, acc)
    points, escaping, in_S, undecided = (
        acc["points"],
        acc["escaping"],
        acc["in_S"],
        acc["undecided"],
    )
    # the boundary solve enters the completeness of the description of S and its closure
    complete = sol_psi.complete and sol0.complete and sol_b.complete and undecided == 0
    lowest = _strictly_lowest(in_S)
    stmt = (
        f"complete (proved) for L = 2: {len(points)} critical points of phi on S "
        f"(psi coordinates c = a_0 b_0: {sol_psi.statement}; a_0 = 0: {sol0.statement}); "
        f"escaping near-stationary sequences are not points and are listed separately: "
        f"{sum('a1' in e for e in escaping)} critical points of psi with a_0 = 0, c != 0 (limits of a_0 -> 0, "
        f"|b_0| -> inf) and {sum('gamma' in e for e in escaping)} critical points of the boundary at infinity "
        f"(a_1 -> 0, |b_0| -> inf), {{above}}" + ("" if complete else f"; {undecided} undecided")
    )
    inf_lower = _lowest_lower(
        ([b_low] if b_low is not None else []) + [v for v, s in in_S if not s]
    )
    above = (
        "all with loss strictly above the lowest critical value of phi (ball bounds)"
        if lowest is not None and lowest[1] and (inf_lower is None or lowest[0] < inf_lower)
        else "NOT all above the lowest critical value of phi"
    )
    stmt = stmt.replace("{above}", above)
    out = Family11Solution(
        points,
        complete,
        stmt,
        escaping,
        acc["steps"],
        provenance="exact elimination (theory.family11)",
    )
    out.enclosures = acc["boxes"]
    out.infimum_lower = inf_lower
    if lowest is not None:
        out.lowest_psi = lowest
    out.global_argument = (
        f"inf_S phi = min(lowest critical value of psi, min of the boundary at infinity >= "
        f"{_fmt_lower(b_low)}, escaping limits); the lowest critical value of psi is a point of S "
        "and lies strictly below both"
    )
    return out


def _step(title: str, sol, statement=None) -> dict:
    return {
        "title": title,
        "statement": sol.statement if statement is None else statement,
        "status": "proved" if sol.complete else "open",
    }


def _psi_stratum(a0, a1, b0, n, d, prec, acc):
    """(i) The critical points of psi(a_0, a_1, c = a_0 b_0): points of S where a_0 != 0,
    escaping sequences where a_0 = 0 and c != 0."""
    c = sympy.Symbol("c", real=True)
    p = sympy.expand(residual_polynomial("11", 2).subs(b0, c / a0))
    if (
        any(e < 0 for mono in sympy.Poly(p, S_SYMBOL, a0, a1, c, b0).monoms() for e in mono)
        or sympy.denom(sympy.together(p)) != 1
    ):
        raise ValueError("p does not depend on b_0 through a_0 b_0 only")
    _, psi = loss_mpoly(p, (a0, a1, c), n, d)
    sol_psi = solve_real(_grad(psi), prec)
    acc["steps"].append(_step("critical points of psi(a_0, a_1, c = a_0 b_0)", sol_psi))
    psi_vals = _values(psi, sol_psi.solutions, prec)
    with mpmath.workdps(int(prec / 3.4)):
        for K, v in zip(sol_psi.solutions, psi_vals):
            _classify_psi_point(K, v, prec, acc)
    return sol_psi


def _classify_psi_point(K, v, prec, acc):
    A0, A1, C = K
    if A0.is_zero():
        if C.is_zero():
            acc["in_S"].append((v, True))  # the a_0 = 0 point, found again in (ii)
        elif not C.contains(0):
            acc["escaping"].append(
                {
                    "a0": 0.0,
                    "a1": float(A1.mid()),
                    "c": float(C.mid()),
                    "loss_limit": float(v.mid()),
                    "description": "a_0 -> 0, b_0 = c / a_0 -> inf: grad phi -> 0, never 0",
                }
            )
            acc["in_S"].append((v, False))
        else:
            acc["undecided"] += 1
    elif not A0.contains(0):
        with ctx.workprec(prec):
            B0 = C / A0
        acc["points"].append([_mid_mpf(A0), _mid_mpf(A1), _mid_mpf(B0)])
        acc["boxes"].append([A0, A1, B0])
        acc["in_S"].append((v, True))
    else:
        acc["undecided"] += 1


def _zero_stratum(a0, a1, b0, n, d, prec, acc):
    """(ii) The critical points with a_0 = 0, in the original coordinates."""
    _, phi = loss_mpoly(residual_polynomial("11", 2), (a0, a1, b0), n, d)
    g = _grad(phi)
    c2 = fmpq_mpoly_ctx.get(("a_1", "b_0"), "lex")
    A1_, B0_ = c2.gens()
    zero = c2.from_dict({})
    restrict = lambda poly: poly.compose(zero, A1_, B0_, ctx=c2)
    g0 = [restrict(x) for x in g]
    if not g0[2].is_zero():
        raise ValueError("d phi / d b_0 should vanish identically at a_0 = 0")
    sol0 = solve_real([g0[0], g0[1]], prec)
    acc["steps"].append(
        _step("critical points with a_0 = 0 (d phi / d b_0 = 0 identically there)", sol0)
    )
    with mpmath.workdps(int(prec / 3.4)):
        for K in sol0.solutions:
            acc["points"].append([mpmath.mpf(0), _mid_mpf(K[0]), _mid_mpf(K[1])])
            acc["boxes"].append([arb(0), K[0], K[1]])
    return sol0


def _boundary_at_infinity(a0, n, d, prec, acc):
    """(iii) The boundary at infinity, p = (1 + a_0 s)(1 + gamma s^3): its critical points
    (escaping sequences) and a certified lower bound of its minimum."""
    gam = sympy.Symbol("gamma", real=True)
    _, bnd = loss_mpoly((1 + a0 * S_SYMBOL) * (1 + gam * S_SYMBOL**3), (a0, gam), n, d)
    sol_b = solve_real(_grad(bnd), prec)
    b_vals = _values(bnd, sol_b.solutions, prec)
    b_low = _lowest_lower(b_vals)  # arb or None
    for K, v in zip(sol_b.solutions, b_vals):
        acc["escaping"].append(
            {
                "a0": float(K[0].mid()),
                "gamma": float(K[1].mid()),
                "loss_limit": float(v.mid()),
                "description": "critical point of the boundary at infinity beta(a_0, gamma): the "
                "possible limit of sequences a_1 -> 0, c = a_0 b_0 -> inf (|b_0| -> inf) "
                "with a_1 c^2 -> gamma; not a point of S",
            }
        )
    acc["steps"].append(
        _step(
            "boundary at infinity beta(a_0, gamma) (limit a_1 -> 0, c -> inf): coercive, "
            "its minimum is its lowest critical value",
            sol_b,
            f"{sol_b.statement}; min beta >= {_fmt_lower(b_low)}",
        )
    )
    return sol_b, b_low


def _lowest_lower(vals):
    """A ball whose every point is <= every value in ``vals`` (arb; None when vals is empty):
    [min of the lower ends] as an exact ball, compared in arb, never through a float."""
    if not vals:
        return None
    low = vals[0]
    for v in vals[1:]:
        low = v if v.lower() < low.lower() else low
    return arb(low.lower())


def _fmt_lower(x) -> str:
    return "+inf (none)" if x is None else x.lower().str(12, radius=False)


def _strictly_lowest(in_S):
    """The (value, in S) entry whose ball lies strictly below every other's, or None when the
    balls cannot separate the lowest one (no global claim is made then)."""
    for v, s in in_S:
        if all(w is v or v < w for w, _ in in_S):
            return (v, s)
    return None


def embedded_candidates(n: int, d: int, prec: int = PREC):
    """L = 3 starting points on the strata a_1 = 0 and a_0 = 0, from the complete L = 2 list.

    a_1 = 0: g_2 = g_1, so p = (1 + a_0 s)(1 + a_2 s g_1^2) is the L = 2 residual in (a_0, a_2, b_0);
    d phi / d b_1 = 0 identically there and d phi / d a_1 is affine in b_1.  a_0 = 0: g_1 = 1 and p is
    the L = 2 residual in (a_1, a_2, b_1); d phi / d b_0 = 0 identically and d phi / d a_0 is affine in
    b_0.  So the critical points on these strata are the L = 2 critical points with the remaining b
    solving an affine equation (Newton from b = 0 solves it; a certified, hence nonsingular, Jacobian
    makes that b unique, the column of the remaining b having a single nonzero entry).
    Returns ([(t, stratum)], proof steps of the L = 2 solve).
    """
    sol = solve_family11(2, n, d, prec)
    out = []
    for x0, x1, y0 in sol.points:
        out.append(([x0, mpmath.mpf(0), x1, y0, mpmath.mpf(0)], "a_1 = 0"))
        out.append(([mpmath.mpf(0), x0, x1, mpmath.mpf(0), y0], "a_0 = 0"))
    steps = [
        {
            "title": "complete L = 2 list (input of the L = 3 strata a_0 = 0, a_1 = 0)",
            "statement": sol.statement,
            "status": "proved" if sol.complete else "open",
        }
    ]
    return out, steps
