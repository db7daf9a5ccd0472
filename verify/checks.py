"""Check records and verdicts, rendered as text, Markdown or JSON from the same data.

A check is a record: name, kind, observed value, tolerance, the basis of that tolerance,
its sense (``<=``: observed must not exceed the tolerance; ``>=``: observed must reach it),
status and a reason.  Status is three-valued:

* ``passed``  -- the evidence satisfies the bound;
* ``failed``  -- the evidence violates it (a non-finite observation always fails);
* ``inconclusive`` -- the evidence cannot decide: e.g. a tolerance derived from replica spread
  exceeds its stated ceiling (the replicas disagree beyond sampling error), or the setting
  leaves the check no power.  An inconclusive check never counts as a pass.

The margin is normalised so that below 1 always means pass: ``observed / tolerance`` for
``<=`` checks and ``tolerance / observed`` for ``>=`` checks (see :attr:`Check.margin`).

A verdict is a list of checks plus the closed form and the setting they refer to.  Its status
is ``failed`` if any check failed, else ``inconclusive`` if any check is inconclusive, else
``passed``; :attr:`Verdict.passed` is true only for ``passed`` (the CLI exits 1 otherwise).
"""

from __future__ import annotations

import json
import math
import textwrap
from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = [
    "K_SIGMA",
    "SENSES",
    "SPREAD_CEILING",
    "STATUSES",
    "Check",
    "CheckDef",
    "CONTROLS_CHECK",
    "Control",
    "Verdict",
    "check_key",
    "refers_to",
    "check_at_least",
    "check_at_most",
    "control_row",
    "mark_within_resolution",
    "controls_check",
    "eligible_check_names",
    "evaluate_controls",
    "inconclusive",
    "replica_tolerance",
    "worst_control",
]

#: Tolerance multiplier for sampling errors: K_SIGMA standard errors of a mean over
#: R = 10 independent replicas.  Even if all the variance lay in one direction the error over
#: its estimated standard error is Student-t with 9 degrees of freedom, and
#: P(|t_9| > 5) = 7.3e-4; spread over many directions the chance is far smaller.
K_SIGMA = 5.0

#: Ceiling on a relative tolerance derived from replica spread.  Every replica estimates the
#: same optimum from >= 1e4 fresh prompts, so its sampling error is a few percent at most
#: (measured: 0.4-3 % per replica at the package's efforts); a K_SIGMA band wider than 25 % of
#: the compared quantity means the replicas disagree by more than 0.25 sqrt(R) / K_SIGMA = 16 %
#: each, which sampling cannot explain: they found different optima (or none), and a tolerance
#: that wide would accept almost anything.  Above the ceiling a check is inconclusive.
SPREAD_CEILING = 0.25

SENSES = ("<=", ">=")
STATUSES = ("passed", "failed", "inconclusive")


@dataclass
class Check:
    """One comparison of ``observed`` with ``tolerance`` in direction ``sense``.

    ``sense`` is ``"<="`` (pass when observed <= tolerance: an error bound) or ``">="``
    (pass when observed >= tolerance: e.g. an erratum's effect exceeds round-off).
    """

    name: str
    kind: str
    observed: float
    tolerance: float
    basis: str
    status: str
    reason: str = ""
    sense: str = "<="
    #: the stable id of the check as its claim declares it (:class:`CheckDef`); tests, errata,
    #: controls and the resolution refer to it, never to ``name``.  Not part of the JSON.
    id: str = ""

    def __post_init__(self):
        if self.sense not in SENSES:
            raise ValueError(f"Check.sense must be one of {SENSES}; got {self.sense!r}")
        if self.status not in STATUSES:
            raise ValueError(f"Check.status must be one of {STATUSES}; got {self.status!r}")

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def inconclusive(self) -> bool:
        return self.status == "inconclusive"

    @property
    def margin(self) -> float:
        """Normalised distance to the bound: below 1 passes, above 1 fails, for both senses.

        ``<=``: observed / tolerance.  ``>=``: tolerance / observed.  Where the ratio is
        undefined (a zero or negative denominator) the margin is 0 if the bound holds and
        inf if it does not; a non-finite observation has margin inf.
        """
        return normalised_margin(self.observed, self.tolerance, self.sense)

    def to_dict(self) -> dict:
        out = asdict(self)
        del out["id"]
        out["margin"] = self.margin
        return out


def normalised_margin(observed: float, tolerance: float, sense: str = "<=") -> float:
    """The margin of :attr:`Check.margin` for plain numbers."""
    if not math.isfinite(observed):
        return math.inf
    holds = observed <= tolerance if sense == "<=" else observed >= tolerance
    num, den = (observed, tolerance) if sense == "<=" else (tolerance, observed)
    if den > 0 and num >= 0:
        return num / den
    return 0.0 if holds else math.inf


def _status(observed: float, tolerance: float, sense: str) -> str:
    if not math.isfinite(observed):
        return "failed"
    return (
        "passed"
        if (observed <= tolerance if sense == "<=" else observed >= tolerance)
        else "failed"
    )


def _with_ceiling(chk: Check, ceiling: float | None, ceiling_basis: str) -> Check:
    """Mark ``chk`` inconclusive when its (spread-derived) tolerance exceeds ``ceiling``."""
    if ceiling is None or not (chk.tolerance > ceiling or not math.isfinite(chk.tolerance)):
        return chk
    why = (
        f"inconclusive: tolerance {chk.tolerance:.3g} exceeds the ceiling {ceiling:.3g}"
        + (f" ({ceiling_basis})" if ceiling_basis else "")
        + f"; observed {chk.observed:.3g} would have {chk.status}"
    )
    chk.status = "inconclusive"
    chk.reason = f"{why}. {chk.reason}" if chk.reason else why
    return chk


def check_at_most(
    name,
    kind,
    observed,
    tolerance,
    basis,
    reason="",
    *,
    ceiling: float | None = None,
    ceiling_basis: str = "",
    id: str = "",
) -> Check:
    """A ``<=`` check: passes when ``observed <= tolerance``.

    ``ceiling``: for tolerances derived from replica spread, the largest tolerance that still
    lets the check decide; above it the check is ``inconclusive`` (with the reason).
    """
    observed, tolerance = float(observed), float(tolerance)
    chk = Check(
        name, kind, observed, tolerance, basis, _status(observed, tolerance, "<="), reason, "<=", id
    )
    return _with_ceiling(chk, ceiling, ceiling_basis)


def check_at_least(name, kind, observed, tolerance, basis, reason="", *, id: str = "") -> Check:
    """A ``>=`` check: passes when ``observed >= tolerance`` (e.g. an erratum is confirmed)."""
    observed, tolerance = float(observed), float(tolerance)
    return Check(
        name, kind, observed, tolerance, basis, _status(observed, tolerance, ">="), reason, ">=", id
    )


def inconclusive(
    name, kind, observed, tolerance, basis, reason, sense: str = "<=", *, id: str = ""
) -> Check:
    """A check the evidence cannot decide (e.g. the setting leaves it no power); ``reason`` says why."""
    if not reason:
        raise ValueError(
            "an inconclusive check needs a reason saying why the evidence cannot decide"
        )
    return Check(
        name, kind, float(observed), float(tolerance), basis, "inconclusive", reason, sense, id
    )


@dataclass(frozen=True)
class CheckDef:
    """A check as a claim declares it: a stable ``id`` and the ``title`` reports print.

    Tests, errata, controls and the resolution refer to the id; renaming the title changes no
    behaviour.  A title with ``{field}`` placeholders is completed from the run
    (:meth:`title_for`).  ``at_most`` / ``at_least`` / ``inconclusive`` build the
    :class:`Check` (the builders above, with this id).
    """

    id: str
    title: str

    def title_for(self, **fields) -> str:
        return self.title.format(**fields) if fields else self.title

    def at_most(self, kind, observed, tolerance, basis, reason="", *, title=None, **kw) -> Check:
        return check_at_most(
            title or self.title, kind, observed, tolerance, basis, reason, id=self.id, **kw
        )

    def at_least(self, kind, observed, tolerance, basis, reason="", *, title=None) -> Check:
        return check_at_least(
            title or self.title, kind, observed, tolerance, basis, reason, id=self.id
        )

    def inconclusive(
        self, kind, observed, tolerance, basis, reason, sense="<=", *, title=None
    ) -> Check:
        return inconclusive(
            title or self.title, kind, observed, tolerance, basis, reason, sense, id=self.id
        )


#: The discrimination check every claim with negative controls ends with (:func:`controls_check`).
CONTROLS_CHECK = CheckDef("controls", "every negative control is rejected")


def check_key(check) -> str:
    """What refers to a check: its declared id (the title only for a check built without one)."""
    return check.id or check.name


def refers_to(check, keys) -> bool:
    """Whether ``keys`` (check ids, e.g. an erratum's) name ``check``: by id, never by title."""
    return bool(check.id) and check.id in keys


@dataclass(frozen=True)
class Control:
    """A negative control: a plausible wrong closed form ``value`` named ``name``.

    ``deviation``: its relative distance from the true closed form, where the claim has a
    resolution (a control within the run's resolution is not required to be rejected:
    :func:`mark_within_resolution`)."""

    name: str
    value: object
    deviation: float | None = None


def replica_tolerance(estimates: np.ndarray, scale: float, k: float = K_SIGMA) -> float:
    """``k`` standard errors of the replica mean, in Frobenius norm, relative to ``scale``.

    ``estimates``: (R, ...) independent replica estimates.  The standard error of the mean
    is ``sqrt(sum_r ||q_r - q_bar||^2 / (R - 1) / R)``.
    """
    E = np.asarray(estimates, dtype=float)
    R = E.shape[0]
    if R < 2:
        raise ValueError(f"need at least 2 replicas to measure a spread; got {R}")
    dev = E - E.mean(axis=0)
    se = math.sqrt(float(np.sum(dev * dev)) / (R - 1) / R)
    return k * se / scale


def _jsonable(x):
    if isinstance(x, np.ndarray):
        return [_jsonable(v) for v in x.tolist()] if x.ndim else _jsonable(x.item())
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if math.isfinite(v) else str(v)
    if isinstance(x, (np.integer,)):
        return int(x)
    return x


@dataclass
class Verdict:
    """The result of verifying one claim.

    ``resolution``: the smallest relative Frobenius deviation from the tested closed form
    that this run would reject (claims with a closed form), ``resolution_basis`` how it was
    obtained; None where the claim has no closed form to perturb.
    """

    claim: str
    setting: dict
    closed_form: dict
    checks: list = field(default_factory=list)
    controls: list = field(default_factory=list)  # dicts: name, rejected, rejected_by, margin, ...
    notes: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    artifacts: dict = field(default_factory=dict)  # arrays for figures; not part of the JSON
    resolution: float | None = None
    resolution_basis: str = ""

    @property
    def status(self) -> str:
        """``failed`` if any check failed (or there are none), else ``inconclusive`` if any is, else ``passed``."""
        if not self.checks or any(c.status == "failed" for c in self.checks):
            return "failed"
        if any(c.status == "inconclusive" for c in self.checks):
            return "inconclusive"
        return "passed"

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def status_reason(self) -> str:
        """Why the verdict is not ``passed`` (empty when it is)."""
        if not self.checks:
            return "no checks were run"
        bad = [c for c in self.checks if c.status == "failed"]
        if not bad:
            bad = [c for c in self.checks if c.status == "inconclusive"]
        return "; ".join(
            f"{c.name}: {c.status}" + (f" ({c.reason})" if c.reason else "") for c in bad
        )

    def to_dict(self) -> dict:
        out = {
            "claim": self.claim,
            "setting": self.setting,
            "closed_form": self.closed_form,
            "checks": [c.to_dict() for c in self.checks],
            "controls": self.controls,
            "notes": self.notes,
            "verdict": self.status,
            "verdict_reason": self.status_reason,
        }
        if self.resolution is not None:
            out["resolution"] = self.resolution
            out["resolution_basis"] = self.resolution_basis
        if "resolution_cost" in self.timings:
            out["resolution_cost"] = self.timings["resolution_cost"]
        return _jsonable(out)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    def _rows(self):
        for c in self.checks:
            yield (
                c.status.upper(),
                c.name,
                f"{c.observed:.3e}",
                c.sense,
                f"{c.tolerance:.3e}",
                f"{c.margin:.3g}",
                c.basis + (f" [{c.reason}]" if c.reason and not c.passed else ""),
            )

    def _summary(self) -> str:
        counts = {st: sum(c.status == st for c in self.checks) for st in STATUSES}
        return ", ".join(f"{v} {k}" for k, v in counts.items() if v or k == "passed")

    def to_text(self) -> str:
        lines = [f"icl-verify: claim {self.claim}", "setting: " + _setting_line(self.setting), ""]
        lines += _check_table(self._rows())
        lines.append(
            "(margin: observed/tolerance for <= checks, tolerance/observed for >= checks; "
            "below 1 passes)"
        )
        if self.controls:
            lines += [
                "",
                (
                    "negative controls (wrong closed forms; each must be rejected by a check the "
                    "closed form passes in this run):"
                ),
            ]
            for c in self.controls:
                lines.append("  " + _control_line(c))
            wc = worst_control(self.controls)
            if wc is not None:
                lines.append(
                    f"  worst control (closest to acceptance): {wc['name']} (margin {wc['margin']:.3g})"
                )
        if self.resolution is not None:
            lines += [
                "",
                (
                    f"resolution: {self.resolution:.3g} (relative Frobenius deviation from the tested "
                    f"closed form that this run rejects in every direction; {self.resolution_basis})"
                ),
            ]
            if "resolution_cost" in self.timings:
                lines.append(f"resolution cost: {self.timings['resolution_cost']}")
        for n in self.notes:
            lines.append(f"note: {n}")
        lines += [
            "",
            f"verdict: {self.status.upper()} ({self._summary()} of {len(self.checks)} checks)",
        ]
        if not self.passed:
            lines.append(f"because: {self.status_reason}")
        return "\n".join(wrapped for line in lines for wrapped in _fill(line))

    def to_markdown(self) -> str:
        # one escaping and table routine, shared with the reports (verify/markdown.py)
        from .markdown import escape_cell, escape_text, table

        lines = [
            f"## Claim {escape_text(self.claim)}",
            "",
            "Setting: " + escape_text(_setting_line(self.setting)),
            "",
        ]
        lines += table(
            ["status", "check", "observed", "sense", "tolerance", "margin", "basis"], self._rows()
        )
        if self.controls:
            lines += [""] + table(
                ["negative control", "rejected", "by check", "margin"],
                [
                    (
                        c["name"],
                        "yes" if c["rejected"] else "NO",
                        c.get("rejected_by") or "-",
                        f"{c['margin']:.3g}",
                    )
                    for c in self.controls
                ],
            )
        if self.resolution is not None:
            lines += [
                "",
                escape_text(f"Resolution: {self.resolution:.3g} ({self.resolution_basis})"),
            ]
        for n in self.notes:
            lines += ["", f"> {escape_cell(n)}"]
        lines += ["", f"**Verdict: {self.status}**"]
        if not self.passed:
            lines += ["", f"Because: {escape_text(self.status_reason)}"]
        return "\n".join(lines)

    def render(self, fmt: str) -> str:
        if fmt == "json":
            return self.to_json()
        if fmt == "markdown":
            return self.to_markdown()
        if fmt == "text":
            return self.to_text()
        raise ValueError(f"format must be one of text, markdown, json; got {fmt!r}")


#: Text output stays within this many characters a line (long words are never broken).
TEXT_WIDTH = 100


def _fill(line: str, indent: int = 4) -> list:
    """``line`` wrapped to TEXT_WIDTH with a hanging indent; lines that fit are kept as they are."""
    if len(line) <= TEXT_WIDTH:
        return [line]
    lead = " " * (len(line) - len(line.lstrip(" ")))
    return textwrap.wrap(
        line,
        TEXT_WIDTH,
        subsequent_indent=lead + " " * indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _check_table(rows) -> list:
    """The checks as a table within TEXT_WIDTH: the numbers in fixed columns, the check's name
    wrapped in its column, its basis (and reason) on the lines below the name."""
    numbers = f"{'observed':>10} {'sense':^5} {'tolerance':>10} {'margin':>8}"
    name_w = TEXT_WIDTH - 13 - len(numbers) - 1
    out = [f"{'status':12} {'check':{name_w}} {numbers}"]
    for st, name, obs, sense, tol, mar, basis in rows:
        names = textwrap.wrap(name, name_w, break_on_hyphens=False) or [""]
        out.append(f"{st:12} {names[0]:{name_w}} {obs:>10} {sense:^5} {tol:>10} {mar:>8}")
        out += [" " * 13 + more for more in names[1:]]
        out += textwrap.wrap(
            "basis: " + basis,
            TEXT_WIDTH,
            initial_indent=" " * 13,
            subsequent_indent=" " * 15,
            break_long_words=False,
            break_on_hyphens=False,
        )
    return out


def _setting_line(setting: dict) -> str:
    parts = []
    for k, v in setting.items():
        if k in ("sigma", "omega"):
            continue
        parts.append(f"{k}={v}")
    return ", ".join(parts)


def _control_line(c: dict) -> str:
    by = c.get("rejected_by") or c.get("worst_check") or "-"
    if c["rejected"]:
        return f"REJECTED  {c['name']}: by {by} (margin {c['margin']:.3g})"
    why = c.get("reason") or f"closest check {by} (margin {c['margin']:.3g})"
    return f"{'ACCEPTED!' if c.get('required', True) else 'NOT RESOLVED'} {c['name']}: {why}"


def eligible_check_names(truth_checks) -> set:
    """Ids (:func:`check_key`) of the checks that can reject a control: those the true closed
    form passes."""
    return {check_key(c) for c in truth_checks if c.passed}


def evaluate_controls(ctrls, ev, s, checker, truth_checks=None) -> list:
    """Run the closed-form checks on each wrong closed form (a :class:`Control`).

    ``checker(C, ev, s) -> list[Check]``.  ``truth_checks``: the same checks of the true
    closed form in this run; only a check the truth PASSES can reject a control (a check the
    truth fails proves nothing about discrimination).  ``None`` keeps the phase-1 behaviour
    (any check may reject) for callers not yet updated.

    Each row: name, rejected, rejected_by (the eligible failed check with the largest
    margin), margin (the largest eligible margin: > 1 rejected, the closer to 1 the nearer to
    acceptance), worst_check (alias of rejected_by, or the closest eligible check), reason,
    checks (every check with status and margin, and whether it was eligible).
    """
    eligible = None if truth_checks is None else eligible_check_names(truth_checks)
    out = []
    for ctrl in ctrls:
        if not isinstance(ctrl, Control):
            raise TypeError(f"a negative control is a Control record; got {type(ctrl).__name__}")
        out.append(control_row(ctrl.name, checker(ctrl.value, ev, s), eligible))
    return out


def control_row(name: str, cs: list, eligible: set | None) -> dict:
    """The controls-table row of one wrong closed form judged by checks ``cs``."""
    usable = [c for c in cs if eligible is None or check_key(c) in eligible]
    rows = [
        {
            "name": c.name,
            "observed": c.observed,
            "tolerance": c.tolerance,
            "sense": c.sense,
            "status": c.status,
            "margin": c.margin,
            "eligible": c in usable,
        }
        for c in cs
    ]
    if not usable:
        return {
            "name": name,
            "rejected": False,
            "rejected_by": None,
            "margin": 0.0,
            "worst_check": None,
            "reason": "no check that the true closed form passes in this run",
            "checks": rows,
        }
    failed = [c for c in usable if c.status == "failed"]
    top = max(failed or usable, key=lambda c: c.margin)
    return {
        "name": name,
        "rejected": bool(failed),
        "rejected_by": top.name if failed else None,
        "margin": top.margin,
        "worst_check": top.name,
        "reason": "",
        "checks": rows,
    }


def worst_control(ctrls) -> dict | None:
    """The control closest to being accepted: the smallest rejecting margin (accepted ones first)."""
    if not ctrls:
        return None
    return min(ctrls, key=lambda c: (bool(c["rejected"]), float(c["margin"])))


def mark_within_resolution(ctrls, deviations, resolution) -> list:
    """Annotate control rows with ``deviation`` (relative Frobenius distance from the true
    closed form) and ``required`` (deviation > resolution).  A control within the run's
    resolution -- e.g. eq. (6) when the label noise is a small fraction of tr(Sigma), or
    identical to the truth (d = 1 with the Sigma^{-1} prior) -- cannot be demanded to be
    rejected; its row says so and it does not count against discrimination."""
    for c, dev in zip(ctrls, deviations):
        c["deviation"] = float(dev)
        c["required"] = bool(dev > resolution)
        if not c["required"] and not c["rejected"]:
            c["reason"] = (
                f"within the run's resolution: deviation {dev:.3g} <= resolution {resolution:.3g} "
                "(not required)"
            )
    return ctrls


def controls_check(ctrls):
    """The discrimination check: every negative control must be rejected.

    Failed if some control is accepted by checks the truth passes (the checks cannot tell it
    from the truth); inconclusive if the only accepted controls had no such check (the truth
    failed or could not decide every check that could have judged them: discrimination is
    unproven, not disproven); passed if every control was rejected.
    """
    name, basis = (
        CONTROLS_CHECK.title,
        "count of wrong closed forms not rejected by a check the closed form passes",
    )
    # a control no farther from the truth than the run's resolution is not required (see
    # mark_within_resolution): accepting it is what the stated resolution allows
    accepted = [c for c in ctrls if not c["rejected"] and c.get("required", True)]
    powerless = [c for c in accepted if c.get("reason")]
    wc = worst_control(ctrls)
    if accepted and len(powerless) == len(accepted):
        return inconclusive(
            name,
            "discrimination",
            len(accepted),
            0,
            basis,
            "no check that the closed form passes could judge: "
            + "; ".join(c["name"] for c in powerless),
            id=CONTROLS_CHECK.id,
        )
    reason = (
        "accepted: " + "; ".join(c["name"] for c in accepted)
        if accepted
        else (
            f"worst control {wc['name']!r}: margin {wc['margin']:.3g} by {wc.get('rejected_by') or wc['worst_check']}"
            if wc
            else ""
        )
    )
    return check_at_most(
        name, "discrimination", len(accepted), 0, basis, reason=reason, id=CONTROLS_CHECK.id
    )
