"""Calling a user's candidate closed form safely: captured output, caught exceptions, checked result.

A candidate is ``fn(sigma=<d x d ndarray>, n=<int>) -> d x d preconditioner`` (claims 1 and 5).
It is foreign code, so:

- its standard output is captured (Python's ``sys.stdout`` and file descriptor 1), so a
  printing candidate cannot corrupt ``--format json``; what it printed is returned and
  reported as a note of the verdict;
- any ``BaseException`` it raises (``SystemExit(0)`` and ``KeyboardInterrupt`` included) is
  turned into :class:`~verify.errors.CandidateError`;
- its return value must be a finite REAL d x d array.  Complex dtypes are refused even when
  the imaginary part is zero: the preconditioner of real data is real, and a complex result
  usually means a square root or eigendecomposition went wrong, which silently dropping the
  imaginary part would hide.
"""

from __future__ import annotations

import contextlib
import io
import numbers
import os
import sys
import tempfile

import numpy as np

from .errors import CandidateError

__all__ = ["CandidateCall", "as_preconditioner", "call_candidate"]

#: Characters of a candidate's message or printed output quoted in an error or a note.
QUOTE = 200


def _one_line(text: str, limit: int = QUOTE) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@contextlib.contextmanager
def _captured_stdout():
    """Capture ``sys.stdout`` and file descriptor 1 (output of C code or subprocesses)."""
    buf = io.StringIO()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    saved, tmp = None, None
    try:
        saved = os.dup(1)
        tmp = tempfile.TemporaryFile()  # noqa: SIM115  (closed in the finally below)
        os.dup2(tmp.fileno(), 1)
    except OSError:  # no fd 1 (e.g. closed): the Python-level capture still applies
        if saved is not None:
            os.close(saved)
        saved = None
    try:
        with contextlib.redirect_stdout(buf):
            yield buf
    finally:
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)
            tmp.seek(0)
            buf.write(tmp.read().decode("utf-8", "replace"))
        if tmp is not None:
            tmp.close()


def as_preconditioner(out, d: int) -> np.ndarray:
    """The candidate's return value as a float (d, d) array; CandidateError otherwise."""
    want = f"a finite real {d} x {d} array (the preconditioner)"
    if out is None or isinstance(out, (dict, str, bytes, set, frozenset)):
        raise CandidateError(f"candidate must return {want}; got {type(out).__name__}")
    try:
        M = np.asarray(out)
    except BaseException as exc:  # noqa: BLE001  ragged lists; a foreign __array__ may raise anything
        raise CandidateError(
            f"candidate must return {want}; got a {type(out).__name__} that is not "
            f"a rectangular array ({type(exc).__name__}: {_one_line(exc, 80)})"
        ) from None
    kind = M.dtype.kind
    if kind == "c":
        raise CandidateError(
            f"candidate must return {want}; got complex dtype {M.dtype} (refused even "
            "with zero imaginary part: a preconditioner of real data is real)"
        )
    if kind == "O" and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in M.flat):
        try:
            M = M.astype(float)
        except BaseException as exc:  # noqa: BLE001  a foreign __float__ may raise anything
            raise CandidateError(
                f"candidate must return {want}; its entries do not convert to "
                f"float ({_one_line(exc, 80)})"
            ) from None
        kind = "f"
    if kind not in "iuf":
        raise CandidateError(
            f"candidate must return {want}; got an array of dtype {M.dtype} "
            "(entries must be real numbers)"
        )
    if M.shape != (d, d):
        raise CandidateError(f"candidate must return {want}; got shape {M.shape}")
    M = M.astype(float)
    bad = int(np.count_nonzero(~np.isfinite(M)))
    if bad:
        raise CandidateError(
            f"candidate must return {want}; got {bad} non-finite entries (NaN or inf)"
        )
    return M


class CandidateCall:
    """``call(sigma, n)`` evaluates the candidate safely; ``printed`` collects its stdout."""

    def __init__(self, candidate, d: int):
        if not callable(candidate):
            raise CandidateError(
                "candidate must be callable as candidate(sigma=..., n=...); "
                f"got {type(candidate).__name__}"
            )
        self.candidate = candidate
        self.d = d
        self.printed = ""

    def __call__(self, sigma, n):
        M, printed = call_candidate(self.candidate, sigma, n, self.d)
        self.printed += printed
        return M

    def note(self) -> str | None:
        """A verdict note quoting what the candidate printed, or None."""
        if not self.printed:
            return None
        return (
            f"the candidate printed {len(self.printed)} characters to stdout (captured, not part of "
            f"the output): {_one_line(self.printed)!r}"
        )


def call_candidate(candidate, sigma, n: int, d: int):
    """Call ``candidate(sigma=..., n=...)``; returns (float (d, d) array, captured stdout).

    ``sigma`` is passed as a copy, so the candidate cannot change the run's covariance.
    Raises CandidateError if the candidate raises anything or returns a bad value.
    """
    try:
        with _captured_stdout() as buf:
            out = candidate(sigma=np.array(sigma, dtype=float, copy=True), n=int(n))
    except BaseException as exc:  # foreign code: SystemExit and KeyboardInterrupt included
        msg = _one_line(exc) or "(no message)"
        raise CandidateError(f"candidate raised {type(exc).__name__}: {msg}") from exc
    return as_preconditioner(out, d), buf.getvalue()
