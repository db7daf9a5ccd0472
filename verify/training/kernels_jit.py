"""The same loss and gradient as :mod:`verify.training.kernels`, compiled by numba for fixed D = d+1 and L.

Why a compiler: per prompt the work is a dozen products of (d+1) x (d+1) matrices.  Through
numpy every such product is a separate BLAS call (about 40 ns of call overhead for 432 flops),
which caps the numpy kernel far below the matmul bound.  Here a block of ``CHUNK`` prompts is
stored "batch-last", ``X[i, j, b]``, and evaluated in micro-blocks of ``MICRO`` prompts.  Every
product is a loop nest whose innermost loop runs over the prompts of a micro-block: contiguous
and vectorised by LLVM, with the loops over matrix indices unrolled and two rows of the result
accumulated in registers.

What makes it fast is that LLVM can prove the operands of every loop apart.  Everything a
micro-block touches (its states, the gradient's accumulators: about 90 KB at d = 5, L = 3) is
one flat float64 array, the *workspace*, and the layers' shared matrices a second one; every
offset into them is a compile-time constant (D, L and MICRO are constants of the closure and
the layer loops are unrolled).  LLVM then vectorises without run-time alias checks and keeps
the accumulators in registers.  Measured on one core of the development machine (float64,
GFLOP/s): one product 42 with constant offsets against 12 through separate arrays (the
previous kernel); the whole step about 28 with 256-bit vectors (35 with 512-bit ones, see
:func:`verify.training.kernels.prefer_wide_vectors`, an opt-in), against 15 for the previous kernel and 3-4 with the layer loop
not unrolled (offsets known only at run time).  The price is compile time, once per (D, L) per
machine (numba's disk cache, ``cache=True``): about 4, 15, 33 and 56 CPU-seconds for
L = 1, 2, 3, 4 at d = 5.
Models deeper than :data:`MAX_LAYERS` use the numpy backend; an odd D runs padded to D + 1
(:func:`layout`), so the products only ever take rows two at a time.

The algebra, the reverse mode and the notation are those of :mod:`verify.training.kernels` (its module
docstring); ``tests/test_kernels.py`` checks this backend against :mod:`verify.model` to
round-off.  Floating-point: ``fastmath`` is limited to reassociation and contraction (FMA), so
NaN and infinity keep their IEEE meaning.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numba import njit

__all__ = ["CHUNK", "LINE", "MAX_LAYERS", "MICRO", "compiled", "layout", "on_lines", "pad"]

#: Prompts per block: a thread's unit of work and of the partial sums (the blocks' losses and
#: gradients are added in block order, so the result does not depend on the threads).
CHUNK = 128

#: Prompts per micro-block: the length of the vector loops, a compile-time constant.
MICRO = 16

#: Doubles per 64-byte cache line.  The workspace and the blocks of :func:`layout` start on a
#: cache line, so that every vector of a micro-block (16 doubles, two 512-bit loads) lies on
#: whole lines: numba aligns its arrays to 32 bytes only, and a workspace that started half way
#: into a line ran the whole step 1.33x slower on one core (7.7 against 10.2 ms, measured side
#: by side), which had made the step's speed vary from process to process and thread to thread.
LINE = 8

_FLAGS = {"reassoc", "contract"}


def layout(prompts, chunk: int = CHUNK):
    """Blocks of a batch, batch-last and zero-padded to whole blocks.

    Returns ``K0b`` (nb, E, E, C), ``z0b`` (nb, E, C), ``tb`` (nb, C) with C = ``chunk`` rounded
    up to a multiple of :data:`MICRO` and E = D = d + 1 rounded up to an even size (the products
    take two rows per pass).  A padded prompt (K_0 = 0, z_0 = 0, target 0) has residual 0 and
    adds nothing to loss or gradient.  An odd D gets a zero first row and column: with P_l, Q_l
    padded alike (:func:`pad`), T_l = diag(1, T_l), every state keeps a zero first row and
    column, and loss and gradient are those of the unpadded model exactly (the padding only
    adds exact zeros).
    """
    B, D = prompts.B, prompts.Z0.shape[1]
    s = D % 2  # the padding's width
    chunk = -(-chunk // MICRO) * MICRO
    nb = -(-B // chunk)
    K0 = np.zeros((nb * chunk, D + s, D + s))
    K0[:B, s:, s:] = prompts.K0
    z0 = np.zeros((nb * chunk, D + s))
    z0[:B, s:] = prompts.Z0[:, :, -1]
    t = np.zeros(nb * chunk)
    t[:B] = prompts.target
    return (
        on_lines(K0.reshape(nb, chunk, D + s, D + s).transpose(0, 2, 3, 1)),
        on_lines(z0.reshape(nb, chunk, D + s).transpose(0, 2, 1)),
        on_lines(t.reshape(nb, chunk)),
    )


def on_lines(X) -> np.ndarray:
    """A C-contiguous float64 copy of ``X`` that starts on a 64-byte cache line (see
    :data:`LINE`; numpy itself only promises 16 bytes)."""
    X = np.asarray(X, dtype=float)
    buf = np.empty(X.size + LINE)
    skip = -(buf.ctypes.data // 8) % LINE
    out = buf[skip : skip + X.size].reshape(X.shape)
    out[...] = X
    return out


def pad(Ms, E: int) -> np.ndarray:
    """Matrices (L, D, D) with a zero first row and column added when E = D + 1 (see
    :func:`layout`); as they are when E = D."""
    Ms = np.asarray(Ms, dtype=float)
    s = E - Ms.shape[-1]
    out = np.zeros(Ms.shape[:-2] + (E, E))
    out[..., s:, s:] = Ms
    return out


# The loop nests are module globals (numba's disk cache can find them) inlined into the
# function of :func:`compiled`.  Every operand is a region of the workspace ``w``, given by
# its offset: a per-prompt matrix X at offset x holds X_b[i, j] at w[x + (i D + j) W + b], a
# per-prompt vector at w[x + i W + b], a shared matrix at w[x + i D + j].
_inline = njit(inline="always", fastmath=_FLAGS)


@_inline
def _at(x, i, j, t, D, W):  # offset of row i, column j of a per-prompt matrix (transposed: t)
    return x + (j * D + i) * W if t else x + (i * D + j) * W


@_inline
def mm(w, a, ta, c, tc, o, add, D, W):
    """o_b (+)= op(A_b) op(C_b), op the transpose where ``ta``/``tc``; two rows per pass (D is
    even: :func:`layout` pads an odd D)."""
    for i in range(0, D - 1, 2):
        for b in range(W):
            for k in range(D):
                if not add:
                    w[o + (i * D + k) * W + b] = 0.0
                    w[o + ((i + 1) * D + k) * W + b] = 0.0
            for j in range(D):
                x = w[_at(a, i, j, ta, D, W) + b]
                y = w[_at(a, i + 1, j, ta, D, W) + b]
                for k in range(D):
                    u = w[_at(c, j, k, tc, D, W) + b]
                    w[o + (i * D + k) * W + b] += x * u
                    w[o + ((i + 1) * D + k) * W + b] += y * u


@_inline
def sm(w, sh, s, x, o, D, W):  # o_b = S X_b, S shared (in sh)
    for i in range(D):
        for k in range(D):
            for b in range(W):
                acc = 0.0
                for j in range(D):
                    acc += sh[s + i * D + j] * w[x + (j * D + k) * W + b]
                w[o + (i * D + k) * W + b] = acc


@_inline
def ms(w, x, sh, s, o, D, W):  # o_b = X_b S, S shared (in sh)
    for i in range(D):
        for b in range(W):
            for k in range(D):
                w[o + (i * D + k) * W + b] = 0.0
            for j in range(D):
                e = w[x + (i * D + j) * W + b]
                for k in range(D):
                    w[o + (i * D + k) * W + b] += e * sh[s + j * D + k]


@_inline
def mv(w, a, ta, x, o, D, W):  # o_b = op(A_b) x_b
    for b in range(W):
        for i in range(D):
            acc = 0.0
            for j in range(D):
                acc += w[_at(a, i, j, ta, D, W) + b] * w[x + j * W + b]
            w[o + i * W + b] = acc


@_inline
def smv(w, sh, s, ts, x, o, D, W):  # o_b = op(S) x_b, S shared (in sh)
    for b in range(W):
        for i in range(D):
            acc = 0.0
            for j in range(D):
                e = sh[s + j * D + i] if ts else sh[s + i * D + j]
                acc += e * w[x + j * W + b]
            w[o + i * W + b] = acc


#: The largest L the compiled backend takes (deeper models use the numpy backend): its layer
#: loops are unrolled, so that every workspace offset is a compile-time constant.
MAX_LAYERS = 8

#: Doubles of padding after each region of the workspace.  Regions of (D, D, W) doubles
#: (4608 bytes at D = 6, W = 16) would otherwise start at fixed offsets modulo 4 KiB, and a
#: load whose address matches an earlier store's modulo 4 KiB waits for it (4K aliasing):
#: measured on one core with the workspace on whole cache lines (:data:`LINE`), three rounds side
#: by side: 33.8-34.3 GFLOP/s unpadded, 36.2-36.6 with 8 doubles, 31.9-34.4 with 16, 34.0-36.7
#: with 24 (and 35.7-36.4 with micro-blocks of 32 prompts instead of 16).
PAD = 8


def regions(D: int, W: int, L: int) -> dict:
    """Offsets of the shared array (P_l, Q_l, P_l / n, P_l^T / n, Q_l^T) and of the workspace:
    per-prompt states K_l, z_l (l < L), W_l = K_l Q_l, T_l, M_l = T_l K_l (l < L - 1); the
    read-out's vectors K p, Q z, K Q z, the target t and g = d(weight r^2)/dr / n; the reverse
    mode's dz (two copies), S, dT, dW, U; the gradient's lane-wise accumulators dP_l, dQ_l.
    Plain integers: the compiled function sees them as constants."""
    DD, M, V, H = D * D, D * D * W, D * W, max(L - 1, 1)
    sizes = {"P": L * DD, "Q": L * DD, "Pn": H * DD, "Pt": H * DD, "Qt": H * DD, "shared": 0}
    sizes |= {"K": L * M, "z": L * V, "W": H * M, "T": H * M, "M": H * M, "Kp": V, "v": V}
    sizes |= {"Kv": V, "t": W, "g": W, "dz": V, "dz2": V, "S": M, "dT": M, "dW": M, "U": M}
    sizes |= {"GP": L * M, "GQ": L * M, "size": 0}
    out, at = {}, 0
    for name, size in sizes.items():
        out[name], at = at, at + size
        if name == "shared":
            at = 0
        elif at:
            at += PAD
    return out


@_inline
def forward(w, sh, l, oK, oz, oW, oT, oM, oQ, oPn, D, W):
    """Hidden layer l: T = I + P K Q / n; K <- T K T^T; z <- T z."""
    DD, M, V = D * D, D * D * W, D * W
    k, z, wl, tl, ml = oK + l * M, oz + l * V, oW + l * M, oT + l * M, oM + l * M
    ms(w, k, sh, oQ + l * DD, wl, D, W)
    sm(w, sh, oPn + l * DD, wl, tl, D, W)
    for i in range(D):
        for b in range(W):
            w[tl + (i * D + i) * W + b] += 1.0
    mm(w, tl, False, k, False, ml, False, D, W)
    mm(w, ml, False, tl, True, k + M, False, D, W)
    mv(w, tl, False, z, z + V, D, W)


@_inline
def backward(w, sh, l, oK, oz, oW, oT, oM, oPt, oQt, odz, odz2, oS, odT, odW, oU, oGP, oGQ, D, W):
    """Layer l's share of the gradient; then S and dz of layer l - 1."""
    DD, M, V = D * D, D * D * W, D * W
    k, z, wl, tl, ml = oK + l * M, oz + l * V, oW + l * M, oT + l * M, oM + l * M
    mm(w, oS, False, ml, False, odT, False, D, W)  # dT = S T K + dz z^T
    for b in range(W):
        for i in range(D):
            x = w[odz + i * W + b]
            for j in range(D):
                w[odT + (i * D + j) * W + b] += x * w[z + j * W + b]
    mm(w, odT, False, wl, True, oGP + l * M, True, D, W)  # dP += dT W^T (/ n at the end)
    sm(w, sh, oPt + l * DD, odT, odW, D, W)  # dW = P^T dT / n
    mm(w, k, False, odW, False, oGQ + l * M, True, D, W)  # W = K Q: dQ += K^T dW = K dW
    if l > 0:  # S <- T^T S T + dW Q^T + Q dW^T; dz <- T^T dz
        mm(w, oS, False, tl, False, oU, False, D, W)
        mm(w, tl, True, oU, False, oS, False, D, W)
        ms(w, odW, sh, oQt + l * DD, oU, D, W)
        for b in range(W):
            for i in range(D):
                for j in range(D):
                    w[oS + (i * D + j) * W + b] += (
                        w[oU + (i * D + j) * W + b] + w[oU + (j * D + i) * W + b]
                    )
        mv(w, tl, True, odz, odz2, D, W)
        for e in range(V):
            w[odz + e] = w[odz2 + e]


@cache
def compiled(D: int, L: int, W: int = MICRO):
    """The compiled ``run_range(Ps, Qs, K0b, z0b, tb, n, weight, lo, hi, fs, dPs, dQs)``.

    For D = d + 1, L layers (at most :data:`MAX_LAYERS`) and micro-blocks of W prompts.  It
    evaluates blocks ``lo..hi-1`` (each a whole number of micro-blocks, see :func:`layout`) and
    writes each block's sum of squared residuals to ``fs[k]`` and its gradient of
    ``weight * sum r^2`` to ``dPs[k]``, ``dQs[k]`` (L, D, D).  Its closure holds only integers
    (D, L, W and the offsets of :func:`regions`; the loop nests are module globals inlined into
    it), so numba's disk cache finds the machine code again in the next process.
    """
    if not 1 <= L <= MAX_LAYERS:
        raise ValueError(f"the compiled backend takes 1 to {MAX_LAYERS} layers; got {L}")
    if D % 2:
        raise ValueError(f"the compiled backend takes an even D (layout pads an odd one); got {D}")
    DD, M, V = D * D, D * D * W, D * W
    r = regions(D, W, L)
    oP, oQ, oPn, oPt, oQt, n_shared = r["P"], r["Q"], r["Pn"], r["Pt"], r["Qt"], r["shared"]
    oK, oz, oW, oT, oM, oKp, ov, oKv = (
        r["K"],
        r["z"],
        r["W"],
        r["T"],
        r["M"],
        r["Kp"],
        r["v"],
        r["Kv"],
    )
    ot, og, odz, odz2, oS, odT, odW, oU = (
        r["t"],
        r["g"],
        r["dz"],
        r["dz2"],
        r["S"],
        r["dT"],
        r["dW"],
        r["U"],
    )
    oGP, oGQ, size = r["GP"], r["GQ"], r["size"]

    @njit(cache=True, nogil=True, fastmath=_FLAGS)
    def run_range(Ps, Qs, K0b, z0b, tb, n, weight, lo, hi, fs, dPs, dQs):
        C = K0b.shape[3]
        buf, sh = np.zeros(size + LINE), np.zeros(n_shared)
        skip = -(buf.ctypes.data // 8) % LINE  # doubles to the next 64-byte boundary
        w = buf[skip : skip + size]  # the workspace on whole cache lines (see LINE)
        for l in range(L):
            for i in range(D):
                for j in range(D):
                    sh[oP + l * DD + i * D + j] = Ps[l, i, j]
                    sh[oQ + l * DD + i * D + j] = Qs[l, i, j]
                    if l < L - 1:
                        sh[oPn + l * DD + i * D + j] = Ps[l, i, j] / n
                        sh[oPt + l * DD + i * D + j] = Ps[l, j, i] / n
                        sh[oQt + l * DD + i * D + j] = Qs[l, j, i]
        q, p = oQ + (L - 1) * DD, oP + (L - 1) * DD + (D - 1) * D  # Q_{L-1}, last row of P_{L-1}
        k, z = oK + (L - 1) * M, oz + (L - 1) * V  # the last layer's K, z
        gp, gq = oGP + (L - 1) * M, oGQ + (L - 1) * M
        for blk in range(lo, hi):
            K0, z0, t = K0b[blk], z0b[blk], tb[blk]
            f = 0.0
            for e in range(oGP, size):
                w[e] = 0.0
            for s in range(0, C, W):
                for i in range(D):
                    for b in range(W):
                        w[oz + i * W + b] = z0[i, s + b]
                    for j in range(D):
                        for b in range(W):
                            w[oK + (i * D + j) * W + b] = K0[i, j, s + b]
                for b in range(W):
                    w[ot + b] = t[s + b]
                # the layers, unrolled (a constant l makes every offset a constant)
                if L > 1:
                    forward(w, sh, 0, oK, oz, oW, oT, oM, oQ, oPn, D, W)
                if L > 2:
                    forward(w, sh, 1, oK, oz, oW, oT, oM, oQ, oPn, D, W)
                if L > 3:
                    forward(w, sh, 2, oK, oz, oW, oT, oM, oQ, oPn, D, W)
                if L > 4:
                    forward(w, sh, 3, oK, oz, oW, oT, oM, oQ, oPn, D, W)
                if L > 5:
                    forward(w, sh, 4, oK, oz, oW, oT, oM, oQ, oPn, D, W)
                if L > 6:
                    forward(w, sh, 5, oK, oz, oW, oT, oM, oQ, oPn, D, W)
                if L > 7:
                    forward(w, sh, 6, oK, oz, oW, oT, oM, oQ, oPn, D, W)
                for b in range(W):  # K p
                    for i in range(D):
                        acc = 0.0
                        for j in range(D):
                            acc += w[k + (i * D + j) * W + b] * sh[p + j]
                        w[oKp + i * W + b] = acc
                smv(w, sh, q, False, z, ov, D, W)  # Q z
                mv(w, k, False, ov, oKv, D, W)  # K Q z
                for b in range(W):
                    acc = w[z + (D - 1) * W + b] + w[ot + b]
                    for i in range(D):
                        acc += w[oKp + i * W + b] * w[ov + i * W + b] / n
                    f += acc * acc
                    w[og + b] = 2.0 * weight * acc / n  # d(weight r^2)/dr, the 1/n folded in
                for b in range(W):  # dP[D-1, i] += g K Q z; dQ[i, k] += g (K p)_i z_k
                    for i in range(D):
                        w[gp + ((D - 1) * D + i) * W + b] += w[og + b] * w[oKv + i * W + b]
                        x = w[og + b] * w[oKp + i * W + b]
                        for j in range(D):
                            w[gq + (i * D + j) * W + b] += x * w[z + j * W + b]
                if L > 1:
                    # dz = Q^T K p g / n + g n e_D; S = dK + dK^T with dK = g p (Q z)^T / n
                    smv(w, sh, q, True, oKp, odz, D, W)
                    for b in range(W):
                        for i in range(D):
                            w[odz + i * W + b] *= w[og + b]
                        w[odz + (D - 1) * W + b] += w[og + b] * n
                        for i in range(D):
                            for j in range(D):
                                w[oS + (i * D + j) * W + b] = w[og + b] * (
                                    sh[p + i] * w[ov + j * W + b] + w[ov + i * W + b] * sh[p + j]
                                )
                # the reverse pass, unrolled like the forward one (a loop over l measured 3-4
                # GFLOP/s against 35: nothing vectorises when the offsets depend on l)
                # fmt: off
                if L > 7:
                    backward(w, sh, 6, oK, oz, oW, oT, oM, oPt, oQt, odz, odz2, oS, odT, odW, oU,
                             oGP, oGQ, D, W)
                if L > 6:
                    backward(w, sh, 5, oK, oz, oW, oT, oM, oPt, oQt, odz, odz2, oS, odT, odW, oU,
                             oGP, oGQ, D, W)
                if L > 5:
                    backward(w, sh, 4, oK, oz, oW, oT, oM, oPt, oQt, odz, odz2, oS, odT, odW, oU,
                             oGP, oGQ, D, W)
                if L > 4:
                    backward(w, sh, 3, oK, oz, oW, oT, oM, oPt, oQt, odz, odz2, oS, odT, odW, oU,
                             oGP, oGQ, D, W)
                if L > 3:
                    backward(w, sh, 2, oK, oz, oW, oT, oM, oPt, oQt, odz, odz2, oS, odT, odW, oU,
                             oGP, oGQ, D, W)
                if L > 2:
                    backward(w, sh, 1, oK, oz, oW, oT, oM, oPt, oQt, odz, odz2, oS, odT, odW, oU,
                             oGP, oGQ, D, W)
                if L > 1:
                    backward(w, sh, 0, oK, oz, oW, oT, oM, oPt, oQt, odz, odz2, oS, odT, odW, oU,
                             oGP, oGQ, D, W)
                # fmt: on
            fs[blk] = f
            for l in range(L):
                scale = 1.0 if l == L - 1 else 1.0 / n
                for i in range(D):
                    for j in range(D):
                        a, c = 0.0, 0.0
                        for b in range(W):
                            a += w[oGP + l * M + (i * D + j) * W + b]
                            c += w[oGQ + l * M + (i * D + j) * W + b]
                        dPs[blk, l, i, j] = a * scale
                        dQs[blk, l, i, j] = c

    return run_range
