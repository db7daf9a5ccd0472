"""The paper's conventions as the package uses them, and the glossary of paper symbols.

This module is the repository's reference for the conventions every docstring relies on;
``verify-theorem all --report DIR`` writes it as ``DIR/conventions.md`` (:func:`render`), so
the docs page is generated, never hand-written.  Source: Ahn, Cheng, Daneshmand & Sra,
*Transformers learn to implement preconditioned gradient descent for in-context learning*,
NeurIPS 2023, Section 2 (eqs. (1)-(5)), eqs. (8) and (11), Section 6; the official code
github.com/chengxiang/LinearTransformer.
"""

from __future__ import annotations

from .markdown import escape_text, table

__all__ = ["SETTING", "CODE_CONVENTION", "FAMILIES", "SYMMETRIES", "GLOSSARY", "render"]

#: Section 2 of the paper: data, prompt, attention, depth, read-out, objective.
SETTING = (
    (
        "Data",
        "Covariates x^(1), ..., x^(n+1) i.i.d. in R^d, task vector w* in R^d, labels "
        "y^(i) = <w*, x^(i)> (no label noise anywhere in the paper; the package's --noise adds "
        "context-label noise for generalisations only).",
    ),
    (
        "Prompt (eq. 1)",
        "Tokens are COLUMNS: Z_0 = [[x^(1) ... x^(n) x^(n+1)], [y^(1) ... y^(n) 0]], "
        "shape (d+1) x (n+1); the query's label slot is 0.",
    ),
    (
        "Mask",
        "M = diag(1, ..., 1, 0) in R^{(n+1) x (n+1)}: the query column is never a key or value.",
    ),
    (
        "Linear self-attention (eq. 3)",
        "Attn_{P,Q}(Z) = P Z M (Z^T Q Z), with P, Q in R^{(d+1) x (d+1)}.",
    ),
    (
        "Depth (eq. 4)",
        "Z_{l+1} = Z_l + (1/n) Attn_{P_l,Q_l}(Z_l), l = 0, ..., L-1. The factor is 1/n "
        "(the number of context examples), not 1/(n+1).",
    ),
    ("Read-out", "TF_L(Z_0) = -[Z_L]_{d+1,n+1} (minus sign)."),
    (
        "Objective",
        "f = E[([Z_L]_{d+1,n+1} + <w*, x^(n+1)>)^2] = E[(TF_L - <w*, x^(n+1)>)^2]: the plain "
        "mean square, no 1/2 (the appendix's and the official code's form; secondary "
        "transcriptions of eq. (5) print the other sign, read as a typo).",
    ),
    (
        "Nonlinear attention (Section 6)",
        "Attn^sigma_{P,Q}(Z) = P Z M sigma(Z^T Q Z), sigma entry-wise (Theorem 5: ReLU).",
    ),
    (
        "Covariance (Section 4.3)",
        "Sigma = U^T D U, U Haar-random orthogonal, D = diag(1, 1, 0.25, 0.0625, 1) "
        "by default (--spectrum sets D, --no-rotation sets U = I).",
    ),
)

#: The official code's score and what it changes.
CODE_CONVENTION = (
    "The official code scores z_query^T Q z_key, so its trainable Q block is the TRANSPOSE of "
    "eq. (3)'s; the two models' outputs agree to round-off once that block is transposed. On the "
    "sets S of Theorems 3 and 4 (symmetric A_l) this changes nothing. For a non-symmetric A_l, "
    "Lemma 1's printed recursion w_{l+1} = w_l - A_l grad R(w_l) holds in the code's convention, "
    "while eq. (3) read literally gives w_{l+1} = w_l - A_l^T grad R(w_l); the Lemma 1 report runs "
    "and states both readings. The package's model (verify.model) follows eq. (3) literally."
)

#: The parameter families (verify.families.FAMILY8 / FAMILY11).
FAMILIES = (
    (
        "Family (8)",
        "P_l = [[0,0],[0,1]], Q_l = -[[A_l,0],[0,0]] (Lemma 1, Theorems 2 and 3, Lemma 4). "
        "The paper's Fig. 2 prints the code's Q block, i.e. -A_l: values reported there as "
        "-0.69 I are a_l = 0.69 here.",
    ),
    (
        "Family (11)",
        "P_l = [[B_l,0],[0,1]], Q_l = [[A_l,0],[0,0]] with NO minus sign, as in the paper's "
        "Figs. 4-5 (Theorem 4, GD++; the code's block is A_l^T). f does not depend on B_{L-1}.",
    ),
    (
        "Sets S",
        "Theorem 3: S = {A_l = a_l Sigma^{-1}}; Theorem 4: S = {A_l = a_l Sigma^{-1}, B_l = b_l I}.",
    ),
)

#: Symmetries every comparison factors out (verify.compare).
SYMMETRIES = (
    "Rescaling (P, Q) -> (gP, Q/g): one layer is compared through invariants (A_eff = -(p_y Q11 + "
    "p_x q21^T) for linear attention, B_eff = p_y Q11 for ReLU, where g < 0 changes the predictor).",
    "For L = 1 the loss sees P only through its last row and Q only through its first d columns.",
    "The bilinear form z^T Q z sees only the symmetric part of the product it forms.",
    "On S the loss of family (8) is invariant under permutations of the layers (Lemma 4): trained "
    "layers are compared in a canonical order (sorted step sizes).",
    "Dist(M, I) = min_a ||M - a I||_F / ||M||_F (a = tr M / d), applied to Sigma^{1/2} A_l Sigma^{1/2}.",
)

#: Paper symbol -> code name.
GLOSSARY = (
    ("d, n, L", "d, n, L (Setting.d, Setting.n, Setting.layers)"),
    ("Sigma, Sigma^{-1}", "sigma, omega (covariance of w*: I or Sigma^{-1}, Setting.prior)"),
    ("Z_0, M", "Prompts.Z0 (batch, d+1, n+1); the mask is applied by slicing off the query column"),
    ("P_l, Q_l", "the (P, Q) pairs of a parametrisation's unpack(theta)"),
    ("A_l, B_l", "the d x d blocks of theta, A_0..A_{L-1} then (family (11)) B_0..B_{L-1}"),
    ("a_l, b_l", "step sizes on S: a_l = tr(Sigma^{1/2} A_l Sigma^{1/2}) / d, b_l = tr(B_l) / d"),
    ("phi_L", "theory.restricted.RestrictedLoss: the exact loss on S"),
    ("Gamma", "theory.single_layer.gamma: (n+1)/n Sigma + tr(Sigma)/n I (eq. 6)"),
    ("batch size", "N (Summaries.count, Prompts.B): never B, which is the family-(11) matrix B_l"),
)


def render() -> str:
    """The conventions as a Markdown page (docs/conventions.md)."""
    out = [
        "# Conventions",
        "",
        "Generated from `verify/conventions.py` by `verify-theorem all --report docs/`; every "
        "docstring of the package refers here. Paper: Ahn, Cheng, Daneshmand & Sra, NeurIPS 2023.",
        "",
        "## Setting (Section 2)",
        "",
    ]
    out += [f"- **{escape_text(name)}**: {escape_text(text)}" for name, text in SETTING]
    out += [
        "",
        "## The official code's Q block",
        "",
        escape_text(CODE_CONVENTION),
        "",
        "## Parameter families",
        "",
    ]
    out += [f"- **{escape_text(name)}**: {escape_text(text)}" for name, text in FAMILIES]
    out += ["", "## Symmetries factored out by every comparison", ""]
    out += [f"- {escape_text(text)}" for text in SYMMETRIES]
    out += ["", "## Glossary", ""] + table(["paper", "code"], list(GLOSSARY))
    return "\n".join(out) + "\n"
