"""Training on sampled prompts, independent of the theory.

Trainers, none of which sees a closed form:

* :func:`train_adam` -- the paper's protocol (Section 4.3 and the official notebook):
  Adam(W) on fresh minibatches resampled every ``resample_every`` steps, per-matrix
  gradient clipping, step size halved on a schedule, small Gaussian initialisation.  Each
  minibatch's loss and gradient come from :func:`batch_objective`, the fastest exact
  evaluation for the family (same function of the prompts as :class:`Objective`, to
  round-off: ``tests/test_kernels.py``, ``tests/test_multilayer.py``).
* :func:`verify.training.multilayer.train_family` -- the package's fast trainer for families (8) and
  (11): a large FIXED sample and Levenberg-Marquardt run to a stopping rule.  A fair
  stand-in for training because it minimises the very same empirical loss that SGD/Adam
  estimate stochastically, from the same kind of small random start, and reports the next
  Gauss-Newton step, from which the optimisation error is bounded.  The fixed sample is the
  only difference: its sampling error is measured (independent replicas) and enters the
  tolerance.
* :func:`verify.training.one_layer.fit_gd_layer` -- for one layer of family (8) the prediction is linear
  in A, so the empirical loss is an exact quadratic solved by its normal equations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model import IDENTITY, Activation, Prompts, loss_and_grad
from ..progress import Progress

__all__ = ["Objective", "TrainResult", "batch_objective", "small_init", "train_adam"]


@dataclass
class Objective:
    """Empirical loss of a parameter family on a fixed batch of prompts: theta -> (loss, grad).

    The training package's objective interface (:mod:`verify.training`): the model's own
    forward and backward pass (:func:`verify.model.loss_and_grad`) pulled back to theta.
    """

    family: object
    prompts: Prompts
    act: Activation = IDENTITY

    def __call__(self, theta: np.ndarray):
        f, grads = loss_and_grad(self.family.unpack(theta), self.prompts, self.act)
        return f, self.family.pullback(grads)


def batch_objective(family, prompts: Prompts, act: Activation = IDENTITY):
    """theta -> (loss, grad) on one minibatch, by the fastest exact route for the family.

    Linear attention: :class:`verify.training.kernels.KernelObjective` (compiled, or GEMM-shaped, on
    (K_l, z_l) blocks), except family (8) on batches too small for the compiled backend
    (:func:`verify.training.kernels.choose_backend`), which goes through its per-prompt summaries,
    :class:`verify.training.multilayer.FamilyObjective` (O(L d^2) flops per prompt, but
    memory-bound: at the paper protocol's batch of 20000, d = 5, on 2 cores, it took 6.2 ms a
    step against 3.5 ms for the compiled kernel at L = 3, and 2.2 against 0.7 ms at L = 1,
    measured side by side).  An activation (Section 6): the reference :class:`Objective`.  Built
    once per minibatch (each caches its layout).
    """
    if not act.linear:
        return Objective(family, prompts, act)
    from .kernels import KernelObjective, choose_backend

    small = choose_backend("auto", prompts.B, family.L) != "jit"
    fam = getattr(family, "family", None)  # the paper family of a GD / GD++ parametrisation
    if small and fam is not None and fam.summaries_on_small_batches:
        from .multilayer import FamilyObjective, Summaries

        return FamilyObjective(fam, family.L, Summaries.from_prompts(prompts))
    return KernelObjective(family, prompts)


@dataclass
class TrainResult:
    theta: np.ndarray
    loss: float
    grad_norm: float
    steps: int
    prompts_seen: int
    history: list


def small_init(family, rng: np.random.Generator, std: float) -> np.ndarray:
    """I.i.d. N(0, std^2) initialisation of every trainable entry (never a closed form)."""
    return std * rng.standard_normal(family.size)


def train_adam(
    family,
    sampler,
    theta0: np.ndarray,
    rng: np.random.Generator,
    *,
    act: Activation = IDENTITY,
    steps: int = 30000,
    batch: int = 20000,
    resample_every: int = 100,
    lr: float = 0.02,
    halve_every: int = 2000,
    betas=(0.99, 0.9),
    clip: float = 0.01,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    record_every: int = 100,
    callback=None,
    progress: Progress | None = None,
) -> TrainResult:
    """The paper's protocol: Adam(W) on minibatches ``sampler(batch, rng)``.

    Per-matrix clipping: the gradient block of each P_l / Q_l entry group is rescaled to
    norm at most ``clip`` (the family's blocks are clipped as one vector per layer matrix,
    see :func:`_clip_blocks`).  ``callback(step, theta, loss)`` is called every
    ``record_every`` steps, and ``progress`` (a :class:`verify.progress.Progress`, the package's
    one progress mechanism) is told the step and the minibatch loss.
    """
    theta = theta0.astype(float).copy()
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    b1, b2 = betas
    history = []
    objective = None
    f = float("nan")
    blocks = _blocks(family)
    for t in range(1, steps + 1):
        if objective is None or (t - 1) % resample_every == 0:
            objective = batch_objective(family, sampler(batch, rng), act)
        f, g = objective(theta)
        g = _clip_blocks(g, blocks, clip)
        step_lr = lr * 0.5 ** ((t - 1) // halve_every) if halve_every else lr
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mhat = m / (1 - b1**t)
        vhat = v / (1 - b2**t)
        theta -= step_lr * (mhat / (np.sqrt(vhat) + eps) + weight_decay * theta)
        if t % record_every == 0 or t == steps:
            history.append((t, f))
            if callback is not None:
                callback(t, theta, f)
            if progress is not None:
                progress.update(f"adam step {t}/{steps} loss {f:.3e}")
    gnorm = float(np.linalg.norm(objective(theta)[1]))
    return TrainResult(theta, f, gnorm, steps, steps // resample_every * batch, history)


def _blocks(family):
    """Index ranges of the per-matrix blocks of theta (one per A_l, B_l, P_l or Q_l)."""
    edges = np.cumsum([0] + list(family.block_sizes()))
    return list(zip(edges[:-1], edges[1:]))


def _clip_blocks(g: np.ndarray, blocks, clip: float) -> np.ndarray:
    if not clip:
        return g
    g = g.copy()
    for a, b in blocks:
        nrm = np.linalg.norm(g[a:b])
        if nrm > clip:
            g[a:b] *= clip / nrm
    return g
