"""Time to verdict: the whole ``verify-theorem CLAIM`` process at its defaults.

The installed console script is used when it is on PATH; otherwise the same entry point
(``verify.cli:main``) is run with this interpreter, so an uninstalled checkout is timed too.
Each claim has its own timeout; a timeout is reported as such, never as a time.  Besides wall
seconds each row records the CPU seconds of the child process (user + system, from
``resource.getrusage(RUSAGE_CHILDREN)``), which the other agents on a shared machine inflate
less; :func:`cost_ratio` times two claims back to back in one run and reports their ratio
(issue 10: the default claim 4 must cost at most 2x the default claim 3).
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import time

__all__ = ["command_for", "cost_ratio", "time_to_verdict"]


def command_for(claim: str, extra=()) -> list[str]:
    exe = shutil.which("verify-theorem")
    if exe:
        return [exe, claim, *extra]
    code = (
        "import sys; from verify.cli import main; sys.argv[0] = 'verify-theorem'; sys.exit(main())"
    )
    return [sys.executable, "-c", code, claim, *extra]


def time_to_verdict(claim: str, timeout: float = 120.0, extra=()) -> dict:
    """Wall-clock seconds of one verify-theorem process; status passed/failed/timeout/error."""
    cmd = command_for(claim, extra)
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {
            "claim": claim,
            "options": list(extra),
            "seconds": None,
            "status": f"timeout after {timeout:g} s",
            "exit_code": None,
        }
    sec = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    status = {0: "passed", 1: "failed"}.get(proc.returncode, "error")
    row = {
        "claim": claim,
        "options": list(extra),
        "seconds": sec,
        "cpu_seconds": cpu,
        "status": status,
        "exit_code": proc.returncode,
    }
    if status == "error":
        row["stderr"] = proc.stderr.strip().splitlines()[-1:]
    return row


def cost_ratio(claim: str = "4", baseline: str = "3", timeout: float = 600.0, extra=()) -> dict:
    """Both claims' default verdicts timed back to back in this run; ratio of CPU and wall seconds.

    Returns ``{"claim": row, "baseline": row, "cpu_ratio": ..., "wall_ratio": ...}`` (ratios None
    when either run timed out).
    """
    base = time_to_verdict(baseline, timeout, extra)
    row = time_to_verdict(claim, timeout, extra)
    ok = base["seconds"] is not None and row["seconds"] is not None
    return {
        "claim": row,
        "baseline": base,
        "cpu_ratio": row["cpu_seconds"] / base["cpu_seconds"]
        if ok and base["cpu_seconds"]
        else None,
        "wall_ratio": row["seconds"] / base["seconds"] if ok else None,
    }
