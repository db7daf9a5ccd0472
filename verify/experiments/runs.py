"""Training runs behind the report figures (sizes in :class:`.protocol.Budget`).

Two kinds of experiment, both drawing from explicit generators only:

* :func:`trajectory` -- one model trained with the paper's Adam protocol
  (:func:`verify.training.adam.train_adam`, scaled down), optionally continued by L-BFGS on a fixed
  sample (the multi-layer families, through the exact fast forward pass of
  :mod:`verify.training.multilayer`).  Every ``record_every`` steps it records the loss on held-out
  prompts and the layer matrices, from which the figures take Dist(., I) and heat maps.
* :func:`sweep` -- Figs. 6 and 7: test losses of the trained family-(8) transformer, L steps
  of GD, L steps of Sigma^{-1}-preconditioned GD (each with its step size tuned by grid
  search on the training sample) and OLS, over a range of n or of L.
* :func:`population_loss` -- an unbiased estimate of a trained family-(8)/(11) model's
  POPULATION loss, with its standard error, from importance-sampled prompts
  (:mod:`verify.population`): the held-out loss of plain samples misses the spectral tail
  that dominates these losses.
* :func:`population_run` -- the population-loss trainer (:func:`verify.population.train_population_adam`),
  whose curves the reports draw beside the paper's protocol.

:meth:`.protocol.Budget.paper` runs each figure with the protocol of the official notebook that
produced it (:data:`.protocol.PAPER_PROTOCOLS`), with no L-BFGS continuation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from ..families import FAMILY8, Family, Unconstrained
from ..model import IDENTITY, RELU, predict
from ..sampling import sample_prompts
from ..training.adam import small_init, train_adam
from .protocol import Budget, Protocol

__all__ = [
    "Trajectory",
    "trajectory",
    "sweep",
    "Sweep",
    "STEP_GRID",
    "population_loss",
    "population_run",
    "PopulationRun",
]

#: Step sizes tried by the grid search of GD and preconditioned GD (log-spaced).
STEP_GRID = np.geomspace(1e-3, 4.0, 121)


@dataclass
class Trajectory:
    """Held-out losses and layer matrices along training.

    ``steps`` (K,), ``loss`` (K,), ``mats``: K snapshots, each a dict name -> list of (d, d)
    matrices (``A`` and, for family (11), ``B``; ``A_eff`` for one unconstrained layer).
    ``switch``: first L-BFGS record (None without that phase).
    """

    steps: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    mats: list = field(default_factory=list)
    switch: int | None = None
    theta: object = None  # the final parameters


@dataclass(frozen=True)
class OneLayer:
    """A one-layer model outside families (8)/(11): every entry of P_0, Q_0 (Theorem 1) or,
    with ``relu``, ReLU attention with Q_0's last row held at zero (Theorem 5)."""

    name: str
    relu: bool

    def params(self, d: int, L: int):
        return Unconstrained(d, L, q_last_row_zero=self.relu)


UNCONSTRAINED = OneLayer("unconstrained", relu=False)
RELU_LAYER = OneLayer("relu", relu=True)


def _family(model, d: int, L: int):
    """The parametrisation of ``model`` (a :class:`verify.families.Family` or a :class:`OneLayer`)."""
    return model.params(d, L)


def _matrices(model, fam, theta) -> dict:
    if isinstance(model, Family) and model.has_B:
        A, B = fam.matrices(theta)
        return {"A": [M.copy() for M in A], "B": [M.copy() for M in B]}
    if isinstance(model, Family):
        return {"A": [M.copy() for M in fam.matrices(theta)]}
    from theory.single_layer_reduction import effective_preconditioner

    ((P, Q),) = fam.unpack(theta)
    d = fam.d
    if model.relu:  # B_eff = p_y Q11, invariant under (gP, Q/g)
        return {"B_eff": [P[d, d] * Q[:d, :d]]}
    return {"A_eff": [effective_preconditioner(P, Q)]}


def _evaluator(model, fam, test):
    """theta -> mean squared error on the held-out prompts."""
    if isinstance(model, Family):
        from ..training.multilayer import FamilyObjective, Summaries

        obj = FamilyObjective(model, fam.L, Summaries.from_prompts(test))
        return lambda theta: obj(theta)[0]
    act = RELU if model.relu else IDENTITY
    return lambda theta: float(np.mean((predict(fam.unpack(theta), test, act) - test.target) ** 2))


def trajectory(
    kind,
    L: int,
    n: int,
    sigma,
    omega,
    rng: np.random.Generator,
    budget: Budget,
    protocol: Protocol,
    lbfgs: bool = True,
) -> Trajectory:
    """Train one model ``kind`` (FAMILY8, FAMILY11, UNCONSTRAINED or RELU_LAYER) by Adam with
    ``protocol`` (from a N(0, protocol.init_std^2) start) and record it every
    ``budget.record_every`` steps on ``budget.test_prompts`` held-out prompts.

    Data: x ~ N(0, sigma), w* ~ N(0, omega) (``omega`` None for N(0, I)), n context examples.
    """
    d = sigma.shape[0]
    fam = _family(kind, d, L)
    act = RELU if getattr(kind, "relu", False) else IDENTITY
    test = sample_prompts(budget.test_prompts, n, sigma, rng, omega)
    held_out = _evaluator(kind, fam, test)
    tr = Trajectory()

    def record(step, theta):
        tr.steps.append(int(step))
        tr.loss.append(held_out(theta))
        tr.mats.append(_matrices(kind, fam, theta))

    theta0 = small_init(fam, rng, protocol.init_std)
    record(0, theta0)
    sampler = lambda B, r: sample_prompts(B, n, sigma, r, omega)  # noqa: E731
    res = train_adam(
        fam,
        sampler,
        theta0,
        rng,
        act=act,
        record_every=budget.record_every,
        callback=lambda t, th, f: record(t, th),
        **protocol.train_kwargs(),
    )
    tr.theta = res.theta
    if lbfgs and isinstance(kind, Family):
        from ..training.multilayer import FamilyObjective, Summaries

        obj = FamilyObjective(
            kind,
            L,
            Summaries.from_prompts(sample_prompts(budget.lbfgs_prompts, n, sigma, rng, omega)),
        )
        tr.switch = protocol.steps
        count = [protocol.steps]

        def cb(xk):
            count[0] += 1
            if (count[0] - protocol.steps) % 5 == 0:
                record(count[0], xk)

        out = minimize(
            obj,
            res.theta,
            jac=True,
            method="L-BFGS-B",
            callback=cb,
            options={"gtol": 1e-10, "ftol": 0.0, "maxiter": budget.lbfgs_iterations, "maxcor": 50},
        )
        if tr.steps[-1] != count[0]:
            record(count[0], out.x)
        tr.theta = out.x
    return tr


# --- Figs. 6 and 7 ----------------------------------------------------------------------


@dataclass
class Sweep:
    """Test losses over a range of ``x`` (n or L): method name -> list of losses."""

    x: list
    losses: dict
    steps: dict  # tuned step size per method and x
    thetas: list = field(default_factory=list)  # the trained transformers (family (8) theta per x)


def _gd_loss(S, u0, xq, target, M, eta, L):
    """Mean squared error of L steps w <- w - eta M (S w - u0) from w = 0 (Lemma 1)."""
    w = np.zeros_like(u0)
    for _ in range(L):
        grad = np.einsum("bij,bj->bi", S, w) - u0  # (B, d) = grad R(w)
        w = w - eta * grad @ M.T
    return float(np.mean((np.einsum("bi,bi->b", w, xq) - target) ** 2))


def _tuned(sm_train, sm_test, M, L):
    """Grid-search the step size on the training sample; return (test loss, step)."""
    args = lambda sm: (sm.S, sm.u0, sm.xq, sm.target)  # noqa: E731
    train = [_gd_loss(*args(sm_train), M, eta, L) for eta in STEP_GRID]
    best = float(STEP_GRID[int(np.nanargmin(train))])
    return _gd_loss(*args(sm_test), M, best, L), best


def _ols_loss(sm) -> float:
    w = np.einsum(
        "bij,bj->bi", np.linalg.pinv(sm.S, rcond=1e-10, hermitian=True), sm.u0
    )  # min-norm LS
    return float(np.mean((np.einsum("bi,bi->b", w, sm.xq) - sm.target) ** 2))


def _transformer_loss(L, sm_train, sm_test, rng, d, iterations):
    """(test loss, theta) of a family-(8) transformer fitted by L-BFGS on ``sm_train``."""
    from ..training.multilayer import FamilyObjective

    theta0 = small_init(FAMILY8.params(d, L), rng, 1e-2)
    res = minimize(
        FamilyObjective(FAMILY8, L, sm_train),
        theta0,
        jac=True,
        method="L-BFGS-B",
        options={"gtol": 1e-9, "ftol": 0.0, "maxiter": iterations, "maxcor": 50},
    )
    return FamilyObjective(FAMILY8, L, sm_test)(res.x)[0], res.x


def _transformer_adam(L, n, sigma, omega, sm_test, rng, protocol: Protocol):
    """(test loss, theta) of a family-(8) transformer trained by Adam with ``protocol`` (a
    notebook's: fresh minibatches from the law of the prompts, a N(0, init_std^2) start)."""
    from ..training.multilayer import FamilyObjective

    d = sigma.shape[0]
    fam = FAMILY8.params(d, L)
    sampler = lambda B, r: sample_prompts(B, n, sigma, r, omega)  # noqa: E731
    res = train_adam(
        fam,
        sampler,
        small_init(fam, rng, protocol.init_std),
        rng,
        record_every=protocol.steps,
        **protocol.train_kwargs(),
    )
    return FamilyObjective(FAMILY8, L, sm_test)(res.theta)[0], res.theta


def sweep(
    points,
    sigma,
    omega,
    rng: np.random.Generator,
    budget: Budget,
    vary: str,
    protocol: Protocol | None = None,
) -> Sweep:
    """Figs. 6/7: ``points`` are (n, L) pairs; ``vary`` ('n' or 'L') names the x-axis.

    The transformer is fitted by L-BFGS on the training sample, or trained by Adam with
    ``protocol`` when given (the paper's scale); the GD baselines are tuned on the training
    sample either way."""
    from ..training.multilayer import Summaries

    d = sigma.shape[0]
    Sinv = np.linalg.inv(sigma)
    names = ("transformer", "GD", "preconditioned GD", "OLS")
    out = Sweep([], {k: [] for k in names}, {"GD": [], "preconditioned GD": []})
    for n, L in points:
        sm_train = Summaries.from_prompts(
            sample_prompts(budget.sweep_prompts, n, sigma, rng, omega)
        )
        sm_test = Summaries.from_prompts(sample_prompts(budget.test_prompts, n, sigma, rng, omega))
        out.x.append(n if vary == "n" else L)
        if protocol is None:
            loss, theta = _transformer_loss(L, sm_train, sm_test, rng, d, budget.lbfgs_iterations)
        else:
            loss, theta = _transformer_adam(L, n, sigma, omega, sm_test, rng, protocol)
        out.losses["transformer"].append(loss)
        out.thetas.append(theta)
        for name, M in (("GD", np.eye(d)), ("preconditioned GD", Sinv)):
            loss, eta = _tuned(sm_train, sm_test, M, L)
            out.losses[name].append(loss)
            out.steps[name].append(eta)
        out.losses["OLS"].append(_ols_loss(sm_test))
    return out


# --- population loss ----------------------------------------------------------------------


def population_loss(
    kind: Family,
    L: int,
    n: int,
    sigma,
    theta,
    rng: np.random.Generator,
    prompts: int,
    chunk: int = 20000,
) -> tuple:
    """(estimate, standard error) of the population loss f(theta) of family ``kind`` (FAMILY8 / FAMILY11).

    Data of Theorems 3-4 (x ~ N(0, Sigma), w* ~ N(0, Sigma^-1)).  ``prompts`` importance-sampled
    prompts (:func:`verify.population.sample_population`, exact likelihood-ratio weights, so
    each chunk's mean is unbiased for f); the standard error is the spread of the chunk means
    over sqrt(chunks).  Sampling only: no closed form is consulted.
    """
    from ..population import sample_population
    from ..training.multilayer import FamilyObjective

    chunks = max(2, -(-prompts // chunk))
    size = -(-prompts // chunks)
    est = [
        FamilyObjective(kind, L, sample_population(size, n, sigma, rng).summaries)(theta)[0]
        for _ in range(chunks)
    ]
    return float(np.mean(est)), float(np.std(est, ddof=1) / np.sqrt(chunks))


@dataclass
class PopulationRun:
    """The population-loss trainer's curve: ``steps``, ``loss`` (unbiased minibatch estimates of
    f before each recorded step, averaged over the recording window) and the final ``mats``."""

    steps: list
    loss: list
    mats: dict
    batch: int


def population_run(
    kind: Family, L: int, n: int, sigma, rng: np.random.Generator, budget: Budget, init_std: float
) -> PopulationRun:
    """Adam on importance-sampled minibatches (:func:`verify.population.train_population_adam`)
    from a small random start, ``budget.population_steps`` steps of ``budget.population_batch``."""
    from ..population import train_population_adam

    d = sigma.shape[0]
    fam = _family(kind, d, L)
    steps, every = budget.population_steps, max(1, budget.population_steps // 100)
    run = train_population_adam(
        kind,
        L,
        n,
        sigma,
        rng,
        small_init(fam, rng, init_std),
        steps=steps,
        batch=budget.population_batch,
        halve_every=max(1, steps // 4),
        record_every=1,
    )
    its, loss = np.asarray(run.iterations[:-1]), np.asarray(run.loss[:-1])
    # windows of `every` steps: the mean of unbiased minibatch estimates is unbiased, less noisy
    k = len(loss) // every
    xs = [int(its[(i + 1) * every - 1]) for i in range(k)]
    ys = [float(np.mean(loss[i * every : (i + 1) * every])) for i in range(k)]
    return PopulationRun(xs, ys, _matrices(kind, fam, run.theta), budget.population_batch)
