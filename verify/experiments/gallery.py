"""Figure experiments of the claims' reports (each claim names its builders in ``claim.figures``).

A builder ``f(claim_id, verdict, setting, budget) -> [FigureData]`` trains the models it needs
(:mod:`.runs`, with the protocol of the paper figure it reproduces, :mod:`.protocol`) and
returns typed figure data (:mod:`.data`); the report layer only draws it.  Closed forms are
the verdict's own (its certified points, its closed form), never a separate search; the
verdict's evidence (its replica means, where the verdict carries them) is drawn beside the
training run, and a figure whose run ends away from the verdict says in its caption which run
the verdict rests on and why this one differs.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..compare import dist_identity, whiten
from ..families import FAMILY8
from ..sampling import sqrtm_psd
from . import runs as ex
from .data import Curves, Heatmaps

__all__ = ["one_layer", "multi_layer", "context_and_depth", "relu_layer", "PAPER_FIG2"]

#: The paper's Fig. 2 (L = 3, family (8)): Sigma^1/2 A_l Sigma^1/2 ~ a_l I in convention (8)
#: (reported values; the paper prints the code's Q-block, i.e. their negatives).
PAPER_FIG2 = (0.69, 0.42, 1.71)
#: The paper's Figs. 4-5 (L = 3, family (11)): B_0, B_1 ~ b_l I and Sigma^1/2 A_l Sigma^1/2 ~ a_l I
#: (reported values).
PAPER_FIG5_A = (-0.38, -2.40, -9.59)
PAPER_FIG4_B = (0.90, 0.56)

# When a run misses its target (issue 10: no figure may contradict its verdict).  Loss: relative
# gap of the final held-out loss from the exact optimum (the held-out sample's own error is
# ~1-2 % with 20000 prompts, so 5 % is optimisation left over); Dist: absolute gap from the
# closed form's Dist; heat maps: relative Frobenius distance.
LOSS_RTOL, DIST_ATOL, HEAT_RTOL = 0.05, 0.05, 0.10
#: A run is "still moving" until its held-out loss stays within this relative band of its end.
SETTLED = 0.02

# Colours of the Dist curves, as in the paper's Figs. 1 and 3: blue Dist(Sigma^1/2 A_l Sigma^1/2, I),
# red Dist(A_l, I); green Dist(B_l, I); one line style per layer.
_STYLES = ("-", "--", ":", "-.")


def _unconverged(what: str, gap: float, tol: float) -> str:
    """A title line for a run that missed its target, '' when it met it."""
    return "" if gap <= tol else f"\nAdam run not converged: {what} (tol. {tol:g})"


def _data(verdict):
    sigma = np.asarray(verdict.setting["sigma"], dtype=float)
    omega = None if verdict.setting.get("prior", "identity") == "identity" else np.linalg.inv(sigma)
    return sigma, omega, int(verdict.setting["d"]), int(verdict.setting["n"])


def _rel(A, C) -> float:
    C = np.asarray(C, dtype=float)
    return float(np.linalg.norm(np.asarray(A, dtype=float) - C) / np.linalg.norm(C))


def _settled_at(tr) -> int:
    """The first recorded step after which the held-out loss stays within SETTLED of its end."""
    final = tr.loss[-1]
    step = tr.steps[-1]
    for s, f in zip(reversed(tr.steps), reversed(tr.loss)):
        if abs(f - final) > SETTLED * abs(final):
            break
        step = s
    return int(step)


def _stall_sentence(tr, protocol, optimum: float, rests_on: str) -> str:
    """Why a curve ends above the optimum (empty when it does not): where the run settled and
    its step size then, computed from the run and its schedule."""
    gap = (tr.loss[-1] - optimum) / optimum
    if gap <= LOSS_RTOL:
        return ""
    s = _settled_at(tr)
    if s >= tr.steps[-1]:  # no plateau: the loss still moved at the last record
        return (
            f" This run ends {100 * gap:.0f} % above the optimum and was still moving at its last "
            f"step ({tr.steps[-1]} steps are the protocol's); the verdict does not rest on it but on "
            f"{rests_on}."
        )
    lr = protocol.lr * 0.5 ** (min(s, protocol.steps) // protocol.halve_every)
    return (
        f" This run ends {100 * gap:.0f} % above the optimum: its held-out loss stayed within "
        f"{100 * SETTLED:g} % of its last value from step {s} on, when the schedule (halved every "
        f"{protocol.halve_every} steps) had brought the step size to {lr:.2g}; the verdict does not "
        f"rest on it but on {rests_on}."
    )


def _dist_series(label, steps, values, color, layer):
    return (label, steps, values, {"color": color, "linestyle": _STYLES[layer % len(_STYLES)]})


def _endpoint_sentence(tr, optimum: float, end, prompts: int) -> str:
    """The Adam run's end point at its population loss, and what that says about its curve."""
    if end is None:
        return ""
    est, se = end
    final = tr.loss[-1]
    text = (
        f" Population loss of the run's end point: {est:.4g} +- {se:.2g} (importance-sampled, "
        f"{prompts} prompts, verify.population)"
    )
    if final < optimum:
        text += (
            f"; its held-out loss {final:.4g} is below the optimum {optimum:.6g} because 20000 plain "
            "prompts miss the heavy tail of this loss, not because the optimum is beaten"
            if est >= optimum - 2 * se
            else f"; below the optimum {optimum:.6g} by more than 2 standard errors"
        )
    return text + "."


def _loss_and_dist(
    cid,
    tr,
    optimum,
    opt_label,
    dists,
    dist_refs,
    scaling,
    ctx,
    population=None,
    end=None,
    prompts=0,
):
    """The training-curve and Dist figures of one trajectory.

    ``ctx``: dict with ``what`` (the model), ``protocol`` (the run's), ``paper_figure``,
    ``rests_on`` (the evidence the verdict uses), ``paper_values``/``ours`` for the figures page.
    ``population``: a :class:`.runs.PopulationRun` drawn beside the paper's protocol."""
    protocol = ctx["protocol"]
    switch = "Adam -> L-BFGS" if tr.switch else ""
    final = tr.loss[-1]
    loss_note = _unconverged(
        f"final loss {final:.3g} vs {optimum:.3g}", abs(final - optimum) / optimum, LOSS_RTOL
    )
    if end is not None:  # the held-out sample's loss is biased here; say both
        loss_note = (
            f"\nend of the run: held-out loss {final:.3g}, population loss {end[0]:.3g}; "
            f"optimum {optimum:.3g}"
        )
    series = [("held-out loss (Adam run)", tr.steps, tr.loss)]
    extra = ""
    if population is not None:
        series.append(
            (
                f"population-loss trainer (importance-sampled Adam, minibatch {population.batch})",
                population.steps,
                population.loss,
            )
        )
        pgap = (population.loss[-1] - optimum) / optimum
        extra = (
            f" Second curve: Adam on importance-sampled minibatches (verify.population), whose every "
            f"gradient is unbiased for the population loss; each point is the mean of its unbiased "
            f"minibatch estimates over {max(1, population.steps[0])} steps; last "
            f"{population.loss[-1]:.4g}"
            + (
                f", {100 * pgap:.0f} % above the optimum: it runs only {population.steps[-1] + 1} steps "
                f"(an illustration of unbiased training from a small start, not the verdict's evidence)."
                if pgap > LOSS_RTOL
                else "."
            )
        )
    where = ctx.get("paper_figure", "")
    cite = (
        f"paper: {where}"
        if where
        else "the paper has no figure for this claim; drawn like its Figs. 1 and 3"
    )
    loss = Curves(
        f"{cid}_loss.png",
        "Training loss against the exact optimum",
        f"Claim {cid}: training loss ({ctx['what']}){loss_note}",
        caption=(
            f"The optimum is computed exactly by the package ({cite}).{extra}"
            + _endpoint_sentence(tr, optimum, end, prompts)
            + _stall_sentence(tr, protocol, optimum, ctx["rests_on"])
        ),
        scaling=scaling,
        paper_figure=where,
        protocol=protocol.describe(),
        paper_values=ctx.get("paper_loss", ""),
        ours=f"final held-out loss {final:.4g} (optimum {optimum:.6g})",
        series=series,
        xlabel="iteration (Adam steps, then L-BFGS iterations)" if tr.switch else "Adam step",
        ylabel="loss (log scale)",
        hlines=[(opt_label, optimum, "--")],
        options=dict(vline=tr.switch, vline_label=switch, logy=True, xname="iteration"),
    )
    refs = [float(y) for _, y, _ in dist_refs]
    ends = [s[2][-1] for s in dists if s[0].startswith(ctx["dist_prefix"])]
    gap = max(abs(e - refs[0]) for e in ends)
    dist_note = _unconverged(
        f"final Dist {max(ends):.3g} vs closed form {refs[0]:.3g}", gap, DIST_ATOL
    )
    dist_extra = ""
    if gap > DIST_ATOL:
        dist_extra = (
            f" The Adam run ends with Dist up to {gap + refs[0]:.3g} against the closed form's "
            f"{refs[0]:.3g}; the verdict does not rest on it but on {ctx['rests_on']}."
        )
    red = (
        " Red: Dist(A_l, I) of the raw matrices, which stays away from 0 because the minimiser is a "
        "multiple of Sigma^-1, not of I (as in the paper's figures)."
        if any(s[0].startswith("Dist(A_") for s in dists)
        else ""
    )
    dist = Curves(
        f"{cid}_dist.png",
        "Dist(M, I) against iterations",
        f"Claim {cid}: Dist(M, I) along training{dist_note}",
        caption=(f"Dist(M, I) = min_a ||M - a I||_F / ||M||_F ({cite}).{red}{dist_extra}"),
        scaling=scaling,
        paper_figure=where,
        protocol=protocol.describe(),
        paper_values=ctx.get("paper_dist", ""),
        ours="final " + ", ".join(f"{lab}: {y[-1]:.3g}" for lab, _, y, *st in dists),
        series=dists,
        xlabel="iteration",
        ylabel="Dist(M, I)",
        hlines=dist_refs,
        options=dict(vline=tr.switch, vline_label=switch),
    )
    return [loss, dist]


# --- claim 1: one unconstrained layer ----------------------------------------------------


def one_layer(cid, verdict, setting, budget):
    sigma, omega, d, n = _data(verdict)
    b = budget.scaled(4, 2, 1.6)
    protocol = b.protocol("figs1-2", init_std=1e-2)
    tr = ex.trajectory(
        ex.UNCONSTRAINED, 1, n, sigma, omega, setting.rng("report/one-layer"), b, protocol, False
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
        )
    ]
    rel = _rel(A, C)
    mean = verdict.artifacts.get("A_full_mean")
    rests_on = "the mean of its all-(P, Q) replicas, each fitted to its stopping rule (row 2)"
    title = f"Claim {cid}: learned vs closed-form preconditioner (d = {d}, n = {n})"
    if mean is not None:
        rows.append(
            (
                "the verdict's replicas",
                [("mean A_eff", mean), ("Sigma^1/2 mean A_eff Sigma^1/2", whiten(mean, sh))],
                "the mean of the verdict's kept all-(P, Q) replicas",
            )
        )
        title += f"\nverdict's replicas: rel. distance {_rel(mean, C):.3g}; Adam run: {rel:.3g}"
    else:
        title += _unconverged(f"rel. distance {rel:.3g} from Gamma^-1", rel, HEAT_RTOL)
    rows.append(
        (
            "closed form",
            [("Gamma^-1 (eq. 6)", G), ("Sigma^1/2 Gamma^-1 Sigma^1/2", whiten(G, sh))],
            "eq. (6)",
        )
    )
    why = (
        f" The verdict rests on {rests_on}, at relative Frobenius distance {_rel(mean, C):.3g} from the "
        f"closed form; row 1 is one Adam run of the protocol below, at {rel:.3g}"
        + (
            " (the loss is flat along the small eigenvalues of Sigma, which Adam at this schedule "
            "does not finish)."
            if rel > HEAT_RTOL
            else "."
        )
        if mean is not None
        else f" Relative Frobenius distance of A_eff from Gamma^-1 after training: {rel:.3g}."
    )
    scaling = b.describe(protocol, False)
    heat = Heatmaps(
        f"{cid}_heatmaps.png",
        "Learned against closed-form matrices",
        title,
        caption=why.strip(),
        scaling=scaling,
        protocol=protocol.describe(),
        ours=f"rel. distance from Gamma^-1: Adam run {rel:.3g}"
        + (f", verdict's replicas {_rel(mean, C):.3g}" if mean is not None else ""),
        rows=rows,
    )
    dists = [
        _dist_series(
            "Dist(Sigma^1/2 A_eff Sigma^1/2, I)",
            tr.steps,
            [dist_identity(whiten(m["A_eff"][0], sh)) for m in tr.mats],
            "tab:blue",
            0,
        )
    ]
    refs = [("Gamma^-1 (closed form)", dist_identity(whiten(G, sh)), "--")]
    ctx = dict(what="one layer, all P, Q", protocol=protocol, rests_on=rests_on, dist_prefix="Dist")
    return [heat] + _loss_and_dist(
        cid,
        tr,
        float(verdict.closed_form["optimal_loss"]),
        "exact optimal loss f(Gamma^-1)",
        dists,
        refs,
        scaling,
        ctx,
    )


# --- claims 2, 3, 4: several layers -----------------------------------------------------


def _match(trained, closed):
    """Layer permutation of ``closed`` nearest to ``trained`` (Lemma 4: any order is optimal)."""
    perms = itertools.permutations(range(len(closed)))
    best = min(
        perms, key=lambda p: sum((trained[l] - closed[p[l]]) ** 2 for l in range(len(closed)))
    )
    return [closed[best[l]] for l in range(len(closed))]


def _verdict_point(verdict, family, L):
    """(a, b, loss, where) of the point the verdict certifies or compares with; None if it has none.

    Family (8): the proved global minimum on S (claim 3's certified list; claim 2's restricted
    optimum).  Family (11): the certified point the verdict compares its replicas with, else the
    lowest certified point of its list."""
    cf = verdict.closed_form
    cps = cf.get("critical_points") or []
    if not family.has_B:
        if "restricted_a_star_float" in cf:
            return (
                list(cf["restricted_a_star_float"]),
                None,
                float(cf["restricted_minimum"]),
                "the verdict's exact restricted optimum on S",
            )
        best = [c for c in cps if c.get("is_global_minimum_on_S")] or sorted(
            cps, key=lambda c: c["loss_float"]
        )
        if not best:
            return None
        return (
            list(best[0]["a"]),
            None,
            float(best[0]["loss_float"]),
            "the verdict's certified global minimiser on S (theory.critical), its layers ordered "
            "like the trained ones (Lemma 4)",
        )
    compared = (verdict.artifacts.get("population") or {}).get("compared")
    if cps:
        low = min(cps, key=lambda c: c["loss_float"])
    if compared:
        return (
            list(compared["a"]),
            list(compared["b"]),
            float(compared["loss"]),
            f"the certified critical point the verdict compares its replicas with (a "
            f"{compared.get('kind')}, phi = {float(compared['loss']):.6g}"
            + (f"; the lowest certified has phi = {low['loss_float']:.6g})" if cps else ")"),
        )
    if cps:
        return (
            list(low["a"]),
            list(low["b"]),
            float(low["loss_float"]),
            "the lowest certified critical point of the verdict's list",
        )
    return None


def multi_layer(cid, verdict, setting, budget, family, L):
    sigma, omega, d, n = _data(verdict)
    L = int(verdict.setting.get("layers") or L)
    kind = family.name  # the random stream's name (same seed, same numbers as before)
    rng = setting.rng(f"report/{kind}")
    # Family (11) at small n has heavy-tailed losses (high powers of the sample covariance): a
    # fixed-sample L-BFGS continuation overfits them, so it is trained by Adam alone.
    # At the paper's scale: the notebook's protocol alone (no continuation).
    lbfgs = not family.has_B and not budget.paper_scale
    figures = "figs3-5" if family.has_B else "figs1-2"
    protocol = budget.protocol(figures, init_std=1e-2 if family.has_B else 1e-4)
    tr = ex.trajectory(family, L, n, sigma, omega, rng, budget, protocol, lbfgs=lbfgs)
    population = end = None
    if omega is not None:  # the importance sampler draws the Theorem 3-4 prior w* ~ N(0, Sigma^-1)
        population = ex.population_run(
            family, L, n, sigma, setting.rng(f"report/population-{kind}"), budget, protocol.init_std
        )
        # the Adam run's end point at its POPULATION loss (the held-out sample misses the tail)
        end = ex.population_loss(
            family,
            L,
            n,
            sigma,
            tr.theta,
            setting.rng(f"report/endpoint-{kind}"),
            budget.population_prompts,
        )
    sh = sqrtm_psd(sigma)
    final = tr.mats[-1]
    W = [whiten(A, sh) for A in final["A"]]
    scal = [float(np.trace(M)) / d for M in W]
    fam = f"({family.equation})"
    point = _verdict_point(verdict, family, L)
    rep_A = verdict.artifacts.get("A_white")
    rep_B = verdict.artifacts.get("B")
    rows = [
        ("trained Sigma^1/2 A_l Sigma^1/2", [(f"layer {l}", W[l]) for l in range(L)], "Adam run")
    ]
    if rep_A is not None:
        rows.append(
            (
                "verdict's Sigma^1/2 A_l Sigma^1/2",
                [(f"layer {l}", rep_A[l]) for l in range(L)],
                "mean of the verdict's replicas",
            )
        )
    a = bb = a_rep = None
    if point is not None:
        a, bb, opt, where = point
        a_rep = a
        if not family.has_B:  # each trained row against the layer order nearest to it
            if rep_A is not None:
                a_rep = _match([float(np.trace(M)) / d for M in rep_A], a)
            a = _match(scal, a)
        rows.append(
            (
                "closed form a_l I",
                [(f"a_{l} I = {a[l]:.3f} I", a[l] * np.eye(d)) for l in range(L)],
                where,
            )
        )
        opt_label = (
            "exact global minimum on S" if not family.has_B else "certified phi at that point"
        )
    else:
        opt = float("nan")
        opt_label = ""
    if family.has_B:
        rows.append(
            ("trained B_l", [(f"layer {l}", final["B"][l]) for l in range(L - 1)], "Adam run")
        )
        if rep_B is not None:
            rows.append(
                (
                    "verdict's B_l",
                    [(f"layer {l}", rep_B[l]) for l in range(L - 1)],
                    "mean of the verdict's replicas",
                )
            )
        if bb is not None:
            rows.append(
                (
                    "closed form b_l I",
                    [(f"b_{l} I = {bb[l]:.3f} I", bb[l] * np.eye(d)) for l in range(L - 1)],
                    where,
                )
            )
    title = f"Claim {cid}: family {fam}, L = {L}, d = {d}, n = {n}"
    heat_gap = (
        _rel(np.array(W), np.array([x * np.eye(d) for x in a])) if a is not None else float("nan")
    )
    if rep_A is not None and a is not None:
        rep_gap = _rel(np.array(rep_A), np.array([x * np.eye(d) for x in a_rep]))
        title += f"\nverdict's replicas: rel. distance {rep_gap:.3g}; Adam run: {heat_gap:.3g}"
    elif a is not None:
        title += _unconverged(
            f"rel. distance {heat_gap:.3g} from the closed form", heat_gap, HEAT_RTOL
        )
    rests_on = (
        "the mean of its replicas (drawn in the heat maps) and the certified points of phi on S"
        if rep_A is not None
        else "its own replicas and the exact critical points of phi on S (see the checks)"
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
        if not family.has_B
        else "Sign convention: family (11), Q_l = [[A_l,0],[0,0]] (no minus sign), as in the paper's Figs. 4-5."
    )
    notes = []
    if family.has_B:
        notes.append("B_{L-1} is not drawn: f does not depend on it.")
        notes.append(
            "The Adam run trains on plain samples, as the paper does; the verdict's replicas train on "
            "importance-sampled prompts, whose loss is unbiased for f (on plain samples the heavy "
            "tail of this loss is missed, see the errata)."
        )
    if rep_A is not None and a is not None:
        notes.append(
            f"The verdict rests on the rows 'verdict's ...' (the mean of its replicas, at relative "
            f"distance {rep_gap:.3g} from the closed form); the rows 'trained' are one Adam run of the "
            f"protocol below, at {heat_gap:.3g}."
        )
    if point is None:
        notes.append(
            "The verdict certified no critical point at this setting, so no closed-form row is drawn."
        )
    is_paper = L == 3 and d == 5 and omega is not None  # the setting of the paper's Figs. 1-5
    heat_fig = ("Figs. 4-5" if family.has_B else "Fig. 2") if is_paper else ""
    paper_heat = (
        f"Sigma^1/2 A_l Sigma^1/2 ~ {', '.join(f'{v:g} I' for v in PAPER_FIG5_A)}; B_l ~ "
        f"{', '.join(f'{v:g} I' for v in PAPER_FIG4_B)}"
        if family.has_B
        else f"Sigma^1/2 A_l Sigma^1/2 ~ {', '.join(f'{-v:g} I' for v in PAPER_FIG2)} (code's sign)"
    )
    ours_heat = "Adam run a_l = " + ", ".join(f"{x:.3g}" for x in scal)
    if family.has_B:
        ours_heat += "; b_l = " + ", ".join(
            f"{float(np.trace(final['B'][l])) / d:.3g}" for l in range(L - 1)
        )
    if a is not None:
        ours_heat += "; closed form a_l = " + ", ".join(f"{x:.3g}" for x in a)
        if bb is not None:
            ours_heat += ", b_l = " + ", ".join(f"{x:.3g}" for x in bb[: L - 1])
    scaling = budget.describe(protocol, lbfgs)
    figs = [
        Heatmaps(
            f"{cid}_heatmaps.png",
            "Learned against closed-form matrices",
            title,
            caption=" ".join(notes + [sign]),
            scaling=scaling,
            paper_figure=heat_fig,
            protocol=protocol.describe(),
            paper_values=paper_heat if heat_fig else "",
            ours=ours_heat,
            rows=rows,
            # family (11): the b_l (about 1) would wash out beside the a_l (up to about 10)
            groups=["A_l" if "B_l" not in r[0] and "b_l" not in r[0] else "B_l" for r in rows]
            if family.has_B
            else None,
        )
    ]
    dists = [
        _dist_series(
            f"Dist(Sigma^1/2 A_{l} Sigma^1/2, I)",
            tr.steps,
            [dist_identity(whiten(m["A"][l], sh)) for m in tr.mats],
            "tab:blue",
            l,
        )
        for l in range(L)
    ]
    if omega is not None and not np.allclose(sigma, np.eye(d)):
        dists += [
            _dist_series(
                f"Dist(A_{l}, I)",
                tr.steps,
                [dist_identity(m["A"][l]) for m in tr.mats],
                "tab:red",
                l,
            )
            for l in range(L)
        ]
    if family.has_B:
        dists += [
            _dist_series(
                f"Dist(B_{l}, I)",
                tr.steps,
                [dist_identity(m["B"][l]) for m in tr.mats],
                "tab:green",
                l,
            )
            for l in range(L - 1)
        ]
    curve_fig = ("Fig. 3" if family.has_B else "Fig. 1") if is_paper else ""
    ctx = dict(
        what=f"family {fam}, L = {L}",
        protocol=protocol,
        rests_on=rests_on,
        paper_figure=curve_fig,
        dist_prefix=("Dist(Sigma", "Dist(B"),
        paper_loss=(
            "log loss reaches about -6 to -7"
            if family.has_B
            else "log loss from about 1.5 to about -2"
        )
        if is_paper
        else "",
        paper_dist="Dist(Sigma^1/2 A_l Sigma^1/2, I) -> 0 (blue); Dist(A_l, I) stays away from 0 (red)"
        if is_paper
        else "",
    )
    if point is None:
        return figs
    return figs + _loss_and_dist(
        cid,
        tr,
        opt,
        opt_label,
        dists,
        [("closed form (a multiple of I)", 0.0, "--")],
        scaling,
        ctx,
        population=population,
        end=end,
        prompts=budget.population_prompts,
    )


def context_and_depth(cid, verdict, setting, budget):
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
    fig6 = dict(
        series=series,
        title=f"Fig. 6 (scaled): loss against n, L = {L}, d = {d}",
        xlabel="number of in-context examples n",
        ylabel="test loss (log scale)",
        hlines=[("exact optimum on S (theory.critical)", (ns, exact), "--")],
        options=dict(logy=True, markers=True, ylim_bottom=floor, integer_x=True, xname="n"),
    )
    Ls = [1, 2, 3, 4]
    p7 = budget.protocol("fig7", 1e-4) if budget.paper_scale else None  # its notebook's Adam
    sw7 = ex.sweep(
        [(n, l) for l in Ls], sigma, omega, setting.rng("report/fig7"), budget, "L", protocol=p7
    )
    exact7 = [float(global_minimum_value_family8(l, n, d)) for l in Ls]
    one = float(sl.optimal_loss(sigma, n, omega))
    hl7 = [
        ("exact optimum on S (theory.critical)", (Ls, exact7), "--"),
        ("exact one-layer optimum (theory.single_layer)", ([1], [one]), "o"),
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
    fig7 = dict(
        series=[(k, sw7.x, v) for k, v in sw7.losses.items() if k != "OLS"],
        title=f"Fig. 7{'' if budget.paper_scale else ' (scaled)'}: loss against depth, n = {n}, d = {d}",
        xlabel="number of layers L",
        ylabel="test loss (log scale)",
        hlines=hl7,
        options=dict(logy=True, markers=True, integer_x=True, xname="L"),
    )
    steps = "; ".join(
        f"n = {x}: GD {g:.3g}, preconditioned {p:.3g}"
        for x, g, p in zip(sw.x, sw.steps["GD"], sw.steps["preconditioned GD"])
        if x in (2, 10, 20)
    )
    lbfgs = (
        f"each transformer (family (8)) trained by L-BFGS from a small random start on {budget.sweep_prompts} "
        f"prompts"
    )
    tuned = (
        f"; GD step sizes tuned on {budget.sweep_prompts} prompts over {len(ex.STEP_GRID)} log-spaced values in "
        f"[{ex.STEP_GRID[0]:g}, {ex.STEP_GRID[-1]:g}]; test losses on {budget.test_prompts} fresh prompts."
    )
    gap = ", ".join(
        f"L = {l}: {(t - e) / e:+.3f}" for l, t, e in zip(Ls, sw7.losses["transformer"], exact7)
    )
    ols = ", ".join(f"{v:.2g}" for x, v in zip(sw.x, sw.losses["OLS"]) if x >= d)
    # Fig. 6's notebook draws a fresh minibatch of 40000 prompts at every one of its 8000 steps per
    # n: 0.44 s a step on two cores at n = 20 (measured: sampling 0.34 s, summaries 0.08 s), about
    # an hour per n, so the transformer is fitted by L-BFGS here at every scale.
    p6 = (
        "L-BFGS on a fixed sample, not the notebook `variable_N_exp`'s Adam (8000 steps on a fresh "
        "minibatch of 40000 prompts every step: about an hour per n on two CPU cores)"
    )
    scaling6 = lbfgs + tuned
    if p7 is None:
        p7_text, scaling7 = "L-BFGS on a fixed sample (CPU scale)", lbfgs + tuned
    else:
        p7_text = p7.describe()
        scaling7 = f"each transformer (family (8)) trained by {p7_text}" + tuned
    return [
        Curves(
            f"{cid}_fig6_context.png",
            "Loss against the number of in-context examples (Fig. 6)",
            caption=f"Test loss of the trained {L}-layer transformer, {L} steps of GD and of Sigma^-1-preconditioned GD "
            f"(one step size each, tuned by grid search) and OLS (minimum-norm least squares) for n = "
            f"{ns[0]}..{ns[-1]}; dashed: the exact optimum over S, i.e. {L} preconditioned GD steps with "
            f"individually optimal step sizes. The labels carry no noise, so OLS is exact once n >= d = {d} (test "
            f"losses {ols}: round-off), below the axis. Tuned step sizes: {steps}.",
            scaling=scaling6,
            paper_figure="Fig. 6",
            protocol=p6,
            paper_values="curves only (no printed values): the transformer tracks preconditioned GD and beats GD",
            ours=f"n = {sw.x[-1]}: transformer {sw.losses['transformer'][-1]:.3g}, preconditioned GD "
            f"{sw.losses['preconditioned GD'][-1]:.3g}, GD {sw.losses['GD'][-1]:.3g}, exact S optimum {exact[-1]:.3g}",
            **fig6,
        ),
        Curves(
            f"{cid}_fig7_depth.png",
            "Loss against depth (Fig. 7)",
            caption=f"Test loss against L = 1..4 at n = {n}; dashed: exact optimum over S per L; the circle at "
            f"L = 1 is the exact one-layer optimum over all A (theory.single_layer.optimal_loss), which "
            f"coincides with the S optimum because A* = n/(n+d+1) Sigma^-1 lies in S. Relative gap (test loss of "
            f"the trained transformer - exact S optimum) / exact S optimum: {gap} (test-sample error and the "
            f"transformer's freedom outside S both enter; Theorem 3 claims a critical point on S, not a global "
            f"minimum).{pop_text}",
            scaling=scaling7,
            paper_figure="Fig. 7",
            protocol=p7_text,
            paper_values="curves only (no printed values): the transformer's log loss falls with L, below GD's",
            ours="transformer "
            + ", ".join(f"L = {l}: {t:.3g}" for l, t in zip(Ls, sw7.losses["transformer"]))
            + "; exact S optimum "
            + ", ".join(f"{e:.3g}" for e in exact7),
            **fig7,
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


def relu_layer(cid, verdict, setting, budget):
    sigma, omega, d, n = _data(verdict)
    b = budget.scaled(2, 1, 1.0)
    protocol = b.protocol("figs1-2", init_std=1e-2)
    tr = ex.trajectory(
        ex.RELU_LAYER, 1, n, sigma, None, setting.rng("report/relu"), b, protocol, lbfgs=False
    )
    Bt = tr.mats[-1]["B_eff"][0]
    C = np.asarray(verdict.closed_form["Q0_top_left"], dtype=float)
    rows = [("trained (Adam)", [("B_eff = p_y Q11", Bt)], "invariant under (gP, Q/g)")]
    mean = verdict.artifacts.get("B_eff_mean")
    rests_on = "the mean B_eff of its ReLU replicas, each fitted to its stopping rule (row 2)"
    title = f"Claim {cid}: ReLU layer, d = {d}, n = {n}"
    rel = _rel(Bt, C)
    if mean is not None:
        rows.append(("the verdict's replicas", [("mean B_eff", mean)], "mean of the kept replicas"))
        title += f"\nverdict's replicas: rel. distance {_rel(mean, C):.3g}; Adam run: {rel:.3g}"
    rows.append(("closed form", [("-2n/(n-1+2(d+2)) I", C)], "Theorem 5's Q_0 block"))
    why = (
        f"Relative Frobenius distance of the Adam run's B_eff from the closed form: {rel:.3g}."
        + (f" The verdict rests on {rests_on}, at {_rel(mean, C):.3g}." if mean is not None else "")
    )
    scaling = b.describe(protocol, False)
    heat = Heatmaps(
        f"{cid}_heatmaps.png",
        "Learned against closed-form matrices",
        title,
        caption=why,
        scaling=scaling,
        protocol=protocol.describe(),
        ours=f"rel. distance from the closed form: Adam run {rel:.3g}"
        + (f", verdict's replicas {_rel(mean, C):.3g}" if mean is not None else ""),
        rows=rows,
    )
    dists = [
        _dist_series(
            "Dist(p_y Q11, I)",
            tr.steps,
            [dist_identity(m["B_eff"][0]) for m in tr.mats],
            "tab:blue",
            0,
        )
    ]
    ctx = dict(what="one ReLU layer", protocol=protocol, rests_on=rests_on, dist_prefix="Dist")
    return [heat] + _loss_and_dist(
        cid,
        tr,
        float(verdict.closed_form["optimal_loss"]),
        "exact optimal loss",
        dists,
        [("closed form", 0.0, "--")],
        scaling,
        ctx,
    )
