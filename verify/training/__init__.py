"""Training on sampled prompts, independent of the theory: no trainer sees a closed form.

* :mod:`.adam` -- the paper's protocol (Section 4.3 and the official notebook): Adam(W) on
  fresh minibatches, per-matrix clipping, step size halved on a schedule, small start.
* :mod:`.one_layer` -- one layer, solved to a stopping rule on a fixed sample: family (8) by
  its normal equations, all (P, Q) from sample moments, the ReLU layer by Levenberg-Marquardt.
* :mod:`.multilayer` -- families (8) and (11) at any depth through per-prompt summaries,
  Levenberg-Marquardt with exact Jacobians.

Every objective is a callable ``theta -> (loss, gradient)`` of the sample loss (the model's
:func:`verify.model.loss_and_grad` or an algebraic rewriting of it, checked to round-off by the
tests); progress is reported through :class:`verify.progress.Progress`.  Conventions:
:mod:`verify.conventions`.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

__all__ = ["LossAndGradient"]


class LossAndGradient(Protocol):
    """The objective interface every trainer here consumes: ``theta (p,) -> (loss, gradient (p,))``.

    Implemented by :class:`.adam.Objective`, :class:`.multilayer.FamilyObjective`,
    :class:`.one_layer.OneLayerStats` and :class:`verify.training.kernels.KernelObjective`.
    """

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]: ...
