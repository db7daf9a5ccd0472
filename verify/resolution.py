"""Resolution: the smallest deviation from a tested closed form that a run would reject.

For a relative-Frobenius check ``||M_bar - C||_F / ||C||_F <= tol`` of a replica mean M_bar
against a closed form C, a candidate ``C' = C + Delta`` with ``||Delta||_F = eps ||C||_F`` has

    ||M_bar - C'|| >= ||Delta|| - ||M_bar - C|| = (eps - obs) ||C||,

whatever the direction of Delta, while its tolerance is at most ``tol ||C'|| <= tol (1 + eps) ||C||``
(the spread-based part of the tolerance is absolute; only the stopping-rule and round-off parts
scale with ||C'||, so this bound is conservative).  The check therefore rejects C' in every
direction once ``eps (1 - tol) > obs + tol``:

    resolution(check) = (obs + tol) / (1 - tol).

A run rejects a deviation if any check does, so its resolution is the smallest over its
relative-Frobenius checks that the tested closed form passes (a check it fails or cannot decide
rejects nothing reliably).  Other checks (Dist, predictions, losses) can only add rejections;
they are not counted because their sensitivity depends on the direction of Delta.
"""

from __future__ import annotations

import math

__all__ = ["check_resolution", "next_effort", "run_resolution"]


def check_resolution(check) -> float:
    """``(observed + tolerance) / (1 - tolerance)`` of a passed relative-Frobenius check; inf otherwise."""
    if not check.passed or check.sense != "<=" or not (0 <= check.tolerance < 1):
        return math.inf
    return (check.observed + check.tolerance) / (1.0 - check.tolerance)


def run_resolution(checks, ids) -> tuple[float, str]:
    """(resolution, basis) over the checks whose ids (:class:`verify.checks.CheckDef`) are in
    ``ids`` (relative-Frobenius checks).  A title in ``ids`` is still honoured for callers not
    yet naming checks by id."""
    cands = [(check_resolution(c), c.name) for c in checks if c.id in ids or c.name in ids]
    finite = [x for x in cands if math.isfinite(x[0])]
    if not finite:
        return math.inf, (
            "no relative-Frobenius check passed: this run cannot bound the deviation "
            "it would reject"
        )
    res, name = min(finite)
    return res, (
        f"worst-case direction: any deviation larger than (observed + tolerance) / (1 - tolerance) "
        f"of the closed form fails '{name}'; smallest over {len(cands)} relative-Frobenius checks"
    )


def next_effort(current: int, resolution: float, target: float, cap: int) -> int:
    """The sample size predicted to reach ``target``: resolution scales as 1/sqrt(samples),
    with a 30 % safety factor and at least doubling; never above ``cap``."""
    if not math.isfinite(resolution):
        return min(cap, 4 * current)
    want = current * (resolution / target) ** 2 * 1.3
    return int(min(cap, max(2 * current, math.ceil(want))))
