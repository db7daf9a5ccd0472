"""Problem-size and conditioning limits, checked before any work starts.

Bases (measured on this package, two cores, float64):

- Memory.  The largest arrays are the sampled prompts, ``B x (d+1) x (n+1)`` floats with
  B = 200 000 test prompts at the default effort (claims 1, 2, 3, 5).  Peak resident memory of
  ``verify-theorem 1`` at d = 5, n = 20 ((d+1)(n+1) = 126) was 578 MB, about 4.6 MB per unit of
  (d+1)(n+1); the limit ``(d+1)(n+1) <= MAX_PROMPT_ENTRIES = 1024`` keeps a run under about
  5 GB (a fifth of that with ``--quick``).
- Time.  Work grows with the same product (sampling, forward passes) and with the number of
  trained parameters, 2 (d+1)^2 for claim 1 (quasi-Newton and Newton steps cost its cube):
  ``d <= MAX_D = 32`` and ``n <= MAX_N = 1000`` keep one claim within tens of minutes.
- Conditioning.  Float-point floors of the checks grow like eps cond(Sigma)^2 (e.g.
  ``64 d^2 eps cond(Sigma)^2``: 3.5e-5 at cond = 1e4 and d = 5, but 0.35 at cond = 1e6, where
  the checks lose their power), and w* ~ N(0, Sigma^-1) has variance cond(Sigma) times larger
  in the weakest direction.  ``cond(Sigma) <= MAX_CONDITION = 1e4``.
"""
from __future__ import annotations

from .errors import UsageError

__all__ = ["LIMITS_TEXT", "MAX_CONDITION", "MAX_D", "MAX_N", "MAX_PROMPT_ENTRIES", "check_limits"]

MAX_D = 32
MAX_N = 1000
MAX_PROMPT_ENTRIES = 1024
MAX_CONDITION = 1e4

LIMITS_TEXT = (f"d <= {MAX_D}, n <= {MAX_N}, (d+1)(n+1) <= {MAX_PROMPT_ENTRIES} (memory: about 4.6 MB "
               f"per unit, so under about 5 GB), cond(Sigma) = max/min eigenvalue <= {MAX_CONDITION:g}")


def check_limits(d: int, n: int, eigenvalues) -> None:
    """UsageError (one line, stating the limit and its reason) if the problem is too large."""
    if d > MAX_D:
        raise UsageError(f"d = {d} is above the limit d <= {MAX_D} (training time grows like d^6); "
                         "see verify.limits")
    if n > MAX_N:
        raise UsageError(f"n = {n} is above the limit n <= {MAX_N} (memory and time grow with n); "
                         "see verify.limits")
    if (d + 1) * (n + 1) > MAX_PROMPT_ENTRIES:
        raise UsageError(f"(d+1)(n+1) = {(d + 1) * (n + 1)} is above the limit {MAX_PROMPT_ENTRIES}: "
                         "200 000 sampled prompts of that size need about "
                         f"{4.6e-3 * (d + 1) * (n + 1):.1f} GB; use a smaller d or n")
    lam = [float(v) for v in eigenvalues]
    cond = max(lam) / min(lam)
    if cond > MAX_CONDITION:
        raise UsageError(f"cond(Sigma) = {cond:.3g} (max/min eigenvalue of --spectrum) is above the limit "
                         f"{MAX_CONDITION:g}: round-off floors grow like eps cond^2 and the checks "
                         "would lose their power")
