"""Theorem 4 (family (11), "GD++", L layers, x ~ N(0, Sigma), w* ~ N(0, Sigma^{-1})) and its
experiment (Section 5.1, Figs. 3-5).

Exact side (theory.critical, verify.critical_sets): critical points of phi_L(a, b) on S =
{A_l = a_l Sigma^{-1}, B_l = b_l I}, each with a Krawczyk certificate and its kind from verified
Hessian eigenvalue bounds; proved complete for L <= 2 (exact elimination), for L = 3 a shipped
table of a large search re-certified at run time (the same list at every effort).  Checked:
eq. (12) (critical points exist, the gradient infimum is attained), f does not depend on
B_{L-1} (on the NumPy model), and trained replicas lie on S.

Found while building this (reported in the verdict's notes, with numbers): the step sizes that
training on sampled prompts reaches are not critical points of the exact population loss.  The
polynomial p(S_hat) of GD++ has degree (3^L - 1)/2 (13 for L = 3), so phi is dominated by
eigenvalues of S_hat with spectral weight below 1e-6, which no sample contains: the sampled
loss at the trained (and the paper's reported) step sizes is tens of times below phi there.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import mpmath
import numpy as np

from theory.spectral import gauss_rule

from ..checks import (
    K_SIGMA,
    Verdict,
    check_at_most,
    controls_check,
    evaluate_controls,
    replica_tolerance,
)
from ..compare import EPS, dist_identity, dist_tolerance, rel_fro
from ..critical_sets import (
    closed_form_fields,
    critical_checks,
    critical_set,
    lowest_note,
)
from ..families import FAMILY11, GDPlusPlus
from ..model import forward
from ..progress import Progress
from ..sampling import sample_prompts
from ..setting import Setting
from . import layers
from .base import COMMON_OPTIONS, Claim, Erratum, Hypothesis

#: The paper's reported values (Figs. 4-5; text says n = 10, the official code n = 20):
#: Sigma^1/2 A_l Sigma^1/2 ~ -0.38 I, -2.40 I, -9.59 I and B_0 ~ 0.90 I, B_1 ~ 0.56 I.
PAPER_FIG45 = ((-0.38, -2.40, -9.59), (0.90, 0.56, 0.0))


def default_setting(**kw) -> Setting:
    kw.setdefault("prior", "inverse")
    kw.setdefault("layers", 3)
    return Setting(**kw)


@dataclass(frozen=True)
class Effort:
    """Prompts per replica (10 replicas) and fresh test prompts (the critical points are the
    certified set of verify.critical_sets: the same at every effort)."""

    prompts: int = 10_000
    test_prompts: int = 100_000

    @classmethod
    def for_setting(cls, s: Setting) -> "Effort":
        return cls(4_000, 20_000) if s.quick else cls()


def b_last_is_invisible(theta, s: Setting, L: int) -> float:
    """max |change of [Z_L]_{d+1,n+1}| when B_{L-1} is replaced by a random matrix (full forward)."""
    fam = GDPlusPlus(s.d, L)
    prompts = sample_prompts(64, s.n, s.sigma, s.rng("theorem4/blast"), np.linalg.inv(s.sigma))
    out, _ = forward(fam.unpack(theta), prompts, full=True)
    th2 = np.array(theta, dtype=float).copy()
    d = s.d
    th2[(2 * L - 1) * d * d:] = s.rng("theorem4/blast/B").standard_normal(d * d)
    out2, _ = forward(fam.unpack(th2), prompts, full=True)
    return float(np.abs(out - out2).max())


def tail_share(a, b, n, d, quantile_weight: float = 1e-6, nodes: int = 30) -> float:
    """Share of phi(a, b) carried by Gauss nodes of the spectral measure with weight < 1e-6."""
    x, w = gauss_rule(n, d, nodes)
    x = np.array([float(v) for v in x])
    w = np.array([float(v) for v in w])
    g, p = np.ones_like(x), np.ones_like(x)
    for l in range(len(a)):
        p = p * (1 + a[l] * g * g * x)
        g = (1 + a[l] * b[l] * g * g * x) * g
    c = w * p * p
    return float(c[w < quantile_weight].sum() / c.sum())


def run(s: Setting, with_controls: bool = False, candidate=None, progress: Progress | None = None) -> Verdict:
    L = layers.preamble(CLAIM, s, candidate)
    t0 = time.perf_counter()
    progress = progress or Progress(None)
    eff = Effort.for_setting(s)
    progress.update(f"critical points of phi_{L} (exact, certified)")
    cs = critical_set(FAMILY11, L, s.n, s.d)  # the same list at every effort (theory.critical)
    cps = cs.points
    ev = layers.gather(s, FAMILY11, L, eff.prompts, eff.test_prompts, progress, shared_start=True,
                       warm_fraction=16, max_lm=40, rtol=1e-9)
    samp = f"sampling: {K_SIGMA:g} standard errors of the mean of {layers.REPLICAS} replicas"
    checks = [
        *critical_checks(cs, "12", complete_expected=L <= 2),
        check_at_most("f does not depend on B_{L-1} (NumPy model, full forward pass)", "floating point",
                      b_last_is_invisible(ev.thetas[0], s, L), 0.0,
                      "exact: the covariate rows of the last layer are never read"),
    ]
    a_tr, b_tr = layers.step_sizes(ev)
    W = ev.A_white.mean(0)
    Bm = ev.B.mean(0)[:L - 1]
    tauA = replica_tolerance(ev.A_white, max(np.linalg.norm(W), EPS))
    tauB = replica_tolerance(ev.B[:, :L - 1], max(np.linalg.norm(Bm), EPS)) if L > 1 else 0.0
    checks.append(check_at_most(
        "trained A_l lie on S: max_l Dist(Sigma^1/2 A_l Sigma^1/2, I)", "sampling",
        max(dist_identity(M) for M in W), dist_tolerance(np.eye(s.d), tauA) + ev.opt,
        f"{samp} via Dist's Lipschitz bound + optimisation error {ev.opt:.1e}"))
    if L > 1:
        checks.append(check_at_most(
            "trained B_l (l < L-1) lie on S: max_l Dist(B_l, I)", "sampling",
            max(dist_identity(M) for M in Bm), dist_tolerance(np.eye(s.d), tauB) + ev.opt,
            f"{samp} via Dist's Lipschitz bound + optimisation error {ev.opt:.1e}"))
    a_mean, b_mean = a_tr.mean(0), b_tr.mean(0)
    b_mean[-1] = 0.0  # b_{L-1} is invisible to f
    R = FAMILY11.restricted_loss(L, s.n, s.d)
    t = tuple(a_mean) + tuple(b_mean)
    with mpmath.workdps(40):
        phi_tr = float(R.value(t))
        grad_tr = [float(g) for g in R.gradient(t)][:2 * L - 1]
    test_loss = float(ev.test_loss.mean())
    best = min(cps, key=lambda c: c.loss) if cps else None
    closed = {**closed_form_fields(cs),
              "trained_step_sizes_mean": {"a": a_mean.tolist(), "b": b_mean.tolist()}}
    tail_tr = tail_share(a_mean, b_mean, s.n, s.d)
    notes = [
        f"trained step sizes (mean of {layers.REPLICAS} replicas): a = {np.round(a_mean, 4).tolist()}, "
        f"b = {np.round(b_mean[:-1], 4).tolist()}; sampled test loss {test_loss:.4g} (ln {np.log(test_loss):.2f}); "
        f"exact population loss phi there {phi_tr:.4g} (ln {np.log(phi_tr):.2f}), exact gradient of phi there "
        f"{np.round(grad_tr, 3).tolist()}: training on samples does not reach a critical point of the "
        f"population loss; {100 * tail_tr:.1f}% of phi there comes from "
        "eigenvalues of S_hat with spectral weight < 1e-6, which no training or test sample contains",
    ]
    notes.append(lowest_note(cs))
    paper = paper_values(s, L)
    notes += [_paper_note(p) for p in paper]
    facts = {"paper_values": paper, "trained": {"test_loss": test_loss, "phi": phi_tr, "tail": tail_tr},
             "lowest": None if best is None else {"loss": float(best.loss), "kind": best.kind}}
    verdict = Verdict("4", s.describe(ev.sigma), closed, checks, notes=notes,
                      artifacts={"A_white": ev.A_white.mean(0), "B": ev.B.mean(0), **facts})
    if with_controls:
        # only checks the lowest critical point itself passes can reject a control (issue 8)
        verdict.controls = evaluate_controls(controls(s, L, best), ev, s,
                                             lambda ab, ev, s: _trained_vs(*ab, ev, s),
                                             truth_checks=[] if best is None else
                                             _trained_vs([float(x) for x in best.a], [float(x) for x in best.b],
                                                         ev, s))
        verdict.checks.append(controls_check(verdict.controls))
    verdict.timings["seconds"] = time.perf_counter() - t0
    return verdict


def _trained_vs(a, b, ev, s):
    """Trained replicas (whitened A_l and B_l, l < L-1, layer order kept) against step sizes (a, b)."""
    d, L = s.d, ev.L
    M = np.concatenate([ev.A_white, ev.B[:, :L - 1]], axis=1)  # (R, 2L-1, d, d)
    C = np.array([x * np.eye(d) for x in list(a) + list(b)[:L - 1]])
    nC = max(np.linalg.norm(C), EPS)
    return [check_at_most(
        "trained (Sigma^1/2 A_l Sigma^1/2, B_l) vs step sizes (rel. Frobenius)", "sampling",
        rel_fro(M.mean(0), C), replica_tolerance(M, nC) + ev.opt,
        f"sampling: {K_SIGMA:g} standard errors of the mean of {layers.REPLICAS} replicas")]


def controls(s: Setting, L: int, best) -> list:
    """Wrong step sizes: plain GD with the one-layer optimum, GD++ with guessed b, equal steps."""
    one = -s.n / (s.n + 1 + s.d)  # one-layer optimum (family (11) sign), b = 0: plain GD
    out = [(f"one-layer optimum {one:.4f} in every layer, b = 0 (GD, not GD++)", ([one] * L, [0.0] * L)),
           (f"one-layer optimum {one:.4f} in every layer, b_l = 0.5", ([one] * L, [0.5] * L))]
    if best is not None:
        a = [float(x) for x in best.a]
        b = [float(x) for x in best.b]
        out.append(("equal step sizes: every a_l = mean of the lowest critical point's a",
                    ([float(np.mean(a))] * L, b)))
    return out


def paper_values(s: Setting, L: int) -> list:
    """Exact phi_3 and its spectral-tail share at the paper's Figs. 4-5 values, at this n and at
    the text's n = 10 and the code's n = 20 (d = 5, L = 3 only; empty otherwise)."""
    if L != 3 or s.d != 5:
        return []
    a, b = PAPER_FIG45
    return [{"n": n, "phi": float(FAMILY11.restricted_loss(3, n, 5).value(tuple(a) + tuple(b))),
             "tail": tail_share(a, b, n, 5)} for n in sorted({s.n, 10, 20})]


def _paper_note(p: dict) -> str:
    a, b = PAPER_FIG45
    return (f"paper's Figs. 4-5 values (reported) a = {a}, b = {b[:2]}: exact phi_3 = {p['phi']:.4g} "
            f"(ln {np.log(p['phi']):.2f}) at n = {p['n']}; share of phi from spectral weight < 1e-6: "
            f"{100 * p['tail']:.1f}%")


def _sample_loss_erratum(verdict) -> str:
    """Erratum text on the sample loss of Section 5.1, with this run's numbers."""
    art = verdict.artifacts
    by_n = {p["n"]: p for p in art.get("paper_values", [])}
    tr, low = art.get("trained"), art.get("lowest")
    if tr is None or 20 not in by_n or 10 not in by_n:
        return ("The comparison with the printed values is made for d = 5, L = 3 only; this run's "
                "setting differs, so it has no numbers for it.")
    p20, p10 = by_n[20], by_n[10]
    lowest = ("no critical point was found by this run's search" if low is None else
              f"the lowest found has phi = {low['loss']:.3g} (ln {np.log(low['loss']):.2f}), a {low['kind']}")
    return (f"Training on sampled prompts reaches a sampled test loss of {tr['test_loss']:.2g} "
            f"(ln {np.log(tr['test_loss']):.2f}). The printed values are not critical points of the "
            f"population loss f: at n = 20 (the official code's n) the exact phi there is {p20['phi']:.3g} "
            f"(ln {np.log(p20['phi']):.2f}), and {100 * p20['tail']:.1f}% of it comes from eigenvalues of "
            "S_hat of spectral weight below 1e-6 (the GD++ residual is a polynomial of degree (3^L - 1)/2 "
            f"in S_hat), which no sample contains. At n = 10 the printed values give phi = {p10['phi']:.2g}. "
            f"The critical points of phi that Theorem 4 is about (computed here) lie elsewhere; {lowest}. "
            "See the notes below for the trained step sizes.")


def _figures(cid, verdict, setting, out_dir, budget):
    from ..report.gallery import multi_layer
    return multi_layer(cid, verdict, setting, out_dir, budget, family=FAMILY11, L=3)


CLAIM = Claim(
    id="4",
    title="Theorem 4: critical points of family (11) (GD++) on S",
    source="Theorem 4, eq. (12)",
    statement="For x ~ N(0, Sigma), w* ~ N(0, Sigma^-1), family (11): inf over S = {A_l = a_l Sigma^-1, "
              "B_l = b_l I} of sum_l ||grad_{A_l} f||^2 + ||grad_{B_l} f||^2 is 0; f does not depend on B_{L-1}.",
    run=run,
    hypotheses=layers.INVERSE_PRIOR_HYPOTHESES + (
        Hypothesis("L layers of family (11): P_l = [[B_l,0],[0,1]], Q_l = [[A_l,0],[0,0]] (no minus sign)"),
        Hypothesis("S = {A_l = a_l Sigma^{-1}, B_l = b_l I}")),
    options=COMMON_OPTIONS | {"layers"},
    default_setting=default_setting,
    effort=Effort.for_setting,
    max_layers=3,
    derivation=(layers.critical_derivation(FAMILY11, 3),),
    errata=(Erratum(
        "the reported GD++ loss is a sample loss, not the population loss of Theorem 4",
        "Section 5.1 (n = 10 in the text) reports B_0 ~ 0.90 I, B_1 ~ 0.56 I, "
        "Sigma^1/2 A_l Sigma^1/2 ~ -0.38 I, -2.40 I, -9.59 I and a log loss of about -6 to -7.",
        _sample_loss_erratum, steps=("every listed point is stationary",),
        checks=("a critical point of phi on S exists",)),),
    figures=(_figures,),
)
