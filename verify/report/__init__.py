"""Reports: ``verify-theorem CLAIM --report DIR`` and ``verify-theorem all --report DIR``.

For each claim: run the verification (negative controls on), compute the claim's
derivations (``claim.derivation``), train and draw its figures (``claim.figures``, builders in
:mod:`.gallery`), fill its errata from the verdict (``claim.errata``), and write
``DIR/<claim>.md`` beside the PNGs; ``all`` also writes the index ``DIR/README.md`` and the
conventions page ``DIR/conventions.md`` (:mod:`verify.conventions`).
Every file is a function of the seed alone.  A claim's file set (figures and page) and the
index's (README.md, conventions.md) are each staged and moved into place as a unit
(:class:`.io.Staging`): an interrupted run leaves the previous report whole.
"""

from __future__ import annotations

from .. import conventions
from ..api import _setting, verify_theorem
from ..checks import check_at_most
from ..claims import get_claim
from ..training.kernels import prefer_wide_vectors
from .experiments import Budget
from .io import Staging
from .render import render_derivations, render_index, render_report, summary_line

__all__ = ["write_report", "write_reports", "claim_derivations", "render_derivations"]


def claim_derivations(claim_id: str, setting) -> list:
    """The claim's Derivation records at ``setting`` (exact, no training)."""
    return get_claim(claim_id).derivations(setting)


def _command(claim_id: str, options: dict, scale: str = "default") -> str:
    parts = ["verify-theorem", claim_id, "--report", "docs/"]
    if scale != "default":
        parts += ["--scale", scale]
    for key in ("d", "n", "layers", "prior", "noise", "seed"):
        v = options.get(key)
        if v is not None and not (key == "seed" and v == 0):
            parts += [f"--{key}", str(v)]
    if options.get("spectrum"):
        parts += ["--spectrum", ",".join(f"{x:g}" for x in options["spectrum"])]
    if options.get("rotate") is False:
        parts.append("--no-rotation")
    if options.get("quick"):
        parts.append("--quick")
    return " ".join(parts)


def derivation_check(derivations):
    """The report's verdict covers its derivation: a failed step that is part of the paper's
    claim fails the verdict (a failed step outside the claim says why beside it, and an argued
    step is counted as argued, not as proved)."""
    failed = [st.title for der in derivations for st in der.failures_in_claim]
    counts = "; ".join(f"{der.title}: {der.describe()}" for der in derivations)
    return check_at_most(
        "derivation shown in the report: no step of the claim failed",
        "exact",
        len(failed),
        0,
        f"exact: {counts}",
        reason=("failed: " + "; ".join(failed)) if failed else "",
        id="derivations",
    )


def write_report(
    claim_id: str,
    out_dir,
    *,
    figures: bool = True,
    progress=None,
    scale: str = "default",
    **options,
):
    """Verify one claim and write ``out_dir/<claim>.md`` (+ figures); returns (claim, verdict, n_errata).

    ``scale``: "default" (CPU-sized training behind the figures, or the quick sizes with
    ``quick``) or "paper" (the paper's protocol, :meth:`.experiments.Budget.paper`)."""
    if scale not in ("default", "paper"):
        raise ValueError(f"scale must be 'default' or 'paper'; got {scale!r}")
    prefer_wide_vectors()  # the figures' training runs: as fast as measured (an explicit opt-in)
    claim = get_claim(claim_id)
    options = {k: v for k, v in options.items() if k != "controls"}
    setting = _setting(claim, options)
    verdict = verify_theorem(claim.id, controls=True, progress=progress, **options)
    if progress is not None:
        progress.update("derivations")
    derivations = claim_derivations(claim.id, setting)
    if derivations:
        verdict.checks.append(derivation_check(derivations))
    errata = claim.errata_for(verdict)
    with Staging(out_dir) as staging:
        figs = []
        if figures:
            if progress is not None:
                progress.update("figures")
            from .gallery import build_figures

            budget = (
                Budget.paper()
                if scale == "paper"
                else Budget.quick()
                if setting.quick
                else Budget()
            )
            figs = build_figures(claim, verdict, setting, staging.path, budget)
        text = render_report(
            claim,
            verdict,
            derivations,
            hypotheses=claim.hypothesis_texts(),
            errata=errata,
            figures=figs,
            command=_command(claim.id, options, scale),
        )
        page = f"{claim.id}.md"
        staging.write(page, lambda fh: fh.write(text.encode("utf-8")))
        staging.commit(last=page)  # figures first, the page last, signals held back meanwhile
    return claim, verdict, len(errata)


def write_reports(
    claim_ids,
    out_dir,
    *,
    index: bool = False,
    figures: bool = True,
    progress_factory=None,
    scale: str = "default",
    on_done=None,
    **options,
) -> list:
    """Write the reports of ``claim_ids`` (and the index if ``index``); returns the verdicts.

    ``on_done(claim_id, verdict)`` is called as each report is written (the CLI prints its line)."""
    rows = []
    for cid in claim_ids:
        progress = progress_factory(cid) if progress_factory else None
        claim, verdict, n_errata = write_report(
            cid, out_dir, figures=figures, progress=progress, scale=scale, **options
        )
        if progress is not None:
            progress.done()
        if on_done is not None:
            on_done(cid, verdict)
        rows.append((claim, verdict, summary_line(claim, verdict, n_errata)))
    if index:
        pages = {"README.md": render_index(rows), "conventions.md": conventions.render()}
        with Staging(out_dir) as staging:
            for name, text in pages.items():
                staging.write(name, lambda fh, text=text: fh.write(text.encode("utf-8")))
            staging.commit(last="README.md")
    return [v for _, v, _ in rows]
