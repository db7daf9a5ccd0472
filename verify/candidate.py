"""Calling a user's candidate closed form safely: in a child process, with a time limit.

A candidate is ``fn(sigma=<d x d ndarray>, n=<int>) -> d x d preconditioner`` (claims 1 and 5).
It is foreign code.  Named as ``MODULE:FUNCTION`` (the CLI's ``--candidate``, or a string given
to :func:`verify.check_candidate`) it runs in a CHILD PROCESS (:class:`CandidateProcess`,
runner :mod:`verify.candidate_child`), started once per verification and reused for every
call the claim needs:

- its stdout and stderr go to files of the child (Python's and C code's output alike), so a
  printing candidate, or a thread that prints after it returned, cannot corrupt
  ``--format json``; what it printed is reported as a note of the verdict;
- each call has a time limit (``timeout`` seconds, default :data:`DEFAULT_TIMEOUT`, at most
  :data:`MAX_TIMEOUT`); importing the module has the larger of ``timeout`` and the default
  (interpreter start-up and imports on a loaded machine are not the candidate's fault);
- the child has its own process group (and session), killed as a whole when the verification
  ends, so processes the candidate forks die with it and a terminal's Ctrl-C reaches only the
  verifier (which exits 130);
- an exception of any kind (even one whose ``__str__`` raises), ``exit``, ``os._exit``, a
  signal, a segfault or a time-out becomes :class:`~verify.errors.CandidateError` (one line);
- the return value comes back as data (d*d float64 on a pipe) and must be a finite REAL d x d
  array.  Complex dtypes are refused even with zero imaginary part: the preconditioner of real
  data is real, and a complex result usually means a square root or eigendecomposition went
  wrong, which silently dropping the imaginary part would hide.

A Python callable given to the API runs in-process (:class:`CandidateCall`): its stdout is
captured and anything it raises becomes a CandidateError, but it is trusted not to end or fork
the process.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import selectors
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import candidate_child
from .candidate_child import Refused, describe, one_line
from .errors import CandidateError, UsageError

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_TIMEOUT",
    "CandidateCall",
    "CandidateProcess",
    "as_preconditioner",
    "call_candidate",
    "check_spec",
    "check_timeout",
]

#: Characters of a candidate's message or printed output quoted in an error or a note.
QUOTE = candidate_child.QUOTE
#: Seconds one call of a candidate may take (importing its module counts as one call).  Claim 1's
#: optimum at d = 12 takes about 1 ms; the limit is for a candidate that hangs.
DEFAULT_TIMEOUT = 60.0
#: The largest time limit accepted (one hour per call).
MAX_TIMEOUT = 3600.0
_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_CHILD = Path(candidate_child.__file__)


def _one_line(text, limit: int = QUOTE) -> str:
    return one_line(text, limit)


def check_spec(spec) -> str:
    """``spec`` if it looks like ``package.module:function`` (never evaluated), else CandidateError."""
    if not isinstance(spec, str) or not _SPEC.match(spec):
        raise CandidateError(
            "--candidate must look like package.module:function (the API also takes a "
            f"callable); got {_one_line(repr(spec), 80)}"
        )
    return spec


def check_timeout(timeout) -> float:
    """The time limit in seconds (None: the default); UsageError unless a number in (0, MAX]."""
    if timeout is None:
        return DEFAULT_TIMEOUT
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise UsageError(
            f"candidate timeout must be a number of seconds; got {type(timeout).__name__}"
        )
    if not (0 < timeout <= MAX_TIMEOUT) or math.isnan(timeout):
        raise UsageError(
            f"candidate timeout must be in (0, {MAX_TIMEOUT:g}] seconds; got {timeout!r}"
        )
    return float(timeout)


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
    try:
        return candidate_child.preconditioner(out, d)
    except Refused as exc:
        raise CandidateError(str(exc)) from None


def _printed_note(stdout: str, stderr: str = "", sizes=None) -> str | None:
    """The note quoting a candidate's output; ``sizes`` (bytes) when only the head was read."""
    counts = sizes or (f"{len(stdout)} characters", f"{len(stderr)} characters")
    parts = [
        f"the candidate printed {count} to {name} (captured, not part of the "
        f"output): {_one_line(text)!r}"
        for name, text, count in (("stdout", stdout, counts[0]), ("stderr", stderr, counts[1]))
        if text
    ]
    return "; ".join(parts) or None


class CandidateCall:
    """In-process: ``call(sigma, n)`` evaluates a Python callable; ``printed`` collects its stdout."""

    def __init__(self, candidate, d: int):
        if not callable(candidate):
            raise CandidateError(
                "candidate must be callable as candidate(sigma=..., n=...) or a "
                f"'module:function' string; got {type(candidate).__name__}"
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
        return _printed_note(self.printed)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def call_candidate(candidate, sigma, n: int, d: int):
    """Call ``candidate(sigma=..., n=...)`` in-process; returns (float (d, d) array, stdout).

    ``sigma`` is passed as a copy, so the candidate cannot change the run's covariance.
    Raises CandidateError if the candidate raises anything or returns a bad value.
    """
    try:
        with _captured_stdout() as buf:
            out = candidate(sigma=np.array(sigma, dtype=float, copy=True), n=int(n))
    except BaseException as exc:  # foreign code: SystemExit and KeyboardInterrupt included
        raise CandidateError(f"candidate raised {describe(exc)}") from None
    return as_preconditioner(out, d), buf.getvalue()


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class CandidateProcess:
    """``MODULE:FUNCTION`` run in a child process; ``call(sigma, n)`` -> validated (d, d) array.

    Use as a context manager: the child (its whole process group) is killed on exit, also when
    the verification is interrupted.  ``timeout``: seconds per call (see :func:`check_timeout`).
    """

    def __init__(self, spec: str, d: int, timeout=None):
        self.spec = check_spec(spec)
        self.d = int(d)
        self.timeout = check_timeout(timeout)
        self.proc = None
        self._out = tempfile.TemporaryFile()  # noqa: SIM115  (closed in close())
        self._err = tempfile.TemporaryFile()  # noqa: SIM115
        self._req = self._res = None

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> CandidateProcess:
        req_r, req_w = os.pipe()
        res_r, res_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, str(_CHILD), str(req_r), str(res_w), self.spec, str(self.d)],
                stdin=subprocess.DEVNULL,
                stdout=self._out,
                stderr=self._err,
                pass_fds=(req_r, res_w),
                start_new_session=True,  # own process group: killed as one; no terminal Ctrl-C
                cwd=os.getcwd(),
            )
        except BaseException:
            for fd in (req_r, req_w, res_r, res_w):
                os.close(fd)
            raise
        os.close(req_r)
        os.close(res_w)
        self._req, self._res = req_w, res_r
        kind, payload = self._receive("importing the module", max(self.timeout, DEFAULT_TIMEOUT))
        if kind != b"r":
            raise CandidateError(f"unexpected answer {kind!r} from the candidate process")
        return self

    def close(self) -> None:
        """Kill the child's process group and release the pipes and files (idempotent)."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                self.proc.wait(timeout=10)
        for fd in (self._req, self._res):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._req = self._res = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
        self._out.close()
        self._err.close()
        return False

    # -- calls ---------------------------------------------------------------------------------

    def __call__(self, sigma, n):
        sigma = np.array(sigma, dtype="<f8", copy=True)
        if sigma.shape != (self.d, self.d):
            raise ValueError(f"sigma must be {self.d} x {self.d}; got shape {sigma.shape}")
        try:
            data = struct.pack("<qq", int(n), self.d) + sigma.tobytes()
            while data:
                data = data[os.write(self._req, data) :]
        except OSError:  # the child is gone: _receive says why
            pass
        kind, payload = self._receive("a call")
        if kind != b"v" or len(payload) != 8 * self.d * self.d:
            raise CandidateError("the candidate process sent a malformed answer")
        M = np.frombuffer(payload, dtype="<f8").reshape(self.d, self.d).astype(float)
        return as_preconditioner(M, self.d)

    def _read(self, size: int, deadline: float, what: str, timeout: float) -> bytes:
        chunks = []
        with selectors.DefaultSelector() as sel:
            sel.register(self._res, selectors.EVENT_READ)
            while size:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    self.close()
                    raise CandidateError(
                        f"candidate did not answer within {timeout:g} s ({what}); stopped "
                        "(raise the limit with --candidate-timeout SECONDS)"
                    )
                chunk = os.read(self._res, size)
                if not chunk:
                    raise CandidateError(self._ended(what))
                chunks.append(chunk)
                size -= len(chunk)
        return b"".join(chunks)

    def _receive(self, what: str, timeout: float | None = None):
        """(kind, payload) of the child's next answer; CandidateError for an error answer."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        kind, length = struct.unpack("<cQ", self._read(9, deadline, what, timeout))
        if length > 8 * self.d * self.d + 4096:
            self.close()
            raise CandidateError("the candidate process sent a malformed answer")
        payload = self._read(length, deadline, what, timeout)
        if kind == b"e":
            self.close()
            raise CandidateError(_one_line(payload.decode("utf-8", "replace"), 2 * QUOTE))
        return kind, payload

    def _ended(self, what: str) -> str:
        """Why the child stopped answering: its exit code or the signal that ended it."""
        code = None
        with contextlib.suppress(Exception):
            code = self.proc.wait(timeout=5)
        self.close()
        if code is None:
            how = "closed its answer pipe"
        elif code < 0:
            how = f"was ended by {_signal_name(-code)}"
        else:
            how = f"exited with code {code}"
        return f"candidate process {how} before returning a value ({what})"

    def note(self) -> str | None:
        """A verdict note quoting what the candidate printed (stdout and stderr), or None."""
        texts, sizes = [], []
        for fh in (self._out, self._err):
            fh.seek(0)
            texts.append(fh.read(4 * QUOTE).decode("utf-8", "replace"))
            sizes.append(f"{os.fstat(fh.fileno()).st_size} bytes")
        return _printed_note(*texts, sizes=sizes)
