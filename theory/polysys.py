"""All real solutions of a small square polynomial system over QQ, with a proof of completeness.

Method (for m <= 3 unknowns x_0..x_{m-1} and equations E_0..E_{m-1} in QQ[x]):

1. Eliminants.  For each unknown x_i a nonzero univariate R_i in QQ[x_i] that vanishes at the
   x_i-coordinate of every common complex zero: R_i = E_0 (m = 1); the resultant of E_0, E_1
   with respect to the other unknown (m = 2); for m = 3 the resultant, with respect to x_k, of
   two resultants Res_{x_j}(E_0, E_a), Res_{x_j}(E_0, E_b) (a nonzero iterated resultant
   vanishes on the projection of every common zero; Cox, Little, O'Shea, Ideals, Varieties and
   Algorithms, ch. 3 sec. 6).  Exact fmpq_mpoly arithmetic in python-flint.
2. Exact real-root isolation of each R_i (flint's arb_fmpz_poly_complex_roots: disjoint
   enclosures, real roots returned with exactly zero imaginary part).  Every real solution lies
   in one cell of the grid of products of real-root enclosures.
3. Each cell is either excluded (some E_t has a ball value excluding 0 on it) or shown to hold
   exactly one zero (Krawczyk on a slightly larger box that meets no other root enclosure).
   A cell that is neither is retried at twice the precision; if it still resists, the result
   says so (complete = False) -- never silently dropped.

The output is therefore the complete list of real solutions whenever ``complete`` is True.
Used for the multiplicity patterns of family (8) and for family (11) at L = 2
(:mod:`theory.critical`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from flint import arb, ctx, fmpq, fmpq_poly, fmpz_poly

from theory.certify import MpolyEvaluator, krawczyk

__all__ = ["RealSolutions", "eliminant", "real_roots", "solve_real"]


@dataclass
class RealSolutions:
    """Real solutions of a square system: cells (lists of arb, one per unknown) and the proof."""

    solutions: list
    complete: bool
    eliminant_degrees: tuple
    cells_checked: int
    undecided: int
    statement: str


def _univariate(poly, i) -> fmpq_poly:
    coeffs: dict = {}
    for exps, c in poly.terms():
        if any(e for j, e in enumerate(exps) if j != i):
            raise ValueError("eliminant still depends on other unknowns")
        coeffs[exps[i]] = c
    top = max(coeffs) if coeffs else 0
    return fmpq_poly([coeffs.get(k, 0) for k in range(top + 1)])


def eliminant(eqs, i: int) -> fmpq_poly:
    """Nonzero univariate polynomial in unknown i vanishing at every common zero's x_i."""
    names = eqs[0].context().names()
    m = len(eqs)
    others = [names[j] for j in range(m) if j != i]
    if m == 1:
        R = eqs[0]
    elif m == 2:
        R = eqs[0].resultant(eqs[1], others[0])
    elif m == 3:
        R = None
        for xj, xk in (others, others[::-1]):
            for a, b in ((1, 2), (2, 1)):
                r1 = eqs[0].resultant(eqs[a], xj)
                r2 = eqs[0].resultant(eqs[b], xj) if a == 1 else eqs[1].resultant(eqs[2], xj)
                g = r1.gcd(r2)
                if not g.is_constant():
                    continue
                R = r1.resultant(r2, xk)
                if not R.is_zero():
                    break
            if R is not None and not R.is_zero():
                break
        if R is None or R.is_zero():
            raise ValueError(f"no nonzero iterated resultant for unknown {names[i]}")
    else:
        raise ValueError(f"solve_real handles 1 to 3 unknowns; got {m}")
    if R.is_zero():
        raise ValueError(
            f"the eliminant of {names[i]} vanishes identically (positive-dimensional system?)"
        )
    return _univariate(R, i)


def real_roots(P: fmpq_poly, prec: int) -> list[arb]:
    """Disjoint enclosures of the distinct real roots of P (an exact zero root kept exact).

    P is factored over QQ first (flint, fast); each irreducible factor has simple roots, distinct
    from those of the other factors, and is isolated separately (isolation cost grows like the
    cube of the degree, and resultants carry large extraneous factors).
    """
    num = fmpz_poly([int(c * P.denom()) for c in P.coeffs()])
    roots = []
    _, factors = num.factor()
    with ctx.workprec(prec):
        for g, _ in factors:
            if g.degree() == 1 and g.coeffs()[0] == 0:
                roots.append(arb(0))
                continue
            found = [c for c, _ in g.complex_roots()]
            # flint returns real roots with an exactly zero imaginary part; a root whose imaginary
            # enclosure merely contains 0 would be undecided: refuse rather than drop it
            if any(c.imag.contains(0) and not c.imag.is_zero() for c in found):
                if prec > 4000:
                    raise ValueError("a root could not be classified as real or non-real")
                return real_roots(P, 2 * prec)
            roots += [c.real for c in found if c.imag.is_zero()]
    roots.sort(key=lambda r: float(r.mid()))
    if any(roots[i].overlaps(roots[i + 1]) for i in range(len(roots) - 1)):
        if prec > 4000:
            raise ValueError("real roots of different factors could not be separated")
        return real_roots(P, 2 * prec)
    return roots


def _excluded(F, cell, prec) -> bool:
    return any(not v.contains(0) for v in F(cell, prec))


def _try_cell(F, J, cell, roots, idx, prec):
    """'excluded', ('zero', K) or 'undecided' for one grid cell."""
    if _excluded(F, cell, prec):
        return "excluded", None
    m = len(cell)
    # Krawczyk box: 2^20 times the cell, but never touching another root enclosure.
    rad = max(float(c.rad()) for c in cell)
    for scale in (2.0**20, 2.0**8):
        r = max(rad * scale, 2.0 ** (-prec // 2)) * 2  # > cell radius: the box contains the cell
        box_ok = True
        for i in range(m):
            box = arb(cell[i].mid(), r)
            if any(j != idx[i] and box.overlaps(roots[i][j]) for j in range(len(roots[i]))):
                box_ok = False
        if not box_ok:
            continue
        cert, K = krawczyk(F, J, [fmpq_from_arb_mid(c) for c in cell], r, prec)
        if cert.certified:
            return "zero", K
    return "undecided", None


def fmpq_from_arb_mid(x: arb) -> fmpq:
    """Exact rational value of the midpoint of a ball."""
    man, exp = x.mid().man_exp()
    man, exp = int(man), int(exp)
    return fmpq(man * 2**exp) if exp >= 0 else fmpq(man, 2 ** (-exp))


def solve_real(eqs, prec: int = 400, retries: int = 1, skip=None) -> RealSolutions:
    """All real solutions of eqs (m fmpq_mpoly in one context, m unknowns), proved complete.

    Returns RealSolutions with one enclosure K (list of arb) per real solution.  See the module
    docstring for the method; ``complete`` is False if some grid cell stayed undecided.
    ``skip(cell)``: optional caller's proof that a cell holds no solution of interest (returns a
    reason string or None), e.g. Lemma A for an exactly zero step size; skipped cells are counted
    in the statement.
    """
    m = len(eqs)
    if m != len(eqs[0].context().names()):
        raise ValueError(
            f"solve_real needs a square system; got {m} equations in "
            f"{len(eqs[0].context().names())} unknowns"
        )
    names = eqs[0].context().names()
    elim = [eliminant(eqs, i) for i in range(m)]
    F = MpolyEvaluator(eqs)
    J = MpolyEvaluator([e.derivative(names[j]) for e in eqs for j in range(m)])
    undecided_cells = None
    for attempt in range(retries + 1):
        p = prec * 2**attempt
        roots = [real_roots(R, p) for R in elim]
        sols, undecided, checked, skipped = [], 0, 0, {}
        for idx in itertools.product(*[range(len(r)) for r in roots]):
            cell = [roots[i][idx[i]] for i in range(m)]
            checked += 1
            reason = skip(cell) if skip else None
            if reason:
                skipped[reason] = skipped.get(reason, 0) + 1
                continue
            status, K = _try_cell(F, J, cell, roots, idx, p)
            if status == "zero":
                sols.append(K)
            elif status == "undecided":
                undecided += 1
        undecided_cells = undecided
        if undecided == 0:
            break
    degs = tuple(R.degree() for R in elim)
    stmt = (
        f"eliminants of degrees {degs} (exact resultants over QQ); {checked} grid cells of real-root "
        f"enclosures: {len(sols)} hold exactly one zero (Krawczyk), {checked - len(sols) - undecided_cells - sum(skipped.values())} "
        f"excluded by ball arithmetic, {undecided_cells} undecided"
    )
    stmt += "".join(f"; {c} skipped: {why}" for why, c in skipped.items())
    return RealSolutions(sols, undecided_cells == 0, degs, checked, undecided_cells, stmt)
