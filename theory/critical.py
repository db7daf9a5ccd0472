"""Certified critical points of the restricted losses of Theorems 3 and 4, and their completeness.

API: :func:`certified_critical_points` (family, L, n, d) -> :class:`CriticalSet` with the points,
``complete`` (a proof that no other real critical point exists), ``global_minimum_proved`` and a
``coverage_statement`` that says exactly what was proved.  Every point carries a Krawczyk
certificate (existence and uniqueness of a zero of the exact gradient in a box) and its kind from
verified eigenvalue enclosures of the restricted Hessian and of the full-matrix Hessian blocks
(:mod:`theory.certify`, :mod:`theory.hessian`).  A point that fails certification is kept and
marked ``certified = False``.

Family (8), any L <= 6: complete by Lemmas A-C of :mod:`theory.family8` (exact elimination per
multiplicity pattern).  The kernel-polynomial point (distinct values) is the global minimum on
S (phi is coercive on S: the a_l are the reciprocal roots of q, whose coefficients are bounded
on sublevel sets because the Hankel matrix of mu is positive definite).

Family (11), L <= 2: complete by :mod:`theory.family11` (exact elimination in the coordinates
(a_0, a_1, c = a_0 b_0), escaping sequences and the closure of S at infinity accounted for).
L = 3: no critical point has a_2 = 0; the strata a_0 = 0 and a_1 = 0 are complete by reduction to
the L = 2 list (:func:`theory.family11.embedded_candidates`); the open stratum a_0 a_1 a_2 != 0 rests
on a search table: shipped in theory/data (``python -m verify.search gdpp --layers 3 --starts
1000``, d = 5, n = 10 and 20) or, elsewhere, passed in by the caller
(:func:`family11_three_layers`; verify.critical_sets runs a seeded on-demand search), every row
re-certified here at every call.  The list is therefore not proved complete and its lowest
certified point is reported as "lowest known".  For L <= 2 every certified point is traced to its
exact-solve box (one point per box) before the list is called complete.

Paper: Theorems 3, 4 (eqs. 10, 12), Lemma 4 and the footnote on attainment of the infimum.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
from dataclasses import dataclass, field
from importlib import resources

import mpmath
import sympy
from flint import arb, arb_mat, arb_poly, ctx, fmpq

from theory.certify import (
    PREC,
    MpolyEvaluator,
    eigenvalue_bounds,
    inertia_kind,
    krawczyk,
    to_fmpq,
)
from theory.families import FAMILIES as EXACT_FAMILIES
from theory.families import exact_family
from theory.family8 import all_patterns, partitions
from theory.hessian import block_dimension, hessian_block
from theory.restricted import effective_symbols, p_coefficients_mpoly
from theory.spectral import spectral_moments
from theory.wishart import sample_cov_moment

__all__ = [
    "MAX_L",
    "CriticalPoint",
    "CriticalSet",
    "certified_critical_points",
    "certify_candidate",
    "certify_point",
    "critical_points",
    "family11_three_layers",
    "shipped_table",
    "global_minimum_value_family8",
    "partitions",
]

#: Largest L with an exact treatment per family (family 11, L = 3: shipped table, not complete).
MAX_L = {f.equation: f.max_L for f in EXACT_FAMILIES}
#: Krawczyk box radius relative to max(1, |t|): far above the 1e-100 error of the Newton centre,
#: far below the distance between distinct critical points.
BOX_RADIUS = mpmath.mpf(10) ** -40
#: Precision (bits) of the full-matrix Hessian blocks: their enclosures over the 1e-40 box are
#: ~1e-20 wide, far below the eigenvalue gaps; 160 bits keeps round-off below that.
BLOCK_PREC = 160


@dataclass(frozen=True)
class CriticalPoint:
    """One critical point of phi_L on S with its certificate.

    a, b: step sizes in layer order in whitened coordinates (A_l = a_l Sigma^{-1}, B_l = b_l I);
    family (8) uses the sign of eq. (8), family (11) that of eq. (11); b_{L-1} is arbitrary
    (reported as 0).  loss: phi_L (mpf, >= 60 correct digits).  kind: from verified eigenvalue
    enclosures of all Hessian blocks ("minimum", "saddle", "maximum" or "undetermined").
    certificate: Krawczyk box radius, precision, enclosure, eigenvalue bounds per block.
    """

    family: str
    L: int
    n: int
    d: int
    a: tuple
    b: tuple
    loss: mpmath.mpf
    kind: str
    certified: bool
    certificate: dict = field(default_factory=dict)
    pattern: tuple = ()
    gradient_residual: float = float("inf")
    is_global_minimum_on_S: bool = False
    global_status: str = ""
    orbit_size: int = 1
    provenance: str = ""
    zero_directions: tuple = ()

    @property
    def orbit(self) -> tuple:
        """Layer permutations of a (Lemma 4, family 8) or just the point (family 11)."""
        if exact_family(self.family).layers_commute:
            return tuple(sorted(set(itertools.permutations(self.a))))
        return ((self.a, self.b),)

    def as_record(self) -> dict:
        """JSON-ready record: a, b, loss_float as floats; loss, a_digits, b_digits as 40-digit strings."""
        with mpmath.workdps(60):
            digits = lambda x: mpmath.nstr(x, 40)
            return {
                "family": self.family,
                "L": self.L,
                "n": self.n,
                "d": self.d,
                "a": [float(x) for x in self.a],
                "b": [float(x) for x in self.b],
                "a_digits": [digits(x) for x in self.a],
                "b_digits": [digits(x) for x in self.b],
                "loss": digits(self.loss),
                "loss_float": float(self.loss),
                "kind": self.kind,
                "certified": self.certified,
                "certificate": self.certificate,
                "pattern": list(self.pattern),
                "gradient_residual": self.gradient_residual
                if math.isfinite(self.gradient_residual)
                else None,
                "is_global_minimum_on_S": self.is_global_minimum_on_S,
                "global_status": self.global_status,
                "orbit_size": self.orbit_size,
                "provenance": self.provenance,
                "zero_directions": list(self.zero_directions),
            }

    def row(self) -> dict:
        """Flat scalar fields for a table (a, b rounded to 6 digits; full digits in as_record)."""
        cert = self.certificate
        return {
            "a": ", ".join(mpmath.nstr(x, 6) for x in self.a),
            "b": ", ".join(mpmath.nstr(x, 6) for x in self.b[:-1])
            if exact_family(self.family).has_b
            else "",
            "loss": mpmath.nstr(self.loss, 20),
            "kind": self.kind,
            "certified": self.certified,
            "box_radius": cert.get("box_radius"),
            "method": cert.get("method"),
            "min_eigenvalue_lower_bound": cert.get("min_eigenvalue_lower_bound"),
            "global": self.global_status,
        }


@dataclass
class CriticalSet:
    """All certified critical points of phi_L on S, and what is proved about the list."""

    family: str
    L: int
    n: int
    d: int
    points: list
    complete: bool
    global_minimum_proved: bool
    coverage_statement: str
    escaping: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    source: str = ""  # how the list was obtained (one phrase)

    @property
    def lowest(self):
        """The lowest CERTIFIED point (None if none is certified)."""
        certified = [p for p in self.points if p.certified]
        return min(certified, key=lambda p: p.loss) if certified else None

    def to_rows(self) -> list[dict]:
        """One flat dict per point (table rendering)."""
        return [p.row() for p in self.points]

    def closed_form(self) -> dict:
        """JSON fields for a verdict: points, complete, global minimum status, coverage."""
        return {
            "critical_points": [p.as_record() for p in self.points],
            "complete": self.complete,
            "global_minimum_proved": self.global_minimum_proved,
            "coverage": self.coverage_statement,
            "escaping_sequences": self.escaping,
            "proof_steps": self.steps,
            "list_source": self.source,
        }


# --- exact gradient systems and certification ------------------------------------------------


class _LossJet:
    """phi_L, its gradient and Hessian in ball arithmetic from the residual polynomial p.

    phi = sum_k (p^2)_k m_k, grad_i = 2 sum_k (p p_i)_k m_k,
    hess_ij = 2 sum_k (p_i p_j + p p_ij)_k m_k, with m_k = E tr S^k exact and the coefficients of
    p, p_i, p_ij (small fmpq_mpoly's) enclosed over the box.  Same values as differentiating
    :func:`theory.restricted.phi_mpoly`, at a fraction of the cost (a few hundred products).
    """

    def __init__(self, family, L, n, d):
        c, pc = p_coefficients_mpoly(family, L)
        names = c.names()
        m = len(names)
        self.m = m
        self.p = MpolyEvaluator(pc)
        self.dp = [MpolyEvaluator([x.derivative(v) for x in pc]) for v in names]
        self.d2p = [
            [MpolyEvaluator([x.derivative(v).derivative(w) for x in pc]) for w in names]
            for v in names
        ]
        self.mom = [sample_cov_moment((k,), n, d) for k in range(2 * len(pc) - 1)]
        self._mom_cache: dict = {}

    def _moments(self, prec):
        if prec not in self._mom_cache:
            with ctx.workprec(prec):
                self._mom_cache[prec] = [arb(fmpq(q.numerator, q.denominator)) for q in self.mom]
        return self._mom_cache[prec]

    @staticmethod
    def _pair(f, g, mom):
        # sum_k (f g)_k m_k: the product in flint's arb_poly (C), then one dot product
        prod = (arb_poly(f) * arb_poly(g)).coeffs()
        return sum((c * mom[k] for k, c in enumerate(prod)), arb(0))

    def phi(self, x, prec=PREC):
        with ctx.workprec(prec):
            p = self.p(x, prec)
            return [self._pair(p, p, self._moments(prec))]

    def grad(self, x, prec=PREC):
        with ctx.workprec(prec):
            mom, p = self._moments(prec), self.p(x, prec)
            return [2 * self._pair(p, dp(x, prec), mom) for dp in self.dp]

    def hess(self, x, prec=PREC):
        with ctx.workprec(prec):
            mom, p = self._moments(prec), self.p(x, prec)
            dps = [dp(x, prec) for dp in self.dp]
            out = [[None] * self.m for _ in range(self.m)]
            for i in range(self.m):
                for j in range(i, self.m):  # symmetric
                    out[i][j] = out[j][i] = 2 * self._pair(dps[i], dps[j], mom) + 2 * self._pair(
                        p, self.d2p[i][j](x, prec), mom
                    )
            return [v for row in out for v in row]


@functools.cache
def _system(family: str, L: int, n: int, d: int):
    """(names, phi, grad, Hessian) ball evaluators of phi_L in its effective variables."""
    jet = _LossJet(family, L, n, d)
    names = tuple(str(t) for t in effective_symbols(family, L))
    return names, jet.phi, jet.grad, jet.hess


def _newton(G, H, t, prec, steps=40):
    """Newton on grad phi = 0 in ball arithmetic, returning exact rational centres (fmpq)."""
    m = len(t)
    x = [to_fmpq(v) for v in t]
    with ctx.workprec(prec):
        for _ in range(steps):
            xa = [arb(v) for v in x]
            g = arb_mat([[v.mid()] for v in G(xa, prec)])
            J = arb_mat(m, m, [v.mid() for v in H(xa, prec)])
            try:
                step = J.solve(g)
            except (ZeroDivisionError, ValueError):
                break
            x = [to_fmpq_arb(xa[i] - step[i, 0]) for i in range(m)]
            size = max(abs(float(step[i, 0].mid())) for i in range(m))
            if size < 2.0 ** (-prec + 40):
                break
    return x


def to_fmpq_arb(v: arb):
    man, exp = v.mid().man_exp()
    man, exp = int(man), int(exp)
    return fmpq(man * 2**exp) if exp >= 0 else fmpq(man, 2 ** (-exp))


def polish_point(family: str, L: int, n: int, d: int, t, prec: int = PREC):
    """Newton on the exact grad phi_L (ball arithmetic, prec bits) from t (effective variables).

    Returns (t as mpf list, upper bound of max |grad phi_L| at it, phi_L there as mpf).  Used by the
    float search (verify.search) to polish its zeros before they are tabulated.
    """
    names, PHI, G, H = _system(str(family), L, n, d)
    if len(t) != len(names):
        raise ValueError(f"polish_point needs {len(names)} coordinates {names}; got {len(t)}")
    x = _newton(G, H, t, prec)
    with ctx.workprec(prec):
        xa = [arb(v) for v in x]
        res = max(float(abs(v).upper()) for v in G(xa, prec))
        val = PHI(xa, prec)[0]
    with mpmath.workdps(int(prec / 3.4)):
        return (
            [_to_mpf(v) for v in x],
            res,
            mpmath.mpf(val.mid().str(int(prec / 3.4), radius=False)),
        )


def _to_mpf(q):
    return mpmath.mpf(int(q.p)) / int(q.q)


def certify_point(
    family: str, L: int, n: int, d: int, t, prec: int = PREC, polish: bool = True
) -> dict:
    """Certify one critical point: Krawczyk box, kind from verified Hessian eigenvalue bounds.

    t: effective variables (a_0..a_{L-1}[, b_0..b_{L-2}]) as mpf/str/Fraction near a zero of
    grad phi_L.  Returns a dict with the centre t (mpf), loss (mpf ball midpoint), loss_radius,
    certified, kind, certificate (flat dict), gradient_residual.  polish=False skips Newton
    (negative controls: certifying a point that is not critical must fail).
    """
    names, PHI, G, H = _system(family, L, n, d)
    m = len(names)
    if len(t) != m:
        raise ValueError(f"certify_point needs {m} coordinates {names}; got {len(t)}")
    x = _newton(G, H, t, prec) if polish else [to_fmpq(v) for v in t]
    # Newton leaves an exact zero coordinate (embedded lower-L points, a_l = 0) at ~1e-240.
    tiny = fmpq(1, 2 ** (prec - 80))
    x = [fmpq(0) if polish and abs(v) < tiny else v for v in x]
    scale = max([1.0] + [abs(float(v)) for v in x])
    radius = BOX_RADIUS * scale
    cert, K = krawczyk(G, H, x, radius, prec)
    with ctx.workprec(prec):
        xa = [arb(v) for v in x]
        X = [v + arb(0, arb(to_fmpq(radius))) for v in xa]
        phi_x = PHI(xa, prec)[0]
        if K is not None:
            # mean-value form: phi(z) = phi(x) + grad(xi) . (z - x) with xi on the segment [x, z],
            # which lies in the box X (convex, holds x and z) but not necessarily in K: the
            # gradient is enclosed over X
            gX = G(X, prec)
            loss_ball = phi_x + sum(gX[i] * (K[i] - xa[i]) for i in range(m))
        else:
            loss_ball = phi_x
        grad_res = max(float(abs(v).upper()) for v in G(xa, prec))
        HX = arb_mat(m, m, H(X, prec))
        blocks = {"restricted": (eigenvalue_bounds(HX, prec), 1)}
        restricted_signs = {sg for *_, sg in (blocks["restricted"][0] or [(0, 0, 0)])}
        # The trace block is (1/d) the restricted Hessian: if that is already indefinite the point is
        # a saddle of f, and the traceless blocks cannot change that.
        full_needed = d >= 2 and len(restricted_signs) == 1 and 0 not in restricted_signs
        if full_needed:
            a_box = X[:L]
            b_box = (X[L:] + [arb(0)]) if exact_family(family).has_b else []
            with ctx.workprec(BLOCK_PREC):
                for kind in ("sym", "antisym"):
                    # keep = m drops b_{L-1} (index 2L - 1): f does not depend on it
                    B = hessian_block(family, a_box, b_box, n, d, kind, arith="arb", keep=m)
                    blocks[kind] = (
                        eigenvalue_bounds(
                            arb_mat(m, m, [B[i][j] for i in range(m) for j in range(m)]), BLOCK_PREC
                        ),
                        block_dimension(kind, d),
                    )
    kinds = [inertia_kind(bd) for bd, _ in blocks.values()]
    all_bounds = [bd for bd, _ in blocks.values()]
    if any(bd is None for bd in all_bounds) or "undetermined" in kinds:
        kind = "undetermined"
    else:
        signs = {s for bd in all_bounds for *_, s in bd}
        kind = "minimum" if signs == {1} else ("maximum" if signs == {-1} else "saddle")
    kind_certified = kind != "undetermined"
    with mpmath.workdps(int(prec / 3.33)):
        center = [_to_mpf(v) for v in x]
        loss = mpmath.mpf(loss_ball.mid().str(int(prec / 3.4), radius=False))
    lower = min((lo for bd in all_bounds if bd for lo, _, _ in bd), default=None)
    finite = lambda x: x if x is not None and math.isfinite(x) else None  # JSON without inf / nan
    certificate = {
        "method": "Krawczyk (arb)",
        "kind_method": "verified eigenvalue enclosures (Gershgorin after approximate diagonalisation) of the "
        "restricted Hessian and, when that is definite, of the full-matrix sym and antisym "
        "Hessian blocks over the box"
        + ("" if full_needed else "; restricted Hessian indefinite: a saddle of f"),
        "box_radius": float(radius),
        "precision_bits": prec,
        "existence_uniqueness": cert.certified,
        "reason": cert.reason,
        "enclosure_radius": finite(cert.enclosure_radius),
        "krawczyk_contraction": finite(cert.contraction),
        "loss_radius": float(loss_ball.rad()),
        "kind_certified": kind_certified,
        "min_eigenvalue_lower_bound": finite(lower),
        "eigenvalue_bounds": {
            k: {"multiplicity": mult, "bounds": [[lo, hi] for lo, hi, _ in (bd or [])]}
            for k, (bd, mult) in blocks.items()
        },
    }
    return {
        "t": center,
        "loss": loss,
        "certified": bool(cert.certified and kind_certified),
        "kind": kind,
        "certificate": certificate,
        "gradient_residual": grad_res,
    }


def _point(family, L, n, d, t, pattern=(), provenance="", prec=PREC):
    res = certify_point(family, L, n, d, t, prec)
    tt = res["t"]
    fam = exact_family(family)
    a, b = tuple(tt[:L]), (tuple(tt[L:]) + (mpmath.mpf(0),) if fam.has_b else ())
    orbit = (
        len(set(itertools.permutations([mpmath.nstr(x, 30) for x in a])))
        if fam.layers_commute
        else 1
    )
    zero = ("B_{L-1}: all d^2 entries (f does not depend on B_{L-1})",) if fam.has_b else ()
    return CriticalPoint(
        family,
        L,
        n,
        d,
        a,
        b,
        res["loss"],
        res["kind"],
        res["certified"],
        res["certificate"],
        tuple(pattern),
        res["gradient_residual"],
        orbit_size=orbit,
        provenance=provenance,
        zero_directions=zero,
    )


def certify_candidate(family: str, L: int, n: int, d: int, t, provenance: str) -> CriticalPoint:
    """One candidate zero t (effective variables) as a :class:`CriticalPoint`: Newton on the exact
    grad phi_L, Krawczyk existence and uniqueness, kind from verified Hessian enclosures.

    ``certified`` is False when any of these fails (the caller decides what that means); used for
    points found outside the tables, e.g. from trained replicas.  Theorem 4 (eq. 12).
    """
    family = str(family)
    names = _system(family, L, n, d)[0]
    if len(t) != len(names):
        raise ValueError(f"certify_candidate needs {len(names)} coordinates {names}; got {len(t)}")
    return _point(family, L, n, d, list(t), (), provenance)


def _mark_global(points, proved: bool, how: str):
    """Mark the lowest CERTIFIED point: proved global minimum on S, or lowest known."""
    certified = [p for p in points if p.certified]
    if not certified:
        return points
    best = min(certified, key=lambda p: p.loss)
    status = (
        f"global minimum on S (proved: {how})"
        if proved
        else "lowest known critical point (not proved global)"
    )
    return [
        p if p is not best else _replace(p, is_global_minimum_on_S=proved, global_status=status)
        for p in points
    ]


def _replace(p, **kw):
    from dataclasses import replace

    return replace(p, **kw)


# --- family (8) ------------------------------------------------------------------------------


def _family8(L, n, d):
    results = all_patterns(L, n, d, dps=int(PREC / 3.4))
    points = []
    for res in results:
        for a in res.points:
            p = _point(
                "8",
                L,
                n,
                d,
                list(a),
                res.pattern,
                "exact elimination per multiplicity pattern (theory.family8)",
            )
            if not any(
                _same(p, q) for q in points
            ):  # a point is listed once, under its own pattern
                points.append(p)
    complete = all(r.complete for r in results) and all(p.certified for p in points)
    stmt = (
        f"complete (proved): every multiplicity pattern of L = {L} solved exactly "
        "(Lemmas A-C of theory.family8; resultants, exact real-root isolation, Krawczyk); "
        + "; ".join(r.statement for r in results)
    )
    points = _mark_global(
        points, complete, "coercive on S, unique kernel-polynomial point, list complete"
    )
    steps = [
        {
            "title": f"pattern {r.pattern}",
            "statement": r.statement,
            "status": "proved" if r.complete else "open",
        }
        for r in results
    ]
    return CriticalSet(
        "8",
        L,
        n,
        d,
        sorted(points, key=lambda p: p.loss),
        complete,
        complete,
        stmt,
        steps=steps,
        source="exact elimination per multiplicity pattern (theory.family8)",
    )


def global_minimum_value_family8(L: int, n: int, d: int):
    """min over S of phi_L = d / (H^{-1})_{00}, H_ij = int s^{i+j} dmu, i, j = 0..L (exact)."""
    mu = [sympy.Rational(m.numerator, m.denominator) for m in spectral_moments(n, d, 2 * L + 1)]
    Hk = sympy.Matrix(L + 1, L + 1, lambda i, j: mu[i + j])
    return d / Hk.inv()[0, 0]


# --- family (11) -----------------------------------------------------------------------------


def _family11(L, n, d):
    if L <= 2:
        from theory.family11 import solve_family11

        sol = solve_family11(L, n, d)
        points = [_point("11", L, n, d, t, (), sol.provenance) for t in sol.points]
        traced = _traced(points, sol.enclosures)
        complete = sol.complete and all(p.certified for p in points) and traced
        proved = complete and sol.attained_at_lowest(points)
        points = _mark_global(points, proved, sol.global_argument)
        return CriticalSet(
            "11",
            L,
            n,
            d,
            sorted(points, key=lambda p: p.loss),
            complete,
            proved,
            sol.statement
            + (
                ""
                if traced
                else "; NOT complete: the certified points could not be traced one to one to "
                "the exact-solve boxes"
            ),
            escaping=sol.escaping,
            steps=sol.steps,
            source="exact elimination (theory.family11, theory.polysys)",
        )
    return family11_three_layers(n, d, shipped_table(3, n, d))


def _traced(points, enclosures) -> bool:
    """Each certified point's Krawczyk box (existence AND uniqueness of a zero in it) contains the
    whole exact-solve box it was started from, and the points are pairwise distinct: the zero of
    every box is then the certified point itself, one point per box, as many points as boxes,
    so Newton and de-duplication cannot have lost a zero of the solve."""
    if len(points) != len(enclosures):
        return False
    for p, box in zip(points, enclosures):
        t = list(p.a) + list(p.b[:-1])
        r = p.certificate.get("box_radius")
        if not p.certified or r is None or len(t) != len(box):
            return False
        # the float record of the radius may be rounded up: shrink it by 1e-3 to stay inside
        with mpmath.workdps(130), ctx.workprec(PREC):
            rad = to_fmpq(mpmath.mpf(r) * mpmath.mpf("0.999"))
            if not all(arb(to_fmpq(x), rad).contains(B) for B, x in zip(box, t)):
                return False
    return all(not _same(p, q) for i, p in enumerate(points) for q in points[i + 1 :])


def _same(p, q):
    return max(abs(x - y) for x, y in zip(p.a + p.b, q.a + q.b)) < mpmath.mpf(10) ** -30


def family11_three_layers(n: int, d: int, table: dict | None, source: str = "") -> CriticalSet:
    """L = 3: the strata a_0 = 0, a_1 = 0 (complete, from L = 2) and a search table, certified.

    table: ``{"command", "starts", "points": [{"t": [5 numbers as str], "t_float", "hits"}]}``
    (shipped in theory/data, or generated by a seeded search elsewhere); every row is certified
    here, so the table can only propose points, never vouch for one.  source: how the table was
    obtained (one phrase for the coverage statement; default: the shipped table).  Never
    complete: the open stratum is covered only by the search.  Theorem 4 (eq. 12).
    """
    from theory.family11 import embedded_candidates

    L = 3
    if table is not None and not (table.get("n") == n and table.get("d") == d):
        raise ValueError(
            f"table is for n = {table.get('n')}, d = {table.get('d')}; asked for n = {n}, d = {d}"
        )
    emb, emb_steps = embedded_candidates(n, d)
    points = []
    for t, stratum in emb:
        p = _point("11", L, n, d, t, (), f"stratum {stratum}: reduction to the complete L = 2 list")
        if not any(_same(p, q) for q in points):
            points.append(p)
    n_emb, emb_ok = len(points), all(p.certified for p in points)
    in_table, dropped = 0, 0
    if table is not None:
        for row in table["points"]:
            near = [
                q
                for q in points[:n_emb]
                if max(abs(float(x) - y) for x, y in zip(q.a + q.b[:-1], row["t_float"])) < 1e-8
            ]
            if near:  # already certified from the L = 2 reduction
                in_table += 1
                continue
            p = _point(
                "11",
                L,
                n,
                d,
                row["t"],
                (),
                f"table: {table['command']} (hits {row.get('hits', 0)})",
            )
            if (
                not p.certified
            ):  # a search proposes; only a certificate lists (e.g. an escaping row)
                dropped += 1
                continue
            # Newton from a stale row could land on a point already listed: keep one copy
            dup = next((q for q in points if _same(p, q)), None)
            if dup is None:
                points.append(p)
            elif points.index(dup) < n_emb:
                in_table += 1
    steps = emb_steps + [
        {
            "title": "strata a_0 = 0 and a_1 = 0 of L = 3: every critical point comes from the complete L = 2 list",
            "statement": f"{n_emb} points, all certified: {emb_ok}; {in_table} of them also found by the search",
            "status": "proved" if emb_ok and emb_steps[0]["status"] == "proved" else "open",
        }
    ]
    search = (
        f"the open stratum a_0 a_1 a_2 != 0 is covered only by a float search ({table['command']}; "
        f"{table['starts']} starts"
        + (f" + {table['c_search']['starts']} in c" if "c_search" in table else "")
        + f", {source or 'shipped as data'}): {len(points) - n_emb} points "
        f"there, re-certified now ({dropped} search rows failed certification and are not listed)"
        if table is not None
        else f"no search table for n = {n}, d = {d} (generate one with `python -m verify.search gdpp "
        f"--layers 3 --n {n} --d {d} --starts 1000`): the open stratum a_0 a_1 a_2 != 0 is not covered"
    )
    stmt = (
        f"NOT proved complete: {len(points)} certified-or-reported points "
        f"({sum(p.certified for p in points)} certified).  Proved: no critical point has a_2 = 0 "
        "(d phi / d a_2 = 2 d int s g_2^2 p^2 dmu > 0 there; argued); every critical point with a_0 = 0 or "
        f"a_1 = 0 is one of the {n_emb} points obtained from the complete L = 2 list (phi restricts to the "
        "L = 2 loss there and the remaining b solves a linear equation; each certified).  Not proved: "
        + search
        + "; zeros the search did not reach there are not excluded."
    )
    points = _mark_global(points, False, "")
    how = (
        "strata a_0 = 0, a_1 = 0: exact reduction to L = 2; open stratum: "
        + (
            "none (no search table)"
            if table is None
            else f"{source or 'shipped table'} ({table['command']})"
        )
        + "; not proved complete"
    )
    return CriticalSet(
        "11",
        L,
        n,
        d,
        sorted(points, key=lambda p: p.loss),
        False,
        False,
        stmt,
        steps=steps,
        source=how,
    )


def shipped_table(L: int, n: int, d: int) -> dict | None:
    """The shipped search table theory/data/gdpp_L{L}_n{n}_d{d}.json, or None."""
    return _load_table(L, n, d)


def _load_table(L, n, d):
    name = f"gdpp_L{L}_n{n}_d{d}.json"
    try:
        text = resources.files("theory").joinpath("data", name).read_text()
    except (FileNotFoundError, OSError):
        return None
    return json.loads(text)


#: The critical-point search of each family (the one part that is not generic: a polynomial
#: system per family), by equation number.
_SOLVERS = {"8": _family8, "11": _family11}


@functools.cache
def certified_critical_points(family: str, L: int, n: int, d: int) -> CriticalSet:
    """All (family 8, family 11 L <= 2) or all tabulated (family 11 L = 3) critical points, certified.

    Returns a CriticalSet sorted by loss.  Raises ValueError outside 1 <= L <= MAX_L[family].
    Theorems 3, 4 (eqs. 10, 12).
    """
    fam = exact_family(family)
    if not (isinstance(L, int) and 1 <= L <= fam.max_L):
        raise ValueError(f"family ({fam}) is supported for 1 <= L <= {fam.max_L}; got L={L!r}")
    if not (isinstance(n, int) and isinstance(d, int) and n >= 1 and d >= 1):
        raise ValueError(f"n and d must be positive integers; got n={n!r}, d={d!r}")
    return _SOLVERS[fam.equation](L, n, d)


def critical_points(
    family: str, L: int, n: int, d: int, dps: int = 40, **_legacy
) -> list[CriticalPoint]:
    """The points of :func:`certified_critical_points`, sorted by loss (legacy list form).

    ``dps`` and search keywords of the former float search are accepted and ignored: the points
    are certified at 400 bits and the family (11) search lives in verify.search.
    """
    return list(certified_critical_points(str(family), L, n, d).points)


def _tex(text: str) -> str:
    return r"\text{" + text.replace("_", r"\_").replace("{", "(").replace("}", ")") + "}"


def derive_critical_points(family: str, L: int, n: int, d: int, dps: int = 40, **_legacy):
    """Derivation record: the critical set of phi_L on S, its completeness, kinds, global minimum.

    Every step is either computed in this call (proved / failed) or argued in text (never a constant
    "holds").  Search keywords of the former float search are accepted and ignored.
    """
    from theory.derivation import Derivation, fact_step
    from theory.invariance import coercivity_step, orthogonal_invariance_step

    family = str(family)
    cs = certified_critical_points(family, L, n, d)
    ncert = sum(p.certified for p in cs.points)
    steps = [
        fact_step(
            "every listed point is stationary: a certified zero of the exact gradient of phi_L",
            _tex(
                f"{ncert} of {len(cs.points)} points certified (Krawczyk, box radius <= 1e-40 relative)"
            ),
            bool(cs.points) and ncert == len(cs.points),
            "Krawczyk interval Newton in arb ball arithmetic at 400 bits (theory.certify)",
        )
    ]
    kinds = {}
    for p in cs.points:
        kinds[p.kind] = kinds.get(p.kind, 0) + 1
    steps.append(
        fact_step(
            "kind of every point from verified Hessian eigenvalue bounds (restricted and full-matrix blocks)",
            _tex(", ".join(f"{v} {k}" for k, v in sorted(kinds.items()))),
            "undetermined" not in kinds,
            "Gershgorin discs after approximate diagonalisation, Sylvester inertia (theory.certify)",
        )
    )
    steps.append(orthogonal_invariance_step(d))
    for st in cs.steps:
        summary = (
            "all real solutions found: every case decided"
            if st["status"] == "proved"
            else "undecided cases"
        )
        steps.append(
            fact_step(
                st["title"],
                _tex(summary),
                st["status"] == "proved",
                "exact elimination over QQ + Krawczyk (theory.polysys)",
                st["statement"],
            )
        )
    if cs.complete:
        steps.append(
            fact_step(
                "the list is complete",
                _tex(f"{len(cs.points)} real critical points"),
                True,
                "exact elimination per case (theory.family8 / theory.family11), every grid "
                "cell decided",
                cs.coverage_statement,
            )
        )
    else:
        decided = sum(st["status"] == "proved" for st in cs.steps)
        steps.append(
            fact_step(
                "what the list covers (coverage; not proved complete)",
                _tex(
                    f"{len(cs.points)} points, {ncert} certified; {decided} of {len(cs.steps)} "
                    "strata decided exactly"
                ),
                ncert == len(cs.points) and decided == len(cs.steps),
                "the certificates above and the exact strata steps, recounted here",
                cs.coverage_statement,
            )
        )
    steps.append(
        fact_step(
            "infimum of the gradient norm on S attained (eq. 10 / eq. 12)",
            _tex("a certified zero of grad phi_L exists"),
            ncert > 0,
            "a Krawczyk-certified zero: inf ||grad|| = 0 is attained there",
        )
    )
    if exact_family(family).hankel_minimum:
        closed = global_minimum_value_family8(L, n, d)
        with mpmath.workdps(60):
            ok = abs(cs.points[0].loss - mpmath.mpf(closed.p) / closed.q) < mpmath.mpf(10) ** -40
        steps.append(
            fact_step(
                "global minimum on S = d / (H^{-1})_00 (kernel polynomial)",
                sympy.Eq(sympy.Symbol("phi_min"), closed),
                ok and cs.global_minimum_proved,
                "exact Hankel inverse vs the lowest enumerated point (60 digits)",
            )
        )
        steps.append(coercivity_step(L, n, d, cs.points[0].loss))
    elif cs.global_minimum_proved:
        best = cs.lowest
        steps.append(
            fact_step(
                "global minimum on S (proved)",
                _tex(f"phi_min = {mpmath.nstr(best.loss, 20)}"),
                best.is_global_minimum_on_S and best.kind == "minimum",
                "complete list + behaviour at infinity computed (theory.family11)",
                cs.points[0].global_status,
            )
        )
    else:
        best = cs.lowest
        steps.append(
            fact_step(
                "lowest known point on S (a certified point; not proved the global minimum)",
                _tex(f"lowest known phi = {mpmath.nstr(best.loss, 20) if best else 'none'}"),
                best is not None and best.certified,
                "the lowest certified point of the list (global minimality is not claimed: the "
                "list is not proved complete)",
                cs.coverage_statement,
            )
        )
    title = f"Critical points of phi_{L}, family ({family}), n = {n}, d = {d}"
    return Derivation(title, exact_family(family).theorem, tuple(steps))
