"""Theorem 3 (family (8), L layers, x ~ N(0, Sigma), w* ~ N(0, Sigma^{-1})) and its
experiment (Section 4.3, Figs. 1-2).

Exact side (theory.critical): every real critical point of phi_L on S, the global minimum with
a proof, the full gradient (zero in every matrix direction) and the full Hessian blocks.
Trained side: R replicas of family (8) from small random starts on fresh samples; their
whitened matrices are compared with the global minimiser up to the layer permutation of
Lemma 4.  Negative controls: plausible wrong step sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import numpy as np

from theory.critical import global_minimum_value_family8

from ..checks import K_SIGMA, CheckDef, Control, replica_tolerance
from ..compare import EPS, dist_tolerance, rel_fro
from ..critical_sets import CRITICAL_CHECKS, closed_form_fields, critical_checks, critical_set
from ..families import FAMILY8
from ..progress import Progress
from ..setting import Setting
from . import layers
from .base import COMMON_OPTIONS, Claim, Erratum, Hypothesis, Judgement

#: The paper's reported values (Fig. 2, Sigma^1/2 A_l Sigma^1/2 ~ -0.69 I, -0.42 I, -1.71 I with
#: the code's Q-block sign, i.e. a_l = 0.69, 0.42, 1.71 in convention (8)), d = 5, n = 20, L = 3.
PAPER_FIG2 = (0.69, 0.42, 1.71)


#: The checks of Theorem 3, by stable id (tests, the erratum and the controls use the ids).
HANKEL = CheckDef(
    "hankel",
    "global minimum from the enumeration equals d / (H^-1)_00 (Hankel, exact rational)",
)
LOCAL_MINIMUM = CheckDef(
    "local_minimum",
    "global minimiser on S is a local minimum in all matrix directions (Hessian blocks)",
)
TARGET = CheckDef(
    "target",
    "trained Sigma^1/2 A_l Sigma^1/2 vs {name} (rel. Frobenius, layers sorted by step size, Lemma 4)",
)
TEST_LOSS = CheckDef(
    "test_loss", "test loss of the trained model vs exact phi_L at {name} (relative)"
)
UNBEATEN = CheckDef("unbeaten", "trained step sizes have no lower exact phi_L than {name}")
ON_S = CheckDef("on_S", "trained matrices lie on S: max_l Dist(Sigma^1/2 A_l Sigma^1/2, I)")
CHECKS = (HANKEL, *CRITICAL_CHECKS, LOCAL_MINIMUM, TARGET, TEST_LOSS, UNBEATEN, ON_S)


def default_setting(**kw) -> Setting:
    kw.setdefault("prior", "inverse")
    kw.setdefault("layers", 3)
    return Setting(**kw)


@dataclass(frozen=True)
class Effort:
    """Prompts per replica (10 replicas) and fresh test prompts; quick: 1e4 and 4e4."""

    prompts: int = 50_000
    test_prompts: int = 200_000

    @classmethod
    def for_setting(cls, s: Setting) -> "Effort":
        return cls(10_000, 40_000) if s.quick else cls()


def _target_checks(a_ref, ev, s, name="global minimiser a*"):
    """Trained replicas against step sizes a_ref (layer order free, Lemma 4)."""
    d, L = s.d, len(a_ref)
    a_ref = sorted(a_ref)  # canonical layer order (Lemma 4)
    W = layers.aligned_matrices(ev)  # (R, L, d, d), layers sorted by step size
    C = np.array([a * np.eye(d) for a in a_ref])
    nC = max(np.linalg.norm(C), EPS)
    samp = f"sampling: {K_SIGMA:g} standard errors of the mean of {layers.REPLICAS} independent replicas"
    tau = replica_tolerance(W, nC)
    checks = [
        TARGET.at_most(
            "sampling",
            rel_fro(W.mean(0), C),
            tau + ev.opt,
            f"{samp} + optimisation error {ev.opt:.1e} (next Gauss-Newton step)",
            title=TARGET.title_for(name=name),
        )
    ]
    R = FAMILY8.restricted_loss(L, s.n, s.d)
    phi = float(R.value(tuple(a_ref)))
    loss = layers.mean_model_sq_residuals(ev, layers.canonical_order(ev))
    se = float(loss.std(ddof=1) / np.sqrt(loss.size))
    checks.append(
        TEST_LOSS.at_most(
            "sampling",
            abs(loss.mean() - phi) / phi,
            K_SIGMA * se / phi,
            f"sampling: {K_SIGMA:g} standard errors of a mean over {loss.size} fresh prompts",
            title=TEST_LOSS.title_for(name=name),
        )
    )
    a_tr = np.mean(np.sort(layers.step_sizes(ev)[0], axis=1), axis=0)
    floor = 1e-12  # phi is evaluated in 40-digit mpmath; 1e-12 relative is far above its round-off
    checks.append(
        UNBEATEN.at_most(
            "exact",
            (phi - float(R.value(tuple(a_tr)))) / phi,
            floor,
            "exact phi_L (mpmath); a true global minimiser cannot be beaten",
            title=UNBEATEN.title_for(name=name),
        )
    )
    return checks


def gather(s: Setting, progress: Progress) -> layers.LayerEvidence:
    """Train the replicas (no closed form consulted)."""
    eff = Effort.for_setting(s)
    return layers.gather(s, FAMILY8, s.layers or 3, eff.prompts, eff.test_prompts, progress)


def exact_checks(cs, best, L: int, s: Setting) -> list:
    """The exact side: the enumeration's minimum, the certified critical set, the Hessian."""
    critical = critical_checks(cs, "10", complete_expected=True)
    return [
        HANKEL.at_most(
            "exact",
            _hankel_gap(best, L, s),
            1e-30,
            "40-digit enumeration (orthogonal polynomials, real-root isolation over QQ) vs an "
            "independent exact rational value: agreement to 1e-30 relative",
        ),
        *critical,
        LOCAL_MINIMUM.at_most(
            "exact",
            0 if best.kind == "minimum" else 1,
            0,
            "verified eigenvalue bounds of the restricted and full-matrix Hessian blocks",
        ),
    ]


def on_S_check(ev, s: Setting):
    """The trained matrices are multiples of Sigma^-1 within sampling error."""
    dA, _ = layers.dists(ev)
    W = layers.aligned_matrices(ev)
    tau = replica_tolerance(W, max(np.linalg.norm(W.mean(0)), EPS))
    return ON_S.at_most(
        "sampling",
        max(dA),
        dist_tolerance(np.eye(s.d), tau),
        f"sampling: {K_SIGMA:g} standard errors of {layers.REPLICAS} replicas via Dist's Lipschitz bound",
    )


def judge(s: Setting, ev, target, progress: Progress) -> Judgement:
    L = s.layers or 3
    progress.update("critical points (exact, certified)")
    cs = critical_set(FAMILY8, L, s.n, s.d)
    cps = cs.points
    best = next(c for c in cps if c.is_global_minimum_on_S)
    a_star = [float(x) for x in best.a]
    checks = exact_checks(cs, best, L, s) + _target_checks(a_star, ev, s) + [on_S_check(ev, s)]
    a_tr, _ = layers.step_sizes(ev)
    reached = nearest_critical_points(a_tr, cps)
    closed = {
        **closed_form_fields(cs),
        "trained_step_sizes_mean": np.sort(a_tr, axis=1).mean(0).tolist(),
    }  # layers sorted (Lemma 4)
    notes = [
        f"training reached critical point #{k} ({cps[k].kind}) in {reached.count(k)} of {len(reached)} "
        f"replicas"
        for k in sorted(set(reached))
    ]
    paper = paper_values(s, L)
    notes += [_paper_note(p) for p in paper]
    return Judgement(
        s.describe(ev.sigma),
        closed,
        checks,
        notes=notes,
        artifacts={
            "paper_values": paper,
            "A_white": layers.aligned_matrices(ev).mean(0),
        },  # figures
        # only checks the global minimiser passes (under the same check ids) can reject a control
        truth=lambda: _target_checks(a_star, ev, s, name="control"),
    )


def _controls(s: Setting, ev, judgement) -> list:
    L = s.layers or 3
    return controls(s, L, critical_set(FAMILY8, L, s.n, s.d).points)


def _control_checks(a, ev, s: Setting) -> list:
    return _target_checks(a, ev, s, name="control")


def _hankel_gap(best, L: int, s: Setting) -> float:
    """Relative gap between the enumerated minimum and the kernel-polynomial value d/(H^-1)_00."""
    exact = global_minimum_value_family8(L, s.n, s.d)
    with mpmath.workdps(50):
        ref = mpmath.mpf(int(exact.p)) / int(exact.q)
        return float(abs(best.loss - ref) / ref)


def nearest_critical_points(a_tr, cps) -> list:
    """Index of the nearest critical point (step sizes compared as sorted lists) per replica."""
    refs = [np.sort([float(x) for x in c.a]) for c in cps]
    return [int(np.argmin([np.linalg.norm(np.sort(a) - r) for r in refs])) for a in a_tr]


def controls(s: Setting, L: int, cps) -> list:
    """Wrong step sizes: the one-layer optimum repeated, equal steps, a saddle of phi_L."""
    one = s.n / (s.n + 1 + s.d)  # one-layer optimum for the Sigma^{-1} prior (theory.single_layer)
    # for L = 1 the one-layer optimum IS the global minimiser: not a wrong closed form (issue 8
    # calibration sweep: it made every L = 1 verdict fail its discrimination check)
    out = (
        []
        if L == 1
        else [
            Control(
                f"one-layer optimum n/(n+d+1) = {one:.4f} repeated in all {L} layers", [one] * L
            )
        ]
    )
    for c in cps:
        if c.kind != "minimum" and len(c.a) == L:
            out.append(
                Control(
                    f"critical point {[round(float(x), 4) for x in c.a]} ({c.kind})",
                    [float(x) for x in c.a],
                )
            )
    return out


def paper_values(s: Setting, L: int) -> list:
    """Exact phi_3 at the paper's Fig. 2 values and the global minimum on S, at this n and at
    the code's n = 20 and the text's n = 10 (d = 5, L = 3 only; empty otherwise)."""
    if L != 3 or s.d != 5:
        return []
    out = []
    for n in sorted({s.n, 20, 10}):
        R = FAMILY8.restricted_loss(3, n, 5)
        best = [c for c in FAMILY8.critical_points(3, n, 5) if c.is_global_minimum_on_S][0]
        out.append(
            {
                "n": n,
                "phi_paper": float(R.value(PAPER_FIG2)),
                "phi_min": float(best.loss),
                "a_star": tuple(float(x) for x in best.a),
            }
        )
    return out


def _paper_note(p: dict) -> str:
    return (
        f"paper's Fig. 2 step sizes {PAPER_FIG2} (reported values): exact phi_3 = "
        f"{p['phi_paper']:.6g} at n = {p['n']}, global minimum {p['phi_min']:.6g} "
        f"at a* = {tuple(round(x, 4) for x in p['a_star'])}"
    )


def _figures_erratum(verdict) -> str:
    """Erratum text on the n of Figs. 1-2, with this run's numbers."""
    by_n = {p["n"]: p for p in verdict.artifacts.get("paper_values", [])}
    if 20 not in by_n or 10 not in by_n:
        return (
            "The comparison with the printed values is made for d = 5, L = 3 only; this run's "
            "setting differs, so it has no numbers for it."
        )
    p20, p10 = by_n[20], by_n[10]
    # the optimum's step sizes in the printed order (Lemma 4: any layer order is optimal)
    a = ", ".join(f"{min(p20['a_star'], key=lambda x: abs(x - y)):.4f}" for y in PAPER_FIG2)
    return (
        f"At n = 20 the printed values are the exact global minimiser on S up to layer order "
        f"({a}; phi = {p20['phi_paper']:.6g} at the printed values vs {p20['phi_min']:.6g} at the "
        f"optimum). At n = 10 they are far from optimal (phi = {p10['phi_paper']:.3g} vs "
        f"{p10['phi_min']:.3g}): the figure is an n = 20 result. The footnote's 'may not be attained' "
        "does not arise for family (8): phi is coercive on S and its minimum is attained (proof in "
        "the derivation)."
    )


def _figures(cid, verdict, setting, budget):
    from ..experiments.gallery import context_and_depth, multi_layer

    return multi_layer(cid, verdict, setting, budget, family=FAMILY8, L=3) + context_and_depth(
        cid, verdict, setting, budget
    )


CLAIM = Claim(
    id="3",
    title="Theorem 3: critical points of family (8) on S",
    source="Theorem 3, eq. (10)",
    statement="For x ~ N(0, Sigma), w* ~ N(0, Sigma^-1), family (8): inf over S = {A_l = a_l Sigma^-1} of "
    "sum_l ||grad_{A_l} f||_F^2 is 0.",
    gather=gather,
    judge=judge,
    controls=_controls,
    control_checks=_control_checks,
    checks=CHECKS,
    hypotheses=layers.INVERSE_PRIOR_HYPOTHESES
    + (Hypothesis("L layers of family (8); S = {A_l = a_l Sigma^{-1}, a_l real}"),),
    options=COMMON_OPTIONS | {"layers"},
    default_setting=default_setting,
    effort=Effort.for_setting,
    max_layers=6,
    derivation=(layers.critical_derivation(FAMILY8, 3),),
    errata=(
        Erratum(
            "the n of Figs. 1-2",
            f"Section 4.3 reports Figs. 1-2 (Sigma^1/2 A_l Sigma^1/2 ~ {', '.join(map(str, PAPER_FIG2))} in "
            "convention (8)) for d = 5, n = 20.",
            _figures_erratum,
            steps=("global minimum on S", "infimum of the gradient norm on S attained"),
            checks=(HANKEL.id,),
        ),
    ),
    figures=(_figures,),
)

run = CLAIM.run
