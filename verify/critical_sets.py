"""The exact side of claims 3 and 4: certified critical points on S as verdict checks and JSON.

:func:`theory.critical.certified_critical_points` computes (family (8), family (11) L <= 2) or
re-certifies (family (11) L = 3, a shipped search table) the critical points; this module turns
the result into check records that can fail and flat closed-form fields:

- ``closed_form.complete`` (the list is proved complete), ``global_minimum_proved``,
  ``coverage`` (what exactly was proved), ``escaping_sequences``;
- per point ``a``, ``b``, ``loss`` (string, all certified digits), ``loss_float``, ``kind``,
  ``certified``, ``certificate`` (box radius, method, eigenvalue bounds).
"""

from __future__ import annotations

from .checks import check_at_most

__all__ = ["closed_form_fields", "critical_checks", "critical_set", "lowest_note"]


def critical_set(family, L: int, n: int, d: int):
    """The certified critical set of phi_L on S (cached per process by theory.critical)."""
    from theory.critical import certified_critical_points

    return certified_critical_points(family.equation, L, n, d)


def critical_checks(cs, equation: str, complete_expected: bool) -> list:
    """Checks that can fail: existence, certification of every point, completeness when claimed."""
    pts = cs.points
    checks = [
        check_at_most(
            f"eq. ({equation}): a critical point of phi on S exists (gradient infimum attained)",
            "exact",
            0 if any(p.certified for p in pts) else 1,
            0,
            "a Krawczyk-certified zero of the exact gradient (ball arithmetic, 400 bits)",
        ),
        check_at_most(
            "every listed critical point is certified (Krawczyk existence and uniqueness; kind "
            "from verified Hessian eigenvalue bounds)",
            "exact",
            sum(not p.certified for p in pts) if pts else 1,
            0,
            "interval arithmetic: a point either has a certificate or is reported uncertified",
        ),
        check_at_most(
            "full gradient of f in every matrix direction vanishes at each critical point",
            "exact",
            max((float(p.gradient_residual) for p in pts), default=float("inf")),
            1e-20,
            "ball bound of |grad phi_L| at each certified centre; O(d) invariance makes the full "
            "gradient (1/d) grad phi_L in the trace direction",
        ),
    ]
    if complete_expected:
        checks.append(
            check_at_most(
                "the list of critical points on S is complete (exact elimination, every case decided)",
                "exact",
                0 if cs.complete else 1,
                0,
                "resultants over QQ, exact real-root isolation, Krawczyk per grid cell",
            )
        )
    return checks


def closed_form_fields(cs) -> dict:
    """JSON fields: complete, global_minimum_proved, coverage, escaping sequences, point records."""
    return cs.closed_form()


def lowest_note(cs) -> str:
    """One line on the lowest point: value, kind, and whether it is the proved global minimum."""
    best = cs.lowest
    if best is None:
        return "no certified critical point: " + cs.coverage_statement
    b = [round(float(x), 5) for x in best.b[:-1]] if best.family == "11" else []
    return (
        f"lowest critical point: a = {[round(float(x), 5) for x in best.a]}"
        + (f", b = {b}" if b else "")
        + f", phi = {best.row()['loss']}, {best.kind}, certified {best.certified}; {best.global_status}"
        + ("" if cs.complete else "; the list is not proved complete")
    )
