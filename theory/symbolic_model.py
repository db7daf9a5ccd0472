"""Exact symbolic forward pass of the (linear or entry-wise nonlinear) attention layer.

Conventions of Section 2 of the paper (tokens are columns):

    Z_0 = [[x_1 ... x_n  x_q], [y_1 ... y_n  0]]        shape (d+1) x (n+1)   (eq. 1)
    M   = diag(1, ..., 1, 0)                             shape (n+1) x (n+1)
    Z_{l+1} = Z_l + (1/n) P_l Z_l M sigma(Z_l^T Q_l Z_l)                         (eqs. 3-4)
    TF(Z_0) = -[Z_L]_{d+1, n+1}

sigma is the identity for the linear transformer (Section 3) and an entry-wise function
(ReLU in Theorem 5, Section 6). Everything here is sympy; no numerics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp


@dataclass(frozen=True)
class SymbolicPrompt:
    """Symbols of one prompt: X (d x n), y (n x 1), x_q (d x 1) and Z_0 ((d+1) x (n+1))."""

    X: sp.ImmutableMatrix
    y: sp.ImmutableMatrix
    x_q: sp.ImmutableMatrix
    Z: sp.ImmutableMatrix

    @property
    def variables(self) -> list[sp.Symbol]:
        """All symbols of the prompt (covariates, labels, query)."""
        return sorted(self.Z.free_symbols, key=sp.default_sort_key)


def symbolic_matrix(name: str, rows: int, cols: int) -> sp.ImmutableMatrix:
    """A rows x cols matrix of fresh real symbols ``name_ij`` (1-based)."""
    return sp.ImmutableMatrix(
        rows, cols, lambda i, j: sp.Symbol(f"{name}_{i + 1}{j + 1}", real=True)
    )


def symbolic_prompt(d: int, n: int, labels=None) -> SymbolicPrompt:
    """Prompt Z_0 of eq. (1) with symbolic covariates; labels free symbols unless given.

    labels: None for free symbols y_1..y_n (any labels at all), or an n-sequence of sympy
    expressions (for instance <w*, x_i>).
    """
    if d < 1 or n < 1:
        raise ValueError(f"symbolic_prompt requires d >= 1 and n >= 1; got d={d}, n={n}")
    X = symbolic_matrix("x", d, n)
    x_q = sp.ImmutableMatrix(d, 1, lambda i, _: sp.Symbol(f"q_{i + 1}", real=True))
    if labels is None:
        y = sp.ImmutableMatrix(n, 1, lambda i, _: sp.Symbol(f"y_{i + 1}", real=True))
    else:
        if len(labels) != n:
            raise ValueError(f"symbolic_prompt requires n={n} labels; got {len(labels)}")
        y = sp.ImmutableMatrix(n, 1, list(labels))
    Z = sp.ImmutableMatrix(sp.BlockMatrix([[X, x_q], [y.T, sp.zeros(1, 1)]]).as_explicit())
    return SymbolicPrompt(X, y, x_q, Z)


def attention_layer(Z, P, Q, n: int, sigma: Callable | None = None) -> sp.Matrix:
    """One residual layer Z + (1/n) P Z M sigma(Z^T Q Z) (eqs. 3-4); sigma entry-wise.

    Z: (d+1) x (n+1); P, Q: (d+1) x (d+1). Returns (d+1) x (n+1).
    """
    Z = sp.Matrix(Z)
    cols = Z.shape[1]
    if cols != n + 1:
        raise ValueError(f"attention_layer requires Z with n+1={n + 1} columns; got {cols}")
    M = sp.diag(*([1] * n + [0]))
    scores = Z.T * sp.Matrix(Q) * Z
    if sigma is not None:
        scores = scores.applyfunc(sigma)
    return (Z + sp.Matrix(P) * Z * M * scores / n).applyfunc(sp.expand)


def forward(Z0, layers, n: int, sigma: Callable | None = None) -> list[sp.Matrix]:
    """[Z_0, Z_1, ..., Z_L] for layers = [(P_0, Q_0), ..., (P_{L-1}, Q_{L-1})]."""
    Zs = [sp.Matrix(Z0)]
    for P, Q in layers:
        Zs.append(attention_layer(Zs[-1], P, Q, n, sigma))
    return Zs


def family8(A) -> tuple[sp.Matrix, sp.Matrix]:
    """Family (8): P = [[0, 0], [0, 1]], Q = -[[A, 0], [0, 0]] for a d x d block A."""
    A = sp.Matrix(A)
    d = A.shape[0]
    P = sp.zeros(d + 1, d + 1)
    P[d, d] = 1
    Q = sp.zeros(d + 1, d + 1)
    Q[:d, :d] = -A
    return P, Q


def readout(Z) -> sp.Expr:
    """TF = -[Z]_{d+1, n+1}, the prediction for the query (Section 2)."""
    return -Z[Z.shape[0] - 1, Z.shape[1] - 1]
