"""Time to verdict: the whole ``verify-theorem CLAIM`` process at its defaults.

The installed console script is used when it is on PATH; otherwise the same entry point
(``verify.cli:main``) is run with this interpreter, so an uninstalled checkout is timed too.
Each claim has its own timeout; a timeout is reported as such, never as a time.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import time

__all__ = ["command_for", "time_to_verdict"]


def command_for(claim: str, extra=()) -> list[str]:
    exe = shutil.which("verify-theorem")
    if exe:
        return [exe, claim, *extra]
    code = "import sys; from verify.cli import main; sys.argv[0] = 'verify-theorem'; sys.exit(main())"
    return [sys.executable, "-c", code, claim, *extra]


def time_to_verdict(claim: str, timeout: float = 120.0, extra=()) -> dict:
    """Wall-clock seconds of one verify-theorem process; status passed/failed/timeout/error."""
    cmd = command_for(claim, extra)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"claim": claim, "options": list(extra), "seconds": None,
                "status": f"timeout after {timeout:g} s", "exit_code": None}
    sec = time.perf_counter() - t0
    status = {0: "passed", 1: "failed"}.get(proc.returncode, "error")
    row = {"claim": claim, "options": list(extra), "seconds": sec, "status": status,
           "exit_code": proc.returncode}
    if status == "error":
        row["stderr"] = proc.stderr.strip().splitlines()[-1:]
    return row
