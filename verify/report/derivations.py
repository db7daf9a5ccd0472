"""What a report shows beside a verdict: derivations, hypotheses and errata, per claim id.

The claims registry (:mod:`verify.claims`) says how to verify a claim; this module says how
to explain it.  Every entry is keyed by claim id; a claim registered without an entry here
still gets a report (statement, setting, checks, controls, notes), just without these parts.

* :data:`DERIVATIONS`: claim id -> callables ``f(setting) -> theory.derivation.Derivation``
  (exact sympy / mpmath computations from :mod:`theory`; deterministic, no training);
* :data:`HYPOTHESES`: the paper's hypotheses of the claim (PAPER.md, section 2);
* :data:`ERRATA`: where the paper's text disagrees with what was computed, with pointers to
  the derivation steps and checks that carry the evidence.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DERIVATIONS", "HYPOTHESES", "ERRATA", "Erratum", "derivations_for"]


def _layers(s, default: int) -> int:
    return s.layers if s.layers is not None else default


def _lemma1(s):
    from theory.lemma1 import derive_lemma1
    return derive_lemma1()


def _gaussian(s):
    from theory.gaussian import derive_gaussian_moments
    return derive_gaussian_moments()


def _theorem1(s):
    from theory.single_layer_symbolic import derive_theorem1
    return derive_theorem1()


def _general(s):
    from theory.single_layer_symbolic import derive_general
    return derive_general()


def _reduction(s):
    from theory.single_layer_reduction import derive_reduction
    return derive_reduction()


def _theorem5(s):
    from theory.relu import derive_theorem5
    return derive_theorem5()


def _critical(family: str, default_L: int):
    def derive(s):
        from theory.critical import derive_critical_points
        # family (11): the same seeded search as claim 4's verdict (not the 400-start default)
        search = {"starts": 8 if s.quick else 24, "seed": s.seed} if family == "11" else {}
        return derive_critical_points(family, _layers(s, default_L), s.n, s.d, **search)
    derive.__name__ = f"critical_points_family{family}"
    return derive


def _lemma4(s):
    from theory.lemma4 import derive_lemma4
    return derive_lemma4(max(2, _layers(s, 3)))


#: claim id -> derivations shown in its report, in reading order.
DERIVATIONS = {
    "lemma1": (_lemma1,),
    "1": (_gaussian, _theorem1, _reduction, _general),
    "2": (_critical("8", 2),),
    "3": (_critical("8", 3),),
    "lemma4": (_lemma4,),
    "4": (_critical("11", 3),),
    "5": (_theorem5,),
}

#: claim id -> the paper's hypotheses (PAPER.md section 2), one item each.
HYPOTHESES = {
    "lemma1": ("any prompt (no distributional assumption: the identity holds prompt by prompt)",
               "L layers of family (8): P_l = [[0,0],[0,1]], Q_l = -[[A_l,0],[0,0]]",
               "the paper prints the recursion with A_l; Theorems 2-4 use symmetric A_l"),
    "1": ("x^(i) ~ N(0, Sigma) i.i.d., Sigma positive definite", "w* ~ N(0, I), no label noise",
          "one layer (L = 1), every entry of P_0 and Q_0 trainable"),
    "2": ("x^(i) ~ N(0, I), w* ~ N(0, I), no label noise",
          "two layers (L = 2) of family (8) with symmetric A_0, A_1"),
    "3": ("x^(i) ~ N(0, Sigma), w* ~ N(0, Sigma^{-1}), no label noise",
          "L layers of family (8); S = {A_l = a_l Sigma^{-1}, a_l real}"),
    "lemma4": ("as Theorem 3: x^(i) ~ N(0, Sigma), w* ~ N(0, Sigma^{-1})",
               "family (8) restricted to S = {A_l = a_l Sigma^{-1}}"),
    "4": ("x^(i) ~ N(0, Sigma), w* ~ N(0, Sigma^{-1}), no label noise",
          "L layers of family (11): P_l = [[B_l,0],[0,1]], Q_l = [[A_l,0],[0,0]] (no minus sign)",
          "S = {A_l = a_l Sigma^{-1}, B_l = b_l I}"),
    "5": ("x^(i) ~ N(0, I), w* ~ N(0, I), no label noise",
          "one layer with entry-wise ReLU attention, sigma(Z^T Q Z); last row of Q_0 zero"),
}


@dataclass(frozen=True)
class Erratum:
    """A disagreement between the paper's text and the computation.

    ``steps`` and ``checks`` are substrings of derivation-step titles and check names whose
    records (with their outcomes) are quoted as evidence.
    """

    topic: str
    paper: str
    computed: str
    steps: tuple = ()
    checks: tuple = ()


#: claim id -> errata.  Claims without an entry still list their verdict's erratum checks
#: and notes in the errata section.
ERRATA = {
    "lemma1": (Erratum(
        "A_l or A_l^T in the recursion",
        "Lemma 1: [Z_l]_{d+1,n+1} = -<x^(n+1), w_l> with w_{l+1} = w_l - A_l grad R(w_l).",
        "The forward pass gives w_{l+1} = w_l - A_l^T grad R(w_l). The printed recursion holds "
        "for symmetric A_l (the case used by Theorems 2-4) and fails for a general A_l.",
        steps=("Printed recursion fails", "One family-(8) layer"), checks=("erratum",)),),
    "1": (Erratum(
        "uniqueness up to rescaling when d = 1",
        "Theorem 1: the global minimiser is (P_0, Q_0) of eq. (6) up to (P, Q) -> (gP, Q/g).",
        "For d >= 2 this is right (modulo the entries the loss cannot see). For d = 1 there is a "
        "second branch of global minimisers, Q11 = 0, p_y = 0, -p_x q21 = A*, which computes the "
        "same predictor through the covariate row and is not a rescaling of eq. (6).",
        steps=("second branch", "rank-one A_eff")),),
    "3": (Erratum(
        "the n of Figs. 1-2",
        "Section 4.3 reports Figs. 1-2 (Sigma^1/2 A_l Sigma^1/2 ~ 0.69, 0.42, 1.71 in convention (8)) "
        "for d = 5, n = 20.",
        "At n = 20 the printed values are the exact global minimiser on S up to layer order "
        "(0.6891, 0.4224, 1.7142; phi = 0.133646 at the printed values vs 0.133608 at the optimum). "
        "At n = 10 they are far from optimal (phi = 1.49 vs 0.579): the figure is an n = 20 result. "
        "The footnote's 'may not be attained' does not arise for family (8): phi is coercive on S and "
        "its minimum is attained (proof in the derivation)."),),
    "4": (Erratum(
        "the reported GD++ loss is a sample loss, not the population loss of Theorem 4",
        "Section 5.1 (n = 10 in the text) reports B_0 ~ 0.90 I, B_1 ~ 0.56 I, "
        "Sigma^1/2 A_l Sigma^1/2 ~ -0.38 I, -2.40 I, -9.59 I and a log loss of about -6 to -7.",
        "Training on sampled prompts at n = 20 (the official code's n) reproduces those values and "
        "that log loss (sample loss ~ 0.0008). They are not critical points of the population loss "
        "f: the exact phi there is 0.0477 (ln -3.04) with a gradient far from 0, and about 98.6% of "
        "it comes from eigenvalues of S_hat of spectral weight below 1e-6 (the GD++ residual is a "
        "degree-13 polynomial in S_hat), which no sample contains. At n = 10 the printed values give "
        "phi = 6.3e6. The critical points of phi that Theorem 4 is about (computed here) lie "
        "elsewhere; the lowest found has phi = 0.000961 (ln -6.95). See the notes below for this "
        "run's numbers."),),
    "5": (Erratum(
        "rescaling with g < 0",
        "Theorem 5: the global minimiser is (P_0, Q_0) up to the rescaling (gP, Q/g).",
        "The loss is invariant for every g != 0, but relu(-u) != -relu(u): with g < 0 the "
        "rescaled pair is another global minimiser of the loss that computes a different "
        "predictor. 'Up to rescaling' holds for the predictor only with g > 0; training reaches "
        "both branches.",
        steps=("g = -1 keeps the loss", "positively homogeneous"), checks=("same branch",)),),
}


def derivations_for(claim_id: str) -> tuple:
    """The derivation callables of a claim (empty for a claim without an entry)."""
    return DERIVATIONS.get(claim_id, ())
