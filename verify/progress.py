"""Progress lines on stderr, shown only when stderr is a terminal."""
from __future__ import annotations

import sys
import time


class Progress:
    """``update(msg)`` rewrites one status line on a terminal; a no-op otherwise."""

    def __init__(self, stream=sys.stderr, label: str = ""):
        self.stream = stream
        self.label = label
        self.t0 = time.perf_counter()
        self.active = bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())

    def update(self, msg: str) -> None:
        if self.active:
            t = time.perf_counter() - self.t0
            self.stream.write(f"\r\033[K{self.label}[{t:6.1f}s] {msg}")
            self.stream.flush()

    def done(self) -> None:
        if self.active:
            self.stream.write("\r\033[K")
            self.stream.flush()
