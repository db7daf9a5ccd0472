"""The child process that runs a user's candidate closed form (``--candidate MODULE:FUNCTION``).

Run as a script by :class:`verify.candidate.CandidateProcess`, never imported by the candidate:
``python candidate_child.py REQUEST_FD RESULT_FD MODULE:FUNCTION D``.  It depends on the standard
library and numpy only, so it starts fast and imports nothing of the verifier beside the
candidate.  Its stdout and stderr are files the parent reads; the protocol runs on two pipes:

- at start it imports MODULE, finds FUNCTION and answers ``ready`` or ``error``;
- each request is ``n`` and ``d`` (two little-endian int64) then Sigma (d*d little-endian
  float64, row-major); the answer is ``value`` with d*d float64 (the validated
  preconditioner) or ``error`` with a UTF-8 one-line message.

An answer is a kind byte (``r``, ``v``, ``e``), a little-endian uint64 length and the payload.
A process forked by the candidate never answers (it exits when control comes back here), so
one request gets at most one answer; the parent kills the whole process group when it is done.
:func:`preconditioner` is also the parent's validation of a value (:mod:`verify.candidate`).
"""

from __future__ import annotations

import importlib
import numbers
import os
import struct
import sys

#: Characters of a candidate's message quoted in an error.
QUOTE = 200
#: Bytes the candidate may write to its stdout and stderr files together (RLIMIT_FSIZE):
#: a candidate that prints without end is stopped by SIGXFSZ instead of filling the disk.
MAX_OUTPUT_BYTES = 16 * 2**20


class Refused(Exception):
    """The candidate's return value is not a finite real d x d array (the reason is the text)."""


def one_line(text, limit: int = QUOTE) -> str:
    """``text`` on one line, at most ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(exc: BaseException, limit: int = QUOTE) -> str:
    """``TypeName: message`` of any exception, even one whose ``__str__`` raises or returns a
    non-string (then the message says so instead)."""
    try:
        name = type(exc).__name__
        name = name if isinstance(name, str) else "exception"
    except BaseException:  # noqa: BLE001  a hostile metaclass
        name = "exception"
    try:
        msg = exc.__str__()
        if not isinstance(msg, str):
            msg = f"(its __str__ returned {type(msg).__name__}, not str)"
        msg = one_line(msg, limit)
    except BaseException as inner:  # noqa: BLE001  foreign __str__
        msg = f"(its __str__ raised {type(inner).__name__})"
    return f"{name}: {msg or '(no message)'}"


def preconditioner(out, d: int):
    """The candidate's return value as a float (d, d) array; :class:`Refused` otherwise.

    Complex dtypes are refused even with a zero imaginary part: the preconditioner of real data
    is real, and a complex result usually means a square root or eigendecomposition went wrong.
    """
    import numpy as np

    want = f"a finite real {d} x {d} array (the preconditioner)"
    if out is None or isinstance(out, (dict, str, bytes, set, frozenset)):
        raise Refused(f"candidate must return {want}; got {type(out).__name__}")
    try:
        M = np.asarray(out)
    except BaseException as exc:  # noqa: BLE001  ragged lists; a foreign __array__ may raise anything
        raise Refused(
            f"candidate must return {want}; got a {type(out).__name__} that is not "
            f"a rectangular array ({describe(exc, 80)})"
        ) from None
    kind = M.dtype.kind
    if kind == "c":
        raise Refused(
            f"candidate must return {want}; got complex dtype {M.dtype} (refused even "
            "with zero imaginary part: a preconditioner of real data is real)"
        )
    if kind == "O" and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in M.flat):
        try:
            M = M.astype(float)
        except BaseException as exc:  # noqa: BLE001  a foreign __float__ may raise anything
            raise Refused(
                f"candidate must return {want}; its entries do not convert to "
                f"float ({describe(exc, 80)})"
            ) from None
        kind = "f"
    if kind not in "iuf":
        raise Refused(
            f"candidate must return {want}; got an array of dtype {M.dtype} "
            "(entries must be real numbers)"
        )
    if M.shape != (d, d):
        raise Refused(f"candidate must return {want}; got shape {M.shape}")
    M = M.astype(float)
    bad = int(np.count_nonzero(~np.isfinite(M)))
    if bad:
        raise Refused(f"candidate must return {want}; got {bad} non-finite entries (NaN or inf)")
    return M


def load(spec: str):
    """The function named by ``MODULE:FUNCTION``; :class:`Refused` with the reason otherwise."""
    mod_name, fn_name = spec.split(":")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as exc:
        raise Refused(f"--candidate: cannot import module {mod_name!r}: {one_line(exc)}") from None
    except BaseException as exc:  # noqa: BLE001  the module's own top-level code failed
        raise Refused(f"--candidate: importing {mod_name!r} raised {describe(exc)}") from None
    fn = getattr(mod, fn_name, None)
    if not callable(fn):
        raise Refused(f"--candidate: {mod_name!r} has no callable {fn_name!r}")
    return fn


def _read_exact(fd: int, size: int) -> bytes:
    chunks = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _send(fd: int, kind: bytes, payload: bytes) -> None:
    data = kind + struct.pack("<Q", len(payload)) + payload
    while data:
        data = data[os.write(fd, data) :]


def _confine() -> None:
    """Resource limits of the child (POSIX): no core files, bounded output; and die with the
    parent (Linux), so a candidate that sleeps outlives no verifier killed by SIGKILL."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_OUTPUT_BYTES, MAX_OUTPUT_BYTES))
    except (ImportError, ValueError, OSError):
        pass
    try:
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError, TypeError):
        pass


def _answer(fn, sigma, n: int, d: int):
    """(kind, payload) of one call: the validated value or the one-line reason."""
    try:
        out = fn(sigma=sigma, n=n)
    except BaseException as exc:  # noqa: BLE001  foreign code: SystemExit and KeyboardInterrupt too
        return b"e", f"candidate raised {describe(exc)}"
    try:
        M = preconditioner(out, d)
    except Refused as exc:
        return b"e", str(exc)
    except BaseException as exc:  # noqa: BLE001  foreign code in the value's conversions
        return b"e", f"candidate's return value raised {describe(exc)} when read"
    return b"v", M.astype("<f8").tobytes()


def main(argv) -> None:
    req, res, spec, d = int(argv[1]), int(argv[2]), argv[3], int(argv[4])
    sys.path[0] = os.getcwd()  # like `python -m`: the current directory, not verify/
    _confine()
    me = os.getpid()
    try:
        fn = load(spec)
    except Refused as exc:
        _send(res, b"e", str(exc).encode("utf-8", "replace"))
        return
    if os.getpid() != me:  # the module forked at import: only the first process answers
        os._exit(0)
    _send(res, b"r", b"")
    import numpy as np

    while True:
        try:
            n, d_req = struct.unpack("<qq", _read_exact(req, 16))
            sigma = np.frombuffer(_read_exact(req, 8 * d_req * d_req), dtype="<f8")
        except EOFError:
            return
        kind, payload = _answer(fn, sigma.reshape(d_req, d_req).astype(float), int(n), d)
        if os.getpid() != me:  # a process the candidate forked: it never answers
            os._exit(0)
        _send(
            res, kind, payload if isinstance(payload, bytes) else payload.encode("utf-8", "replace")
        )


if __name__ == "__main__":
    main(sys.argv)
    sys.stdout.flush()
    os._exit(0)  # no interpreter shutdown: leftover candidate threads cannot run on
