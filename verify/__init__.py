"""NumPy linear transformers trained on sampled prompts, compared with closed forms.

Entry points: :func:`verify_theorem`, :func:`check_candidate` and the ``verify-theorem`` CLI.
"""
from .api import check_candidate, verify_theorem

__all__ = ["verify_theorem", "check_candidate"]
