"""Parameter families: the paper's families (8) and (11) as objects, and their parametrisations.

* :class:`Family` -- one object per family of the paper (:data:`FAMILY8`, :data:`FAMILY11`):
  its equation, sign convention, blocks, fast evaluator (:mod:`verify.training.multilayer`) and exact
  loss on S (:mod:`theory.restricted`, :mod:`theory.critical`, keyed by the equation number).
  Theory-facing code, trainers and reports all take a :class:`Family`, never a name.
* Parametrisations of ``theta`` (1-D float array) for a given (d, L), each mapping ``theta`` to
  ``[(P_0, Q_0), ...]`` and pulling a gradient w.r.t. the (P_l, Q_l) back to ``theta``:
  :class:`Unconstrained` (every entry of every P_l, Q_l, optionally Q_l's last row held at 0,
  Theorem 5), :class:`GD` (family (8): ``P_l = [[0,0],[0,1]]``, ``Q_l = -[[A_l,0],[0,0]]``) and
  :class:`GDPlusPlus` (family (11): ``P_l = [[B_l,0],[0,1]]``, ``Q_l = [[A_l,0],[0,0]]``, no minus
  sign, as in the paper's figures; the official code's Q block is A_l^T).

Conventions (tokens as columns, the 1/n factor, the read-out sign, the code's transposed Q
block): :mod:`verify.conventions`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Family",
    "FAMILY8",
    "FAMILY11",
    "FAMILIES",
    "as_family",
    "Unconstrained",
    "GD",
    "GDPlusPlus",
]


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
            P = theta[k : k + D * D].reshape(D, D)
            k += D * D
            Q = np.zeros((D, D))
            Q[:r] = theta[k : k + r * D].reshape(r, D)
            k += r * D
            out.append((P.copy(), Q))
        return out

    def pullback(self, grads) -> np.ndarray:
        r = self._q_rows()
        return np.concatenate([np.concatenate([dP.ravel(), dQ[:r].ravel()]) for dP, dQ in grads])

    def block_sizes(self) -> list:
        """Sizes of theta's per-matrix blocks, in order (P_0, Q_0, P_1, ...)."""
        D = self.d + 1
        return [D * D, self._q_rows() * D] * self.L


@dataclass(frozen=True)
class GD:
    """Family (8): theta holds A_0, ..., A_{L-1} (each d x d, row-major)."""

    d: int
    L: int
    name: str = "gd"

    @property
    def family(self) -> "Family":
        return FAMILY8

    def block_sizes(self) -> list:
        """Sizes of theta's per-matrix blocks: A_0, ..., A_{L-1}."""
        return [self.d * self.d] * self.L

    @property
    def size(self) -> int:
        return self.L * self.d * self.d

    def matrices(self, theta):
        d = self.d
        return [theta[l * d * d : (l + 1) * d * d].reshape(d, d) for l in range(self.L)]

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
    def family(self) -> "Family":
        return FAMILY11

    def block_sizes(self) -> list:
        """Sizes of theta's per-matrix blocks: A_0, ..., A_{L-1}, B_0, ..., B_{L-1}."""
        return [self.d * self.d] * (2 * self.L)

    @property
    def size(self) -> int:
        return 2 * self.L * self.d * self.d

    def matrices(self, theta):
        d, L = self.d, self.L
        A = [theta[l * d * d : (l + 1) * d * d].reshape(d, d) for l in range(L)]
        B = [theta[(L + l) * d * d : (L + l + 1) * d * d].reshape(d, d) for l in range(L)]
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


@dataclass(frozen=True)
class Family:
    """A parameter family of the paper: equation, sign convention, blocks, evaluator, exact loss.

    ``theta`` of L layers holds A_0, ..., A_{L-1} (each d x d, row-major) and, when ``has_B``,
    then B_0, ..., B_{L-1}.  ``sign`` is the sign in ``Q_l = sign [[A_l,0],[0,0]]``: -1 for
    eq. (8), +1 for eq. (11) (so a family-(8) a_l is minus the family-(11) a_l on the same
    model).  ``equation`` ("8" / "11") is also the key of the exact code in :mod:`theory`.
    """

    equation: str
    name: str
    sign: float
    has_B: bool
    P_form: str
    Q_form: str
    parametrisation: type

    @property
    def title(self) -> str:
        return f"family ({self.equation})"

    def matrices_per_layer(self) -> int:
        return 2 if self.has_B else 1

    def size(self, d: int, L: int) -> int:
        return self.matrices_per_layer() * L * d * d

    def params(self, d: int, L: int):
        """The parametrisation theta <-> [(P_l, Q_l)] for dimension d and L layers."""
        return self.parametrisation(d, L)

    def split(self, theta, d: int, L: int):
        """(A_l as stored in theta, B_l or zeros): two (L, d, d) arrays."""
        mats = np.asarray(theta).reshape(-1, d, d)
        return mats[:L], (mats[L : 2 * L] if self.has_B else np.zeros_like(mats[:L]))

    def layer_permutation(self, perm) -> list:
        """Indices of theta's d x d blocks after permuting the layers by ``perm``."""
        L = len(perm)
        return list(perm) + ([L + i for i in perm] if self.has_B else [])

    # -- evaluators on per-prompt summaries (verify.training.multilayer) --------------------------
    def objective(self, L: int, sm):
        """theta -> (loss, gradient) of the sample loss on summaries ``sm``."""
        from .training.multilayer import FamilyObjective

        return FamilyObjective(self, L, sm)

    def resjac(self, L: int, sm):
        """theta, jacobian -> (residuals, Jacobian or None) on summaries ``sm``."""
        from .training.multilayer import resjac

        return resjac(self, L, sm)

    # -- exact mathematics (theory/, keyed by the equation number) ------------------------
    def restricted_loss(self, L: int, n: int, d: int):
        """phi_L on S (:class:`theory.restricted.RestrictedLoss`), exact Wishart moments."""
        from theory.restricted import RestrictedLoss

        return RestrictedLoss(self.equation, L, n, d)

    def critical_points(self, L: int, n: int, d: int, **kw):
        """The critical points of phi_L on S (:func:`theory.critical.critical_points`)."""
        from theory.critical import critical_points

        return critical_points(self.equation, L, n, d, **kw)


FAMILY8 = Family("8", "gd", -1.0, False, "P_l = [[0,0],[0,1]]", "Q_l = -[[A_l,0],[0,0]]", GD)
FAMILY11 = Family(
    "11", "gdpp", 1.0, True, "P_l = [[B_l,0],[0,1]]", "Q_l = [[A_l,0],[0,0]]", GDPlusPlus
)
FAMILIES = (FAMILY8, FAMILY11)


def as_family(family) -> Family:
    """A :class:`Family`, given one or (for older callers) its short name or equation number."""
    if isinstance(family, Family):
        return family
    for f in FAMILIES:
        if family in (f.name, f.equation):
            return f
    raise ValueError(f"family must be one of {[f.title for f in FAMILIES]}; got {family!r}")
