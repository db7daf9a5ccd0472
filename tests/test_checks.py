"""Check records: senses, normalised margins, three-valued status, the controls rule.

Every constructor of a check is fed evidence that must fail it (and, where it has one, the
evidence that makes it inconclusive)."""

import json
import math

import numpy as np
import pytest

from verify.checks import (
    SPREAD_CEILING,
    Check,
    Control,
    Verdict,
    check_at_least,
    check_at_most,
    controls_check,
    evaluate_controls,
    inconclusive,
    replica_tolerance,
    worst_control,
)


def test_an_upper_bound_fails_above_its_tolerance_with_margin_above_one():
    c = check_at_most("err", "sampling", 2.0, 1.0, "basis")
    assert c.status == "failed" and c.sense == "<=" and c.margin == 2.0


def test_an_upper_bound_passes_below_its_tolerance_with_margin_below_one():
    c = check_at_most("err", "sampling", 0.5, 1.0, "basis")
    assert c.passed and c.margin == 0.5


def test_a_lower_bound_fails_below_its_tolerance_and_its_margin_is_tolerance_over_observed():
    c = check_at_least("effect", "erratum", 0.5, 2.0, "basis")
    assert c.status == "failed" and c.sense == ">=" and c.margin == 4.0
    ok = check_at_least("effect", "erratum", 1e10, 2.0, "basis")
    assert ok.passed and ok.margin == pytest.approx(2e-10)  # a strong pass has a small margin


@pytest.mark.parametrize("make", [check_at_most, check_at_least])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_observation_fails_either_sense(make, bad):
    c = make("x", "exact", bad, 1.0, "basis")
    assert c.status == "failed" and c.margin == math.inf


def test_zero_tolerance_upper_bound_passes_only_at_zero():
    assert check_at_most("count", "exact", 0, 0, "b").margin == 0.0
    c = check_at_most("count", "exact", 1, 0, "b")
    assert c.status == "failed" and c.margin == math.inf


def test_a_lower_bound_on_a_non_positive_observation_fails_with_infinite_margin():
    c = check_at_least("effect", "erratum", -3.0, 1.0, "b")
    assert c.status == "failed" and c.margin == math.inf


def test_a_spread_tolerance_above_its_ceiling_is_inconclusive_not_passed():
    # issue 8 item 1: observed 86 against a spread-derived tolerance of 188 "passed"
    c = check_at_most(
        "vanish",
        "sampling",
        86.0,
        188.0,
        "spread",
        ceiling=SPREAD_CEILING,
        ceiling_basis="replicas disagree",
    )
    assert c.status == "inconclusive" and not c.passed
    assert "ceiling" in c.reason and "replicas disagree" in c.reason
    below = check_at_most("vanish", "sampling", 0.01, 0.02, "spread", ceiling=SPREAD_CEILING)
    assert below.passed


def test_a_failing_check_above_the_ceiling_is_inconclusive_too():
    c = check_at_most("x", "sampling", 500.0, 188.0, "spread", ceiling=SPREAD_CEILING)
    assert c.status == "inconclusive" and "would have failed" in c.reason


def test_inconclusive_needs_a_reason_and_bad_sense_or_status_is_refused():
    with pytest.raises(ValueError, match="reason"):
        inconclusive("x", "sampling", 1.0, 1.0, "b", "")
    with pytest.raises(ValueError, match="sense"):
        Check("x", "k", 1.0, 1.0, "b", "passed", sense="<")
    with pytest.raises(ValueError, match="status"):
        Check("x", "k", 1.0, 1.0, "b", "skipped")


def test_replica_tolerance_is_k_standard_errors_of_the_mean():
    E = np.array([[1.0], [3.0]])  # sd = sqrt(2), se = 1
    assert replica_tolerance(E, 2.0, k=5) == pytest.approx(2.5)
    with pytest.raises(ValueError, match="2 replicas"):
        replica_tolerance(E[:1], 1.0)


def _verdict(*statuses):
    return Verdict(
        "t",
        {},
        {},
        [
            Check(f"c{i}", "k", 0.0, 1.0, "b", st, "why" if st != "passed" else "")
            for i, st in enumerate(statuses)
        ],
    )


def test_verdict_status_failed_beats_inconclusive_beats_passed():
    assert _verdict("passed", "passed").status == "passed" and _verdict("passed").passed
    v = _verdict("passed", "inconclusive")
    assert v.status == "inconclusive" and not v.passed and "c1" in v.status_reason
    assert _verdict("inconclusive", "failed").status == "failed"
    assert Verdict("t", {}, {}).status == "failed"  # no evidence is no pass


def test_inconclusive_verdict_says_so_in_text_markdown_and_json():
    v = _verdict("passed", "inconclusive")
    v.resolution, v.resolution_basis = 0.0123, "from tolerances"
    txt = v.to_text()
    assert "verdict: INCONCLUSIVE" in txt and "because: c1: inconclusive (why)" in txt
    assert "resolution: 0.0123" in txt
    assert "**Verdict: inconclusive**" in v.to_markdown()
    d = json.loads(v.to_json())
    assert d["verdict"] == "inconclusive" and d["resolution"] == 0.0123
    assert {"sense", "margin", "status"} <= set(d["checks"][0])


def _checker(C, ev, s):
    """Two checks: 'strict' compares with the truth 0 at tolerance 1; 'loose' never fails a
    control but the truth fails it (tolerance below the truth's observation)."""
    return [
        check_at_most("strict", "sampling", abs(C), 1.0, "b"),
        check_at_most("broken", "sampling", abs(C - ev), 0.5 if C != 0 else -1, "b"),
    ]


def test_a_control_is_rejected_only_by_a_check_the_truth_passes():
    truth = _checker(0.0, 5.0, None)
    assert [c.status for c in truth] == ["passed", "failed"]
    rows = evaluate_controls(
        [Control("near", 0.5), Control("far", 3.0)], 5.0, None, _checker, truth_checks=truth
    )
    near, far = rows
    # 'near' fails 'broken' (|0.5 - 5| > 0.5) but the truth fails that check too: not a rejection
    assert not near["rejected"] and near["rejected_by"] is None and near["margin"] == 0.5
    assert far["rejected"] and far["rejected_by"] == "strict" and far["margin"] == 3.0
    assert [c["eligible"] for c in near["checks"]] == [True, False]
    chk = controls_check(rows)
    assert chk.status == "failed" and "near" in chk.reason
    assert worst_control(rows)["name"] == "near"


def test_without_any_check_the_truth_passes_no_control_is_rejected():
    truth = [check_at_most("strict", "sampling", 2.0, 1.0, "b")]
    rows = evaluate_controls(
        [Control("far", 3.0)],
        0.0,
        None,
        lambda C, ev, s: [check_at_most("strict", "sampling", C, 1.0, "b")],
        truth_checks=truth,
    )
    assert not rows[0]["rejected"] and "no check" in rows[0]["reason"]


def test_worst_control_is_the_rejected_one_closest_to_acceptance():
    rows = evaluate_controls(
        [Control("a", 3.0), Control("b", 1.5), Control("c", 10.0)],
        0.0,
        None,
        lambda C, ev, s: [check_at_most("strict", "sampling", C, 1.0, "b")],
        truth_checks=[check_at_most("strict", "sampling", 0.0, 1.0, "b")],
    )
    assert all(r["rejected"] for r in rows)
    assert worst_control(rows)["name"] == "b"
    chk = controls_check(rows)
    assert chk.passed and "'b'" in chk.reason


def test_discrimination_is_inconclusive_when_no_check_the_truth_passes_could_judge():
    truth = [check_at_most("strict", "sampling", 2.0, 1.0, "b")]  # the truth fails its only check
    rows = evaluate_controls(
        [Control("far", 3.0)],
        0.0,
        None,
        lambda C, ev, s: [check_at_most("strict", "sampling", C, 1.0, "b")],
        truth_checks=truth,
    )
    chk = controls_check(rows)
    assert chk.status == "inconclusive" and "could judge" in chk.reason


def test_a_control_within_the_resolution_is_not_required_but_a_farther_one_is():
    from verify.checks import mark_within_resolution

    rows = evaluate_controls(
        [Control("tiny", 0.5), Control("far", 0.9)],
        0.0,
        None,
        lambda C, ev, s: [check_at_most("strict", "sampling", C, 1.0, "b")],
        truth_checks=[check_at_most("strict", "sampling", 0.0, 1.0, "b")],
    )
    mark_within_resolution(rows, [1e-4, 0.05], resolution=1e-3)
    assert not rows[0]["required"] and "within the run's resolution" in rows[0]["reason"]
    assert rows[1]["required"]
    chk = controls_check(rows)  # 'far' deviates beyond the resolution and was accepted: a failure
    assert chk.status == "failed" and "far" in chk.reason and "tiny" not in chk.reason
    assert controls_check(rows[:1]).passed
