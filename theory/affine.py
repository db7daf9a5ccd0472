"""Rigorous affine arithmetic on NumPy arrays (vectorised over boxes) for the branch and bound.

A quantity over a box z in [m - r, m + r] (componentwise; eps_k = (z_k - m_k) / r_k in [-1, 1]) is

    x = c + sum_k a_k eps_k + delta,   |delta| <= e,

so linear dependencies on the box variables are kept exactly (no wrapping when x = x0 + A z) and
the enclosure error of a product is second order in the box width (Comba & Stolfi 1993; de
Figueiredo & Stolfi 2004).  Rounding: c and a_k are floats computed in round-to-nearest; every
rounding error (at most 2^-53 of the result, plus 2^-1075 for underflow) is bounded above and added to
e, and e itself is accumulated with upward rounding (a relative margin 2^-45 on every sum and product
of nonnegative bounds, which exceeds their rounding), so the
true value of the operation on any point of the box always lies in the form's range.

Square: x^2 = c^2 + 2 c lin + 2 c delta + (lin + delta)^2 with 0 <= (lin + delta)^2 <= R^2,
R = sum |a_k| + e; the nonnegative remainder is centred at R^2 / 2 (half the width of the generic
product rule).  Shapes: c, e (S); a (5, S) with the box variables on the leading axis.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Aff", "box_variables"]

_U = 4.5e-16  # > 2 * 2^-53 (1 + 2^-52): two roundings of products and one of their sum
_ETA = 1e-300  # far above the underflow error 2^-1075 of one operation
_F = 1.0 + 2.0**-45  # covers the relative rounding (<= n 2^-53, n <= 16 terms) of a computed sum


def _up(x):
    return np.nextafter(x, np.inf)


def _dn(x):
    return np.nextafter(x, -np.inf)


def _rnd(x):
    """Upper bound of the rounding error of a computed float (array) x: 4.5e-16 |x| + 1e-300."""
    return np.abs(x) * _U + _ETA


def _sum_up(*terms):
    """Upper bound of the exact sum of the nonnegative quantities bounded by ``terms`` (<= 16).

    The computed sum of n nonnegative floats exceeds the exact one by a factor at most
    1 + n 2^-53 (plus underflow); the product with _F (itself rounded, >= 1 + 2^-46) covers both.
    """
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    return out * _F + len(terms) * _ETA


def _mul_up(x, y):
    """Upper bound of x * y for nonnegative x, y."""
    return x * y * _F + _ETA


class Aff:
    """Affine forms c + a . eps + [-e, e] (arrays)."""

    __slots__ = ("c", "a", "e")

    def __init__(self, c, a, e):
        self.c, self.a, self.e = c, a, e

    def rad(self):
        """Upper bound of sum |a_k| + e (the form's radius around c)."""
        return _sum_up(*list(np.abs(self.a)), self.e)

    def lower(self):
        return _dn(self.c - self.rad())

    def upper(self):
        return _up(self.c + self.rad())

    def __add__(self, o):
        if isinstance(o, Aff):
            c, a = self.c + o.c, self.a + o.a
            e = _sum_up(self.e, o.e, _rnd(c), _rnd(a).sum(axis=0) * 1.0000001)
            return Aff(c, a, e)
        c = self.c + o  # exact float constant
        return Aff(c, self.a, _sum_up(self.e, _rnd(c)))

    __radd__ = __add__

    def scale(self, s: float):
        """Product with an exact float s."""
        c, a = self.c * s, self.a * s
        e = _sum_up(_mul_up(self.e, abs(s)), _rnd(c), _rnd(a).sum(axis=0) * 1.0000001)
        return Aff(c, a, e)

    def mul_interval(self, lo, hi):
        """Product with a constant known to lie in [lo, hi] (arrays broadcasting against c)."""
        m = 0.5 * (lo + hi)
        r = np.maximum(_up(hi - m), _up(m - lo))
        out = self.scale_array(m)
        return Aff(out.c, out.a, _sum_up(out.e, _mul_up(r, _sum_up(np.abs(self.c), self.rad()))))

    def add_interval(self, lo, hi):
        m = 0.5 * (lo + hi)
        r = np.maximum(_up(hi - m), _up(m - lo))
        c = self.c + m
        return Aff(c, self.a + 0.0 * m, _sum_up(self.e, _rnd(c), r))

    def scale_array(self, s):
        c, a = self.c * s, self.a * s
        e = _sum_up(_mul_up(self.e, np.abs(s)), _rnd(c), _rnd(a).sum(axis=0) * 1.0000001)
        return Aff(c, a, e)

    def __mul__(self, o):
        c = self.c * o.c
        a = self.a * o.c + o.a * self.c
        ac = np.abs(self.c)
        oc = np.abs(o.c)
        lin_err = (np.abs(o.a) * ac + np.abs(self.a) * oc).sum(axis=0) * 1.0000001
        e = _sum_up(
            _mul_up(ac, o.e),
            _mul_up(oc, self.e),
            _mul_up(self.rad(), o.rad()),
            _rnd(c),
            _mul_up(lin_err, _U),
            np.full_like(c, 10 * _ETA),
        )
        return Aff(c, a, e)

    def sqr(self):
        R = self.rad()
        h = _mul_up(R, R) * 0.5  # exact halving of the upper bound of R^2 (no underflow here)
        c0 = self.c * self.c
        c = c0 + h
        a = self.a * (2.0 * self.c)
        e = _sum_up(
            _mul_up(2.0 * np.abs(self.c), self.e),
            h,
            _rnd(c0),
            _rnd(c),
            _rnd(a).sum(axis=0) * 1.0000001,
            np.full_like(c, 10 * _ETA),
        )
        return Aff(c, a, e)


def box_variables(lo, hi):
    """Forms of the box variables z_k over [lo, hi] (shape (B, m)): z_k = m_k + r_k eps_k.

    Shapes c, e (1, B) and a (m, 1, B), ready to broadcast against per-node constants (N, 1).
    """
    m = 0.5 * (lo + hi)
    r = np.maximum(_up(hi - m), _up(m - lo))
    nvar, B = lo.shape[1], lo.shape[0]
    out = []
    for k in range(nvar):
        a = np.zeros((nvar, B))
        a[k] = r[:, k]
        out.append(Aff(m[:, k][None].copy(), a[:, None, :], np.zeros((1, B))))
    return out
