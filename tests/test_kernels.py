"""The BLAS-shaped kernel equals the reference transformer (verify.model) to round-off.

Tolerance basis: both compute the same polynomial of the prompts in float64, in a different
association order; for L <= 3 layers at these sizes the relative differences are a few eps
times the growth of the entries, so 1e-11 relative to the largest gradient entry (about 5e4
eps) is a wide margin that a wrong term (a transposed block, a missing 1/n, a dropped residual
branch) exceeds by many orders of magnitude, as the control below shows.
"""

import numpy as np
import pytest

from verify import model
from verify.families import GD, GDPlusPlus, Unconstrained
from verify.sampling import make_sigma, sample_prompts
from verify.training import kernels
from verify.training.adam import Objective, batch_objective
from verify.training.multilayer import Summaries

RTOL = 1e-11

# The compiled backend is built per (D, L) (seconds to tens of CPU-seconds the first time on a
# machine, then cached on disk), so its tests use D = 6: the paper's d = 5, and d = 4 (padded).
needs_numba = pytest.mark.skipif(not kernels.jit_available(), reason="numba is not installed")
BACKENDS = ["numpy", pytest.param("jit", marks=needs_numba)]
# The compiled backend is compiled per (D, L) (about 4, 15, 33 CPU-s for L = 1, 2, 3): it is
# tested at L = 1 (no hidden layer) and L = 3 (every code path of L = 2 -- a hidden layer's
# forward and reverse pass -- plus the carry between hidden layers); the numpy backend at 1, 2, 3.
BACKEND_DEPTHS = [("numpy", 1), ("numpy", 2), ("numpy", 3)] + [
    pytest.param("jit", L, marks=needs_numba) for L in (1, 3)
]


def _rel(a, b) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def _setting(seed, d=3, n=7, B=700):
    rng = np.random.default_rng(seed)
    sigma = make_sigma(np.linspace(0.3, 1.5, d), rng)
    return rng, sample_prompts(B, n, sigma, rng)


@pytest.mark.parametrize("backend, L", BACKEND_DEPTHS)
def test_kernel_loss_and_every_gradient_equal_the_reference_model(L, backend):
    rng, prompts = _setting(L, d=5, n=20)
    D = prompts.d + 1
    params = [
        (0.4 * rng.standard_normal((D, D)), 0.4 * rng.standard_normal((D, D))) for _ in range(L)
    ]
    f0, g0 = model.loss_and_grad(params, prompts)
    # 700 prompts = 5 full blocks of 128 + a partial one (numpy), 5 of 128 + a padded one (jit)
    f1, g1 = kernels.loss_and_grad(
        params, prompts, chunk=128 if backend == "numpy" else None, backend=backend
    )
    assert abs(f1 - f0) <= RTOL * f0
    for (dP0, dQ0), (dP1, dQ1) in zip(g0, g1):
        assert _rel(dP1, dP0) < RTOL and _rel(dQ1, dQ0) < RTOL


@pytest.mark.parametrize("backend, L", BACKEND_DEPTHS)
@pytest.mark.parametrize(
    "make", [Unconstrained, GD, GDPlusPlus], ids=["unconstrained", "family8", "family11"]
)
def test_kernel_objective_equals_the_reference_objective_for_each_family(make, L, backend):
    rng, prompts = _setting(10 + L, d=5, n=20, B=300)
    fam = make(prompts.d, L)
    theta = 0.3 * rng.standard_normal(fam.size)
    f0, g0 = Objective(fam, prompts)(theta)
    f1, g1 = kernels.KernelObjective(fam, prompts, backend=backend)(theta)
    assert abs(f1 - f0) <= RTOL * f0
    assert _rel(g1, g0) < RTOL


def test_the_comparison_rejects_the_official_codes_transposed_q_block():
    """Control: the official code scores z_q^T Q z_key (Q's transpose, docs/conventions.md); fed
    that convention, the kernel must disagree with the reference far beyond RTOL."""
    rng, prompts = _setting(7, d=5, n=20)
    D = prompts.d + 1
    params = [
        (0.4 * rng.standard_normal((D, D)), 0.4 * rng.standard_normal((D, D))) for _ in range(2)
    ]
    f0, g0 = model.loss_and_grad(params, prompts)
    f1, g1 = kernels.loss_and_grad([(P, Q.T) for P, Q in params], prompts)
    assert abs(f1 - f0) > 1e3 * RTOL * f0 or _rel(g1[0][1], g0[0][1]) > 1e3 * RTOL


def test_bad_shapes_and_block_sizes_are_refused_with_what_was_required():
    _, prompts = _setting(1, B=10)
    with pytest.raises(ValueError, match=r"must be \(4, 4\)"):
        kernels.loss_and_grad([(np.eye(3), np.eye(3))], prompts)
    with pytest.raises(ValueError, match="at least one layer"):
        kernels.loss_and_grad([], prompts)
    with pytest.raises(ValueError, match="chunk must be a positive"):
        kernels.loss_and_grad([(np.eye(4), np.eye(4))], prompts, chunk=0)
    with pytest.raises(ValueError, match="backend must be"):
        kernels.loss_and_grad([(np.eye(4), np.eye(4))], prompts, backend="gpu")


def test_auto_backend_depends_on_the_batch_size_and_depth_only():
    assert kernels.choose_backend("auto", kernels.JIT_MIN_BATCH - 1) == "numpy"
    big = kernels.choose_backend("auto", kernels.JIT_MIN_BATCH)
    assert big == ("jit" if kernels.jit_available() else "numpy")
    deep = kernels.JIT_MAX_LAYERS + 1  # the compiled backend unrolls at most JIT_MAX_LAYERS
    assert kernels.choose_backend("auto", kernels.JIT_MIN_BATCH, deep) == "numpy"
    with pytest.raises(ValueError, match=f"at most {kernels.JIT_MAX_LAYERS} layers; got {deep}"):
        kernels.choose_backend("jit", 10, deep)


@needs_numba
def test_the_depth_limit_is_the_compiled_kernels():
    from verify.training import kernels_jit

    assert kernels.JIT_MAX_LAYERS == kernels_jit.MAX_LAYERS
    with pytest.raises(ValueError, match="1 to"):
        kernels_jit.compiled(6, kernels_jit.MAX_LAYERS + 1)


@needs_numba
def test_compiled_layout_is_padded_and_aligned():
    """D = 5 is padded to 6 (a zero first row and column, kernels_jit.layout; its values are a
    contract of tests/test_conformance.py); every block starts on a cache line."""
    _, prompts = _setting(3, d=4, n=5, B=37)
    from verify.training import kernels_jit

    blocks = kernels_jit.layout(prompts)
    assert blocks[0].shape[1] == 6
    # every block array starts on a 64-byte cache line (a misaligned start ran 1.33x slower)
    assert all(X.ctypes.data % 64 == 0 and X.flags.c_contiguous for X in blocks)
    with pytest.raises(ValueError, match="even D"):
        kernels_jit.compiled(5, 3)


@pytest.mark.parametrize(
    "make", [Unconstrained, GD, GDPlusPlus], ids=["unconstrained", "family8", "family11"]
)
def test_train_adams_minibatch_objective_is_the_reference_objective(make):
    """train_adam evaluates each minibatch through batch_objective (kernel or summaries)."""
    rng, prompts = _setting(21, d=5, n=20, B=300)
    fam = make(prompts.d, 2)
    theta = 0.3 * rng.standard_normal(fam.size)
    f0, g0 = Objective(fam, prompts)(theta)
    f1, g1 = batch_objective(fam, prompts)(theta)
    assert abs(f1 - f0) <= RTOL * f0 and _rel(g1, g0) < RTOL


@needs_numba
def test_family8_minibatches_go_through_the_compiled_kernel_when_it_is_chosen():
    """batch_objective: family (8) through its summaries on small batches, through the compiled
    kernel (the faster route) where the auto backend picks it; same loss either way."""
    from verify.training.multilayer import FamilyObjective

    rng, prompts = _setting(8, d=5, n=6, B=kernels.JIT_MIN_BATCH)
    fam = GD(5, 3)  # L = 3: compiled for the tests above already
    theta = 0.3 * rng.standard_normal(fam.size)
    big = batch_objective(fam, prompts)
    assert isinstance(big, kernels.KernelObjective) and big.backend == "jit"
    small = batch_objective(fam, prompts.subset(slice(0, 100)))
    assert isinstance(small, FamilyObjective)
    ref = FamilyObjective(fam.family, 3, Summaries.from_prompts(prompts))(theta)[0]
    assert abs(big(theta)[0] - ref) <= RTOL * ref
