"""Progress lines on stderr, shown only when stderr is a terminal.

On a terminal the line is redrawn every ``interval`` seconds by a timer thread, so the elapsed
time keeps moving during a long step; anywhere else (a pipe, a file, a test) nothing is written.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time

__all__ = ["Progress"]


class Progress:
    """``update(msg)`` rewrites one status line on a terminal; a no-op otherwise.

    ``done()`` stops the timer and clears the line (idempotent); also a context manager.
    """

    def __init__(self, stream=sys.stderr, label: str = "", interval: float = 1.0):
        self.stream = stream
        self.label = label
        self.interval = interval
        self.t0 = time.perf_counter()
        self.active = bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())
        self._msg = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None

    def _draw(self) -> None:
        t = time.perf_counter() - self.t0
        width = max(shutil.get_terminal_size((100, 24)).columns - 1, 20)
        line = f"{self.label}[{t:6.1f}s] {self._msg}"[
            :width
        ]  # a wrapped line cannot be redrawn by \r
        self.stream.write(f"\r\033[K{line}")
        self.stream.flush()

    def _tick(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            with self._lock:
                if stop.is_set():
                    return
                self._draw()

    def update(self, msg: str) -> None:
        if not self.active:
            return
        with self._lock:
            self._msg = msg
            self._draw()
            if self._thread is None:
                self._stop = threading.Event()
                self._thread = threading.Thread(
                    target=self._tick, args=(self._stop,), daemon=True, name="progress-timer"
                )
                self._thread.start()

    def done(self) -> None:
        if not self.active:
            return
        with self._lock:
            self._stop.set()
            thread, self._thread = self._thread, None
            if thread is not None or self._msg:
                self.stream.write("\r\033[K")
                self.stream.flush()
            self._msg = ""
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2 * self.interval)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.done()
        return False
