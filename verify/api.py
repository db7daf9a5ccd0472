"""Python entry points: :func:`verify_theorem` and :func:`check_candidate`."""
from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from .checks import Verdict
from .claims import get_claim
from .progress import Progress

__all__ = ["verify_theorem", "check_candidate"]

_SETTING_KEYS = ("d", "n", "spectrum", "rotate", "prior", "noise", "seed", "quick", "layers")


def _setting(claim, options: dict):
    unknown = set(options) - set(_SETTING_KEYS) - {"controls", "progress"}
    if unknown:
        raise ValueError(f"unknown options {sorted(unknown)}; allowed: {list(_SETTING_KEYS) + ['controls']}")
    kw = {k: options[k] for k in _SETTING_KEYS if options.get(k) is not None}
    if "spectrum" in kw and "d" not in kw:
        kw["d"] = len(kw["spectrum"])
    return claim.default_setting(**kw)


def verify_theorem(claim, **options) -> Verdict:
    """Verify a claim ("lemma1", "1", "5", ...) at a setting; returns a :class:`Verdict`.

    Options: d, n, spectrum, rotate, prior ("identity"/"inverse"), noise, seed, quick, layers,
    controls (run the negative controls), progress (a :class:`Progress`).
    """
    c = get_claim(claim)
    s = _setting(c, options)
    with threadpool_limits(limits=1, user_api="blas"):  # see pyproject: small-matrix loops
        return c.run(s, with_controls=bool(options.get("controls", False)),
                     progress=options.get("progress") or Progress(None))


def _validated(candidate, d: int):
    if not callable(candidate):
        raise ValueError(f"candidate must be callable as candidate(sigma=..., n=...); got {type(candidate).__name__}")

    def wrapped(sigma, n):
        try:
            out = candidate(sigma=sigma, n=n)
        except Exception as exc:  # a user's function failing is a usage error, reported in one line
            raise ValueError(f"candidate raised {type(exc).__name__}: {exc}") from None
        M = np.asarray(out, dtype=float) if out is not None else None
        if M is None or M.shape != (d, d) or not np.all(np.isfinite(M)):
            shape = None if M is None else M.shape
            raise ValueError(f"candidate must return a finite {d} x {d} array (the preconditioner); got shape {shape}")
        return M

    return wrapped


def check_candidate(claim, candidate, **options) -> Verdict:
    """Check a user's closed form against the trained models.

    ``candidate(sigma=<d x d ndarray>, n=<int>)`` returns the claimed d x d preconditioner
    (the negated top-left block of Q_0 in convention (8)).
    """
    c = get_claim(claim)
    if not c.takes_candidate:
        raise ValueError(f"claim {c.id} takes no candidate closed form; claims that do: 1, 5")
    s = _setting(c, options)
    with threadpool_limits(limits=1, user_api="blas"):
        return c.run(s, with_controls=bool(options.get("controls", False)),
                     candidate=_validated(candidate, s.d), progress=options.get("progress") or Progress(None))
