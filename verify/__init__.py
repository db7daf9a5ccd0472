"""NumPy linear transformers trained on sampled prompts, compared with closed forms.

Entry points: :func:`verify_theorem`, :func:`check_candidate` and the ``verify-theorem`` CLI.
Bad input raises a ``ValueError`` subclass: :class:`UsageError`, :class:`AssumptionError` or
:class:`CandidateError` (see :mod:`verify.errors`).
"""
from .api import check_candidate, verify_theorem
from .errors import AssumptionError, CandidateError, UsageError

__all__ = ["AssumptionError", "CandidateError", "UsageError", "check_candidate", "verify_theorem"]
