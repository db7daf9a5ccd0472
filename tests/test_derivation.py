"""Derivation steps are three-valued (issue 8): proved by computation, argued in text, or failed."""

import pytest
import sympy as sp

from theory.derivation import (
    ARGUED,
    FAILED,
    PROVED,
    Derivation,
    Step,
    argued_step,
    fact_step,
    identity_step,
)


def test_an_identity_step_is_proved_when_the_difference_simplifies_to_zero_and_fails_otherwise():
    x = sp.Symbol("x")
    assert identity_step("square", (x + 1) ** 2, x**2 + 2 * x + 1).outcome == PROVED
    wrong = identity_step("square, off by one", (x + 1) ** 2, x**2 + 2 * x)
    assert wrong.outcome == FAILED and not wrong.holds


def test_an_argued_step_is_not_contradicted_but_not_proved():
    st = argued_step("infimum attained", "phi coercive", "theory.critical.ATTAINMENT")
    assert st.outcome == ARGUED and st.holds and not st.proved and "not run" in st.method


def test_a_bool_outcome_reads_as_proved_or_failed_and_anything_else_is_refused():
    assert (
        Step("t", "", "m", True).outcome == PROVED and Step("t", "", "m", False).outcome == FAILED
    )
    with pytest.raises(ValueError, match="outcome must be one of"):
        Step("t", "", "m", "holds")


def test_a_failed_step_outside_the_claim_is_not_a_failure_of_the_claim():
    inside = fact_step("computed and false", "x", False, "computation")
    outside = fact_step(
        "list complete", "x", False, "multistart", outside_claim="the paper claims existence only"
    )
    der = Derivation("d", "s", (inside, outside, argued_step("a", "x", "text")))
    assert der.failures_in_claim == (inside,) and not der.all_hold
    assert der.describe() == "1 argued in text (not run), 2 failed"
