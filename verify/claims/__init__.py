"""The registry: claim id -> :class:`~verify.claims.base.Claim`.

Each module here exports one ``CLAIM``; the CLI, the Python API and the reports are lookups in
:data:`CLAIMS` (registry order is the order of the reports' index).  One function runs every
declared claim, :func:`~verify.claims.base.run_claim` (``claim.run``).

Adding a claim: a module with a ``CLAIM = Claim(...)`` that declares ``gather`` (the evidence,
no closed form consulted), ``judge`` (a :class:`~verify.claims.base.Judgement`: the checks,
built from :class:`~verify.checks.CheckDef` records with stable ids, the closed form, notes),
optionally ``prepare`` (a user's candidate), ``controls`` (:class:`~verify.checks.Control`
records) with ``control_checks``, ``checks`` (every CheckDef it may emit), ``hypotheses``,
``errata`` (naming check ids) and ``figures``; an entry in :data:`CLAIMS`; and an entry in
``tests/test_claim_checks.py`` (hand-built evidence its truth passes, one breaker per check id).
"""

from __future__ import annotations

from . import lemma1, lemma4, theorem1, theorem2, theorem3, theorem4, theorem5
from .base import Claim, Erratum, Hypothesis, Judgement, run_claim

__all__ = ["Claim", "Erratum", "Hypothesis", "Judgement", "CLAIMS", "get_claim", "run_claim"]

CLAIMS = {
    c.id: c
    for c in (
        lemma1.CLAIM,
        theorem1.CLAIM,
        theorem2.CLAIM,
        theorem3.CLAIM,
        theorem4.CLAIM,
        lemma4.CLAIM,
        theorem5.CLAIM,
    )
}


def get_claim(claim_id) -> Claim:
    """The claim registered as ``claim_id`` ("lemma1", "1", "Theorem 3", ...); ValueError if none."""
    key = str(claim_id).strip().lower().replace("theorem", "").replace(" ", "") or str(claim_id)
    if key not in CLAIMS:
        raise ValueError(f"unknown claim {claim_id!r}; known claims: {', '.join(CLAIMS)}")
    return CLAIMS[key]
