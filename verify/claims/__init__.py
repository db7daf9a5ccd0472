"""The registry: claim id -> :class:`Claim`.  The CLI and the API are lookups in it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..setting import Setting
from . import lemma1, lemma4, theorem1, theorem2, theorem3, theorem4, theorem5

__all__ = ["Claim", "CLAIMS", "get_claim"]


@dataclass(frozen=True)
class Claim:
    """A claim of the paper as data: id, statement, source, how to run it."""

    id: str
    title: str
    source: str
    statement: str
    run: Callable
    default_setting: Callable = Setting
    takes_candidate: bool = False


CLAIMS = {
    "lemma1": Claim(
        "lemma1", "Lemma 1: linear attention implements preconditioned GD", "Lemma 1, eq. (8)",
        "With P_l = [[0,0],[0,1]], Q_l = -[[A_l,0],[0,0]], [Z_l]_{d+1,n+1} = -<x_q, w_l> where "
        "w_{l+1} = w_l - A_l grad R(w_l).", lemma1.run),
    "1": Claim(
        "1", "Theorem 1: the one-layer global optimum", "Theorem 1, eqs. (6)-(7)",
        "For x ~ N(0, Sigma), w* ~ N(0, I), a global minimiser over all (P, Q) with L = 1 is "
        "P_0 = [[0,0],[0,1]], Q_0 = -[[Gamma^{-1},0],[0,0]], Gamma = ((n+1)/n) Sigma + (tr Sigma/n) I.",
        theorem1.run, takes_candidate=True),
    "2": Claim(
        "2", "Theorem 2: diagonal global minimiser of two layers", "Theorem 2",
        "For x ~ N(0, I), w* ~ N(0, I), L = 2, family (8) with symmetric A_0, A_1: some diagonal "
        "A_0, A_1 form a global minimiser of f.", theorem2.run, theorem2.default_setting),
    "3": Claim(
        "3", "Theorem 3: critical points of family (8) on S", "Theorem 3, eq. (10)",
        "For x ~ N(0, Sigma), w* ~ N(0, Sigma^-1), family (8): inf over S = {A_l = a_l Sigma^-1} of "
        "sum_l ||grad_{A_l} f||_F^2 is 0.", theorem3.run, theorem3.default_setting),
    "4": Claim(
        "4", "Theorem 4: critical points of family (11) (GD++) on S", "Theorem 4, eq. (12)",
        "For x ~ N(0, Sigma), w* ~ N(0, Sigma^-1), family (11): inf over S = {A_l = a_l Sigma^-1, "
        "B_l = b_l I} of sum_l ||grad_{A_l} f||^2 + ||grad_{B_l} f||^2 is 0; f does not depend on B_{L-1}.",
        theorem4.run, theorem4.default_setting),
    "lemma4": Claim(
        "lemma4", "Lemma 4: layer permutations on S", "Lemma 4",
        "On S = {A_l = a_l Sigma^-1}, f is invariant under any permutation of the layers' a_l, hence "
        "critical points are not unique.", lemma4.run, lemma4.default_setting),
    "5": Claim(
        "5", "Theorem 5: the one-layer ReLU-attention optimum", "Theorem 5",
        "For x ~ N(0, I), w* ~ N(0, I), ReLU attention, last row of Q zero: a global minimiser is "
        "P_0 = [[0,0],[0,1]], Q_0 = -(2n/(n-1+2(d+2))) [[I,0],[0,0]].",
        theorem5.run, theorem5.default_setting, takes_candidate=True),
}


def get_claim(claim_id) -> Claim:
    key = str(claim_id).strip().lower().replace("theorem", "").replace(" ", "") or str(claim_id)
    if key not in CLAIMS:
        raise ValueError(f"unknown claim {claim_id!r}; known claims: {', '.join(CLAIMS)}")
    return CLAIMS[key]
