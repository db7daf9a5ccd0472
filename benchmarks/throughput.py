"""Training-step throughput against the floating-point work and the matmul bound.

Flop counts are analytic (a multiply-add is 2 flops, an (a x b)(b x c) product 2abc), read off
the operations of :func:`verify.model.loss_and_grad` (linear attention, every P_l, Q_l; the
first layer's key Gram matrix is cached per batch, as in ``train_adam`` where a batch serves
100 steps, so it is not counted) and of :class:`verify.training.multilayer.FamilyObjective` for family
(8).  The bound is numpy's float64 matrix multiply on a large square matrix on this machine.

:func:`paper_step` times the paper protocol's step (L = 3, d = 5, n = 20, minibatch 20000,
float64) as ``train_adam`` evaluates it, for family (8), family (11) and unconstrained (P, Q),
against the authors' GPU figure and the matmul bound measured side by side in the same rounds
(the machine is shared: each round times the matmul and the step back to back, and the medians
and the median per-round ratio are reported).
"""

from __future__ import annotations

import os
import time

import numpy as np
from threadpoolctl import threadpool_limits

from verify.families import Unconstrained, as_family
from verify.model import loss_and_grad
from verify.sampling import PAPER_SPECTRUM, make_sigma, sample_prompts
from verify.training import kernels
from verify.training.multilayer import FamilyObjective, Summaries

__all__ = [
    "GPU_MS_PER_STEP",
    "family8_step_flops",
    "jit_step_flops",
    "kernel_step_flops",
    "matmul_gflops",
    "model_step_flops",
    "paper_step",
    "time_family8_step",
    "time_model_step",
]

#: Seconds of sleep after each round's matmul (OpenBLAS's spinning threads go idle, see paper_step).
IDLE_AFTER_MATMUL = 0.3

#: Per round and family: untimed steps after the pause, then timed steps (their median is kept).
WARM_STEPS, STEPS_PER_ROUND = 3, 15

#: The authors' reported time per step on a GPU (issue 10), the paper's value, not measured here.
GPU_MS_PER_STEP = 13.6


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


def kernel_step_flops(d: int, L: int) -> int:
    """Flops per prompt of one :func:`verify.training.kernels.loss_and_grad` call, read off its GEMMs and
    batched products (D = d + 1; the cached K_0 is not counted, as for the reference)."""
    D = d + 1
    hidden_fwd = 10 * D**3 + 2 * D * D * (D + 1)  # K Q, P W, K P^T, Q^T (.), R T^T, T (K T^T)
    hidden_bwd = 8 * D**3 + 2 * D * D * (D + 1)  # S T, dT, P^T dT, dP, dQ
    carry = 2 * D**3 + 2 * D * D * (D + 1) + 2 * D * D  # T^T [S T | dz], dW Q^T, symmetrise
    f = (L - 1) * (hidden_fwd + hidden_bwd) + max(L - 2, 0) * carry + 8 * D * D + 4 * D + 3
    return f + (5 * D * D + D if L > 1 else 0)


def jit_step_flops(d: int, L: int) -> int:
    """Flops per prompt of one :mod:`verify.training.kernels_jit` evaluation (D = d + 1), read off its loop
    nests: per hidden layer the forward pass K Q, P W, T K, (T K) T^T (4 products, 2 D^3 each),
    T z and the identity, and the reverse pass S M, dT W^T, P^T dT, K dW (4 products) and
    dz z^T; per hidden layer but the first, the carry T^T (S T), dW Q^T (3 products),
    S + U + U^T and T^T dz; the read-out K p, Q z, K (Q z), the residual and its gradient.
    (It does fewer flops than :func:`kernel_step_flops`, the numpy kernel's formulation.)"""
    D = d + 1
    hidden = 16 * D**3 + 4 * D * D + D
    carry = 6 * D**3 + 4 * D * D
    out = 8 * D * D + 6 * D + 6 + (6 * D * D + D + 2 if L > 1 else 0)
    return (L - 1) * hidden + max(L - 2, 0) * carry + out


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
    return {
        "kind": kind,
        "d": d,
        "n": n,
        "L": L,
        "batch": B,
        "seconds_per_step": sec,
        "prompts_per_second": B / sec,
        "flops_per_prompt": flops,
        "gflops": gflops,
        "fraction_of_matmul": gflops / peak,
        "times_matmul_bound": peak / gflops,
    }


def time_model_step(d, n, L, B, peak, min_seconds=0.5, seed=0) -> dict:
    """Throughput of verify.model.loss_and_grad on all (P_l, Q_l) (linear attention)."""
    rng = np.random.default_rng(seed)
    prompts = sample_prompts(B, n, np.eye(d), rng)
    fam = Unconstrained(d, L)
    params = fam.unpack(0.1 * rng.standard_normal(fam.size))
    sec = _best_of(lambda: loss_and_grad(params, prompts), min_seconds)
    return _row("model.loss_and_grad (all P, Q)", d, n, L, B, sec, model_step_flops(d, n, L), peak)


def time_family8_step(d, n, L, B, peak, min_seconds=0.5, seed=0) -> dict:
    """Throughput of verify.training.multilayer.FamilyObjective (family (8), L layers) on per-prompt summaries."""
    rng = np.random.default_rng(seed)
    obj = FamilyObjective("gd", L, Summaries.from_prompts(sample_prompts(B, n, np.eye(d), rng)))
    theta = 0.1 * rng.standard_normal(L * d * d)
    sec = _best_of(lambda: obj(theta), min_seconds)
    return _row(
        "multilayer.FamilyObjective (family 8)", d, n, L, B, sec, family8_step_flops(d, L), peak
    )


def _median(xs) -> float:
    return float(np.median(np.asarray(xs, dtype=float)))


def _wall_and_cpu(fn) -> tuple:
    """(wall seconds, process CPU seconds over all threads) of one call."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def paper_step(
    families=("unconstrained", "gd", "gdpp"),
    d: int = 5,
    n: int = 20,
    L: int = 3,
    B: int = 20000,
    rounds: int = 7,
    matmul_size: int = 2048,
    reference_rounds: int = 2,
    seed: int = 0,
    steps_per_round: int = STEPS_PER_ROUND,
) -> dict:
    """The paper protocol's training step as :func:`verify.training.adam.train_adam` runs it.

    Each minibatch is evaluated by :func:`verify.training.adam.batch_objective`: at this batch
    size every family through :mod:`verify.training.kernels` (the compiled backend where numba is
    installed; family (8) through its per-prompt summaries otherwise).
    Each of ``rounds`` rounds times, back to back: a float64 ``matmul_size``^2 matmul (best of 2,
    default BLAS threads) and, per family, the median of ``steps_per_round`` loss-and-gradient
    calls run back to back after ``WARM_STEPS`` untimed ones (with the
    pull-back to theta); the reference :func:`verify.model.loss_and_grad` is timed in the first
    ``reference_rounds``.  The protocol resamples every 100 steps: sampling and the evaluator's
    per-batch set-up, amortised over 100 steps, are measured once and added to the step.  The
    Adam update (vector operations on <= 2 L (d+1)^2 numbers) is not timed.  Wall and
    process-CPU times are both recorded (CPU time is less sensitive to other jobs).
    """
    from verify.training.adam import batch_objective

    rng = np.random.default_rng(seed)
    sigma = make_sigma(PAPER_SPECTRUM[:d] if d <= len(PAPER_SPECTRUM) else np.ones(d), rng)
    fams = {
        name: Unconstrained(d, L) if name == Unconstrained.name else as_family(name).params(d, L)
        for name in families
    }
    t0 = time.perf_counter()
    prompts = sample_prompts(B, n, sigma, rng)
    sample_ms = 1e3 * (time.perf_counter() - t0)
    if kernels.jit_available():  # load numba once, not inside the first family's batch setup
        kernels.prefer_wide_vectors()  # the opt-in the measured figures were taken with
        import verify.training.kernels_jit  # noqa: F401
    objectives, setup_ms = {}, {}
    for name, fam in fams.items():
        t0 = time.perf_counter()
        objectives[name] = batch_objective(fam, prompts)
        setup_ms[name] = 1e3 * (time.perf_counter() - t0)
    resample = {name: (sample_ms + setup_ms[name]) / 100 for name in fams}
    thetas = {name: 0.1 * rng.standard_normal(fam.size) for name, fam in fams.items()}
    # the same kernels on one thread, against the matmul on one thread: the per-core efficiency
    one_core = {
        name: kernels.KernelObjective(fams[name], prompts, workers=1, backend=obj.backend)
        for name, obj in objectives.items()
        if isinstance(obj, kernels.KernelObjective)
    }
    peaks1, wall1 = [], {k: [] for k in one_core}
    ref_params = Unconstrained(d, L).unpack(0.1 * rng.standard_normal(Unconstrained(d, L).size))
    a = rng.standard_normal((matmul_size, matmul_size))
    a @ a  # warm-up
    for name, obj in objectives.items():
        obj(thetas[name])
    peaks, peaks_cpu, loads, ref = [], [], [], []
    wall, cpu = {k: [] for k in fams}, {k: [] for k in fams}
    for k in range(rounds):
        loads.append(os.getloadavg()[0])
        mm = min(_wall_and_cpu(lambda: a @ a) for _ in range(2))
        peaks.append(2.0 * matmul_size**3 / mm[0] / 1e9)
        peaks_cpu.append(2.0 * matmul_size**3 / mm[1] / 1e9)
        # OpenBLAS's worker threads busy-wait after a call (THREAD_TIMEOUT, 2^28 cycles, about
        # 0.1 s) and take the cores from the step timed next (seen on a quiet machine: family
        # (11) timed right after the matmul took 23.4 ms a step, timed third 12.9 ms).  Let
        # them go idle, and rotate the order of the families from round to round.
        time.sleep(IDLE_AFTER_MATMUL)
        names = list(objectives)
        for name in names[k % len(names) :] + names[: k % len(names)]:  # rotate the order
            obj = objectives[name]
            # as in training, steps back to back: WARM_STEPS untimed after the pause, then the
            # median of steps_per_round (3 calls right after the matmul measured the matmul's
            # after-effects as much as the step: 12.7 ms against 6-10 ms back to back)
            for _ in range(WARM_STEPS):
                obj(thetas[name])
            runs = [_wall_and_cpu(lambda: obj(thetas[name])) for _ in range(steps_per_round)]
            wall[name].append(1e3 * _median([w for w, _ in runs]) + resample[name])
            cpu[name].append(1e3 * _median([c for _, c in runs]))
        with threadpool_limits(limits=1, user_api="blas"):
            mm1 = min(_timed(lambda: a @ a) for _ in range(2))
        peaks1.append(2.0 * matmul_size**3 / mm1 / 1e9)
        for name, obj in one_core.items():
            for _ in range(WARM_STEPS):
                obj(thetas[name])
            runs = [_timed(lambda: obj(thetas[name])) for _ in range(steps_per_round)]
            wall1[name].append(1e3 * _median(runs) + resample[name])
        if k < reference_rounds:
            ref.append(1e3 * _timed(lambda: loss_and_grad(ref_params, prompts)) + sample_ms / 100)
    ref_flops = model_step_flops(d, n, L)

    def per_round_ratio(ms, gflops, work):  # step time / time of `work` flops at matmul speed
        return _median([m / (1e3 * work * B / (g * 1e9)) for m, g in zip(ms, gflops)])

    rows = []
    for name, ms in wall.items():
        obj = objectives[name]
        if isinstance(obj, kernels.KernelObjective):
            step_flops = jit_step_flops if obj.backend == "jit" else kernel_step_flops
            evaluator, flops = f"verify.training.kernels ({obj.backend})", step_flops(d, L)
        else:
            evaluator, flops = (
                "training.multilayer.FamilyObjective (summaries)",
                family8_step_flops(d, L),
            )
        rows.append(
            {
                "family": name,
                "evaluator": evaluator,
                "flops_per_prompt": flops,
                "ms_per_step": _median(ms),
                "ms_all_rounds": ms,
                "resample_ms_per_step": resample[name],
                "cpu_ms_per_step": _median(cpu[name]),
                "times_gpu": _median(ms) / GPU_MS_PER_STEP,
                "times_matmul_bound": per_round_ratio(ms, peaks, flops),
                "times_matmul_bound_reference_flops": per_round_ratio(ms, peaks, ref_flops),
                "cpu_times_matmul_bound": per_round_ratio(cpu[name], peaks_cpu, flops),
                "gflops": flops * B / (_median(ms) * 1e6),
            }
        )
        if name in wall1:
            rows[-1]["one_core_ms_per_step"] = _median(wall1[name])
            rows[-1]["one_core_times_matmul_bound"] = per_round_ratio(wall1[name], peaks1, flops)
    from verify.training.kernels_jit import CHUNK as jit_chunk

    return {
        "d": d,
        "n": n,
        "L": L,
        "batch": B,
        "rounds": rounds,
        "workers": kernels.default_workers(),
        "chunk": {"numpy": kernels.CHUNK, "jit": jit_chunk},
        "gpu_ms_per_step": GPU_MS_PER_STEP,
        "matmul_size": matmul_size,
        "matmul_gflops": _median(peaks),
        "matmul_gflops_all_rounds": peaks,
        "matmul_gflops_per_cpu_second": _median(peaks_cpu),
        "matmul_gflops_one_thread": _median(peaks1),
        "load_average_1min": loads,
        "reference_flops_per_prompt": ref_flops,
        "reference_ms_per_step": _median(ref) if ref else None,
        "rows": rows,
    }
