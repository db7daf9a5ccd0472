"""Python entry points: :func:`verify_theorem` and :func:`check_candidate`.

Bad input raises a ``ValueError`` subclass (:mod:`verify.errors`): :class:`UsageError` for
options that do not exist, are not used by the claim or exceed :mod:`verify.limits`,
:class:`AssumptionError` for a setting outside the claim's hypotheses, :class:`CandidateError`
for a candidate that raises or returns something other than a finite real d x d array.
"""

from __future__ import annotations

from threadpoolctl import threadpool_limits

from .candidate import CandidateCall, CandidateProcess
from .checks import Verdict
from .claims import get_claim
from .errors import UsageError
from .progress import Progress
from .resolution import attach_resolution

__all__ = ["check_candidate", "verify_theorem"]


def _setting(claim, options: dict):
    """The claim's Setting from keyword options (:meth:`Claim.setting`: unknown or unused options
    and violated hypotheses are refused; the Setting checks types, ranges and the limits of
    :mod:`verify.limits` once, before anything is built)."""
    return claim.setting(options)


def _progress(options: dict):
    """The ``progress`` option: anything with ``update(msg)`` and ``done()``; None for silence."""
    p = options.get("progress")
    if p is None:
        return Progress(None)
    if not (callable(getattr(p, "update", None)) and callable(getattr(p, "done", None))):
        raise UsageError(
            f"progress must have update(msg) and done() methods, like verify.progress.Progress; "
            f"got {type(p).__name__}"
        )
    return p


def verify_theorem(claim, **options) -> Verdict:
    """Verify a claim ("lemma1", "1", "5", ...) at a setting; returns a :class:`Verdict`.

    Options: d, n, spectrum, rotate, prior ("identity"/"inverse"), noise, seed, quick, layers,
    resolution, controls (run the negative controls), progress (a :class:`Progress`).
    Raises ValueError subclasses on bad input (see the module docstring).
    """
    c, s = prepare(claim, options)
    return run_prepared(c, s, options.get("controls", False), _progress(options))


def check_candidate(claim, candidate, *, timeout=None, **options) -> Verdict:
    """Check a user's closed form against the trained models (claims 1 and 5).

    ``candidate(sigma=<d x d ndarray>, n=<int>)`` returns the claimed d x d preconditioner
    (the negated top-left block of Q_0 in convention (8)).  Given as a ``"module:function"``
    string it runs in a child process with a time limit of ``timeout`` seconds per call
    (default :data:`verify.candidate.DEFAULT_TIMEOUT`), see :mod:`verify.candidate`; a Python
    callable runs in-process.  What it printed becomes a note of the verdict; anything it
    raises, a crash, a time-out, or a return value that is not a finite real d x d array raises
    :class:`CandidateError`.
    """
    c, s = prepare(claim, options, candidate=True)
    return run_prepared(
        c, s, options.get("controls", False), _progress(options), candidate, timeout
    )


def run_prepared(claim, s, controls=False, progress=None, candidate=None, timeout=None):
    """Run ``claim`` at the setting ``s`` of :func:`prepare` (checked once, not again here)."""
    if not isinstance(controls, bool):
        raise UsageError(f"controls must be True or False; got {type(controls).__name__}")
    progress = _progress({"progress": progress})
    if candidate is None:
        if timeout is not None:
            raise UsageError("timeout applies only with a candidate")
        with threadpool_limits(limits=1, user_api="blas"):  # see pyproject: small-matrix loops
            verdict = claim.run(s, with_controls=controls, progress=progress)
        return attach_resolution(verdict)  # claims 2-4: in terms of their optimum or step sizes
    if isinstance(candidate, str):
        call = CandidateProcess(candidate, s.d, timeout)
    elif timeout is not None:
        raise UsageError("timeout applies to a 'module:function' candidate (a child process)")
    else:
        call = CandidateCall(candidate, s.d)
    with call, threadpool_limits(limits=1, user_api="blas"):
        verdict = claim.run(s, with_controls=controls, candidate=call, progress=progress)
        note = call.note()
    if note:
        verdict.notes.append(note)
    return verdict


def _claims():
    from .claims import CLAIMS

    return CLAIMS


def prepare(claim, options: dict, candidate: bool = False):
    """(claim, setting) after every check that needs no work: the claim exists, takes a
    candidate if one is given, its options, limits and hypotheses hold.  Raises like the API."""
    c = get_claim(claim)
    if candidate and not c.takes_candidate:
        raise UsageError(
            f"claim {c.id} takes no candidate closed form; claims that do: "
            + ", ".join(k for k, v in _claims().items() if v.takes_candidate)
        )
    return c, _setting(c, options)
