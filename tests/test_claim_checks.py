"""Every declared check of every declared claim fails on evidence built to fail it.

In the spirit of scikit-learn's ``check_estimator``: each claim registers small hand-built
evidence that its truth passes (no training: seconds) and, for each check it declares
(``CLAIM.checks``, by stable id), a *breaker* that builds evidence (or a closed form) that must
make that check fail.  ``test_every_declared_check_has_a_breaker`` keeps the registry complete:
a check added to a claim without a breaker fails the suite.  Checks that can only be
inconclusive (a count below its minimum: the evidence cannot decide, it does not refute) are
shown not to pass.  The replica bookkeeping (spread above the ceiling, too few converged
replicas) makes checks inconclusive, never passed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import pytest

from theory import relu as tr
from theory import single_layer as sl
from verify import critical_sets as crit
from verify.claims import lemma1 as l1
from verify.claims import lemma4 as l4
from verify.claims import theorem1 as c1
from verify.claims import theorem2 as c2
from verify.claims import theorem3 as c3
from verify.claims import theorem4 as c4
from verify.claims import theorem5 as c5
from verify.claims.layers import LayerEvidence
from verify.critical_sets import critical_set
from verify.families import FAMILY8, FAMILY11, GD
from verify.model import RELU, predict
from verify.progress import Progress
from verify.resolution import check_resolution, run_resolution
from verify.sampling import sample_prompts
from verify.setting import Setting
from verify.training.multilayer import Summaries

R = c1.REPLICAS


@dataclass(frozen=True)
class _Derivation:
    """A stand-in for a :class:`theory.derivation.Derivation`: its failed steps only."""

    failures_in_claim: tuple = ()

    def describe(self) -> str:
        return f"{len(self.failures_in_claim)} failed"


PASSES, FAILS = _Derivation(), _Derivation(("a step that does not simplify",))


def _by_id(checks):
    return {c.id: c for c in checks}


# -- Lemma 1 -------------------------------------------------------------------------------


def _lemma1():
    """Residuals as the identity predicts: round-off where it holds, O(1) where it fails."""
    s = Setting(d=2, n=3)
    residual = {
        (True, False, "eq3"): 1e-16,
        (False, True, "eq3"): 1e-16,
        (False, False, "eq3"): 0.3,
        (False, False, "code"): 1e-16,
        (False, True, "code"): 0.3,
    }
    exact = {
        (True, "eq3"): (True, True),
        (False, "eq3"): (False, True),
        (False, "code"): (True, False),
    }
    return s, l1.Evidence(residual, exact, 1e-13), None


def _lemma1_residual(check, value):
    def breaker(s, ev, target):
        ev.residual[l1.READINGS[check.id]] = value
        return l1.judge(s, ev, target, Progress(None)).checks

    return breaker


def _lemma1_exact(key, reading):
    def breaker(s, ev, target):
        ev.exact[key] = reading
        return l1.judge(s, ev, target, Progress(None)).checks

    return breaker


LEMMA1 = {
    l1.EQ3_SYMMETRIC.id: _lemma1_residual(l1.EQ3_SYMMETRIC, 1e-6),
    l1.EQ3_TRANSPOSED.id: _lemma1_residual(l1.EQ3_TRANSPOSED, 1e-6),
    l1.EQ3_ERRATUM.id: _lemma1_residual(l1.EQ3_ERRATUM, 1e-15),
    l1.CODE_PRINTED.id: _lemma1_residual(l1.CODE_PRINTED, 1e-6),
    l1.CODE_TRANSPOSED_FAILS.id: _lemma1_residual(l1.CODE_TRANSPOSED_FAILS, 1e-15),
    l1.EXACT_TRANSPOSED[True].id: _lemma1_exact((True, "eq3"), (True, False)),
    l1.EXACT_TRANSPOSED[False].id: _lemma1_exact((False, "eq3"), (False, False)),
    l1.EXACT_PRINTED_SYMMETRIC.id: _lemma1_exact((True, "eq3"), (False, True)),
    l1.EXACT_PRINTED_FAILS.id: _lemma1_exact((False, "eq3"), (True, True)),
    l1.EXACT_CODE.id: _lemma1_exact((False, "code"), (False, False)),
}


# -- Theorem 1 -----------------------------------------------------------------------------


def _ev1(spread=1e-3, kept=R, vanish=1e-3, seed=0):
    s = Setting(d=3, n=6, spectrum=(1.0, 0.5, 0.2), seed=seed)
    rng = np.random.default_rng(seed)
    sigma = s.sigma  # the setting's Sigma: the judge takes the optimum from the setting's law
    A = sl.optimal_preconditioner(sigma, s.n)
    reps = A + spread * np.linalg.norm(A) * rng.standard_normal((R, 3, 3)) / 3
    test = sample_prompts(4000, s.n, sigma, rng)
    preds = np.array([predict(GD(3, 1).unpack(M.ravel()), test) for M in reps])
    ev = c1.Evidence(
        sigma,
        np.eye(3),
        reps,
        1000,
        reps.copy(),
        10.0,
        reps[:kept].copy(),
        vanish * rng.standard_normal((kept, 6)),
        0.0,
        [],
        [(r, "synthetic") for r in range(kept, R)],
        test,
        preds,
        derivations=(PASSES, PASSES, PASSES),
    )
    return s, ev, A


def _theorem1():
    s, ev, _ = _ev1()
    return s, ev, None


def _judged(module, s, ev, target):
    return module.judge(s, ev, target, Progress(None)).checks


def _wrong_target(module, make):
    """The checks of a wrong closed form ``make(truth)`` (a user's candidate)."""

    def breaker(s, ev, target):
        truth = module.judge(s, ev, None, Progress(None)).closed_form
        return _judged(module, s, ev, make(truth))

    return breaker


def _c1_target(scale):
    return _wrong_target(c1, lambda cf: scale * cf["preconditioner"])


def _c1_anisotropic(s, ev, target):
    A = sl.optimal_preconditioner(ev.sigma, s.n)
    return _judged(c1, s, ev, A + 0.2 * np.linalg.norm(A) * np.diag([1.0, -1.0, 0.0]))


def _c1_vanish(s, ev, target):
    ev.vanish = ev.vanish + 0.05  # a systematic offset; 5 standard errors are ~2e-3
    return _judged(c1, s, ev, target)


def _c1_too_few(s, ev, target):
    _, ev, _ = _ev1(kept=3)
    return _judged(c1, s, ev, target)


def _c1_derivation(k):
    def breaker(s, ev, target):
        ev.derivations = tuple(FAILS if i == k else PASSES for i in range(3))
        return _judged(c1, s, ev, target)

    return breaker


def _c1_eq6(s, ev, target):
    """Were the derived optimum not Gamma^{-1}, the eq. (6) check must say so."""
    with pytest.MonkeyPatch.context() as mp:
        true = sl.optimal_preconditioner
        mp.setattr(c1.sl, "optimal_preconditioner", lambda *a, **k: 1.01 * true(*a, **k))
        return _judged(c1, s, ev, target)


def _c1_resolution(s, ev, target):
    """A requested resolution the capped run did not reach (growing it would train)."""
    return [c1.resolution_check(replace(s, resolution=0.01), 0.02)]


THEOREM1 = {
    c1.INT_CHECK.id: _c1_target(1.05),
    c1.GD_CHECK.id: _c1_target(1.05),
    c1.FULL_CHECK.id: _c1_target(1.05),
    c1.PREDICTOR_CHECK.id: _c1_target(1.05),
    c1.DIST_CHECK.id: _c1_anisotropic,
    c1.TEST_LOSS_CHECK.id: _c1_target(2.0),
    c1.UNBEATEN_CHECK.id: _c1_target(2.0),
    c1.VANISH_CHECK.id: _c1_vanish,
    c1.CONVERGED_CHECK.id: _c1_too_few,
    c1.DERIVED_CHECK.id: _c1_derivation(0),
    c1.GENERAL_CHECK.id: _c1_derivation(1),
    c1.REDUCTION_CHECK.id: _c1_derivation(2),
    c1.EQ6_CHECK.id: _c1_eq6,
    c1.RESOLUTION_CHECK.id: _c1_resolution,
}


# -- Theorem 5 -----------------------------------------------------------------------------


def _ev5(spread=1e-3, seed=0, kept=R):
    s = Setting(d=2, n=5, spectrum=(1.0, 1.0), seed=seed)
    rng = np.random.default_rng(seed)
    C = -tr.optimal_scale(s.n, s.d) * np.eye(2)
    reps = C + spread * rng.standard_normal((R, 2, 2))
    test = sample_prompts(4000, s.n, np.eye(2), rng)
    preds = np.array([predict([c5._closed_form_params(M, 1.0)], test, RELU) for M in reps])
    ev = c5.Evidence(
        reps[:kept],
        1e-3 * rng.standard_normal((kept, 2)),
        np.ones(kept),
        0.0,
        test,
        preds[:kept],
        [],
        [(r, "synthetic") for r in range(kept, R)],
        1000,
        derivation=PASSES,
    )
    return s, ev, C


def _theorem5():
    s, ev, _ = _ev5()
    return s, ev, None


def _c5_target(make):
    """A candidate preconditioner (the claim's target is minus Q_0's block)."""
    return _wrong_target(c5, lambda cf: -make(cf["Q0_top_left"]))


def _c5_vanish(s, ev, target):
    ev.vanish = ev.vanish + 0.05
    return _judged(c5, s, ev, target)


def _c5_too_few(s, ev, target):
    _, ev, _ = _ev5(kept=3)
    return _judged(c5, s, ev, target)


def _c5_derivation(s, ev, target):
    ev.derivation = FAILS
    return _judged(c5, s, ev, target)


def _c5_resolution(s, ev, target):
    return [c5.resolution_check(replace(s, resolution=0.01), 0.02)]


THEOREM5 = {
    c5.B_CHECK.id: _c5_target(lambda C: 1.05 * C),
    c5.PREDICTOR_CHECK.id: _c5_target(lambda C: 1.05 * C),
    c5.DIST_CHECK.id: _c5_target(lambda C: C + np.diag([0.1, -0.1])),
    c5.UNBEATEN_CHECK.id: _c5_target(lambda C: 0.5 * C),
    c5.TEST_LOSS_CHECK.id: _c5_target(lambda C: 0.0 * C),  # 4000 test prompts: a coarse check
    c5.VANISH_CHECK.id: _c5_vanish,
    c5.CONVERGED_CHECK.id: _c5_too_few,
    c5.DERIVED_CHECK.id: _c5_derivation,
    c5.RESOLUTION_CHECK.id: _c5_resolution,
}


# -- Theorem 2 -----------------------------------------------------------------------------


@dataclass
class _End:
    """A stand-in search end point: its matrices and loss."""

    A: tuple
    loss: float
    step_bound: float = 1e-12

    def matrices(self, d=None):
        return self.A


@dataclass
class _Search:
    starts: int
    minima: list
    best: _End


def _theorem2():
    """The search's end points at the exact restricted minimiser (d = 2, n = 4)."""
    s = c2.default_setting(d=2, n=4)
    best, _, _ = c2.restricted_minimiser(s.n, s.d)
    A = tuple(float(a) * np.eye(2) for a in best.a)
    f = c2.exact_loss(s.n, s.d).value(*A)
    hits = [_End(A, f), _End(A[::-1], f)]
    test = sample_prompts(20_000, s.n, np.eye(2), np.random.default_rng(1))
    ev = c2.Evidence(
        s.n,
        s.d,
        _Search(3, hits, hits[0]),
        A,
        f,
        1e-12,
        1e-8,
        hits,
        1e-8,
        0.1,
        _Search(2, [hits[0]], hits[0]),
        1e-12,
        test,
    )
    return s, ev, None


def _c2_with(**changes):
    def breaker(s, ev, target):
        return _judged(c2, s, replace(ev, **changes), target)

    return breaker


def _c2_best(make):
    """The search's best end point moved (a wrong minimiser found)."""

    def breaker(s, ev, target):
        return _judged(c2, s, replace(ev, best=make(*ev.best)), target)

    return breaker


def _c2_target(make):
    def breaker(s, ev, target):
        return _judged(c2, s, ev, make(*ev.best))

    return breaker


def _c2_patched(name, value):
    """The exact engine disagreeing with theory.wishart / theory.restricted."""

    def breaker(s, ev, target):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(c2, name, value(getattr(c2, name)))
            return _judged(c2, s, ev, target)

    return breaker


class _OffRestricted:
    """FAMILY8 with its restricted loss 1e-6 too high (a wrong exact engine)."""

    def __init__(self, fam):
        self.fam = fam

    def __getattr__(self, name):
        return getattr(self.fam, name)

    def restricted_loss(self, *args):
        R = self.fam.restricted_loss(*args)
        return type("R", (), {"value": lambda _, a: R.value(a) * (1 + 1e-6)})()


E12 = np.array([[0.0, 1.0], [1.0, 0.0]])

THEOREM2 = {
    c2.WICK.id: _c2_patched("mixed_moment", lambda f: lambda *a: f(*a) + 1),
    c2.RESTRICTED.id: _c2_patched("FAMILY8", _OffRestricted),
    c2.SAMPLED.id: _c2_with(
        test=sample_prompts(20_000, 4, 2 * np.eye(2), np.random.default_rng(1))
    ),
    c2.LOWEST.id: lambda s, ev, t: _judged(c2, s, replace(ev, f_best=ev.f_best * (1 + 1e-6)), t),
    c2.DIAGONAL.id: _c2_best(lambda A0, A1: (A0 + 1e-3 * E12, A1)),
    c2.MULTIPLE_OF_I.id: _c2_best(lambda A0, A1: (A0 @ np.diag([1.0, 1.01]), A1)),
    c2.EQUALS_A_STAR.id: _c2_best(lambda A0, A1: (1.01 * A0, A1)),
    c2.STARTS_AGREE.id: lambda s, ev, t: _judged(
        c2, s, replace(ev, hits=[ev.hits[0], _End((1.01 * ev.best[0], ev.best[1]), ev.f_best)]), t
    ),
    c2.TWO_STARTS.id: lambda s, ev, t: _judged(c2, s, replace(ev, hits=ev.hits[:1]), t),
    c2.GENERAL.id: lambda s, ev, t: _judged(
        c2,
        s,
        replace(ev, general=_Search(2, [], _End(ev.best, ev.f_best * (1 + 1e-6)))),
        t,
    ),
    c2.HESSIAN.id: _c2_with(min_eig=-1e-3),
    c2.CF_LOSS.id: _c2_target(lambda A0, A1: (1.01 * A0, A1)),
    c2.CF_GRADIENT.id: _c2_target(lambda A0, A1: (1.01 * A0, A1)),
    c2.CF_SEARCH.id: _c2_target(lambda A0, A1: (1.01 * A0, A1)),
    c2.CF_DIAGONAL.id: _c2_target(lambda A0, A1: (A0 + 1e-3 * E12, A1)),
    c2.CF_TEST_LOSS.id: _c2_target(lambda A0, A1: (0 * A0, 0 * A1)),  # loss d, far from f*
}


# -- Theorem 3 -----------------------------------------------------------------------------


def _ev3(scale=1.0, aniso=(1.0, 1.0), test_sigma=1.0):
    """Replicas at the global minimiser on S (Sigma = I, d = 2, n = 8, L = 2), 1e-4 apart."""
    s = c3.default_setting(d=2, n=8, layers=2, spectrum=(1.0, 1.0))
    best = next(p for p in critical_set(FAMILY8, 2, 8, 2).points if p.is_global_minimum_on_S)
    rng = np.random.default_rng(0)
    A = np.array([scale * float(a) * np.diag(aniso) for a in best.a])  # (L, d, d)
    W = A + 1e-4 * rng.standard_normal((R, 2, 2, 2))
    test = sample_prompts(20_000, 8, test_sigma * np.eye(2), rng)
    ev = LayerEvidence(
        np.eye(2),
        FAMILY8,
        2,
        W.reshape(R, -1),
        W,
        np.zeros_like(W),
        0.0,
        [],
        Summaries.from_prompts(test),
        np.zeros(R),
    )
    return s, ev


def _theorem3():
    s, ev = _ev3()
    return s, ev, None


def _c3_evidence(**kw):
    def breaker(s, ev, target):
        return _judged(c3, s, _ev3(**kw)[1], target)

    return breaker


def _c3_critical(change_set=None, change_point=None):
    """The critical set as theory.critical would report it were the enumeration wrong."""

    def breaker(s, ev, target):
        cs = critical_set(FAMILY8, 2, 8, 2)
        pts = [change_point(i, p) if change_point else p for i, p in enumerate(cs.points)]
        bad = replace(cs, points=pts, **(change_set or {}))
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(c3, "critical_set", lambda *a: bad)
            return _judged(c3, s, ev, target)

    return breaker


def _c3_hankel(s, ev, target):
    """The enumerated minimum disagreeing with the independent Hankel value."""
    true = c3.global_minimum_value_family8

    def off(*a):
        q = true(*a)
        return type("Q", (), {"p": int(q.p) * 1_000_001, "q": int(q.q) * 1_000_000})()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(c3, "global_minimum_value_family8", off)
        return _judged(c3, s, ev, target)


def _minimum(i, p):
    return p.is_global_minimum_on_S


THEOREM3 = {
    c3.HANKEL.id: _c3_hankel,
    crit.EXISTS.id: _c3_critical(change_point=lambda i, p: replace(p, certified=False)),
    crit.CERTIFIED.id: _c3_critical(
        change_point=lambda i, p: replace(p, certified=False) if i == 1 else p
    ),
    crit.GRADIENT.id: _c3_critical(
        change_point=lambda i, p: replace(p, gradient_residual=1e-10) if i == 1 else p
    ),
    crit.COMPLETE.id: _c3_critical(change_set={"complete": False}),
    c3.LOCAL_MINIMUM.id: _c3_critical(
        change_point=lambda i, p: replace(p, kind="saddle") if _minimum(i, p) else p
    ),
    c3.TARGET.id: _c3_evidence(scale=1.01),
    c3.TEST_LOSS.id: _c3_evidence(test_sigma=2.0),
    c3.UNBEATEN.id: _c3_critical(
        change_point=lambda i, p: (
            replace(p, a=tuple(1.05 * x for x in p.a)) if _minimum(i, p) else p
        )
    ),
    c3.ON_S.id: _c3_evidence(aniso=(1.0, 1.05)),
}


# -- Theorem 4 -----------------------------------------------------------------------------


def _ev4(scale=1.0, aniso=(1.0, 1.0), b_aniso=(1.0, 1.0)):
    """Population replicas at a certified minimum of phi_2 (family (11), Sigma = I, d = 2,
    n = 8: the list is proved complete), 1e-4 apart, and a plain fit at the same point."""
    s = c4.default_setting(d=2, n=8, layers=2, spectrum=(1.0, 1.0))
    best = min(
        (p for p in critical_set(FAMILY11, 2, 8, 2).points if p.kind == "minimum"),
        key=lambda p: p.loss,
    )
    a, b = [float(x) for x in best.a], [float(x) for x in best.b]
    rng = np.random.default_rng(0)
    A = np.array([scale * x * np.diag(aniso) for x in a])
    B = np.array([scale * b[0] * np.diag(b_aniso), np.zeros((2, 2))])
    A_r = A + 1e-4 * rng.standard_normal((R, 2, 2, 2))
    B_r = B + 1e-4 * rng.standard_normal((R, 2, 2, 2))
    thetas = np.concatenate([A_r.reshape(R, -1), B_r.reshape(R, -1)], axis=1)
    test = Summaries.from_prompts(sample_prompts(100, 8, np.eye(2), rng))
    pop = LayerEvidence(np.eye(2), FAMILY11, 2, thetas, A_r, B_r, 0.0, [], test, np.ones(R))
    fit = type(
        "Fit",
        (),
        {"trajectory": type("T", (), {"info": {"loss": 0.1}})(), "starts": 1, "converged": True},
    )()
    plain = {
        "fit": fit,
        "A_white": A,
        "B": B,
        "step_sizes": (np.array(a), np.array(b)),
        "test_loss": 0.1,
    }
    return s, c4.Evidence(pop, fit, plain)


def _theorem4():
    return (*_ev4(), None)


def _c4_evidence(**kw):
    def breaker(s, ev, target):
        return _judged(c4, s, _ev4(**kw)[1], target)

    return breaker


def _c4_critical(change_set=None, change_point=None):
    def breaker(s, ev, target):
        cs = critical_set(FAMILY11, 2, 8, 2)
        pts = [change_point(i, p) if change_point else p for i, p in enumerate(cs.points)]
        bad = replace(cs, points=pts, **(change_set or {}))
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(c4, "critical_set", lambda *a: bad)
            return _judged(c4, s, ev, target)

    return breaker


def _c4_b_last_read(s, ev, target):
    """A model whose read-out sees the last layer's B (as family (11)'s never does)."""
    true = c4.forward

    def leaky(params, prompts, full=False):
        out, cache = true(params, prompts, full=full)
        return out + params[-1][0][:-1, :-1].sum(), cache

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(c4, "forward", leaky)
        return _judged(c4, s, ev, target)


THEOREM4 = {
    crit.EXISTS.id: _c4_critical(change_point=lambda i, p: replace(p, certified=False)),
    crit.CERTIFIED.id: _c4_critical(
        change_point=lambda i, p: replace(p, certified=False) if i == 2 else p
    ),
    crit.GRADIENT.id: _c4_critical(
        change_point=lambda i, p: replace(p, gradient_residual=1e-10) if i == 2 else p
    ),
    crit.COMPLETE.id: _c4_critical(change_set={"complete": False}),
    c4.B_LAST.id: _c4_b_last_read,
    c4.ON_S_A.id: _c4_evidence(aniso=(1.0, 1.05)),
    c4.ON_S_B.id: _c4_evidence(b_aniso=(1.0, 1.05)),
    c4.STEP_SIZES.id: _c4_evidence(scale=1.05),
    c4.REACHED_MINIMUM.id: _c4_evidence(scale=1.05),
}


# -- Lemma 4 -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Point:
    """A stand-in critical point: step sizes and kind."""

    a: tuple
    kind: str


def _lemma4():
    s = Setting(d=2, n=3, prior="inverse", layers=2)
    pts = [_Point((0.3, 0.9), "minimum"), _Point((0.5, 0.5), "saddle")]
    return s, l4.Evidence(2, 1e-16, 0.2, 1e-13, PASSES, [(0, 1)], pts), None


def _lemma4_with(**changes):
    def breaker(s, ev, target):
        return _judged(l4, s, replace(ev, **changes), target)

    return breaker


LEMMA4 = {
    l4.SYMMETRIC.id: _lemma4_with(derivation=FAILS),
    l4.PERMUTATION.id: _lemma4_with(perm_err=1e-6),
    l4.OFF_S.id: _lemma4_with(off_err=1e-15),
    l4.FAMILY11_ORDER.id: _lemma4_with(family11_keep=[(0, 1), (1, 0)]),
}


# -- the registry ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """A claim's module, its passing evidence and a breaker per declared check id."""

    module: object
    evidence: Callable  # () -> (setting, evidence, target or None)
    breakers: dict
    #: checks that can only be inconclusive when the evidence is bad (counts below a minimum,
    #: a capped resolution): the evidence cannot decide, it does not refute
    undecided: tuple = ()


CLAIMS = {
    "lemma1": Entry(l1, _lemma1, LEMMA1),
    "1": Entry(c1, _theorem1, THEOREM1, (c1.CONVERGED_CHECK.id, c1.RESOLUTION_CHECK.id)),
    "5": Entry(c5, _theorem5, THEOREM5, (c5.CONVERGED_CHECK.id, c5.RESOLUTION_CHECK.id)),
    "2": Entry(c2, _theorem2, THEOREM2),
    "3": Entry(c3, _theorem3, THEOREM3),
    "4": Entry(c4, _theorem4, THEOREM4),
    "lemma4": Entry(l4, _lemma4, LEMMA4),
}

CASES = [(cid, check) for cid, e in CLAIMS.items() for check in e.breakers]


@pytest.mark.parametrize("cid", CLAIMS)
def test_every_declared_check_has_a_breaker(cid):
    entry = CLAIMS[cid]
    assert set(entry.breakers) == {c.id for c in entry.module.CLAIM.checks}


@pytest.mark.parametrize("cid", CLAIMS)
def test_the_truth_passes_the_hand_built_evidence(cid):
    entry = CLAIMS[cid]
    s, ev, target = entry.evidence()
    checks = _judged(entry.module, s, ev, target)
    assert checks and all(c.passed for c in checks), [c.id for c in checks if not c.passed]
    ids = [c.id for c in checks]  # every check a declared claim makes carries its own id
    assert all(ids) and len(set(ids)) == len(ids)


@pytest.mark.parametrize("cid, check", CASES, ids=[f"{c}-{k}" for c, k in CASES])
def test_every_declared_check_fails_on_evidence_built_to_fail_it(cid, check):
    entry = CLAIMS[cid]
    s, ev, target = entry.evidence()
    got = _by_id(entry.breakers[check](s, ev, target))
    expected = "inconclusive" if check in entry.undecided else "failed"
    assert got[check].status == expected, (
        got[check].name,
        got[check].observed,
        got[check].tolerance,
    )


# -- the replica bookkeeping and the resolution ------------------------------------------------


def test_claim1_spread_above_the_ceiling_is_inconclusive_not_passed():
    s, ev, A = _ev1(spread=2.0)  # replicas disagree wildly: the tolerance swells
    chk = _by_id(c1.closed_form_checks(A, ev, s))
    assert chk["int"].status == "inconclusive" and "ceiling" in chk["int"].reason


def test_claim1_too_few_converged_replicas_make_their_checks_inconclusive():
    s, ev, A = _ev1(kept=3)
    assert _by_id(c1.closed_form_checks(A, ev, s))["full"].status == "inconclusive"
    conv = c1.convergence_check(ev)
    assert conv.status == "inconclusive" and "replica 9: synthetic" in conv.reason


def test_claim5_spread_above_the_ceiling_is_inconclusive():
    s, ev, C = _ev5(spread=3.0)
    assert _by_id(c5.closed_form_checks(C, ev, s))["b_eff"].status == "inconclusive"


def test_resolution_is_obs_plus_tol_over_one_minus_tol_and_rejects_every_direction_beyond_it():
    s, ev, A = _ev1()
    checks = c1.closed_form_checks(A, ev, s)
    res, basis = run_resolution(checks, c1.RESOLUTION_CHECKS)
    assert res <= check_resolution(_by_id(checks)["int"]) and "worst-case" in basis
    rng = np.random.default_rng(5)
    for _ in range(20):  # random directions at 1.01 x the resolution are all rejected
        D = rng.standard_normal(A.shape)
        C = A + 1.01 * res * np.linalg.norm(A) * D / np.linalg.norm(D)
        assert any(
            x.status == "failed"
            for x in c1.closed_form_checks(C, ev, s)
            if x.id in c1.RESOLUTION_CHECKS
        )


def test_claim1_resolution_request_grows_the_integrated_sample_until_reached():
    s, ev, A = _ev1(spread=0.02)  # 2 % per replica from "1000 contexts": resolution ~ 0.05
    s = replace(s, resolution=0.01)
    before, _ = run_resolution(c1.closed_form_checks(A, ev, s), c1.RESOLUTION_CHECKS)
    cost = c1._grow_resolution(s, ev, A, Progress(None))
    after, _ = run_resolution(c1.closed_form_checks(A, ev, s), c1.RESOLUTION_CHECKS)
    assert before > 0.01 >= after and ev.int_contexts > 1000 and "extra round" in cost
    assert c1.resolution_check(s, after).passed
