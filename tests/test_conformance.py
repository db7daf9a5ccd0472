"""One conformance harness for every evaluator of the transformer's loss (issue 20).

Every evaluator registers below (:data:`EVALUATORS`) with a builder that returns a
:class:`Case`: a batch of prompts, the evaluator as ``(prompts, **knobs) -> (loss, gradient)``
and the reference, :mod:`verify.model` (whose own gradient is checked against finite differences
here and against mpmath in ``tests/test_model.py``).  Each evaluator must pass every contract:

* **loss** and **gradient** equal the reference's on the same batch;
* **chunking**: the loss and gradient of a batch are the prompt-weighted means of its parts
  (every evaluator), and the evaluator's own block size changes nothing but round-off;
* **workers**: the result does not depend on the number of threads, bit for bit (fixed blocks,
  fixed summation order);
* **padding**: a size the evaluator pads (an odd d + 1, a batch that does not fill its blocks)
  gives the unpadded values.

A contract an evaluator has no knob for is skipped with the reason.  Tolerances: the evaluators
compute the same sums in another association, so they agree to round-off: RTOL = 1e-11 relative
(measured worst 4e-13 at these sizes); the sample-moment evaluator (one layer, all (P, Q))
forms a quadratic form of moments, cancelling terms of size |theta|^2 ||T||, hence 1e-9.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

from verify import model
from verify.families import FAMILY8, FAMILY11, GD, Unconstrained
from verify.model import RELU, Prompts
from verify.sampling import make_sigma, prompts_from_tasks, sample_prompts
from verify.training import integrated, kernels
from verify.training.multilayer import FamilyObjective, Summaries
from verify.training.one_layer import OneLayerStats, relu_residuals

RTOL = 1e-11


@dataclass
class Case:
    """A batch, the evaluator on it (with optional knobs) and the reference on it."""

    prompts: Prompts
    evaluate: Callable  # (prompts, **knobs) -> (loss, gradient as one flat array)
    reference: Callable  # prompts -> (loss, gradient as one flat array)
    rtol: float = RTOL
    knobs: list = field(default_factory=list)  # settings of the evaluator's block size
    workers: bool = False  # the evaluator takes a ``workers`` knob
    split: Callable | None = None  # prompts -> parts whose weighted means give the whole


def _batch(seed, d=5, n=20, B=300, noise=0.0):
    rng = np.random.default_rng(seed)
    sigma = make_sigma(np.linspace(0.3, 1.5, d), rng)
    return rng, sample_prompts(B, n, sigma, rng, noise=noise)


def _flat(grads) -> np.ndarray:
    return np.concatenate([np.concatenate([dP.ravel(), dQ.ravel()]) for dP, dQ in grads])


def _model_params(fam, theta, act=model.IDENTITY):
    """Reference of a parametrised evaluator: the model's loss, gradient pulled back to theta."""

    def ref(prompts):
        f, grads = model.loss_and_grad(fam.unpack(theta), prompts, act)
        return f, fam.pullback(grads)

    return ref


def _kernel(backend, d=5, L=3, B=700, seed=1):
    """The layer kernel (numpy or compiled) on every entry of every (P_l, Q_l)."""
    rng, prompts = _batch(seed, d=d, B=B)
    D = d + 1
    params = [
        (0.4 * rng.standard_normal((D, D)), 0.4 * rng.standard_normal((D, D))) for _ in range(L)
    ]

    def evaluate(p, **knobs):
        f, g = kernels.loss_and_grad(params, p, backend=backend, **knobs)
        return f, _flat(g)

    def reference(p):
        f, g = model.loss_and_grad(params, p)
        return f, _flat(g)

    return Case(
        prompts,
        evaluate,
        reference,
        knobs=[{"chunk": 100}, {"chunk": 256}] if backend == "numpy" else [{"chunk": 64}],
        workers=True,
    )


def _model_case():
    """The reference itself: its loss from the prediction, its gradient by central differences."""
    rng, prompts = _batch(2, d=3, n=6, B=50)
    fam = Unconstrained(3, 2)
    theta = 0.4 * rng.standard_normal(fam.size)
    direction = rng.standard_normal(fam.size)
    h = 1e-5  # central difference: error h^2 |f'''| + eps |f| / h, about 1e-10 relative here

    def evaluate(p):
        f, grads = model.loss_and_grad(fam.unpack(theta), p)
        return f, np.array([fam.pullback(grads) @ direction])

    def reference(p):
        f = lambda t: float(np.mean((model.predict(fam.unpack(t), p) - p.target) ** 2))  # noqa: E731
        return f(theta), np.array([(f(theta + h * direction) - f(theta - h * direction)) / (2 * h)])

    return Case(prompts, evaluate, reference, rtol=1e-8)


def _summaries(family, L):
    """Families (8), (11) at depth L through per-prompt summaries (training/multilayer.py)."""

    def build():
        rng, prompts = _batch(3, d=3, n=6, B=120, noise=0.3)
        fam = family.params(3, L)
        theta = 0.5 * rng.standard_normal(fam.size)

        def evaluate(p):
            return FamilyObjective(family, L, Summaries.from_prompts(p))(theta)

        return Case(prompts, evaluate, _model_params(fam, theta), rtol=1e-9)

    return build


def _one_layer_moments():
    """One layer, every entry of (P, Q) the loss sees, through sample moments (one_layer.py)."""
    rng, prompts = _batch(4, d=3, n=8, B=500)
    theta = 0.4 * rng.standard_normal(4 + 4 * 3)
    P, Q = OneLayerStats.to_PQ(theta, 3)

    def evaluate(p, chunk=20000):
        return OneLayerStats.from_prompts(p, chunk=chunk).loss_and_grad(theta)

    def reference(p):
        f, ((dP, dQ),) = model.loss_and_grad([(P, Q)], p)
        return f, np.concatenate([dP[-1], dQ[:, :3].ravel()])

    return Case(prompts, evaluate, reference, rtol=1e-9, knobs=[{"chunk": 128}])


def _relu_layer():
    """The ReLU layer of Theorem 5 through its residuals and Jacobian (one_layer.py)."""
    rng, prompts = _batch(5, d=3, n=6, B=300)
    theta = 0.5 * rng.standard_normal(4 + 9)
    P, Q = np.zeros((4, 4)), np.zeros((4, 4))
    P[-1], Q[:3, :3] = theta[:4], theta[4:].reshape(3, 3)

    def evaluate(p):
        r, J = relu_residuals(theta, p)
        return float(r @ r / len(r)), 2 * J.T @ r / len(r)

    def reference(p):
        f, ((dP, dQ),) = model.loss_and_grad([(P, Q)], p, RELU)
        return f, np.concatenate([dP[-1], dQ[:3, :3].ravel()])

    return Case(prompts, evaluate, reference, rtol=1e-9)


def _sigma_points(C: np.ndarray) -> np.ndarray:
    """2m points with the mean and covariance of N(0, C) (m x m): their average of any
    polynomial of degree <= 3 is its Gaussian expectation, exactly."""
    m = C.shape[0]
    R = np.linalg.cholesky(C) * np.sqrt(m)
    return np.concatenate([R.T, -R.T])


def _integrated():
    """Family (8), one layer, query, task and noise integrated (training/integrated.py).

    Its loss l(A | X) is exact in the query, the task and the noise; the model's squared error
    is a quadratic in the query times a quadratic in (task, noise), so its average over the
    product of their sigma-point sets is the same expectation, exactly.  Each context of the
    batch is one such grid of prompts, so the batch is split by contexts."""
    rng = np.random.default_rng(6)
    d, n, s2, contexts = 2, 3, 0.3, 3
    sigma = make_sigma((1.0, 0.25), rng)
    omega = np.array([[1.0, 0.2], [0.2, 0.5]])
    A = np.array([[0.7, -0.2], [0.1, 1.3]])
    we = np.zeros((d + n, d + n))
    we[:d, :d], we[d:, d:] = omega, s2 * np.eye(n)
    tasks = _sigma_points(we)  # (2(d+n), d+n): (w*, eps)
    queries = _sigma_points(sigma)  # (2d, d)
    half = np.linalg.cholesky(sigma)
    parts, Xs = [], []
    for _ in range(contexts):
        X1 = rng.standard_normal((n, d)) @ half.T
        X = np.broadcast_to(X1, (len(tasks) * len(queries), n, d)).copy()
        w = np.repeat(tasks[:, :d], len(queries), axis=0)
        y = np.einsum("bid,bd->bi", X, w) + np.repeat(tasks[:, d:], len(queries), axis=0)
        Xq = np.tile(queries, (len(tasks), 1))[:, None, :]
        parts.append(prompts_from_tasks(X, y, w, Xq))
        Xs.append(X1)
    prompts = Prompts(
        np.concatenate([p.Z0 for p in parts]), np.concatenate([p.target for p in parts])
    )
    per = len(tasks) * len(queries)

    def contexts_of(p):
        return [np.asarray(p.Z0[k * per, :d, :n]).T for k in range(p.B // per)]

    def evaluate(p):
        Ss = [X.T @ X / n for X in contexts_of(p)]
        f = np.mean([integrated.conditional_loss(A, S, sigma, n, omega, s2) for S in Ss])
        g = np.mean([integrated.conditional_gradient(A, S, sigma, n, omega, s2) for S in Ss], 0)
        return float(f), g.ravel()

    split = lambda p: [p.subset(slice(0, per)), p.subset(slice(per, p.B))]  # noqa: E731
    return Case(prompts, evaluate, _model_params(GD(d, 1), A.ravel()), rtol=1e-9, split=split)


needs_numba = pytest.mark.skipif(not kernels.jit_available(), reason="numba is not installed")

#: The registry: every evaluator of the loss (module: what it evaluates).  The compiled kernel is
#: built per (D, L) (tens of CPU-seconds the first time on a machine, then cached on disk), so it
#: runs at D = 6 and L = 3, the sizes tests/test_kernels.py compiles.
EVALUATORS = {
    "model": _model_case,
    "kernels (numpy)": lambda: _kernel("numpy"),
    "kernels_jit": pytest.param(lambda: _kernel("jit"), marks=needs_numba),
    "multilayer family (8)": _summaries(FAMILY8, 3),
    "multilayer family (11)": _summaries(FAMILY11, 3),
    "one_layer moments": _one_layer_moments,
    "one_layer relu": _relu_layer,
    "integrated": _integrated,
}

#: Odd sizes the layout pads: d + 1 = 5 (padded to 6 by the compiled kernel) and a batch of 37
#: prompts (a partial block; three micro-blocks of the compiled one, the rest padding).
PADDED = {
    "kernels (numpy)": lambda: _kernel("numpy", d=4, B=37, seed=3),
    "kernels_jit": lambda: _kernel("jit", d=4, B=37, seed=3),
}


def _params():
    return [
        pytest.param(v.values[0], id=k, marks=v.marks)
        if isinstance(v, type(pytest.param(0)))
        else pytest.param(v, id=k)
        for k, v in EVALUATORS.items()
    ]


def _close(a, b, rtol):
    a, b = np.atleast_1d(np.asarray(a, float)), np.atleast_1d(np.asarray(b, float))
    return float(np.max(np.abs(a - b))) <= rtol * max(float(np.max(np.abs(b))), 1e-300)


@pytest.mark.parametrize("build", _params())
@pytest.mark.parametrize("contract", ["loss", "gradient", "chunking", "workers", "padding"])
def test_every_evaluator_conforms(build, contract, request):
    name = request.node.callspec.id.split("-", 1)[1]
    case = build()
    p = case.prompts
    if contract in ("loss", "gradient"):
        got, ref = case.evaluate(p), case.reference(p)
        k = 0 if contract == "loss" else 1
        assert _close(got[k], ref[k], case.rtol), (name, contract)
    elif contract == "chunking":
        parts = (
            case.split(p)
            if case.split
            else [p.subset(slice(0, p.B // 3)), p.subset(slice(p.B // 3, p.B))]
        )
        whole = case.evaluate(p)
        sizes = np.array([q.B for q in parts], float)
        each = [case.evaluate(q) for q in parts]
        assert _close(whole[0], sizes @ [e[0] for e in each] / p.B, case.rtol)
        assert _close(whole[1], sizes @ np.array([e[1] for e in each]) / p.B, case.rtol)
        for knobs in case.knobs:
            other = case.evaluate(p, **knobs)
            assert _close(other[0], whole[0], case.rtol) and _close(other[1], whole[1], case.rtol)
    elif contract == "workers":
        if not case.workers:
            pytest.skip(f"{name} runs on one thread: no workers knob")
        one, two = case.evaluate(p, workers=1), case.evaluate(p, workers=2)
        assert one[0] == two[0] and np.array_equal(one[1], two[1])
    else:
        if name not in PADDED:
            pytest.skip(f"{name} has no block layout: nothing is padded")
        padded = PADDED[name]()
        got, ref = padded.evaluate(padded.prompts, workers=1), padded.reference(padded.prompts)
        assert _close(got[0], ref[0], padded.rtol) and _close(got[1], ref[1], padded.rtol)
