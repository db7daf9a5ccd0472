"""Report files that change as a unit: a reader sees the old file set or the new one.

Every file is first written into a STAGING DIRECTORY ``.verify-staging-<pid>-<random>`` inside
the target directory (same file system, so ``os.replace`` into place is an atomic rename); a
:class:`Staging` then moves its whole file set into place with SIGINT and SIGTERM held back for
the few renames (a report's figures first, its page last), so an interrupted run leaves the
previous report whole and no new figure beside an old page.  On any failure or interruption the
staging directory is removed and the targets are untouched.  Files get the usual permissions
(0666 minus the umask, e.g. 0644), not the 0600 of :func:`tempfile.mkstemp`.

A process killed by SIGKILL cannot clean up; the next :class:`Staging` in the same directory
removes staging directories of processes that no longer exist.  Only directories this tool made
are touched: a staging directory holds the marker file :data:`MARKER` naming its process, and
only a directory with that marker (and only the regular files in it) is ever removed, never a
user's file however it is named.

:func:`check_report_dir` validates a report directory before any work starts.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..errors import UsageError

__all__ = [
    "MARKER",
    "Staging",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_report_dir",
    "clean_stale_staging",
]

#: Name prefix of a staging directory.
PREFIX = ".verify-staging-"
#: The marker file inside every staging directory this tool made: ``icl-verify staging <pid>``.
MARKER = ".icl-verify-staging"
_MARKED = re.compile(r"^icl-verify staging (\d+)\n$")


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # cannot tell cheaply: keep the directory
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OverflowError:
        return False
    return True


def _owner(staging: Path) -> int | None:
    """The pid in ``staging``'s marker file, or None if it is not a staging directory of ours."""
    try:
        if staging.is_symlink() or not staging.is_dir():
            return None
        marker = staging / MARKER
        if marker.is_symlink() or not marker.is_file() or marker.stat().st_size > 100:
            return None
        m = _MARKED.match(marker.read_text(encoding="ascii", errors="replace"))
    except OSError:
        return None
    return int(m.group(1)) if m else None


def _remove_staging(staging: Path) -> None:
    """Remove the regular files in a staging directory of ours, then the directory (kept if
    anything else is in it)."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(staging):
            if entry.is_file(follow_symlinks=False) or entry.is_symlink():
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
        os.rmdir(staging)


def clean_stale_staging(directory) -> list:
    """Remove the staging directories in ``directory`` whose process is gone; returns their names.

    A directory counts only if its name starts with :data:`PREFIX` and it holds the marker file
    :data:`MARKER` written by :class:`Staging`; anything else is left alone."""
    removed = []
    try:
        entries = [e for e in os.scandir(directory) if e.name.startswith(PREFIX)]
    except OSError:
        return removed
    for entry in entries:
        pid = _owner(Path(entry.path))
        if pid is not None and not _pid_alive(pid):
            _remove_staging(Path(entry.path))
            removed.append(entry.name)
    return removed


@contextlib.contextmanager
def _signals_held():
    """SIGINT and SIGTERM held back (delivered on exit) while a file set is moved into place."""
    held = {signal.SIGINT, signal.SIGTERM}
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, ValueError, OSError):  # not POSIX
        old = None
    try:
        yield
    finally:
        if old is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


class Staging:
    """A staging directory in ``directory``; :meth:`write` files into it, :meth:`commit` them.

    Use as a context manager: whatever was not committed is removed on exit."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self.path = None

    def __enter__(self) -> Staging:
        self.directory.mkdir(parents=True, exist_ok=True)
        clean_stale_staging(self.directory)
        self.path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=self.directory))
        (self.path / MARKER).write_text(f"icl-verify staging {os.getpid()}\n", encoding="ascii")
        return self

    def __exit__(self, *exc):
        _remove_staging(self.path)
        return False

    def write(self, name: str, write: Callable) -> Path:
        """Call ``write(fileobj)`` on the staged binary file ``name`` (flushed and synced)."""
        if name in (MARKER, "") or "/" in name or os.sep in name:
            raise ValueError(f"a report file name must be a plain file name; got {name!r}")
        path = self.path / name
        fd = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o666
        )
        with os.fdopen(fd, "wb") as fh:  # 0o666: the umask applies, as for any new file
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        return path

    def commit(self, last=None) -> list:
        """Move every staged file into place (those :meth:`write` made and those written into
        :attr:`path` directly, e.g. figures), ``last`` (the page) after the others, with SIGINT
        and SIGTERM held back until all are moved; returns the names moved."""
        names = sorted(e.name for e in os.scandir(self.path) if e.name != MARKER and e.is_file())
        names = [n for n in names if n != last] + ([last] if last in names else [])
        with _signals_held():
            for name in names:
                os.replace(self.path / name, self.directory / name)
        return names


def atomic_write(path, write: Callable) -> Path:
    """Call ``write(fileobj)`` on a staged binary file, then move it to ``path``.

    ``write`` may raise; the target is then unchanged and no staged file remains.  Inside a
    staging directory (a figure of a report being staged) the file is written there directly.
    """
    path = Path(path)
    if _owner(path.parent) == os.getpid():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        return path
    with Staging(path.parent) as staging:
        staging.write(path.name, write)
        staging.commit()
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
    """The report directory ``text`` as a resolved Path, or UsageError (one line) if it cannot
    be written.

    Every symbolic link on the way is resolved first (the run writes to the resolved path, so a
    link changed later cannot redirect it); a dangling link names the directory to create, a
    looping one is refused.  Refused: an empty name, an existing non-directory, a path under a
    file, a directory (or nearest existing ancestor, where the directory would be created) in
    which no file can be created; a directory standing where one of the report files ``names``
    would go.  Nothing is created except a probe file that is removed at once.
    """
    if text is None or not str(text).strip():
        raise UsageError(f"--report needs a directory name; got {text!r}")
    try:
        path = Path(os.path.realpath(text))
    except (OSError, ValueError) as exc:
        raise UsageError(f"--report {text!r}: cannot resolve the path: {exc}") from None
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
        if os.path.lexists(ancestor):  # realpath resolved every link it could: this one loops
            raise UsageError(
                f"--report {text!r}: {str(ancestor)!r} is a symbolic link that loops "
                "(too many levels of symbolic links)"
            )
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
