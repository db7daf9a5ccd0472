"""The claim registry: one module, one Claim object per claim; options and hypotheses are
checked before any work; errata numbers come from the run."""

import importlib

import pytest

from verify import verify_theorem
from verify.checks import Verdict
from verify.claims import CLAIMS, Claim, get_claim
from verify.errors import UsageError
from verify.families import FAMILY8, FAMILY11, as_family
from verify.setting import AssumptionError

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
    import verify.claims.theorem5 as t5

    monkeypatch.setattr(t5, "gather", lambda *a, **k: called.append(1))
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
