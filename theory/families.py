"""The paper's parameter families (8) and (11) as exact objects: one per family.

On the sets S of Theorems 3 and 4 (whitened coordinates, A_l = a_l I, B_l = b_l I) a layer acts
through scalar x-blocks (eq. 4 with P = [[P_x,0],[0,1]], Q = [[Q_x,0],[0,0]]):

* family (8), eq. (8): P_x = 0, Q_x = -a_l (Lemma 1: L steps of preconditioned GD);
* family (11), eq. (11): P_x = b_l, Q_x = a_l (no minus sign); the last layer's covariate
  update never reaches the read-out, so phi_L does not depend on b_{L-1}.

Everything in :mod:`theory` that differs between the families reads it from here
(:mod:`theory.restricted`: the layer blocks and parameters; :mod:`theory.hessian`: the
perturbed blocks; :mod:`theory.critical`: the enumeration's depth limit); functions there take an
:class:`ExactFamily` or its equation number ("8" / "11"), normalised by :func:`exact_family`.

Adding a family (one place, the whole list):

1. here: an :class:`ExactFamily` (its blocks on S, whether it has B_l, its depth limit, its
   theorem) and an entry of :data:`FAMILIES`;
2. :mod:`verify.families`: a :class:`~verify.families.Family` subclass with its parametrisation
   class (theta <-> [(P_l, Q_l)]), its summaries evaluator (``loss_and_grad``, ``residuals``,
   from :mod:`verify.training.summaries` or a new recursion there) and its ``warm_start``;
3. tests: register the evaluator in ``tests/test_conformance.py``;
4. :mod:`theory.critical`: the critical-point search of the new family (the one part that is
   not generic: a polynomial system per family).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

__all__ = ["ExactFamily", "FAMILY8", "FAMILY11", "FAMILIES", "exact_family"]


@dataclass(frozen=True)
class ExactFamily:
    """A parameter family on S.

    ``equation``: the paper's equation number ("8", "11"), also its name in derivations;
    ``a_sign``: Q_x = a_sign a_l; ``has_b``: P_x = b_l is trainable (else P_x = 0);
    ``max_L``: the deepest L whose critical points :mod:`theory.critical` computes;
    ``theorem``: the claim about it; ``layers_commute``: phi_L is symmetric in the a_l (Lemma 4),
    so a critical point has an orbit of layer permutations; ``hankel_minimum``: the global
    minimum on S has the closed form d / (H^{-1})_00 (kernel polynomial, family (8)).
    """

    equation: str
    a_sign: int
    has_b: bool
    max_L: int
    theorem: str
    layers_commute: bool = False
    hankel_minimum: bool = False

    def __str__(self) -> str:
        return self.equation

    def parameter_count(self, L: int) -> int:
        """Parameters of phi_L's domain: a_0..a_{L-1} (and b_0..b_{L-1} with B_l)."""
        return 2 * L if self.has_b else L

    def layer_blocks(self, a, b, zero, neg=operator.neg):
        """[(P_x, Q_x)] of each layer, for a_l, b_l of any arithmetic: ``zero`` is its 0 (P_x
        of a family without B_l), ``neg`` its negation."""
        return [
            (b[l] if self.has_b else zero, a[l] if self.a_sign > 0 else neg(a[l]))
            for l in range(len(a))
        ]

    def moves_covariates(self, l: int, L: int) -> bool:
        """Whether layer l's covariate update can reach the read-out (G_{l+1} != G_l)."""
        return self.has_b and l < L - 1


FAMILY8 = ExactFamily(
    "8", -1, False, 6, "Theorem 3 (eq. 10)", layers_commute=True, hankel_minimum=True
)
FAMILY11 = ExactFamily("11", 1, True, 3, "Theorem 4 (eq. 12)")
FAMILIES = (FAMILY8, FAMILY11)
_BY_EQUATION = {f.equation: f for f in FAMILIES}


def exact_family(family) -> ExactFamily:
    """The :class:`ExactFamily` ``family`` (one, or its equation number "8" / "11")."""
    if isinstance(family, ExactFamily):
        return family
    found = _BY_EQUATION.get(str(family))
    if found is None:
        raise ValueError(f"family must be one of {tuple(_BY_EQUATION)}; got {family!r}")
    return found
