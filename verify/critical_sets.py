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

import functools
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from theory.families import exact_family

from .checks import CheckDef

__all__ = [
    "EVIDENCE_PROVENANCE",
    "EvidencePoint",
    "cache_dir",
    "certify_from_evidence",
    "closed_form_fields",
    "critical_checks",
    "critical_set",
    "lowest_note",
    "same_point",
]

#: Provenance of a critical point found from the trained replicas rather than from the list.
EVIDENCE_PROVENANCE = (
    "certified from the trained replicas (float root finder, then Newton on the exact grad phi_L "
    "from the replica mean; Krawczyk; kind from verified Hessian enclosures)"
)
#: Gauss nodes of the float refinement: exact for p^2 up to degree 59 (L = 3 needs 26).
EVIDENCE_NODES = 30


@dataclass
class EvidencePoint:
    """What certifying the replica mean gave: ``status`` is ``certified`` (``point`` is a
    certified CriticalPoint), ``uncertified`` (Newton reached a point whose certificate failed),
    ``escaping`` (the root finder ran off towards a_l -> 0 or |b_l| -> inf) or ``not converged``.
    ``start``: the replica-mean step sizes; ``reason``: one line for the verdict."""

    status: str
    start: tuple
    point: object = None
    reason: str = ""
    grad_max: float = float("nan")
    others: tuple = ()  # further certified points (a descent's minimum when ``point`` is a saddle)

    def record(self) -> dict:
        """JSON fields (``point`` as the CriticalPoint's record, or None)."""
        return {
            "status": self.status,
            "start": [float(x) for x in self.start],
            "reason": self.reason,
            "float_grad_max": self.grad_max,
            "point": None if self.point is None else self.point.as_record(),
            "others": [q.as_record() for q in self.others],
        }


def certify_from_evidence(family, L: int, n: int, d: int, t0) -> EvidencePoint:
    """Certify the critical point the replicas point at: float root finder from ``t0`` (the
    replica-mean (a_0..a_{L-1}, b_0..b_{L-2})), then theory.critical.certify_candidate (exact
    Newton, Krawczyk, Hessian kind).  Never starts from a listed point or a control; a point it
    certifies is a zero of the exact gradient wherever it came from.  Family (11) only.
    """
    from theory.critical import certify_candidate

    from .search import gauss_float, refine_float

    if family.equation != "11":
        raise ValueError(f"certify_from_evidence supports family (11); got ({family.equation})")
    t0 = tuple(float(x) for x in t0)
    x, w = gauss_float(n, d, EVIDENCE_NODES)
    fl = refine_float(L, x, w, d, t0)
    # the exact Newton decides: a float end point short of ROOT_GRAD_TOL (round-off of the Gauss
    # sums, e.g. 1.1e-8 at d = 1, n = 20 where phi ~ 1e-5) is still handed to it, unless it ran off
    if fl["escaping"] or not np.all(np.isfinite(fl["t"])):
        status = "escaping" if fl["escaping"] else "not converged"
        where = np.round(fl["t"], 4).tolist()
        why = (
            "the root finder ran off towards a_l -> 0 or |b_l| -> inf (an escaping sequence: the "
            "gradient tends to 0 without vanishing)"
            if fl["escaping"]
            else "the root finder did not reach a zero of grad phi"
        )
        return EvidencePoint(
            status,
            t0,
            reason=f"{why}; it ended at {where} with max |grad phi| {fl['grad_max']:.2g}",
            grad_max=fl["grad_max"],
        )
    p = certify_candidate("11", L, n, d, [float(v) for v in fl["t"]], EVIDENCE_PROVENANCE)
    if not p.certified:
        # e.g. a near-degenerate trough (d = 1, n = 20: smallest Hessian eigenvalue ~2e-6 of 4):
        # Newton cannot settle; the minimum a descent reaches may still be certified
        others = _descend_and_certify(L, n, d, x, w, t0, None)
        out = EvidencePoint(
            "certified" if others else "uncertified",
            t0,
            others[0] if others else p,
            f"Newton from the root finder's end point (max |grad phi| {fl['grad_max']:.2g}) "
            f"reached a point whose certificate failed ({p.certificate.get('reason')})"
            + (
                f"; descent on phi from the replica mean: certified {others[0].kind} phi = "
                f"{float(others[0].loss):.6g}"
                if others
                else ""
            ),
            fl["grad_max"],
        )
        return out
    out = EvidencePoint(
        "certified", t0, p, f"certified {p.kind} phi = {float(p.loss):.6g}", fl["grad_max"]
    )
    if p.kind != "minimum":
        out.others = _descend_and_certify(L, n, d, x, w, t0, p)
        for q in out.others:
            out.reason += f"; descent on phi from the replica mean: certified {q.kind} phi = {float(q.loss):.6g}"
    return out


def _descend_and_certify(L, n, d, x, w, t0, first) -> tuple:
    """The root finder met a saddle: the replicas were trained to MINIMISE, so a descent on the
    exact phi (BFGS on the Gauss rule, from the replica mean, never from a listed point) finds
    the local minimum of the basin they point into; certified, it is a second candidate (the
    step-size check still decides whether it is within reach of the replicas)."""
    from scipy.optimize import minimize

    from theory.critical import certify_candidate

    from .search import gdpp_grad_float, refine_float

    with np.errstate(over="ignore", invalid="ignore"):
        res = minimize(
            lambda t: gdpp_grad_float(t, L, x, w, d),
            np.array(t0),
            jac=True,
            method="BFGS",
            options={"gtol": 1e-12, "maxiter": DESCENT_STEPS},
        )
    if not np.all(np.isfinite(res.x)):
        return ()
    fl = refine_float(L, x, w, d, res.x)
    if fl["escaping"] or not np.all(np.isfinite(fl["t"])):
        return ()
    q = certify_candidate("11", L, n, d, [float(v) for v in fl["t"]], EVIDENCE_PROVENANCE)
    if not q.certified or (first is not None and same_point(q, first)):
        return ()
    return (q,)


#: BFGS iterations of the descent from the replica mean (a 5-parameter smooth problem started in
#: the basin: tens of iterations reach the minimum; the root finder then polishes it).
DESCENT_STEPS = 200


def critical_set(family, L: int, n: int, d: int):
    """The certified critical set of phi_L on S (cached per process).

    Family (11), L = 3 without a shipped table (theory/data): the open stratum's candidates come
    from the seeded on-demand search of :func:`verify.search.on_demand_table`, cached per (n, d)
    in :func:`cache_dir` and certified at every call, like a shipped table (the same list at
    every effort)."""
    from theory.critical import certified_critical_points, shipped_table

    if family.equation == "11" and L == 3 and shipped_table(3, n, d) is None:
        return _three_layer_on_demand(n, d)
    return certified_critical_points(family.equation, L, n, d)


#: Environment variable overriding the cache directory (tests point it at a temporary one).
CACHE_ENV = "ICL_VERIFY_CACHE"


def cache_dir() -> Path:
    """$ICL_VERIFY_CACHE, else $XDG_CACHE_HOME/icl-verify, else ~/.cache/icl-verify."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "icl-verify"


@functools.lru_cache(maxsize=16)
def _three_layer_on_demand(n: int, d: int):
    from theory.critical import family11_three_layers

    return family11_three_layers(
        n,
        d,
        search_table(3, n, d),
        "on-demand seeded search, cached per (n, d) in the user cache directory",
    )


def search_table(L: int, n: int, d: int) -> dict:
    """The on-demand search table for (L, n, d): read from the cache when it holds a table of
    the current search version for exactly this setting, else searched and written atomically.

    A cached table only PROPOSES points: every row is certified by the caller, so an edited or
    stale file can shrink the list (never claimed complete) but cannot list a non-critical point.
    """
    from .search import ON_DEMAND, on_demand_table

    path = cache_dir() / f"gdpp_L{L}_n{n}_d{d}_v{ON_DEMAND['version']}.json"
    try:
        table = json.loads(path.read_text())
        if _valid_table(table, L, n, d, ON_DEMAND):
            return table
    except (OSError, ValueError):
        pass  # absent or unreadable: search again
    table = on_demand_table(L, n, d)
    _write_atomically(path, json.dumps(table, indent=1) + "\n")
    return table


def _valid_table(t, L, n, d, spec) -> bool:
    try:
        return (
            isinstance(t, dict)
            and (t["family"], t["L"], t["n"], t["d"]) == ("11", L, n, d)
            and t["version"] == spec["version"]
            and t["seed"] == spec["seed"]
            and t["starts"] == 2 * spec["starts"]
            and all(
                len(r["t"]) == 2 * L - 1 and len(r["t_float"]) == 2 * L - 1 for r in t["points"]
            )
        )
    except (KeyError, TypeError):
        return False


def _write_atomically(path: Path, text: str) -> None:
    """Write via a temporary file in the same directory and os.replace (readers never see a
    partial file); an unwritable cache only costs the search again next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass


#: The checks of a certified critical set, by stable id (:func:`critical_checks`).
EXISTS = CheckDef(
    "exists", "eq. ({equation}): a critical point of phi on S exists (gradient infimum attained)"
)
CERTIFIED = CheckDef(
    "certified",
    "every listed critical point is certified (Krawczyk existence and uniqueness; kind "
    "from verified Hessian eigenvalue bounds)",
)
GRADIENT = CheckDef(
    "gradient", "full gradient of f in every matrix direction vanishes at each critical point"
)
COMPLETE = CheckDef(
    "complete",
    "the list of critical points on S is complete (exact elimination, every case decided)",
)
CRITICAL_CHECKS = (EXISTS, CERTIFIED, GRADIENT, COMPLETE)


def critical_checks(cs, equation: str, complete_expected: bool) -> list:
    """Checks that can fail: existence, certification of every point, completeness when claimed."""
    pts = cs.points
    checks = [
        EXISTS.at_most(
            "exact",
            0 if any(p.certified for p in pts) else 1,
            0,
            "a Krawczyk-certified zero of the exact gradient (ball arithmetic, 400 bits)",
            title=EXISTS.title_for(equation=equation),
        ),
        CERTIFIED.at_most(
            "exact",
            sum(not p.certified for p in pts) if pts else 1,
            0,
            "interval arithmetic: a point either has a certificate or is reported uncertified",
        ),
        GRADIENT.at_most(
            "exact",
            max((float(p.gradient_residual) for p in pts), default=float("inf")),
            1e-20,
            "ball bound of |grad phi_L| at each certified centre; O(d) invariance makes the full "
            "gradient (1/d) grad phi_L in the trace direction",
        ),
    ]
    if complete_expected:
        checks.append(
            COMPLETE.at_most(
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


def same_point(p, q, tol: float = 1e-30) -> bool:
    """Two certified critical points are the same when their (a, b) agree to ``tol`` (both are
    Newton centres at 400 bits, ~1e-100 apart when they certify the same zero)."""
    return max(abs(float(x - y)) for x, y in zip(p.a + p.b, q.a + q.b)) < tol


def lowest_note(cs, points=None, status: str = "") -> str:
    """One line on the lowest CERTIFIED point of ``points`` (default: the list's points): value,
    kind, and whether it is the proved global minimum."""
    certified = [p for p in (cs.points if points is None else points) if p.certified]
    best = min(certified, key=lambda p: p.loss) if certified else None
    if best is None:
        return "no certified critical point: " + cs.coverage_statement
    b = [round(float(x), 5) for x in best.b[:-1]] if exact_family(best.family).has_b else []
    return (
        f"lowest critical point: a = {[round(float(x), 5) for x in best.a]}"
        + (f", b = {b}" if b else "")
        + f", phi = {best.row()['loss']}, {best.kind}, certified {best.certified}; "
        + (status or best.global_status or "lowest known critical point (not proved global)")
        + ("" if cs.complete else "; the list is not proved complete")
    )
