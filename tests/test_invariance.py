"""theory.invariance: the computed O(d)-invariance and coercivity steps, and evidence that fails them."""

import pytest

from theory import invariance as inv


@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_signed_permutations_have_only_multiples_of_the_identity_in_their_commutant(d):
    assert inv.commutant_dimension(d) == 1
    assert inv.orthogonal_invariance_step(d).outcome == "proved"


def test_permutations_alone_leave_a_two_dimensional_commutant_and_the_step_fails(monkeypatch):
    """Without the sign flip, I and the all-ones matrix both commute: the step must fail."""
    gens = inv._generators
    monkeypatch.setattr(inv, "_generators", lambda d: gens(d)[1:])
    assert inv.commutant_dimension(4) == 2
    assert inv.orthogonal_invariance_step(4).outcome == "failed"


def test_coercivity_holds_for_family_8_and_fails_on_a_wrong_residual(monkeypatch):
    from theory import restricted

    assert inv.coercivity_step(2, 20, 5, 0.5).outcome == "proved"
    true = restricted.residual_polynomial
    monkeypatch.setattr(
        restricted, "residual_polynomial", lambda f, L: true(f, L) + restricted.S_SYMBOL**3
    )
    assert inv.coercivity_step(2, 20, 5, 0.5).outcome == "failed"
