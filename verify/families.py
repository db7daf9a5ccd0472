"""Parameter families: flat parameter vectors <-> the layers' (P_l, Q_l).

* :class:`Unconstrained` -- every entry of every P_l, Q_l (optionally with entries held at
  zero, e.g. the last row of Q for Theorem 5);
* :class:`GD` -- family (8): ``P_l = [[0,0],[0,1]]``, ``Q_l = -[[A_l,0],[0,0]]``;
* :class:`GDPlusPlus` -- family (11): ``P_l = [[B_l,0],[0,1]]``, ``Q_l = [[A_l,0],[0,0]]``
  (no minus sign, as in the paper's code and figures).

Each family maps ``theta`` (1-D float array) to ``[(P_0, Q_0), ...]`` and pulls a gradient
w.r.t. the (P_l, Q_l) back to a gradient w.r.t. ``theta``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Unconstrained", "GD", "GDPlusPlus", "family_by_name"]


def _last_one(D: int) -> np.ndarray:
    E = np.zeros((D, D))
    E[-1, -1] = 1.0
    return E


@dataclass(frozen=True)
class Unconstrained:
    """All entries of P_l and Q_l; ``q_last_row_zero`` holds Q_l's last row at 0 (Theorem 5)."""

    d: int
    L: int
    q_last_row_zero: bool = False
    name: str = "unconstrained"

    @property
    def size(self) -> int:
        D = self.d + 1
        return self.L * (2 * D * D - (D if self.q_last_row_zero else 0))

    def _q_rows(self) -> int:
        return self.d if self.q_last_row_zero else self.d + 1

    def unpack(self, theta):
        D, r = self.d + 1, self._q_rows()
        out, k = [], 0
        for _ in range(self.L):
            P = theta[k:k + D * D].reshape(D, D)
            k += D * D
            Q = np.zeros((D, D))
            Q[:r] = theta[k:k + r * D].reshape(r, D)
            k += r * D
            out.append((P.copy(), Q))
        return out

    def pullback(self, grads) -> np.ndarray:
        r = self._q_rows()
        return np.concatenate([np.concatenate([dP.ravel(), dQ[:r].ravel()]) for dP, dQ in grads])


@dataclass(frozen=True)
class GD:
    """Family (8): theta holds A_0, ..., A_{L-1} (each d x d, row-major)."""

    d: int
    L: int
    name: str = "gd"

    @property
    def size(self) -> int:
        return self.L * self.d * self.d

    def matrices(self, theta):
        d = self.d
        return [theta[l * d * d:(l + 1) * d * d].reshape(d, d) for l in range(self.L)]

    def unpack(self, theta):
        D = self.d + 1
        out = []
        for A in self.matrices(theta):
            Q = np.zeros((D, D))
            Q[:-1, :-1] = -A
            out.append((_last_one(D), Q))
        return out

    def pullback(self, grads) -> np.ndarray:
        return np.concatenate([-dQ[:-1, :-1].ravel() for _, dQ in grads])


@dataclass(frozen=True)
class GDPlusPlus:
    """Family (11): theta holds A_0..A_{L-1} then B_0..B_{L-1} (each d x d, row-major)."""

    d: int
    L: int
    name: str = "gdpp"

    @property
    def size(self) -> int:
        return 2 * self.L * self.d * self.d

    def matrices(self, theta):
        d, L = self.d, self.L
        A = [theta[l * d * d:(l + 1) * d * d].reshape(d, d) for l in range(L)]
        B = [theta[(L + l) * d * d:(L + l + 1) * d * d].reshape(d, d) for l in range(L)]
        return A, B

    def unpack(self, theta):
        D = self.d + 1
        out = []
        for A, B in zip(*self.matrices(theta)):
            P = _last_one(D)
            P[:-1, :-1] = B
            Q = np.zeros((D, D))
            Q[:-1, :-1] = A
            out.append((P, Q))
        return out

    def pullback(self, grads) -> np.ndarray:
        gA = [dQ[:-1, :-1].ravel() for _, dQ in grads]
        gB = [dP[:-1, :-1].ravel() for dP, _ in grads]
        return np.concatenate(gA + gB)


def family_by_name(name: str, d: int, L: int):
    """Look up a family by its name: ``unconstrained``, ``gd`` (8) or ``gdpp`` (11)."""
    table = {"unconstrained": Unconstrained, "gd": GD, "gdpp": GDPlusPlus}
    if name not in table:
        raise ValueError(f"family must be one of {sorted(table)}; got {name!r}")
    return table[name](d, L)
