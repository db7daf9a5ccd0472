"""Seconds to compute, certify and classify the critical points of phi_L on S (theory.critical).

Each case runs in a fresh interpreter so memo caches of one case never speed up another.  A row
records the total seconds of ``certified_critical_points`` (elimination + Krawczyk + Hessian
bounds; for family (11) L = 3 the re-certification of the shipped table), the seconds of the
certification alone (re-certifying the listed points from their centres), the number of points,
how many are certified, and whether the list is proved complete.
"""

from __future__ import annotations

import json
import subprocess
import sys

__all__ = ["time_critical_points"]

_SNIPPET = """
import json, time
t0 = time.perf_counter()
from theory.critical import certified_critical_points, certify_point
t1 = time.perf_counter()
cs = certified_critical_points({family!r}, {L}, {n}, {d})
t2 = time.perf_counter()
for p in cs.points:
    certify_point({family!r}, {L}, {n}, {d}, list(p.a) + (list(p.b[:-1]) if p.family == "11" else []))
t3 = time.perf_counter()
kinds = {{}}
for p in cs.points:
    kinds[p.kind] = kinds.get(p.kind, 0) + 1
print(json.dumps({{"import_seconds": t1 - t0, "seconds": t2 - t1, "certify_seconds": t3 - t2,
                  "points": len(cs.points), "certified": sum(p.certified for p in cs.points),
                  "complete": cs.complete, "global_minimum_proved": cs.global_minimum_proved,
                  "kinds": kinds}}))
"""


def time_critical_points(
    family: str, L: int, n: int = 20, d: int = 5, timeout: float = 300.0, **kw
) -> dict:
    """Seconds of ``certified_critical_points(family, L, n, d)`` (fresh process), with counts.

    ``kw`` (legacy search keywords) is recorded in the row and otherwise ignored: the list no
    longer depends on a search effort.
    """
    row = {"family": family, "L": L, "n": n, "d": d, **kw}
    code = _SNIPPET.format(family=family, L=L, n=n, d=d)
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {**row, "seconds": None, "status": f"timeout after {timeout:g} s"}
    if out.returncode != 0:
        return {**row, "seconds": None, "status": "error: " + out.stderr.strip().splitlines()[-1]}
    return {**row, **json.loads(out.stdout.strip().splitlines()[-1]), "status": "ok"}
