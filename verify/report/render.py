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

import numpy as np

__all__ = ["Figure", "render_report", "render_derivations", "render_index", "summary_line",
           "DERIVATION_BEGIN", "DERIVATION_END"]

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


def _text(s) -> str:
    """Plain text safe for Markdown: escape what GitHub would read as markup.

    ``*``, ``<``, ``>``, ``|``, backticks and backslashes always; ``_`` only where it could
    open or close emphasis (not inside a word such as ``A_l``), so the source stays readable.
    """
    s = re.sub(r"([\\*<>|`])", r"\\\1", str(s))
    return re.sub(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9{])", r"\\_", s)


def _cell(s) -> str:
    return _text(s).replace("\n", " ")


def _is_latex(s: str) -> bool:
    return "\\" in s or "{" in s


def _num(x, digits: int = 4) -> str:
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e4:
        return f"{x:.{digits}g}"
    return f"{x:.{digits - 1}e}"


def _sci(x) -> str:
    x = float(x)
    return f"{x:.3e}" if math.isfinite(x) else str(x)


def _matrix_latex(M) -> str:
    rows = [" & ".join(_num(v) for v in row) for row in np.atleast_2d(np.asarray(M, dtype=float))]
    return r"\begin{bmatrix}" + r" \\ ".join(rows) + r"\end{bmatrix}"


def _formula(latex: str) -> list:
    """A step's formula: a math block, or (plain statements, very long formulas) text."""
    latex = latex.strip()
    if not latex:
        return []
    if not _is_latex(latex):
        return [f"   `{latex}`"]
    if len(latex) > MAX_MATH_CHARS:
        return ["   <details><summary>formula: " + f"{len(latex)} characters of LaTeX, too long to typeset "
                "(expanded polynomial); source</summary>", "", "   ```latex", "   " + latex, "   ```",
                "", "   </details>"]
    return ["   ```math", "   " + latex, "   ```"]


def render_derivations(derivations) -> str:
    """The derivation section: each derivation as numbered steps with formula and check."""
    out = [DERIVATION_BEGIN, "", "## Derivation", ""]
    if not derivations:
        out += ["No symbolic derivation is registered for this claim.", ""]
    number = 0
    for der in derivations:
        ok = sum(st.holds for st in der.steps)
        out += [f"### {_text(der.title)}", "",
                f"Source: {_text(der.source)}. {ok} of {len(der.steps)} steps hold.", ""]
        for st in der.steps:
            number += 1
            mark = "holds" if st.holds else "**FAILS**"
            out.append(f"{number}. **{_text(st.title)}**")
            out += [""] + _formula(st.latex) + [""]
            out.append(f"   Checked by: {_text(st.method)}. Result: {mark}.")
            if st.detail:
                out += ["", f"   {_text(st.detail)}"]
            out.append("")
    out += [DERIVATION_END, ""]
    return "\n".join(out)


def _setting_rows(setting: dict) -> list:
    out = ["| parameter | value |", "|---|---|"]
    for k, v in setting.items():
        if k in ("sigma", "omega"):
            continue
        if isinstance(v, (list, tuple)):
            v = ", ".join(_num(x) for x in v)
        out.append(f"| {_cell(k)} | {_cell(v)} |")
    return out


def _value_lines(name, v) -> list:
    if isinstance(v, dict):
        inner = "; ".join(f"{k}: {v2}" for k, v2 in v.items())
        return [f"- {_text(name)}: {_text(inner)}"]
    arr = np.asarray(v) if isinstance(v, (list, tuple, np.ndarray)) else None
    if arr is not None and arr.dtype.kind in "fiu" and arr.ndim == 2:
        return [f"- {_text(name)}:", "", "  ```math", "  " + _matrix_latex(arr), "  ```", ""]
    if arr is not None and arr.dtype.kind in "fiu" and arr.ndim == 1:
        return [f"- {_text(name)}: " + ", ".join(_num(x) for x in arr)]
    if isinstance(v, (float, int, np.floating, np.integer)) and not isinstance(v, bool):
        return [f"- {_text(name)}: {_num(v, 10)}"]
    return [f"- {_text(name)}: {_text(v)}"]


def _checks_table(checks) -> list:
    out = ["| # | status | check | kind | observed | tolerance | observed/tolerance | basis |",
           "|---|---|---|---|---|---|---|---|"]
    for i, c in enumerate(checks, 1):
        st = "passed" if c.passed else f"**{c.status.upper()}**"
        reason = f" ({c.reason})" if c.reason else ""
        out.append(f"| {i} | {st} | {_cell(c.name)}{_cell(reason)} | {_cell(c.kind)} | {_sci(c.observed)} | "
                   f"{_sci(c.tolerance)} | {c.margin:.3g} | {_cell(c.basis)} |")
    return out


def _controls_table(controls) -> list:
    if not controls:
        return ["The negative controls were not run."]
    out = ["Each row is a plausible but wrong closed form run through the same checks; it must be "
           "rejected (some check fails, i.e. observed/tolerance > 1 for an upper-bound check).", "",
           "| negative control | rejected | worst observed/tolerance | by check |", "|---|---|---|---|"]
    for c in controls:
        out.append(f"| {_cell(c['name'])} | {'yes' if c['rejected'] else '**NO**'} | "
                   f"{float(c['margin']):.3g} | {_cell(c['worst_check'])} |")
    return out


def _evidence(erratum, derivations, checks) -> list:
    out = []
    for der in derivations:
        for st in der.steps:
            if any(key.lower() in st.title.lower() for key in erratum.steps):
                out.append(f"  - derivation step *{_text(st.title)}* ({_text(st.method)}): "
                           f"{'holds' if st.holds else 'FAILS'}" + (f". {_text(st.detail)}" if st.detail else ""))
    for c in checks:
        if any(key.lower() in c.name.lower() for key in erratum.checks):
            out.append(f"  - check *{_text(c.name)}*: observed {_sci(c.observed)}, tolerance "
                       f"{_sci(c.tolerance)} ({_text(c.basis)}): {c.status}")
    return out


def _errata(errata, derivations, verdict) -> list:
    out = ["## Errata", ""]
    if not errata and not verdict.notes and not any(c.kind == "erratum" for c in verdict.checks):
        return out + ["No disagreement between the paper's text and the computation was found.", ""]
    for i, e in enumerate(errata, 1):
        out += [f"{i}. **{_text(e.topic)}**", "",
                f"   - The paper: {_text(e.paper)}", f"   - Computed: {_text(e.computed)}", "   - Evidence:"]
        ev = _evidence(e, derivations, verdict.checks)
        out += ["   " + line for line in ev] if ev else ["     - (no matching record in this run)"]
        out.append("")
    listed = {key.lower() for e in errata for key in e.checks}
    extra = [c for c in verdict.checks if c.kind == "erratum"
             and not any(k in c.name.lower() for k in listed)]
    if extra:
        out += ["Checks of kind *erratum* (the paper's text is contradicted when the check passes):", ""]
        out += [f"- {_text(c.name)}: observed {_sci(c.observed)}, tolerance {_sci(c.tolerance)} "
                f"({_text(c.basis)}): {c.status}" for c in extra] + [""]
    if verdict.notes:
        out += ["Notes recorded by the verification:", ""] + [f"- {_text(n)}" for n in verdict.notes] + [""]
    return out


def _figures(figures) -> list:
    if not figures:
        return []
    out = ["## Figures", ""]
    for f in figures:
        out += [f"### {_text(f.title)}", "", f"![{_text(f.title)}]({f.filename})", "", _text(f.caption), ""]
        if f.scaling:
            out += [f"*Scaling against the paper:* {_text(f.scaling)}", ""]
    return out


def summary_line(claim, verdict, n_errata: int) -> str:
    """One line for the index: checks passed, controls rejected, errata."""
    ok = sum(c.passed for c in verdict.checks)
    parts = [f"{ok}/{len(verdict.checks)} checks passed"]
    if verdict.controls:
        rej = sum(bool(c["rejected"]) for c in verdict.controls)
        parts.append(f"{rej}/{len(verdict.controls)} negative controls rejected")
    parts.append(f"{n_errata} {'erratum' if n_errata == 1 else 'errata'}")
    return "; ".join(parts)


def render_report(claim, verdict, derivations, *, hypotheses=(), errata=(), figures=(),
                  command: str = "") -> str:
    """The full Markdown report of one claim, from statement to verdict."""
    status = "PASSED" if verdict.passed else "FAILED"
    ok = sum(c.passed for c in verdict.checks)
    out = [f"# {_text(claim.title)}", "",
           f"**Verdict: {status}** ({ok} of {len(verdict.checks)} checks passed). "
           f"Source: {_text(claim.source)}, Ahn, Cheng, Daneshmand & Sra, NeurIPS 2023.", "",
           "## Statement", "", f"> {_text(claim.statement)}", "", "## Hypotheses", ""]
    out += [f"- {_text(h)}" for h in hypotheses] or ["- (as in the statement)"]
    out += ["", "Setting of this run (Sigma = U^T diag(spectrum) U with a seeded Haar-random U "
            "unless rotation is False):", ""] + _setting_rows(verdict.setting) + [""]
    sigma = verdict.setting.get("sigma")
    if sigma is not None:
        out += ["```math", r"\Sigma = " + _matrix_latex(sigma), "```", ""]
    if verdict.closed_form:
        out += ["## Closed form under test", ""]
        for k, v in verdict.closed_form.items():
            out += _value_lines(k, v)
        out.append("")
    out.append(render_derivations(derivations))
    out += ["## Checks", "",
            "Each check compares an observed error with a tolerance whose basis is stated; it passes "
            "when observed <= tolerance (for *erratum* and rejection checks, when observed >= tolerance).", ""]
    out += _checks_table(verdict.checks) + ["", "## Negative controls", ""] + _controls_table(verdict.controls)
    out += [""] + _errata(errata, derivations, verdict) + _figures(figures)
    out += ["## Verdict", "", f"**{status}**: {summary_line(claim, verdict, len(errata))}.", ""]
    if command:
        out += [f"Regenerate with `{command}`.", ""]
    return "\n".join(out)


def render_index(rows) -> str:
    """docs/README.md: ``rows`` of (claim, verdict, summary) in registry order."""
    out = ["# Reports", "",
           "One report per claim of Ahn, Cheng, Daneshmand & Sra, *Transformers learn to implement "
           "preconditioned gradient descent for in-context learning* (NeurIPS 2023), generated by "
           "`verify-theorem all --report docs/` (negative controls on). Each report goes from the "
           "statement through the derivation and the checks to the verdict.", "",
           "| claim | source | verdict | summary |", "|---|---|---|---|"]
    for claim, verdict, summary in rows:
        status = "passed" if verdict.passed else "**FAILED**"
        out.append(f"| [{_cell(claim.title)}]({claim.id}.md) | {_cell(claim.source)} | {status} | {_cell(summary)} |")
    n_ok = sum(v.passed for _, v, _ in rows)
    out += ["", f"{n_ok} of {len(rows)} claims passed.", ""]
    return "\n".join(out)
