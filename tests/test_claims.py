"""The claim registry: one module, one Claim object per claim; options and hypotheses are
checked before any work; errata numbers come from the run."""

import importlib

import pytest

from verify import verify_theorem
from verify.checks import CONTROLS_CHECK, CheckDef, Control, Verdict
from verify.claims import CLAIMS, Claim, get_claim
from verify.claims.base import Hypothesis, Judgement, unit_spectrum
from verify.errors import UsageError
from verify.families import FAMILY8, FAMILY11, as_family
from verify.setting import AssumptionError, Setting

MODULES = ["lemma1", "theorem1", "theorem2", "theorem3", "theorem4", "lemma4", "theorem5"]


@pytest.mark.parametrize("name", MODULES)
def test_every_claim_module_exports_exactly_one_claim_and_the_registry_holds_it(name):
    mod = importlib.import_module(f"verify.claims.{name}")
    claims = [v for v in vars(mod).values() if isinstance(v, Claim)]
    assert len(claims) == 1 and CLAIMS[claims[0].id] is claims[0]


def test_the_registry_is_a_lookup_and_refuses_unknown_ids():
    assert get_claim("Theorem 3") is CLAIMS["3"]
    with pytest.raises(ValueError, match="unknown claim"):
        get_claim("6")


def test_an_option_the_claim_does_not_use_is_refused():
    with pytest.raises(UsageError, match="does not use --layers"):
        CLAIMS["1"].setting({"layers": 2})
    assert CLAIMS["3"].setting({"layers": 2}).layers == 2


def test_hypotheses_are_checked_before_any_work(monkeypatch):
    called = []
    import dataclasses

    import verify.claims as registry

    spy = dataclasses.replace(CLAIMS["5"], gather=lambda *a: called.append(1))
    monkeypatch.setitem(registry.CLAIMS, "5", spy)
    with pytest.raises(AssumptionError, match="Theorem 5 assumes x\\^\\(i\\) ~ N\\(0, I\\)"):
        verify_theorem("5", spectrum=(1.0, 2.0), quick=True)
    assert called == []


def test_violated_hypotheses_are_all_named_with_what_the_options_must_be():
    with pytest.raises(AssumptionError) as err:
        CLAIMS["2"].setting({"prior": "inverse", "noise": 0.1, "spectrum": (1.0, 2.0)})
    msg = str(err.value)
    assert "--spectrum of all ones" in msg and "--prior identity" in msg and "--noise 0" in msg


def test_errata_numbers_are_filled_from_the_verdict_not_pasted():
    claim = CLAIMS["3"]
    (erratum,) = claim.errata
    assert callable(erratum.computed)
    fake = Verdict(
        "3",
        {},
        {},
        [],
        artifacts={
            "paper_values": [
                {"n": 10, "phi_paper": 1.5, "phi_min": 0.5, "a_star": (0.3, 0.5, 1.6)},
                {"n": 20, "phi_paper": 0.25, "phi_min": 0.125, "a_star": (0.42, 0.69, 1.71)},
            ]
        },
    )
    text = claim.errata_for(fake)[0].computed
    assert "phi = 0.25 at the printed values vs 0.125" in text and "(phi = 1.5 vs 0.5)" in text
    assert "no numbers" in claim.errata_for(Verdict("3", {}, {}, []))[0].computed


def test_a_family_is_one_object_with_its_sign_blocks_and_exact_loss():
    assert FAMILY8.sign == -1 and FAMILY11.sign == 1 and FAMILY11.has_B and not FAMILY8.has_B
    assert FAMILY8.size(5, 3) == 75 and FAMILY11.size(5, 3) == 150
    assert FAMILY8.params(5, 3).family is FAMILY8 and FAMILY11.params(5, 3).family is FAMILY11
    assert as_family("gdpp") is FAMILY11 and as_family("8") is FAMILY8
    with pytest.raises(ValueError, match="family must be one of"):
        as_family("gd++")
    assert float(FAMILY8.restricted_loss(1, 20, 5).value((0.0,))) > 0


# -- the engine (verify.claims.base.run_claim) on a toy claim --------------------------------

OK = CheckDef("ok", "observed within 2")


def _toy(calls, truth_observed=1.0, **kw):
    """A claim whose evidence is a number x; the check is x <= 2; the control is 3."""
    return Claim(
        id="toy",
        title="Toy: a number below 2",
        source="",
        statement="",
        hypotheses=(Hypothesis("Sigma = I", unit_spectrum, "--spectrum of all ones"),),
        gather=lambda s, progress: calls.append("gather") or 1.0,
        judge=lambda s, ev, target, progress: Judgement(
            {},
            {"x": ev},
            [OK.at_most("exact", ev, 2.0, "toy")],
            truth=[OK.at_most("exact", truth_observed, 2.0, "toy")],
        ),
        controls=lambda s, ev, j: [Control("three", 3.0)],
        control_checks=lambda value, ev, s: [OK.at_most("exact", value, 2.0, "toy")],
        **{"checks": (OK,), **kw},
    )


def test_the_engine_checks_hypotheses_first_then_runs_gather_judge_and_controls():
    calls = []
    claim = _toy(calls)
    with pytest.raises(AssumptionError, match="Toy assumes Sigma = I"):
        claim.run(Setting(d=2, spectrum=(1.0, 2.0)))
    assert calls == []
    v = claim.run(Setting(d=2, spectrum=(1.0, 1.0)), with_controls=True)
    assert v.claim == "toy" and calls == ["gather"] and "seconds" in v.timings
    (row,) = v.controls
    assert row["rejected"] and row["rejected_by"] == OK.title
    assert v.checks[-1].id == CONTROLS_CHECK.id and v.passed


def test_a_control_is_judged_only_by_check_ids_the_truth_passes():
    v = _toy([], truth_observed=5.0).run(Setting(d=2, spectrum=(1.0, 1.0)), with_controls=True)
    (row,) = v.controls
    assert not row["rejected"] and "no check that the true closed form passes" in row["reason"]
    assert v.checks[-1].status == "inconclusive"


def test_the_engine_refuses_a_candidate_the_claim_cannot_take():
    with pytest.raises(ValueError, match="takes no candidate"):
        _toy([]).run(Setting(d=2, spectrum=(1.0, 1.0)), candidate=lambda sigma, n: sigma)


def test_a_claim_declares_unique_check_ids():
    with pytest.raises(ValueError, match="unique"):
        _toy([], checks=(OK, CheckDef("ok", "another title")))
    for claim in CLAIMS.values():
        ids = [c.id for c in claim.checks]
        assert len(set(ids)) == len(ids)
