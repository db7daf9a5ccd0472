"""Families (8) and (11) at any depth through per-prompt summaries: the exact loss, gradient,
residuals and Jacobian (the numerical kernels; :mod:`verify.families` binds them to each family).

For P_l = [[B_l,0],[0,1]], Q_l = [[A_l,0],[0,0]] (family (11); family (8) is B_l = 0 with
A_l -> -A_l) the transformer never mixes labels into covariates, so every token's covariate
part evolves as ``x <- G_l x`` with one d x d matrix G_l per prompt, and the label row is
carried by two summaries of the prompt: ``u_l = (1/n) sum_{i<=n} y_l[i] x_0[i]`` and the query
label ``q_l``.  With ``S = (1/n) sum_{i<=n} x_0[i] x_0[i]^T`` and ``v_l = G_l u_l``:

    G_{l+1} = (I + B_l G_l S G_l^T A_l) G_l
    u_{l+1} = u_l + S G_l^T A_l^T v_l
    q_{l+1} = q_l + v_l^T A_l G_l x_q,        G_0 = I, u_0 = (1/n) X y, q_0 = 0,

and ``[Z_L]_{d+1,n+1} = q_L``.  This is the same function of the prompt as
:func:`verify.model.forward` (an algebraic rewriting of eq. (3)-(4), not Lemma 1);
``tests/test_multilayer.py`` checks values and gradients against the model to round-off.
Conventions: :mod:`verify.conventions`; families: :mod:`verify.families`; training:
:mod:`verify.training.multilayer`.
Per prompt it costs O(L d^3) instead of O(L d^2 n), and the prompt enters only through
``(S, u_0, x_q)``, so a large sample is stored compactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Summaries",
    "loss_and_grad_8",
    "loss_and_grad_11",
    "residuals_8",
    "residuals_11",
    "residuals_and_jacobian_8",
    "residuals_and_jacobian_11",
    "subset",
]


@dataclass
class Summaries:
    """Per-prompt summaries of N prompts: S (N, d, d), u0 (N, d), xq (N, d), target (N,)."""

    S: np.ndarray
    u0: np.ndarray
    xq: np.ndarray
    target: np.ndarray

    @classmethod
    def from_prompts(cls, prompts) -> "Summaries":
        d, n = prompts.d, prompts.n
        K = prompts.K0  # Z_0 M Z_0^T
        return cls(
            np.ascontiguousarray(K[:, :d, :d] / n),
            np.ascontiguousarray(K[:, :d, d] / n),
            np.ascontiguousarray(prompts.Z0[:, :d, -1]),
            prompts.target,
        )

    @property
    def count(self) -> int:
        """N, the number of prompts (not to be confused with the family-(11) matrices B_l)."""
        return self.S.shape[0]


def _run_11(A_list, B_list, sm: Summaries, with_B: bool = True, per_prompt: bool = False):
    """Forward and reverse pass of family (11); gradients summed over prompts, or kept per
    prompt (``per_prompt``: the Jacobian of q_L).  Returns ``(f, residuals, dA, dB)``."""
    L = len(A_list)
    N, d = sm.count, sm.S.shape[1]
    I = np.eye(d)
    G = np.broadcast_to(I, (N, d, d)).copy()
    u, q = sm.u0.copy(), np.zeros(N)
    cache = []
    for l in range(L):
        A = A_list[l]
        v = np.einsum("bij,bj->bi", G, u)  # (N, d) = G u
        gx = np.einsum("bij,bj->bi", G, sm.xq)  # (N, d) = G x_q
        m = v @ A  # (N, d) = A^T v
        r = np.einsum("bji,bj->bi", G, m)  # (N, d) = G^T A^T v
        q_new = q + np.einsum("bi,bi->b", m, gx)
        u_new = u + np.einsum("bij,bj->bi", sm.S, r)
        K = T = None
        if with_B and l < L - 1:  # the last layer's covariate update never reaches q_L
            K = G @ sm.S @ G.transpose(0, 2, 1)  # (N, d, d)
            T = I + B_list[l] @ K @ A  # (N, d, d)
            G_new = T @ G
        else:
            G_new = G
        cache.append((G, u, v, gx, m, r, K, T))
        G, u, q = G_new, u_new, q_new
    res = q + sm.target
    f = float(np.mean(res * res))
    # dLoss/dq (constant through the layers); per prompt: dq_L/dq = 1 for the Jacobian
    qbar = np.ones(N) if per_prompt else 2.0 * res / N
    red = "b" if per_prompt else ""  # keep or sum the prompt index
    ubar = np.zeros_like(u)
    Gbar = np.zeros_like(G)
    dA = [None] * L
    dB = [np.zeros((N, d, d) if per_prompt else (d, d)) for _ in range(L)]
    for l in range(L - 1, -1, -1):
        A = A_list[l]
        G, u, v, gx, m, r, K, T = cache[l]
        dGl = np.zeros_like(G)
        if T is not None:  # G_{l+1} = T G, T = I + B K A, K = G S G^T
            dT = Gbar @ G.transpose(0, 2, 1)
            dGl += T.transpose(0, 2, 1) @ Gbar
            KA = K @ A
            dB[l] = np.einsum(f"bij,bkj->{red}ik", dT, KA)
            BK = B_list[l] @ K
            dAl = np.einsum(f"bji,bjk->{red}ik", BK, dT)
            dK = B_list[l].T @ dT @ A.T
            dGl += (dK + dK.transpose(0, 2, 1)) @ G @ sm.S
        else:
            dGl += Gbar
            dAl = np.zeros((N, d, d) if per_prompt else (d, d))
        # u_{l+1} = u + S r: rbar = S ubar (S symmetric)
        rbar = np.einsum("bij,bj->bi", sm.S, ubar)
        # q_{l+1} = q + m . gx
        mbar = qbar[:, None] * gx
        gxbar = qbar[:, None] * m
        # r = G^T m
        dGl += np.einsum("bi,bk->bik", m, rbar)
        mbar += np.einsum("bij,bj->bi", G, rbar)
        # m = A^T v
        dAl = dAl + np.einsum(f"bi,bk->{red}ik", v, mbar)
        vbar = mbar @ A.T
        # v = G u, gx = G x_q
        dGl += np.einsum("bi,bk->bik", vbar, u) + np.einsum("bi,bk->bik", gxbar, sm.xq)
        ubar = ubar + np.einsum("bji,bj->bi", G, vbar)
        dA[l] = dAl
        Gbar = dGl
    return f, res, dA, dB


def loss_and_grad_11(A_list, B_list, sm: Summaries, with_B: bool = True):
    """Loss ``mean (q_L + t)^2`` of family (11) and its gradients w.r.t. every A_l and B_l.

    ``with_B=False`` skips the covariate updates (all B_l = 0, G_l = I).
    Returns ``(f, [dA_l], [dB_l])``.
    """
    f, _, dA, dB = _run_11(A_list, B_list, sm, with_B)
    return f, dA, dB


def residuals_and_jacobian_11(A_list, B_list, sm: Summaries):
    """Residuals ``q_L + t`` (N,) and their Jacobian (N, 2 L d^2) w.r.t. A_0.., B_0.."""
    _, res, dA, dB = _run_11(A_list, B_list, sm, True, per_prompt=True)
    return res, np.concatenate([j.reshape(sm.count, -1) for j in dA + dB], axis=1)


def _forward_8(A_list, sm: Summaries):
    u, q = sm.u0.copy(), np.zeros(sm.count)
    us = []
    for A in A_list:
        us.append(u)
        m = u @ A  # (N, d) = A^T u
        q = q - np.einsum("bi,bi->b", m, sm.xq)
        u = u - np.einsum("bij,bj->bi", sm.S, m)
    return q, us


def _backward_8(A_list, sm, us, qbar, per_prompt):
    ubar = np.zeros_like(sm.u0)
    dA = [None] * len(A_list)
    for l in range(len(A_list) - 1, -1, -1):
        mbar = -np.einsum("bij,bj->bi", sm.S, ubar) - qbar[:, None] * sm.xq
        dA[l] = us[l][:, :, None] * mbar[:, None, :] if per_prompt else us[l].T @ mbar
        ubar = ubar + mbar @ A_list[l].T
    return dA


def loss_and_grad_8(A_list, sm: Summaries):
    """Family (8) (Q_l = -[[A_l,0],[0,0]]): G_l = I, so per layer ``m = A_l^T u``,
    ``q <- q - m . x_q``, ``u <- u - S m``.  Returns ``(f, [dA_l])``."""
    q, us = _forward_8(A_list, sm)
    res = q + sm.target
    return float(np.mean(res * res)), _backward_8(A_list, sm, us, 2.0 * res / sm.count, False)


def residuals_and_jacobian_8(A_list, sm: Summaries):
    """Residuals ``q_L + t`` (N,) and their Jacobian (N, L d^2) w.r.t. the A_l (row-major)."""
    q, us = _forward_8(A_list, sm)
    J = _backward_8(A_list, sm, us, np.ones(sm.count), True)
    return q + sm.target, np.concatenate([j.reshape(sm.count, -1) for j in J], axis=1)


def residuals_8(A_list, sm: Summaries) -> np.ndarray:
    """Residuals ``q_L + t`` (N,) of family (8), without the Jacobian."""
    return _forward_8(A_list, sm)[0] + sm.target


def residuals_11(A_list, B_list, sm: Summaries) -> np.ndarray:
    """Residuals ``q_L + t`` (N,) of family (11), without the Jacobian."""
    return _run_11(A_list, B_list, sm)[1]


def subset(sm: Summaries, k: int) -> Summaries:
    """The first k prompts' summaries."""
    return Summaries(sm.S[:k], sm.u0[:k], sm.xq[:k], sm.target[:k])
