"""Lemma 1 checked exactly: family (8) runs preconditioned gradient descent on R(w).

Paper (Lemma 1, family (8): P_l = [[0,0],[0,1]], Q_l = -[[A_l,0],[0,0]]):

    [Z_l]_{d+1, n+1} = -<x_q, w_l>,  w_0 = 0,  w_{l+1} = w_l - A_l grad R(w_l),
    R(w) = (1/2n) sum_i (<w, x_i> - y_i)^2,  grad R(w) = (1/n) X (X^T w - y).

What the forward pass actually gives (derived by induction on the last row of Z_l):
[Z_{l+1}]_{d+1,j} = [Z_l]_{d+1,j} - (1/n) sum_i [Z_l]_{d+1,i} x_i^T A_l x_j, so the
iterate is w_{l+1} = w_l - A_l^T grad R(w_l). The printed recursion (A_l, not A_l^T)
therefore holds for symmetric A_l and fails for general A_l. Both readings are checked
here on every column (context columns: y_i - <x_i, w_l>; query column: -<x_q, w_l>) with
fully symbolic covariates, labels and preconditioners.

Two conventions for the score (docs/conventions.md).  Eq. (3) read literally forms
Z^T Q Z, whose (i, j) entry z_i^T Q z_j puts the KEY z_i on the left; the official code scores
z_query^T Q z_key, so its trainable Q block is eq. (3)'s transposed.  With family (8)'s
Q_l = -[[A_l,0],[0,0]] written in the code's convention, the layer's step uses (A_l^T)^T = A_l
and the printed recursion holds for every A_l; only eq. (3) read literally needs A_l^T.
``convention="eq3"`` / ``"code"`` selects the reading checked.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy as sp

from theory.derivation import Derivation, Step
from theory.gaussian import symbolic_symmetric
from theory.symbolic_model import family8, forward, symbolic_matrix, symbolic_prompt

LABEL_MODES = ("free", "linear")
CONVENTIONS = ("eq3", "code")


@dataclass(frozen=True)
class Lemma1Check:
    """Outcome of the exact Lemma 1 comparison for one (d, n, L, symmetric, labels)."""

    d: int
    n: int
    L: int
    symmetric: bool
    labels: str
    printed_holds: bool
    transposed_holds: bool
    columns_checked: int
    convention: str = "eq3"


def _preconditioner(l: int, d: int, symmetric: bool) -> sp.Matrix:
    return sp.Matrix(
        symbolic_symmetric(f"A{l}", d) if symmetric else symbolic_matrix(f"A{l}", d, d)
    )


def code_attention_layer(Z, P, Q, n: int) -> sp.Matrix:
    """One residual layer in the official code's convention, tokens as rows as the code has them.

    Z_r = Z^T ((n+1) x (d+1)); scores S[j, i] = z_j^T Q z_i (query j, key i); output row j is
    (1/n) sum_{i <= n} S[j, i] (P z_i)^T.  Returns the updated Z in columns, (d+1) x (n+1).
    """
    Zr = sp.Matrix(Z).T
    scores = Zr * sp.Matrix(Q) * Zr.T  # (n+1, n+1): [query, key]
    keys = Zr * sp.Matrix(P).T  # row i is (P z_i)^T
    mask = sp.diag(*([1] * n + [0]))
    return (Zr + scores * mask * keys / n).T.applyfunc(sp.expand)


def _forward(Z0, layers, n: int, convention: str) -> list:
    if convention == "eq3":
        return forward(Z0, layers, n)
    Zs = [sp.Matrix(Z0)]
    for P, Q in layers:
        Zs.append(code_attention_layer(Zs[-1], P, Q, n))
    return Zs


def _iterates(X, y, A, transpose: bool) -> list[sp.Matrix]:
    """w_0 = 0, w_{l+1} = w_l - A_l' grad R(w_l), with A_l' = A_l^T or A_l."""
    n = X.shape[1]
    w = [sp.zeros(X.shape[0], 1)]
    for A_l in A:
        grad = X * (X.T * w[-1] - y) / n
        step = A_l.T if transpose else A_l
        w.append((w[-1] - step * grad).applyfunc(sp.expand))
    return w


def _matches(Zs, X, y, x_q, w) -> bool:
    """Every column's last entry equals y_i - <x_i, w_l> (context) or -<x_q, w_l> (query)."""
    n = X.shape[1]
    for Z, w_l in zip(Zs, w):
        predicted = [y[i] - (X[:, i].T * w_l)[0, 0] for i in range(n)] + [-(x_q.T * w_l)[0, 0]]
        last_row = Z[Z.shape[0] - 1, :]
        if any(sp.expand(last_row[j] - predicted[j]) != 0 for j in range(n + 1)):
            return False
    return True


@functools.lru_cache(maxsize=None)
def check_lemma1_symbolic(
    d: int, n: int, L: int, symmetric: bool, labels: str = "free", convention: str = "eq3"
) -> Lemma1Check:
    """Compare the exact L-layer forward pass with both GD readings of Lemma 1.

    labels: "free" (y_i independent symbols: Lemma 1 needs no model of the labels) or
    "linear" (y_i = <w*, x_i> with symbolic w*). A_l: symbolic d x d, symmetric or not.
    convention: "eq3" (scores Z^T Q Z, eq. (3) as printed) or "code" (scores
    z_query^T Q z_key, the official code); Q_l = -[[A_l,0],[0,0]] in either.
    """
    for name, value, low in (("d", d, 1), ("n", n, 1), ("L", L, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(
                f"check_lemma1_symbolic requires integer {name} >= {low}; got {value!r}"
            )
    if labels not in LABEL_MODES:
        raise ValueError(f"check_lemma1_symbolic requires labels in {LABEL_MODES}; got {labels!r}")
    if convention not in CONVENTIONS:
        raise ValueError(
            f"check_lemma1_symbolic requires convention in {CONVENTIONS}; got {convention!r}"
        )
    if labels == "linear":
        w_star = symbolic_matrix("w", d, 1)
        X = symbolic_matrix("x", d, n)
        prompt = symbolic_prompt(d, n, [(w_star.T * X[:, i])[0, 0] for i in range(n)])
    else:
        prompt = symbolic_prompt(d, n)
    A = [_preconditioner(l, d, symmetric) for l in range(L)]
    Zs = _forward(prompt.Z, [family8(A_l) for A_l in A], n, convention)
    X, y, x_q = sp.Matrix(prompt.X), sp.Matrix(prompt.y), sp.Matrix(prompt.x_q)
    printed = _matches(Zs, X, y, x_q, _iterates(X, y, A, transpose=False))
    general = _matches(Zs, X, y, x_q, _iterates(X, y, A, transpose=True))
    return Lemma1Check(d, n, L, symmetric, labels, printed, general, n + 1, convention)


def check_code_is_eq3_transposed(d: int, n: int) -> bool:
    """The code's layer with Q equals eq. (3)'s layer with Q^T, for general P, Q (exact)."""
    Z = sp.Matrix(symbolic_prompt(d, n).Z)
    P, Q = symbolic_matrix("p", d + 1, d + 1), symbolic_matrix("k", d + 1, d + 1)
    diff = code_attention_layer(Z, P, Q, n) - forward(Z, [(P, Q.T)], n)[-1]
    return all(sp.expand(e) == 0 for e in diff)


def check_last_row_recursion(d: int, n: int) -> bool:
    """One family-(8) layer keeps the covariate rows and updates the last row as
    r_j <- r_j - (1/n) sum_{i<=n} r_i x_i^T A x_j, for an arbitrary last row r (exact)."""
    prompt = symbolic_prompt(d, n)
    r = sp.Matrix(1, n + 1, lambda _, j: sp.Symbol(f"r_{j + 1}", real=True))
    Z = sp.Matrix(prompt.Z)
    Z[d, :] = r
    A = _preconditioner(0, d, symmetric=False)
    Z1 = forward(Z, [family8(A)], n)[-1]
    cov = sp.Matrix(Z[:d, :])
    expected = [
        r[j] - sum(r[i] * (cov[:, i].T * A * cov[:, j])[0, 0] for i in range(n)) / n
        for j in range(n + 1)
    ]
    same_covariates = (Z1[:d, :] - Z[:d, :]).is_zero_matrix
    return bool(same_covariates) and all(
        sp.expand(Z1[d, j] - expected[j]) == 0 for j in range(n + 1)
    )


_PRINTED = r"w_{l+1} = w_l - A_l \nabla R(w_l)"
_TRANSPOSED = r"w_{l+1} = w_l - A_l^\top \nabla R(w_l)"
_CLAIM = (
    r"[Z_l]_{d+1,i} = y_i - \langle x_i, w_l\rangle,\ [Z_l]_{d+1,n+1} = -\langle x_q, w_l\rangle"
)


@functools.lru_cache(maxsize=None)
def derive_lemma1(d: int = 2, n: int = 2, L: int = 2) -> Derivation:
    """Lemma 1 in both readings, symmetric and general A_l, free and linear labels."""
    steps = [
        Step(
            "One family-(8) layer: covariates fixed, last row takes a GD step",
            r"[Z_{l+1}]_{d+1,j} = [Z_l]_{d+1,j} - \frac{1}{n}\sum_{i\le n}[Z_l]_{d+1,i}\,"
            r"x_i^\top A_l x_j",
            f"exact symbolic layer, arbitrary last row, general A (d={d}, n={n})",
            check_last_row_recursion(d, n),
            "Summing over i gives x_j^T A_l^T (-grad R(w_l)): the step uses A_l^T.",
        ),
    ]
    for labels in LABEL_MODES:
        where = f"d={d}, n={n}, L={L}, {labels} labels, all {n + 1} columns"
        sym = check_lemma1_symbolic(d, n, L, True, labels)
        gen = check_lemma1_symbolic(d, n, L, False, labels)
        steps.append(
            Step(
                f"Printed recursion holds for symmetric A_l, eq. (3) as printed ({labels} labels)",
                _CLAIM + r"\ \text{with}\ " + _PRINTED,
                f"exact symbolic forward pass ({where})",
                sym.printed_holds,
            )
        )
        steps.append(
            Step(
                f"Printed recursion fails for general A_l under eq. (3) read literally ({labels} labels)",
                r"\text{printed reading false for generic non-symmetric } A_l",
                f"exact symbolic forward pass ({where})",
                not gen.printed_holds,
                "Under eq. (3) read literally, Lemma 1 as printed needs A_l symmetric (or A_l^T); "
                "in the code's convention it holds as printed (step below).",
            )
        )
        steps.append(
            Step(
                f"Transposed recursion holds for every A_l under eq. (3) ({labels} labels)",
                _CLAIM + r"\ \text{with}\ " + _TRANSPOSED,
                f"exact symbolic forward pass ({where})",
                gen.transposed_holds and sym.transposed_holds,
            )
        )
    where = f"d={d}, n={n}, L={L}, free labels, all {n + 1} columns"
    steps.append(
        Step(
            "Official code's convention (scores z_query^T Q z_key) is eq. (3) with Q^T",
            r"z_{\mathrm{query}}^\top Q\, z_{\mathrm{key}} = z_{\mathrm{key}}^\top Q^\top z_{\mathrm{query}}",
            f"exact symbolic layer, general P and Q (d={d}, n={n})",
            check_code_is_eq3_transposed(d, n),
        )
    )
    code = check_lemma1_symbolic(d, n, L, False, "free", convention="code")
    steps.append(
        Step(
            "In the code's convention the printed recursion holds for every A_l",
            _CLAIM + r"\ \text{with}\ " + _PRINTED,
            f"exact symbolic forward pass, code convention, general A_l ({where})",
            code.printed_holds,
            "Only eq. (3) read literally needs A_l^T; the code's Q block is eq. (3)'s transposed.",
        )
    )
    return Derivation(
        "Lemma 1: family (8) implements preconditioned GD", "Lemma 1, eq. (8)", tuple(steps)
    )
