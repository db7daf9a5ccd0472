"""Figure builders of the claims' reports (each claim names its builders in ``claim.figures``).

A builder trains the models it needs (:mod:`.experiments`), draws them (:mod:`.figures`),
writes the PNGs atomically beside the report and returns :class:`.render.Figure` records.
Claims without builders get no figures.  Closed forms come from the verdict when it carries
them, otherwise from :mod:`theory` (never from the trained models).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from ..compare import dist_identity, whiten
from ..families import FAMILY8, FAMILY11
from ..sampling import sqrtm_psd
from . import experiments as ex
from . import figures as fg
from .io import atomic_write_bytes
from .render import Figure

__all__ = ["build_figures", "one_layer", "multi_layer", "context_and_depth", "relu_layer"]

#: The paper's Fig. 2 (L = 3, family (8)): Sigma^1/2 A_l Sigma^1/2 ~ a_l I in convention (8) (reported).
PAPER_FIG2 = (0.69, 0.42, 1.71)

# When a figure drawn from a training run says "not converged" on itself (issue 10: no figure may
# contradict its verdict).  Loss: relative gap of the final held-out loss from the exact optimum
# (the held-out sample's own error is ~1-2 % with 20000 prompts, so 5 % is optimisation left
# over); Dist: absolute gap from the closed form's Dist; heat maps: relative Frobenius distance.
LOSS_RTOL, DIST_ATOL, HEAT_RTOL = 0.05, 0.05, 0.10


def _unconverged(what: str, gap: float, tol: float) -> str:
    """A title line for a figure whose run missed its target, '' when it met it."""
    return "" if gap <= tol else f"\nNOT CONVERGED: {what} (tol. {tol:g})"


def _data(verdict):
    sigma = np.asarray(verdict.setting["sigma"], dtype=float)
    omega = None if verdict.setting.get("prior", "identity") == "identity" else np.linalg.inv(sigma)
    return sigma, omega, int(verdict.setting["d"]), int(verdict.setting["n"])


def _write(out_dir: Path, name: str, png: bytes) -> str:
    atomic_write_bytes(out_dir / name, png)
    return name


def _loss_and_dist(
    cid, tr, out_dir, optimum, opt_label, dists, dist_refs, budget, lbfgs, what, population=None
):
    """The training-curve and Dist figures shared by every trajectory.

    ``population``: a :class:`.experiments.PopulationRun` drawn on the loss figure beside the
    paper's protocol.  A run that ends outside LOSS_RTOL / DIST_ATOL of the exact values says
    so in the figure's title."""
    switch = "Adam -> L-BFGS" if tr.switch else ""
    final = tr.loss[-1]
    loss_note = _unconverged(
        f"final loss {final:.3g} vs {optimum:.3g}", abs(final - optimum) / optimum, LOSS_RTOL
    )
    series = [("held-out loss (paper's protocol)", tr.steps, tr.loss)]
    extra = ""
    if population is not None:
        series.append(
            (
                f"population-loss trainer (importance-sampled Adam, minibatch {population.batch})",
                population.steps,
                population.loss,
            )
        )
        extra = (
            f" Second curve: Adam on importance-sampled minibatches (verify.population), whose every "
            f"gradient is unbiased for the population loss; each point is the mean of its unbiased "
            f"minibatch estimates over {max(1, population.steps[0])} steps; last "
            f"{population.loss[-1]:.4g}."
        )
    loss = fg.curve_figure(
        series,
        f"Claim {cid}: training loss ({what}){loss_note}",
        "iteration (Adam steps, then L-BFGS iterations)" if tr.switch else "Adam step",
        "loss (log scale)",
        hlines=[(opt_label, optimum, "--")],
        vline=tr.switch,
        vline_label=switch,
        logy=True,
        xname="iteration",
    )
    refs = [float(y) for _, y, _ in dist_refs]
    gap = max(abs(y[-1] - r) for (_, _, y) in dists for r in refs[:1]) if refs else 0.0
    dist_note = _unconverged(
        f"final Dist {max(y[-1] for _, _, y in dists):.3g} vs closed form {refs[0]:.3g}"
        if refs
        else "",
        gap,
        DIST_ATOL,
    )
    dist = fg.curve_figure(
        dists,
        f"Claim {cid}: Dist(M, I) along training{dist_note}",
        "iteration",
        "Dist(M, I)",
        hlines=dist_refs,
        vline=tr.switch,
        vline_label=switch,
    )
    scaling = budget.describe(lbfgs)
    return [
        Figure(
            _write(out_dir, f"{cid}_loss.png", loss.png),
            "Training loss against the exact optimum",
            f"{loss.caption} The optimum is computed exactly by the package (paper: Figs. 1(d), 3(c)).{extra}",
            scaling,
        ),
        Figure(
            _write(out_dir, f"{cid}_dist.png", dist.png),
            "Dist(M, I) against iterations",
            f"{dist.caption} Dist(M, I) = min_a ||M - a I||_F / ||M||_F (paper: Figs. 1(a)-(c), 3(a)-(b)).",
            scaling,
        ),
    ]


# --- claim 1: one unconstrained layer ----------------------------------------------------


def one_layer(cid, verdict, setting, out_dir, budget):
    sigma, omega, d, n = _data(verdict)
    b = budget.scaled(4, 2, 1.6)
    tr = ex.trajectory(
        ex.UNCONSTRAINED,
        1,
        n,
        sigma,
        omega,
        setting.rng("report/one-layer"),
        b,
        init_std=1e-2,
        lbfgs=False,
    )
    A = tr.mats[-1]["A_eff"][0]
    C = np.asarray(verdict.closed_form["preconditioner"], dtype=float)
    G = np.asarray(verdict.closed_form.get("gamma_inverse_eq6", C), dtype=float)
    sh = sqrtm_psd(sigma)
    rows = [
        (
            "trained (Adam, all P, Q)",
            [("A_eff = -(p_y Q11 + p_x q21^T)", A), ("Sigma^1/2 A_eff Sigma^1/2", whiten(A, sh))],
            "one layer with every entry of P and Q trained; A_eff is invariant under (gP, Q/g)",
        ),
        (
            "closed form",
            [("Gamma^-1 (eq. 6)", G), ("Sigma^1/2 Gamma^-1 Sigma^1/2", whiten(G, sh))],
            "eq. (6)",
        ),
    ]
    rel = float(np.linalg.norm(A - C) / np.linalg.norm(C))
    heat = fg.heatmap_figure(
        rows,
        f"Claim {cid}: learned vs closed-form preconditioner (d = {d}, n = {n})"
        + _unconverged(f"rel. distance {rel:.3g} from Gamma^-1", rel, HEAT_RTOL),
    )
    figs = [
        Figure(
            _write(out_dir, f"{cid}_heatmaps.png", heat.png),
            "Learned against closed-form matrices",
            f"{heat.caption} Relative Frobenius distance of A_eff from Gamma^-1 after training: {rel:.3g} "
            f"(the checks above use 10 exactly fitted replicas; above {HEAT_RTOL:g} the figure's title says "
            f"the Adam run has not converged).",
            b.describe(False),
        )
    ]
    dists = [
        (
            "Dist(Sigma^1/2 A_eff Sigma^1/2, I)",
            tr.steps,
            [dist_identity(whiten(m["A_eff"][0], sh)) for m in tr.mats],
        )
    ]
    refs = [("Gamma^-1 (closed form)", dist_identity(whiten(G, sh)), "--")]
    return figs + _loss_and_dist(
        cid,
        tr,
        out_dir,
        float(verdict.closed_form["optimal_loss"]),
        "exact optimal loss f(Gamma^-1)",
        dists,
        refs,
        b,
        False,
        "one layer, all P, Q",
    )


# --- claims 2, 3, 4: several layers -----------------------------------------------------


def _family8_optimum(L, n, d):
    best = FAMILY8.critical_points(L, n, d)[0]
    return [float(x) for x in best.a], float(best.loss)


def _family11_optimum(L, n, d, rng, starts=12):
    """Lowest restricted loss found on S by local search (theory.restricted, exact moments)."""
    from scipy.optimize import minimize

    R = FAMILY11.restricted_loss(L, n, d)
    fun = lambda t: tuple(
        np.asarray(v, dtype=float) for v in R.evaluate(t, order=1, backend="numpy")
    )  # noqa: E731
    best = None
    for _ in range(starts):
        t0 = np.concatenate([-rng.uniform(0.1, 3, L), rng.uniform(0, 1.5, L)])
        res = minimize(
            fun, t0, jac=True, method="L-BFGS-B", options={"gtol": 1e-12, "maxiter": 500}
        )
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
    return [float(x) for x in best.x[:L]], [float(x) for x in best.x[L:]], float(best.fun)


def _match(trained, closed):
    """Layer permutation of ``closed`` nearest to ``trained`` (Lemma 4: any order is optimal)."""
    perms = itertools.permutations(range(len(closed)))
    best = min(
        perms, key=lambda p: sum((trained[l] - closed[p[l]]) ** 2 for l in range(len(closed)))
    )
    return [closed[best[l]] for l in range(len(closed))]


def multi_layer(cid, verdict, setting, out_dir, budget, family, L):
    sigma, omega, d, n = _data(verdict)
    L = int(verdict.setting.get("layers") or L)
    kind = family.name  # the random stream's name (same seed, same numbers as before)
    rng = setting.rng(f"report/{kind}")
    # Family (11) at small n has heavy-tailed losses (high powers of the sample covariance): a
    # fixed-sample L-BFGS continuation overfits them, so it is trained by Adam alone.
    # At the paper's scale: the paper's protocol alone (no continuation), 100000 steps for (11).
    lbfgs = not family.has_B and not budget.paper_scale
    init_std = 1e-2 if family.has_B else 1e-4
    run_budget = budget.for_family11() if family.has_B else budget
    tr = ex.trajectory(family, L, n, sigma, omega, rng, run_budget, init_std=init_std, lbfgs=lbfgs)
    population = None
    if omega is not None:  # the importance sampler draws the Theorem 3-4 prior w* ~ N(0, Sigma^-1)
        population = ex.population_run(
            family, L, n, sigma, setting.rng(f"report/population-{kind}"), budget, init_std
        )
    sh = sqrtm_psd(sigma)
    final = tr.mats[-1]
    W = [whiten(A, sh) for A in final["A"]]
    replicas = family.has_B and "A_white" in verdict.artifacts
    if replicas:  # the verdict's replicas (Levenberg-Marquardt on fixed samples) instead of Adam
        W = list(verdict.artifacts["A_white"])
        final = {"A": final["A"], "B": list(verdict.artifacts["B"])}
    scal = [float(np.trace(M)) / d for M in W]
    fam = f"({family.equation})"
    if family is FAMILY8:
        a, opt = _family8_optimum(L, n, d)
        a = _match(scal, a)
        closed_rows = [
            (
                "closed form a_l I",
                [(f"a*_{l} I = {a[l]:.3f} I", a[l] * np.eye(d)) for l in range(L)],
                (
                    "the global minimiser on S, theory.critical exact enumeration, its layers ordered like "
                    "the trained ones (Lemma 4)"
                ),
            )
        ]
        opt_label, note = "exact global minimum on S", ""
    else:
        cps = verdict.closed_form.get("critical_points") or []
        compared = (verdict.artifacts.get("population") or {}).get("compared")
        if cps:  # the verdict's lowest critical point (theory.critical search)
            low = min(cps, key=lambda c: c["loss_float"])
            a, bb, opt = low["a"], low["b"], low["loss_float"]
        else:
            a, bb, opt = _family11_optimum(L, n, d, setting.rng("report/family11-search"))
        where = (
            "the lowest critical point of the exact population loss on S found by the verdict's search "
            "(theory.critical)"
            if cps
            else "the lowest point of the restricted loss on S found by 12-start local search on the exact loss "
            "(theory.restricted)"
        )
        if replicas and compared:  # draw the certified point the verdict compares the replicas with
            a, bb = compared["a"], compared["b"]
            where = (
                f"the certified critical point the verdict compares its replicas with (a {compared['kind']}, "
                f"phi = {compared['loss']:.6g}; the lowest known has phi = {opt:.6g})"
            )
        closed_rows = [
            (
                "closed form a_l I",
                [(f"a_{l} I = {a[l]:.3f} I", a[l] * np.eye(d)) for l in range(L)],
                where,
            ),
            (
                "closed form b_l I",
                [(f"b_{l} I = {bb[l]:.3f} I", bb[l] * np.eye(d)) for l in range(L - 1)],
                where,
            ),
        ]
        opt_label, note = (
            "lowest loss on S found",
            (
                "B_{L-1} is not drawn: f does not depend on it."
                + (
                    " The trained rows are the mean of the verdict's 10 replicas (Levenberg-Marquardt on "
                    "importance-sampled prompts, unbiased for the population loss, refitted from one pilot "
                    "trained from a small random start); the closed-form rows are the certified critical point "
                    "the verdict compares them with."
                    if replicas
                    else ""
                )
            ),
        )
    trained = "the verdict's replicas" if replicas else "end of training"
    rows = [("trained Sigma^1/2 A_l Sigma^1/2", [(f"layer {l}", W[l]) for l in range(L)], trained)]
    if family.has_B:
        rows.append(("trained B_l", [(f"layer {l}", final["B"][l]) for l in range(L - 1)], trained))
    rows = rows[:1] + closed_rows[:1] + rows[1:] + closed_rows[1:]
    heat_gap = (
        0.0
        if replicas
        else float(
            np.linalg.norm([W[l] - a[l] * np.eye(d) for l in range(L)])
            / np.linalg.norm([a[l] * np.eye(d) for l in range(L)])
        )
    )
    heat = fg.heatmap_figure(
        rows,
        f"Claim {cid}: family {fam}, L = {L}, d = {d}, n = {n}"
        + _unconverged(f"rel. distance {heat_gap:.3g} from the closed form", heat_gap, HEAT_RTOL),
    )
    paper = (
        f" (about {', '.join(f'{-v:.2f} I' for v in PAPER_FIG2)})"
        if L == len(PAPER_FIG2)
        else f" (at L = {len(PAPER_FIG2)}, not this figure's L = {L})"
    )
    sign = (
        "Sign convention: family (8) as in eq. (8), Q_l = -[[A_l,0],[0,0]], so the trained A_l are "
        "positive multiples of Sigma^-1; the paper's Fig. 2 prints the code's Q-block, i.e. the negatives"
        f"{paper}."
        if family is FAMILY8
        else "Sign convention: family (11), Q_l = [[A_l,0],[0,0]] (no minus sign), as in the paper's Figs. 4-5."
    )
    figs = [
        Figure(
            _write(out_dir, f"{cid}_heatmaps.png", heat.png),
            "Learned against closed-form matrices",
            " ".join(x for x in (heat.caption, note, sign) if x),
            run_budget.describe(lbfgs),
        )
    ]
    dists = [
        (
            f"Dist(Sigma^1/2 A_{l} Sigma^1/2, I)",
            tr.steps,
            [dist_identity(whiten(m["A"][l], sh)) for m in tr.mats],
        )
        for l in range(L)
    ]
    if family.has_B:
        dists += [
            (f"Dist(B_{l}, I)", tr.steps, [dist_identity(m["B"][l]) for m in tr.mats])
            for l in range(L - 1)
        ]
    return figs + _loss_and_dist(
        cid,
        tr,
        out_dir,
        opt,
        opt_label,
        dists,
        [("closed form (a multiple of I)", 0.0, "--")],
        run_budget,
        lbfgs,
        f"family {fam}, L = {L}",
        population=population,
    )


def context_and_depth(cid, verdict, setting, out_dir, budget):
    """Figs. 6 and 7: loss against n (L = 3) and against L (n = 20)."""
    from theory import single_layer as sl
    from theory.critical import global_minimum_value_family8

    sigma, omega, d, n = _data(verdict)
    L = int(verdict.setting.get("layers") or 3)
    ns = list(range(2, 23)) if not budget.quick_mode else [2, 5, 10, 20]
    sw = ex.sweep([(m, L) for m in ns], sigma, omega, setting.rng("report/fig6"), budget, "n")
    exact = [float(global_minimum_value_family8(L, m, d)) for m in ns]
    series = [(k, sw.x, v) for k, v in sw.losses.items()]
    # Noiseless labels: OLS is exact for n >= d (loss ~1e-28, round-off), which would flatten the
    # other curves; the axis stops below the smallest other loss.
    floor = 0.3 * min(min(exact), *(min(v) for k, v in sw.losses.items() if k != "OLS"))
    fig6 = fg.curve_figure(
        series,
        f"Fig. 6 (scaled): loss against n, L = {L}, d = {d}",
        "number of in-context examples n",
        "test loss (log scale)",
        hlines=[("exact optimum on S (theory.critical)", (ns, exact), "--")],
        logy=True,
        markers=True,
        ylim_bottom=floor,
        integer_x=True,
        xname="n",
    )
    Ls = [1, 2, 3, 4]
    sw7 = ex.sweep([(n, l) for l in Ls], sigma, omega, setting.rng("report/fig7"), budget, "L")
    exact7 = [float(global_minimum_value_family8(l, n, d)) for l in Ls]
    one = float(sl.optimal_loss(sigma, n, omega))
    hl7 = [
        ("exact optimum on S (theory.critical)", (Ls, exact7), "--"),
        ("exact one-layer optimum (theory.single_layer)", ([1], [one]), "none"),
    ]
    pop_text = ""
    if omega is not None:  # the importance sampler draws the Theorem 3 prior w* ~ N(0, Sigma^-1)
        pop, pop_text = _fig7_population(
            Ls, sw7.thetas, exact7, sw7.losses["transformer"], sigma, n, d, setting, budget
        )
        hl7.append(
            (
                "trained transformer: population loss (importance-sampled)",
                (Ls, [e for e, _ in pop]),
                "none",
            )
        )
    fig7 = fg.curve_figure(
        [(k, sw7.x, v) for k, v in sw7.losses.items() if k != "OLS"],
        f"Fig. 7{'' if budget.paper_scale else ' (scaled)'}: loss against depth, n = {n}, d = {d}",
        "number of layers L",
        "test loss (log scale)",
        hlines=hl7,
        logy=True,
        markers=True,
        integer_x=True,
        xname="L",
    )
    steps = "; ".join(
        f"n = {x}: GD {g:.3g}, preconditioned {p:.3g}"
        for x, g, p in zip(sw.x, sw.steps["GD"], sw.steps["preconditioned GD"])
        if x in (2, 10, 20)
    )
    scaling = (
        f"each transformer (family (8)) trained by L-BFGS from a small random start on {budget.sweep_prompts} "
        f"prompts; GD step sizes tuned on the same prompts over {len(ex.STEP_GRID)} log-spaced values in "
        f"[{ex.STEP_GRID[0]:g}, {ex.STEP_GRID[-1]:g}]; test losses on {budget.test_prompts} fresh prompts."
    )
    gap = ", ".join(
        f"L = {l}: {(t - e) / e:+.3f}" for l, t, e in zip(Ls, sw7.losses["transformer"], exact7)
    )
    ols = ", ".join(f"{v:.2g}" for x, v in zip(sw.x, sw.losses["OLS"]) if x >= d)
    return [
        Figure(
            _write(out_dir, f"{cid}_fig6_context.png", fig6.png),
            "Loss against the number of in-context examples (Fig. 6)",
            f"{fig6.caption} Test loss of the trained {L}-layer transformer, {L} steps of GD and of Sigma^-1-preconditioned GD "
            f"(one step size each, tuned by grid search) and OLS (minimum-norm least squares) for n = "
            f"{ns[0]}..{ns[-1]}; dashed: the exact optimum over S, i.e. {L} preconditioned GD steps with "
            f"individually optimal step sizes. The labels carry no noise, so OLS is exact once n >= d = {d} (test "
            f"losses {ols}: round-off), below the axis. Tuned step sizes: {steps}.",
            scaling,
        ),
        Figure(
            _write(out_dir, f"{cid}_fig7_depth.png", fig7.png),
            "Loss against depth (Fig. 7)",
            f"{fig7.caption} Test loss against L = 1..4 at n = {n}; dashed: exact optimum over S per L; the single marker at "
            f"L = 1 is the exact one-layer optimum over all A (theory.single_layer.optimal_loss), which "
            f"coincides with the S optimum because A* = n/(n+d+1) Sigma^-1 lies in S. Relative gap (test loss of "
            f"the trained transformer - exact S optimum) / exact S optimum: {gap} (test-sample error and the "
            f"transformer's freedom outside S both enter; Theorem 3 claims a critical point on S, not a global "
            f"minimum).{pop_text}",
            scaling,
        ),
    ]


def _fig7_population(Ls, thetas, exact, test_losses, sigma, n, d, setting, budget):
    """Fig. 7's trained transformers at their POPULATION loss, and what that settles.

    For each L: an importance-sampled estimate of f(trained A) with its standard error
    (:func:`.experiments.population_loss`), and the exact loss of the model's projection on S
    (a_l = tr(Sigma^1/2 A_l Sigma^1/2)/d, theory.restricted).  Control: the same estimator at the
    exact S-minimiser of the largest L must reproduce its exact value (within 3 standard errors).
    """
    rng = setting.rng("report/fig7-population")
    sh, Sinv = sqrtm_psd(sigma), np.linalg.inv(sigma)
    out, parts, verdicts = [], [], []
    for L, theta, opt, test in zip(Ls, thetas, exact, test_losses):
        est, se = ex.population_loss(FAMILY8, L, n, sigma, theta, rng, budget.population_prompts)
        a = np.array([np.trace(sh @ A @ sh) / d for A in np.asarray(theta).reshape(L, d, d)])
        proj = float(
            np.asarray(FAMILY8.restricted_loss(L, n, d).evaluate(a, order=0, backend="numpy"))
        )
        where = (
            "above" if est - 2 * se > opt else "below" if est + 2 * se < opt else "within 2 SE of"
        )
        out.append((est, se))
        if test < opt and where == "above":
            verdicts.append(
                f"at L = {L} the test loss below the S optimum is the test sample missing the "
                "spectral tail: the model's population loss is above it"
            )
        elif where == "below":
            verdicts.append(
                f"at L = {L} the trained model beats the S optimum off S (Theorem 3 claims a "
                "critical point on S, not a global minimum)"
            )
        parts.append(
            f"L = {L}: {est:.4g} +- {se:.2g}, {where} the S optimum {opt:.4g} (projection on S: exact "
            f"{proj:.4g})"
        )
    best = FAMILY8.critical_points(Ls[-1], n, d)[0]
    star = np.concatenate([float(x) * Sinv.ravel() for x in best.a])
    c_est, c_se = ex.population_loss(
        FAMILY8, Ls[-1], n, sigma, star, rng, budget.population_prompts
    )
    ok = abs(c_est - exact[-1]) <= 3 * c_se
    text = (
        f" Stars (population loss of each trained transformer, unbiased importance-sampled estimate from "
        f"{budget.population_prompts} prompts, verify.population, +- one standard error): "
        f"{'; '.join(parts)}.{(' So ' + '; '.join(verdicts) + '.') if verdicts else ''} Control: the same "
        f"estimator at the exact S-minimiser for L = {Ls[-1]} gives {c_est:.4g} +- {c_se:.2g} against the "
        f"exact {exact[-1]:.4g} ({'agrees' if ok else 'DISAGREES'} within 3 standard errors)."
    )
    return out, text


def relu_layer(cid, verdict, setting, out_dir, budget):
    sigma, omega, d, n = _data(verdict)
    b = budget.scaled(2, 1, 1.0)
    tr = ex.trajectory(
        ex.RELU_LAYER, 1, n, sigma, None, setting.rng("report/relu"), b, init_std=1e-2, lbfgs=False
    )
    Bt = tr.mats[-1]["B_eff"][0]
    C = np.asarray(verdict.closed_form["Q0_top_left"], dtype=float)
    heat = fg.heatmap_figure(
        [
            ("trained (Adam)", [("B_eff = p_y Q11", Bt)], "invariant under (gP, Q/g)"),
            ("closed form", [("-2n/(n-1+2(d+2)) I", C)], "Theorem 5's Q_0 block"),
        ],
        f"Claim {cid}: ReLU layer, d = {d}, n = {n}",
    )
    figs = [
        Figure(
            _write(out_dir, f"{cid}_heatmaps.png", heat.png),
            "Learned against closed-form matrices",
            f"{heat.caption} Relative Frobenius distance {np.linalg.norm(Bt - C) / np.linalg.norm(C):.3g}.",
            b.describe(False),
        )
    ]
    dists = [("Dist(p_y Q11, I)", tr.steps, [dist_identity(m["B_eff"][0]) for m in tr.mats])]
    return figs + _loss_and_dist(
        cid,
        tr,
        out_dir,
        float(verdict.closed_form["optimal_loss"]),
        "exact optimal loss",
        dists,
        [("closed form", 0.0, "--")],
        b,
        False,
        "one ReLU layer",
    )


def build_figures(claim, verdict, setting, out_dir, budget) -> list:
    """Run the claim's figure builders (``claim.figures``); returns the Figure records in order."""
    out = []
    for builder in claim.figures:
        out += builder(claim.id, verdict, setting, Path(out_dir), budget)
    return out
