"""Rigorous interval arithmetic on NumPy arrays, and first/second-order interval jets.

Why float intervals and not arb here: the branch and bound of :mod:`theory.global_min` encloses
the loss over hundreds of thousands of boxes; NumPy evaluates a whole batch of boxes in one
vectorised pass.  Rigour: every operation (+, -, *) on IEEE-754 doubles in round-to-nearest is
correctly rounded, so the exact result lies within half an ulp of the computed one, hence between
``nextafter(computed, -inf)`` and ``nextafter(computed, +inf)``.  Each lower endpoint is moved one
ulp down and each upper endpoint one ulp up after every operation (outward rounding), so an
interval always contains the exact value of the operation applied to any points of its operands.
Overflow gives +-inf (still a valid bound after ``nextafter``); NaN (inf - inf, 0 * inf) is
replaced by the whole line.  Exact float constants (1.0, 2.0) enter as degenerate intervals.

A :class:`Jet` carries the value enclosure of an expression over a box together with enclosures of
its gradient (and optionally Hessian) with respect to m box variables (forward-mode
differentiation in interval arithmetic): the gradient enclosure holds the gradient at every point of
the box, as the mean-value form of the branch and bound requires.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Iv", "Jet", "variables"]

_INF = np.inf


def _out(lo, hi):
    """Outward rounding by one ulp; NaN endpoints become the whole line."""
    lo = np.nextafter(lo, -_INF)
    hi = np.nextafter(hi, _INF)
    lo = np.where(np.isnan(lo), -_INF, lo)
    hi = np.where(np.isnan(hi), _INF, hi)
    return lo, hi


class Iv:
    """Arrays of closed intervals [lo, hi] (float64, broadcasting like NumPy arrays)."""

    __slots__ = ("lo", "hi")

    def __init__(self, lo, hi=None):
        self.lo = np.asarray(lo, dtype=np.float64)
        self.hi = self.lo if hi is None else np.asarray(hi, dtype=np.float64)

    def __add__(self, o):
        if isinstance(o, Iv):
            return Iv(*_out(self.lo + o.lo, self.hi + o.hi))
        return Iv(*_out(self.lo + o, self.hi + o))

    __radd__ = __add__

    def __neg__(self):
        return Iv(-self.hi, -self.lo)

    def __sub__(self, o):
        return self + (-o)

    def __mul__(self, o):
        if isinstance(o, Iv):
            p = (self.lo * o.lo, self.lo * o.hi, self.hi * o.lo, self.hi * o.hi)
        else:
            p = (self.lo * o, self.hi * o)
        lo, hi = p[0], p[0]
        for q in p[1:]:
            lo, hi = np.minimum(lo, q), np.maximum(hi, q)
        return Iv(*_out(lo, hi))

    __rmul__ = __mul__

    def sqr(self):
        """{x^2 : x in X}: 0 is the lower end when the interval holds 0 (tighter than X * X)."""
        a, b = self.lo * self.lo, self.hi * self.hi
        lo = np.where((self.lo <= 0) & (self.hi >= 0), 0.0, np.minimum(a, b))
        lo, hi = _out(lo, np.maximum(a, b))
        return Iv(np.maximum(lo, 0.0), hi)

    def __getitem__(self, k):
        return Iv(self.lo[k], self.hi[k])

    def contains_zero(self):
        return (self.lo <= 0) & (self.hi >= 0)

    def mag(self):
        """max |x| over the interval."""
        return np.maximum(np.abs(self.lo), np.abs(self.hi))


def _outer(g, h):
    """Interval outer product over the leading (variable) axis: (m, ...) x (m, ...) -> (m, m, ...)."""
    return Iv(g.lo[:, None], g.hi[:, None]) * Iv(h.lo[None], h.hi[None])


def _swap(h):
    return Iv(np.swapaxes(h.lo, 0, 1), np.swapaxes(h.hi, 0, 1))


class Jet:
    """(value, gradient, Hessian) enclosures of an expression over a box; g, h may be None (zero)."""

    __slots__ = ("v", "g", "h")

    def __init__(self, v: Iv, g: Iv | None = None, h: Iv | None = None):
        self.v, self.g, self.h = v, g, h

    def __add__(self, o):
        if isinstance(o, Jet):
            return Jet(self.v + o.v, _add(self.g, o.g), _add(self.h, o.h))
        return Jet(self.v + o, self.g, self.h)

    __radd__ = __add__

    def __neg__(self):
        return Jet(
            -self.v, None if self.g is None else -self.g, None if self.h is None else -self.h
        )

    def __sub__(self, o):
        return self + (-o)

    def __mul__(self, o):
        if not isinstance(o, Jet):  # an interval or exact float constant
            return Jet(
                self.v * o,
                None if self.g is None else self.g * o,
                None if self.h is None else self.h * o,
            )
        v = self.v * o.v
        g = _add(_mul(self.v, o.g), _mul(o.v, self.g))
        h = _add(_mul(self.v, o.h), _mul(o.v, self.h))
        if self.g is not None and o.g is not None and (self.h is not None or o.h is not None):
            cross = _outer(self.g, o.g)
            h = _add(h, cross + _swap(cross))
        return Jet(v, g, h)

    __rmul__ = __mul__

    def sqr(self):
        """The square, with the tight value enclosure of :meth:`Iv.sqr`."""
        g = None if self.g is None else self.v * self.g * 2.0
        h = None
        if self.h is not None:
            h = _mul(self.v, self.h) * 2.0 + _outer(self.g, self.g) * 2.0
        return Jet(self.v.sqr(), g, h)


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _mul(v, g):
    return None if g is None else v * g


def variables(x: list[Iv], order: int) -> list[Jet]:
    """Independent variables x_j with exact unit gradients (and zero Hessians if order == 2)."""
    m = len(x)
    out = []
    for j, xj in enumerate(x):
        shape = np.broadcast(xj.lo).shape
        e = np.zeros((m,) + shape)
        e[j] = 1.0
        g = Iv(e) if order >= 1 else None
        h = Iv(np.zeros((m, m) + shape)) if order >= 2 else None
        out.append(Jet(xj, g, h))
    return out
