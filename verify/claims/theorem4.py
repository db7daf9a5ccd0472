"""Theorem 4 (family (11), "GD++", L layers, x ~ N(0, Sigma), w* ~ N(0, Sigma^{-1})) and its
experiment (Section 5.1, Figs. 3-5).

Exact side (theory.critical, verify.critical_sets): critical points of phi_L(a, b) on S =
{A_l = a_l Sigma^{-1}, B_l = b_l I}, each with a Krawczyk certificate and its kind from verified
Hessian eigenvalue bounds; proved complete for L <= 2 (exact elimination).  L = 3: the strata
a_0 = 0, a_1 = 0 exactly (from L = 2), the open stratum from a search table (shipped for d = 5,
n = 10, 20; elsewhere a seeded on-demand search in the coordinates (a, b) and (a, c = a b),
cached per (n, d) in the user cache directory), every row certified at run time: the same
list at every effort, never called complete (``list_source`` in the JSON says how it was
obtained).  Checked: eq. (12) (critical points exist, the gradient infimum is attained), f does
not depend on B_{L-1} (on the NumPy model), and trained replicas lie on S.

Trained side, like with like: the replicas are trained on importance-sampled prompts
(:mod:`verify.population`), whose weighted loss and gradient are unbiased for the POPULATION
loss f that Theorem 4 is about (a plain sample misses the spectral tail that dominates f).  A
pilot is trained from a small random start (no closed form, no critical point consulted);
REPLICAS replicas then start from it, each on its own fresh sample, so their spread measures
the sampling error inside one basin.  The point they reach is decided by a certificate, not by
a list that is not proved complete: from the replica mean a float root finder and exact Newton
reach a zero of grad phi_L, which is certified (Krawczyk) and classified (verified Hessian
enclosures) and joins the run's list with provenance "certified from the trained replicas"
(``certified_from_replicas`` in the JSON).  Checked: the replica mean lies within K_SIGMA
standard errors (plus the optimisation stopping rule's error) of a certified MINIMUM of phi;
only saddles within reach, an escaping sequence (a_l -> 0, |b_l| -> inf), a spread beyond the
ceiling, or nothing certified within reach of an incomplete list leave it INCONCLUSIVE (with
the reason); it fails only against a list proved complete.  The negative controls are judged
by the same step-size check against the replicas (one tolerance, relative to the replica
mean's norm) and are never certified themselves.

Found while building this (reported in the verdict's notes, with numbers): training on PLAIN
sampled prompts, as the paper did, reaches step sizes that are not critical points of the exact
population loss.  The polynomial p(S_hat) of GD++ has degree (3^L - 1)/2 (13 for L = 3), so phi is
dominated by eigenvalues of S_hat with spectral weight below 1e-6, which no sample contains: the
sampled loss at the plain-trained (and the paper's reported) step sizes is tens of times below phi
there.  The verdict reports both trained points with their exact phi.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import mpmath
import numpy as np

from ..checks import (
    K_SIGMA,
    SPREAD_CEILING,
    CheckDef,
    Control,
    inconclusive,
    replica_tolerance,
)
from ..compare import EPS, dist_identity, dist_tolerance, rel_fro
from ..critical_sets import (
    CRITICAL_CHECKS,
    EXISTS,
    certify_from_evidence,
    closed_form_fields,
    critical_checks,
    critical_set,
    lowest_note,
    same_point,
)
from ..families import FAMILY11, GDPlusPlus
from ..model import forward
from ..population import fit_from_small_start, from_units, refit, sample_population, units
from ..progress import Progress
from ..sampling import sample_prompts, sqrtm_psd
from ..search import gauss_float
from ..setting import Setting
from ..training.multilayer import FamilyObjective, Summaries
from . import layers
from .base import COMMON_OPTIONS, Claim, Erratum, Hypothesis, Judgement

#: The paper's reported values (Figs. 4-5; text says n = 10, the official code n = 20):
#: Sigma^1/2 A_l Sigma^1/2 ~ -0.38 I, -2.40 I, -9.59 I and B_0 ~ 0.90 I, B_1 ~ 0.56 I.
PAPER_FIG45 = ((-0.38, -2.40, -9.59), (0.90, 0.56, 0.0))


def default_setting(**kw) -> Setting:
    kw.setdefault("prior", "inverse")
    kw.setdefault("layers", 3)
    return Setting(**kw)


@dataclass(frozen=True)
class Effort:
    """Importance-sampled prompts per population replica (REPLICAS replicas and a pilot), plain
    prompts of the paper-style fit, and importance-sampled test prompts (the critical points are
    the certified set of verify.critical_sets: the same at every effort)."""

    prompts: int = 2_000
    plain_prompts: int = 2_000
    test_prompts: int = 3_000

    @classmethod
    def for_setting(cls, s: Setting) -> "Effort":
        return cls(1_000, 1_000, 2_000) if s.quick else cls()


def b_last_is_invisible(theta, s: Setting, L: int) -> float:
    """max |change of [Z_L]_{d+1,n+1}| when B_{L-1} is replaced by a random matrix (full forward)."""
    fam = GDPlusPlus(s.d, L)
    prompts = sample_prompts(64, s.n, s.sigma, s.rng("theorem4/blast"), np.linalg.inv(s.sigma))
    out, _ = forward(fam.unpack(theta), prompts, full=True)
    th2 = np.array(theta, dtype=float).copy()
    d = s.d
    th2[(2 * L - 1) * d * d :] = s.rng("theorem4/blast/B").standard_normal(d * d)
    out2, _ = forward(fam.unpack(th2), prompts, full=True)
    return float(np.abs(out - out2).max())


def _gauss(n: int, d: int, nodes: int):
    """The Gauss rule of the spectral measure as float arrays (cached per process)."""
    return gauss_float(n, d, nodes)


def tail_share(a, b, n, d, quantile_weight: float = 1e-6, nodes: int = 30) -> float:
    """Share of phi(a, b) carried by Gauss nodes of the spectral measure with weight < 1e-6."""
    x, w = _gauss(n, d, nodes)
    g, p = np.ones_like(x), np.ones_like(x)
    for l in range(len(a)):
        p = p * (1 + a[l] * g * g * x)
        g = (1 + a[l] * b[l] * g * g * x) * g
    c = w * p * p
    return float(c[w < quantile_weight].sum() / c.sum())


#: The checks of Theorem 4, by stable id (tests, the erratum and the controls use the ids);
#: the critical set's own checks are :data:`verify.critical_sets.CRITICAL_CHECKS`.
B_LAST = CheckDef("b_last", "f does not depend on B_{L-1} (NumPy model, full forward pass)")
ON_S_A = CheckDef("on_S_A", "trained A_l lie on S: max_l Dist(Sigma^1/2 A_l Sigma^1/2, I)")
ON_S_B = CheckDef("on_S_B", "trained B_l (l < L-1) lie on S: max_l Dist(B_l, I)")
STEP_SIZES = CheckDef(
    "step_sizes",
    "population-trained step sizes (a_l, b_l) vs a critical point's (rel. Euclidean)",
)
REACHED_MINIMUM = CheckDef(
    "reached_minimum",
    "trained replicas within tolerance of a certified minimum of phi (Hessian on S and off it)",
)
CHECKS = (*CRITICAL_CHECKS, B_LAST, ON_S_A, ON_S_B, STEP_SIZES, REACHED_MINIMUM)


@dataclass
class Evidence:
    """The population replicas (with their pilot) and the paper-style plain-sample fit (None
    where the erratum it serves does not apply)."""

    population: layers.LayerEvidence
    pilot: object
    plain: dict | None


def gather(s: Setting, progress: Progress) -> Evidence:
    """Train the pilot, the replicas and the plain fit (no closed form, no critical point)."""
    L, eff = s.layers or 3, Effort.for_setting(s)
    ev, pilot = gather_population(s, L, eff, progress)
    # the plain-sample trainer repeats the paper's experiment (d = 5, L = 3, n = 10 or 20)
    plain = fit_plain(s, L, eff, progress) if plain_applies(s, L) else None
    return Evidence(ev, pilot, plain)


def on_S_checks(ev, s: Setting, L: int) -> list:
    """The trained A_l and B_l (l < L-1) are multiples of Sigma^-1 and I within sampling error."""
    samp = f"sampling: {K_SIGMA:g} standard errors of the mean of {layers.REPLICAS} replicas"
    basis = f"{samp} via Dist's Lipschitz bound + optimisation error {ev.opt:.1e}"
    W = ev.A_white.mean(0)
    Bm = ev.B.mean(0)[: L - 1]
    tauA = replica_tolerance(ev.A_white, max(np.linalg.norm(W), EPS))
    out = [
        _within_ceiling(
            ON_S_A.at_most(
                "sampling",
                max(dist_identity(M) for M in W),
                dist_tolerance(np.eye(s.d), tauA) + ev.opt,
                basis,
            ),
            tauA + ev.opt,
        )
    ]
    if L > 1:
        tauB = replica_tolerance(ev.B[:, : L - 1], max(np.linalg.norm(Bm), EPS))
        out.append(
            _within_ceiling(
                ON_S_B.at_most(
                    "sampling",
                    max(dist_identity(M) for M in Bm),
                    dist_tolerance(np.eye(s.d), tauB) + ev.opt,
                    basis,
                ),
                tauB + ev.opt,
            )
        )
    return out


def only_if_stationary(checks: list, pilot, truth) -> list:
    """The on-S ``checks`` where the replicas are shown to be at a stationary point of f, else
    each made inconclusive (whether it would have passed or failed).

    Theorem 4 puts critical points on S; a point the optimiser has not finished with need not
    lie there.  Shown stationary: the pilot met its stopping rule (:func:`verify.population.
    fit_from_small_start`) in one of its random starts, or the step-size check (``truth``)
    puts the replica mean within tolerance of a certified critical point.  Neither holds, e.g.,
    at condition number 1e4 (spectrum 1,1e-4,1,1,1 in any units), where no start meets the
    rule within its budget and the replicas stop far from every critical point (relative
    step-size distance ~2, exact grad phi ~0.1 there): judging S there would fail a true
    theorem on an unfinished fit."""
    if pilot.converged or (truth and truth[0].passed):
        return checks
    why = (
        f"the replicas are not shown to be at a stationary point of f: the pilot met its "
        f"stopping rule in none of its {pilot.starts} random starts, and the step-size check "
        f"does not place the replica mean at a certified critical point"
    )
    return [
        c
        if c.inconclusive
        else inconclusive(
            c.name,
            c.kind,
            c.observed,
            c.tolerance,
            c.basis,
            f"{why}; observed {c.observed:.3g} would have {'passed' if c.passed else 'failed'}",
            id=c.id,
        )
        for c in checks
    ]


def judge(s: Setting, evidence: Evidence, target, progress: Progress) -> Judgement:
    L, ev, plain = s.layers or 3, evidence.population, evidence.plain
    progress.update(f"critical points of phi_{L} (exact, certified)")
    cs = critical_set(FAMILY11, L, s.n, s.d)  # the same list at every effort (theory.critical)
    checks = [
        *critical_checks(cs, "12", complete_expected=L <= 2),
        B_LAST.at_most(
            "floating point",
            b_last_is_invisible(ev.thetas[0], s, L),
            0.0,
            "exact: the covariate rows of the last layer are never read",
        ),
    ]
    a_tr, b_tr = layers.step_sizes(ev)
    a_mean, b_mean = a_tr.mean(0), b_tr.mean(0)
    b_mean[-1] = 0.0  # b_{L-1} is invisible to f
    cps, certified = cs.points, None
    if not cs.complete:  # a complete list already holds every critical point the replicas can reach
        progress.update("certifying the critical point the replicas point at (Newton, Krawczyk)")
        certified = certify_from_evidence(
            FAMILY11, L, s.n, s.d, list(a_mean) + list(b_mean[: L - 1])
        )
        cps = with_evidence_point(cps, certified)
    near, within = reached_point(ev, s, cps)
    truth = truth_checks(near, within, ev, s, cs.complete)
    checks += only_if_stationary(on_S_checks(ev, s, L), evidence.pilot, truth)
    checks += truth
    checks.append(reached_minimum_check(near, within, cs.complete, certified, truth))
    R = FAMILY11.restricted_loss(L, s.n, s.d)
    pop = _exact_at(R, a_mean, b_mean, L)
    pl = _exact_at(R, *plain["step_sizes"], L) if plain else None
    best = min((c for c in cps if c.certified), key=lambda c: c.loss, default=None)
    glob = global_minimum(s, L, best)
    closed = {
        **closed_form_fields(cs),
        "critical_points": [c.as_record() for c in sorted(cps, key=lambda c: c.loss)],
        "certified_from_replicas": None if certified is None else certified.record(),
        "trained_step_sizes_mean": {"a": a_mean.tolist(), "b": b_mean.tolist()},
        "plain_trained_step_sizes": None
        if plain is None
        else {"a": list(plain["step_sizes"][0]), "b": list(plain["step_sizes"][1])},
    }
    if L == 3:  # L <= 2: proved (or not) with the complete list, by theory.critical
        closed["global_minimum_proved"] = bool(glob and glob["proved"])
        closed["global_minimum"] = glob
    tail_tr = tail_share(*plain["step_sizes"], s.n, s.d) if plain else None
    notes = [
        _population_note(a_mean, b_mean, pop, float(ev.test_loss.mean()), near, evidence.pilot),
        _plain_note(plain, pl, tail_tr)
        if plain
        else "plain-sample trainer not run: it repeats the paper's experiment, at d = 5, L = 3 "
        "and n = 10 or 20 only",
        *_within_note(within),
        *([] if certified is None else [_evidence_note(certified, cps, cs)]),
        *_list_notes(cs, cps, glob, s, L),
    ]
    paper = paper_values(s, L)
    notes += [_paper_note(p) for p in paper]
    facts = _facts(paper, plain, pl, tail_tr, ev, pop, a_mean, b_mean, near, best)
    return Judgement(
        s.describe(ev.sigma),
        closed,
        checks,
        notes=notes,
        artifacts={**_trained_artifacts(evidence), **facts},
        context={"lowest": best, "near": near},
        # only a check the reached critical point itself passes can reject a control (issue 8)
        truth=truth,
        # a control within twice the step-size tolerance of the point the replicas reached may
        # be accepted while that point passes (triangle inequality): not required
        control_resolution=2 * truth[0].tolerance
        if near is not None and truth and truth[0].passed
        else None,
    )


def _list_notes(cs, cps, glob, s: Setting, L: int) -> list:
    """The lowest point, the global minimum (L = 3) and how the list was obtained."""
    proved_here = bool(glob and glob["proved"] and glob["matches_lowest"])
    out = [
        lowest_note(
            cs, cps, "global minimum on S (proved: theory.global_min)" if proved_here else ""
        )
    ]
    if L == 3:
        out.append(_global_note(glob, s))
    if cs.source:
        out.append(
            f"how the list of critical points was obtained: {cs.source}"
            + ("" if cs.complete else f"; {len(cps)} points in this run's list")
        )
    return out


def _within_note(within) -> list:
    if len(within) <= 1:
        return []
    return [
        f"{len(within)} certified critical points lie within the step-size tolerance of the "
        "replica mean: "
        + "; ".join(f"{c.kind} phi = {float(c.loss):.6g}" for c in within)
        + ". This run cannot tell them apart; it is compared with the nearest minimum among "
        "them (a larger effort narrows the tolerance)"
    ]


def _trained_artifacts(evidence: Evidence) -> dict:
    """Arrays for the figures (not part of the JSON)."""
    ev, plain = evidence.population, evidence.plain
    return {
        "A_white": ev.A_white.mean(0),
        "B": ev.B.mean(0),
        "population_trajectory": evidence.pilot.trajectory,
        **(
            {}
            if plain is None
            else {
                "plain_A_white": plain["A_white"],
                "plain_B": plain["B"],
                "plain_trajectory": plain["fit"].trajectory,
            }
        ),
    }


def _facts(paper, plain, pl, tail_tr, ev, pop, a_mean, b_mean, near, best) -> dict:
    """The numbers the erratum and the figures quote (verdict.artifacts)."""
    return {
        "paper_values": paper,
        "trained": None
        if plain is None
        else {"test_loss": plain["test_loss"], "phi": pl["phi"], "tail": tail_tr},
        "population": {
            "test_loss": float(ev.test_loss.mean()),
            "phi": pop["phi"],
            "a": a_mean.tolist(),
            "b": b_mean.tolist(),
            "compared": None
            if near is None
            else {
                "a": [float(x) for x in near.a],
                "b": [float(x) for x in near.b],
                "loss": float(near.loss),
                "kind": near.kind,
            },
        },
        "lowest": None if best is None else {"loss": float(best.loss), "kind": best.kind},
    }


def _controls(s: Setting, evidence: Evidence, judgement: Judgement) -> list:
    """The wrong step sizes, each with its distance from the point the replicas reached."""
    ctrls = controls(s, s.layers or 3, judgement.context["lowest"])
    near = judgement.context["near"]
    if near is None:
        return ctrls
    return [replace(c, deviation=_step_distance(c.value, near, evidence.population)) for c in ctrls]


def _control_checks(ab, evidence: Evidence, s: Setting) -> list:
    return _trained_vs(*ab, evidence.population, s)


#: Why a spread-derived tolerance above SPREAD_CEILING (relative) leaves a check no power.
CEILING_BASIS = (
    "verify.checks.SPREAD_CEILING: replicas (or the optimiser's stopping rule) disagreeing "
    "beyond sampling error"
)


def _within_ceiling(chk, relative: float):
    """``chk`` made inconclusive when its tolerance is not finite: the replicas' spread plus the
    optimisation error (``relative``) leaves Dist's Lipschitz bound no power (e.g. --n 1, where
    LM stops with an error of order 1); a check that cannot fail must not pass."""
    if np.isfinite(chk.tolerance):
        return chk
    return inconclusive(
        chk.name,
        chk.kind,
        chk.observed,
        chk.tolerance,
        chk.basis,
        f"no finite tolerance: relative replica spread + optimisation error {relative:.3g} >= 1 "
        f"(Dist's Lipschitz bound needs it below 1); observed {chk.observed:.3g} would have passed",
        id=chk.id,
    )


def gather_population(s: Setting, L: int, eff: Effort, progress) -> tuple:
    """Replicas trained on importance-sampled prompts (unbiased for the population loss).

    A pilot from a small random start (:func:`verify.population.fit_from_small_start`), then
    REPLICAS Levenberg-Marquardt refits from it, each on its own fresh sample; nothing here
    knows a closed form or a critical point.  Returns ``(LayerEvidence, pilot Fit)``; the
    test losses are importance-sampled estimates of f (unbiased).

    Units: training runs at Sigma / c (:func:`verify.population.units`, c an exact power of
    two, 1 unless the mean eigenvalue is beyond a factor ~32 of 1) and the trained A_l are
    mapped back by 1/c exactly, so the fit is scale-equivariant (the problem is: with
    w* ~ N(0, Sigma^-1), Sigma -> Sigma / c maps A_l -> c A_l).  The optimisation error ``opt``
    is the one measured in those units; the test losses are taken on prompts of Sigma itself.
    """
    sigma, d = s.sigma, s.d
    sh = sqrtm_psd(sigma)
    c = units(sigma)
    sig_u = sigma / c  # exact: c is a power of two
    rng = s.rng(f"population/L{L}/train")
    progress.update(f"population trainer: pilot from a small random start ({eff.prompts} prompts)")
    pilot = fit_from_small_start(
        FAMILY11,
        L,
        sample_population(eff.prompts, s.n, sig_u, rng).summaries,
        s.rng(f"population/L{L}/init"),
        max_starts=PILOT_STARTS,
        max_lm=PILOT_LM,
        rtol=PILOT_RTOL,
    )
    thetas, infos = [], []
    for r in range(layers.REPLICAS):
        progress.update(f"population trainer: replica {r + 1}/{layers.REPLICAS}")
        sm = sample_population(eff.prompts, s.n, sig_u, rng).summaries
        theta, info = refit(FAMILY11, L, sm, pilot.theta, max_lm=REFIT_LM, rtol=REFIT_RTOL)
        thetas.append(theta)
        infos.append(info)
    thetas = from_units(FAMILY11, np.array(thetas), d, L, c)
    pilot = _pilot_from_units(pilot, d, L, c)
    A_white = np.array([[sh @ A @ sh for A in FAMILY11.split(th, d, L)[0]] for th in thetas])
    B = np.array([FAMILY11.split(th, d, L)[1] for th in thetas])
    test = sample_population(eff.test_prompts, s.n, sigma, s.rng(f"population/L{L}/test")).summaries
    obj = FamilyObjective(FAMILY11, L, test)
    test_loss = np.array([obj(th)[0] for th in thetas])
    ev = layers.LayerEvidence(
        sigma, FAMILY11, L, thetas, A_white, B, max(i["opt"] for i in infos), infos, test, test_loss
    )
    return ev, pilot


def _pilot_from_units(pilot, d: int, L: int, c: float):
    """The pilot :class:`verify.population.Fit` trained at Sigma / c, its parameters (and its
    trajectory's) mapped to Sigma; the losses are invariant.  Unchanged when c = 1."""
    if c == 1.0:
        return pilot
    traj = replace(pilot.trajectory, thetas=from_units(FAMILY11, pilot.trajectory.thetas, d, L, c))
    return replace(pilot, theta=from_units(FAMILY11, pilot.theta, d, L, c), trajectory=traj)


#: The pilot needs only to reach a basin (the replicas refine): LM on all its prompts for at most
#: PILOT_LM steps, stopping at a relative loss decrease below PILOT_RTOL; a new random start (at
#: most PILOT_STARTS) only while none has met that rule (e.g. a drift along |b_l| -> inf).
PILOT_STARTS, PILOT_LM, PILOT_RTOL = 3, 30, 1e-6
#: Replica refits from the pilot: LM stops at a relative loss decrease below 1e-5 (or 8 steps);
#: the Gauss-Newton step not taken (``opt``, ~1e-4 relative) enters every tolerance.
REFIT_RTOL, REFIT_LM = 1e-5, 8


def plain_applies(s: Setting, L: int) -> bool:
    """The plain-sample trainer repeats the paper's own experiment: d = 5, L = 3 and the text's
    n = 10 or the official code's n = 20 (elsewhere it would cost a third of the run for a
    comparison the paper does not make)."""
    return erratum_applies(s, L) and s.n in (10, 20)


def erratum_applies(s: Setting, L: int) -> bool:
    """The paper's printed GD++ values (Figs. 4-5) are for d = 5, L = 3."""
    return L == 3 and s.d == 5


def fit_plain(s: Setting, L: int, eff: Effort, progress) -> dict:
    """One model trained as the paper did, on PLAIN sampled prompts, from one small random start
    (the same optimiser as the pilot); its step sizes, whitened matrices and its plain test loss."""
    progress.update(f"plain-sample trainer ({eff.plain_prompts} prompts)")
    sigma, d = s.sigma, s.d
    omega = np.linalg.inv(sigma)
    c = units(sigma)  # trained at Sigma / c, mapped back exactly (as gather_population)
    sm = Summaries.from_prompts(
        sample_prompts(
            eff.plain_prompts, s.n, sigma / c, s.rng(f"plain/L{L}/train"), np.linalg.inv(sigma / c)
        )
    )
    fit = fit_from_small_start(
        FAMILY11, L, sm, s.rng(f"plain/L{L}/init"), max_starts=1, max_lm=PILOT_LM, rtol=PILOT_RTOL
    )
    fit = _pilot_from_units(fit, d, L, c)
    sh = sqrtm_psd(sigma)
    A, Bm = FAMILY11.split(fit.theta, d, L)
    A_white = np.array([sh @ M @ sh for M in A])
    a = np.trace(A_white, axis1=1, axis2=2) / d
    b = np.trace(np.asarray(Bm), axis1=1, axis2=2) / d
    b[-1] = 0.0
    test = Summaries.from_prompts(
        sample_prompts(eff.test_prompts, s.n, sigma, s.rng(f"plain/L{L}/test"), omega)
    )
    return {
        "fit": fit,
        "A_white": A_white,
        "B": np.asarray(Bm),
        "step_sizes": (a, b),
        "test_loss": FamilyObjective(FAMILY11, L, test)(fit.theta)[0],
    }


def _rel_distance(ev, c) -> float:
    """Relative Frobenius distance of the replica mean (whitened A_l, B_l for l < L-1) from the
    critical point's (a_l I, b_l I)."""
    d, L = ev.A_white.shape[-1], ev.L
    M = np.concatenate([ev.A_white, ev.B[:, : L - 1]], axis=1).mean(0)
    return rel_fro(M, np.array([float(x) * np.eye(d) for x in list(c.a) + list(c.b)[: L - 1]]))


def nearest_critical_point(ev, cps):
    """The critical point whose (a_l I, b_l I) is nearest (rel. Frobenius) to the replica mean."""
    return min(cps, key=lambda c: _rel_distance(ev, c)) if cps else None


def reached_point(ev, s: Setting, cps) -> tuple:
    """The certified critical point the replicas are compared with, and every point within reach.

    ``within``: the certified points that the step-size check (:func:`_trained_vs`) accepts,
    i.e. within K_SIGMA standard errors plus the optimisation error of the replica mean.  The
    point compared with is the nearest MINIMUM among them, else the nearest point of all.  The
    tolerance can hold several points (a minimum and a saddle 0.026 apart, relative, lie within
    the quick effort's ~0.05-0.10): the run then cannot tell them apart, which the verdict says;
    it does not decide by whichever happens to be nearest.
    """
    if not cps:
        return None, []
    within = [c for c in cps if _trained_vs(c.a, c.b, ev, s)[0].passed]
    key = lambda c: _rel_distance(ev, c)  # noqa: E731
    minima = [c for c in within if c.kind == "minimum" and c.certified]
    return (min(minima, key=key) if minima else min(cps, key=key)), sorted(within, key=key)


def with_evidence_point(cps, evidence) -> list:
    """The run's list: ``cps`` plus the points certified from the replicas that are new."""
    out = list(cps)
    if evidence.status != "certified":
        return out
    for p in (evidence.point, *evidence.others):
        if not any(same_point(p, q) for q in out):
            out.append(p)
    return out


def truth_checks(near, within, ev, s, complete: bool) -> list:
    """The step-size check of the replica mean against the compared point.

    When no certified point is within tolerance and the list is not proved complete, the check
    is inconclusive: absence from an incomplete list is not evidence against Theorem 4."""
    if near is None:
        return []
    chk = _trained_vs(near.a, near.b, ev, s)
    if any(c is near for c in within) or complete or chk[0].inconclusive:
        return chk  # inconclusive: the replicas' spread leaves the check no power
    return [
        inconclusive(
            c.name,
            c.kind,
            c.observed,
            c.tolerance,
            c.basis,
            "no certified critical point within tolerance, and the list is not proved complete "
            "(the nearest listed point is not evidence against the claim)",
            id=c.id,
        )
        for c in chk
    ]


def reached_minimum_check(point, within, complete: bool = False, evidence=None, truth=()):
    """Whether the replicas reached a certified MINIMUM of phi (within the step-size tolerance).

    passed: a certified minimum is within tolerance (``point`` is then that minimum).
    inconclusive: only non-minima are within tolerance (replicas settled near a saddle); or none
    is and the list is not proved complete, or the replicas point along an escaping sequence,
    or the step-size check (``truth``) has no power (spread above the ceiling).
    failed: no critical point within tolerance while the list IS proved complete (L <= 2).
    """
    basis = (
        "kinds (full Hessian blocks, theory.critical) of the certified critical points the "
        "step-size check accepts (the list, and the point certified from the replicas)"
    )

    def undecided(reason):
        return REACHED_MINIMUM.inconclusive("exact", 1, 0, basis, reason)

    def describe(c):
        return f"{c.kind} phi = {float(c.loss):.6g}"

    powerless = [c for c in truth if c.inconclusive and "ceiling" in c.reason]
    if powerless:
        return undecided(f"the step-size check has no power: {powerless[0].reason}")
    if point is None or not any(c is point for c in within):
        where = "" if point is None else f"; nearest: {describe(point)}"
        if evidence is not None and evidence.status == "escaping":
            return undecided(
                f"no critical point within tolerance; the replicas point along an escaping "
                f"sequence: {evidence.reason}{where}"
            )
        if complete:
            return REACHED_MINIMUM.at_most(
                "exact",
                1,
                0,
                basis,
                reason=f"no certified critical point within tolerance, and the list is proved "
                f"complete{where}",
            )
        ev_why = "" if evidence is None else f"; from the replicas: {evidence.reason}"
        return undecided(
            f"no certified critical point within tolerance of the replica mean, and the list is "
            f"not proved complete{ev_why}{where}"
        )
    if point.kind != "minimum" or not point.certified:
        listed = "; ".join(describe(c) + _off_S(c) for c in within)
        return undecided(
            f"only non-minima within tolerance (the replicas settled near a saddle; it is a "
            f"critical point, but not a minimum): {listed}"
        )
    others = [c for c in within if c is not point]
    reason = f"within tolerance: {describe(point)}" + (
        "; also within tolerance (this run cannot tell them apart): "
        + "; ".join(describe(c) for c in others)
        if others
        else ""
    )
    if point.provenance.startswith("certified from the trained replicas"):
        reason += " (certified from the trained replicas; not in the list)"
    return REACHED_MINIMUM.at_most("exact", 0, 0, basis, reason=reason)


def _off_S(c) -> str:
    """For a saddle of f that is a minimum of phi on S: which off-S Hessian block has the
    negative eigenvalue (the replicas, trained on full matrices, can stall there when that
    curvature is small); empty otherwise."""
    bounds = getattr(c, "certificate", {}).get("eigenvalue_bounds", {}) if c else {}
    restricted = bounds.get("restricted", {}).get("bounds") or []
    if c is None or c.kind != "saddle" or not restricted or min(lo for lo, _ in restricted) <= 0:
        return ""
    neg = [
        (k, min(hi for _, hi in v["bounds"]))
        for k, v in bounds.items()
        if k != "restricted" and v.get("bounds") and min(hi for _, hi in v["bounds"]) < 0
    ]
    return "".join(
        f" (a minimum of phi on S; off S the {k} Hessian block has an eigenvalue <= {hi:.2g})"
        for k, hi in neg[:1]
    )


#: Where the branch-and-bound proof of the global minimum (theory.global_min) is run: the
#: paper's setting (16 CPU-s the first time, then read from the user cache); elsewhere it is not
#: attempted (its budget could be spent without closing), and the run says so.
GLOBAL_MIN_SETTINGS = {(3, 20, 5)}


def global_minimum(s: Setting, L: int, best) -> dict | None:
    """theory.global_min's proof record at the settings of GLOBAL_MIN_SETTINGS (cached per
    (n, d) in the user cache directory), reduced to deterministic fields; None elsewhere.

    ``matches_lowest``: the proved value's ball holds this run's lowest certified point's phi
    (the proof certifies its own candidate; a mismatch is reported, never papered over)."""
    if (L, s.n, s.d) not in GLOBAL_MIN_SETTINGS:
        return None
    from theory.global_min import cached_global_minimum

    rec = cached_global_minimum(s.n, s.d, L)
    lo, hi = (float(v) for v in rec["value"])
    return {
        "proved": bool(rec["proved"]),
        "method": rec["method"],
        "reason": rec["reason"],
        "value": [rec["value"][0], rec["value"][1]],
        "candidate_ab": list(rec["candidate_ab"]),
        "matches_lowest": best is not None and lo <= float(best.loss) <= hi,
        "source": f"theory.global_min (version {rec['version']}), cached per (n, d)",
    }


def _global_note(glob, s) -> str:
    if glob is None:
        return (
            "global minimum of phi_3 on S: not proved at this setting (the branch-and-bound "
            "proof of theory.global_min runs at n = 20, d = 5; `python -m theory.global_min "
            f"--n {s.n} --d {s.d}` attempts it)"
        )
    status = "PROVED" if glob["proved"] else "not proved"
    match = (
        "; it is this run's lowest certified point"
        if glob["matches_lowest"]
        else "; NOTE: the proved value is not this run's lowest certified point"
    )
    return (
        f"global minimum of phi_3 on S: {status}, value between {glob['value'][0]} and "
        f"{glob['value'][1]}{match}. {glob['method']}"
    )


def _evidence_note(evidence, cps, cs) -> str:
    """One line: what certifying the replica mean gave, and whether the list held it."""
    if evidence.status != "certified":
        return f"certifying the replica mean: {evidence.status}: {evidence.reason}"

    def one(p):
        listed = any(same_point(p, q) for q in cs.points)
        return (
            f"a {p.kind} at a = {[round(float(x), 5) for x in p.a]}, b = "
            f"{[round(float(x), 5) for x in p.b[:-1]]}, phi = {float(p.loss):.10g} ("
            + ("already in the list" if listed else "not in the list: added with its provenance")
            + ")"
        )

    return "certified from the trained replicas: " + "; and by a descent from their mean: ".join(
        one(p) for p in (evidence.point, *evidence.others)
    )


def _exact_at(R, a, b, L) -> dict:
    t = tuple(float(x) for x in a) + tuple(float(x) for x in b)
    with mpmath.workdps(40):
        return {"phi": float(R.value(t)), "grad": [float(g) for g in R.gradient(t)][: 2 * L - 1]}


def _population_note(a, b, ex, test_loss, near, pilot) -> str:
    where = (
        ""
        if near is None
        else f"; compared with the certified critical point a = {[round(float(x), 4) for x in near.a]}, "
        f"b = {[round(float(x), 4) for x in near.b][:-1]} ({near.kind}, phi = {float(near.loss):.6g})"
    )
    return (
        f"population trainer (importance-sampled prompts, mean of {layers.REPLICAS} replicas from a pilot "
        f"that took {pilot.starts} random start(s)): a = {np.round(a, 4).tolist()}, "
        f"b = {np.round(b[:-1], 4).tolist()}; importance-sampled test loss {test_loss:.4g}; exact phi there "
        f"{ex['phi']:.6g} (ln {np.log(ex['phi']):.2f}), exact gradient {np.round(ex['grad'], 4).tolist()}{where}"
    )


def _plain_note(plain, ex, tail) -> str:
    a, b = plain["step_sizes"]
    pa, pb = PAPER_FIG45
    return (
        f"plain-sample trainer (as the paper: {plain['fit'].trajectory.info.get('loss', float('nan')):.3g} "
        f"training loss): a = {np.round(a, 4).tolist()}, b = {np.round(b[:-1], 4).tolist()} (paper's "
        f"reported values a = {list(pa)}, b = {list(pb[:2])}); plain test loss {plain['test_loss']:.4g} "
        f"(ln {np.log(plain['test_loss']):.2f}); exact population loss phi there {ex['phi']:.4g} "
        f"(ln {np.log(ex['phi']):.2f}), exact gradient of phi there {np.round(ex['grad'], 3).tolist()}: "
        f"training on plain samples does not reach a critical point of the population loss; "
        f"{100 * tail:.1f}% of phi there comes from eigenvalues of S_hat with spectral weight < 1e-6, "
        "which no plain training or test sample contains"
    )


def _trained_vs(a, b, ev, s):
    """Step sizes of the replicas (a_l = tr(Sigma^1/2 A_l Sigma^1/2)/d, b_l = tr B_l / d, l < L-1,
    layer order kept) against step sizes (a, b): their off-S parts are judged by the Dist checks.

    Distance and tolerance are both relative to the REPLICA MEAN's norm, so every candidate (the
    truth and each control) faces the same tolerance: a small candidate cannot widen it."""
    L = ev.L
    a_tr, b_tr = layers.step_sizes(ev)
    T = np.concatenate([a_tr, b_tr[:, : L - 1]], axis=1)  # (R, 2L-1)
    c = np.array([float(x) for x in list(a) + list(b)[: L - 1]])
    scale = max(np.linalg.norm(T.mean(0)), EPS)
    return [
        STEP_SIZES.at_most(
            "sampling",
            float(np.linalg.norm(T.mean(0) - c) / scale),
            replica_tolerance(T, scale) + ev.opt,
            f"sampling: {K_SIGMA:g} standard errors of the mean of {layers.REPLICAS} replicas + optimisation "
            f"error {ev.opt:.1e} (Gauss-Newton step not taken), relative to the replica mean's norm",
            ceiling=SPREAD_CEILING,
            ceiling_basis=CEILING_BASIS,
        )
    ]


def _step_distance(ab, point, ev) -> float:
    """Relative Euclidean distance of step sizes ``ab`` from ``point``'s (a_l, b_l, l < L-1),
    relative to the replica mean's norm (the scale of :func:`_trained_vs`)."""
    L = ev.L
    a_tr, b_tr = layers.step_sizes(ev)
    scale = max(np.linalg.norm(np.concatenate([a_tr, b_tr[:, : L - 1]], axis=1).mean(0)), EPS)
    u = np.array([float(x) for x in list(ab[0]) + list(ab[1])[: L - 1]])
    v = np.array([float(x) for x in list(point.a) + list(point.b)[: L - 1]])
    return float(np.linalg.norm(u - v) / scale)


def controls(s: Setting, L: int, best) -> list:
    """Wrong step sizes: plain GD with the one-layer optimum, GD++ with guessed b, equal steps,
    and the paper's reported Figs. 4-5 values (a sample-loss point, not a critical point of phi)."""
    one = -s.n / (s.n + 1 + s.d)  # one-layer optimum (family (11) sign), b = 0: plain GD
    out = [
        Control(
            f"one-layer optimum {one:.4f} in every layer, b = 0 (GD, not GD++)",
            ([one] * L, [0.0] * L),
        ),
        Control(f"one-layer optimum {one:.4f} in every layer, b_l = 0.5", ([one] * L, [0.5] * L)),
    ]
    if best is not None:
        a = [float(x) for x in best.a]
        b = [float(x) for x in best.b]
        out.append(
            Control(
                "equal step sizes: every a_l = mean of the lowest critical point's a",
                ([float(np.mean(a))] * L, b),
            )
        )
    if erratum_applies(s, L):  # the printed values are a claim at d = 5, L = 3 only
        pa, pb = PAPER_FIG45
        out.append(
            Control(
                "the paper's reported Figs. 4-5 values (a sample-loss point)", (list(pa), list(pb))
            )
        )
    return out


def paper_values(s: Setting, L: int) -> list:
    """Exact phi_3 and its spectral-tail share at the paper's Figs. 4-5 values, at this n and at
    the text's n = 10 and the code's n = 20 (d = 5, L = 3 only; empty otherwise)."""
    if not erratum_applies(s, L):
        return []
    a, b = PAPER_FIG45
    return [
        {
            "n": n,
            "phi": float(FAMILY11.restricted_loss(3, n, 5).value(tuple(a) + tuple(b))),
            "tail": tail_share(a, b, n, 5),
        }
        for n in sorted({s.n, 10, 20})
    ]


def _paper_note(p: dict) -> str:
    a, b = PAPER_FIG45
    return (
        f"paper's Figs. 4-5 values (reported) a = {a}, b = {b[:2]}: exact phi_3 = {p['phi']:.4g} "
        f"(ln {np.log(p['phi']):.2f}) at n = {p['n']}; share of phi from spectral weight < 1e-6: "
        f"{100 * p['tail']:.1f}%"
    )


def _sample_loss_erratum(verdict) -> str:
    """Erratum text on the sample loss of Section 5.1, with this run's numbers."""
    art = verdict.artifacts
    by_n = {p["n"]: p for p in art.get("paper_values", [])}
    tr, low = art.get("trained"), art.get("lowest")
    if tr is None or 20 not in by_n or 10 not in by_n:
        return (
            "The comparison with the printed values is made at the paper's settings (d = 5, "
            "L = 3, n = 10 in the text, 20 in the official code) only; this run's setting "
            "differs, so it has no numbers for it."
        )
    p20, p10 = by_n[20], by_n[10]
    lowest = (
        "no critical point was found by this run's search"
        if low is None
        else f"the lowest found has phi = {low['loss']:.3g} (ln {np.log(low['loss']):.2f}), a {low['kind']}"
    )
    return (
        f"Training on sampled prompts reaches a sampled test loss of {tr['test_loss']:.2g} "
        f"(ln {np.log(tr['test_loss']):.2f}). The printed values are not critical points of the "
        f"population loss f: at n = 20 (the official code's n) the exact phi there is {p20['phi']:.3g} "
        f"(ln {np.log(p20['phi']):.2f}), and {100 * p20['tail']:.1f}% of it comes from eigenvalues of "
        "S_hat of spectral weight below 1e-6 (the GD++ residual is a polynomial of degree (3^L - 1)/2 "
        f"in S_hat), which no sample contains. At n = 10 the printed values give phi = {p10['phi']:.2g}. "
        f"The critical points of phi that Theorem 4 is about (computed here) lie elsewhere; {lowest}. "
        "See the notes below for the trained step sizes."
        + _population_sentence(art.get("population"))
    )


def _population_sentence(pop) -> str:
    """The population trainer's result for the erratum (empty when the run has none)."""
    if not pop or not pop.get("compared"):
        return ""
    near = pop["compared"]
    return (
        f" Trained on importance-sampled prompts (unbiased for f), the replicas reach a = "
        f"{[round(x, 3) for x in pop['a']]}, b = {[round(x, 3) for x in pop['b'][:-1]]}, exact phi = "
        f"{pop['phi']:.4g}; the certified critical point they are compared with is a {near.get('kind')} with "
        f"phi = {near['loss']:.6g}."
    )


def _figures(cid, verdict, setting, budget):
    from ..experiments.gallery import multi_layer

    return multi_layer(cid, verdict, setting, budget, family=FAMILY11, L=3)


CLAIM = Claim(
    id="4",
    title="Theorem 4: critical points of family (11) (GD++) on S",
    source="Theorem 4, eq. (12)",
    statement="For x ~ N(0, Sigma), w* ~ N(0, Sigma^-1), family (11): inf over S = {A_l = a_l Sigma^-1, "
    "B_l = b_l I} of sum_l ||grad_{A_l} f||^2 + ||grad_{B_l} f||^2 is 0; f does not depend on B_{L-1}.",
    gather=gather,
    judge=judge,
    controls=_controls,
    control_checks=_control_checks,
    checks=CHECKS,
    hypotheses=layers.INVERSE_PRIOR_HYPOTHESES
    + (
        Hypothesis(
            "L layers of family (11): P_l = [[B_l,0],[0,1]], Q_l = [[A_l,0],[0,0]] (no minus sign)"
        ),
        Hypothesis("S = {A_l = a_l Sigma^{-1}, B_l = b_l I}"),
    ),
    options=COMMON_OPTIONS | {"layers"},
    default_setting=default_setting,
    effort=Effort.for_setting,
    max_layers=3,
    derivation=(layers.critical_derivation(FAMILY11, 3),),
    errata=(
        Erratum(
            "the reported GD++ loss is a sample loss, not the population loss of Theorem 4",
            "Section 5.1 (n = 10 in the text) reports B_0 ~ 0.90 I, B_1 ~ 0.56 I, "
            "Sigma^1/2 A_l Sigma^1/2 ~ -0.38 I, -2.40 I, -9.59 I and a log loss of about -6 to -7.",
            _sample_loss_erratum,
            steps=("every listed point is stationary",),
            checks=(EXISTS.id,),
        ),
    ),
    figures=(_figures,),
)

run = CLAIM.run
