"""Shared machinery of the multi-layer claims (Theorems 3, 4 and Lemma 4).

Training: R replicas of family (8) or (11), each on its own fresh sample (x ~ N(0, Sigma),
w* ~ N(0, Sigma^{-1})), with :func:`verify.training.multilayer.train_family`.  Training and test
samples are importance-sampled (:func:`verify.population.sample_population`: exact likelihood-
ratio weights, so every empirical loss is unbiased for the population loss and its gradient):
at small n d the per-prompt loss is tail-dominated, plain samples then bias the sample
minimisers and the test means, and their standard errors understate the error (issue 8
calibration: claim 3 at d = 1, n = 6 failed 3 of 12 seeds on plain samples, none with these).
Comparison happens in whitened coordinates: ``Sigma^{1/2} A_l Sigma^{1/2}`` against ``a_l I``
and ``B_l`` against ``b_l I`` (the sets S of eqs. (10), (12)), layers matched up to the
permutation of Lemma 4.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..compare import dist_identity
from ..families import Family
from ..population import sample_population
from ..sampling import sqrtm_psd
from ..setting import Setting
from ..training.multilayer import FamilyObjective, Summaries, resjac, train_family
from .base import REPLICAS, Hypothesis, inverse_prior, noiseless

#: The data hypotheses of Theorems 3, 4 and Lemma 4 (as the paper states them).
INVERSE_PRIOR_HYPOTHESES = (
    Hypothesis("x^(i) ~ N(0, Sigma), w* ~ N(0, Sigma^{-1})", inverse_prior, "--prior inverse"),
    Hypothesis("no label noise", noiseless, "--noise 0"),
)


def preamble(claim, s: Setting, candidate) -> int:
    """Check a multi-layer claim's hypotheses (before any work); returns the number of layers L."""
    if candidate is not None:
        raise ValueError(f"{claim.name} takes no candidate closed form")
    claim.check(s)
    return s.layers or 3


def critical_derivation(family: Family, default_L: int):
    """``f(setting) -> Derivation`` of the critical points of phi_L on S (theory.critical)."""

    def derive(s):
        from theory.critical import derive_critical_points

        return derive_critical_points(family.equation, s.layers or default_L, s.n, s.d)

    derive.__name__ = f"critical_points_family{family.equation}"
    return derive


@dataclass
class LayerEvidence:
    sigma: np.ndarray
    family: Family
    L: int
    thetas: np.ndarray  # (R, size)
    A_white: np.ndarray  # (R, L, d, d) Sigma^1/2 A_l Sigma^1/2 (family (8) sign convention kept)
    B: np.ndarray  # (R, L, d, d) (zeros for family (8))
    opt: float  # optimisation error (relative), from the next Gauss-Newton step
    infos: list
    test: Summaries
    test_loss: np.ndarray  # (R,) sampled loss of each replica on the fresh test set


def gather(
    s: Setting,
    family: Family,
    L: int,
    prompts_per_replica: int,
    test_prompts: int,
    progress=None,
    shared_start: bool = False,
    **train_kw,
) -> LayerEvidence:
    """Train the replicas; nothing here knows any closed form.

    ``shared_start``: train a pilot model from the random start on the first replica's sample,
    then start every replica from it (replicas then differ only by their samples, so their
    spread measures the sampling error inside one basin).
    """
    sigma = s.sigma
    d = s.d
    sh = sqrtm_psd(sigma)
    tag = family.name  # stream names keep the old spelling: same seed, same numbers
    rng = s.rng(f"{tag}/L{L}/train")
    init_rng = s.rng(f"{tag}/L{L}/init")
    thetas, infos, opts = [], [], []
    start = None
    for r in range(REPLICAS):
        if progress:
            progress.update(f"{family.title} L={L} replica {r + 1}/{REPLICAS}")
        sm = sample_population(prompts_per_replica, s.n, sigma, rng).summaries
        if shared_start and start is None:
            start, _ = train_family(family, L, sm, init_rng, **train_kw)
        theta, info = train_family(family, L, sm, init_rng, theta0=start, **train_kw)
        nxt = info.pop("next_theta")
        opts.append(float(np.linalg.norm(nxt - theta) / max(np.linalg.norm(theta), 1e-300)))
        thetas.append(theta)
        infos.append(info)
    thetas = np.array(thetas)
    A_white, B = [], []
    for th in thetas:
        A, Bm = family.split(th, d, L)
        A_white.append(np.array([sh @ a @ sh for a in A]))
        B.append(Bm)
    if progress:
        progress.update("test prompts")
    test = sample_population(test_prompts, s.n, sigma, s.rng(f"{tag}/L{L}/test")).summaries
    obj = FamilyObjective(family, L, test)
    test_loss = np.array([obj(th)[0] for th in thetas])
    return LayerEvidence(
        sigma, family, L, thetas, np.array(A_white), np.array(B), max(opts), infos, test, test_loss
    )


def mean_model_sq_residuals(ev: LayerEvidence, perms) -> np.ndarray:
    """Squared test residuals of the replica-mean model, layers aligned by ``perms`` first
    (averaging unaligned layers would mix different layers' matrices)."""
    d, L = ev.A_white.shape[-1], ev.L
    aligned = []
    for th, p in zip(ev.thetas, perms):
        mats = th.reshape(-1, d, d)
        aligned.append(mats[ev.family.layer_permutation(p)].ravel())
    res, _ = resjac(ev.family, L, ev.test)(np.mean(aligned, axis=0), False)
    return res * res


def step_sizes(ev: LayerEvidence):
    """Per replica, the trace parts a_l = tr(Sigma^1/2 A_l Sigma^1/2)/d and b_l = tr(B_l)/d."""
    d = ev.A_white.shape[-1]
    a = np.trace(ev.A_white, axis1=2, axis2=3) / d
    b = np.trace(ev.B, axis1=2, axis2=3) / d
    return a, b


def canonical_order(ev: LayerEvidence, permute: bool = True):
    """Per replica, its layers sorted by step size a_l (Lemma 4: on S the order is irrelevant).

    A canonical order that does not look at any reference keeps the replica average honest
    (aligning onto a reference with repeated values would average different layers)."""
    a, _ = step_sizes(ev)
    return [
        tuple(np.argsort(a[r], kind="stable")) if permute else tuple(range(ev.L))
        for r in range(len(a))
    ]


def aligned_matrices(ev: LayerEvidence, permute: bool = True):
    """Whitened A_l of every replica in canonical layer order: (R, L, d, d)."""
    return np.array([ev.A_white[r][list(p)] for r, p in enumerate(canonical_order(ev, permute))])


def dists(ev: LayerEvidence):
    """Dist(., I) of each whitened A_l and each B_l of the replica mean."""
    A = ev.A_white.mean(0)
    B = ev.B.mean(0)
    return [dist_identity(M) for M in A], [dist_identity(M) for M in B]
