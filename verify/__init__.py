"""NumPy linear transformers trained on sampled prompts, compared with closed forms.

Entry points: :func:`verify_theorem`, :func:`check_candidate` and the ``verify-theorem`` CLI.
Bad input raises a ``ValueError`` subclass: :class:`UsageError`, :class:`AssumptionError` or
:class:`CandidateError` (see :mod:`verify.errors`).

The names are imported on first use (PEP 562), so ``import verify.cli`` is light: the CLI then
does its heavy imports (numpy, scipy, sympy) inside ``main``, where Ctrl-C exits 130 cleanly.
"""

import importlib

__all__ = ["AssumptionError", "CandidateError", "UsageError", "check_candidate", "verify_theorem"]

_HOME = {
    "verify_theorem": ".api",
    "check_candidate": ".api",
    "UsageError": ".errors",
    "AssumptionError": ".errors",
    "CandidateError": ".errors",
}


def __getattr__(name):
    if name in _HOME:
        value = getattr(importlib.import_module(_HOME[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'verify' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
