"""The same loss and gradient as :mod:`verify.kernels`, compiled by numba for a fixed D = d+1.

Why a compiler: per prompt the work is a dozen products of (d+1) x (d+1) matrices.  Through
numpy every such product is a separate BLAS call (about 40 ns of call overhead for 432 flops),
which caps the numpy kernel far below the matmul bound.  Here a block of ``CHUNK`` prompts is
stored "batch-last", ``X[i, j, b]``, and every product is a loop nest whose innermost loop runs
over the prompts of the block: contiguous, vectorised by LLVM, with the sums over the inner
matrix index unrolled (D is a compile-time constant of the closure) and accumulated in
registers.  numba is a well-kept JIT (the PyData project's); the compiled code is cached on
disk (``cache=True``), so a machine compiles each D once (about 20 CPU-seconds).

The algebra, the reverse mode and the notation are those of :mod:`verify.kernels` (its module
docstring); ``tests/test_kernels.py`` checks this backend against :mod:`verify.model` to
round-off.  Floating-point: ``fastmath`` is limited to reassociation and contraction (FMA), so
NaN and infinity keep their IEEE meaning.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numba import njit

__all__ = ["CHUNK", "compiled", "layout"]

#: Prompts per block (the vector loop's length); a block's working set stays in L1/L2.
CHUNK = 128

_FLAGS = {"reassoc", "contract"}


def layout(prompts, chunk: int = CHUNK):
    """Blocks of a batch, batch-last and zero-padded to whole blocks.

    Returns ``K0b`` (nb, D, D, chunk), ``z0b`` (nb, D, chunk), ``tb`` (nb, chunk).  A padded
    prompt (K_0 = 0, z_0 = 0, target 0) has residual 0 and adds nothing to loss or gradient.
    """
    B, D = prompts.B, prompts.Z0.shape[1]
    nb = -(-B // chunk)
    K0 = np.zeros((nb * chunk, D, D))
    K0[:B] = prompts.K0
    z0 = np.zeros((nb * chunk, D))
    z0[:B] = prompts.Z0[:, :, -1]
    t = np.zeros(nb * chunk)
    t[:B] = prompts.target
    return (
        np.ascontiguousarray(K0.reshape(nb, chunk, D, D).transpose(0, 2, 3, 1)),
        np.ascontiguousarray(z0.reshape(nb, chunk, D).transpose(0, 2, 1)),
        t.reshape(nb, chunk),
    )


# The loop nests are module globals (numba's disk cache can find them) inlined into the per-D
# function of :func:`compiled`, where D is a compile-time constant: the loops over the inner
# matrix index are unrolled and accumulated in registers, the loop over prompts is vectorised.
_inline = njit(inline="always", fastmath=_FLAGS)


@_inline
def pp(A, B, out, D):  # out_b = A_b B_b
    for i in range(D):
        for k in range(D):
            for b in range(A.shape[2]):
                acc = 0.0
                for j in range(D):
                    acc += A[i, j, b] * B[j, k, b]
                out[i, k, b] = acc


@_inline
def pp_nt(A, B, out, D):  # out_b = A_b B_b^T
    for i in range(D):
        for k in range(D):
            for b in range(A.shape[2]):
                acc = 0.0
                for j in range(D):
                    acc += A[i, j, b] * B[k, j, b]
                out[i, k, b] = acc


@_inline
def pp_tn(A, B, out, D):  # out_b = A_b^T B_b
    for i in range(D):
        for k in range(D):
            for b in range(A.shape[2]):
                acc = 0.0
                for j in range(D):
                    acc += A[j, i, b] * B[j, k, b]
                out[i, k, b] = acc


@_inline
def sp(S, X, out, D):  # out_b = S X_b, S shared
    for i in range(D):
        for k in range(D):
            for b in range(X.shape[2]):
                acc = 0.0
                for j in range(D):
                    acc += S[i, j] * X[j, k, b]
                out[i, k, b] = acc


@_inline
def ps(X, S, out, D):  # out_b = X_b S, S shared
    for i in range(D):
        for k in range(D):
            for b in range(X.shape[2]):
                acc = 0.0
                for j in range(D):
                    acc += X[i, j, b] * S[j, k]
                out[i, k, b] = acc


@_inline
def mv(A, x, out, D):  # out_b = A_b x_b
    for i in range(D):
        for b in range(x.shape[1]):
            acc = 0.0
            for j in range(D):
                acc += A[i, j, b] * x[j, b]
            out[i, b] = acc


@_inline
def mv_t(A, x, out, D):  # out_b = A_b^T x_b
    for i in range(D):
        for b in range(x.shape[1]):
            acc = 0.0
            for j in range(D):
                acc += A[j, i, b] * x[j, b]
            out[i, b] = acc


@_inline
def smv(S, x, out, D):  # out_b = S x_b, S shared
    for i in range(D):
        for b in range(x.shape[1]):
            acc = 0.0
            for j in range(D):
                acc += S[i, j] * x[j, b]
            out[i, b] = acc


@_inline
def reduce_nt(A, B, D):  # sum_b A_b B_b^T
    out = np.zeros((D, D))
    for i in range(D):
        for k in range(D):
            acc = 0.0
            for j in range(D):
                for b in range(A.shape[2]):
                    acc += A[i, j, b] * B[k, j, b]
            out[i, k] = acc
    return out


@_inline
def reduce_tn(A, B, D):  # sum_b A_b^T B_b
    out = np.zeros((D, D))
    for i in range(D):
        for k in range(D):
            acc = 0.0
            for j in range(D):
                for b in range(A.shape[2]):
                    acc += A[j, i, b] * B[j, k, b]
            out[i, k] = acc
    return out


@cache
def compiled(D: int):
    """The compiled ``run_range(Ps, Qs, K0b, z0b, tb, n, weight, lo, hi, fs, dPs, dQs)`` for D.

    It evaluates blocks ``lo..hi-1`` and writes each block's sum of squared residuals to
    ``fs[k]`` and its gradient of ``weight * sum r^2`` to ``dPs[k]``, ``dQs[k]`` (L, D, D).
    D is its only closure variable (the loop nests are module globals inlined into it), so
    numba's disk cache finds the machine code again in the next process.
    """

    @njit(cache=True, nogil=True, fastmath=_FLAGS)
    def run_range(Ps, Qs, K0b, z0b, tb, n, weight, lo, hi, fs, dPs, dQs):
        for blk in range(lo, hi):
            K0, z0, t, dP, dQ = K0b[blk], z0b[blk], tb[blk], dPs[blk], dQs[blk]
            L, c = Ps.shape[0], K0.shape[2]
            H = max(L - 1, 1)
            Ks, zs = np.empty((L, D, D, c)), np.empty((L, D, c))
            Ws, Ts, Ms = np.empty((H, D, D, c)), np.empty((H, D, D, c)), np.empty((H, D, D, c))
            Ks[0] = K0
            zs[0] = z0
            for l in range(L - 1):  # T = I + P K Q / n; K <- T K T^T; z <- T z
                ps(Ks[l], Qs[l], Ws[l], D)
                sp(Ps[l] / n, Ws[l], Ts[l], D)
                for i in range(D):
                    Ts[l, i, i, :] += 1.0
                pp(Ts[l], Ks[l], Ms[l], D)
                pp_nt(Ms[l], Ts[l], Ks[l + 1], D)
                mv(Ts[l], zs[l], zs[l + 1], D)
            K, z, Q, p = Ks[L - 1], zs[L - 1], Qs[L - 1], Ps[L - 1, D - 1]
            # explicit loops over b throughout: numba would allocate a temporary per row expression
            Kp, v, Kv = np.empty((D, c)), np.empty((D, c)), np.empty((D, c))
            for i in range(D):
                for b in range(c):
                    acc = 0.0
                    for j in range(D):
                        acc += K[i, j, b] * p[j]
                    Kp[i, b] = acc  # K p
            smv(Q, z, v, D)  # Q z
            mv(K, v, Kv, D)  # K Q z
            r, g = np.empty(c), np.empty(c)
            f = 0.0
            for b in range(c):
                acc = z[D - 1, b] + t[b]
                for i in range(D):
                    acc += Kp[i, b] * v[i, b] / n
                r[b] = acc
                f += acc * acc
                g[b] = 2.0 * weight * acc / n  # d(weight r^2)/dr, with the read-out's 1/n folded in
            for i in range(D):
                acc = 0.0
                for b in range(c):
                    acc += g[b] * Kv[i, b]
                dP[L - 1, D - 1, i] += acc
                for k in range(D):
                    acc = 0.0
                    for b in range(c):
                        acc += g[b] * Kp[i, b] * z[k, b]
                    dQ[L - 1, i, k] += acc
            if L > 1:
                dz, S = np.empty((D, c)), np.empty((D, D, c))
                for i in range(
                    D
                ):  # dz = Q^T K p g / n + g e_D; S = dK + dK^T with dK = g p (Q z)^T / n
                    for b in range(c):
                        acc = 0.0
                        for j in range(D):
                            acc += Q[j, i] * Kp[j, b]
                        dz[i, b] = acc * g[b]
                    for j in range(D):
                        for b in range(c):
                            S[i, j, b] = g[b] * (p[i] * v[j, b] + v[i, b] * p[j])
                for b in range(c):
                    dz[D - 1, b] += g[b] * n
                dT, dW, U, dz2 = (
                    np.empty((D, D, c)),
                    np.empty((D, D, c)),
                    np.empty((D, D, c)),
                    np.empty((D, c)),
                )
                for l in range(L - 2, -1, -1):
                    pp(S, Ms[l], dT, D)  # dT = S T K + dz z^T
                    for i in range(D):
                        for j in range(D):
                            for b in range(c):
                                dT[i, j, b] += dz[i, b] * zs[l, j, b]
                    dP[l] += reduce_nt(dT, Ws[l], D) / n
                    sp(Ps[l].T / n, dT, dW, D)  # dW = P^T dT / n
                    dQ[l] += reduce_tn(Ks[l], dW, D)  # W = K Q: dQ = sum_b K^T dW
                    if l > 0:  # S <- T^T S T + dW Q^T + Q dW^T; dz <- T^T dz
                        pp(S, Ts[l], U, D)
                        pp_tn(Ts[l], U, S, D)
                        ps(dW, Qs[l].T.copy(), U, D)
                        for i in range(D):
                            for j in range(D):
                                for b in range(c):
                                    S[i, j, b] += U[i, j, b] + U[j, i, b]
                        mv_t(Ts[l], dz, dz2, D)
                        dz, dz2 = dz2, dz
            fs[blk] = f

    return run_range
