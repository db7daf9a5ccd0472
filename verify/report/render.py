"""Markdown for GitHub: a claim's report (statement to verdict) and the index of claims.

Everything here is a pure function of records (claim, verdict, derivations, figures), so the
same records give the same bytes: numbers are printed at fixed precision, nothing reads the
clock or the file system.  Math uses GitHub's syntax: ``$...$`` inline and fenced
``math`` blocks.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..checks import refers_to
from ..markdown import Markup, code_span, escape_cell, escape_text, fmt_number, table
from .tables import matrix_table, value_tables

__all__ = [
    "DERIVATION_BEGIN",
    "DERIVATION_END",
    "Figure",
    "render_derivations",
    "render_figures_page",
    "render_index",
    "render_report",
    "summary_line",
]

#: Markers around the symbolic part of a report (regenerated and compared by the tests).
DERIVATION_BEGIN = "<!-- derivation: begin (generated from theory/, exact) -->"
DERIVATION_END = "<!-- derivation: end -->"

#: Longest formula typeset as math; longer ones (expanded polynomials) are shown as source.
MAX_MATH_CHARS = 1500


@dataclass(frozen=True)
class Figure:
    """A PNG written beside the report: file name, title, caption, scaling against the paper."""

    filename: str
    title: str
    caption: str
    scaling: str = ""


_text = escape_text


def _num(x, digits: int = 4) -> str:
    return fmt_number(x, digits)


def _sci(x) -> str:
    x = float(x)
    return f"{x:.3e}" if math.isfinite(x) else str(x)


#: LaTeX commands whose argument is text, not mathematics.
_TEXT_COMMAND = re.compile(r"\\(?:text|mathrm|operatorname|textrm|mbox|textbf|textit)\{[^{}]*\}")
#: Four or more English words in a row (letters only, two or more each) is prose.
_WORD = r"[A-Za-z]{2,}[,.;:]?"
_PROSE = re.compile(rf"(?<![\\\w]){_WORD}(?: {_WORD}){{3,}}")


def is_prose(s: str) -> bool:
    """True when ``s`` reads as English rather than a formula (outside ``\\text{...}``)."""
    return bool(_PROSE.search(_TEXT_COMMAND.sub(" ", s)))


def _is_latex(s: str) -> bool:
    return ("\\" in s or "{" in s) and not is_prose(s)


def _formula(latex: str, indent: str) -> list:
    """A step's formula, indented to sit inside its list item.

    LaTeX becomes a math block; prose (a statement in words) a paragraph; a short plain
    formula an inline code span; an over-long formula (expanded polynomial) its source.
    """
    latex = latex.strip()
    if not latex:
        return []
    if is_prose(latex):
        return [indent + _text(" ".join(latex.split()))]
    if not _is_latex(latex):
        return [indent + code_span(latex)]
    if len(latex) > MAX_MATH_CHARS:
        return [
            indent
            + "<details><summary>formula: "
            + f"{len(latex)} characters of LaTeX, too long to "
            "typeset (expanded polynomial); source</summary>",
            "",
            indent + "```latex",
            indent + latex,
            indent + "```",
            "",
            indent + "</details>",
        ]
    return [indent + "```math", indent + latex, indent + "```"]


#: How each outcome of a derivation step reads (theory.derivation: proved / argued / failed).
_OUTCOME = {"proved": "proved", "argued": "*argued* (in text, not run)", "failed": "**FAILED**"}
#: The same outcomes in a step count ("3 proved, 1 argued, 1 failed").
_COUNTED = {
    "proved": "proved by computation in this run",
    "argued": "argued in text (not run)",
    "failed": "failed",
}


def _outcome(step) -> str:
    """A step's outcome: ``proved`` / ``argued`` / ``failed`` (records without one: from ``holds``)."""
    outcome = getattr(step, "outcome", None)
    if outcome is not None:
        return str(outcome)
    return "proved" if step.holds else "failed"


def _outcome_counts(steps) -> str:
    counts = {}
    for st in steps:
        counts[_outcome(st)] = counts.get(_outcome(st), 0) + 1
    order = [k for k in _COUNTED if k in counts] + sorted(k for k in counts if k not in _COUNTED)
    return ", ".join(f"{counts[k]} {_COUNTED.get(k, k)}" for k in order)


def _result(step) -> str:
    """A step's outcome in words, and for a failed step outside the paper's claim, why."""
    outcome = _outcome(step)
    text = _OUTCOME.get(outcome, _text(outcome))
    outside = getattr(step, "outside_claim", "")
    if outcome == "failed" and outside:
        text += f"; not part of the paper's claim: {_text(' '.join(str(outside).split()))}"
    return text


def render_derivations(derivations) -> str:
    """The derivation section: each derivation as numbered steps with formula and check.

    Steps are numbered on across derivations; the blocks of a step (formula, check, remark)
    are indented by the width of its marker (``9. `` is 3 wide, ``10. `` is 4) so that a
    CommonMark renderer keeps them inside the step's list item.
    """
    out = [DERIVATION_BEGIN, "", "## Derivation", ""]
    if not derivations:
        out += ["No symbolic derivation is registered for this claim.", ""]
    number = 0
    for der in derivations:
        out += [
            f"### {_text(der.title)}",
            "",
            f"Source: {_text(der.source)}. {len(der.steps)} steps: {_outcome_counts(der.steps)}.",
            "",
        ]
        for st in der.steps:
            number += 1
            marker = f"{number}. "
            pad = " " * len(marker)
            out.append(f"{marker}**{_text(st.title)}**")
            out += [""] + _formula(st.latex, pad) + [""]
            how = "Argued in" if _outcome(st) == "argued" else "Checked by"
            out.append(f"{pad}{how}: {_text(st.method)}. Result: {_result(st)}.")
            if st.detail:
                out += ["", pad + _text(" ".join(str(st.detail).split()))]
            out.append("")
    out += [DERIVATION_END, ""]
    return "\n".join(out)


def _setting_rows(setting: dict) -> list:
    rows = []
    for k, v in setting.items():
        if k in ("sigma", "omega"):
            continue
        if isinstance(v, (list, tuple)):
            v = ", ".join(_num(x) for x in v)
        rows.append((k, v))
    return table(["parameter", "value"], rows)


def _status_cell(status: str) -> Markup:
    """``passed`` plain, ``inconclusive`` in italics, anything else (``failed``) in bold capitals."""
    if status == "passed":
        return Markup("passed")
    if status == "inconclusive":
        return Markup("*inconclusive*")
    return Markup(f"**{_text(status.upper())}**")


def _checks_table(checks) -> list:
    rows = []
    for i, c in enumerate(checks, 1):
        reason = f" ({c.reason})" if c.reason else ""
        rows.append(
            (
                i,
                _status_cell(c.status),
                c.name + reason,
                c.kind,
                _sci(c.observed),
                getattr(c, "sense", "<="),
                _sci(c.tolerance),
                f"{c.margin:.3g}",
                c.basis,
            )
        )
    return table(
        ["#", "status", "check", "kind", "observed", "sense", "tolerance", "margin", "basis"],
        rows,
        align=["right", None, None, None, "right", None, "right", "right", None],
    )


def _controls_table(controls) -> list:
    if not controls:
        return ["The negative controls were not run."]
    rows = [
        (
            c["name"],
            Markup("yes" if c["rejected"] else "**NO**"),
            c.get("rejected_by") or c.get("worst_check") or "-",
            f"{float(c['margin']):.3g}",
            c.get("reason") or "",
        )
        for c in controls
    ]
    return [
        (
            "Each row is a plausible but wrong closed form run through the same checks; it must be "
            "rejected: some check that the closed form under test passes must fail on it (margin > 1)."
        ),
        "",
    ] + table(
        ["negative control", "rejected", "by check", "margin", "reason"],
        rows,
        align=[None, None, None, "right", None],
    )


def _evidence(erratum, derivations, checks) -> list:
    out = []
    for der in derivations:
        for st in der.steps:
            if any(key.lower() in st.title.lower() for key in erratum.steps):
                out.append(
                    f"  - derivation step *{_text(st.title)}* ({_text(st.method)}): "
                    f"{_result(st)}" + (f". {_text(st.detail)}" if st.detail else "")
                )
    for c in checks:
        if refers_to(c, erratum.checks):
            out.append(
                f"  - check *{_text(c.name)}*: observed {_sci(c.observed)}, tolerance "
                f"{_sci(c.tolerance)} ({_text(c.basis)}): {c.status}"
            )
    return out


def _errata(errata, derivations, verdict) -> list:
    out = ["## Errata", ""]
    if not errata and not verdict.notes and not any(c.kind == "erratum" for c in verdict.checks):
        return out + ["No disagreement between the paper's text and the computation was found.", ""]
    for i, e in enumerate(errata, 1):
        pad = " " * len(f"{i}. ")  # continuation blocks sit inside the numbered item
        out += [
            f"{i}. **{_text(e.topic)}**",
            "",
            f"{pad}- The paper: {_text(e.paper)}",
            f"{pad}- Computed: {_text(e.computed)}",
            f"{pad}- Evidence:",
        ]
        ev = _evidence(e, derivations, verdict.checks)
        out += [pad + line for line in ev] if ev else [f"{pad}  - (no matching record in this run)"]
        out.append("")
    listed = [key for e in errata for key in e.checks]
    extra = [c for c in verdict.checks if c.kind == "erratum" and not refers_to(c, listed)]
    if extra:
        out += [
            "Checks of kind *erratum* (the paper's text is contradicted when the check passes):",
            "",
        ]
        out += [
            f"- {_text(c.name)}: observed {_sci(c.observed)}, tolerance {_sci(c.tolerance)} "
            f"({_text(c.basis)}): {c.status}"
            for c in extra
        ] + [""]
    if verdict.notes:
        out += (
            ["Notes recorded by the verification:", ""]
            + [f"- {escape_cell(n)}" for n in verdict.notes]
            + [""]
        )
    return out


def _figures(figures) -> list:
    if not figures:
        return []
    out = ["## Figures", ""]
    for f in figures:
        out += [
            f"### {_text(f.title)}",
            "",
            f"![{_text(f.title)}]({f.filename})",
            "",
            _text(f.caption),
            "",
        ]
        if f.scaling:
            out += [f"*Scaling against the paper:* {_text(f.scaling)}", ""]
    return out


def _status(verdict) -> str:
    """``passed`` / ``failed`` / ``inconclusive`` (verdicts without a status: passed or failed)."""
    return str(getattr(verdict, "status", "passed" if verdict.passed else "failed"))


def summary_line(claim, verdict, n_errata: int) -> str:
    """One line for the index: checks passed (and inconclusive), controls rejected, errata."""
    ok = sum(c.passed for c in verdict.checks)
    parts = [f"{ok}/{len(verdict.checks)} checks passed"]
    unsure = sum(getattr(c, "status", "") == "inconclusive" for c in verdict.checks)
    if unsure:
        parts.append(f"{unsure} inconclusive")
    if verdict.controls:
        rej = sum(bool(c["rejected"]) for c in verdict.controls)
        parts.append(f"{rej}/{len(verdict.controls)} negative controls rejected")
    parts.append(f"{n_errata} {'erratum' if n_errata == 1 else 'errata'}")
    return "; ".join(parts)


def _resolution(verdict) -> list:
    """The precision of the run, in the claim's own terms (``verdict.resolution``)."""
    res = getattr(verdict, "resolution", None)
    if res is None:
        return [
            "**Precision:** every check of this claim is exact or bounded by floating-point "
            "round-off (its tolerance and basis are in the table); no sampled estimate is compared.",
            "",
        ]
    return [
        f"**Resolution: {_num(res, 3)}**, the smallest relative deviation that this run rejects in "
        f"every direction ({_text(verdict.resolution_basis)}; verify/resolution.py).",
        "",
    ]


def render_report(
    claim,
    verdict,
    derivations,
    *,
    hypotheses=(),
    errata=(),
    figures=(),
    command: str = "",
    records: str = "",
) -> str:
    """The full Markdown report of one claim, from statement to verdict."""
    status = _status(verdict).upper()
    ok = sum(c.passed for c in verdict.checks)
    out = [
        f"# {_text(claim.title)}",
        "",
        (
            f"**Verdict: {status}** ({ok} of {len(verdict.checks)} checks passed). "
            f"Source: {_text(claim.source)}, Ahn, Cheng, Daneshmand & Sra, NeurIPS 2023."
        ),
        "",
        "## Statement",
        "",
        f"> {_text(claim.statement)}",
        "",
        "## Hypotheses",
        "",
    ]
    out += [f"- {_text(h)}" for h in hypotheses] or ["- (as in the statement)"]
    out += (
        [
            "",
            (
                "Setting of this run (Sigma = U^T diag(spectrum) U with a seeded Haar-random U "
                "unless rotation is False):"
            ),
            "",
        ]
        + _setting_rows(verdict.setting)
        + [""]
    )
    sigma = verdict.setting.get("sigma")
    if sigma is not None:
        out += ["Sigma of this run:", ""] + matrix_table(sigma) + [""]
    if records:
        out += [
            f"Full records of this run (every field of the verdict, at full precision): "
            f"[{records}]({records}).",
            "",
        ]
    if verdict.closed_form:
        out += ["## Closed form under test", ""] + value_tables(verdict.closed_form)
    out.append(render_derivations(derivations))
    out += [
        "## Checks",
        "",
        (
            "Each check compares an observed value with a tolerance whose basis is stated, in the stated "
            "sense (<=: observed must not exceed the tolerance; >=: observed must reach it). The margin is "
            "observed/tolerance for <= checks and tolerance/observed for >= checks: below 1 passes. An "
            "inconclusive check is one the evidence cannot decide; it never counts as a pass."
        ),
        "",
    ]
    out += _resolution(verdict)
    out += (
        _checks_table(verdict.checks)
        + ["", "## Negative controls", ""]
        + _controls_table(verdict.controls)
    )
    out += [""] + _errata(errata, derivations, verdict) + _figures(figures)
    out += [
        "## Verdict",
        "",
        f"**{status}**: {_text(summary_line(claim, verdict, len(errata)))}.",
        "",
    ]
    reason = getattr(verdict, "status_reason", "") if not verdict.passed else ""
    if reason:
        out += [f"Because: {escape_cell(reason)}", ""]
    if command:
        out += [f"Regenerate with `{command}`.", ""]
    return "\n".join(out)


#: What each claim's verdict compares, and how (the index's table); other claims: their statement.
COMPARISON = {
    "lemma1": (
        "the transformer's read-out against -<x, w_l> of preconditioned GD (eq. 8)",
        "exact symbolic identity (sympy) and NumPy forward passes on random prompts",
    ),
    "1": (
        "trained one-layer preconditioner (all P, Q) against Gamma^-1 (eq. 6)",
        "10 replicas each of three trainers on sampled prompts; relative Frobenius, exact loss",
    ),
    "2": (
        "global minimiser over symmetric A_0, A_1 against (a*_0 I, a*_1 I)",
        "multi-start search on the exact loss; exact restricted optimum",
    ),
    "3": (
        "trained step sizes against the certified critical points of phi_L on S",
        "certified exact enumeration; 10 replicas on importance-sampled prompts",
    ),
    "4": (
        "trained step sizes (a_l, b_l) against the certified critical points of phi_L on S",
        "certified critical points; 10 replicas on importance-sampled prompts",
    ),
    "lemma4": (
        "phi_L at permuted step sizes against phi_L",
        "exact symbolic identity; NumPy model at permuted layers",
    ),
    "5": (
        "trained ReLU layer's p_y Q11 against -2n/(n-1+2(d+2)) I",
        "replicas on sampled prompts; relative Frobenius, predictions, exact loss",
    ),
}


def _resolution_cell(verdict) -> str:
    res = getattr(verdict, "resolution", None)
    if res is None:
        return "exact (round-off)"
    basis = str(getattr(verdict, "resolution_basis", ""))
    what = basis.split(" of the ", 1)[1].split(" fails ")[0] if " of the " in basis else ""
    return f"{_num(res, 2)}" + (f" (of the {what})" if what else "")


def render_index(rows) -> str:
    """docs/README.md: ``rows`` of (claim, verdict, summary) in registry order."""
    out = [
        "# Reports",
        "",
        (
            "One report per claim of Ahn, Cheng, Daneshmand & Sra, *Transformers learn to implement "
            "preconditioned gradient descent for in-context learning* (NeurIPS 2023), generated by "
            "`verify-theorem all --report docs/` (negative controls on). Each report goes from the "
            "statement through the derivation and the checks to the verdict."
        ),
        "",
    ]
    out += table(
        ["claim", "source", "verdict", "summary"],
        [
            (
                Markup(f"[{_text(claim.title)}]({claim.id}.md)"),
                claim.source,
                _status_cell(_status(verdict)),
                summary,
            )
            for claim, verdict, summary in rows
        ],
    )
    n_ok = sum(v.passed for _, v, _ in rows)
    out += ["", f"{n_ok} of {len(rows)} claims passed.", ""]
    out += [
        "## Precision",
        "",
        (
            "What each verdict compares, how, and the smallest relative deviation its run rejects in "
            "every direction (verify/resolution.py: (observed + tolerance) / (1 - tolerance) of the "
            "relative-distance check that sets it)."
        ),
        "",
    ]
    out += table(
        ["claim", "what is compared", "how", "resolution", "verdict"],
        [
            (
                Markup(f"[{_text(claim.id)}]({claim.id}.md)"),
                COMPARISON.get(claim.id, (claim.statement, ""))[0],
                COMPARISON.get(claim.id, ("", "see the report"))[1],
                _resolution_cell(verdict),
                _status_cell(_status(verdict)),
            )
            for claim, verdict, _ in rows
        ],
    )
    out += [
        "",
        "The paper's Figs. 1-7 and the files that reproduce them: [figures.md](figures.md).",
        "",
    ]
    return "\n".join(out)


#: The paper's figures, in order, with what each shows (the figures page's rows).
PAPER_FIGURES = (
    ("Fig. 1", "Theorem 3: Dist curves and log loss along training, family (8), L = 3"),
    ("Fig. 2", "Theorem 3: heat maps of Sigma^1/2 A_l Sigma^1/2 at the end of training"),
    ("Fig. 3", "Theorem 4: Dist curves and log loss along training, family (11), L = 3"),
    ("Fig. 4", "Theorem 4: heat maps of B_0, B_1"),
    ("Fig. 5", "Theorem 4: heat maps of Sigma^1/2 A_l Sigma^1/2"),
    ("Fig. 6", "loss against the number of in-context examples n (L = 3)"),
    ("Fig. 7", "loss against depth L = 1..4 (n = 20)"),
)


def _covers(label: str, number: str) -> bool:
    """True when a figure's ``paper_figure`` label (``Fig. 2``, ``Figs. 4-5``) covers ``Fig. k``."""
    k = int(number.split()[-1])
    for part in re.findall(r"(\d+)(?:-(\d+))?", label or ""):
        lo, hi = int(part[0]), int(part[1] or part[0])
        if lo <= k <= hi:
            return True
    return False


def render_figures_page(entries) -> str:
    """docs/figures.md: the paper's Figs. 1-7 -> our files, protocols, values and verdicts.

    ``entries``: the ``<claim>.json`` records present (claim, title, scale, verdict, figures)."""
    out = [
        "# Figures",
        "",
        (
            "The paper's Figs. 1-7 and the files that reproduce them, with the protocol each was trained "
            "with, the paper's reported values beside ours and the verdict the figure illustrates. "
            "Generated from the reports' JSON records."
        ),
        "",
    ]
    rows = []
    for number, shows in PAPER_FIGURES:
        hits = [
            (e, f)
            for e in entries
            for f in e.get("figures", [])
            if _covers(f["paper_figure"], number)
        ]
        if not hits:
            rows.append((number, shows, "not generated in this directory", "", "", "", ""))
        for e, f in hits:
            v = e["verdict"]
            rows.append(
                (
                    number,
                    shows,
                    Markup(
                        f"[{_text(f['filename'])}]({f['filename']}) in [{e['claim']}.md]({e['claim']}.md)"
                    ),
                    f"{f['protocol']} ({e.get('scale', 'default')} scale)",
                    f["paper_values"] or "-",
                    f["ours"] or "-",
                    _status_cell(str(v.get("verdict", ""))),
                )
            )
    out += table(["paper", "shows", "file", "protocol", "paper's values", "ours", "verdict"], rows)
    extra = [(e, f) for e in entries for f in e.get("figures", []) if not f.get("paper_figure")]
    if extra:
        out += [
            "",
            "## Figures without a counterpart in the paper",
            "",
            "Drawn like the paper's figures for claims the paper shows no figure of.",
            "",
        ]
        out += table(
            ["file", "what", "protocol", "ours", "verdict"],
            [
                (
                    Markup(
                        f"[{_text(f['filename'])}]({f['filename']}) in [{e['claim']}.md]({e['claim']}.md)"
                    ),
                    f["heading"],
                    f"{f['protocol']} ({e.get('scale', 'default')} scale)",
                    f["ours"] or "-",
                    _status_cell(str(e["verdict"].get("verdict", ""))),
                )
                for e, f in extra
            ],
        )
    out.append("")
    return "\n".join(out)
