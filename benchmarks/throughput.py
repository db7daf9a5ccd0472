"""Training-step throughput against the floating-point work and the matmul bound.

Flop counts are analytic (a multiply-add is 2 flops, an (a x b)(b x c) product 2abc), read off
the operations of :func:`verify.model.loss_and_grad` (linear attention, every P_l, Q_l; the
first layer's key Gram matrix is cached per batch, as in ``train_adam`` where a batch serves
100 steps, so it is not counted) and of :class:`verify.multilayer.FamilyObjective` for family
(8).  The bound is numpy's float64 matrix multiply on a large square matrix on this machine.
"""
from __future__ import annotations

import time

import numpy as np
from threadpoolctl import threadpool_limits

from verify.families import Unconstrained
from verify.model import loss_and_grad
from verify.multilayer import FamilyObjective, Summaries
from verify.sampling import sample_prompts

__all__ = ["model_step_flops", "family8_step_flops", "matmul_gflops", "time_model_step",
           "time_family8_step"]


def model_step_flops(d: int, n: int, L: int) -> int:
    """Flops per prompt of one loss-and-gradient evaluation of the L-layer model (eq. 3-4)."""
    D, N = d + 1, n + 1
    full_fwd = 4 * D**3 + 2 * D * D * N + 2 * D * N  # (P K Q) Z, residual
    gram = 2 * D * D * n  # Z_l M Z_l^T for l >= 1
    out_fwd = 4 * D * D + 2 * D
    out_bwd = 4 * D * D + 3 * D
    out_bwd_dz = 2 * D * D + 8 * D * n  # only if L > 1
    full_bwd = 2 * D * D * N + 8 * D**3  # G Z^T, dP, dQ
    full_bwd_dz = 8 * D**3 + 2 * D * D * N + D * N + 2 * D * D * n + D * n  # only for l > 0
    f = (L - 1) * full_fwd + (L - 1) * gram + out_fwd + out_bwd + 3
    if L > 1:
        f += out_bwd_dz + (L - 1) * full_bwd + (L - 2) * full_bwd_dz
    return f


def family8_step_flops(d: int, L: int) -> int:
    """Flops per prompt of FamilyObjective('gd', L): per layer 10 d^2 + 6 d (forward + reverse)."""
    return L * (10 * d * d + 6 * d) + 3


def matmul_gflops(size: int = 2048, threads: int | None = None, repeats: int = 3) -> float:
    """Best-of GFLOP/s of a float64 (size x size) @ (size x size) product (2 size^3 flops)."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((size, size)), rng.standard_normal((size, size))
    with threadpool_limits(limits=threads, user_api="blas"):
        a @ b  # warm-up
        best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2.0 * size**3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _best_of(fn, min_seconds: float) -> float:
    fn()  # warm-up (and the cached Gram matrix)
    times, t_end = [], time.perf_counter() + min_seconds
    while time.perf_counter() < t_end or len(times) < 3:
        times.append(_timed(fn))
    return min(times)


def _row(kind, d, n, L, B, sec, flops, peak):
    gflops = flops * B / sec / 1e9
    return {"kind": kind, "d": d, "n": n, "L": L, "batch": B, "seconds_per_step": sec,
            "prompts_per_second": B / sec, "flops_per_prompt": flops, "gflops": gflops,
            "fraction_of_matmul": gflops / peak, "times_matmul_bound": peak / gflops}


def time_model_step(d, n, L, B, peak, min_seconds=0.5, seed=0) -> dict:
    """Throughput of verify.model.loss_and_grad on all (P_l, Q_l) (linear attention)."""
    rng = np.random.default_rng(seed)
    prompts = sample_prompts(B, n, np.eye(d), rng)
    fam = Unconstrained(d, L)
    params = fam.unpack(0.1 * rng.standard_normal(fam.size))
    sec = _best_of(lambda: loss_and_grad(params, prompts), min_seconds)
    return _row("model.loss_and_grad (all P, Q)", d, n, L, B, sec, model_step_flops(d, n, L), peak)


def time_family8_step(d, n, L, B, peak, min_seconds=0.5, seed=0) -> dict:
    """Throughput of verify.multilayer.FamilyObjective('gd', L) on per-prompt summaries."""
    rng = np.random.default_rng(seed)
    obj = FamilyObjective("gd", L, Summaries.from_prompts(sample_prompts(B, n, np.eye(d), rng)))
    theta = 0.1 * rng.standard_normal(L * d * d)
    sec = _best_of(lambda: obj(theta), min_seconds)
    return _row("multilayer.FamilyObjective (family 8)", d, n, L, B, sec, family8_step_flops(d, L), peak)
