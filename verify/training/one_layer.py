"""Fast single-layer trainers: the same empirical losses as the transformer, solved faster.

Each function here minimises exactly the empirical loss of :func:`verify.model.loss_and_grad`
on a fixed sample (``tests/test_model.py`` checks the losses and predictions agree with the
model's to round-off).  None of them is given a closed form or starts near one.

* :func:`fit_gd_layer` -- family (8), one layer: the prediction
  ``TF = (1/n) x_q^T A^T X y = h^T A x_q`` (h = X y / n) is linear in A, so the empirical
  loss is an exact quadratic; its minimiser solves the normal equations (what any convergent
  optimiser reaches, computed to round-off).  Several queries per context share a context.
* :class:`OneLayerStats` + :func:`fit_unconstrained_layer` -- all (P, Q), one linear layer.
  The read-out sees P only through its last row p and Q only through its first d columns Q'
  (:mod:`verify.conventions`), and ``[Z_1]_{d+1,n+1} = (1/n) p^T K_b Q' x_q`` with ``K_b = Z_0 M Z_0^T``.
  The empirical loss is therefore a quartic in (p, Q') whose coefficients are the sample
  moments ``mean_b vec(K_b x_q^T) vec(K_b x_q^T)^T``: computed once, every later loss
  evaluation costs O((d+1)^4 d^2) instead of O(B).  L-BFGS from a small random start.
* :func:`fit_relu_layer` -- Theorem 5's ReLU layer (Q's last row zero): damped Gauss-Newton
  (Levenberg-Marquardt) on the residuals of the empirical loss.  For a fixed ReLU pattern
  the prediction is bilinear in (p, B); Gauss-Newton is the standard method for least
  squares of this kind and converges in tens of iterations where first-order methods need
  thousands.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import minimize

__all__ = [
    "gd_features",
    "fit_gd_layer",
    "OneLayerStats",
    "fit_unconstrained_layer",
    "fit_unconstrained_multistart",
    "relu_residuals",
    "fit_relu_layer",
    "levenberg_marquardt",
    "gauss_newton_step",
    "fit_family",
]


def gd_features(X, y, Xq):
    """Features of the one-layer family-(8) prediction: ``Phi[b, k, i*d+j] = h_i x_q,j``.

    ``X`` (B, n, d), ``y`` (B, n), ``Xq`` (B, K, d) -> Phi (B*K, d*d).
    """
    B, n, d = X.shape
    h = np.einsum("bid,bi->bd", X, y) / n  # (B, d)
    return (h[:, None, :, None] * Xq[:, :, None, :]).reshape(-1, d * d)


def fit_gd_layer(tasks) -> tuple[np.ndarray, float]:
    """Exact minimiser of the one-layer family-(8) empirical loss; returns (A_hat, cond).

    ``tasks`` = (X, y, w, Xq) from :func:`verify.sampling.sample_tasks`.  The normal
    equations ``sum Phi^T Phi vec(A) = sum Phi^T t`` with ``Phi = vec(h x_q^T)`` are summed
    per context: ``sum_b (h h^T) (x) C_b`` with ``C_b = sum_k x_bk x_bk^T`` (same numbers as
    forming Phi, see tests).  ``cond`` is the normal matrix's condition number (round-off).
    """
    X, y, w, Xq = tasks
    B, n, d = X.shape
    h = np.einsum("bid,bi->bd", X, y) / n  # (B, d)
    C = np.einsum("bki,bkj->bij", Xq, Xq)  # (B, d, d) = sum_k x_q x_q^T
    HH = (h[:, :, None] * h[:, None, :]).reshape(B, d * d)
    G = (HH.T @ C.reshape(B, d * d)).reshape(d, d, d, d).transpose(0, 2, 1, 3).reshape(d * d, d * d)
    Cw = np.einsum("bij,bj->bi", C, w)  # (B, d) = sum_k x_q t
    rhs = (h.T @ Cw).ravel()  # sum_b h (x) (sum_k x_q t)
    A = np.linalg.solve(G, rhs)
    return A.reshape(d, d), float(np.linalg.cond(G))


@dataclass
class OneLayerStats:
    """Sample moments that determine the one-layer empirical loss over all (P, Q).

    ``T`` ((D*D*d), (D*D*d)): mean of f f^T with ``f = vec(K_b x_q^T)``; ``U`` (D*D*d,): mean
    of t_b f; ``tt``: mean t_b^2; D = d + 1.  Loss(p, Q') =
    ``(1/n^2) u^T T u + (2/n) U.u + tt`` with ``u = vec(p (x) Q')``.
    """

    T: np.ndarray
    U: np.ndarray
    tt: float
    d: int
    n: int
    B: int
    x2: float = 1.0  # mean square of a context covariate entry (sets the units, see normalised)
    y2: float = 1.0  # mean square of a context label

    @classmethod
    def from_prompts(cls, prompts, chunk: int = 20000) -> "OneLayerStats":
        d, n, D = prompts.d, prompts.n, prompts.d + 1
        m = D * D * d
        T, U, tt, x2, y2 = np.zeros((m, m)), np.zeros(m), 0.0, 0.0, 0.0
        for a in range(0, prompts.B, chunk):
            K = prompts.K0[a : a + chunk]  # (b, D, D)
            xq = prompts.Z0[a : a + chunk, :d, -1]  # (b, d)
            t = prompts.target[a : a + chunk]
            F = (K[:, :, :, None] * xq[:, None, None, :]).reshape(
                len(t), m
            )  # f[i, j, k] = K_ij x_k
            T += F.T @ F
            U += t @ F
            tt += float(t @ t)
            x2 += float(np.mean(prompts.Z0[a : a + chunk, :d, :-1] ** 2)) * len(t)
            y2 += float(np.mean(prompts.Z0[a : a + chunk, d, :-1] ** 2)) * len(t)
        B = prompts.B
        return cls(T / B, U / B, tt / B, d, n, B, x2 / B, y2 / B)

    def units(self) -> tuple[float, float]:
        """(s, r): powers of two near the root mean squares of a covariate and of a label, or 1
        when that is within a factor 4 of 1 (the scales the optimiser's settings were tuned at).

        Powers of two make the change of units exact in floating point."""

        def pow2(mean_square):
            if not (np.isfinite(mean_square) and mean_square > 0):
                return 1.0
            k = int(np.round(np.log2(mean_square) / 2))
            return 1.0 if abs(k) <= 2 else 2.0**k

        return pow2(self.x2), pow2(self.y2)

    def normalised(self) -> tuple["OneLayerStats", np.ndarray]:
        """These moments in units where covariates and labels have mean square near 1, and the
        factors ``c`` (D + D*d,) with ``theta = c * theta_normalised``.

        The problem is exactly equivariant: with tokens scaled by ``Dg = diag(s 1_d, r)``,
        ``f = vec(K x_q^T)`` becomes ``f' = f / (Dg_i Dg_j s)`` and ``t' = t / r``, so
        ``Loss(theta) = r^2 Loss'(theta')`` with ``p' = a Dg p``, ``Q'_jk = a Dg_j Q_jk``,
        ``a^2 = s / r``.  A minimiser found in normalised units maps back to one of the original
        loss; every convergence criterion of :func:`fit_unconstrained_multistart` is relative
        or taken in the normalised units, where the starts and gtol were tuned."""
        s, r = self.units()
        D, d = self.d + 1, self.d
        Dg = np.array([s] * d + [r])
        S = (1.0 / (Dg[:, None, None] * Dg[None, :, None] * s) * np.ones((D, D, d))).ravel()
        a = np.sqrt(s / r)
        c = np.concatenate([1.0 / (a * Dg), (1.0 / (a * Dg[:, None]) * np.ones((D, d))).ravel()])
        if s == r == 1.0:
            return self, c
        norm = replace(
            self, T=self.T * S[:, None] * S[None, :], U=self.U * S / r, tt=self.tt / r**2
        )
        return norm, c

    def loss_and_grad(self, theta: np.ndarray):
        """theta = [p (D), vec(Q') (D*d)] -> (loss, gradient)."""
        D, d, n = self.d + 1, self.d, self.n
        p, q = theta[:D], theta[D:]
        u = np.outer(p, q).ravel()  # (D * D*d,)
        Tu = (self.T @ u).reshape(D, D * d)
        Um = self.U.reshape(D, D * d)
        f = float(u @ (self.T @ u)) / n**2 + 2.0 * float(self.U @ u) / n + self.tt
        gp = 2.0 * Tu @ q / n**2 + 2.0 * Um @ q / n
        gq = 2.0 * p @ Tu / n**2 + 2.0 * p @ Um / n
        return f, np.concatenate([gp, gq])

    def __call__(self, theta: np.ndarray):
        """The objective interface of :mod:`verify.training`: theta -> (loss, gradient)."""
        return self.loss_and_grad(theta)

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        """Exact Hessian of :meth:`loss_and_grad` in theta = [p, vec(Q')]."""
        D, d, n = self.d + 1, self.d, self.n
        m = D * d
        p, q = theta[:D], theta[D:]
        T = self.T.reshape(D, m, D, m)
        Hpp = 2.0 * np.einsum("a,iajb,b->ij", q, T, q) / n**2
        Hqq = 2.0 * np.einsum("i,iajb,j->ab", p, T, p) / n**2
        Hpq = 2.0 * (np.einsum("icjb,j,b->ic", T, p, q) + np.einsum("iajc,a,j->ic", T, q, p)) / n**2
        Hpq = Hpq + 2.0 * self.U.reshape(D, m) / n
        return np.block([[Hpp, Hpq], [Hpq.T, Hqq]])

    @staticmethod
    def to_PQ(theta: np.ndarray, d: int):
        """Full (P, Q) of theta; entries the loss never sees are 0."""
        D = d + 1
        P, Q = np.zeros((D, D)), np.zeros((D, D))
        P[-1] = theta[:D]
        Q[:, :d] = theta[D:].reshape(D, d)
        return P, Q


def fit_unconstrained_layer(
    stats: OneLayerStats,
    rng: np.random.Generator,
    init_std: float = 1e-2,
    gtol: float = 1e-12,
    maxiter: int = 20000,
    newton_steps: int = 6,
):
    """L-BFGS on the one-layer loss over all (P, Q) from an i.i.d. N(0, init_std^2) start.

    Returns ``(P, Q, info)`` with ``info`` holding the final loss, gradient norm, iterations.
    """
    D, d = stats.d + 1, stats.d
    theta0 = init_std * rng.standard_normal(D + D * d)
    res = minimize(
        stats.loss_and_grad,
        theta0,
        jac=True,
        method="L-BFGS-B",
        options={"gtol": gtol, "ftol": 0.0, "maxiter": maxiter, "maxcor": 30},
    )
    theta = res.x
    f, g = stats.loss_and_grad(theta)
    # Polish with Newton steps on the exact Hessian (least-squares solve: the (gP, Q/g)
    # rescaling is a flat direction), so the stopping-rule error is at round-off level.
    newton = 0
    for newton in range(1, newton_steps + 1):
        step = np.linalg.lstsq(stats.hessian(theta), -g, rcond=1e-13)[0]
        f_new, g_new = stats.loss_and_grad(theta + step)
        if not (f_new <= f and np.linalg.norm(g_new) < np.linalg.norm(g)):
            break
        theta, f, g = theta + step, f_new, g_new
    P, Q = OneLayerStats.to_PQ(theta, d)
    # The Newton step not taken estimates the remaining error (quadratic convergence).
    next_step = np.linalg.lstsq(stats.hessian(theta), -g, rcond=1e-13)[0]
    return (
        P,
        Q,
        {
            "loss": f,
            "grad_norm": float(np.linalg.norm(g)),
            "iterations": int(res.nit),
            "newton_steps": newton,
            "next_PQ": OneLayerStats.to_PQ(theta + next_step, d),
        },
    )


#: Loss agreement (relative) of two starts that reached the same local minimum: after the
#: Newton polish both sit at round-off distance from it, so their losses agree to ~1e-14;
#: distinct minima of the one-layer quartic differ by >= 8 % (measured over 16 random settings).
SAME_MINIMUM_RTOL = 1e-9


def fit_unconstrained_multistart(
    stats: OneLayerStats, rng: np.random.Generator, starts: int = 8, max_starts: int = 32, **kw
):
    """The lowest of independent small random starts of :func:`fit_unconstrained_layer`.

    Why several starts: the one-layer loss over all (P, Q) has spurious local minima (e.g. for
    d = 4, n = 9, spectrum (0.2, 1, 1, 4), noise 0.25, half the starts end at a minimum with
    p_y ~ 0 that predicts through the rank-one route p_x q21^T, loss 3.1 vs 1.95; its Hessian
    is positive semi-definite, so no stopping rule on the gradient can see it).  ``starts``
    starts are run, then more in batches of ``starts`` (up to ``max_starts``) until two of
    them agree on the lowest loss.

    Convergence diagnosis (``info['converged']``, reasons in ``info['not_converged']``):
    stopping rule (the Newton step not taken is <= 1e-6 of ||theta||; the method converges
    quadratically, so that step bounds the remaining error), second order (smallest Hessian
    eigenvalue >= -1e-8 times the largest; the (gP, Q/g) rescaling is a zero direction) and
    agreement (>= 2 starts reach the lowest loss within :data:`SAME_MINIMUM_RTOL`).
    ``info['start_losses']`` lists every start's final loss.

    Scale: the fit runs in the normalised units of :meth:`OneLayerStats.normalised` (covariates
    and labels of mean square near 1, by an exact power-of-two change of units) and maps back,
    so Sigma = c I gives the same decisions for every c (the problem is scale-equivariant; the
    small random start and the absolute gtol are not).  At mean squares within a factor 16 of 1
    (every setting the package was tuned at) the units are 1 and nothing changes.
    """
    if starts < 2 or max_starts < starts:
        raise ValueError(
            f"need 2 <= starts <= max_starts; got starts={starts}, max_starts={max_starts}"
        )
    norm, c = stats.normalised()
    P, Q, info = _multistart(norm, rng, starts, max_starts, **kw)
    if norm is stats:
        return P, Q, info
    d, r2 = stats.d, stats.units()[1] ** 2
    theta = c * np.concatenate([P[-1], Q[:, :d].ravel()])
    nxt = info["next_PQ"]
    info["next_PQ"] = OneLayerStats.to_PQ(
        c * np.concatenate([nxt[0][-1], nxt[1][:, :d].ravel()]), d
    )
    f, g = stats.loss_and_grad(theta)
    info.update(
        loss=f,
        grad_norm=float(np.linalg.norm(g)),
        start_losses=[r2 * x for x in info["start_losses"]],
        units=stats.units(),
    )
    return (*OneLayerStats.to_PQ(theta, d), info)


def _multistart(stats: OneLayerStats, rng, starts: int, max_starts: int, **kw):
    """:func:`fit_unconstrained_multistart` in the units of ``stats`` (no change of units)."""
    runs = []
    while True:
        runs += [fit_unconstrained_layer(stats, rng, **kw) for _ in range(starts)]
        losses = np.array([r[2]["loss"] for r in runs])
        f0 = float(losses.min())
        at_best = int(np.sum(losses <= f0 + SAME_MINIMUM_RTOL * abs(f0)))
        if at_best >= 2 or len(runs) + starts > max_starts:
            break
    P, Q, info = runs[int(np.argmin(losses))]
    d = stats.d
    theta = np.concatenate([P[-1], Q[:, :d].ravel()])
    lam = np.linalg.eigvalsh(stats.hessian(theta))
    nxt = info["next_PQ"]
    theta_next = np.concatenate([nxt[0][-1], nxt[1][:, :d].ravel()])
    step_rel = float(np.linalg.norm(theta_next - theta) / max(np.linalg.norm(theta), 1e-300))
    why = []
    if step_rel > 1e-6:
        why.append(f"next Newton step {step_rel:.2e} > 1e-6 relative")
    if lam[0] < -1e-8 * lam[-1]:
        why.append(f"Hessian has a negative eigenvalue {lam[0]:.2e} (a saddle)")
    if at_best < 2:
        why.append(f"only 1 of {len(runs)} starts reached the lowest loss")
    info.update(
        starts=len(runs),
        at_best=at_best,
        start_losses=sorted(losses.tolist()),
        hessian_min_rel=float(lam[0] / lam[-1]),
        step_rel=step_rel,
        converged=not why,
        not_converged="; ".join(why),
    )
    return P, Q, info


def relu_residuals(theta: np.ndarray, prompts, jacobian: bool = True):
    """Residuals ``[Z_1]_{d+1,n+1} + t`` of the ReLU layer and their Jacobian.

    theta = [p (D), vec(B) (d*d)]: P's last row and the top-left d x d block of Q (Q's last
    row is held at 0; its last column multiplies the query's zero label and is never seen).
    """
    d, n, D = prompts.d, prompts.n, prompts.d + 1
    p, Bm = theta[:D], theta[D:].reshape(d, d)
    Y = prompts.Z0[:, :, :-1]  # (b, D, n) context tokens
    X = Y[:, :d]  # (b, d, n)
    xq = prompts.Z0[:, :d, -1]  # (b, d)
    s = np.einsum("bdi,bd->bi", X, xq @ Bm.T)  # (b, n): x_i^T B x_q
    act = np.maximum(s, 0.0)
    pz = np.einsum("d,bdi->bi", p, Y)  # (b, n): p^T z_i
    r = np.einsum("bi,bi->b", pz, act) / n + prompts.target
    if not jacobian:
        return r, None
    Jp = np.einsum("bdi,bi->bd", Y, act) / n  # (b, D)
    c = pz * (s > 0)  # (b, n)
    u = np.einsum("bdi,bi->bd", X, c) / n  # (b, d)
    JB = (u[:, :, None] * xq[:, None, :]).reshape(len(r), d * d)
    return r, np.concatenate([Jp, JB], axis=1)


def fit_relu_layer(
    prompts,
    rng: np.random.Generator,
    init_std: float = 1e-2,
    maxiter: int = 200,
    rtol: float = 1e-7,
):
    """Levenberg-Marquardt on the ReLU layer's empirical loss from a small random start.

    Stopping rule: relative loss decrease below ``rtol`` on an accepted step, or ``maxiter``.
    Returns ``(P, Q, info)``; ``info['last_step']`` is the norm of the final accepted step.
    """
    d, D = prompts.d, prompts.d + 1
    theta = init_std * rng.standard_normal(D + d * d)
    # Warm-up on the first 1/16 of the sample (a cheaper problem with the same minimiser up
    # to sampling error), then the full sample: the same small random start, fewer
    # expensive iterations.
    for frac in (16, 4):
        if prompts.B >= 1000 * frac:
            sub = prompts.subset(slice(0, prompts.B // frac))
            theta = levenberg_marquardt(
                lambda t, jac: relu_residuals(t, sub, jac), theta, maxiter, 1e-6
            )[0]
    theta, f, r, J, it, last_step = levenberg_marquardt(
        lambda t, jac: relu_residuals(t, prompts, jac), theta, maxiter, rtol
    )
    P, Q = np.zeros((D, D)), np.zeros((D, D))
    P[-1] = theta[:D]
    Q[:d, :d] = theta[D:].reshape(d, d)
    grad = 2.0 * J.T @ r / len(r)
    # The undamped Gauss-Newton step not taken estimates the remaining optimisation error.
    nxt = theta + gauss_newton_step(J, r)
    Pn, Qn = np.zeros((D, D)), np.zeros((D, D))
    Pn[-1] = nxt[:D]
    Qn[:d, :d] = nxt[D:].reshape(d, d)
    return (
        P,
        Q,
        {
            "loss": f,
            "grad_norm": float(np.linalg.norm(grad)),
            "iterations": it,
            "last_step": last_step,
            "next_PQ": (Pn, Qn),
        },
    )


def fit_family(obj, theta0: np.ndarray, gtol: float = 1e-12, maxiter: int = 20000):
    """L-BFGS on ``obj`` (theta -> (loss, gradient)) from ``theta0`` to the stopping rule;
    returns (theta, info)."""
    res = minimize(
        obj,
        theta0,
        jac=True,
        method="L-BFGS-B",
        options={"gtol": gtol, "ftol": 0.0, "maxiter": maxiter, "maxcor": 50},
    )
    f, g = obj(res.x)
    return res.x, {"loss": f, "grad_norm": float(np.linalg.norm(g)), "iterations": int(res.nit)}


def levenberg_marquardt(resjac, theta, maxiter: int = 200, rtol: float = 1e-7):
    """Levenberg-Marquardt on residuals ``resjac(theta, jacobian) -> (r, J or None)``.

    Stops when an accepted step lowers ``mean r^2`` by less than ``rtol`` relative, or after
    ``maxiter`` iterations.  Returns ``(theta, f, r, J, iterations, last step norm)``.
    """
    r, J = resjac(theta, True)
    f = float(r @ r) / len(r)
    JtJ, g = J.T @ J, J.T @ r
    mu, last_step, it = 1e-6, np.inf, 0
    for it in range(1, maxiter + 1):
        step = -np.linalg.solve(JtJ + mu * (np.diag(np.diag(JtJ)) + 1e-12 * np.eye(len(theta))), g)
        r_new, _ = resjac(theta + step, False)
        f_new = float(r_new @ r_new) / len(r_new)
        if f_new < f:
            done = (f - f_new) <= rtol * f
            theta, last_step, f = theta + step, float(np.linalg.norm(step)), f_new
            r, J = resjac(theta, True)
            JtJ, g = J.T @ J, J.T @ r
            mu = max(mu / 10.0, 1e-12)
            if done:
                break
        else:
            mu *= 4.0
            if mu > 1e12:
                break
    return theta, f, r, J, it, last_step


def gauss_newton_step(J: np.ndarray, r: np.ndarray) -> np.ndarray:
    """The undamped Gauss-Newton step (least-squares solve; flat directions get none)."""
    return np.linalg.lstsq(J.T @ J, -J.T @ r, rcond=1e-13)[0]
