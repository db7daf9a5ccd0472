"""Lemma 4: permutation invariance of the restricted loss, proved exactly; orbits.

Family (8) on S: phi_L(a) = sum_k c_k(a) E tr S^k with p(s)^2 = prod_l (1 - a_l s)^2, and
every c_k is a symmetric polynomial in a (it is a coefficient of a product over the
layers).  The proof below is a sympy identity: phi(sigma a) - phi(a) expands to 0 for the
transposition (0 1) and the cycle (0 1 ... L-1), which generate the symmetric group, with
n and d symbolic.  Hence every critical point of family (8) on S comes with its orbit of
L! / prod m_i! distinct permutations (m_i the multiplicities of its values).

Family (11): no analogue.  Permuting the layers (a_l, b_l) changes phi (exact evaluation at a
rational point, with n, d symbolic); only the sub-family b = 0 (which is family (8) with
a -> -a) is permutation invariant.  The one exact continuous symmetry is b_{L-1}, on which
the loss does not depend.  Paper reference: Lemma 4 (stated for Theorem 3 only).
"""

from __future__ import annotations

import functools
import itertools

import sympy

from theory.derivation import Derivation, fact_step, identity_step
from theory.restricted import parameter_symbols, phi

__all__ = ["derive_lemma4", "family11_layer_permutations_that_preserve_phi", "orbit"]


def _permuted(expr, symbols, perm):
    return expr.subs({symbols[i]: symbols[perm[i]] for i in range(len(symbols))}, simultaneous=True)


def family11_layer_permutations_that_preserve_phi(L: int) -> list[tuple[int, ...]]:
    """Layer permutations sigma with phi_11(sigma (a, b)) == phi_11(a, b) identically.

    A nonzero exact value of the difference at one rational point (a, b) and (n, d) = (13, 4)
    disproves invariance; a zero there is confirmed by full symbolic expansion with n, d
    symbolic.  Returns the identity only for L >= 2 (see module docstring).
    """
    if not (isinstance(L, int) and 1 <= L <= 3):
        raise ValueError(f"L must be an int in 1..3 for family (11); got {L!r}")
    return list(_family11_invariant_permutations(L))


@functools.cache
def _family11_invariant_permutations(L: int) -> tuple:
    """Computed once per L and process (a sympy expansion of about 10 CPU-seconds at L = 3)."""
    a, b = parameter_symbols("11", L)
    point = {s: sympy.Rational(k + 2, 7) * (-1) ** k for k, s in enumerate(a + b)}
    numeric = phi("11", L, 13, 4)
    keep = []
    for perm in itertools.permutations(range(L)):
        moved = _permuted(_permuted(numeric, a, perm), b, perm)
        if (moved - numeric).subs(point) != 0:
            continue
        expr = phi("11", L)
        if sympy.expand(_permuted(_permuted(expr, a, perm), b, perm) - expr) == 0:
            keep.append(perm)
    return tuple(keep)


def orbit(a) -> list[tuple]:
    """Distinct layer permutations of a family (8) critical point (Lemma 4 orbit)."""
    return sorted(set(itertools.permutations(tuple(a))))


def _generates_symmetric_group(*perms) -> bool:
    """True when the permutations (as image tuples) generate the whole symmetric group."""
    from sympy.combinatorics import Permutation, PermutationGroup

    group = PermutationGroup([Permutation(list(p)) for p in perms])
    return group.order() == sympy.factorial(len(perms[0]))


def _invariance_latex(L: int, perm) -> str:
    """``phi_L(a_perm) = phi_L(a)`` typeset with phi_L as a symbol (its expansion is long)."""
    args = lambda p: ", ".join(f"a_{{{i}}}" for i in p)  # noqa: E731
    return rf"\varphi_{{{L}}}({args(perm)}) = \varphi_{{{L}}}({args(range(L))})"


@functools.cache
def derive_lemma4(L: int) -> Derivation:
    """Exact proof of Lemma 4 for family (8) with L layers, and the family (11) contrast."""
    if not (isinstance(L, int) and 2 <= L <= 6):
        raise ValueError(f"L must be an int in 2..6; got {L!r}")
    a, _ = parameter_symbols("8", L)
    expr = phi("8", L)
    swap = (1, 0) + tuple(range(2, L))
    cycle = tuple(range(1, L)) + (0,)
    terms = len(sympy.Add.make_args(sympy.expand(expr)))
    detail = (
        f"n, d symbolic; phi_{L}(a) = f(a_0 Sigma^-1, ..., a_{L - 1} Sigma^-1), the restricted loss "
        f"(theory.restricted), a polynomial of {terms} terms: both sides expanded and their "
        "difference simplified to 0"
    )
    steps = [
        identity_step(
            "phi_L is invariant under the transposition (a_0 a_1)",
            _permuted(expr, a, swap),
            expr,
            detail,
            latex=_invariance_latex(L, swap),
        ),
        identity_step(
            "phi_L is invariant under the cycle (a_0 ... a_{L-1})",
            _permuted(expr, a, cycle),
            expr,
            detail,
            latex=_invariance_latex(L, cycle),
        ),
        fact_step(
            "a transposition and an L-cycle generate S_L",
            f"S_{L} = <(0 1), (0 ... {L - 1})>",
            _generates_symmetric_group(swap, cycle),
            "closure of the two permutations computed (sympy.combinatorics): its order is L!",
        ),
    ]
    if L <= 3:
        kept = family11_layer_permutations_that_preserve_phi(L)
        steps.append(
            fact_step(
                "family (11): only the identity layer permutation preserves phi",
                f"{len(kept)} of {len(list(itertools.permutations(range(L))))} permutations preserve phi",
                kept == [tuple(range(L))],
                "exact rational evaluation at (n, d) = (13, 4); zeros confirmed symbolically",
                "Lemma 4 has no analogue for Theorem 4; b_{L-1} is the only exact symmetry",
            )
        )
    return Derivation(
        f"Lemma 4 (L = {L}): permutation invariance on S", "Lemma 4, Theorem 3", tuple(steps)
    )
