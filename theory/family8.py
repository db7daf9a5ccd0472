"""Family (8) on S: every real critical point, pattern by pattern, with a completeness proof.

On S, phi_L(a) = d int q(s)^2 dmu, q(s) = prod_l (1 - a_l s), mu the expected spectral measure
of S_hat (:mod:`theory.spectral`: infinitely many support points in [0, inf)).

Lemma A (no zero step sizes).  d phi / d a_j = -2 d int s q q_j dmu with q_j = q / (1 - a_j s);
if a_j = 0 then q_j = q and the derivative is -2 d int s q^2 dmu < 0.

Lemma B (structure).  Let c_1..c_r be the distinct values of the a_l with multiplicities
m_1..m_r, u = prod_i (1 - c_i s)^{m_i - 1}, v = prod_i (1 - c_i s) (q = u v).  Since the
v / (1 - c_i s) are a basis of the polynomials of degree < r,

    grad phi = 0  <=>  int s u^2 v t dmu = 0 for every deg t < r,

i.e. v = pi_r / pi_r(0), pi_r the degree-r orthogonal polynomial of nu = s u^2 mu.

Lemma C (reduction to the repeated values).  Let c_1..c_k be the repeated values (m_i >= 2),
u1 = prod_{i <= k} (1 - c_i s) and v = u1 w (w collects the r - k simple values).  Every
polynomial of degree < r is u1 t + t' with deg t < r - k and deg t' < k, so the condition of
Lemma B splits into
 (i)  w is orthogonal to all degree < r - k polynomials for nu'' = s u^2 u1^2 mu (a positive
      measure for real c): w is proportional to the Hankel-determinant polynomial
      W(s) = det [[nu''_{i+j}]_{i < r-k, j <= r-k}; (1, s, .., s^{r-k})], whose leading
      coefficient is a positive Hankel determinant;
 (ii) E_t(c) := int s^{1+t} u^2 u1 W dmu = 0 for t = 0..k-1.
So the critical points with a given pattern are the real solutions c of the k x k polynomial
system (ii) with distinct nonzero c_i, completed by the r - k (real, simple, positive) roots of
W.  Repeated values of equal multiplicity enter through their elementary symmetric functions
(U(s) = prod (1 - c_i s) = 1 - e_1 s + e_2 s^2 - ...), which removes the spurious diagonal
c_i = c_j and the permutation copies.  k = 0 is the single point v = pi_L(s mu): the kernel
polynomial, the global minimiser on S.

The k x k systems (k <= 3 for L <= 6) are solved completely by :func:`theory.polysys.solve_real`
(exact resultants, real-root isolation, Krawczyk); each resulting point is then certified in
a-space by :mod:`theory.certify`.  Paper: Theorem 3 (eq. 10), Lemma 4.
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
from flint import arb, ctx, fmpq, fmpq_mpoly_ctx

from theory.polysys import solve_real
from theory.spectral import spectral_moments

__all__ = ["PatternResult", "partitions", "pattern_points"]


def partitions(L: int):
    """Partitions of L as non-increasing tuples (multiplicity patterns of the a_l)."""

    def rec(rem, cap):
        if rem == 0:
            yield ()
            return
        for first in range(min(rem, cap), 0, -1):
            for tail in rec(rem - first, first):
                yield (first,) + tail

    return list(rec(L, L))


@dataclass
class PatternResult:
    """Candidate points of one pattern: a-multisets (mpf, sorted), completeness and its statement."""

    pattern: tuple
    points: list
    complete: bool
    statement: str


def _det(M):
    """Determinant of a small square matrix of polynomials (Laplace expansion, exact)."""
    if len(M) == 1:
        return M[0][0]
    out = None
    for j in range(len(M)):
        minor = [row[:j] + row[j + 1 :] for row in M[1:]]
        term = M[0][j] * _det(minor)
        out = term if out is None else (out + term if j % 2 == 0 else out - term)
    return out


class _Calculus:
    """Polynomials in (unknowns, s) and the moment functional t(s) -> int t dmu (exact)."""

    def __init__(self, names, n, d, max_degree):
        self.ctx = fmpq_mpoly_ctx.get(tuple(names) + ("s",), "lex")
        self.out = fmpq_mpoly_ctx.get(tuple(names), "lex") if names else None
        self.gens = self.ctx.gens()
        self.s = self.gens[-1]
        self.mu = [fmpq(m.numerator, m.denominator) for m in spectral_moments(n, d, max_degree + 1)]

    def integrate(self, poly):
        """int poly dmu as a polynomial in the unknowns (s integrated out)."""
        acc: dict = {}
        for exps, c in poly.terms():
            key = tuple(exps[:-1])
            acc[key] = acc.get(key, 0) + c * self.mu[exps[-1]]
        return self.out.from_dict({k: v for k, v in acc.items() if v != 0})


def _groups(pattern):
    """Repeated multiplicities and how many values share each: [(m, g), ...], m descending."""
    reps = [m for m in pattern if m >= 2]
    return [(m, reps.count(m)) for m in sorted(set(reps), reverse=True)]


def _system(pattern, n, d):
    """Unknown names, the equations E_t of Lemma C, W(s), and the U polynomials per group."""
    L, r = sum(pattern), len(pattern)
    groups = _groups(pattern)
    k = sum(g for _, g in groups)
    names = [f"e{m}_{i + 1}" for m, g in groups for i in range(g)]
    C = _Calculus(names, n, d, 4 * L + 2)
    s, one = C.s, C.ctx.from_dict({(0,) * (len(names) + 1): 1})
    u, u1, Us, pos = one, one, [], 0
    for m, g in groups:
        U = one
        for i in range(g):
            U += (-1) ** (i + 1) * C.gens[pos + i] * s ** (i + 1)
        pos += g
        Us.append((m, g, U))
        u, u1 = u * U ** (m - 1), u1 * U
    h = r - k
    if h:
        nu = [C.integrate(s ** (1 + j) * u**2 * u1**2) for j in range(2 * h)]
        nu = [C.ctx.from_dict({tuple(e) + (0,): c for e, c in x.terms()}) for x in nu]
        rows = [[nu[i + j] for j in range(h + 1)] for i in range(h)]
        W = _det(rows + [[s**j for j in range(h + 1)]])
    else:
        W = one
    eqs = [C.integrate(s ** (1 + t) * u**2 * u1 * W) for t in range(k)]
    return names, eqs, W, Us, C


def _roots_mp(coeffs_high_first):
    """All complex roots (mpmath) of a polynomial given by mpf coefficients, highest first."""
    return mpmath.polyroots(coeffs_high_first, maxsteps=400, extraprec=4 * mpmath.mp.prec)


def _group_values(U_coeffs_e, g):
    """c values of one group from (e_1..e_g) as mpf: roots of x^g - e1 x^{g-1} + e2 x^{g-2} - ..."""
    coeffs = [mpmath.mpf(1)] + [(-1) ** (i + 1) * U_coeffs_e[i] for i in range(g)]
    return sorted(mpmath.re(z) for z in _roots_mp(coeffs))


def _real_rooted(e_ball, g, prec) -> int:
    """+1 if x^g - e1 x^{g-1} + ... has g distinct real roots for all e in the balls, -1 if not, 0 unknown."""
    if g == 1:
        return 1
    with ctx.workprec(prec):
        e = e_ball
        if g == 2:
            D = e[0] ** 2 - 4 * e[1]
        elif g == 3:
            # discriminant of x^3 + b x^2 + c x + d with b = -e1, c = e2, d = -e3
            b, c, dd = -e[0], e[1], -e[2]
            D = 18 * b * c * dd - 4 * b**3 * dd + b**2 * c**2 - 4 * c**3 - 27 * dd**2
        else:
            raise ValueError(
                f"groups of {g} equal multiplicities need L >= {2 * g + 2}; not supported"
            )
        return 1 if D > 0 else (-1 if D < 0 else 0)


def pattern_points(pattern, n: int, d: int, dps: int, prec: int = 400) -> PatternResult:
    """Candidate critical points (sorted a-multisets, mpf at dps) of phi_L with this pattern.

    Every critical point of the pattern is in the list when ``complete`` is True (Lemmas A-C and
    :func:`theory.polysys.solve_real`); the caller certifies each point in a-space.
    """
    pattern = tuple(sorted(pattern, reverse=True))
    L, r = sum(pattern), len(pattern)
    if all(m == 1 for m in pattern):
        return _distinct_pattern(L, n, d, dps)
    _, eqs, W, Us, C = _system(pattern, n, d)
    last = []  # index of e_g per group: c = 0 for some value of the group iff e_g = 0
    pos = 0
    for _, g, _ in Us:
        pos += g
        last.append(pos - 1)
    lemma_a = "an exactly zero step size (e_g = 0), never critical by Lemma A"
    sol = solve_real(
        eqs, prec=prec, skip=lambda cell: lemma_a if any(cell[i].is_zero() for i in last) else None
    )
    points, undecided = [], 0
    with mpmath.workdps(dps):
        for K in sol.solutions:
            pos, values, ok = 0, [], True
            for m, g, _ in Us:
                e_ball = K[pos : pos + g]
                rr = _real_rooted(e_ball, g, prec)
                if rr == 0:
                    undecided += 1
                if rr != 1:
                    ok = False
                    break
                e_mp = [mpmath.mpf(str(x.mid().str(dps + 10, radius=False))) for x in e_ball]
                cs = [e_mp[0]] if g == 1 else _group_values(e_mp, g)
                if any(abs(c) < mpmath.mpf(10) ** (-dps // 2) for c in cs):
                    ok = False  # Lemma A: not a critical point (a zero step size)
                    break
                values += [(c, m) for c in cs]
                pos += g
            if not ok:
                continue
            simple = _simple_values(W, C, [x.mid() for x in K], r - len(values), dps)
            a = sorted([c for c, m in values for _ in range(m)] + simple)
            points.append(tuple(a))
    stmt = f"pattern {pattern}: {sol.statement}"
    if undecided:
        stmt += f"; {undecided} solutions with undecided real-rootedness"
    return PatternResult(pattern, points, sol.complete and not undecided, stmt)


def _simple_values(W, C, e_mid, h, dps):
    """The h simple step sizes: 1 / roots of W(s) at the repeated values (mpf)."""
    if h == 0:
        return []
    e_q = [_arb_to_mpf(x, dps) for x in e_mid]
    coeffs = [mpmath.mpf(0)] * (h + 1)
    for exps, c in W.terms():
        val = mpmath.mpf(int(c.p)) / int(c.q)
        for x, e in zip(e_q, exps[:-1]):
            val *= x ** int(e)
        coeffs[int(exps[-1])] += val
    roots = _roots_mp(list(reversed(coeffs)))
    return [1 / mpmath.re(z) for z in roots]


def _arb_to_mpf(x: arb, dps):
    man, exp = x.mid().man_exp()
    return mpmath.ldexp(mpmath.mpf(int(man)), int(exp))


def _distinct_pattern(L, n, d, dps):
    """k = 0: v = pi_L(s mu), its roots isolated exactly (the kernel-polynomial point)."""
    from flint import fmpq_poly, fmpz_poly

    mu = [fmpq(m.numerator, m.denominator) for m in spectral_moments(n, d, 2 * L + 2)]
    ctx1 = fmpq_mpoly_ctx.get(("s",), "lex")
    (s,) = ctx1.gens()
    rows = [[ctx1.from_dict({(0,): mu[i + j + 1]}) for j in range(L + 1)] for i in range(L)]
    pi = _det(rows + [[s**j for j in range(L + 1)]])
    coeffs = {e[0]: c for e, c in pi.terms()}
    P = fmpq_poly([coeffs.get(j, 0) for j in range(L + 1)])
    num = fmpz_poly([int(c * P.denom()) for c in P.coeffs()])
    with ctx.workprec(int(dps * 3.4) + 64):
        roots = [c.real for c, _ in num.complex_roots() if c.imag.is_zero()]
    if len(roots) != L:
        raise ValueError(f"pi_L(s mu) should have {L} real roots; found {len(roots)}")
    with mpmath.workdps(dps):
        a = sorted(1 / _arb_to_mpf(x, dps) for x in roots)
    return PatternResult(
        (1,) * L,
        [tuple(a)],
        True,
        f"pattern {(1,) * L}: v = pi_{L}(s mu), {L} real roots isolated exactly (unique point)",
    )


def all_patterns(L: int, n: int, d: int, dps: int):
    """PatternResult for every partition of L."""
    return [pattern_points(p, n, d, dps) for p in partitions(L)]
