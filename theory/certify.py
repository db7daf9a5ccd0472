"""Rigorous certificates for zeros of polynomial systems over QQ, in ball arithmetic.

Existence and uniqueness (Krawczyk).  For F: R^m -> R^m polynomial with Jacobian J, a box X
(one ball per coordinate), a point x in X and any real matrix Y,

    K(X) = x - Y F(x) + (I - Y J(X)) (X - x),

where J(X) encloses J over X.  If K(X) lies in the interior of X, then F has exactly one zero in
X, and it lies in K(X) (Krawczyk 1969; Neumaier, Interval Methods for Systems of Equations,
Thm. 5.1.8).  We take Y = a rounded inverse of the midpoint of J(x).

Kind (Hessian inertia).  For a symmetric matrix enclosure H(X), :func:`eigenvalue_bounds`
encloses the eigenvalues of every matrix in it (Gershgorin after an approximate
diagonalisation, Sylvester's inertia and Ostrowski's theorem); a point is a certified minimum when
every enclosure is > 0, a saddle when some are > 0 and some < 0, and uncertified when one holds 0.
(flint's acb_mat.eig fails to isolate the double eigenvalues that the layer permutation symmetry
forces at points with a value repeated three times; Gershgorin discs do not need isolation.)

Why python-flint's arb and not mpmath.iv: arb balls carry a midpoint at the working precision
and a small radius, so a box of radius 1e-40 around a 100-digit midpoint stays tight through the
O(1e24) cancellations of the monomial form of phi at L = 3 (mpmath.iv's endpoint intervals
double the cost and have no verified eigenvalue routine); flint also gives exact fmpq_mpoly
algebra (derivatives, resultants) and verified polynomial root isolation in the same library.
Measured on this package's family (11) L = 3 gradient (5 polynomials): one Krawczyk test in
arb at 400 bits takes well under a second.

Paper reference: Theorems 3, 4 (eqs. 10, 12) assert critical points exist; these certificates
prove each listed one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import mpmath
from flint import arb, arb_mat, ctx, fmpq

__all__ = [
    "Certificate",
    "MpolyEvaluator",
    "eigenvalue_bounds",
    "inertia_kind",
    "krawczyk",
    "to_fmpq",
]

#: Working precision (bits) of every certificate: 400 bits ~ 120 digits.
PREC = 400


def to_fmpq(x) -> fmpq:
    """Exact rational value of an mpf, Fraction, int, fmpq or decimal string."""
    if isinstance(x, fmpq):
        return x
    if isinstance(x, (int, Fraction)):
        x = Fraction(x)
        return fmpq(x.numerator, x.denominator)
    if isinstance(x, str):
        x = mpmath.mpf(x)
    if isinstance(x, mpmath.mpf):
        sign, man, exp, _ = mpmath.mpf(x)._mpf_
        if not mpmath.isfinite(x):
            raise ValueError(f"to_fmpq needs a finite number; got {x}")
        man = -int(man) if sign else int(man)
        return fmpq(man * 2**exp) if exp >= 0 else fmpq(man, 2 ** (-exp))
    if isinstance(x, float):
        return to_fmpq(mpmath.mpf(x))
    raise ValueError(
        f"to_fmpq needs an mpf, Fraction, int, fmpq, float or str; got {type(x).__name__}"
    )


class MpolyEvaluator:
    """Evaluate fmpq_mpoly's at arb points (term lists cached per precision).

    poly(x) = sum_terms c * prod x_i^e_i with each term enclosed in ball arithmetic, so the result
    encloses the polynomial's range over the box x (a naive but valid enclosure: tight for small
    boxes at high precision).
    """

    def __init__(self, polys):
        self.polys = list(polys)
        self._terms = [
            [(tuple(int(e) for e in exps), c) for exps, c in p.terms()] for p in self.polys
        ]
        self._coeff_cache: dict = {}

    def _coeffs(self, prec):
        if prec not in self._coeff_cache:
            with ctx.workprec(prec):
                self._coeff_cache[prec] = [[arb(c) for _, c in terms] for terms in self._terms]
        return self._coeff_cache[prec]

    def __call__(self, x, prec=PREC):
        """[p(x) for p in polys] as arb balls; x a sequence of arb."""
        coeffs = self._coeffs(prec)
        with ctx.workprec(prec):
            powers: dict = {}

            def pw(i, e):
                # by repeated products: arb ** int is nan on balls that contain 0 (python-flint 0.9)
                key = (i, e)
                if key not in powers:
                    powers[key] = x[i] if e == 1 else pw(i, e // 2) * pw(i, e - e // 2)
                return powers[key]

            out = []
            for terms, cs in zip(self._terms, coeffs):
                total = arb(0)
                for (exps, _), c in zip(terms, cs):
                    t = c
                    for i, e in enumerate(exps):
                        if e:
                            t = t * pw(i, e)
                    total += t
                out.append(total)
            return out


@dataclass
class Certificate:
    """Record of a Krawczyk test: box radius, method, result and the enclosure it proved."""

    certified: bool
    method: str
    box_radius: float
    precision_bits: int
    enclosure_radius: float = float("inf")
    contraction: float = float("inf")
    reason: str = ""
    eigenvalue_bounds: dict = field(default_factory=dict)

    def as_record(self) -> dict:
        return {
            "certified": self.certified,
            "method": self.method,
            "box_radius": self.box_radius,
            "precision_bits": self.precision_bits,
            "enclosure_radius": self.enclosure_radius,
            "contraction": self.contraction,
            "reason": self.reason,
            "eigenvalue_bounds": self.eigenvalue_bounds,
        }


def _arb_float_upper(x: arb) -> float:
    return float(abs(x).upper())


def krawczyk(F, J, center, radius, prec: int = PREC):
    """Krawczyk test on the box center +- radius (every coordinate).

    F(x, prec): enclosures of the m equations at a list x of arb (e.g. an MpolyEvaluator);
    J(x, prec): enclosures of the m*m Jacobian entries over x (row-major).
    center: m exact rationals (fmpq) or mpf; radius: a float or an mpf (absolute, per coordinate).
    Returns (Certificate, K) with K the enclosure (list of arb) of the unique zero when certified.
    """
    m = len(center)
    with ctx.workprec(prec):
        x = [arb(to_fmpq(c)) for c in center]
        r = arb(to_fmpq(mpmath.mpf(radius)))
        X = [xi + arb(0, r) for xi in x]
        Fx = arb_mat([[v] for v in F(x, prec)])
        JX = arb_mat(m, m, J(X, prec))
        Jx = arb_mat(m, m, J(x, prec))
        try:
            Y = arb_mat([[arb(v.mid()) for v in row] for row in Jx.mid().inv().tolist()])
        except (ZeroDivisionError, ValueError):
            return Certificate(
                False,
                "Krawczyk (arb)",
                float(radius),
                prec,
                reason="singular Jacobian at the center",
            ), None
        dX = arb_mat([[arb(0, r)] for _ in range(m)])
        C = arb_mat([[1 if i == j else 0 for j in range(m)] for i in range(m)]) - Y * JX
        K = [x[i] + v for i, v in enumerate((-(Y * Fx) + C * dX).entries())]
        contraction = max(sum(_arb_float_upper(C[i, j]) for j in range(m)) for i in range(m))
        inside = all(X[i].contains_interior(K[i]) for i in range(m))
        enc = max(_arb_float_upper(K[i] - x[i]) for i in range(m))
        reason = "K(X) inside the interior of X" if inside else "K(X) not inside X"
        return Certificate(
            inside,
            "Krawczyk (arb)",
            float(radius),
            prec,
            enclosure_radius=enc,
            contraction=contraction,
            reason=reason,
        ), (K if inside else None)


def eigenvalue_bounds(H: arb_mat, prec: int = PREC) -> list[tuple[float, float, int]] | None:
    """Verified enclosures of the eigenvalues of every symmetric matrix in the enclosure H.

    Method: V = approximate eigenvectors of the midpoint (float64 eigh; mpmath eigsy at the
    working precision when a float disc cannot decide a sign), taken as exact rationals;
    M = V^T H V in ball arithmetic; Gershgorin discs of M enclose its eigenvalues (a union of c
    overlapping discs holds exactly c of them).  By Sylvester's law of inertia M and H have the
    same signs of eigenvalues; by Ostrowski's theorem lambda_k(M) = theta_k lambda_k(H) with
    theta_k in [1 - e, 1 + e], e = ||V^T V - I||_inf, which rescales the bounds.  Handles
    repeated eigenvalues (forced by the permutation symmetry of Lemma 4).
    Returns sorted (lo, hi, sign) triples per disc (sign decided in ball arithmetic: +1 if the
    disc is > 0, -1 if < 0, 0 if it holds 0); None if V is not numerically orthogonal.
    """
    m = H.nrows()
    with mpmath.workdps(int(prec / 3.4)):
        M0 = mpmath.matrix(
            [
                [mpmath.mpf(H[i, j].mid().str(int(prec / 3.4), radius=False)) for j in range(m)]
                for i in range(m)
            ]
        )
    # float64 eigenvectors first (discs ~1e-16 ||H|| wide: enough whenever no eigenvalue is that
    # close to 0); the 120-digit mpmath ones only if a disc still holds 0.  Either V is valid:
    # the enclosure does not depend on how V was found.
    out = _gershgorin(H, _float_eigenvectors(M0, m), prec)
    if out is None or any(sign == 0 for *_, sign in out):
        out = _gershgorin(H, _mp_eigenvectors(M0, m, prec), prec)
    return out


def _float_eigenvectors(M0, m):
    import numpy as np

    _, V1 = np.linalg.eigh(np.array([[float(M0[i, j]) for j in range(m)] for i in range(m)]))
    return [[to_fmpq(float(V1[i, j])) for j in range(m)] for i in range(m)]


def _mp_eigenvectors(M0, m, prec):
    with mpmath.workdps(int(prec / 3.4)):
        try:
            _, V0 = mpmath.eigsy(M0)
            return [[to_fmpq(V0[i, j]) for j in range(m)] for i in range(m)]
        except RuntimeError:  # QL iteration stalls on some exactly structured matrices
            return _float_eigenvectors(M0, m)


def _gershgorin(H, Vq, prec):
    """Sorted (lo, hi, sign) eigenvalue enclosures of H from approximate eigenvectors Vq
    (exact rationals): Gershgorin discs of V^T H V rescaled by Ostrowski's theorem; None if V
    is not numerically orthogonal."""
    m = H.nrows()
    with ctx.workprec(prec):
        V = arb_mat(m, m, [arb(v) for row in Vq for v in row])
        M = V.transpose() * H * V
        G = V.transpose() * V
        e = max(sum(abs(G[i, j] - (1 if i == j else 0)) for j in range(m)) for i in range(m))
        if not e < 0.5:
            return None
        out = []
        for i in range(m):
            r = sum((abs(M[i, j]) for j in range(m) if j != i), arb(0))
            lo, hi = M[i, i] - r, M[i, i] + r
            lo = lo / (1 - e) if lo < 0 else lo / (1 + e)
            hi = hi / (1 + e) if hi < 0 else hi / (1 - e)
            lo_b, hi_b = arb(lo.lower()), arb(hi.upper())
            sign = 1 if lo_b > 0 else (-1 if hi_b < 0 else 0)
            out.append((float(lo_b), float(hi_b), sign))
        return sorted(out)


def inertia_kind(bounds) -> str:
    """'minimum', 'maximum', 'saddle' from eigenvalue enclosures; 'undetermined' if one holds 0."""
    if bounds is None or any(sign == 0 for *_, sign in bounds):
        return "undetermined"
    signs = {sign for *_, sign in bounds}
    return "minimum" if signs == {1} else ("maximum" if signs == {-1} else "saddle")
