"""The linear transformer's loss and gradient as a few BLAS calls per block of prompts.

The same function of the prompts as :func:`verify.model.loss_and_grad` (linear attention,
every P_l, Q_l), rewritten for throughput; ``tests/test_kernels.py`` checks losses and
gradients against that reference to round-off for L = 1..3 and each parameter family.

**Why it is cheaper (exact algebra, no approximation).**  With linear attention and the mask
M = diag(1,..,1,0), eq. (4) is ``Z_{l+1} = Z_l + (1/n) P_l K_l Q_l Z_l = T_l Z_l`` with the
key Gram matrix ``K_l = Z_l M Z_l^T`` and ``T_l = I + (1/n) P_l K_l Q_l``: every column of a
prompt, the query included, moves by the same (d+1) x (d+1) matrix.  Hence

    K_{l+1} = T_l K_l T_l^T,        z_{l+1} = T_l z_l        (z_l: query column of Z_l)

and the read-out is ``[Z_L]_{d+1,n+1} = z_{L-1}[d] + (1/n) p^T K_{L-1} Q_{L-1} z_{L-1}`` with
``p`` the last row of P_{L-1}.  A prompt enters only through ``(K_0, z_0)``: per layer and prompt
the work is O((d+1)^3) instead of O((d+1)^2 n), and ``K_0`` is computed once per minibatch
(:attr:`verify.model.Prompts.K0`, cached, as in the reference).

**How it maps to BLAS.**  The batch is cut into blocks of ``chunk`` prompts that stay in cache.
Inside a block, per-prompt matrices are stored in "layout R": an array (rows, c, columns) with
prompt b's matrix at ``X[:, b, :]``.  A shared matrix then multiplies every prompt in ONE GEMM
from either side (``P @ X.reshape(D, c D)`` and ``X.reshape(D c, D) @ Q``), a product of two
per-prompt matrices is one batched matmul call (numpy dispatches a small BLAS GEMM per prompt,
with the row stride as leading dimension: no copy), and the gradients of the shared P_l, Q_l
are sums over prompts, i.e. GEMMs with the prompt index inside the contraction.  The query
column rides along as an extra row, ``R_l = [K_l ; z_l^T]``, so ``R_l T_l^T`` gives
``K_l T_l^T`` and ``(T_l z_l)^T`` in the same call.  The blocks run on ``workers`` threads
(numpy releases the GIL inside BLAS and its loops) with BLAS itself single-threaded, so two
cores work on two blocks.  The block partition and the order of the final sum are fixed, so
the result does not depend on ``workers``: same input, same output, byte for byte.

Reverse mode, with ``S_l = dK_l + dK_l^T`` (only the symmetric part of dK_l is ever used):

    dT_l = S_{l+1} T_l K_l + dz_{l+1} z_l^T,     dz_l = T_l^T dz_{l+1},
    dP_l = (1/n) sum_b dT_l W_l^T,  dW_l = (1/n) P_l^T dT_l,  dQ_l = sum_b K_l dW_l  (W_l = K_l Q_l),
    S_l = T_l^T S_{l+1} T_l + dW_l Q_l^T + Q_l dW_l^T.

Ahn et al., Section 2, eq. (3)-(4); the read-out and loss of :mod:`verify.conventions`.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np
from threadpoolctl import ThreadpoolController

__all__ = [
    "CHUNK",
    "JIT_MIN_BATCH",
    "KernelObjective",
    "choose_backend",
    "default_workers",
    "jit_available",
    "loss_and_grad",
    "make_blocks",
]

#: Prompts per block: a block's working set (a dozen (CHUNK, 6, 6) arrays) stays in cache.
CHUNK = 1024


def default_workers() -> int:
    """Threads for the blocks: the usable cores (at most 8)."""
    usable = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    )
    return max(1, min(8, usable))


@lru_cache(maxsize=1)
def _controller() -> ThreadpoolController:
    """One inspection of the loaded BLAS libraries (it costs milliseconds), reused per call."""
    return ThreadpoolController()


def _check(params, D: int) -> None:
    if len(params) < 1:
        raise ValueError(f"need at least one layer (P_l, Q_l); got {len(params)}")
    for l, (P, Q) in enumerate(params):
        if np.shape(P) != (D, D) or np.shape(Q) != (D, D):
            raise ValueError(
                f"layer {l}: P and Q must be ({D}, {D}) for prompts with d+1 = {D} rows; "
                f"got {np.shape(P)} and {np.shape(Q)}"
            )


def _add_identity(X) -> None:
    """Add I to every prompt's matrix of ``X`` (D, c, D), in place."""
    for i in range(X.shape[0]):
        X[i, :, i] += 1.0


def _bmm(A, B, out=None):
    """Per-prompt products ``A_b B_b``: A (r, c, k), B (k, c, m) -> (r, c, m) (layout R).

    One small BLAS GEMM per prompt (numpy's batched matmul); every operand has unit stride
    along its rows, so no copy is made."""
    if out is None:
        out = np.empty((A.shape[0], A.shape[1], B.shape[2]))
    np.matmul(A.transpose(1, 0, 2), B.transpose(1, 0, 2), out=out.transpose(1, 0, 2))
    return out


def _forward(layers, R, n):
    """Hidden layers 0..L-2 on one block.  ``R`` (D+1, c, D) holds ``[K_l ; z_l^T]``."""
    D, c = R.shape[2], R.shape[1]
    cache = []
    for _, Q, Pn, Ptn, Qt in layers[:-1]:
        K2 = R[:D].reshape(-1, D)  # rows (i, b): K_b[i, :]
        W = (K2 @ Q).reshape(D, c, D)  # K Q
        T = (Pn @ W.reshape(D, -1)).reshape(D, c, D)  # P K Q / n
        _add_identity(T)
        Tt = (Qt @ (K2 @ Ptn).reshape(D, -1)).reshape(D, c, D)  # Q^T K P^T / n = (T - I)^T
        _add_identity(Tt)
        Y = _bmm(R, Tt)  # [K T^T ; z^T T^T]
        Rn = np.empty_like(R)
        _bmm(T, Y[:D], out=Rn[:D])  # K_{l+1} = T K T^T
        Rn[D] = Y[D]  # z_{l+1}^T = (T z)^T
        cache.append((R, W, T, Tt))
        R = Rn
    return R, cache


def _layout(prompts, chunk: int) -> list:
    """The blocks of a batch: ``(R_0, target)`` per block, ``R_0 = [K_0 ; z_0^T]`` (D+1, c, D)."""
    K0, z0, t = prompts.K0, prompts.Z0[:, :, -1], prompts.target
    D, out = K0.shape[1], []
    for a in range(0, prompts.B, chunk):
        b = min(a + chunk, prompts.B)
        R = np.empty((D + 1, b - a, D))
        R[:D] = K0[a:b].transpose(1, 0, 2)
        R[D] = z0[a:b]
        out.append((R, t[a:b]))
    return out


def _block(layers, R, target, n, weight):
    """Sum of squared residuals on one block and the gradient of ``weight * sum_b r_b^2``.

    Layout R: a block's per-prompt matrices are stored as (rows, c, columns) arrays, so a
    shared matrix multiplies every prompt in one GEMM from either side (``P @ X.reshape(D, -1)``,
    ``X.reshape(-1, D) @ Q``) and per-prompt products are one batched call (:func:`_bmm`).
    """
    c, D = R.shape[1], R.shape[2]
    R, cache = _forward(layers, R, n)
    P, Q = layers[-1][:2]
    p = P[-1]  # only the last row of P_{L-1} reaches the read-out
    K2 = R[:D].reshape(D, -1)  # columns (b, j)
    zT = R[D]  # (c, D)
    KpT = (p @ K2).reshape(c, D)  # (K p)^T, K symmetric
    vT = zT @ Q.T  # (Q z)^T
    r = zT[:, -1] + np.einsum("bi,bi->b", KpT, vT) / n + target  # [Z_L]_{d+1,n+1} + <w*, x_q>
    g = 2.0 * weight * r  # d(weight r^2)/dr
    grads = [None] * len(layers)
    dP = np.zeros((D, D))
    aT = (g / n)[:, None] * vT  # g Q z / n, (c, D)
    dP[-1] = K2 @ aT.reshape(-1)  # sum_b g_b K_b Q z_b / n
    gKpT = g[:, None] * KpT
    grads[-1] = (dP, gKpT.T @ zT / n)  # dQ = sum_b g_b (K p) z^T / n
    if cache:
        Aug = np.empty((D, c, D + 1))  # [S | dz] with S = dK + dK^T, dK = g p (Q z)^T / n
        np.multiply(p[:, None, None], aT[None], out=Aug[..., :D])
        a = aT.T
        for j in range(D):  # column by column: long inner loops (a transposed add has 6-long ones)
            Aug[:, :, j] += p[j] * a
        dzT = gKpT @ Q / n  # (Q^T K p g / n)^T
        dzT[:, -1] += g
        Aug[..., D] = dzT.T
    for l in range(len(cache) - 1, -1, -1):
        _, Q, _, Ptn, Qt = layers[l]
        R, W, T, Tt = cache[l]
        A2 = np.empty((D, c, D + 1))
        _bmm(Aug[..., :D], T, out=A2[..., :D])  # S' T
        A2[..., D] = Aug[..., D]
        dT = _bmm(A2, R).reshape(D, -1)  # dT = S' T K + dz' z^T
        dW = (Ptn @ dT).reshape(D, c, D)  # P^T dT / n
        # sum over prompts inside the GEMM: dP = sum_b dT W^T / n, dQ = sum_b K dW (K symmetric)
        grads[l] = (dT @ W.reshape(D, -1).T / n, R[:D].reshape(-1, D).T @ dW.reshape(-1, D))
        if l > 0:
            Aug = _bmm(Tt, A2)  # [T^T S' T | T^T dz']
            Y = (dW.reshape(-1, D) @ Qt).reshape(D, c, D)  # dW Q^T
            Aug[..., :D] += Y
            for j in range(D):  # + (dW Q^T)^T, column by column as above
                Aug[:, :, j] += Y[j].T
    return float(r @ r), grads


def _numpy_backend(layers, blocks, n, B, workers):
    def run(block):
        return _block(layers, *block, n, 1.0 / B)

    with _controller().limit(limits=1, user_api="blas"):
        if workers > 1 and len(blocks) > 1:
            with ThreadPoolExecutor(max_workers=min(workers, len(blocks))) as pool:
                parts = list(pool.map(run, blocks))
        else:
            parts = [run(b) for b in blocks]
    f = sum(p[0] for p in parts) / B
    L = len(layers)
    return f, [(sum(p[1][l][0] for p in parts), sum(p[1][l][1] for p in parts)) for l in range(L)]


#: Pieces of the batch per thread: a thread that finishes early takes another piece, so a slower
#: core (a shared machine) does not hold the step up.
PIECES_PER_WORKER = 4


@lru_cache(maxsize=None)
def _pool(workers: int) -> ThreadPoolExecutor:
    """A pool of ``workers`` threads kept for the process (starting threads at every step cost
    more than a millisecond of the paper protocol's 5 ms step)."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verify-kernels")


def _jit_backend(layers, blocks, n, B, workers):
    from .kernels_jit import compiled, pad

    K0b, z0b, tb = blocks
    nb, D = K0b.shape[0], K0b.shape[1]  # D: the layout's (even) size, d + 1 or d + 2
    s = D - layers[0][0].shape[0]  # 1 where an odd d + 1 was padded (kernels_jit.layout)
    Ps = pad([lay[0] for lay in layers], D)
    Qs = pad([lay[1] for lay in layers], D)
    run_range = compiled(D, len(layers))
    fs, dPs, dQs = (
        np.zeros(nb),
        np.zeros((nb, len(layers), D, D)),
        np.zeros((nb, len(layers), D, D)),
    )
    workers = max(1, min(workers, nb))
    args = (Ps, Qs, K0b, z0b, tb, float(n), 1.0 / B)
    if workers == 1:
        run_range(*args, 0, nb, fs, dPs, dQs)
    else:  # the compiled loop releases the GIL; threads take the next piece when they are free
        pieces = min(nb, PIECES_PER_WORKER * workers)
        cuts = [nb * k // pieces for k in range(pieces + 1)]
        list(
            _pool(workers).map(
                lambda k: run_range(*args, cuts[k], cuts[k + 1], fs, dPs, dQs), range(pieces)
            )
        )
    dP, dQ = dPs.sum(0), dQs.sum(0)  # per-block partial sums, added in block order
    return float(fs.sum()) / B, [(dP[l, s:, s:], dQ[l, s:, s:]) for l in range(len(layers))]


#: Batches at least this large use the compiled backend under ``backend="auto"`` (smaller ones
#: do not repay loading it); the choice depends on the batch size and the depth only, so it is
#: reproducible.
JIT_MIN_BATCH = 4096

#: The compiled backend unrolls its layer loops (``kernels_jit.MAX_LAYERS``, repeated here so
#: that choosing a backend does not import numba).
JIT_MAX_LAYERS = 8


def prefer_wide_vectors() -> bool:
    """Opt in to 512-bit vectors in the compiled backend where the CPU has them (AVX-512).

    Call it before anything loads numba (it sets ``NUMBA_CPU_FEATURES`` in this process's
    environment, which numba reads once, at import); it is never called on import.  The paths
    whose speed is measured or matters opt in: the benchmarks (:mod:`benchmarks.throughput`)
    and the reports with their training runs at every scale (:func:`verify.report.write_report`),
    so their speed and their numbers are those measured before the opt-in existed.

    Why: LLVM's tuning for these CPUs prefers 256-bit vectors (older Xeons lowered their clock
    for 512-bit code).  The compiled step is bound by its multiply-adds, and on the development
    machine (Xeon, AVX-512) it ran 24 % faster with 512-bit vectors: 35 against 28 GFLOP/s on
    one core, measured side by side.  Only the instruction width changes: the same IEEE
    operations, summed in another order (round-off).  A user's own NUMBA_CPU_FEATURES wins, and
    nothing changes if numba was loaded first or the CPU has no AVX-512.  Returns True when the
    preference was set by this call.
    """
    if "numba" in sys.modules or os.environ.get("NUMBA_CPU_FEATURES") or not jit_available():
        return False
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features()
    if not features.get("avx512f"):
        return False
    os.environ["NUMBA_CPU_FEATURES"] = features.flatten() + ",-prefer-256-bit"
    return True


def jit_available() -> bool:
    """True when numba is installed (the compiled backend :mod:`verify.training.kernels_jit` can load)."""
    return importlib.util.find_spec("numba") is not None


def choose_backend(backend: str, B: int, L: int | None = None) -> str:
    """``"numpy"`` or ``"jit"`` for a batch of B prompts through L layers; ``"auto"`` prefers the
    compiled one (which takes at most ``kernels_jit.MAX_LAYERS`` layers)."""
    if backend not in ("auto", "numpy", "jit"):
        raise ValueError(f"backend must be 'auto', 'numpy' or 'jit'; got {backend!r}")
    deep = L is not None and L > JIT_MAX_LAYERS
    if backend == "jit" and deep:
        raise ValueError(
            f"the 'jit' backend takes at most {JIT_MAX_LAYERS} layers; got {L} (use 'numpy')"
        )
    if backend == "auto":
        return "jit" if B >= JIT_MIN_BATCH and not deep and jit_available() else "numpy"
    return backend


def make_blocks(prompts, backend: str, chunk: int | None = None):
    """The batch cut into blocks for ``backend`` (computed once per minibatch)."""
    if backend == "jit":
        from .kernels_jit import CHUNK as JIT_CHUNK
        from .kernels_jit import layout

        return layout(prompts, JIT_CHUNK if chunk is None else chunk)
    return _layout(prompts, CHUNK if chunk is None else chunk)


def loss_and_grad(
    params,
    prompts,
    *,
    workers: int | None = None,
    chunk: int | None = None,
    backend: str = "auto",
    blocks=None,
):
    """Loss ``mean_b ([Z_L]_{d+1,n+1} + <w*, x_q>)^2`` and its gradient w.r.t. every P_l, Q_l.

    Same arguments and result as :func:`verify.model.loss_and_grad` with linear attention:
    ``params`` a sequence of (P_l, Q_l), each (d+1, d+1); ``prompts`` a
    :class:`verify.model.Prompts` batch (B prompts).  Returns ``(f, [(dP_0, dQ_0), ...])``.
    ``workers`` threads (default: the usable cores) share blocks of ``chunk`` prompts.
    ``backend``: ``"numpy"`` (this module), ``"jit"`` (:mod:`verify.training.kernels_jit`, numba) or
    ``"auto"`` (see :func:`choose_backend`); ``blocks`` (optional) is the batch already cut by
    :func:`make_blocks` for that backend (reused across steps).
    """
    D, B, n = prompts.Z0.shape[1], prompts.B, prompts.n
    _check(params, D)
    if chunk is not None and chunk < 1:
        raise ValueError(f"chunk must be a positive number of prompts; got {chunk}")
    backend = choose_backend(backend, B, len(params))
    layers = []
    for P, Q in params:  # P, Q, P/n, P^T/n, Q^T as contiguous arrays, shared by the blocks
        P, Q = np.asarray(P, dtype=float), np.asarray(Q, dtype=float)
        layers.append(tuple(np.ascontiguousarray(X) for X in (P, Q, P / n, P.T / n, Q.T)))
    blocks = make_blocks(prompts, backend, chunk) if blocks is None else blocks
    workers = default_workers() if workers is None else int(workers)
    run = _jit_backend if backend == "jit" else _numpy_backend
    return run(layers, blocks, n, B, workers)


class KernelObjective:
    """theta -> (loss, gradient w.r.t. theta) of a parameter family on a fixed batch.

    The fast counterpart of :class:`verify.training.adam.Objective` for linear attention: ``family``
    maps theta to the layers' (P_l, Q_l) and pulls the gradient back (:mod:`verify.families`).
    The batch is cut into blocks once and reused by every call (the paper's protocol evaluates
    100 steps on each minibatch).
    """

    def __init__(
        self,
        family,
        prompts,
        workers: int | None = None,
        chunk: int | None = None,
        backend: str = "auto",
    ):
        if chunk is not None and chunk < 1:
            raise ValueError(f"chunk must be a positive number of prompts; got {chunk}")
        self.family, self.prompts, self.workers, self.chunk = family, prompts, workers, chunk
        self.backend = choose_backend(backend, prompts.B, family.L)
        self.blocks = make_blocks(prompts, self.backend, chunk)

    def __call__(self, theta: np.ndarray):
        f, grads = loss_and_grad(
            self.family.unpack(theta),
            self.prompts,
            workers=self.workers,
            chunk=self.chunk,
            backend=self.backend,
            blocks=self.blocks,
        )
        return f, self.family.pullback(grads)
