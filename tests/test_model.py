"""The NumPy transformer: its gradient, its read-out shortcut, and the fast trainers' losses."""

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verify.claims.lemma1 import gd_iterates, lemma_error, random_preconditioners
from verify.families import GD, GDPlusPlus, Unconstrained
from verify.model import IDENTITY, RELU, forward, loss_and_grad, predict
from verify.sampling import make_sigma, prompts_from_tasks, sample_prompts, sample_tasks
from verify.training.one_layer import fit_gd_layer, gd_features

EPS = np.finfo(float).eps


def _mp_loss(params, prompts, relu: bool, dps: int = 40):
    """Independent loss in mpmath: the literal eq. (3)-(4) with explicit loops over prompts."""
    with mpmath.workdps(dps):
        total = mpmath.mpf(0)
        n = prompts.n
        M = mpmath.diag([1] * n + [0])
        for b in range(prompts.B):
            Z = mpmath.matrix(prompts.Z0[b].tolist())
            for P, Q in params:
                P, Q = mpmath.matrix(P.tolist()), mpmath.matrix(Q.tolist())
                S = Z.T * Q * Z
                if relu:
                    S = S.apply(lambda v: v if v > 0 else mpmath.mpf(0))
                Z = Z + P * Z * M * S / n
            total += (Z[Z.rows - 1, Z.cols - 1] + mpmath.mpf(prompts.target[b])) ** 2
        return total / prompts.B


@pytest.mark.parametrize("act", [IDENTITY, RELU], ids=["linear", "relu"])
@pytest.mark.parametrize("L", [1, 2, 3])
def test_hand_written_gradient_matches_high_precision_finite_differences(act, L):
    rng = np.random.default_rng(10 + L)
    d, n = 2, 3
    prompts = sample_prompts(3, n, make_sigma([1.0, 0.5], rng), rng)
    params = [
        (0.6 * rng.standard_normal((d + 1, d + 1)), 0.6 * rng.standard_normal((d + 1, d + 1)))
        for _ in range(L)
    ]
    _, grads = loss_and_grad(params, prompts, act)
    h = mpmath.mpf("1e-12")
    worst = 0.0
    for l in range(L):
        for which in (0, 1):
            for i in range(d + 1):
                for j in range(d + 1):
                    with mpmath.workdps(40):
                        base = mpmath.mpf(params[l][which][i, j])
                        f = lambda t: _mp_loss(
                            _with(params, l, which, i, j, t), prompts, act is RELU
                        )
                        num = (f(base + h) - f(base - h)) / (2 * h)
                    worst = max(
                        worst, abs(float(num) - grads[l][which][i, j]) / max(1.0, abs(float(num)))
                    )
    # float64 reverse mode vs a 40-digit central difference (error ~h^2 ~ 1e-24): only the
    # float64 round-off of the gradient remains, ~ (n+d) L eps times the entry size.
    assert worst < 1e-10


def _with(params, l, which, i, j, t):
    """params with entry (i, j) of P_l (which=0) or Q_l (which=1) replaced by the mpf t."""
    out = []
    for k, (P, Q) in enumerate(params):
        P, Q = P.astype(object), Q.astype(object)
        if k == l:
            (P if which == 0 else Q)[i, j] = t
        out.append((_ObjArray(P), _ObjArray(Q)))
    return out


class _ObjArray:
    def __init__(self, a):
        self.a = a

    def tolist(self):
        return self.a.tolist()


@pytest.mark.parametrize("act", [IDENTITY, RELU], ids=["linear", "relu"])
def test_read_out_shortcut_equals_the_full_forward_pass(act):
    rng = np.random.default_rng(0)
    prompts = sample_prompts(50, 7, make_sigma([1.0, 2.0, 0.5], rng), rng)
    params = [(rng.standard_normal((4, 4)), rng.standard_normal((4, 4))) for _ in range(3)]
    short, _ = forward(params, prompts, act)
    full, _ = forward(params, prompts, act, full=True)
    np.testing.assert_allclose(short, full, rtol=0, atol=1e3 * EPS * np.abs(full).max())


def test_loss_never_sees_the_first_rows_of_P_nor_the_last_column_of_Q_in_one_layer():
    rng = np.random.default_rng(1)
    prompts = sample_prompts(20, 5, np.eye(3), rng)
    _, ((dP, dQ),) = loss_and_grad(
        [(rng.standard_normal((4, 4)), rng.standard_normal((4, 4)))], prompts
    )
    assert not dP[:-1].any() and not dQ[:, -1].any()  # exactly zero, no tolerance


@pytest.mark.parametrize(
    "family",
    [GD(3, 2), GDPlusPlus(3, 2), Unconstrained(3, 2, q_last_row_zero=True)],
    ids=["gd", "gdpp", "masked"],
)
def test_family_pullback_is_the_gradient_in_theta(family):
    rng = np.random.default_rng(2)
    prompts = sample_prompts(30, 6, make_sigma([1.0, 0.3, 2.0], rng), rng)
    theta = 0.3 * rng.standard_normal(family.size)
    f, grads = loss_and_grad(family.unpack(theta), prompts)
    g = family.pullback(grads)
    h = 1e-6
    num = np.array(
        [
            (
                loss_and_grad(family.unpack(theta + h * e), prompts)[0]
                - loss_and_grad(family.unpack(theta - h * e), prompts)[0]
            )
            / (2 * h)
            for e in np.eye(family.size)
        ]
    )
    # central difference error ~ h^2 |f'''| + eps |f| / h ~ 1e-9 at these magnitudes
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-7)


def test_family_8_features_reproduce_the_models_prediction_and_least_squares():
    rng = np.random.default_rng(4)
    tasks = sample_tasks(400, 6, make_sigma([1.0, 0.5], rng), rng)
    prompts = prompts_from_tasks(*tasks)
    A = rng.standard_normal((2, 2))
    pred = predict(GD(2, 1).unpack(A.ravel()), prompts)
    np.testing.assert_allclose(
        gd_features(*tasks[:2], tasks[3]) @ A.ravel(), pred, rtol=1e-12, atol=1e-12
    )
    A_hat, _ = fit_gd_layer(tasks)
    _, grads = loss_and_grad(GD(2, 1).unpack(A_hat.ravel()), prompts)
    assert np.abs(GD(2, 1).pullback(grads)).max() < 1e-10  # the exact minimiser is stationary


def test_prompts_follow_eq_1_and_are_reproducible():
    a = sample_prompts(10, 4, np.eye(2), np.random.default_rng(7), noise=0.5)
    b = sample_prompts(10, 4, np.eye(2), np.random.default_rng(7), noise=0.5)
    assert a.Z0.tobytes() == b.Z0.tobytes() and a.target.tobytes() == b.target.tobytes()
    assert not a.Z0[:, -1, -1].any()  # the query carries a zero label


@settings(max_examples=25, deadline=None)
@given(
    d=st.integers(1, 6),
    n=st.integers(1, 60),
    L=st.integers(1, 4),
    seed=st.integers(0, 2**31),
    symmetric=st.booleans(),
)
def test_lemma1_identity_holds_in_float64_for_random_spd_sigma(d, n, L, seed, symmetric):
    rng = np.random.default_rng(seed)
    sigma = make_sigma(np.exp(rng.uniform(-1.5, 1.5, d)), rng)
    prompts = sample_prompts(8, n, sigma, rng)
    A = random_preconditioners(d, L, rng, symmetric, sigma)
    err = lemma_error(prompts, A, gd_iterates(prompts, [a.T for a in A]))
    assert err <= 8 * (n + d + 1) * L * EPS  # forward error of L layers of length-(n+d+1) sums
