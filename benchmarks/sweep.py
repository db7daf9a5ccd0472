"""Many verifications in parallel through the standard ``concurrent.futures.Executor`` interface.

:func:`run_sweep` submits one task per (claim, seed, options) to any Executor: the runner's
``--jobs N`` uses a ``ProcessPoolExecutor(N)``; from Python a cluster executor works unchanged,
e.g. Dask's::

    from dask.distributed import Client
    from benchmarks.sweep import run_sweep
    with Client("scheduler:8786") as client:
        rows = run_sweep("1", seeds=range(64), executor=client.get_executor())

Tasks are module-level functions of plain arguments, so they pickle for any executor.  Inside
each task BLAS is held to ``blas_threads`` threads (default 1) so that N workers on N cores do
not oversubscribe them.
"""

from __future__ import annotations

import time
from concurrent.futures import Executor, ProcessPoolExecutor

__all__ = ["verify_one", "run_sweep"]


def verify_one(
    claim: str, seed: int, options: dict | None = None, blas_threads: int | None = 1
) -> dict:
    """One verification (``verify.verify_theorem``) in the calling process; a JSON-ready row."""
    from threadpoolctl import threadpool_limits

    import verify

    t0 = time.perf_counter()
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        v = verify.verify_theorem(claim, seed=seed, **(options or {}))
    return {
        "claim": claim,
        "seed": seed,
        "options": dict(options or {}),
        "passed": bool(v.passed),
        "seconds": time.perf_counter() - t0,
    }


def run_sweep(
    claim: str,
    seeds,
    options: dict | None = None,
    executor: Executor | None = None,
    jobs: int = 1,
    blas_threads: int | None = 1,
) -> dict:
    """Verify ``claim`` for every seed through ``executor`` (a ProcessPoolExecutor(jobs) if None).

    Returns ``{"rows": [...] in seed order, "wall_seconds", "task_seconds" (sum over tasks),
    "speedup" = task_seconds / wall_seconds, "jobs", "executor"}``.
    """
    seeds = list(seeds)
    own = executor is None
    if own:
        executor = ProcessPoolExecutor(max_workers=jobs)
    t0 = time.perf_counter()
    try:
        futures = [executor.submit(verify_one, claim, s, options, blas_threads) for s in seeds]
        rows = [f.result() for f in futures]
    finally:
        if own:
            executor.shutdown()
    wall = time.perf_counter() - t0
    task = sum(r["seconds"] for r in rows)
    return {
        "claim": claim,
        "options": dict(options or {}),
        "seeds": seeds,
        "rows": rows,
        "jobs": jobs if own else None,
        "executor": type(executor).__name__,
        "wall_seconds": wall,
        "task_seconds": task,
        "speedup": task / wall if wall else None,
        "all_passed": all(r["passed"] for r in rows),
    }
