"""Theorem 2: the exact population loss of two family-(8) layers for ANY A_0, A_1 (x, w* isotropic).

Derivation.  By Lemma 1 (general reading, w_{l+1} = w_l - A_l^T grad R(w_l), checked in
:mod:`theory.lemma1`) with grad R(w) = S (w - w*), S = (1/n) X X^T = W / n the context sample
covariance (W ~ Wishart_d(n, I)):

    w* - w_2 = M w*,   M = (I - B_1 S)(I - B_0 S),   B_l = A_l^T,

and the residual [Z_2]_{d+1,n+1} + <w*, x_q> = <x_q, M w*>.  Integrating out x_q ~ N(0, I)
and w* ~ N(0, I) (independent of S) gives

    f(A_0, A_1) = E ||M||_F^2,   M = I - C S + B_1 S B_0 S,   C = B_0 + B_1,
    f = d - 2 tr C + tr(C E[S^2] C^T) + 2 E tr(B_1 S B_0 S)
          - 2 E <C S, B_1 S B_0 S>_F + E ||B_1 S B_0 S||_F^2.

Every expectation is a contraction of a Wishart moment tensor E[W_{i1 j1} ... W_{ik jk}],
k <= 4, with the entries of B_0, B_1.  Wick's theorem on the 2k Gaussian entries
G_{i_t a_t}, G_{j_t a_t} of W = G G^T (G d x n) gives

    E[W_{i1 j1} ... W_{ik jk}] = sum over perfect matchings pi of the 2k slots
                                 prod_{(s, s') in pi} delta(index_s, index_s') * n^{c(pi)},

c(pi) the number of connected components of the graph on the k factors W_t whose edges are
the pairs of pi (each component leaves one free column index a in 1..n).  For k <= 4 there
are at most 7!! = 105 matchings.  The partially traced tensors the loss needs (at most d^6
entries) are built from these delta products as EXACT integers (numpy int64, or Python ints
when the bound (2k-1)!! n^k d^k could overflow), then divided by n^k and rounded to float64
once; f is then a polynomial in the entries of A_0, A_1 evaluated by einsum, and its gradient
is obtained term by term by deleting one operand (exact multilinear calculus, no finite
differences).  Nothing here assumes symmetric A_l.

Paper reference: Theorem 2 (L = 2, family (8), eq. (8), x ~ N(0, I), w* ~ N(0, I)).
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "perfect_matchings",
    "wick_moment",
    "ExactLoss",
    "exact_loss",
    "sym_pack",
    "sym_unpack",
    "sym_gradient",
]

EPS = float(np.finfo(float).eps)


# --- Wick engine -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def perfect_matchings(m: int) -> tuple:
    """All perfect matchings of range(m) (m even) as tuples of pairs; (m-1)!! of them."""
    if m % 2:
        raise ValueError(f"perfect matchings need an even number of slots; got {m}")

    def rec(items):
        if not items:
            yield ()
            return
        first, rest = items[0], items[1:]
        for k, other in enumerate(rest):
            for tail in rec(rest[:k] + rest[k + 1 :]):
                yield ((first, other),) + tail

    return tuple(rec(tuple(range(m))))


def _components(pairs, k: int) -> int:
    """Connected components of the graph on the k factors W_t (slot s belongs to t = s // 2)."""
    parent = list(range(k))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for s, t in pairs:
        a, b = find(s // 2), find(t // 2)
        if a != b:
            parent[a] = b
    return sum(1 for t in range(k) if find(t) == t)


def wick_moment(slots: str, out: str, n: int, d: int) -> np.ndarray:
    """Exact integer tensor sum_{labels not in out} E[prod_t W_{slots[2t], slots[2t+1]}].

    ``slots``: 2k index labels (one letter each), W_t carries slots 2t and 2t+1; a label used
    twice is summed (or kept, if it is in ``out``).  ``out``: the labels of the result, whose
    shape is (d,) * len(out).  W = G G^T with G a d x n standard Gaussian matrix.
    Formula: Wick's theorem (module docstring).  Returns an int64 array, or an object array
    of Python ints when (2k-1)!! n^k d^k could exceed 2^62.
    """
    if len(slots) % 2 or not slots:
        raise ValueError(f"slots must hold 2k >= 2 index labels; got {slots!r}")
    if not set(out) <= set(slots):
        raise ValueError(f"output labels {out!r} must appear among the slots {slots!r}")
    if not (isinstance(n, int) and isinstance(d, int) and n >= 1 and d >= 1):
        raise ValueError(f"n and d must be positive integers; got n={n!r}, d={d!r}")
    k = len(slots) // 2
    bound = math.prod(range(1, 2 * k, 2)) * n**k * d**k
    dtype = np.int64 if bound < 2**62 else object
    eye = np.eye(d, dtype=np.int64).astype(dtype)
    total = np.zeros((d,) * len(out), dtype=dtype)
    for pi in perfect_matchings(2 * k):
        subs = ",".join(slots[s] + slots[t] for s, t in pi)
        term = np.einsum(f"{subs}->{out}", *([eye] * len(pi)))
        total = total + term * (n ** _components(pi, k))
    return total


def _sample_cov_tensor(slots: str, out: str, n: int, d: int) -> np.ndarray:
    """The float64 tensor of S = W / n: exact integers divided by n^k, rounded once."""
    T = wick_moment(slots, out, n, d)
    k = len(slots) // 2
    return np.asarray(T, dtype=float) / float(n**k)


# --- the loss as a sum of einsum terms -----------------------------------------------------------

# Each term: (coefficient, operand names, einsum subscripts).  Operand names: "B0", "B1" (the
# transposes of A_0, A_1) and tensors of S.  Tensor definitions (slots, output labels):
TENSORS = {
    "E2": ("abbc", "ac"),  # E[S S]_{ac} = ((n + d + 1) / n) delta_ac
    "T2": ("ijka", "ijka"),  # E[S_ij S_ka]
    "U3": ("ibjklb", "ijkl"),  # sum_b E[S_ib S_jk S_lb]
    "U4": ("ijkbpqrb", "ijkpqr"),  # sum_b E[S_ij S_kb S_pq S_rb]
    "I": None,  # the identity (E S = I)
}

TERMS = (
    # -2 tr C  (E S = I)
    (-2.0, ("B0", "I"), "ab,ab->"),
    (-2.0, ("B1", "I"), "ab,ab->"),
    # tr(C E[S^2] C^T), C = B0 + B1
    (1.0, ("B0", "E2", "B0"), "ai,ij,aj->"),
    (1.0, ("B1", "E2", "B1"), "ai,ij,aj->"),
    (2.0, ("B0", "E2", "B1"), "ai,ij,aj->"),
    # 2 E tr(B1 S B0 S)
    (2.0, ("B1", "B0", "T2"), "ai,jk,ijka->"),
    # -2 E <C S, B1 S B0 S>_F = -2 C_ai B1_aj E[S_ib S_jk S_lb] B0_kl
    (-2.0, ("B0", "B1", "B0", "U3"), "ai,aj,kl,ijkl->"),
    (-2.0, ("B1", "B1", "B0", "U3"), "ai,aj,kl,ijkl->"),
    # E ||B1 S B0 S||_F^2
    (1.0, ("B1", "B1", "B0", "B0", "U4"), "ai,ap,jk,qr,ijkpqr->"),
)


@functools.lru_cache(maxsize=8)
def _tensors(n: int, d: int) -> dict:
    out = {name: _sample_cov_tensor(*spec, n, d) for name, spec in TENSORS.items() if spec}
    out["I"] = np.eye(d)
    return out


def _compile(subs: str, ops) -> tuple:
    """Pairwise contraction plan for ``subs`` (numpy's optimal path), as plain einsum strings.

    Executing the steps with numpy's C einsum avoids the per-call path search and parsing
    overhead of ``np.einsum(..., optimize=path)`` (which dominates at these tiny sizes).
    """
    path = np.einsum_path(subs, *ops, optimize="optimal")[0][1:]
    inputs, output = subs.split("->")
    labels = inputs.split(",")
    steps = []
    for pos in path:
        picked = [labels[i] for i in pos]
        for i in sorted(pos, reverse=True):
            del labels[i]
        keep = set("".join(labels)) | set(output)
        seen = []
        for c in "".join(picked):
            if c in keep and c not in seen:
                seen.append(c)
        res = "".join(seen) if labels else output
        steps.append((tuple(pos), ",".join(picked) + "->" + res))
        labels.append(res)
    return tuple(steps)


def _execute(steps, ops):
    ops = list(ops)
    for pos, subs in steps:
        picked = [ops[i] for i in pos]
        for i in sorted(pos, reverse=True):
            del ops[i]
        ops.append(np.einsum(subs, *picked))
    return ops[0]


@dataclass(frozen=True)
class _Term:
    coef: float
    names: tuple
    inputs: tuple  # subscripts per operand
    plan: tuple
    grads: tuple  # (operand index, plan of the contraction without it) per B operand
    hess: tuple  # (i, j, plan without operands i and j, needs a delta operand) per ordered pair


def _pair_subscripts(inputs, i, j):
    """Subscripts of the contraction without operands i, j, output labels inputs[i] + inputs[j].

    A label shared by operands i and j would repeat in the output; operand j's copy is renamed
    to an unused letter and tied back by a Kronecker delta operand (returned flag True).
    """
    used = set("".join(inputs))
    fresh = iter(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in used)
    right, deltas = "", []
    for c in inputs[j]:
        if c in inputs[i]:
            r = next(fresh)
            deltas.append(c + r)
            right += r
        else:
            right += c
    rest = [s for k, s in enumerate(inputs) if k not in (i, j)] + deltas
    return ",".join(rest) + "->" + inputs[i] + right, len(deltas)


class ExactLoss:
    """The exact population loss f(A_0, A_1) of two family-(8) layers and its gradient.

    x ~ N(0, I), w* ~ N(0, I), no label noise; A_0, A_1 any real d x d matrices (layer order:
    A_0 acts first).  Tensors are built once per (n, d) and cached.  Round-off: every tensor
    entry is an exact rational rounded once; see :meth:`roundoff` for the evaluation bound.
    Paper: Theorem 2.
    """

    def __init__(self, n: int, d: int):
        if not (
            isinstance(n, (int, np.integer))
            and isinstance(d, (int, np.integer))
            and n >= 1
            and d >= 1
        ):
            raise ValueError(f"ExactLoss needs positive integers n, d; got n={n!r}, d={d!r}")
        self.n, self.d = int(n), int(d)
        self.tensors = _tensors(self.n, self.d)
        self.terms = []
        for coef, names, subs in TERMS:
            inputs = tuple(subs.split("->")[0].split(","))
            ops = [
                self._operand(nm, np.ones((self.d, self.d)), np.ones((self.d, self.d)))
                for nm in names
            ]
            path = _compile(subs, ops)
            grads = []
            for i, nm in enumerate(names):
                if nm in ("B0", "B1"):
                    rest = [op for j, op in enumerate(ops) if j != i]
                    gsubs = ",".join(s for j, s in enumerate(inputs) if j != i) + "->" + inputs[i]
                    grads.append((i, _compile(gsubs, rest)))
            hess = []
            for i, j in itertools.permutations(range(len(names)), 2):
                if names[i] in ("B0", "B1") and names[j] in ("B0", "B1"):
                    hsubs, nd = _pair_subscripts(inputs, i, j)
                    rest = [op for k, op in enumerate(ops) if k not in (i, j)] + [
                        np.eye(self.d)
                    ] * nd
                    hess.append((i, j, _compile(hsubs, rest), nd))
            self.terms.append(_Term(coef, names, inputs, path, tuple(grads), tuple(hess)))

    def _operand(self, name, B0, B1):
        return B0 if name == "B0" else B1 if name == "B1" else self.tensors[name]

    def _check(self, A0, A1):
        A0, A1 = np.asarray(A0, dtype=float), np.asarray(A1, dtype=float)
        if A0.shape != (self.d, self.d) or A1.shape != (self.d, self.d):
            raise ValueError(
                f"A_0 and A_1 must be {self.d} x {self.d}; got {A0.shape} and {A1.shape}"
            )
        return A0.T, A1.T  # B_l = A_l^T (Lemma 1, general reading)

    def value(self, A0, A1) -> float:
        """f(A_0, A_1) = E ||(I - A_1^T S)(I - A_0^T S)||_F^2 (module docstring)."""
        B0, B1 = self._check(A0, A1)
        val = float(self.d)
        for t in self.terms:
            ops = [self._operand(nm, B0, B1) for nm in t.names]
            val += t.coef * float(_execute(t.plan, ops))
        return val

    def value_and_grad(self, A0, A1):
        """(f, df/dA_0, df/dA_1); gradients are d x d arrays (all entries, no symmetry assumed)."""
        B0, B1 = self._check(A0, A1)
        val = float(self.d)
        g = {"B0": np.zeros((self.d, self.d)), "B1": np.zeros((self.d, self.d))}
        for t in self.terms:
            ops = [self._operand(nm, B0, B1) for nm in t.names]
            val += t.coef * float(_execute(t.plan, ops))
            for i, plan in t.grads:
                g[t.names[i]] += t.coef * _execute(plan, [op for j, op in enumerate(ops) if j != i])
        return val, g["B0"].T, g["B1"].T

    def hessian(self, A0, A1) -> np.ndarray:
        """Exact second derivatives d^2 f / d(A_l)_ab d(A_m)_ce as an array (2, d, d, 2, d, d).

        Each term is multilinear in its operands, so its second derivative with respect to
        operands i != j is the contraction with both removed (no finite differences).
        """
        B0, B1 = self._check(A0, A1)
        d = self.d
        H = np.zeros((2, d, d, 2, d, d))  # in B coordinates first
        idx = {"B0": 0, "B1": 1}
        eye = np.eye(d)
        for t in self.terms:
            ops = [self._operand(nm, B0, B1) for nm in t.names]
            for i, j, plan, nd in t.hess:
                rest = [op for k, op in enumerate(ops) if k not in (i, j)] + [eye] * nd
                H[idx[t.names[i]], :, :, idx[t.names[j]], :, :] += t.coef * _execute(plan, rest)
        return H.transpose(0, 2, 1, 3, 5, 4)  # B_l = A_l^T: swap each pair of matrix indices

    def roundoff(self, A0, A1) -> float:
        """Absolute float64 error bound on :meth:`value`: (N + 2) eps sum_terms |coef| E|term|.

        Higham's bound for a sum of N products is gamma_N sum |products|; N <= d^8 is the
        longest contraction (the q4 term), the +2 covers the single rounding of each tensor
        entry and of each operand.  The sums of |products| are evaluated with |operands|.
        """
        B0, B1 = self._check(A0, A1)
        B0, B1 = np.abs(B0), np.abs(B1)
        s = float(self.d)
        for t in self.terms:
            ops = [np.abs(self._operand(nm, B0, B1)) for nm in t.names]
            s += abs(t.coef) * float(_execute(t.plan, ops))
        return (self.d**8 + 2) * EPS * s

    def gradient_roundoff(self, A0, A1) -> float:
        """Bound on the Frobenius norm (both layers) of the float error of the gradient.

        Same argument as :meth:`roundoff`, entry by entry: (N + 2) eps times the gradient
        evaluated with |operands|, N = d^8.
        """
        B0, B1 = self._check(A0, A1)
        B0, B1 = np.abs(B0), np.abs(B1)
        g = {"B0": np.zeros((self.d, self.d)), "B1": np.zeros((self.d, self.d))}
        for t in self.terms:
            ops = [np.abs(self._operand(nm, B0, B1)) for nm in t.names]
            for i, plan in t.grads:
                g[t.names[i]] += abs(t.coef) * _execute(
                    plan, [op for j, op in enumerate(ops) if j != i]
                )
        return float((self.d**8 + 2) * EPS * np.sqrt(np.sum(g["B0"] ** 2) + np.sum(g["B1"] ** 2)))

    def restricted(self, a0: float, a1: float) -> float:
        """f at A_l = a_l I: must equal phi_2(a_0, a_1) of :mod:`theory.restricted`."""
        I = np.eye(self.d)
        return self.value(a0 * I, a1 * I)


@functools.lru_cache(maxsize=8)
def exact_loss(n: int, d: int) -> ExactLoss:
    """The cached :class:`ExactLoss` for (n, d)."""
    return ExactLoss(n, d)


# --- symmetric parametrisation ---------------------------------------------------------------------


def sym_pack(A0, A1) -> np.ndarray:
    """Upper-triangular entries (row-major, diagonal included) of A_0 then A_1: 2 d(d+1)/2."""
    d = np.asarray(A0).shape[0]
    iu = np.triu_indices(d)
    return np.concatenate([np.asarray(A0)[iu], np.asarray(A1)[iu]])


def sym_unpack(theta, d: int):
    """Inverse of :func:`sym_pack`: two symmetric d x d matrices."""
    m = d * (d + 1) // 2
    theta = np.asarray(theta, dtype=float)
    if theta.shape != (2 * m,):
        raise ValueError(f"expected {2 * m} symmetric entries for d = {d}; got shape {theta.shape}")
    iu = np.triu_indices(d)
    out = []
    for l in range(2):
        A = np.zeros((d, d))
        A[iu] = theta[l * m : (l + 1) * m]
        out.append(A + np.triu(A, 1).T)
    return out


def sym_gradient(G0, G1) -> np.ndarray:
    """Gradient w.r.t. :func:`sym_pack` coordinates from full gradients: g_ii, g_ij + g_ji."""
    d = G0.shape[0]
    iu = np.triu_indices(d)
    off = iu[0] != iu[1]
    out = []
    for G in (G0, G1):
        v = G[iu].copy()
        v[off] += G.T[iu][off]
        out.append(v)
    return np.concatenate(out)
