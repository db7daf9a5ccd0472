"""Seconds to compute and classify the critical points of phi_L on S (theory.critical).

Each case runs in a fresh interpreter so memo caches of one case never speed up another.
"""
from __future__ import annotations

import json
import subprocess
import sys

__all__ = ["time_critical_points"]

_SNIPPET = """
import json, time
t0 = time.perf_counter()
from theory.critical import critical_points
t1 = time.perf_counter()
pts = critical_points({family!r}, {L}, {n}, {d}, **{kw!r})
t2 = time.perf_counter()
kinds = {{}}
for p in pts:
    kinds[p.kind] = kinds.get(p.kind, 0) + 1
print(json.dumps({{"import_seconds": t1 - t0, "seconds": t2 - t1, "points": len(pts), "kinds": kinds}}))
"""


def time_critical_points(family: str, L: int, n: int = 20, d: int = 5, timeout: float = 300.0,
                         **kw) -> dict:
    """Seconds of ``critical_points(family, L, n, d, **kw)`` (fresh process), with the count."""
    row = {"family": family, "L": L, "n": n, "d": d, **kw}
    code = _SNIPPET.format(family=family, L=L, n=n, d=d, kw=kw)
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**row, "seconds": None, "status": f"timeout after {timeout:g} s"}
    if out.returncode != 0:
        return {**row, "seconds": None, "status": "error: " + out.stderr.strip().splitlines()[-1]}
    return {**row, **json.loads(out.stdout.strip().splitlines()[-1]), "status": "ok"}
