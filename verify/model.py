"""The batched L-layer linear transformer of Ahn et al., Section 2, with its exact gradient.

Conventions (:mod:`verify.conventions`, docs/conventions.md):

* a prompt ``Z_0`` has shape ``(d+1, n+1)``; tokens are COLUMNS, the last column is the
  query ``[x^(n+1); 0]``;
* ``M = diag(1, ..., 1, 0)`` removes the query as key/value;
* eq. (3)-(4): ``Z_{l+1} = Z_l + (1/n) P_l Z_l M sigma(Z_l^T Q_l Z_l)`` with sigma the
  identity (linear attention) or an entry-wise activation (Section 6);
* read-out ``TF_L(Z_0) = -[Z_L]_{d+1, n+1}``;
* loss ``f = mean_b ([Z_L]_{d+1,n+1} + <w*, x^(n+1)>)^2`` (plain mean square, no 1/2).

Arrays are batched: ``Z`` has shape ``(B, d+1, n+1)``.  The loss reads only the query
column of the last layer, so the last layer computes only that column; the first layer's
key Gram matrix ``Z_0 M Z_0^T`` does not depend on the parameters and is cached by
:class:`Prompts`.  Both shortcuts are exact (tests compare with the full forward pass).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Activation", "IDENTITY", "RELU", "Prompts", "forward", "loss_and_grad", "predict"]


@dataclass(frozen=True)
class Activation:
    """An entry-wise activation sigma with its derivative (``None`` for the identity)."""

    name: str
    fn: object = None
    deriv: object = None

    @property
    def linear(self) -> bool:
        return self.fn is None


IDENTITY = Activation("identity")
RELU = Activation("relu", lambda s: np.maximum(s, 0.0), lambda s: (s > 0.0).astype(s.dtype))


@dataclass
class Prompts:
    """A batch of prompts with their targets.

    ``Z0``: (B, d+1, n+1) prompts; ``target``: (B,) the values ``<w*, x^(n+1)>``.
    """

    Z0: np.ndarray
    target: np.ndarray
    _K0: np.ndarray | None = field(default=None, repr=False)

    @property
    def B(self) -> int:
        return self.Z0.shape[0]

    @property
    def d(self) -> int:
        return self.Z0.shape[1] - 1

    @property
    def n(self) -> int:
        return self.Z0.shape[2] - 1

    @property
    def K0(self) -> np.ndarray:
        """``Z_0 M Z_0^T``, shape (B, d+1, d+1): the first layer's key Gram matrix."""
        if self._K0 is None:
            Y = self.Z0[:, :, :-1]  # (B, D, n): Z_0 M without the zero column
            self._K0 = Y @ Y.transpose(0, 2, 1)
        return self._K0

    def subset(self, idx) -> "Prompts":
        return Prompts(self.Z0[idx], self.target[idx])


def _check_params(params, D: int) -> None:
    if len(params) < 1:
        raise ValueError(f"need at least one layer (P_l, Q_l); got {len(params)}")
    for l, (P, Q) in enumerate(params):
        if P.shape != (D, D) or Q.shape != (D, D):
            raise ValueError(
                f"layer {l}: P and Q must be ({D}, {D}) for prompts with d+1 = {D} rows; "
                f"got {P.shape} and {Q.shape}"
            )


def _shared(M: np.ndarray, B: int) -> np.ndarray:
    """M repeated over the batch, contiguous: numpy's batched matmul is several times faster
    with a materialised (B, D, D) operand than with a stride-0 broadcast one."""
    return np.ascontiguousarray(np.broadcast_to(M, (B,) + M.shape))


def _gram(prompts: Prompts, l: int, Y: np.ndarray) -> np.ndarray:
    """``Z_l M Z_l^T = Y Y^T`` (B, D, D); cached for the first layer."""
    return prompts.K0 if l == 0 else Y @ Y.transpose(0, 2, 1)


def _layer_full(P, Q, Z, K, act, n):
    """One layer on every column: ``Z + (1/n) P Z M sigma(Z^T Q Z)``, shape (B, D, N)."""
    B = Z.shape[0]
    Y = Z[:, :, :-1]  # (B, D, n): keys/values (mask M drops the query column)
    if act.linear:
        return Z + (_shared(P, B) @ K @ _shared(Q, B)) @ Z / n
    S = Y.transpose(0, 2, 1) @ (_shared(Q, B) @ Z)  # (B, n, N)
    return Z + (_shared(P, B) @ Y) @ act.fn(S) / n


def _layer_out(P, Q, Z, K, act, n):
    """The read-out entry ``[Z_{l+1}]_{d+1,n+1}`` of one layer, shape (B,), plus a cache."""
    p = P[-1]  # (D,): only the last row of P reaches the read-out
    zq = Z[:, :, -1]  # (B, D): the query token
    v = zq @ Q.T  # (B, D) = Q z_q
    Y = Z[:, :, :-1]
    if act.linear:
        Kv = np.einsum("bij,bj->bi", K, v)  # (B, D) = K Q z_q
        return zq[:, -1] + Kv @ p / n, (v, Kv, None, None)
    S = np.einsum("bdi,bd->bi", Y, v)  # (B, n): key_i^T Q z_q
    H = act.fn(S)
    pY = np.einsum("d,bdi->bi", p, Y)  # (B, n): p^T y_i (values)
    return zq[:, -1] + np.einsum("bi,bi->b", pY, H) / n, (v, S, H, pY)


def forward(params, prompts: Prompts, act: Activation = IDENTITY, full: bool = False):
    """Run the transformer; return ``[Z_L]_{d+1,n+1}`` (shape (B,)) and a cache for backward.

    ``params`` is a sequence of ``(P_l, Q_l)``, each (d+1, d+1).  With ``full=True`` every
    column of every layer is computed and ``cache['Z']`` lists ``Z_0 .. Z_L`` (used by the
    Lemma 1 check and by the tests that validate the read-out shortcut).
    """
    Z = prompts.Z0
    _check_params(params, Z.shape[1])
    n, L = prompts.n, len(params)
    Zs, Ks = [Z], []
    for l, (P, Q) in enumerate(params[:-1] if not full else params):
        K = _gram(prompts, l, Z[:, :, :-1])
        Ks.append(K)
        Z = _layer_full(P, Q, Z, K, act, n)
        Zs.append(Z)
    if full:
        return Z[:, -1, -1], {"Z": Zs}
    K = _gram(prompts, L - 1, Z[:, :, :-1])
    Ks.append(K)
    out, last = _layer_out(*params[-1], Z, K, act, n)
    return out, {"Z": Zs, "K": Ks, "last": last}


def predict(params, prompts: Prompts, act: Activation = IDENTITY) -> np.ndarray:
    """``TF_L(Z_0) = -[Z_L]_{d+1,n+1}``, shape (B,)."""
    out, _ = forward(params, prompts, act)
    return -out


def _backward_out(P, Q, Z, K, act, n, g, cache, need_dZ):
    """Gradients of ``sum_b g_b [Z_{l+1}]_{d+1,n+1}`` through the read-out layer."""
    p = P[-1]
    zq = Z[:, :, -1]  # (B, D)
    Y = Z[:, :, :-1]
    D = P.shape[0]
    dP = np.zeros((D, D))
    if act.linear:
        v, Kv, _, _ = cache
        Kp = np.einsum("bij,j->bi", K, p)  # (B, D) = K p (K symmetric)
        dP[-1] = g @ Kv / n
        dQ = (g[:, None] * Kp).T @ zq / n  # sum_b g_b (K p) z_q^T
        if not need_dZ:
            return dP, dQ, None
        dZ = np.zeros_like(Z)
        dZ[:, :, -1] = (g[:, None] * Kp) @ Q / n  # Q^T K p g
        dZ[:, -1, -1] += g  # residual
        # K = Y Y^T: d/dY of g p^T K v / n = g (p v^T + v p^T) Y / n
        pY = np.einsum("d,bdi->bi", p, Y)
        vY = np.einsum("bd,bdi->bi", v, Y)
        dZ[:, :, :-1] = (g[:, None, None] / n) * (
            p[None, :, None] * vY[:, None, :] + v[:, :, None] * pY[:, None, :]
        )
        return dP, dQ, dZ
    v, S, H, pY = cache
    dP[-1] = np.einsum("b,bdi,bi->d", g, Y, H) / n
    dS = (g[:, None] / n) * pY * act.deriv(S)  # (B, n)
    YdS = np.einsum("bdi,bi->bd", Y, dS)  # (B, D) = Y dS
    dQ = YdS.T @ zq
    if not need_dZ:
        return dP, dQ, None
    dZ = np.zeros_like(Z)
    dZ[:, -1, -1] += g
    dZ[:, :, :-1] = (g[:, None, None] / n) * p[None, :, None] * H[:, None, :] + v[:, :, None] * dS[
        :, None, :
    ]
    dZ[:, :, -1] += YdS @ Q  # Q^T Y dS
    return dP, dQ, dZ


def _backward_full(P, Q, Z, K, act, n, G, need_dZ):
    """Gradients through a full layer, given ``G = dLoss/dZ_{l+1}`` (B, D, N)."""
    B = Z.shape[0]
    Y = Z[:, :, :-1]
    Pb, Qb = _shared(P, B), _shared(Q, B)
    if act.linear:
        GZt = G @ Z.transpose(0, 2, 1)  # (B, D, D)
        dP = (GZt @ Qb.transpose(0, 2, 1) @ K).sum(0) / n
        dQ = (K @ Pb.transpose(0, 2, 1) @ GZt).sum(0) / n
        if not need_dZ:
            return dP, dQ, None
        dZ = G + (Qb.transpose(0, 2, 1) @ K @ Pb.transpose(0, 2, 1)) @ G / n
        dK = Pb.transpose(0, 2, 1) @ GZt @ Qb.transpose(0, 2, 1) / n
        dZ[:, :, :-1] += (dK + dK.transpose(0, 2, 1)) @ Y
        return dP, dQ, dZ
    QZ = Qb @ Z  # (B, D, N)
    S = Y.transpose(0, 2, 1) @ QZ  # (B, n, N)
    H = act.fn(S)
    PY = Pb @ Y  # (B, D, n)
    dP = (G @ H.transpose(0, 2, 1) @ Y.transpose(0, 2, 1)).sum(0) / n
    dS = (PY.transpose(0, 2, 1) @ G) / n * act.deriv(S)  # (B, n, N)
    dQ = (Y @ dS @ Z.transpose(0, 2, 1)).sum(0)
    if not need_dZ:
        return dP, dQ, None
    dZ = G.copy()
    dZ[:, :, :-1] += Pb.transpose(0, 2, 1) @ G @ H.transpose(0, 2, 1) / n + QZ @ dS.transpose(
        0, 2, 1
    )
    dZ += Qb.transpose(0, 2, 1) @ Y @ dS
    return dP, dQ, dZ


def loss_and_grad(params, prompts: Prompts, act: Activation = IDENTITY):
    """Loss ``mean_b ([Z_L]_{d+1,n+1} + <w*, x_q>)^2`` and its gradient w.r.t. every P_l, Q_l.

    Returns ``(f, [(dP_0, dQ_0), ...])``.  Hand-written reverse mode; checked against an
    independent mpmath finite difference in ``tests/test_model.py``.
    """
    out, cache = forward(params, prompts, act)
    n, B, L = prompts.n, prompts.B, len(params)
    r = out + prompts.target  # (B,) residual
    f = float(np.mean(r * r))
    Zs, Ks = cache["Z"], cache["K"]
    grads = [None] * L
    dP, dQ, G = _backward_out(
        *params[-1], Zs[L - 1], Ks[L - 1], act, n, 2.0 * r / B, cache["last"], need_dZ=L > 1
    )
    grads[L - 1] = (dP, dQ)
    for l in range(L - 2, -1, -1):
        dP, dQ, G = _backward_full(*params[l], Zs[l], Ks[l], act, n, G, need_dZ=l > 0)
        grads[l] = (dP, dQ)
    return f, grads
