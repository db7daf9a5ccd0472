"""Training families (8) and (11) at any depth on a fixed sample of per-prompt summaries.

The loss, gradient, residuals and Jacobian are exact rewritings of the model's forward pass
(:mod:`verify.training.summaries`, where the recursion is derived); each family binds them to its
parametrisation (:mod:`verify.families`).  Here: the objective, the residual map for
Levenberg-Marquardt, and the trainer (a family-chosen warm start on a subsample, then
Levenberg-Marquardt with exact Jacobians to a stopping rule).
``tests/test_conformance.py`` checks the values and gradients against the model to round-off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from ..families import Family, as_family
from .one_layer import fit_family, gauss_newton_step, levenberg_marquardt
from .summaries import (
    Summaries,
    loss_and_grad_8,
    loss_and_grad_11,
    residuals_and_jacobian_8,
    residuals_and_jacobian_11,
    subset,
)

__all__ = [
    "Summaries",
    "loss_and_grad_8",
    "loss_and_grad_11",
    "residuals_and_jacobian_8",
    "residuals_and_jacobian_11",
    "FamilyObjective",
    "fit_family",
    "resjac",
    "subset",
    "train_family",
]


@dataclass
class FamilyObjective:
    """theta -> (loss, grad) of a :class:`verify.families.Family` with L layers on summaries.

    theta layout as the family's parametrisation (:meth:`verify.families.Family.params`).
    """

    family: Family
    L: int
    sm: Summaries

    def __post_init__(self):
        self.family = as_family(self.family)

    def __call__(self, theta):
        return self.family.loss_and_grad(theta, self.L, self.sm)


def resjac(family: Family, L: int, sm: Summaries):
    """``theta, jacobian -> (residuals, Jacobian or None)`` of family (8) or (11)."""
    family = as_family(family)

    def fn(theta, jacobian=True):
        return family.residuals(theta, L, sm, jacobian)

    return fn


def train_family(
    family: Family,
    L: int,
    sm: Summaries,
    rng: np.random.Generator | None = None,
    init_std: float = 1e-2,
    warm_fraction: int = 8,
    rtol: float = 1e-10,
    theta0=None,
    max_lm: int = 100,
    progress=None,
):
    """Train family (8)/(11) on a fixed sample from an i.i.d. N(0, init_std^2) start.

    The family's warm start (:meth:`verify.families.Family.warm_start`) on the first
    1/warm_fraction of the sample (cheap iterations), then Levenberg-Marquardt with exact
    per-prompt Jacobians on the whole sample until the relative loss decrease falls below
    ``rtol``.  ``theta0`` (optional) is the start, e.g. one random start shared by replicas
    trained on independent samples (already in a basin: no warm start).  ``info['next_theta']``
    is the point after one more undamped Gauss-Newton step: its distance estimates the remaining
    optimisation error.  ``progress`` (a :class:`verify.progress.Progress`) is told each phase.
    """
    family = as_family(family)
    tell = progress.update if progress is not None else (lambda msg: None)
    d = sm.S.shape[1]
    size = family.size(d, L)
    theta = init_std * rng.standard_normal(size) if theta0 is None else np.array(theta0, float)
    with threadpool_limits(limits=1, user_api="blas"):
        if theta0 is None:
            sub = subset(sm, max(sm.count // warm_fraction, 1))
            tell(f"{family.title}: warm start on {sub.count} of {sm.count} prompts")
            theta = family.warm_start(L, sub, theta)
        tell(f"{family.title}: Levenberg-Marquardt on {sm.count} prompts")
        theta, f, r, J, it, _ = levenberg_marquardt(
            resjac(family, L, sm), theta, maxiter=max_lm, rtol=rtol
        )
    return theta, {
        "loss": f,
        "grad_norm": float(np.linalg.norm(2 * J.T @ r / len(r))),
        "lm_iterations": it,
        "next_theta": theta + gauss_newton_step(J, r),
    }
