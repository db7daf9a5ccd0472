"""Experiments behind the report figures, below the claims: protocols (:mod:`.protocol`),
training runs (:mod:`.runs`) and the per-claim figure builders (:mod:`.gallery`), which return
typed figure data (:mod:`.data`).  Nothing here draws or writes files; :mod:`verify.report`
only renders what these return.
"""
