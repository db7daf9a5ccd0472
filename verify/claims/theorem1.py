"""Theorem 1 (and its generalisation to a Gaussian prior N(0, Omega) and label noise).

Evidence is gathered once, independently of any closed form:

1. family (8), one layer, Rao-Blackwellised: R replicas, each the exact minimiser of the
   transformer's loss averaged over B sampled contexts with the query, the task and the label
   noise integrated exactly (``verify.training.integrated``); the highest-resolution stream;
2. family (8), one layer: R replicas, each the exact empirical-loss minimiser on its own
   fresh sample of whole prompts (``verify.training.one_layer.fit_gd_layer``);
3. all (P, Q), one layer: R replicas, each the lowest of several L-BFGS + Newton runs from
   small random starts (``fit_unconstrained_multistart``), compared through the effective
   preconditioner ``A_eff = -(p_y Q11 + p_x q21^T)``, invariant under (gP, Q/g).  A replica
   that did not converge (stopping rule, second order, agreement of starts) or that sits in a
   different basin from the others (its loss on the pooled sample of all replicas is higher by
   more than :data:`BASIN_GAP`) is excluded and reported, never averaged in;
4. a fresh test sample on which the trained transformers (the real forward pass) are
   evaluated.

Then any closed form C (the derived optimum, a negative control, or a user's candidate) is
compared with that evidence by :func:`closed_form_checks`.  The verdict's resolution is the
smallest relative Frobenius deviation from C that the relative-Frobenius checks reject in
every direction (:mod:`verify.resolution`); ``Setting.resolution`` asks for a run that reaches
a given resolution, growing the Rao-Blackwellised stream as needed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from theory import single_layer as sl
from theory.single_layer_reduction import derive_reduction, effective_preconditioner
from theory.single_layer_symbolic import derive_general, derive_theorem1

from ..checks import (
    K_SIGMA,
    SPREAD_CEILING,
    CheckDef,
    Control,
    replica_tolerance,
)
from ..compare import (
    EPS,
    dist_identity,
    dist_tolerance,
    quadratic_form_floor,
    rel_fro,
    whiten,
)
from ..families import GD
from ..model import predict
from ..progress import Progress
from ..resolution import next_effort, run_resolution
from ..sampling import sqrtm_psd
from ..setting import Setting
from ..training.integrated import fit_integrated_layer
from ..training.one_layer import (
    OneLayerStats,
    fit_gd_layer,
    fit_unconstrained_multistart,
)
from .base import COMMON_OPTIONS, REPLICAS, Claim, Erratum, Hypothesis, Judgement

#: Fewest converged all-(P, Q) replicas for a spread-based tolerance: with 5 the K_SIGMA band
#: is still a 99 % Student-t interval (P(|t_4| > 5) = 7.5e-3); with fewer the checks that use
#: them are inconclusive.
MIN_KEPT = 5
#: A replica whose loss on the pooled sample of all replicas exceeds the lowest by more than
#: this (relative) sits in another basin.  Replicas at the same minimum differ at second order
#: in their sampling error (measured below 1e-3 relative at 2e4 prompts, d = 6); distinct local
#: minima of the one-layer loss differed by >= 8 % in 16 random settings.
BASIN_GAP = 2e-2
#: Largest Rao-Blackwellised sample per replica a --resolution request may grow to
#: (about 20 s per replica on one core).
MAX_INT_CONTEXTS = 5_000_000
CEILING_BASIS = "verify.checks.SPREAD_CEILING: replicas disagreeing beyond sampling error"
SAMP = f"sampling: {K_SIGMA:g} standard errors of the mean of {{R}} independent replicas"
#: The checks of Theorem 1, by stable id (tests, errata, controls and the resolution use the ids).
INT_CHECK = CheckDef("int", "family (8) Rao-Blackwellised A vs closed form (rel. Frobenius)")
GD_CHECK = CheckDef("gd", "family (8) trained A vs closed form (rel. Frobenius)")
FULL_CHECK = CheckDef("full", "all-(P,Q) trained A_eff vs closed form (rel. Frobenius)")
DIST_CHECK = CheckDef("dist", "Dist(Sigma^1/2 A Sigma^1/2, I): trained vs closed form")
PREDICTOR_CHECK = CheckDef(
    "predictor", "predictor on fresh prompts: trained vs closed form (rel. RMS)"
)
TEST_LOSS_CHECK = CheckDef(
    "test_loss", "test loss of trained model vs exact loss of closed form (relative)"
)
UNBEATEN_CHECK = CheckDef(
    "unbeaten", "closed form's exact loss minus the best trained model's exact loss"
)
VANISH_CHECK = CheckDef(
    "vanish", "all-(P,Q): entries the theorem says vanish (p_x/||p||, p_y q21/||A_eff||)"
)
CONVERGED_CHECK = CheckDef(
    "converged",
    "all-(P,Q) replicas converged (stopping rule, second order, starts agree, common basin)",
)
DERIVED_CHECK = CheckDef("derived", "Theorem 1 derived symbolically (sympy, d = 2)")
GENERAL_CHECK = CheckDef("general", "general (Omega, noise) optimum derived symbolically")
REDUCTION_CHECK = CheckDef("reduction", "reduction of all (P, Q) to family (8), exact")
EQ6_CHECK = CheckDef(
    "eq6", "paper's eq. (6) Gamma^{-1} equals the derived optimum H^{-1} Sigma Omega"
)
RESOLUTION_CHECK = CheckDef("resolution", "requested resolution {resolution:g} reached")
CHECKS = (
    VANISH_CHECK,
    CONVERGED_CHECK,
    DERIVED_CHECK,
    GENERAL_CHECK,
    REDUCTION_CHECK,
    EQ6_CHECK,
    INT_CHECK,
    GD_CHECK,
    FULL_CHECK,
    DIST_CHECK,
    PREDICTOR_CHECK,
    TEST_LOSS_CHECK,
    UNBEATEN_CHECK,
    RESOLUTION_CHECK,
)
#: The relative-Frobenius checks the resolution is computed from.
RESOLUTION_CHECKS = (INT_CHECK.id, GD_CHECK.id, FULL_CHECK.id)


#: Claim 1's condition-number limit (verify.limits allows 1e4 for the other claims): its checks
#: compare matrices in raw coordinates, whose replica spread grows with cond(Sigma).
MAX_CONDITION_CLAIM1 = 100.0


@dataclass(frozen=True)
class Effort:
    """Sample sizes.  Default (n <= 20): 10 x 2e5 contexts (Rao-Blackwellised family 8),
    10 x 1e5 contexts x 10 queries (family 8), 10 x 1e5 prompts with 8 starts each
    (all (P, Q)), 2e5 test prompts.  The prompt-level streams cost O(B n) and their checks do
    not set the resolution, so above n = 20 their sizes shrink as 20/n (a run costs about the
    same at every n; the Rao-Blackwellised stream, O(B d^2), keeps its size).  ``quick``
    divides every size by 5 and starts each all-(P, Q) replica from 4 starts instead of 8 (for
    the fast tests and the calibration sweep)."""

    int_contexts: int = 200_000
    gd_contexts: int = 100_000
    gd_queries: int = 10
    full_prompts: int = 100_000
    full_starts: int = 8
    test_prompts: int = 200_000

    @classmethod
    def for_setting(cls, s: Setting) -> Effort:
        div = 5 if s.quick else 1
        shrink = min(1.0, 20.0 / s.n)
        starts = (
            4 if s.quick else 8
        )  # more are added until two agree (fit_unconstrained_multistart)
        return cls(
            200_000 // div,
            int(100_000 * shrink) // div,
            10,
            int(100_000 * shrink) // div,
            starts,
            int(200_000 * shrink) // div,
        )


@dataclass
class Evidence:
    sigma: np.ndarray
    omega: np.ndarray
    A_int: np.ndarray  # (R, d, d) Rao-Blackwellised family-(8) replicas
    int_contexts: int
    A_gd: np.ndarray  # (R, d, d) family-(8) replicas
    gd_cond: float
    A_full: np.ndarray  # (R_kept, d, d) effective preconditioners of the kept all-(P, Q) replicas
    vanish: np.ndarray  # (R_kept, 2d): sign(p_y) p_x / ||p|| and p_y q21 / ||A_eff||
    full_opt: float  # optimisation bound on A_eff from the stopping rule (relative)
    full_info: list
    excluded: list  # (replica index, reason) of the all-(P, Q) replicas not averaged in
    test: object  # Prompts
    test_pred_gd: np.ndarray  # (R, B_test) predictions of the family-(8) replicas
    #: the exact derivations (Theorem 1, the general optimum, the reduction; cached in theory/)
    derivations: tuple = field(
        default_factory=lambda: (derive_theorem1(), derive_general(), derive_reduction())
    )


def gather_integrated(s: Setting, contexts: int, stream: str = "theorem1/integrated"):
    """R Rao-Blackwellised family-(8) replicas of ``contexts`` contexts each: (R, d, d), max cond."""
    rng, law = s.rng(stream), s.law
    out = [
        fit_integrated_layer(contexts, s.n, law.sigma, rng, law.omega, law.noise)
        for _ in range(REPLICAS)
    ]
    return np.array([a for a, _ in out]), max(c for _, c in out)


def gather_full(s: Setting, eff: Effort, progress: Progress):
    """All-(P, Q) replicas: multi-start fits, convergence diagnosis and the pooled basin test."""
    d = s.d
    rng = s.rng("theorem1/full")
    fits, pooled = [], None
    for r in range(REPLICAS):
        progress.update(f"all-(P,Q) replica {r + 1}/{REPLICAS}")
        stats = OneLayerStats.from_prompts(s.law.prompts(eff.full_prompts, s.n, rng))
        fits.append(fit_unconstrained_multistart(stats, rng, starts=eff.full_starts))
        pooled = (
            stats
            if pooled is None
            else replace(
                pooled, T=pooled.T + stats.T, U=pooled.U + stats.U, tt=pooled.tt + stats.tt
            )
        )
    pooled = replace(pooled, T=pooled.T / REPLICAS, U=pooled.U / REPLICAS, tt=pooled.tt / REPLICAS)
    pooled_loss = [
        pooled.loss_and_grad(np.concatenate([P[-1], Q[:, :d].ravel()]))[0] for P, Q, _ in fits
    ]
    low = min(pooled_loss)
    A_full, vanish, opt, infos, excluded = [], [], [], [], []
    for r, ((P, Q, info), fl) in enumerate(zip(fits, pooled_loss)):
        info["pooled_loss"] = fl
        why = info["not_converged"]
        if fl > low * (1 + BASIN_GAP):
            why = (why + "; " if why else "") + (
                f"another basin: loss on the pooled sample {fl:.6g} vs "
                f"lowest {low:.6g} (> {BASIN_GAP:g} relative)"
            )
        nxt = info.pop("next_PQ")
        infos.append(info)
        if why:
            excluded.append((r, why))
            continue
        A_eff = effective_preconditioner(P, Q)
        p_x, p_y, q21 = P[d, :d], P[d, d], Q[d, :d]
        A_full.append(A_eff)
        # both invariant under (gP, Q/g) and bounded (p_x / p_y is not: it blows up on a replica
        # with p_y near 0, and its spread then swamps the check)
        vanish.append(
            np.concatenate(
                [np.sign(p_y) * p_x / np.linalg.norm(P[d]), p_y * q21 / np.linalg.norm(A_eff)]
            )
        )
        # Optimisation error: A_eff's change under the Newton step not taken (quadratic
        # convergence: that step bounds the remaining error).
        opt.append(rel_fro(effective_preconditioner(*nxt), A_eff))
    return (
        np.array(A_full).reshape(-1, d, d),
        np.array(vanish).reshape(-1, 2 * d),
        max(opt, default=0.0),
        infos,
        excluded,
    )


def gather(s: Setting, progress: Progress | None = None) -> Evidence:
    """Train every replica and sample the test set (no closed form is consulted)."""
    progress = progress or Progress(None)
    eff = Effort.for_setting(s)
    sigma = s.sigma
    omega = s.law.Omega
    progress.update("family (8) Rao-Blackwellised replicas")
    A_int, _ = gather_integrated(s, eff.int_contexts)
    A_gd, conds = [], []
    rng = s.rng("theorem1/gd")
    for r in range(REPLICAS):
        progress.update(f"family (8) replica {r + 1}/{REPLICAS}")
        A, cond = fit_gd_layer(s.law.tasks(eff.gd_contexts, s.n, rng, eff.gd_queries))
        A_gd.append(A)
        conds.append(cond)
    A_full, vanish, opt, infos, excluded = gather_full(s, eff, progress)
    progress.update("test prompts")
    test = s.law.prompts(eff.test_prompts, s.n, s.rng("theorem1/test"))
    fam = GD(s.d, 1)
    preds = np.array([predict(fam.unpack(A.ravel()), test) for A in A_gd])
    return Evidence(
        sigma,
        omega,
        A_int,
        eff.int_contexts,
        np.array(A_gd),
        max(conds),
        A_full,
        vanish,
        opt,
        infos,
        excluded,
        test,
        preds,
    )


def _spread_check(check: CheckDef, observed, estimates, scale, extra, basis):
    """A rel.-Frobenius check with a replica-spread tolerance, its ceiling and enough replicas."""
    R = len(estimates)
    if R < MIN_KEPT:
        return check.inconclusive(
            "sampling",
            observed if np.isfinite(observed) else 0.0,
            np.inf,
            basis,
            f"only {R} converged replicas (< {MIN_KEPT}): no spread-based tolerance",
        )
    return check.at_most(
        "sampling",
        observed,
        replica_tolerance(estimates, scale) + extra,
        basis,
        ceiling=SPREAD_CEILING,
        ceiling_basis=CEILING_BASIS,
    )


def closed_form_checks(C: np.ndarray, ev: Evidence, s: Setting) -> list:
    """Every comparison of the trained models with a claimed preconditioner C (d x d)."""
    d = s.d
    sig_half = sqrtm_psd(ev.sigma)
    C = np.asarray(C, dtype=float)
    nC = max(np.linalg.norm(C), EPS)
    R = REPLICAS
    samp = SAMP.format(R=R)
    float_gd = ev.gd_cond * EPS * d
    full_mean = ev.A_full.mean(0) if len(ev.A_full) else np.full((d, d), np.nan)
    checks = [
        _spread_check(
            INT_CHECK,
            rel_fro(ev.A_int.mean(0), C),
            ev.A_int,
            nC,
            0.0,
            f"{samp} of {ev.int_contexts} contexts each (query, task and noise integrated exactly)",
        ),
        _spread_check(
            GD_CHECK,
            rel_fro(ev.A_gd.mean(0), C),
            ev.A_gd,
            nC,
            float_gd,
            f"{samp} (exact least squares; round-off cond*d*eps = {float_gd:.1e})",
        ),
        _spread_check(
            FULL_CHECK,
            rel_fro(full_mean, C),
            ev.A_full,
            nC,
            ev.full_opt,
            SAMP.format(R=len(ev.A_full))
            + f" that converged + optimisation error {ev.full_opt:.1e} "
            "(size of the next Newton step)",
        ),
    ]
    W = np.array([whiten(A, sig_half) for A in ev.A_int])
    Cw = whiten(C, sig_half)
    tau = replica_tolerance(W, max(np.linalg.norm(Cw), EPS))
    checks.append(
        DIST_CHECK.at_most(
            "sampling",
            abs(dist_identity(W.mean(0)) - dist_identity(Cw)),
            dist_tolerance(Cw, tau),
            f"{samp} (Rao-Blackwellised) of Sigma^1/2 A Sigma^1/2, propagated through Dist's Lipschitz bound",
            ceiling=SPREAD_CEILING,
            ceiling_basis=CEILING_BASIS,
        )
    )
    fam = GD(d, 1)
    pred_C = predict(fam.unpack(C.ravel()), ev.test)
    nP = max(np.linalg.norm(pred_C), EPS)
    checks.append(
        PREDICTOR_CHECK.at_most(
            "sampling",
            np.linalg.norm(ev.test_pred_gd.mean(0) - pred_C) / nP,
            replica_tolerance(ev.test_pred_gd, nP),
            f"{samp}; {ev.test.B} fresh prompts",
            ceiling=SPREAD_CEILING,
            ceiling_basis=CEILING_BASIS,
        )
    )
    sq = (ev.test_pred_gd.mean(0) - ev.test.target) ** 2
    fC = s.law.population_loss(C, s.n)
    se = float(sq.std(ddof=1) / np.sqrt(sq.size))
    checks.append(
        TEST_LOSS_CHECK.at_most(
            "sampling",
            abs(sq.mean() - fC) / fC,
            K_SIGMA * se / fC,
            f"sampling: {K_SIGMA:g} standard errors of a mean over {sq.size} fresh prompts",
        )
    )
    checks.append(cannot_be_beaten(C, ev, s, fC))
    return checks


def cannot_be_beaten(C, ev: Evidence, s: Setting, fC: float):
    """f(C) - min f(trained means) <= round-off: a global optimum is never beaten.

    f is the exact population loss of family (8) from the model's definition and the Gaussian
    moment H = E[h h^T] (:func:`theory.single_layer.population_loss`), evaluated at C and at the
    replica means; it does not use the claimed optimum.  The observed value is the amount by
    which the best trained model beats C (0 when it does not); the signed difference is in
    the reason, so no negative value is printed as an observation.
    """
    means = [ev.A_int.mean(0), ev.A_gd.mean(0)] + ([ev.A_full.mean(0)] if len(ev.A_full) else [])
    best = min(s.law.population_loss(M, s.n) for M in means)
    floor = quadratic_form_floor(s.d, float(np.linalg.cond(ev.sigma)))
    gap = (fC - best) / fC
    return UNBEATEN_CHECK.at_most(
        "exact",
        max(gap, 0.0),
        floor,
        f"floating point: 64 d^2 eps cond(Sigma)^2 = {floor:.1e} (a true optimum cannot be beaten)",
        reason=(
            f"f(best trained) - f(C) = {-gap:+.3e} f(C): "
            + ("the closed form is lower" if gap <= 0 else "a trained model beats the closed form")
        ),
    )


def controls(s: Setting, sigma: np.ndarray, omega: np.ndarray) -> list:
    """Plausible wrong closed forms (:class:`~verify.checks.Control`: a d x d matrix and its
    relative distance from the optimum).  The off-by-one forms are the regulariser and the
    data factor shifted by one in n (issue 8)."""
    A_star = s.law.optimum(s.n)
    return [Control(name, C, rel_fro(C, A_star)) for name, C in _wrong_forms(s, sigma)]


def _wrong_forms(s: Setting, sigma: np.ndarray) -> list:
    n, d = s.n, s.d
    I = np.eye(d)
    G = sl.gamma(sigma, n)
    tr = np.trace(sigma)
    inv = np.linalg.inv
    out = [
        ("Sigma^{-1} in place of Gamma^{-1}", inv(sigma)),
        ("trace regulariser dropped: ((n+1)/n Sigma)^{-1}", inv((n + 1) / n * sigma)),
        ("(n+1)/n replaced by 1: (Sigma + tr(Sigma)/n I)^{-1}", inv(sigma + tr / n * I)),
        ("wrong sign: -Gamma^{-1}", -inv(G)),
        (
            "wrong factor of n (attention normalised by 1/(n+1)): (n+1)/n Gamma^{-1}",
            (n + 1) / n * inv(G),
        ),
        (
            "wrong factor of n in the regulariser: ((n+1)/n Sigma + tr(Sigma) I)^{-1}",
            inv((n + 1) / n * sigma + tr * I),
        ),
        (
            "off by one in the regulariser: ((n+1)/n Sigma + tr(Sigma)/(n+1) I)^{-1}",
            inv((n + 1) / n * sigma + tr / (n + 1) * I),
        ),
        (
            "off by one in both: ((n+2)/(n+1) Sigma + tr(Sigma)/(n+1) I)^{-1}",
            inv((n + 2) / (n + 1) * sigma + tr / (n + 1) * I),
        ),
    ]
    if s.prior != "identity" or s.noise > 0:
        out.append(
            ("the paper's eq. (6) Gamma^{-1}, which ignores the prior and the noise", inv(G))
        )
    return out


def vanish_check(ev: Evidence):
    """sign(p_y) p_x / ||p|| and p_y q21 / ||A_eff|| of the kept all-(P, Q) replicas vanish
    within sampling error (p = P's last row; both are invariant under (gP, Q/g))."""
    kept = len(ev.A_full)
    basis = SAMP.format(R=kept) + " that converged"
    if kept < MIN_KEPT:
        return VANISH_CHECK.inconclusive(
            "sampling",
            0.0,
            np.inf,
            basis,
            f"only {kept} converged replicas (< {MIN_KEPT}): no spread-based tolerance",
        )
    return VANISH_CHECK.at_most(
        "sampling",
        float(np.linalg.norm(ev.vanish.mean(0))),
        replica_tolerance(ev.vanish, 1.0),
        basis,
        ceiling=SPREAD_CEILING,
        ceiling_basis=CEILING_BASIS,
    )


def base_checks(ev: Evidence, s: Setting) -> list:
    """Checks that do not depend on the closed form under test."""
    # d = 1: a second branch of global minimisers has p_y = 0 (see the erratum), so the entries
    # need not vanish and the check is not part of the claim there
    checks = ([vanish_check(ev)] if s.d > 1 else []) + [convergence_check(ev)]
    t1, gen, red = ev.derivations
    for check, der in ((DERIVED_CHECK, t1), (GENERAL_CHECK, gen), (REDUCTION_CHECK, red)):
        checks.append(
            check.at_most("exact", len(der.failures_in_claim), 0, f"exact: steps {der.describe()}")
        )
    return checks


def convergence_check(ev: Evidence):
    """At least MIN_KEPT all-(P, Q) replicas converged to the common basin; else inconclusive."""
    kept = len(ev.A_full)
    basis = (
        f"count of {REPLICAS} replicas kept; excluded ones are listed and never averaged in; "
        f">= {MIN_KEPT} keep the Student-t basis of the tolerance"
    )
    why = "; ".join(f"replica {r}: {w}" for r, w in ev.excluded)
    if kept < MIN_KEPT:
        return CONVERGED_CHECK.inconclusive(
            "optimisation", kept, MIN_KEPT, basis, f"too few converged: {why}", ">="
        )
    return CONVERGED_CHECK.at_least("optimisation", kept, MIN_KEPT, basis, reason=why)


def _grow_resolution(s: Setting, ev: Evidence, target: np.ndarray, progress: Progress):
    """Grow the Rao-Blackwellised stream until the resolution reaches ``s.resolution`` (or the
    cap); each round is a fresh sample, so the final evidence is not selected on its outcome."""
    t0, rounds, spent = time.perf_counter(), 0, 0
    res, _ = run_resolution(closed_form_checks(target, ev, s), RESOLUTION_CHECKS)
    while res > s.resolution and ev.int_contexts < MAX_INT_CONTEXTS:
        B = next_effort(ev.int_contexts, res, s.resolution, MAX_INT_CONTEXTS)
        rounds += 1
        progress.update(f"resolution round {rounds}: {REPLICAS} x {B} contexts")
        ev.A_int, _ = gather_integrated(s, B, stream=f"theorem1/integrated/round{rounds}")
        ev.int_contexts = B
        spent += REPLICAS * B
        res, _ = run_resolution(closed_form_checks(target, ev, s), RESOLUTION_CHECKS)
    return (
        f"{rounds} extra round(s), {spent} extra contexts, {time.perf_counter() - t0:.1f} s; "
        f"final Rao-Blackwellised sample {REPLICAS} x {ev.int_contexts} contexts"
    )


def resolution_check(s: Setting, res: float):
    """``--resolution R``: the run reached R, or says it could not within the cap."""
    title = RESOLUTION_CHECK.title_for(resolution=s.resolution)
    basis = f"verify.resolution; Rao-Blackwellised sample capped at {MAX_INT_CONTEXTS} contexts per replica"
    if res <= s.resolution:
        return RESOLUTION_CHECK.at_most("resolution", res, s.resolution, basis, title=title)
    return RESOLUTION_CHECK.inconclusive(
        "resolution",
        res,
        s.resolution,
        basis,
        f"the cap was reached at resolution {res:.3g}: a finer request needs more work than allowed",
        title=title,
    )


def prepare(s: Setting, candidate) -> np.ndarray:
    """A user's candidate preconditioner, evaluated (and validated) before any training."""
    return candidate(sigma=s.sigma, n=s.n)


def judge(s: Setting, ev: Evidence, target, progress: Progress) -> Judgement:
    """The checks of the evidence against the optimum (or ``target``); see the module docstring."""
    A_star = s.law.optimum(s.n)
    G_inv = np.linalg.inv(sl.gamma(ev.sigma, s.n))
    closed = {
        "preconditioner": A_star,
        "gamma_inverse_eq6": G_inv,
        "optimal_loss": s.law.optimal_loss(s.n),
    }
    notes = [f"all-(P,Q) replica {r} excluded: {w}" for r, w in ev.excluded]
    if s.d == 1:
        notes.append(
            "d = 1: the check that p_x and q21 vanish is not run; a second branch of global "
            "minimisers (p_y = 0, -p_x q21 = A*) computes the same predictor (see the erratum)"
        )
    candidate = target is not None
    if candidate:
        closed["candidate"] = target
    else:
        target = A_star
    timings = {}
    if s.resolution is not None:
        timings["resolution_cost"] = _grow_resolution(s, ev, target, progress)
    checks = base_checks(ev, s)
    if s.prior == "identity" and s.noise == 0:  # the paper's setting: eq. (6) applies
        checks.append(
            EQ6_CHECK.at_most(
                "exact",
                rel_fro(G_inv, A_star),
                64 * s.d * EPS * np.linalg.cond(ev.sigma),
                "floating point: 64 d eps cond(Sigma)",
            )
        )
    else:
        notes.append(
            f"eq. (6) does not apply (prior {s.prior}, noise {s.noise}): Gamma^{{-1}} differs "
            f"from the derived optimum by {rel_fro(G_inv, A_star):.3g} (rel. Frobenius); "
            "the generalised optimum H^{-1} Sigma Omega is verified instead"
        )
    target_checks = closed_form_checks(target, ev, s)
    checks += target_checks
    res, basis = run_resolution(target_checks, RESOLUTION_CHECKS)
    if s.resolution is not None:
        checks.append(resolution_check(s, res))

    def truth():
        return closed_form_checks(A_star, ev, s) if candidate else target_checks

    return Judgement(
        s.describe(ev.sigma),
        closed,
        checks,
        notes=notes,
        resolution=res,
        resolution_basis=basis,
        timings=timings,
        truth=truth,
        control_resolution=lambda truth: run_resolution(truth, RESOLUTION_CHECKS)[0],
        artifacts={"A_full_mean": ev.A_full.mean(0)} if len(ev.A_full) else {},  # figures
    )


def _controls(s: Setting, ev: Evidence, judgement) -> list:
    return controls(s, ev.sigma, ev.omega)


def _gaussian(s):
    from theory.gaussian import derive_gaussian_moments

    return derive_gaussian_moments()


def _theorem1(s):
    return derive_theorem1()


def _reduction(s):
    return derive_reduction()


def _general(s):
    return derive_general()


def _figures(cid, verdict, setting, budget):
    from ..experiments.gallery import one_layer

    return one_layer(cid, verdict, setting, budget)


CLAIM = Claim(
    id="1",
    title="Theorem 1: the one-layer global optimum",
    source="Theorem 1, eqs. (6)-(7)",
    statement="For x ~ N(0, Sigma), w* ~ N(0, I), a global minimiser over all (P, Q) with L = 1 is "
    "P_0 = [[0,0],[0,1]], Q_0 = -[[Gamma^{-1},0],[0,0]], Gamma = ((n+1)/n) Sigma + (tr Sigma/n) I.",
    gather=gather,
    judge=judge,
    prepare=prepare,
    controls=_controls,
    control_checks=closed_form_checks,
    checks=CHECKS,
    hypotheses=(
        Hypothesis("x^(i) ~ N(0, Sigma) i.i.d., Sigma positive definite"),
        Hypothesis(
            "w* ~ N(0, I), no label noise (with --prior inverse or --noise the generalised "
            "optimum H^-1 Sigma Omega is verified instead)"
        ),
        Hypothesis("one layer (L = 1), every entry of P_0 and Q_0 trainable"),
        Hypothesis(
            f"cond(Sigma) <= {MAX_CONDITION_CLAIM1:g}, a limit of these checks and not of the "
            "theorem: the replicas' spread in raw coordinates grows with cond(Sigma) (measured, "
            "--quick, spectrum 1,1e-4,1,0.25,1: tolerances 16 and 28 against the ceiling 0.25, "
            "INCONCLUSIVE; the calibration sweep, cond <= 100: 0 false failures, 87 of 90 decided)",
            holds=lambda s: max(s.eigenvalues) / min(s.eigenvalues) <= MAX_CONDITION_CLAIM1,
            needs=f"--spectrum with max/min eigenvalue <= {MAX_CONDITION_CLAIM1:g}",
        ),
    ),
    options=COMMON_OPTIONS | {"candidate", "resolution"},
    effort=Effort.for_setting,
    derivation=(_gaussian, _theorem1, _reduction, _general),
    errata=(
        Erratum(
            "uniqueness up to rescaling when d = 1",
            "Theorem 1: the global minimiser is (P_0, Q_0) of eq. (6) up to (P, Q) -> (gP, Q/g).",
            "For d >= 2 this is right (modulo the entries the loss cannot see). For d = 1 there is a "
            "second branch of global minimisers, Q11 = 0, p_y = 0, -p_x q21 = A*, which computes the "
            "same predictor through the covariate row and is not a rescaling of eq. (6).",
            steps=("second branch", "rank-one A_eff"),
        ),
    ),
    figures=(_figures,),
)

run = CLAIM.run
