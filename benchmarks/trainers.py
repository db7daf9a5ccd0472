"""The paper's training protocol against the package's fast trainers, to the same tolerance.

Theorem 1 (one layer, family (8), w* ~ N(0, I)): :func:`verify.training.adam.train_adam` with the
paper's settings (AdamW betas (0.99, 0.9), lr 0.02 halved every 2000 steps, minibatches
resampled every 100 steps, per-matrix clipping 0.01, init std 1e-4) against
:func:`verify.training.one_layer.fit_gd_layer` on fresh samples of doubling size.  Target: relative
Frobenius error of A against ``theory.single_layer.optimal_preconditioner`` at most ``tol``
and |Dist(Sigma^1/2 A Sigma^1/2, I) - Dist(optimum)| within ``verify.compare.dist_tolerance``.

Theorem 3 (family (8), L = 3, w* ~ N(0, Sigma^-1)): the same Adam protocol on
``verify.families.GD(d, 3)`` against :func:`verify.training.multilayer.train_family`.  Target: relative
error of EACH sorted trace part tr(Sigma^1/2 A_l Sigma^1/2)/d against the sorted step sizes of
the global minimiser on S from ``FAMILY8.critical_points(3, n, d)`` (theory.critical); the largest
Dist(Sigma^1/2 A_l Sigma^1/2, I) (0 at the optimum) is recorded beside it but not required (its
sampling error shrinks more slowly than the trace parts').

Both sides run in one process, one after the other, on the same setting and target, and count
prompts drawn from the sampler and wall and CPU seconds.  The target must be SUSTAINED
(:data:`HOLD` consecutive records or fits, every layer within tolerance); a side that runs out
of budget reports its cost so far, and the ratio is then a lower bound.
"""

from __future__ import annotations

import time

import numpy as np

from theory.single_layer import optimal_preconditioner
from verify.compare import dist_identity, dist_tolerance, rel_fro
from verify.families import FAMILY8, GD
from verify.sampling import sample_prompts, sample_tasks, sqrtm_psd
from verify.setting import Setting
from verify.training.adam import small_init, train_adam
from verify.training.multilayer import Summaries, train_family
from verify.training.one_layer import fit_gd_layer

__all__ = ["PAPER_ADAM", "theorem1_race", "theorem3_race"]

#: The paper's protocol (Section 4.3 and the official notebook), as train_adam keywords.
PAPER_ADAM = dict(lr=0.02, halve_every=2000, resample_every=100, betas=(0.99, 0.9), clip=0.01)
INIT_STD = 1e-4


class _Stop(Exception):
    """Raised from the Adam callback to end training (target sustained or budget spent)."""


#: The target counts as reached only when it is SUSTAINED: Adam's error stays under the
#: tolerance for HOLD consecutive records (HOLD x record_every steps, fresh minibatches), the
#: fast trainer's for HOLD consecutive sample sizes (each fit on a fresh, doubled sample).  The
#: cost charged is the cost up to the first record (fit) of that streak, on both sides alike; a
#: single lucky record or fit never counts.
HOLD = 3


def _adam_race(
    family, sampler, rng, measure, *, batch, max_steps, max_seconds, record_every, hold=HOLD
):
    """Run the paper's Adam until ``measure(theta)`` meets the target for ``hold`` consecutive
    records; return a record with the wall and CPU time to the start of that streak.

    ``measure(theta) -> (met, errors dict)``.  Prompts sampled = batches drawn so far x batch.
    """
    curve = []
    state = {"steps": 0, "met": False, "errors": None, "streak": [], "first": None}
    t0, c0 = time.perf_counter(), time.process_time()

    def callback(step, theta, loss):
        met, errors = measure(theta)
        curve.append({"step": step, **errors})
        state["streak"] = (
            state["streak"] + [(step, time.perf_counter() - t0, time.process_time() - c0)]
            if met
            else []
        )
        state.update(steps=step, errors=errors)
        if len(state["streak"]) >= hold:
            state.update(met=True, first=state["streak"][0])
            raise _Stop
        if time.perf_counter() - t0 > max_seconds:
            raise _Stop

    theta0 = small_init(family, rng, INIT_STD)
    try:
        train_adam(
            family,
            sampler,
            theta0,
            rng,
            steps=max_steps,
            batch=batch,
            record_every=record_every,
            callback=callback,
            **PAPER_ADAM,
        )
    except _Stop:
        pass
    if state["met"]:
        steps, seconds, cpu = state["first"]
    else:  # budget spent: the cost so far is a lower bound
        steps, seconds, cpu = state["steps"], time.perf_counter() - t0, time.process_time() - c0
    batches = -(-steps // PAPER_ADAM["resample_every"])
    return {
        "method": "paper protocol (train_adam)",
        "met": state["met"],
        "steps": steps,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "prompts": batches * batch,
        "batch": batch,
        "final": state["errors"],
        "hold": {"records": hold, "every": record_every},
        "budget": {"steps": max_steps, "seconds": max_seconds},
        "curve": curve[:: max(1, len(curve) // 20)],
    }


def _fast_race(fit, measure, *, start, max_prompts, hold=HOLD):
    """Fit on fresh samples of size start, 2 start, ... until ``hold`` consecutive fits meet
    the target; the cost charged is that up to and including the first fit of the streak."""
    attempts, total, B = [], 0, start
    t0, c0 = time.perf_counter(), time.process_time()
    streak = []
    while B <= max_prompts:
        met, errors = measure(fit(B))
        total += B
        attempts.append({"prompts": B, "met": met, **errors})
        streak = (
            streak + [(total, time.perf_counter() - t0, time.process_time() - c0, B)] if met else []
        )
        if len(streak) >= hold:
            break
        B *= 2
    met = len(streak) >= hold
    prompts, seconds, cpu, size = (
        streak[0]
        if met
        else (total, time.perf_counter() - t0, time.process_time() - c0, attempts[-1]["prompts"])
    )
    return {
        "method": "",
        "met": met,
        "steps": len(attempts),
        "seconds": seconds,
        "cpu_seconds": cpu,
        "prompts": prompts,
        "final_sample": size,
        "final": attempts[-1],
        "hold": {"fits": hold},
        "attempts": attempts,
    }


def _ratio(paper, fast, key):
    r = paper[key] / max(fast[key], 1e-12)
    return {"value": r, "lower_bound": not paper["met"], "valid": fast["met"]}


def theorem1_race(
    tol=0.02,
    d=5,
    n=20,
    seed=0,
    max_steps=20000,
    max_seconds=150.0,
    batch=20000,
    record_every=50,
    fast_start=1000,
    fast_max=4_000_000,
) -> dict:
    """Theorem 1: paper protocol vs exact least squares, same setting, same target."""
    s = Setting(d=d, n=n, seed=seed)
    sigma = s.sigma
    A_star = optimal_preconditioner(sigma, n)
    half = sqrtm_psd(sigma)
    W_star = half @ A_star @ half
    dist_star = dist_identity(W_star)
    dist_tol = dist_tolerance(W_star, tol)

    def measure_A(A):
        err = rel_fro(A, A_star)
        gap = abs(dist_identity(half @ A @ half) - dist_star)
        return err <= tol and gap <= dist_tol, {"rel_err": err, "dist_gap": gap}

    rng = s.rng("bench-adam")
    sampler = lambda B, r: sample_prompts(B, n, sigma, r)
    paper = _adam_race(
        GD(d, 1),
        sampler,
        rng,
        lambda th: measure_A(th.reshape(d, d)),
        batch=batch,
        max_steps=max_steps,
        max_seconds=max_seconds,
        record_every=record_every,
    )
    frng = s.rng("bench-fast")
    fast = _fast_race(
        lambda B: fit_gd_layer(sample_tasks(B, n, sigma, frng))[0],
        measure_A,
        start=fast_start,
        max_prompts=fast_max,
    )
    fast["method"] = "fast (verify.training.one_layer.fit_gd_layer, doubling fresh samples)"
    return {
        "claim": "1",
        "setting": {"d": d, "n": n, "L": 1, "family": "8", "prior": "identity", "seed": seed},
        "target": {"rel_err": tol, "dist_gap": dist_tol, "dist_star": dist_star},
        "paper": paper,
        "fast": fast,
        "ratio_seconds": _ratio(paper, fast, "seconds"),
        "ratio_cpu_seconds": _ratio(paper, fast, "cpu_seconds"),
        "ratio_prompts": _ratio(paper, fast, "prompts"),
    }


def theorem3_race(
    tol=0.03,
    d=5,
    n=20,
    L=3,
    seed=0,
    max_steps=20000,
    max_seconds=150.0,
    batch=20000,
    record_every=50,
    fast_start=2000,
    fast_max=2_000_000,
) -> dict:
    """Theorem 3 with L layers: paper protocol vs Levenberg-Marquardt on summaries."""
    s = Setting(d=d, n=n, seed=seed, prior="inverse", layers=L)
    sigma = s.sigma
    omega = s.law.Omega
    half = sqrtm_psd(sigma)
    cps = FAMILY8.critical_points(L, n, d)
    a_star = np.sort([float(a) for a in next(p for p in cps if p.is_global_minimum_on_S).a])

    def measure_theta(theta):
        W = [half @ A @ half for A in theta.reshape(L, d, d)]
        parts = np.sort([np.trace(M) / d for M in W])
        per_layer = np.abs(parts - a_star) / np.abs(
            a_star
        )  # layers matched in sorted order (Lemma 4)
        err = float(per_layer.max())
        dist = max(dist_identity(M) for M in W)
        return err <= tol, {"rel_err": err, "per_layer": per_layer.tolist(), "max_dist": dist}

    rng = s.rng("bench-adam")
    sampler = lambda B, r: sample_prompts(B, n, sigma, r, omega=omega)
    paper = _adam_race(
        GD(d, L),
        sampler,
        rng,
        measure_theta,
        batch=batch,
        max_steps=max_steps,
        max_seconds=max_seconds,
        record_every=record_every,
    )
    frng = s.rng("bench-fast")

    def fit(B):
        sm = Summaries.from_prompts(sample_prompts(B, n, sigma, frng, omega=omega))
        return train_family(FAMILY8, L, sm, frng)[0]

    fast = _fast_race(fit, measure_theta, start=fast_start, max_prompts=fast_max)
    fast["method"] = (
        "fast (verify.training.multilayer.train_family, Levenberg-Marquardt, doubling samples)"
    )
    return {
        "claim": "3",
        "setting": {"d": d, "n": n, "L": L, "family": "8", "prior": "inverse", "seed": seed},
        "target": {"rel_err": tol, "a_star": a_star.tolist()},
        "paper": paper,
        "fast": fast,
        "ratio_seconds": _ratio(paper, fast, "seconds"),
        "ratio_cpu_seconds": _ratio(paper, fast, "cpu_seconds"),
        "ratio_prompts": _ratio(paper, fast, "prompts"),
    }
