"""Derivations as data: numbered steps, each with its formula and how it was checked.

A report renderer prints a :class:`Derivation` as a numbered list; nothing here formats
text beyond producing the LaTeX of each step's formula (GitHub math flavour).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

EXACT = "exact simplification"

#: A step's outcome: checked by a computation in this run and it holds ("proved"), argued in
#: text and not run ("argued"), or checked and it does not hold ("failed").
PROVED, ARGUED, FAILED = "proved", "argued", "failed"
OUTCOMES = (PROVED, ARGUED, FAILED)


@dataclass(frozen=True)
class Step:
    """One step of a derivation.

    ``latex`` is sympy's LaTeX of the step's formula; ``method`` says how the step was
    checked (for example "exact simplification" or "mpmath quadrature at 40 digits") or, for
    an argued step, where the argument is; ``outcome`` is one of :data:`OUTCOMES` (a bool is
    read as proved / failed, for callers written before outcomes had three values);
    ``detail`` is an optional remark; ``outside_claim`` says why a failed step is not part of
    the paper's claim (a report shows it beside the step), empty when it is.
    """

    title: str
    latex: str
    method: str
    outcome: str
    detail: str = ""
    outside_claim: str = ""

    def __post_init__(self):
        outcome = self.outcome
        if isinstance(outcome, bool) or type(outcome).__name__ == "bool_":
            outcome = PROVED if outcome else FAILED
        if outcome not in OUTCOMES:
            raise ValueError(f"a step's outcome must be one of {OUTCOMES}; got {self.outcome!r}")
        object.__setattr__(self, "outcome", outcome)

    @property
    def holds(self) -> bool:
        """False only for a failed step (an argued step is not contradicted by the run)."""
        return self.outcome != FAILED

    @property
    def proved(self) -> bool:
        """True when a computation in this run checked the step."""
        return self.outcome == PROVED


@dataclass(frozen=True)
class Derivation:
    """An ordered tuple of :class:`Step` proving one claim (``source`` cites the paper)."""

    title: str
    source: str
    steps: tuple[Step, ...]

    @property
    def all_hold(self) -> bool:
        """True when no step failed (proved or argued)."""
        return all(step.holds for step in self.steps)

    @property
    def failures_in_claim(self) -> tuple:
        """Failed steps that are part of the claim (no ``outside_claim`` reason)."""
        return tuple(st for st in self.steps if not st.holds and not st.outside_claim)

    def count(self, outcome: str) -> int:
        return sum(st.outcome == outcome for st in self.steps)

    def describe(self) -> str:
        """ "k proved by computation, m argued in text (not run), j failed" (nonzero parts)."""
        parts = [
            (PROVED, "proved by computation in this run"),
            (ARGUED, "argued in text (not run)"),
            (FAILED, "failed"),
        ]
        return (
            ", ".join(f"{self.count(o)} {text}" for o, text in parts if self.count(o)) or "no steps"
        )


def is_zero(expr) -> bool:
    """True when a sympy scalar or matrix simplifies to exactly zero."""
    if isinstance(expr, sp.MatrixBase):
        return all(is_zero(entry) for entry in expr)
    # cancel() decides rational-function identities quickly; simplify() catches the rest
    # (square roots, trigonometric terms) and is only reached when cancel() leaves a residue.
    if sp.cancel(sp.together(expr)) == 0:
        return True
    return sp.simplify(expr) == 0


def identity_step(
    title: str, lhs, rhs, detail: str = "", method: str = EXACT, latex: str | None = None
) -> Step:
    """A step asserting ``lhs = rhs``, checked by simplifying ``lhs - rhs`` to zero.

    ``latex`` overrides the displayed formula when the expanded expressions are too long
    to read; the check is always made on ``lhs - rhs`` itself.
    """
    holds = is_zero(lhs - rhs)
    shown = latex if latex is not None else sp.latex(sp.Eq(lhs, rhs, evaluate=False))
    return Step(title, shown, method, holds, detail)


def fact_step(
    title: str, statement, holds: bool, method: str, detail: str = "", outside_claim: str = ""
) -> Step:
    """A step checked by a computation the caller ran; ``holds`` is its result (proved / failed).

    ``statement`` is a sympy object or LaTeX.  Never pass a constant ``holds``: a step that
    was not computed is an :func:`argued_step`.
    """
    latex = statement if isinstance(statement, str) else sp.latex(statement)
    return Step(title, latex, method, PROVED if holds else FAILED, detail, outside_claim)


def argued_step(title: str, statement, argument: str, detail: str = "") -> Step:
    """A step argued in text (``argument`` says where), not checked by a computation in this run."""
    latex = statement if isinstance(statement, str) else sp.latex(statement)
    return Step(title, latex, f"argued (not run): {argument}", ARGUED, detail)
