"""Reports: ``verify-theorem CLAIM --report DIR`` and ``verify-theorem all --report DIR``.

For each claim: run the verification (negative controls on), compute the claim's
derivations (``claim.derivation``), run its figure experiments (``claim.figures``, in
:mod:`verify.experiments.gallery`) and draw them (:mod:`.gallery`), fill its errata from the
verdict (``claim.errata``), and write ``DIR/<claim>.md`` beside the PNGs and ``DIR/<claim>.json``
(the verdict's full records and the figures' metadata).  Every run also rewrites the figures
page ``DIR/figures.md`` (the paper's Figs. 1-7 -> files, from the JSON files present); ``all``
also writes the index ``DIR/README.md`` and the conventions page ``DIR/conventions.md``
(:mod:`verify.conventions`).  Every file is a function of the seed alone.  A claim's file set
(figures, JSON and page) and the index's (README.md, conventions.md) are each staged and moved
into place as a unit (:class:`.io.Staging`): an interrupted run leaves the previous report whole.
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import conventions
from ..api import _setting, verify_theorem
from ..checks import check_at_most
from ..claims import get_claim
from ..experiments.protocol import Budget
from ..training.kernels import prefer_wide_vectors
from .io import Staging, atomic_write_text
from .render import (
    render_derivations,
    render_figures_page,
    render_index,
    render_report,
    summary_line,
)

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
    """The report's verdict covers its derivation: a computed step that is part of the paper's
    claim and failed fails the verdict (a failed step outside the claim says why beside it).
    Only computed steps count; the name says how many were computed and how many only argued."""
    steps = [st for der in derivations for st in der.steps]
    argued = sum(getattr(st, "outcome", "") == "argued" for st in steps)
    computed = len(steps) - argued
    failed = [st.title for der in derivations for st in der.failures_in_claim]
    counts = "; ".join(f"{der.title}: {der.describe()}" for der in derivations)
    return check_at_most(
        f"derivation: every computed step of the claim holds ({computed} computed"
        + (f", {argued} argued in text and not counted)" if argued else ")"),
        "exact",
        len(failed),
        0,
        f"exact: {counts}",
        reason=("failed: " + "; ".join(failed)) if failed else "",
        id="derivations",
    )


def _figure_meta(data) -> list:
    """The figures page's fields of each figure (:class:`verify.experiments.data.FigureData`)."""
    keys = ("filename", "heading", "paper_figure", "protocol", "paper_values", "ours")
    return [{k: getattr(d, k) for k in keys} for d in data]


def _records(claim, verdict, data, scale: str) -> str:
    """``<claim>.json``: the verdict's full records and the figures' metadata."""
    out = {
        "claim": claim.id,
        "title": claim.title,
        "scale": scale,
        "verdict": verdict.to_dict(),
        "figures": _figure_meta(data),
    }
    return json.dumps(out, indent=1, sort_keys=False) + "\n"


def write_figures_page(out_dir) -> None:
    """``DIR/figures.md`` from the ``<claim>.json`` files present in ``out_dir`` (registry order)."""
    from ..claims import CLAIMS

    entries = []
    for cid in CLAIMS:
        path = Path(out_dir) / f"{cid}.json"
        if path.is_file():
            try:
                entries.append(json.loads(path.read_text()))
            except (ValueError, OSError):
                continue  # not ours (another tool's file): left out
    atomic_write_text(Path(out_dir) / "figures.md", render_figures_page(entries))


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
    budget = Budget.paper() if scale == "paper" else Budget.quick() if setting.quick else Budget()
    with Staging(out_dir) as staging:
        figs, data = [], []
        if figures:
            if progress is not None:
                progress.update("figures")
            from .gallery import build_figures

            figs, data = build_figures(claim, verdict, setting, staging.path, budget)
        text = render_report(
            claim,
            verdict,
            derivations,
            hypotheses=claim.hypothesis_texts(),
            errata=errata,
            figures=figs,
            command=_command(claim.id, options, scale),
            records=f"{claim.id}.json",
        )
        records = _records(claim, verdict, data, budget.scale)
        staging.write(f"{claim.id}.json", lambda fh: fh.write(records.encode("utf-8")))
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
    write_figures_page(out_dir)
    if index:
        pages = {"README.md": render_index(rows), "conventions.md": conventions.render()}
        with Staging(out_dir) as staging:
            for name, text in pages.items():
                staging.write(name, lambda fh, text=text: fh.write(text.encode("utf-8")))
            staging.commit(last="README.md")
    return [v for _, v, _ in rows]
