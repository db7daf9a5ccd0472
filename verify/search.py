"""Float multistart search for critical points of the GD++ restricted loss (family (11)), L >= 3.

The exact side (:mod:`theory.critical`) proves completeness for L <= 2.  For L = 3 no elimination
is attempted; instead this search is run ONCE at large effort and its points are shipped as
theory/data/gdpp_L{L}_n{n}_d{d}.json, which :func:`theory.critical.certified_critical_points`
re-certifies (Krawczyk, eigenvalue bounds) at every call; for other (n, d),
:func:`on_demand_table` (a small seeded search in (a, b) and in (a, c = a b), where the shipped
d = 5, n = 20 table misses points) proposes the rows, cached by verify.critical_sets.
:func:`refine_float` takes trained replicas to the zero they point at.  Regenerate with

    python -m verify.search gdpp --layers 3 --n 20 --d 5 --starts 1000 --seed 0

Starts: signs uniform, magnitudes log-uniform in [10^-1.5, 10^1.5] per coordinate; each start
runs a Powell-hybrid root finder on grad phi = 0 (at most 100 (P + 1) evaluations) and a BFGS
descent (300 iterations) finished by the root finder (minima).  Float64 roots with max |grad| <= 1e-7 (Gauss rule of mu, no cancellation) are
deduplicated, polished by mpmath Newton at 60 digits on the exact loss, and those whose exact
gradient does not vanish are counted as escaping sequences (a_l -> 0, |b_l| -> inf).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys

import mpmath
import numpy as np

from theory.critical import polish_point
from theory.spectral import gauss_rule

__all__ = [
    "ON_DEMAND",
    "gauss_float",
    "gdpp_grad_float",
    "gdpp_search",
    "main",
    "on_demand_table",
    "polish",
    "refine_float",
]

#: The on-demand search behind any (n, d) at L = 3 without a shipped table: starts per
#: coordinate system (b and c = a b), seed, version (a cached table of another version is
#: regenerated).  Fixed, so the list is the same at every effort; measured ~1-2 CPU-s at d = 5.
ON_DEMAND = {"starts": 64, "seed": 0, "version": 1}

#: A float zero of grad phi is accepted when max |grad| <= ROOT_GRAD_TOL: the Gauss-rule gradient
#: is exact up to round-off (~1e-13 relative at the moduli met here); exact Newton polishes after.
ROOT_GRAD_TOL = 1e-8
#: Signs of an escaping sequence (a_l -> 0, |b_l| -> inf with a_l b_l bounded; Theorem 4's
#: footnote): the root finder ends with some |a_l| below ESCAPE_A or some |b_l| above ESCAPE_B.
ESCAPE_A, ESCAPE_B = 1e-3, 1e3


def gdpp_grad_float(t, L, x, w, d, coords: str = "b"):
    """phi and gradient by the Gauss rule (x, w), float64, in t = (a_0..a_{L-1}, b_0..b_{L-2})
    (``coords="b"``) or in t = (a_0..a_{L-1}, c_0..c_{L-2}), c_l = a_l b_l (``coords="c"``).

    In c the residual polynomial p is a polynomial in (a, c) too (g_{l+1} = g_l (1 + c_l g_l^2 s));
    where every a_l != 0 the two are related by the diffeomorphism b_l = c_l / a_l, so the
    critical points there are the same, but a search in c reaches points with large |b_l|."""
    P = 2 * L - 1
    g, dg = np.ones_like(x), np.zeros((x.size, P))
    p, dp = np.ones_like(x), np.zeros((x.size, P))
    for l in range(L):
        a = t[l]
        h, dh = g * g * x, (2 * g * x)[:, None] * dg
        fp, dfp = 1 + a * h, a * dh
        dfp[:, l] += h
        p, dp = p * fp, dp * fp[:, None] + p[:, None] * dfp
        if l < L - 1 and coords == "c":
            c = t[L + l]
            fg, dfg = 1 + c * h, c * dh
            dfg[:, L + l] += h
            g, dg = g * fg, dg * fg[:, None] + g[:, None] * dfg
        elif l < L - 1:
            b = t[L + l]
            fg, dfg = 1 + a * b * h, a * b * dh
            dfg[:, l] += b * h
            dfg[:, L + l] += a * h
            g, dg = g * fg, dg * fg[:, None] + g[:, None] * dfg
    return d * np.sum(w * p * p), 2 * d * (w * p) @ dp


@functools.lru_cache(maxsize=8)
def gauss_float(n: int, d: int, nodes: int):
    """The nodes-point Gauss rule of mu as float arrays (x (N,), w (N,)), once per process.

    Golub-Welsch in float64 from the exact recurrence (theory.spectral.recurrence): nodes are the
    eigenvalues of the Jacobi matrix, weights the Christoffel numbers w_k = 1 / sum_j q_j(x_k)^2
    with q_j the orthonormal polynomials (three-term recurrence), which keeps full RELATIVE
    accuracy on the tiny tail weights (measured against the 30-digit mpmath rule at n = 15,
    d = 5, N = 30: nodes 9e-15, weights 9e-14 relative, down to w = 6.5e-38).  0.3 s, against
    1.4 s for mpmath eigsy.
    """
    from theory.spectral import recurrence

    alpha, beta = recurrence(n, d, nodes)
    al = np.array([float(v) for v in alpha])
    sb = np.sqrt(np.array([float(v) for v in beta[1:nodes]]))  # off-diagonal sqrt(beta_k), k >= 1
    x = np.linalg.eigvalsh(np.diag(al) + np.diag(sb, 1) + np.diag(sb, -1))
    q_prev, q = np.zeros_like(x), np.ones_like(x)
    total = q * q
    for j in range(
        nodes - 1
    ):  # sqrt(beta_{j+1}) q_{j+1} = (x - alpha_j) q_j - sqrt(beta_j) q_{j-1}
        q_prev, q = q, ((x - al[j]) * q - (sb[j - 1] if j else 0.0) * q_prev) / sb[j]
        total = total + q * q
    return x, 1.0 / total


def refine_float(L: int, x, w, d: int, t0) -> dict:
    """A float64 zero of grad phi_L near t0 (Powell hybrid root finder on the Gauss rule (x, w)).

    t0, t: (a_0..a_{L-1}, b_0..b_{L-2}).  x, w: float nodes and weights of a Gauss rule of mu
    with at least (3^L + 1) / 2 nodes (exact for p^2, p of degree (3^L - 1) / 2).  Returns
    ``{"t", "grad_max", "converged", "escaping"}``: converged when max |grad| <= ROOT_GRAD_TOL;
    escaping when not converged and the end point shows a_l -> 0 or |b_l| -> inf.
    """
    from scipy.optimize import root

    t0 = np.asarray(t0, dtype=float)
    P = 2 * L - 1
    if t0.shape != (P,):
        raise ValueError(
            f"refine_float needs {P} coordinates (a_0..a_{L - 1}, b_0..b_{L - 2}); got {t0.shape}"
        )
    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)
    grad = lambda t: gdpp_grad_float(t, L, x, w, d)[1]  # noqa: E731
    with np.errstate(over="ignore", invalid="ignore"):
        sol = root(grad, t0, method="hybr", options={"maxfev": 100 * (P + 1)})
        t = sol.x
        g = grad(t) if np.all(np.isfinite(t)) else np.full(P, np.inf)
    gmax = float(np.max(np.abs(g))) if np.all(np.isfinite(g)) else float("inf")
    converged = bool(np.all(np.isfinite(t)) and gmax <= ROOT_GRAD_TOL)
    escaping = (not converged) and bool(
        not np.all(np.isfinite(t))
        or np.min(np.abs(t[:L])) < ESCAPE_A
        or (L > 1 and np.max(np.abs(t[L:])) > ESCAPE_B)
    )
    return {"t": t, "grad_max": gmax, "converged": converged, "escaping": escaping}


def gdpp_search(L: int, n: int, d: int, starts: int, seed: int):
    """Deduplicated float64 zeros of grad phi_L: [[t, hits], ...], t = (a..., b_0..b_{L-2})."""
    from scipy.optimize import minimize, root

    with mpmath.workdps(30):
        xs, ws = gauss_rule(n, d, 3**L)
    x = np.array([float(v) for v in xs])
    w = np.array([float(v) for v in ws])
    rng = np.random.default_rng(seed)
    P = 2 * L - 1
    grad = lambda t: gdpp_grad_float(t, L, x, w, d)[1]
    found = []

    def record(t):
        if not np.all(np.isfinite(t)) or np.max(np.abs(grad(t))) > 1e-7:
            return
        for item in found:
            if np.allclose(item[0], t, rtol=1e-5, atol=1e-7):
                item[1] += 1
                return
        found.append([t, 1])

    with np.errstate(over="ignore", invalid="ignore"):  # diverging starts are discarded by record()
        for _ in range(starts):
            t0 = rng.choice([-1.0, 1.0], size=P) * 10.0 ** rng.uniform(-1.5, 1.5, size=P)
            sol = root(grad, t0, method="hybr", options={"maxfev": 100 * (P + 1)})
            if sol.success:
                record(sol.x)
            t0 = rng.choice([-1.0, 1.0], size=P) * 10.0 ** rng.uniform(-1.5, 1.5, size=P)
            # 300 BFGS iterations bring a descent near a minimum; the root finder finishes it
            res = minimize(
                lambda t: gdpp_grad_float(t, L, x, w, d),
                t0,
                jac=True,
                method="BFGS",
                options={"gtol": 1e-9, "maxiter": 300},
            )
            if np.all(np.isfinite(res.x)):
                sol = root(grad, res.x, method="hybr", options={"maxfev": 100 * (P + 1)})
                if sol.success:
                    record(sol.x)
    return found


def hybrid_roots(L: int, n: int, d: int, starts: int, seed: int, coords: str) -> list:
    """Deduplicated float64 zeros of grad phi_L found by the Powell hybrid root finder from
    ``starts`` random starts (signs uniform, magnitudes log-uniform in [10^-1.5, 10^1.5]) in
    coordinates ``coords`` ("b" or "c"); returned in (a, b) coordinates as [[t, hits], ...].
    Zeros in c with some |a_l| < 1e-6 are skipped (the strata a_l = 0 come from L = 2)."""
    from scipy.optimize import root

    x, w = gauss_float(n, d, max(30, (3**L + 1) // 2))  # 30: the rule theorem4 caches anyway
    rng = np.random.default_rng([seed, 0 if coords == "b" else 1])
    P = 2 * L - 1
    grad = lambda t: gdpp_grad_float(t, L, x, w, d, coords)[1]  # noqa: E731
    found = []
    with np.errstate(over="ignore", invalid="ignore"):  # diverging starts are discarded below
        for _ in range(starts):
            t0 = rng.choice([-1.0, 1.0], size=P) * 10.0 ** rng.uniform(-1.5, 1.5, size=P)
            t = root(grad, t0, method="hybr", options={"maxfev": 100 * (P + 1)}).x
            if not np.all(np.isfinite(t)) or np.max(np.abs(grad(t))) > 1e-7:
                continue
            if coords == "c":
                if np.min(np.abs(t[: L - 1])) < 1e-6:
                    continue
                t = np.concatenate([t[:L], t[L:] / t[: L - 1]])
            item = next((f for f in found if np.allclose(f[0], t, rtol=1e-5, atol=1e-7)), None)
            if item is None:
                found.append([t, 1])
            else:
                item[1] += 1
    return found


def on_demand_table(L: int, n: int, d: int) -> dict:
    """A search table for :func:`theory.critical.family11_three_layers`: hybrid-root zeros from
    ON_DEMAND["starts"] starts in b and as many in c = a b (float64; certified by the caller).

    Rows: ``t`` (repr of the float zero), ``t_float``, ``hits``, ``coords``.  The certificate
    (exact Newton at 400 bits, Krawczyk) decides which rows are critical points."""
    starts, seed = ON_DEMAND["starts"], ON_DEMAND["seed"]
    rows = []
    for coords in ("b", "c"):
        for t, hits in hybrid_roots(L, n, d, starts, seed, coords):
            dup = next(
                (r for r in rows if np.allclose(r["t_float"], t, rtol=1e-5, atol=1e-7)), None
            )
            if dup is not None:
                dup["hits"] += hits
                continue
            key = [float(v) for v in t]
            rows.append(
                {"t": [repr(v) for v in key], "t_float": key, "hits": hits, "coords": coords}
            )
    return {
        "family": "11",
        "L": L,
        "n": n,
        "d": d,
        "starts": 2 * starts,
        "seed": seed,
        "version": ON_DEMAND["version"],
        "command": f"verify.search.on_demand_table({L}, {n}, {d}): {starts} hybrid-root starts in "
        f"(a, b) and {starts} in (a, c = a b), seed {seed}",
        "variables": "a_0..a_{L-1}, b_0..b_{L-2}",
        "points": rows,
    }


def polish(L: int, n: int, d: int, t, dps: int = 60):
    """Newton on the exact grad phi_L (theory.critical.polish_point); (t, max |grad|, phi)."""
    tp, res, val = polish_point("11", L, n, d, [float(v) for v in t], prec=int(3.4 * dps) + 64)
    return tp, res, val


def table(L: int, n: int, d: int, starts: int, seed: int) -> dict:
    """The shipped table: polished, deduplicated zeros with hit counts and the command."""
    command = (
        f"python -m verify.search gdpp --layers {L} --n {n} --d {d} --starts {starts} --seed {seed}"
    )
    pts, escaped = [], 0
    for t, hits in gdpp_search(L, n, d, starts, seed):
        tp, res, val = polish(L, n, d, t)
        if not res < 1e-40:
            escaped += 1  # float64 accepted it, exact arithmetic does not: an escaping sequence
            continue
        key = [float(v) for v in tp]
        dup = next(
            (p for p in pts if max(abs(u - v) for u, v in zip(p["t_float"], key)) < 1e-8), None
        )
        if dup:
            dup["hits"] += hits
            continue
        with mpmath.workdps(60):
            pts.append(
                {
                    "t": [mpmath.nstr(v, 50) for v in tp],
                    "t_float": key,
                    "hits": hits,
                    "loss_float": float(val),
                }
            )
    pts.sort(key=lambda p: p["loss_float"])
    return {
        "family": "11",
        "L": L,
        "n": n,
        "d": d,
        "starts": starts,
        "seed": seed,
        "command": command,
        "escaping_rejected": escaped,
        "variables": "a_0..a_{L-1}, b_0..b_{L-2}",
        "points": pts,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m verify.search", description=__doc__.splitlines()[0]
    )
    ap.add_argument("family", choices=["gdpp"])
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--d", type=int, default=5)
    ap.add_argument("--starts", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="JSON path (default: stdout)")
    args = ap.parse_args(argv)
    if args.layers < 1 or args.n < 1 or args.d < 1 or args.starts < 1:
        print("verify.search: --layers, --n, --d and --starts must be positive", file=sys.stderr)
        return 2
    out = json.dumps(table(args.layers, args.n, args.d, args.starts, args.seed), indent=1)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(out + "\n")
    else:
        print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
