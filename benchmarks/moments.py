"""The moment engine: exact E tr W^k (theory.wishart) against brute-force Wick enumeration.

W = G G^T with G a d x n standard Gaussian matrix.  Wick's theorem writes

    E tr W^k = sum over perfect matchings pi of the 2k factors of
               tr (G G^T)^k = sum G_{a_0 i_0} G_{a_1 i_0} G_{a_1 i_1} G_{a_2 i_1} ... G_{a_0 i_{k-1}}
               of  d^{#row classes(pi)} n^{#column classes(pi)},

(pairing two factors identifies their row indices and their column indices).  There are
(2k - 1)!! matchings, so enumeration is feasible only for small k; it is an independent check
of the Stein recursion and the baseline the engine is timed against.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from collections import Counter

__all__ = ["wick_trace_moment", "time_wick", "time_engine", "double_factorial"]


def double_factorial(m: int) -> int:
    return math.prod(range(m, 0, -2)) if m > 0 else 1


def _classes(pairs, index_of, k):
    """Number of index classes after identifying index_of(f) ~ index_of(g) for each pair."""
    parent = list(range(k))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    count = k
    for f, g in pairs:
        a, b = find(index_of(f)), find(index_of(g))
        if a != b:
            parent[a] = b
            count -= 1
    return count


def _matchings(items):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for j in range(len(rest)):
        for m in _matchings(rest[:j] + rest[j + 1 :]):
            yield [(first, rest[j])] + m


def wick_trace_moment(k: int) -> Counter:
    """E tr W^k by Wick enumeration: a Counter {(power of n, power of d): coefficient}.

    Factor 2j is G_{a_j, i_j}, factor 2j+1 is G_{a_{j+1 mod k}, i_j} (j = 0..k-1).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1; got {k}")
    row = lambda f: (f // 2 + f % 2) % k  # a-index of factor f
    col = lambda f: f // 2  # i-index of factor f
    out = Counter()
    for m in _matchings(list(range(2 * k))):
        out[(_classes(m, col, k), _classes(m, row, k))] += 1
    return out


def _engine_as_counter(k: int) -> Counter:
    from theory.wishart import moment_poly

    return Counter({tuple(int(e) for e in mon): int(c) for mon, c in moment_poly(k).terms()})


def time_wick(ks) -> list[dict]:
    """Seconds of Wick enumeration for each k, and whether it equals the engine's polynomial."""
    rows = []
    for k in ks:
        t0 = time.perf_counter()
        poly = wick_trace_moment(k)
        sec = time.perf_counter() - t0
        rows.append(
            {
                "k": k,
                "matchings": double_factorial(2 * k - 1),
                "seconds": sec,
                "agrees_with_engine": poly == _engine_as_counter(k),
            }
        )
    return rows


_ENGINE_SNIPPET = """
import sys, time
t0 = time.perf_counter()
from theory.wishart import trace_moment
t1 = time.perf_counter()
trace_moment({k})
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def time_engine(k: int, timeout: float = 120.0) -> dict:
    """Seconds of the exact symbolic E tr W^k in a fresh interpreter (empty memo caches)."""
    try:
        out = subprocess.run(
            [sys.executable, "-c", _ENGINE_SNIPPET.format(k=k)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        ).stdout.split()
    except subprocess.TimeoutExpired:
        return {"k": k, "seconds": None, "status": f"timeout after {timeout:g} s"}
    return {"k": k, "seconds": float(out[1]), "import_seconds": float(out[0]), "status": "ok"}
