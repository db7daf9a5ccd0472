"""Derivations as data: numbered steps, each with its formula and how it was checked.

A report renderer prints a :class:`Derivation` as a numbered list; nothing here formats
text beyond producing the LaTeX of each step's formula (GitHub math flavour).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

EXACT = "exact simplification"


@dataclass(frozen=True)
class Step:
    """One checked step of a derivation.

    ``latex`` is sympy's LaTeX of the step's formula; ``method`` says how the step was
    checked (for example "exact simplification" or "mpmath quadrature at 40 digits");
    ``holds`` is the outcome of that check; ``detail`` is an optional remark.
    """

    title: str
    latex: str
    method: str
    holds: bool
    detail: str = ""


@dataclass(frozen=True)
class Derivation:
    """An ordered tuple of :class:`Step` proving one claim (``source`` cites the paper)."""

    title: str
    source: str
    steps: tuple[Step, ...]

    @property
    def all_hold(self) -> bool:
        """True when every step's check succeeded."""
        return all(step.holds for step in self.steps)


def is_zero(expr) -> bool:
    """True when a sympy scalar or matrix simplifies to exactly zero."""
    if isinstance(expr, sp.MatrixBase):
        return all(is_zero(entry) for entry in expr)
    # cancel() decides rational-function identities quickly; simplify() catches the rest
    # (square roots, trigonometric terms) and is only reached when cancel() leaves a residue.
    if sp.cancel(sp.together(expr)) == 0:
        return True
    return sp.simplify(expr) == 0


def identity_step(title: str, lhs, rhs, detail: str = "", method: str = EXACT,
                  latex: str | None = None) -> Step:
    """A step asserting ``lhs = rhs``, checked by simplifying ``lhs - rhs`` to zero.

    ``latex`` overrides the displayed formula when the expanded expressions are too long
    to read; the check is always made on ``lhs - rhs`` itself.
    """
    holds = is_zero(lhs - rhs)
    shown = latex if latex is not None else sp.latex(sp.Eq(lhs, rhs, evaluate=False))
    return Step(title, shown, method, holds, detail)


def fact_step(title: str, statement, holds: bool, method: str, detail: str = "") -> Step:
    """A step whose check was done by the caller; ``statement`` is a sympy object or LaTeX."""
    latex = statement if isinstance(statement, str) else sp.latex(statement)
    return Step(title, latex, method, bool(holds), detail)
