"""Gradient and Hessian of the full loss f in all matrix directions, at points of S.

Setting (whitened, Sigma = I; see :mod:`theory.restricted`).  Perturb every layer's
matrices, A_l = a_l I + eps X_l and (family 11) B_l = b_l I + eps Y_l, with arbitrary
d x d X_l, Y_l.  The label residual obeys, with G_0 = U_0 = I and S_hat = W / n,

    G_{l+1} = (I + P_x G_l S_hat G_l^T Q_x) G_l,   U_{l+1} = (I + G_l^T Q_x^T G_l S_hat) U_l,
    f = E tr(U_L^T U_L),

with (P_x, Q_x) = (0, -A_l) for family (8) and (B_l, A_l) for family (11).

Symmetry reduction.  The distribution of S_hat is O(d)-invariant and the base point is a
multiple of I per layer, so f(O X O^T, O Y O^T) expansions are invariant.  Hence
 - the gradient of f in layer l's matrices is a multiple of I (E g(S_hat) = c I), so a
   critical point of the restricted loss is a critical point of f (the multiple is
   (1/d) d phi / d a_l);
 - the Hessian is H = sum_tau H_tau (x) I_{dim tau} over the irreducible parts of a d x d
   perturbation: tau = "trace" (multiples of I, dim 1), "sym" (symmetric traceless,
   dim d(d+1)/2 - 1), "antisym" (dim d(d-1)/2).  H_tau is L x L (family 8) or 2L x 2L
   (family 11, order a_0..a_{L-1}, b_0..b_{L-1}) and equals the Hessian of f along
   X_l = t_l E for any unit E of type tau.

Computation.  Expanding the products to second order in eps gives words
S^i E S^j E S^k (E^T = +E for trace/sym, -E for antisym); cyclically
tr(S^i E S^j E S^k) = tr(S^j E S^{k+i} E) and

    K_tau(x, y) := E tr(S^x E S^y E) = p + q (sym),  q - p (antisym),  M1 / d (trace),

with (p, q) the isotropic 4-tensor coefficients of :func:`theory.wishart.isotropic_pq`,
M1 = E tr S^{x+y}, M2 = E tr S^x tr S^y:
sym: (d M2 + (d - 2) M1) / (d (d+2)(d-1)), antisym: (M1 - M2) / (d (d-1)).
Entries of H_tau follow by polarisation Q(e_i + e_j) - Q(e_i) - Q(e_j).
Paper reference: Theorems 3, 4 (eqs. 10, 12) ask only for vanishing gradients on S; the
Hessian classifies the points.
"""

from __future__ import annotations

from fractions import Fraction

import mpmath

from theory.families import exact_family
from theory.wishart import sample_cov_moment

__all__ = ["BLOCK_TYPES", "block_dimension", "full_gradient_trace", "hessian_block", "kernel"]

BLOCK_TYPES = ("trace", "sym", "antisym")


def block_dimension(kind: str, d: int) -> int:
    """Multiplicity of H_tau in the full Hessian: 1, d(d+1)/2 - 1, d(d-1)/2."""
    return {"trace": 1, "sym": d * (d + 1) // 2 - 1, "antisym": d * (d - 1) // 2}[kind]


def kernel(kind: str, x: int, y: int, n: int, d: int) -> Fraction:
    """K_tau(x, y) = E tr(S^x E S^y E) for a unit d x d matrix E of type tau (exact)."""
    m1 = sample_cov_moment((x + y,), n, d)
    if kind == "trace":
        return m1 / d
    if d < 2:
        raise ValueError(f"block type {kind!r} needs d >= 2; got d={d}")
    m2 = sample_cov_moment((x, y), n, d)
    if kind == "sym":
        return (d * m2 + (d - 2) * m1) / (d * (d + 2) * (d - 1))
    if kind == "antisym":
        return (m1 - m2) / (d * (d - 1))
    raise ValueError(f"kind must be one of {BLOCK_TYPES}; got {kind!r}")


# --- second-order word algebra ------------------------------------------------------------
# An element is (c0, c1, c2): c0 {i: x} = sum x S^i; c1 {(i, j): x} = sum x S^i E S^j (order
# eps); c2 {(i, j, k): x} = sum x S^i E S^j E S^k (order eps^2).


def _add(*els):
    out = ({}, {}, {})
    for el in els:
        for o in range(3):
            for key, val in el[o].items():
                out[o][key] = out[o].get(key, 0) + val
    return out


def _scale(el, c):
    return tuple({k: c * v for k, v in part.items()} for part in el)


def _mul(A, B):
    c0, c1, c2 = {}, {}, {}
    for i, x in A[0].items():
        for j, y in B[0].items():
            c0[i + j] = c0.get(i + j, 0) + x * y
        for (j, k), y in B[1].items():
            c1[(i + j, k)] = c1.get((i + j, k), 0) + x * y
        for (j, k, m), y in B[2].items():
            c2[(i + j, k, m)] = c2.get((i + j, k, m), 0) + x * y
    for (i, j), x in A[1].items():
        for k, y in B[0].items():
            c1[(i, j + k)] = c1.get((i, j + k), 0) + x * y
        for (k, m), y in B[1].items():
            c2[(i, j + k, m)] = c2.get((i, j + k, m), 0) + x * y
    for (i, j, k), x in A[2].items():
        for m, y in B[0].items():
            c2[(i, j, k + m)] = c2.get((i, j, k + m), 0) + x * y
    return c0, c1, c2


def _transpose(el, sigma):
    return (
        dict(el[0]),
        {(j, i): sigma * v for (i, j), v in el[1].items()},
        {(k, j, i): v for (i, j, k), v in el[2].items()},
    )


def _perturbed(base, weight):
    """base * I + eps * weight * E."""
    return ({0: base}, {(0, 0): weight} if weight else {}, {})


_ONE = ({0: 1}, {}, {})
_S = ({1: 1}, {}, {})


def _residual(family, a, b, wa, wb, sigma):
    """U_L as a word-algebra element; wa, wb: perturbation weights of A_l, B_l."""
    G, U = _ONE, _ONE
    L = len(a)
    Ps = [_perturbed(b[l], wb[l]) for l in range(len(b))]
    blocks = family.layer_blocks(
        [_perturbed(a[l], wa[l]) for l in range(L)], Ps, ({}, {}, {}), lambda x: _scale(x, -1)
    )
    for l, (P_x, Q_x) in enumerate(blocks):
        Gt = _transpose(G, sigma)
        U_step = _add(_ONE, _mul(_mul(_mul(Gt, _transpose(Q_x, sigma)), G), _S))
        U = _mul(U_step, U)
        if family.moves_covariates(l, L):
            G = _mul(_add(_ONE, _mul(_mul(_mul(_mul(P_x, G), _S), Gt), Q_x)), G)
    return U


def _expected_trace(V, kind, n, d, kern_cache, conv, value=True):
    """(E tr V0, d/d eps, d^2/d eps^2) of E tr V at eps = 0 (E tr V0 = 0 when value is False)."""
    m = lambda k: conv(sample_cov_moment((k,), n, d))
    f0 = sum(x * m(i) for i, x in V[0].items()) if value else 0
    # E tr(S^i E S^j) = tr(E) E tr S^{i+j} / d; tr E = sqrt(d) for the unit trace direction.
    f1 = sum(x * m(i + j) for (i, j), x in V[1].items()) / conv(d).sqrt() if kind == "trace" else 0
    f2 = 0
    for (i, j, k), x in V[2].items():
        key = (j, i + k)
        if key not in kern_cache:
            kern_cache[key] = conv(kernel(kind, j, i + k, n, d))
        f2 += x * kern_cache[key]
    return f0, f1, 2 * f2


class _MpConv:
    """Fraction -> mpf at the caller's precision (with .sqrt() for the trace direction)."""

    def __call__(self, q):
        q = Fraction(q)
        return _SqrtMpf(mpmath.mpf(q.numerator) / q.denominator)


class _SqrtMpf(mpmath.mpf):
    def sqrt(self):
        return mpmath.sqrt(self)


def _arb_conv(q):
    """Fraction -> exact-as-possible arb ball (python-flint), for certified Hessian bounds."""
    from flint import arb, fmpq

    q = Fraction(q)
    return arb(fmpq(q.numerator, q.denominator))


def _converter(arith: str):
    if arith == "mpmath":
        return _MpConv()
    if arith == "arb":
        return _arb_conv
    raise ValueError(f"arith must be 'mpmath' or 'arb'; got {arith!r}")


def _check(family, a, b, n, d, kind):
    if kind not in BLOCK_TYPES:
        raise ValueError(f"kind must be one of {BLOCK_TYPES}; got {kind!r}")
    if family.has_b and len(b) != len(a):
        raise ValueError(f"family (11) needs len(b) == len(a); got {len(b)} and {len(a)}")
    if kind != "trace" and d < 2:
        raise ValueError(f"block {kind!r} needs d >= 2; got d={d}")


def _quadratic(family, a, b, weights, kind, n, d, cache, conv, value=True):
    L = len(a)
    sigma = -1 if kind == "antisym" else 1
    wa, wb = weights[:L], (weights[L:] if family.has_b else [0] * L)
    U = _residual(family, a, b, wa, wb, sigma)
    V = _mul(_transpose(U, sigma), U)
    return _expected_trace(V, kind, n, d, cache, conv, value)


def full_gradient_trace(family: str, a, b, n: int, d: int, arith: str = "mpmath"):
    """Directional derivatives of f along A_l -> A_l + t I/sqrt(d) (and B_l), as a list.

    Equals (1/sqrt d) d phi / d a_l (resp. b_l); the traceless parts of the gradient vanish
    identically by O(d) invariance (see module docstring).  ``arith``: "mpmath" (at the caller's
    dps) or "arb" (python-flint balls; a, b may then be balls, giving enclosures over a box).
    """
    conv = _converter(arith)
    family = exact_family(family)
    b = [_lift(x, arith) for x in b] if family.has_b else []
    _check(family, a, b, n, d, "trace")
    a = [_lift(x, arith) for x in a]
    P = len(a) + len(b)
    cache: dict = {}
    return [
        _quadratic(
            family, a, b, [1 if i == j else 0 for j in range(P)], "trace", n, d, cache, conv
        )[1]
        for i in range(P)
    ]


def _lift(x, arith):
    if arith == "mpmath":
        return mpmath.mpf(x)
    from flint import arb

    return x if isinstance(x, arb) else arb(x)


def hessian_block(
    family: str, a, b, n: int, d: int, kind: str, arith: str = "mpmath", keep: int | None = None
):
    """H_tau: the Hessian of f along X_l = t_l E (E unit of type kind), as a P x P list.

    Parameters a (L values), b (L values, family 11 only) in whitened coordinates; P = L
    (family 8) or 2L (family 11, order a then b).  Exact expansion, mpmath arithmetic at the
    caller's working precision, or python-flint balls with ``arith="arb"`` (a, b may be balls:
    the result then encloses H_tau over the box, for certified eigenvalue bounds).
    The trace block equals (1/d) Hess phi (restricted loss).  ``keep``: compute only the leading
    keep x keep sub-block (e.g. 2L - 1 to skip b_{L-1}, on which f does not depend).
    """
    conv = _converter(arith)
    family = exact_family(family)
    b = list(b) if family.has_b else []
    _check(family, a, b, n, d, kind)
    a = [_lift(x, arith) for x in a]
    b = [_lift(x, arith) for x in b]
    P = len(a) + len(b)
    cache: dict = {}
    unit = lambda *idx: [1 if j in idx else 0 for j in range(P)]
    K = P if keep is None else keep
    diag = [_quadratic(family, a, b, unit(i), kind, n, d, cache, conv, False)[2] for i in range(K)]
    H = [[conv(0)] * K for _ in range(K)]
    for i in range(K):
        H[i][i] = diag[i]
        for j in range(i + 1, K):
            both = _quadratic(family, a, b, unit(i, j), kind, n, d, cache, conv, False)[2]
            H[i][j] = H[j][i] = (both - diag[i] - diag[j]) / 2
    return H
