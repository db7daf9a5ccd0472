"""Lemma 1: family (8) runs preconditioned gradient descent on R(w) (paper, Lemma 1, eq. 8)."""

import numpy as np
import pytest

from theory.lemma1 import check_last_row_recursion, check_lemma1_symbolic, derive_lemma1

# --- theory ---

EPS = np.finfo(float).eps


SIZES = [(2, 2, 1), (2, 2, 2), (2, 3, 1), pytest.param(3, 2, 2, marks=pytest.mark.slow)]


@pytest.mark.parametrize("d, n, L", SIZES)
def test_printed_recursion_holds_for_symmetric_preconditioners(d, n, L):
    check = check_lemma1_symbolic(d, n, L, symmetric=True)
    assert check.printed_holds and check.transposed_holds
    assert check.columns_checked == n + 1


@pytest.mark.parametrize("d, n, L", SIZES)
def test_printed_recursion_fails_for_general_preconditioners_but_transposed_holds(d, n, L):
    check = check_lemma1_symbolic(d, n, L, symmetric=False)
    assert not check.printed_holds
    assert check.transposed_holds


def test_both_readings_agree_in_one_dimension_where_every_A_is_symmetric():
    check = check_lemma1_symbolic(1, 3, 3, symmetric=False)
    assert check.printed_holds and check.transposed_holds


@pytest.mark.parametrize("symmetric", [True, False])
def test_lemma1_with_linear_labels_matches_free_labels(symmetric):
    free = check_lemma1_symbolic(2, 2, 2, symmetric, labels="free")
    linear = check_lemma1_symbolic(2, 2, 2, symmetric, labels="linear")
    assert (free.printed_holds, free.transposed_holds) == (
        linear.printed_holds,
        linear.transposed_holds,
    )


def test_one_layer_updates_the_last_row_by_a_gradient_step_with_A_transposed():
    assert check_last_row_recursion(2, 3)


def test_lemma1_derivation_records_every_step_as_holding():
    derivation = derive_lemma1()
    assert derivation.all_hold
    assert any("fails" in step.title for step in derivation.steps)


def test_float_forward_pass_follows_transposed_recursion_not_printed_one():
    """Independent float check: numpy forward pass of family (8) vs both GD readings."""
    rng = np.random.default_rng(0)
    d, n, L = 3, 5, 3
    X, x_q = rng.standard_normal((d, n)), rng.standard_normal(d)
    y = rng.standard_normal(n)
    A = [rng.standard_normal((d, d)) for _ in range(L)]
    Z = np.vstack([np.hstack([X, x_q[:, None]]), np.append(y, 0.0)[None, :]])  # (d+1, n+1)
    M = np.diag(np.append(np.ones(n), 0.0))
    w_t, w_p = np.zeros(d), np.zeros(d)
    for A_l in A:
        P = np.zeros((d + 1, d + 1))
        P[d, d] = 1.0
        Q = np.zeros((d + 1, d + 1))
        Q[:d, :d] = -A_l
        Z = Z + P @ Z @ M @ (Z.T @ Q @ Z) / n
        w_t = w_t - A_l.T @ (X @ (X.T @ w_t - y) / n)
        w_p = w_p - A_l @ (X @ (X.T @ w_p - y) / n)
    scale = max(1.0, float(np.max(np.abs(Z))))
    # basis: three layers of O(d n) products, rounding grows like a few hundred eps * scale
    tol = 1e3 * EPS * scale
    assert abs(Z[d, n] + x_q @ w_t) <= tol
    assert abs(Z[d, n] + x_q @ w_p) > 1e6 * tol


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(d=0, n=2, L=1, symmetric=True),
        dict(d=2, n=2, L=1, symmetric=True, labels="noisy"),
        dict(d=2, n=1.5, L=1, symmetric=True),
    ],
)
def test_lemma1_check_refuses_invalid_sizes(kwargs):
    with pytest.raises(ValueError, match="requires"):
        check_lemma1_symbolic(**kwargs)


# --- verification: the NumPy model -------------------------------------------------------

from verify import verify_theorem  # noqa: E402


@pytest.mark.parametrize("seed", [0, 5])
def test_lemma1_verdict_passes_and_reports_the_transpose_erratum(seed):
    v = verify_theorem("lemma1", seed=seed, controls=True)
    assert v.passed
    assert any(c.kind == "erratum" and c.passed for c in v.checks)
    assert all(c["rejected"] for c in v.controls)


def test_the_official_codes_score_is_eq3_with_Q_transposed():
    from theory.lemma1 import check_code_is_eq3_transposed

    assert check_code_is_eq3_transposed(2, 2)


def test_in_the_codes_convention_the_printed_recursion_holds_for_every_A():
    """Issue 8 item 5: the erratum depends on the convention; in the code's it disappears."""
    code = check_lemma1_symbolic(2, 2, 2, symmetric=False, convention="code")
    assert code.printed_holds and not code.transposed_holds  # the A_l^T reading now fails
    assert check_lemma1_symbolic(2, 2, 2, symmetric=True, convention="code").printed_holds


def test_code_forward_equals_the_model_with_each_A_transposed_and_differs_without():
    """The code's convention (scores z_query^T Q z_key) is eq. (3) with the Q block transposed."""
    from verify.claims.lemma1 import code_forward, gd_iterates, lemma_error
    from verify.sampling import sample_prompts

    rng = np.random.default_rng(1)
    prompts = sample_prompts(16, 6, np.eye(3), rng)
    A = [rng.standard_normal((3, 3)) / 4 for _ in range(3)]
    # basis: three layers of length-(n+d+1) sums, round-off relative to max |Z|
    tol = 8 * (6 + 3 + 1) * 3 * EPS
    assert lemma_error(prompts, A, gd_iterates(prompts, A), "code") <= tol
    assert lemma_error(prompts, [a.T for a in A], gd_iterates(prompts, A), "eq3") <= tol
    assert lemma_error(prompts, A, gd_iterates(prompts, A), "eq3") > 1e6 * tol
    assert len(code_forward(prompts, A)) == 4


def test_lemma1_verdict_and_erratum_state_both_conventions_with_the_runs_numbers():
    import re

    from verify import verify_theorem
    from verify.claims import CLAIMS
    from verify.claims.lemma1 import CODE_PRINTED

    v = verify_theorem("lemma1", d=3, n=5)
    assert v.passed
    (erratum,) = CLAIMS["lemma1"].errata_for(v)
    for text in (erratum.computed, v.notes[-1]):
        assert "Eq. (3) read literally" in text and "official code's convention" in text
        numbers = [float(x) for x in re.findall(r"residual (\d\.\de-\d+)", text)]
        assert len(numbers) == 3 and all(x < 1e-12 for x in numbers)
    code = next(c for c in v.checks if c.id == CODE_PRINTED.id)
    assert f"{code.observed:.1e}" in erratum.computed
