"""Float multistart search for critical points of the GD++ restricted loss (family (11)), L >= 3.

The exact side (:mod:`theory.critical`) proves completeness for L <= 2.  For L = 3 no elimination
is attempted; instead this search is run ONCE at large effort and its points are shipped as
theory/data/gdpp_L{L}_n{n}_d{d}.json, which :func:`theory.critical.certified_critical_points`
re-certifies (Krawczyk, eigenvalue bounds) at every call.  Regenerate with

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

__all__ = ["gauss_float", "gdpp_grad_float", "gdpp_search", "main", "polish", "refine_float"]

#: A float zero of grad phi is accepted when max |grad| <= ROOT_GRAD_TOL: the Gauss-rule gradient
#: is exact up to round-off (~1e-13 relative at the moduli met here); exact Newton polishes after.
ROOT_GRAD_TOL = 1e-8
#: Signs of an escaping sequence (a_l -> 0, |b_l| -> inf with a_l b_l bounded; Theorem 4's
#: footnote): the root finder ends with some |a_l| below ESCAPE_A or some |b_l| above ESCAPE_B.
ESCAPE_A, ESCAPE_B = 1e-3, 1e3


def gdpp_grad_float(t, L, x, w, d):
    """phi and gradient in t = (a_0..a_{L-1}, b_0..b_{L-2}) by the Gauss rule (x, w), float64."""
    P = 2 * L - 1
    g, dg = np.ones_like(x), np.zeros((x.size, P))
    p, dp = np.ones_like(x), np.zeros((x.size, P))
    for l in range(L):
        a = t[l]
        h, dh = g * g * x, (2 * g * x)[:, None] * dg
        fp, dfp = 1 + a * h, a * dh
        dfp[:, l] += h
        p, dp = p * fp, dp * fp[:, None] + p[:, None] * dfp
        if l < L - 1:
            b = t[L + l]
            fg, dfg = 1 + a * b * h, a * b * dh
            dfg[:, l] += b * h
            dfg[:, L + l] += a * h
            g, dg = g * fg, dg * fg[:, None] + g[:, None] * dfg
    return d * np.sum(w * p * p), 2 * d * (w * p) @ dp


@functools.lru_cache(maxsize=8)
def gauss_float(n: int, d: int, nodes: int):
    """The nodes-point Gauss rule of mu as float arrays, once per process (mpmath eigsy, ~1.5 s)."""
    with mpmath.workdps(30):
        x, w = gauss_rule(n, d, nodes)
    return np.array([float(v) for v in x]), np.array([float(v) for v in w])


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
