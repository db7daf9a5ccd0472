"""Theorem 2: the global minimiser of f over symmetric (or general) A_0, A_1, by multistart search.

The exact loss f of :mod:`theory.theorem2` (a quartic polynomial in the 2 d(d+1)/2 free
entries) is minimised by quasi-Newton BFGS (scipy; dense, as there are only 2 d(d+1)/2
variables) from many seeded random starts far from the identity, each finished by Newton
steps on the exact gradient and exact Hessian.  scipy's L-BFGS-B was measured ~80 times
slower per iteration on this problem: its compiled core calls the multithreaded BLAS on
30-vectors, and thread start-up dominates.  The search is evidence, not a proof of global
optimality: the report says how many starts reached the lowest value and how far apart
their end points are.  The same search over general (non-symmetric) matrices goes beyond
the paper's hypothesis.

Bounds from the stopping rule (quadratic model at the final point t, gradient g, Hessian H
positive definite): the exact local minimiser is within ||H^{-1} g|| of t and its loss is
within g^T H^{-1} g / 2 of f(t); round-off adds ||H^{-1}|| e_g to the location, with e_g the
gradient's float error bound.  Paper reference: Theorem 2.  A float search, so it lives in
verify/ (theory/ holds exact mathematics only); the exact loss it minimises is theory's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from theory.theorem2 import EPS, exact_loss, sym_gradient, sym_pack, sym_unpack

__all__ = [
    "Coordinates",
    "LocalMinimum",
    "SearchResult",
    "search",
    "polish",
    "hessian",
    "swap_distance",
    "offdiag_ratio",
    "random_start",
]


@dataclass(frozen=True)
class Coordinates:
    """Free parameters of (A_0, A_1): symmetric (2 d(d+1)/2, upper triangles) or general (2 d^2)."""

    d: int
    symmetric: bool = True

    @property
    def size(self) -> int:
        return 2 * (self.d * (self.d + 1) // 2 if self.symmetric else self.d * self.d)

    def unpack(self, theta):
        if self.symmetric:
            return sym_unpack(theta, self.d)
        theta = np.asarray(theta, dtype=float)
        return theta[: self.d**2].reshape(self.d, self.d), theta[self.d**2 :].reshape(
            self.d, self.d
        )

    def pack(self, A0, A1) -> np.ndarray:
        return sym_pack(A0, A1) if self.symmetric else np.concatenate([np.ravel(A0), np.ravel(A1)])

    def gradient(self, G0, G1) -> np.ndarray:
        return sym_gradient(G0, G1) if self.symmetric else np.concatenate([G0.ravel(), G1.ravel()])

    def jacobian(self) -> np.ndarray:
        """J with vec(A_0, A_1) = J theta, shape (2 d^2, size)."""
        J = np.empty((2 * self.d**2, self.size))
        for k in range(self.size):
            e = np.zeros(self.size)
            e[k] = 1.0
            J[:, k] = np.concatenate([A.ravel() for A in self.unpack(e)])
        return J

    def frobenius_factor(self) -> float:
        """||(A_0, A_1)||_F <= factor * ||theta||: sqrt(2) for symmetric (off-diagonals stored once)."""
        return float(np.sqrt(2.0)) if self.symmetric else 1.0


@dataclass
class LocalMinimum:
    """One start's end point: theta, loss, gradient norm, Newton bounds (all in ``coords``)."""

    start: int
    theta: np.ndarray
    loss: float
    grad_norm: float
    step_bound: float  # ||H^{-1} g||: distance to the exact critical point (quadratic model)
    loss_bound: float  # g^T H^{-1} g / 2
    min_eig: float  # smallest Hessian eigenvalue in these coordinates
    iterations: int
    coords: Coordinates

    def matrices(self, d: int | None = None):
        return self.coords.unpack(self.theta)


@dataclass
class SearchResult:
    n: int
    d: int
    starts: int
    seed: int
    symmetric: bool
    minima: list = field(default_factory=list)  # LocalMinimum per start, sorted by loss

    @property
    def best(self) -> LocalMinimum:
        return self.minima[0]


def random_start(coords: Coordinates, rng: np.random.Generator) -> np.ndarray:
    """Gaussian A_0, A_1 (entries N(0, s^2 / d), s log-uniform in [0.1, 3]; symmetrised if needed).

    Such matrices are far from multiples of I: for the symmetric ones
    E ||A - (tr A/d) I||^2 / E ||A||^2 = 1 - 2/(d(d+1)), so Dist(A, I) is typically about 0.97
    at d = 5.
    """
    d, out = coords.d, []
    for _ in range(2):
        s = np.exp(rng.uniform(np.log(0.1), np.log(3.0)))
        G = rng.standard_normal((d, d)) * s / np.sqrt(d)
        out.append((G + G.T) / np.sqrt(2) if coords.symmetric else G)
    return coords.pack(*out)


def _fun(theta, F, coords):
    f, G0, G1 = F.value_and_grad(*coords.unpack(theta))
    return f, coords.gradient(G0, G1)


def hessian(theta, F, coords: Coordinates | None = None) -> np.ndarray:
    """Exact Hessian in the coordinates: J^T (d^2 f / dA dA) J (:meth:`ExactLoss.hessian`)."""
    coords = coords or Coordinates(F.d, True)
    J = coords.jacobian()
    H = F.hessian(*coords.unpack(theta)).reshape(2 * F.d**2, 2 * F.d**2)
    return J.T @ H @ J


def polish(theta, F, coords: Coordinates, steps: int = 3):
    """Newton steps on the exact gradient and Hessian; returns (theta, g, H) at the final point.

    A step is taken only inside the quadratic region of a minimum (H positive definite,
    step below 1% of ||theta||); otherwise the BFGS point is returned unchanged.
    """
    for _ in range(steps):
        g = _fun(theta, F, coords)[1]
        H = hessian(theta, F, coords)
        if np.linalg.eigvalsh(H)[0] <= 0:
            break
        delta = np.linalg.solve(H, g)
        if not np.all(np.isfinite(delta)) or np.linalg.norm(delta) > 1e-2 * (
            1 + np.linalg.norm(theta)
        ):
            break
        theta = theta - delta
    return theta, _fun(theta, F, coords)[1], hessian(theta, F, coords)


def _local(theta0, F, coords, start):
    res = minimize(
        _fun,
        theta0,
        args=(F, coords),
        jac=True,
        method="BFGS",
        options={"maxiter": 5000, "gtol": 1e-9},
    )
    theta, g, H = polish(res.x, F, coords)
    lam = np.linalg.eigvalsh(H)
    if lam[0] > 0:
        delta = np.linalg.solve(H, g)
        step, lb = float(np.linalg.norm(delta)), float(g @ delta / 2)
    else:
        step, lb = np.inf, np.inf
    loss = F.value(*coords.unpack(theta))
    return LocalMinimum(
        start, theta, loss, float(np.linalg.norm(g)), step, lb, float(lam[0]), int(res.nit), coords
    )


def search(
    n: int, d: int, starts: int = 40, seed: int = 0, symmetric: bool = True, progress=None
) -> SearchResult:
    """Minimise the exact two-layer loss over symmetric (or general) A_0, A_1 from seeded starts.

    Every start runs BFGS (gtol 1e-9) then up to 3 exact Newton steps; the end points are
    returned sorted by loss.  ``progress``: optional callable receiving a status string.
    """
    if not (isinstance(starts, int) and starts >= 1):
        raise ValueError(f"starts must be a positive integer; got {starts!r}")
    F = exact_loss(n, d)
    coords = Coordinates(d, bool(symmetric))
    rng = np.random.default_rng([seed, 2 if symmetric else 3])
    out = SearchResult(n, d, starts, seed, bool(symmetric))
    for k in range(starts):
        if progress is not None:
            progress(
                f"Theorem 2 search ({'symmetric' if symmetric else 'general'}): start {k + 1}/{starts}"
            )
        out.minima.append(_local(random_start(coords, rng), F, coords, k))
    out.minima.sort(key=lambda m: m.loss)
    return out


# --- invariants ------------------------------------------------------------------------------------


def offdiag_ratio(A0, A1) -> float:
    """sqrt(sum_l ||offdiag(A_l)||_F^2) / sqrt(sum_l ||A_l||_F^2)."""
    off = sum(np.linalg.norm(A - np.diag(np.diag(A))) ** 2 for A in (A0, A1))
    tot = sum(np.linalg.norm(A) ** 2 for A in (A0, A1))
    return float(np.sqrt(off / max(tot, EPS)))


def swap_distance(A0, A1, C0, C1) -> float:
    """min over the layer order of sqrt(||A_0 - C_0'||^2 + ||A_1 - C_1'||^2), relative to ||(C_0, C_1)||."""
    ref = np.sqrt(np.linalg.norm(C0) ** 2 + np.linalg.norm(C1) ** 2)
    best = min(
        np.sqrt(np.linalg.norm(A0 - X) ** 2 + np.linalg.norm(A1 - Y) ** 2)
        for X, Y in ((C0, C1), (C1, C0))
    )
    return float(best / max(ref, EPS))
