"""Exact restricted losses (theory/restricted.py) against a sampled transformer forward pass."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy

from theory.restricted import S_SYMBOL, RestrictedLoss, parameter_symbols, phi, residual_polynomial
from theory.wishart import D_SYMBOL as d_sym
from theory.wishart import N_SYMBOL as n_sym

# --- a minimal, independent forward pass (eqs. 1-4 of the paper) ------------------------


def _random_sigma(d, rng):
    U, _ = np.linalg.qr(rng.standard_normal((d, d)))
    D = np.array([1.0, 0.25, 0.5, 0.7, 1.3][:d])
    return U @ np.diag(D) @ U.T  # (d, d), non-identity, well conditioned


def _sampled_losses(family, a, b, d, n, sigma, prompts, rng):
    """Per-prompt squared errors ([Z_L]_{d+1,n+1} + <w*, x_q>)^2 of the L-layer LSA."""
    L = len(a)
    evals, evecs = np.linalg.eigh(sigma)
    sig_half = evecs @ np.diag(np.sqrt(evals)) @ evecs.T  # Sigma^{1/2}
    sig_inv = evecs @ np.diag(1 / evals) @ evecs.T  # Sigma^{-1}
    X = rng.standard_normal((prompts, n + 1, d)) @ sig_half  # (B, n+1, d), rows x ~ N(0, Sigma)
    w = rng.standard_normal((prompts, d)) @ np.linalg.inv(sig_half)  # (B, d), w* ~ N(0, Sigma^{-1})
    y = np.einsum("bid,bd->bi", X, w)  # (B, n+1)
    Z = np.concatenate(
        [X.transpose(0, 2, 1), y[:, None, :]], axis=1
    )  # (B, d+1, n+1), tokens are columns
    Z[:, d, n] = 0.0  # query label
    for l in range(L):
        P = np.zeros((d + 1, d + 1))
        Q = np.zeros((d + 1, d + 1))
        P[d, d] = 1.0
        if family == "8":
            Q[:d, :d] = -a[l] * sig_inv
        else:
            P[:d, :d] = b[l] * np.eye(d)
            Q[:d, :d] = a[l] * sig_inv
        ctx = Z[:, :, :n]  # (B, d+1, n): Z M drops the query column (mask M = diag(1..1, 0))
        ZMZt = ctx @ ctx.transpose(0, 2, 1)  # (B, d+1, d+1) = Z M Z^T
        Z = Z + (P @ ZMZt @ Q) @ Z / n  # (B, d+1, n+1): Z + (1/n) P Z M Z^T Q Z
    err = Z[:, d, n] + np.einsum("bd,bd->b", X[:, n, :], w)
    return err**2


def _check_against_sampling(family, a, b, d, n, seed, prompts=200_000):
    rng = np.random.default_rng(seed)
    sigma = _random_sigma(d, rng)
    losses = _sampled_losses(family, a, b, d, n, sigma, prompts, rng)
    mean, se = losses.mean(), losses.std(ddof=1) / math.sqrt(prompts)
    exact = float(RestrictedLoss(family, len(a), n, d).value(list(a) + list(b)))
    return exact, mean, se


# 5 standard errors of the sample mean: two-sided normal tail ~ 6e-7 per check; the
# squared errors are polynomials of Gaussians (finite variance), so the CLT applies at 2e5.
K_SE = 5


@pytest.mark.parametrize("d,n,a", [(2, 5, (0.6,)), (3, 8, (0.5, 0.9)), (4, 6, (0.3, 0.7, 0.4))])
def test_family8_phi_equals_sampled_forward_pass_loss(d, n, a):
    exact, mean, se = _check_against_sampling("8", a, (), d, n, seed=d * 100 + n)
    assert abs(mean - exact) < K_SE * se, (exact, mean, se)


@pytest.mark.parametrize(
    "d,n,a,b",
    [
        (2, 6, (-0.5,), (0.7,)),
        (3, 8, (-0.4, -0.8), (0.6, -0.3)),
        (3, 10, (-0.3, -0.5, -0.6), (0.4, 0.3, 2.0)),
    ],
)
def test_family11_phi_equals_sampled_forward_pass_loss(d, n, a, b):
    exact, mean, se = _check_against_sampling("11", a, b, d, n, seed=d * 100 + n + 1)
    assert abs(mean - exact) < K_SE * se, (exact, mean, se)


def test_sampling_check_rejects_the_population_covariance_shortcut():
    # Negative control: replacing S_hat by its mean I (phi_wrong = d p(1)^2) is a plausible
    # but wrong closed form; the same sampling check must reject it.
    d, n, a = 3, 8, (0.5, 0.9)
    exact, mean, se = _check_against_sampling("8", a, (), d, n, seed=7)
    wrong = d * (1 - a[0]) ** 2 * (1 - a[1]) ** 2
    assert abs(mean - exact) < K_SE * se
    assert abs(mean - wrong) > K_SE * se


def test_family8_residual_is_preconditioned_gd_polynomial():
    # Lemma 1 on S: w* - w_L = prod_l (I - a_l S_hat) w*.
    a, _ = parameter_symbols("8", 3)
    expected = (1 - a[0] * S_SYMBOL) * (1 - a[1] * S_SYMBOL) * (1 - a[2] * S_SYMBOL)
    assert sympy.expand(residual_polynomial("8", 3) - expected) == 0


def test_family11_with_b_zero_is_family8_with_a_negated():
    a, b = parameter_symbols("11", 3)
    p11 = residual_polynomial("11", 3).subs({bi: 0 for bi in b})
    p8 = residual_polynomial("8", 3).subs({ai: -ai for ai in a}, simultaneous=True)
    assert sympy.expand(p11 - p8) == 0


@pytest.mark.parametrize("L", [1, 2, 3])
def test_family11_loss_does_not_depend_on_last_b(L):
    _, b = parameter_symbols("11", L)
    assert b[L - 1] not in residual_polynomial("11", L).free_symbols


def test_one_layer_minimiser_is_eq7_step_size():
    # Theorem 1 / eq. 7 at Sigma = I: a = n / (n + d + 1).
    (a0,), _ = parameter_symbols("8", 1)
    sol = sympy.solve(sympy.diff(phi("8", 1), a0), a0)
    assert len(sol) == 1 and sympy.simplify(sol[0] - n_sym / (n_sym + d_sym + 1)) == 0


@pytest.mark.parametrize("family,L", [("8", 3), ("11", 2)])
def test_numeric_evaluator_matches_symbolic_phi_and_derivatives(family, L):
    n, d = 9, 4
    expr = phi(family, L, n, d)
    R = RestrictedLoss(family, L, n, d)
    rng = np.random.default_rng(3)
    t = [sympy.Rational(int(x), 64) for x in rng.integers(-60, 60, size=len(R.params))]
    at = dict(zip(R.params, t))
    with mpmath.workdps(40):
        val, grad, H = R.evaluate([mpmath.mpf(x.p) / x.q for x in t])
        # 30 digits: 40-digit arithmetic on O(10^2) terms of size O(1e4) loses < 10 digits.
        assert abs(val - expr.subs(at)) < mpmath.mpf(10) ** -30 * (1 + abs(val))
        for i, ti in enumerate(R.params):
            assert abs(grad[i] - sympy.diff(expr, ti).subs(at)) < mpmath.mpf(10) ** -30 * (
                1 + abs(val)
            )
            for j, tj in enumerate(R.params):
                assert abs(H[i][j] - sympy.diff(expr, ti, tj).subs(at)) < mpmath.mpf(10) ** -30 * (
                    1 + abs(val)
                )
    # float64 backend: relative error a few hundred eps for sums of O(10^2) terms.
    assert abs(R.value([float(x) for x in t], backend="numpy") - float(val)) < 1e-10 * (
        1 + abs(float(val))
    )


def test_bad_inputs_are_refused_with_a_message():
    with pytest.raises(ValueError, match="family must be one of"):
        phi("9", 2)
    with pytest.raises(ValueError, match="expected 2 parameters"):
        RestrictedLoss("8", 2, 10, 3).value([0.1])
