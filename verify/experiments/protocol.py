"""Training protocols behind the figures: the official notebooks' (``--scale paper``) and the
CPU-sized ones (default and ``--quick``).

The paper's figures come from different notebooks of the official code with different
optimiser settings (../shared/PAPER.md, "Official code's protocols"); a paper-scale figure runs
the protocol of the notebook that produced the paper figure it draws (:data:`PAPER_PROTOCOLS`).
Claims 1, 2 and 5 have no figure in the paper; their curves use the Figs. 1-2 protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["Protocol", "PAPER_PROTOCOLS", "Budget"]


@dataclass(frozen=True)
class Protocol:
    """One Adam(W) protocol: ``steps`` steps on minibatches of ``batch`` prompts, a new minibatch
    every ``resample_every`` steps, step size ``lr`` halved every ``halve_every`` steps, betas,
    per-matrix gradient clipping ``clip``, parameters initialised i.i.d. N(0, ``init_std``^2).

    ``notebook``: the official notebook it is taken from ('' for a CPU-scaled protocol),
    ``figures``: the paper figures that notebook produced."""

    steps: int
    batch: int
    resample_every: int
    lr: float
    halve_every: int
    betas: tuple
    clip: float
    init_std: float
    notebook: str = ""
    figures: str = ""

    def describe(self) -> str:
        where = (
            f"the official notebook `{self.notebook}` ({self.figures})"
            if self.notebook
            else "CPU-scaled"
        )
        fresh = (
            "a fresh minibatch every step"
            if self.resample_every == 1
            else f"a new minibatch every {self.resample_every} steps"
        )
        return (
            f"Adam, {where}: {self.steps} steps on minibatches of {self.batch} ({fresh}), step size "
            f"{self.lr:g} halved every {self.halve_every} steps, betas {tuple(self.betas)}, per-matrix "
            f"clipping {self.clip:g}, init N(0, {self.init_std:g}^2)"
        )

    def train_kwargs(self) -> dict:
        """Keyword arguments of :func:`verify.training.adam.train_adam`."""
        return dict(
            steps=self.steps,
            batch=self.batch,
            resample_every=self.resample_every,
            lr=self.lr,
            halve_every=self.halve_every,
            betas=tuple(self.betas),
            clip=self.clip,
        )


#: The official notebooks' protocols (the paper's reported set-up; values from the notebooks,
#: not computed here).  Keys: the paper figures each one produced.
PAPER_PROTOCOLS = {
    "figs1-2": Protocol(
        30000, 20000, 100, 0.02, 2000, (0.99, 0.9), 0.01, 1e-4,
        "rotation demonstration-Adam-p0", "Figs. 1-2",
    ),
    "figs3-5": Protocol(
        100000, 20000, 100, 0.1, 4000, (0.99, 0.9), 0.01, 1e-4,
        "rotation demonstration-Adam", "Figs. 3-5",
    ),
    "fig6": Protocol(
        8000, 40000, 1, 0.01, 2000, (0.99, 0.99), 0.001, 1e-4, "variable_N_exp", "Fig. 6"
    ),
    "fig7": Protocol(
        20000, 20000, 100, 0.01, 4000, (0.99, 0.9), 0.01, 1e-4, "variable_L_exp", "Fig. 7"
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Budget:
    """Sizes of the runs behind the figures.  The CPU-scaled protocol is Adam with the paper's
    betas and clipping, step size 0.02 halved every ``halve_every`` steps; :meth:`paper` runs
    each figure with its notebook's protocol (:data:`PAPER_PROTOCOLS`)."""

    adam_steps: int = 1500
    adam_batch: int = 1000
    halve_every: int = 500
    record_every: int = 25
    lbfgs_prompts: int = 20000
    lbfgs_iterations: int = 400
    test_prompts: int = 20000
    sweep_prompts: int = 8000
    quick_mode: bool = False
    #: Adam steps of family (11) at the CPU scale; 0: ``adam_steps``.
    long_steps: int = 0
    #: importance-sampled prompts per population-loss estimate (:func:`.runs.population_loss`)
    population_prompts: int = 100000
    #: the population-loss trainer's steps and minibatch (:func:`.runs.population_run`)
    population_steps: int = 600
    population_batch: int = 2000
    paper_scale: bool = False

    @classmethod
    def quick(cls) -> "Budget":
        return cls(200, 500, 100, 20, 4000, 60, 4000, 1500, True, 0, 20000, 100, 500)

    @classmethod
    def paper(cls) -> "Budget":
        """The official notebooks' protocols (one per figure, :data:`PAPER_PROTOCOLS`)."""
        return cls(
            adam_steps=30000,
            adam_batch=20000,
            halve_every=2000,
            record_every=250,
            test_prompts=20000,
            sweep_prompts=20000,
            long_steps=100000,
            population_prompts=400000,
            population_steps=5000,
            population_batch=4000,
            paper_scale=True,
        )

    @property
    def scale(self) -> str:
        return "paper" if self.paper_scale else ("quick" if self.quick_mode else "default")

    def scaled(self, steps: float, batch: float, halve: float) -> "Budget":
        """Cheaper models (one layer) afford more Adam steps and larger minibatches (not at the
        paper's scale, whose protocols are fixed)."""
        if self.paper_scale:
            return self
        return replace(
            self,
            adam_steps=int(self.adam_steps * steps),
            adam_batch=int(self.adam_batch * batch),
            halve_every=int(self.halve_every * halve),
        )

    def for_family11(self) -> "Budget":
        """Family (11) runs ``long_steps`` Adam steps when set."""
        return replace(self, adam_steps=self.long_steps) if self.long_steps else self

    def protocol(self, figures: str, init_std: float) -> Protocol:
        """The Adam protocol of a figure: at the paper's scale its notebook's
        (``figures`` a key of :data:`PAPER_PROTOCOLS`), else the CPU-scaled one with ``init_std``."""
        if self.paper_scale:
            return PAPER_PROTOCOLS[figures]
        return Protocol(
            self.adam_steps,
            self.adam_batch,
            100,
            0.02,
            self.halve_every,
            (0.99, 0.9),
            0.01,
            init_std,
        )

    def describe(self, protocol: Protocol, lbfgs: bool) -> str:
        s = protocol.describe()
        if not protocol.notebook:
            s += " (the paper: 20000-prompt minibatches, 30000-100000 steps)"
        if lbfgs:
            s += (
                f", then up to {self.lbfgs_iterations} L-BFGS iterations on a fixed sample of "
                f"{self.lbfgs_prompts} prompts (marked by the dotted vertical line)"
            )
        return s + f"; losses are measured on {self.test_prompts} held-out prompts."
