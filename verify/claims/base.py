"""A claim of the paper as one object: statement, hypotheses, options, effort, derivation,
errata, figures and how to run it.

Each module of :mod:`verify.claims` exports exactly one :class:`Claim`; the registry
(:mod:`verify.claims`) collects them and the CLI, the Python API and the reports only read
them.  Conventions (tokens as columns, 1/n, the read-out sign, the code's transposed Q block):
:mod:`verify.conventions`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable

from ..checks import Verdict, controls_check, evaluate_controls, mark_within_resolution
from ..errors import UsageError
from ..progress import Progress
from ..sampling import validate_spectrum
from ..setting import AssumptionError, Setting

__all__ = [
    "Claim",
    "Judgement",
    "run_claim",
    "Hypothesis",
    "Erratum",
    "REPLICAS",
    "SETTING_OPTIONS",
    "COMMON_OPTIONS",
    "unit_spectrum",
    "identity_prior",
    "inverse_prior",
    "noiseless",
]

#: Independent replicas every trained claim fits, each on its own fresh sample.  The sampling
#: tolerance K_SIGMA (:mod:`verify.checks`) assumes this many: its basis is Student t with
#: REPLICAS - 1 = 9 degrees of freedom.
REPLICAS = 10

#: Every option a claim may use; ``controls`` and ``progress`` are accepted by every claim.
SETTING_OPTIONS = (
    "d",
    "n",
    "spectrum",
    "rotate",
    "prior",
    "noise",
    "seed",
    "quick",
    "layers",
    "resolution",
)
#: The options every claim uses (the data distribution, the seed and the effort).
COMMON_OPTIONS = frozenset(("d", "n", "spectrum", "rotate", "prior", "noise", "seed", "quick"))


@dataclass(frozen=True)
class Hypothesis:
    """One hypothesis of a claim: its text (as the paper states it) and, when the setting can
    violate it, a predicate ``holds(setting)`` and what the options must be (``needs``).

    A hypothesis without a predicate holds for every setting the options can express (e.g.
    "any prompt", or the parameter family, which the claim imposes itself).
    """

    text: str
    holds: Callable[[Setting], bool] | None = None
    needs: str = ""


@dataclass(frozen=True)
class Erratum:
    """A disagreement between the paper's text and the computation.

    ``computed`` is text, or a function of the run's verdict returning text: numbers in an
    erratum come from the run (``verdict.artifacts`` / closed form), never pasted.  ``steps``
    are substrings of derivation-step titles and ``checks`` the ids of checks
    (:class:`~verify.checks.CheckDef`) whose records (with their outcomes) are quoted as
    evidence.
    """

    topic: str
    paper: str
    computed: str | Callable
    steps: tuple = ()
    checks: tuple = ()

    def resolve(self, verdict) -> "Erratum":
        """This erratum with ``computed`` filled in from ``verdict``."""
        if callable(self.computed):
            return replace(self, computed=self.computed(verdict))
        return self


@dataclass
class Judgement:
    """What a claim's ``judge`` concludes from its evidence: the verdict's content.

    ``truth``: the checks of the true closed form that negative controls are judged by (only a
    check the truth passes can reject a control), or a function returning them (evaluated only
    when controls run); ``control_resolution``: the run's resolution, where controls within it
    are not required to be rejected (None: every control is required).
    """

    setting: dict
    closed_form: dict
    checks: list
    notes: list = field(default_factory=list)
    artifacts: dict = field(default_factory=dict)
    resolution: float | None = None
    resolution_basis: str = ""
    timings: dict = field(default_factory=dict)
    truth: object = None
    control_resolution: object = None
    #: the evidence the judgement rests on, where it replaced the gathered one (a run grown to a
    #: requested resolution); controls are judged on it
    evidence: object = None
    #: what the claim's controls need from the judgement (e.g. the optimum they perturb); not
    #: part of the verdict
    context: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Claim:
    """A claim of the paper as data.

    A declared claim gives ``gather(setting, progress) -> evidence`` (trains, samples, solves:
    nothing there consults a closed form), ``judge(setting, evidence, target, progress) ->``
    :class:`Judgement` (the checks of the evidence against the closed form, or against
    ``target``, a user's candidate evaluated by ``prepare(setting, candidate)`` before any
    work), ``controls(setting, evidence, judgement) -> [Control]`` and
    ``control_checks(value, evidence, setting) -> [Check]`` (how a wrong closed form is judged),
    and ``checks``, its :class:`~verify.checks.CheckDef` records (stable ids).
    :func:`run_claim` runs every claim: hypotheses, timing, the verdict's id and the controls;
    :meth:`run` is that function bound to the claim.

    ``default_setting(**options) -> Setting`` applies the claim's defaults (e.g. Sigma = I);
    ``hypotheses`` are checked by :meth:`check` before any work; ``options`` are the options
    the claim uses (others are refused); ``effort(setting)`` returns the sample sizes and
    search sizes of a run; ``derivation`` holds callables ``f(setting) -> Derivation`` (exact,
    :mod:`theory`); ``errata`` :class:`Erratum` records; ``figures`` callables
    ``f(claim_id, verdict, setting, budget) -> [FigureData]`` (:mod:`verify.experiments.gallery`;
    the report only draws them).
    """

    id: str
    title: str
    source: str
    statement: str
    gather: Callable
    judge: Callable
    hypotheses: tuple = ()
    options: frozenset = COMMON_OPTIONS
    default_setting: Callable = Setting
    effort: Callable | None = None
    max_layers: int | None = None
    derivation: tuple = ()
    errata: tuple = ()
    figures: tuple = ()
    prepare: Callable | None = None
    controls: Callable | None = None
    control_checks: Callable | None = None
    checks: tuple = ()

    def __post_init__(self):
        ids = [c.id for c in self.checks]
        if len(set(ids)) != len(ids):
            raise ValueError(f"claim {self.id}: check ids must be unique; got {ids}")

    def run(
        self, s: Setting, with_controls: bool = False, candidate=None, progress=None
    ) -> Verdict:
        """Verify the claim at setting ``s`` (:func:`run_claim`)."""
        return run_claim(self, s, with_controls, candidate, progress)

    @property
    def name(self) -> str:
        """The claim's name as the paper gives it ("Theorem 3", "Lemma 1")."""
        return self.title.split(":")[0]

    @property
    def takes_candidate(self) -> bool:
        return "candidate" in self.options

    def setting(self, options: dict) -> Setting:
        """The :class:`Setting` of ``options`` (None values mean "default"), validated.

        :class:`~verify.errors.UsageError` for an unknown option, or one this claim does not use
        (e.g. ``layers`` for a one-layer claim); :class:`AssumptionError` for a violated hypothesis.
        """
        known = set(SETTING_OPTIONS) | {"controls", "progress", "candidate"}
        unknown = set(options) - known
        if unknown:
            raise UsageError(
                f"unknown options {sorted(unknown)}; allowed: {sorted(known - {'progress'})}"
            )
        given = {k: v for k, v in options.items() if k in SETTING_OPTIONS and v is not None}
        unused = sorted(set(given) - set(self.options))
        if unused:
            raise UsageError(
                f"{self.name} does not use {_flags(unused)}; its options: {_flags(self.options)}"
            )
        if "spectrum" in given and "d" not in given:
            given["d"] = len(validate_spectrum(given["spectrum"]))  # ValueError, not TypeError
        s = self.default_setting(**given)
        self.check(s)
        return s

    def check(self, s: Setting) -> None:
        """Raise :class:`AssumptionError` naming every hypothesis ``s`` violates, or
        :class:`~verify.errors.UsageError` for more layers than the claim is computed for."""
        bad = [h for h in self.hypotheses if h.holds is not None and not h.holds(s)]
        if bad:
            got = f"d {s.d}, spectrum {list(s.eigenvalues)}, prior {s.prior}, noise {s.noise}" + (
                f", layers {s.layers}" if s.layers is not None else ""
            )
            raise AssumptionError(
                f"{self.name} assumes {' and '.join(h.text for h in bad)}: it needs "
                f"{', '.join(h.needs for h in bad)}; got {got}"
            )
        if self.max_layers is not None and (s.layers or 0) > self.max_layers:
            raise UsageError(
                f"{self.name} is computed for L <= {self.max_layers} layers; got --layers {s.layers}"
            )

    def hypothesis_texts(self) -> tuple:
        return tuple(h.text for h in self.hypotheses)

    def derivations(self, s: Setting) -> list:
        """The claim's Derivation records at ``s`` (exact, no training)."""
        return [derive(s) for derive in self.derivation]

    def errata_for(self, verdict) -> tuple:
        """The errata with their numbers filled in from ``verdict``."""
        return tuple(e.resolve(verdict) for e in self.errata)


def _flags(names) -> str:
    """Option names as the CLI spells them."""
    return ", ".join("--" + {"rotate": "no-rotation"}.get(k, k) for k in sorted(names))


# -- predicates of the data hypotheses ----------------------------------------------------


def unit_spectrum(s: Setting) -> bool:
    """x ~ N(0, I): every eigenvalue of Sigma equals 1."""
    return all(v == 1.0 for v in s.eigenvalues)


def identity_prior(s: Setting) -> bool:
    """w* ~ N(0, I)."""
    return s.prior == "identity"


def inverse_prior(s: Setting) -> bool:
    """w* ~ N(0, Sigma^{-1})."""
    return s.prior == "inverse"


def noiseless(s: Setting) -> bool:
    """No label noise (the paper has none anywhere)."""
    return s.noise == 0


def run_claim(
    claim: Claim,
    s: Setting,
    with_controls: bool = False,
    candidate=None,
    progress: Progress | None = None,
) -> Verdict:
    """Verify a declared ``claim`` at setting ``s``: its hypotheses (before any work), the
    candidate (evaluated before any training is spent on it), the evidence, the judgement,
    then, with ``with_controls``, every negative control judged by the checks the true closed
    form passes, and the discrimination check.  The verdict carries the claim's id."""
    claim.check(s)
    if candidate is not None and claim.prepare is None:
        raise ValueError(f"{claim.name} takes no candidate closed form")
    progress = progress or Progress(None)
    t0 = time.perf_counter()
    target = None if candidate is None else claim.prepare(s, candidate)
    evidence = claim.gather(s, progress)
    j = claim.judge(s, evidence, target, progress)
    verdict = Verdict(
        claim.id,
        j.setting,
        j.closed_form,
        j.checks,
        notes=j.notes,
        artifacts=j.artifacts,
        resolution=j.resolution,
        resolution_basis=j.resolution_basis,
    )
    verdict.timings.update(j.timings)
    if j.evidence is not None:
        evidence = j.evidence
    if with_controls and claim.controls is not None:
        ctrls = claim.controls(s, evidence, j)
        truth = j.truth() if callable(j.truth) else j.truth
        rows = evaluate_controls(ctrls, evidence, s, claim.control_checks, truth_checks=truth)
        if j.control_resolution is not None:
            res = j.control_resolution
            res = res(truth) if callable(res) else res
            rows = mark_within_resolution(rows, [c.deviation for c in ctrls], res)
        verdict.controls = rows
        verdict.checks.append(controls_check(rows))
    verdict.timings["seconds"] = time.perf_counter() - t0
    return verdict
