"""The registry: claim id -> :class:`~verify.claims.base.Claim`.

Each module here exports one ``CLAIM``; the CLI, the Python API and the reports are lookups in
:data:`CLAIMS` (registry order is the order of the reports' index).
"""

from __future__ import annotations

from . import lemma1, lemma4, theorem1, theorem2, theorem3, theorem4, theorem5
from .base import Claim, Erratum, Hypothesis

__all__ = ["Claim", "Erratum", "Hypothesis", "CLAIMS", "get_claim"]

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
