"""Check records and verdicts, rendered as text, Markdown or JSON from the same data.

A check is a record: name, kind, observed value, tolerance, the basis of that tolerance,
status (``passed`` / ``failed`` / ``skipped``) and a reason.  A verdict is a list of checks
plus the closed form and the setting they refer to.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = ["Check", "Verdict", "check_at_most", "check_at_least", "replica_tolerance", "K_SIGMA",
           "evaluate_controls", "controls_check"]

#: Tolerance multiplier for sampling errors: K_SIGMA standard errors of a mean over
#: R = 10 independent replicas.  Even if all the variance lay in one direction the error over
#: its estimated standard error is Student-t with 9 degrees of freedom, and
#: P(|t_9| > 5) = 7.3e-4; spread over many directions the chance is far smaller.
K_SIGMA = 5.0


@dataclass
class Check:
    """One comparison: ``observed`` must be ``<= tolerance`` (or ``>=`` for kind 'rejection')."""

    name: str
    kind: str
    observed: float
    tolerance: float
    basis: str
    status: str
    reason: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def margin(self) -> float:
        """observed / tolerance (below 1 passes an upper-bound check)."""
        if self.tolerance == 0:
            return math.inf if self.observed else 0.0
        return self.observed / self.tolerance


def check_at_most(name, kind, observed, tolerance, basis, reason="") -> Check:
    """A check that passes when ``observed <= tolerance``."""
    observed, tolerance = float(observed), float(tolerance)
    ok = bool(np.isfinite(observed) and observed <= tolerance)
    return Check(name, kind, observed, tolerance, basis, "passed" if ok else "failed", reason)


def check_at_least(name, kind, observed, tolerance, basis, reason="") -> Check:
    """A check that passes when ``observed >= tolerance`` (e.g. an erratum is confirmed)."""
    observed, tolerance = float(observed), float(tolerance)
    ok = bool(np.isfinite(observed) and observed >= tolerance)
    return Check(name, kind, observed, tolerance, basis, "passed" if ok else "failed", reason)


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
    """The result of verifying one claim."""

    claim: str
    setting: dict
    closed_form: dict
    checks: list = field(default_factory=list)
    controls: list = field(default_factory=list)  # list of dicts: name, formula, rejected, margin
    notes: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    artifacts: dict = field(default_factory=dict)  # arrays for figures; not part of the JSON

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def to_dict(self) -> dict:
        return _jsonable({
            "claim": self.claim,
            "setting": self.setting,
            "closed_form": self.closed_form,
            "checks": [asdict(c) for c in self.checks],
            "controls": self.controls,
            "notes": self.notes,
            "verdict": "passed" if self.passed else "failed",
        })

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    def _rows(self):
        for c in self.checks:
            yield c.status.upper(), c.name, f"{c.observed:.3e}", f"{c.tolerance:.3e}", f"{c.margin:.3g}", c.basis

    def to_text(self) -> str:
        lines = [f"icl-verify: claim {self.claim}", "setting: " + _setting_line(self.setting), ""]
        w = max([len(c.name) for c in self.checks] + [5])
        lines.append(f"{'status':7} {'check':{w}} {'observed':>10} {'tolerance':>10} {'obs/tol':>8}  basis")
        for st, name, obs, tol, mar, basis in self._rows():
            lines.append(f"{st:7} {name:{w}} {obs:>10} {tol:>10} {mar:>8}  {basis}")
        if self.controls:
            lines += ["", "negative controls (wrong closed forms; each must be rejected):"]
            for c in self.controls:
                lines.append(f"  {'REJECTED' if c['rejected'] else 'ACCEPTED!'} {c['name']}: "
                             f"worst observed/tolerance {c['margin']:.3g} ({c['worst_check']})")
        for n in self.notes:
            lines.append(f"note: {n}")
        lines += ["", f"verdict: {'PASSED' if self.passed else 'FAILED'} "
                      f"({sum(c.passed for c in self.checks)}/{len(self.checks)} checks passed)"]
        return "\n".join(lines)

    def to_markdown(self) -> str:
        lines = [f"## Claim {self.claim}", "", "Setting: " + _setting_line(self.setting), "",
                 "| status | check | observed | tolerance | observed/tolerance | basis |",
                 "|---|---|---|---|---|---|"]
        for st, name, obs, tol, mar, basis in self._rows():
            lines.append(f"| {st} | {name} | {obs} | {tol} | {mar} | {basis} |")
        if self.controls:
            lines += ["", "| negative control | rejected | worst observed/tolerance | check |", "|---|---|---|---|"]
            for c in self.controls:
                lines.append(f"| {c['name']} | {'yes' if c['rejected'] else 'NO'} | {c['margin']:.3g} | {c['worst_check']} |")
        for n in self.notes:
            lines += ["", f"> {n}"]
        lines += ["", f"**Verdict: {'passed' if self.passed else 'failed'}**"]
        return "\n".join(lines)

    def render(self, fmt: str) -> str:
        if fmt == "json":
            return self.to_json()
        if fmt == "markdown":
            return self.to_markdown()
        if fmt == "text":
            return self.to_text()
        raise ValueError(f"format must be one of text, markdown, json; got {fmt!r}")


def _setting_line(setting: dict) -> str:
    parts = []
    for k, v in setting.items():
        if k in ("sigma", "omega"):
            continue
        parts.append(f"{k}={v}")
    return ", ".join(parts)


def evaluate_controls(ctrls, ev, s, checker) -> list:
    """Run the closed-form checks on each wrong closed form; a control is rejected if any fails."""
    out = []
    for name, C in ctrls:
        cs = checker(C, ev, s)
        worst = max(cs, key=lambda c: c.margin)
        out.append({"name": name, "rejected": any(not c.passed for c in cs),
                    "margin": worst.margin, "worst_check": worst.name,
                    "checks": [{"name": c.name, "observed": c.observed, "tolerance": c.tolerance,
                                "status": c.status} for c in cs]})
    return out


def controls_check(ctrls):
    """The discrimination check: every negative control must be rejected."""
    accepted = [c["name"] for c in ctrls if not c["rejected"]]
    return check_at_most("every negative control is rejected", "discrimination", len(accepted), 0,
                         "count of wrong closed forms the checks failed to reject",
                         reason="accepted: " + "; ".join(accepted) if accepted else "")
