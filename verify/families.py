"""Parameter families: the paper's families (8) and (11) as objects, and their parametrisations.

* :class:`Family` -- one object per family of the paper (:data:`FAMILY8`, :data:`FAMILY11`):
  its equation, sign convention, parametrisation, exact evaluators on per-prompt summaries
  (:mod:`verify.training.summaries`), warm start, and exact loss on S (its
  :class:`theory.families.ExactFamily`).  Theory-facing code, trainers and reports all take a
  :class:`Family`, never a name; what differs between the families is in its two subclasses.
  Adding a family: the list in :mod:`theory.families` (one place).
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

from .training.one_layer import fit_family, levenberg_marquardt
from .training.summaries import (
    Summaries,
    loss_and_grad_8,
    loss_and_grad_11,
    residuals_8,
    residuals_11,
    residuals_and_jacobian_8,
    residuals_and_jacobian_11,
)

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
    """A parameter family of the paper: its parametrisation, its exact evaluators on per-prompt
    summaries, its warm start and its exact loss on S.

    ``theta`` of L layers holds A_0, ..., A_{L-1} (each d x d, row-major) and, for family (11),
    then B_0, ..., B_{L-1}.  ``sign`` is the sign in ``Q_l = sign [[A_l,0],[0,0]]``: -1 for
    eq. (8), +1 for eq. (11) (so a family-(8) a_l is minus the family-(11) a_l on the same
    model).  ``equation`` ("8" / "11") names the family in reports and random streams;
    ``exact`` is its object in :mod:`theory.families`.  The behaviour that differs between the
    families is in the two subclasses below: nothing outside this module branches on the family.
    """

    equation: str
    name: str
    sign: float
    has_B: bool
    parametrisation: type
    #: train_adam's small minibatches go through the per-prompt summaries (faster than the layer
    #: kernel for family (8): :func:`verify.training.adam.batch_objective`)
    summaries_on_small_batches: bool = False

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

    # -- evaluators on per-prompt summaries (verify.training.summaries) ---------------------------
    def loss_and_grad(self, theta, L: int, sm: Summaries):
        """(loss, gradient w.r.t. theta) of the sample loss on summaries ``sm``."""
        raise NotImplementedError

    def residuals(self, theta, L: int, sm: Summaries, jacobian: bool = True):
        """(residuals q_L + t (N,), their Jacobian w.r.t. theta (N, size) or None)."""
        raise NotImplementedError

    def warm_start(self, L: int, sub: Summaries, theta: np.ndarray) -> np.ndarray:
        """From a small random start, the cheap first phase of training on a subsample."""
        raise NotImplementedError

    def objective(self, L: int, sm):
        """theta -> (loss, gradient) of the sample loss on summaries ``sm``."""
        return lambda theta: self.loss_and_grad(theta, L, sm)

    def resjac(self, L: int, sm):
        """theta, jacobian -> (residuals, Jacobian or None) on summaries ``sm``."""
        return lambda theta, jacobian=True: self.residuals(theta, L, sm, jacobian)

    # -- exact mathematics (theory/) ------------------------------------------------------------
    @property
    def exact(self):
        """The family's exact object in :mod:`theory.families`."""
        from theory.families import exact_family

        return exact_family(self.equation)

    def restricted_loss(self, L: int, n: int, d: int):
        """phi_L on S (:class:`theory.restricted.RestrictedLoss`), exact Wishart moments."""
        from theory.restricted import RestrictedLoss

        return RestrictedLoss(self.equation, L, n, d)

    def critical_points(self, L: int, n: int, d: int, **kw):
        """The critical points of phi_L on S (:func:`theory.critical.critical_points`)."""
        from theory.critical import critical_points

        return critical_points(self.equation, L, n, d, **kw)


@dataclass(frozen=True)
class _Family8(Family):
    """Eq. (8): P_l = [[0,0],[0,1]], Q_l = -[[A_l,0],[0,0]]."""

    def loss_and_grad(self, theta, L, sm):
        f, dA = loss_and_grad_8(list(theta.reshape(-1, sm.S.shape[1], sm.S.shape[1])), sm)
        return f, np.concatenate([g.ravel() for g in dA])

    def residuals(self, theta, L, sm, jacobian=True):
        mats = list(theta.reshape(-1, sm.S.shape[1], sm.S.shape[1]))
        if not jacobian:
            return residuals_8(mats, sm), None
        return residuals_and_jacobian_8(mats, sm)

    def warm_start(self, L, sub, theta):
        """Levenberg-Marquardt: family (8)'s loss is a polynomial of low degree in each A_l."""
        return levenberg_marquardt(self.resjac(L, sub), theta, maxiter=300, rtol=1e-8)[0]


@dataclass(frozen=True)
class _Family11(Family):
    """Eq. (11): P_l = [[B_l,0],[0,1]], Q_l = [[A_l,0],[0,0]]."""

    def loss_and_grad(self, theta, L, sm):
        mats = theta.reshape(-1, sm.S.shape[1], sm.S.shape[1])
        f, dA, dB = loss_and_grad_11(list(mats[:L]), list(mats[L : 2 * L]), sm)
        return f, np.concatenate([g.ravel() for g in dA + dB])

    def residuals(self, theta, L, sm, jacobian=True):
        mats = list(theta.reshape(-1, sm.S.shape[1], sm.S.shape[1]))
        if not jacobian:
            return residuals_11(mats[:L], mats[L:], sm), None
        return residuals_and_jacobian_11(mats[:L], mats[L:], sm)

    def warm_start(self, L, sub, theta):
        """From a small start family (11) crosses long plateaus (step sizes spanning a factor 30):
        many cheap L-BFGS iterations on the subsample do that better than Levenberg-Marquardt."""
        return fit_family(self.objective(L, sub), theta, gtol=1e-7, maxiter=30000)[0]


FAMILY8 = _Family8("8", "gd", -1.0, False, GD, summaries_on_small_batches=True)
FAMILY11 = _Family11("11", "gdpp", 1.0, True, GDPlusPlus)
FAMILIES = (FAMILY8, FAMILY11)


def as_family(family) -> Family:
    """A :class:`Family`, given one or (for older callers) its short name or equation number."""
    if isinstance(family, Family):
        return family
    for f in FAMILIES:
        if family in (f.name, f.equation):
            return f
    raise ValueError(f"family must be one of {[f.title for f in FAMILIES]}; got {family!r}")
