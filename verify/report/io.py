"""Atomic file writes: a reader sees the old file or the new one, never half of one.

The bytes go to a temporary file ``.<name>.tmp-<pid>`` in the target's own directory (so
``os.replace`` is a rename within one file system, atomic on POSIX and Windows); on any
failure the temporary file is removed and the target is left untouched.  Files get the usual
permissions (0666 minus the umask, e.g. 0644), not the 0600 of :func:`tempfile.mkstemp`.
A process killed mid-write (SIGKILL) cannot clean up; every later write into the same
directory removes the temporary files of processes that no longer exist.

:func:`check_report_dir` validates a report directory before any work starts.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from pathlib import Path

from ..errors import UsageError

__all__ = [
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_report_dir",
    "clean_stale_temporaries",
]

_TEMP = re.compile(r"^\..+\.tmp-(\d+)$")


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # cannot tell cheaply: keep the file
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OverflowError:
        return False
    return True


def clean_stale_temporaries(directory) -> list:
    """Remove ``.<name>.tmp-<pid>`` files in ``directory`` whose process is gone; returns them."""
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP.match(entry.name)
        if m and entry.is_file(follow_symlinks=False) and not _pid_alive(int(m.group(1))):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(entry.name)
    return removed


def _open_temporary(path: Path):
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(tmp, flags, 0o666)  # the umask applies, as for any new file
    except FileExistsError:  # left by an earlier process that had our pid: ours to replace
        os.unlink(tmp)
        fd = os.open(tmp, flags, 0o666)
    return fd, tmp


def atomic_write(path, write: Callable) -> Path:
    """Call ``write(fileobj)`` on a temporary binary file beside ``path``, then rename it.

    ``write`` may raise; the target is then unchanged and no temporary file remains.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(path.parent)
    fd, tmp = _open_temporary(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path, text: str) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` line endings on every platform) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _probe_writable(directory: Path) -> str | None:
    """None if a file can be created in ``directory`` (tried, then removed), else the reason."""
    probe = directory / f".verify-probe.tmp-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return None


def check_report_dir(text, names=()) -> Path:
    """The report directory ``text`` as a Path, or UsageError (one line) if it cannot be written.

    Refused: an empty name, an existing non-directory, a path under a file, a directory (or
    nearest existing ancestor, where the directory would be created) in which no file can be
    created; a directory standing where one of the report files ``names`` would go.  Nothing is
    created except a probe file that is removed at once.
    """
    if text is None or not str(text).strip():
        raise UsageError(f"--report needs a directory name; got {text!r}")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--report {text!r} exists and is not a directory")
    for name in names:
        target = path / name
        if target.exists() and not target.is_file():
            raise UsageError(
                f"--report {text!r}: {str(target)!r} exists and is not a file, so the report "
                "cannot be written there"
            )
    ancestor = path
    while not ancestor.exists():
        if ancestor.parent == ancestor:
            break
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(
            f"--report {text!r}: {str(ancestor)!r} is a file, so no directory can be made under it"
        )
    reason = _probe_writable(ancestor)
    if reason is not None:
        where = "it" if ancestor == path else f"its nearest existing ancestor {str(ancestor)!r}"
        raise UsageError(f"--report {text!r}: cannot create files in {where}: {reason}")
    return path
