"""The exceptions the Python API raises on bad input; all are ``ValueError`` subclasses.

- :class:`UsageError`: an option that does not exist, that the claim does not use, or that is
  outside the stated limits (``verify.limits``); a report path that cannot be written.
- :class:`AssumptionError`: the setting violates a hypothesis of the claim (e.g. Theorem 3
  with ``prior="identity"``).
- :class:`CandidateError`: a user's candidate closed form raised (any ``BaseException``,
  including ``SystemExit`` and ``KeyboardInterrupt``) or returned something that is not a
  finite real d x d array.

Other invalid values (a negative ``n``, an unparsable spectrum) and values of the wrong type
(``spectrum=5``, ``d=5.0``, ``quick="yes"``) raise a plain ``ValueError`` naming what was
required and what was given, never a ``TypeError``.  The CLI turns every one of them into exit
code 2 and a one-line message on stderr.
"""

from __future__ import annotations

__all__ = ["AssumptionError", "CandidateError", "UsageError"]


class AssumptionError(ValueError):
    """The setting violates a hypothesis of the claim (CLI exit code 2)."""


class UsageError(ValueError):
    """An option that does not exist, is not used by the claim, or is outside the limits."""


class CandidateError(ValueError):
    """A candidate closed form raised, or returned something other than a finite real d x d array."""
