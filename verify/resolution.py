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

Claims 2, 3 and 4 have no closed-form matrix of their own but an optimum or a critical point
given by step sizes; the same bound holds in their terms (:data:`STEP_SIZE_CHECKS`):

* claim 2: the search's minimiser (A_0, A_1) against the closed form (a*_0 I, a*_1 I), relative
  Frobenius up to the layer swap (the distance to the swap class obeys the triangle inequality),
  so the resolution is the smallest relative deviation of the global minimiser it rejects;
* claim 3: the replica mean of Sigma^1/2 A_l Sigma^1/2 against a*_l I, relative Frobenius; since
  ||(a_l I)_l||_F = sqrt(d) ||a||, a relative Frobenius deviation of (a_l I) is the same relative
  Euclidean deviation of the step sizes a, so the resolution is in step sizes;
* claim 4: the replicas' step sizes (a_l, b_l) against a certified critical point's, relative
  Euclidean: the resolution is the smallest relative deviation of the step sizes it rejects.

:func:`attach_resolution` sets it on a verdict that has none.
"""

from __future__ import annotations

import math

__all__ = [
    "STEP_SIZE_CHECKS",
    "attach_resolution",
    "check_resolution",
    "next_effort",
    "run_resolution",
]


def check_resolution(check) -> float:
    """``(observed + tolerance) / (1 - tolerance)`` of a passed relative-Frobenius check; inf otherwise."""
    if not check.passed or check.sense != "<=" or not (0 <= check.tolerance < 1):
        return math.inf
    return (check.observed + check.tolerance) / (1.0 - check.tolerance)


def run_resolution(
    checks, ids, what: str = "of the closed form", kind: str = "relative-Frobenius"
) -> tuple[float, str]:
    """(resolution, basis) over the checks whose ids (:class:`verify.checks.CheckDef`) are in
    ``ids`` (relative-distance checks).  A title in ``ids`` is still honoured for callers not
    yet naming checks by id (a title ending in '*' matches every check that starts with the
    rest).  ``what``: the object deviated, for the basis text."""

    def named(c):
        if getattr(c, "id", None) in ids or c.name in ids:
            return True
        return any(n.endswith("*") and c.name.startswith(n[:-1]) for n in ids)

    cands = [(check_resolution(c), c.name) for c in checks if named(c)]
    finite = [x for x in cands if math.isfinite(x[0])]
    if not finite:
        return math.inf, (
            "no relative-Frobenius check passed: this run cannot bound the deviation "
            "it would reject"
        )
    res, name = min(finite)
    return res, (
        f"worst-case direction: any deviation larger than (observed + tolerance) / (1 - tolerance) "
        f"{what} fails '{name}'; smallest over {len(cands)} {kind} "
        f"{'check' if len(cands) == 1 else 'checks'}"
    )


#: Claims whose resolution is in terms of their optimum or step sizes: (check ids, or titles
#: for a claim whose checks have no ids yet; what is deviated).
STEP_SIZE_CHECKS = {
    "2": (
        ("cf_search",),
        "of the global minimiser (a*_0 I, a*_1 I) (relative Frobenius, up to the layer swap)",
    ),
    "3": (
        ("target",),
        "of the step sizes a* of the global minimiser on S (relative Euclidean)",
    ),
    "4": (
        ("population-trained step sizes (a_l, b_l) vs a critical point's*",),
        "of the step sizes (a_l, b_l) of the certified critical point (relative Euclidean)",
    ),
}


def attach_resolution(verdict):
    """Set ``verdict.resolution`` for the claims of :data:`STEP_SIZE_CHECKS` (if it has none)."""
    spec = STEP_SIZE_CHECKS.get(verdict.claim)
    if spec is not None and verdict.resolution is None:
        names, what = spec
        verdict.resolution, verdict.resolution_basis = run_resolution(
            verdict.checks, names, what, "relative-distance"
        )
    return verdict


def next_effort(current: int, resolution: float, target: float, cap: int) -> int:
    """The sample size predicted to reach ``target``: resolution scales as 1/sqrt(samples),
    with a 30 % safety factor and at least doubling; never above ``cap``."""
    if not math.isfinite(resolution):
        return min(cap, 4 * current)
    want = current * (resolution / target) ** 2 * 1.3
    return int(min(cap, max(2 * current, math.ceil(want))))
