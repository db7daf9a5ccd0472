"""Problem-size and conditioning limits, checked before any work starts.

Bases (measured on this package, two shared cores, float64; CPU seconds, as wall time depends
on the load):

- Memory.  The largest arrays are the sampled prompts, ``B x (d+1) x (n+1)`` floats with
  B = 200 000 test prompts at the default effort (claims 1, 2, 3, 5).  Peak resident memory of
  ``verify-theorem 1`` at d = 5, n = 20 ((d+1)(n+1) = 126) was 578 MB, about 4.6 MB per unit of
  (d+1)(n+1); with ``--quick`` (a fifth of the samples) it was 806 MB at n = 169, the largest n
  the limit ``(d+1)(n+1) <= MAX_PROMPT_ENTRIES = 1024`` allows at d = 5, so a default run stays
  under about 5 GB.  ``n <= MAX_N = 1000`` bounds n alone.
- Time and memory in d.  Claim 1's all-(P, Q) fit keeps a moment matrix with ((d+1)^2 d)^2
  entries, built from chunks of 20 000 x (d+1)^2 d floats at (d+1)^4 d^2 flops per prompt, so its
  cost grows like d^6: ``1 --quick`` took 14 s of CPU at d = 5, 37 s and 414 MB at d = 10, and
  more than 180 s and 6.4 GB at d = 31 (stopped).  ``d <= MAX_D = 12`` keeps a default run
  within minutes and a few GB.
- Conditioning.  Why ``3 --spectrum 1,1e-300,1,1,1`` failed: the rotated Sigma = U^T D U is
  formed in float64, which cannot hold an eigenvalue below about eps * max (the float matrix's
  smallest eigenvalue came out as -8e-62: not even positive definite, cond 2e16), so the data no
  longer followed the stated Sigma and whitening by Sigma^{1/2} was singular.  Well before that,
  floating-point floors of the checks grow like eps cond(Sigma)^2 (e.g.
  ``64 d^2 eps cond(Sigma)^2``: 3.5e-5 at cond = 1e4 and d = 5, but 0.35 at cond = 1e6, where
  the checks lose their power), and w* ~ N(0, Sigma^-1) has variance cond(Sigma) times larger
  in the weakest direction.  ``cond(Sigma) <= MAX_CONDITION = 1e4`` (measured: claim 3
  ``--quick`` at spectrum 1,1e-4,1,1,1 passed every check).
- Scale.  The model multiplies up to six covariate entries (a layer's score times a value, over
  L layers), so extreme eigenvalues under- or overflow: ``lemma1 --spectrum 1e-150,1e-150``
  reported its (true) erratum checks as failed, while 1e-8 and 1e8 passed.  Every eigenvalue
  must lie in ``[MIN_EIGENVALUE, MAX_EIGENVALUE] = [1e-8, 1e8]``.
- Noise.  Label noise of variance s^2 adds sampling spread to claim 1's all-(P, Q) fit, whose
  replica spread must stay under ``verify.checks.SPREAD_CEILING`` = 0.25 for a decision.  At the
  default setting (signal variance E[<w*, x>^2] = tr(Omega Sigma) = 3.31) ``1 --quick``, seed 0,
  gave the tolerance of "entries the theorem says vanish" 0.127 at s^2 = 1 (ratio 0.3, PASSED),
  0.196 at 3.31 (ratio 1, PASSED), 0.40 at 10 (ratio 3, INCONCLUSIVE), 0.67 at 33.1 (ratio 10,
  INCONCLUSIVE); at 1e308 the squares overflow.  ``s^2 <= MAX_NOISE_RATIO tr(Omega Sigma)``
  with ratio 1 (noise no larger than the signal) is the largest ratio measured decided; the
  calibration sweep (``benchmarks/calibration.py``) holds noisy settings up to ratio 0.82 and
  its corners run at the limit itself.  The ratio (not an absolute variance) keeps the limit
  scale-equivariant, like the problem.
"""

from __future__ import annotations

from .errors import UsageError

__all__ = [
    "LIMITS_TEXT",
    "MAX_CONDITION",
    "MAX_D",
    "MAX_EIGENVALUE",
    "MAX_N",
    "MAX_NOISE_RATIO",
    "MAX_PROMPT_ENTRIES",
    "MIN_EIGENVALUE",
    "check_limits",
    "signal_variance",
]

MAX_D = 12
MAX_N = 1000
MAX_PROMPT_ENTRIES = 1024
MAX_CONDITION = 1e4
MIN_EIGENVALUE, MAX_EIGENVALUE = 1e-8, 1e8
MAX_NOISE_RATIO = 1.0

LIMITS_TEXT = (
    f"d <= {MAX_D}, n <= {MAX_N}, (d+1)(n+1) <= {MAX_PROMPT_ENTRIES} (memory: about 4.6 MB "
    f"per unit, so under about 5 GB), cond(Sigma) = max/min eigenvalue <= {MAX_CONDITION:g}, "
    f"eigenvalues in [{MIN_EIGENVALUE:g}, {MAX_EIGENVALUE:g}], noise variance <= "
    f"{MAX_NOISE_RATIO:g} tr(Omega Sigma) (the signal's variance)"
)


def check_limits(d: int, n: int, eigenvalues=None, noise: float = 0.0, prior: str = "identity"):
    """UsageError (one line, stating the limit and its reason) if the problem is too large.

    Sizes first, in constant time; then, given ``eigenvalues`` (d of them, so at most MAX_D),
    the conditioning, the eigenvalue range and the noise relative to the signal.
    """
    if d > MAX_D:
        raise UsageError(
            f"d = {d} is above the limit d <= {MAX_D} (claim 1's moment matrix has "
            "((d+1)^2 d)^2 entries and costs grow like d^6); see verify.limits"
        )
    if n > MAX_N:
        raise UsageError(
            f"n = {n} is above the limit n <= {MAX_N} (memory and time grow with n); "
            "see verify.limits"
        )
    if (d + 1) * (n + 1) > MAX_PROMPT_ENTRIES:
        raise UsageError(
            f"(d+1)(n+1) = {(d + 1) * (n + 1)} is above the limit {MAX_PROMPT_ENTRIES}: "
            "200 000 sampled prompts of that size need about "
            f"{4.6e-3 * (d + 1) * (n + 1):.1f} GB; use a smaller d or n"
        )
    if eigenvalues is None:
        return
    lam = [float(v) for v in eigenvalues]
    cond = max(lam) / min(lam)
    if cond > MAX_CONDITION:
        raise UsageError(
            f"cond(Sigma) = {cond:.3g} (max/min eigenvalue of --spectrum) is above the limit "
            f"{MAX_CONDITION:g}: round-off floors grow like eps cond^2 (and a rotated Sigma "
            "cannot hold eigenvalues below eps * max), so the checks would lose their power"
        )
    if not MIN_EIGENVALUE <= min(lam) <= max(lam) <= MAX_EIGENVALUE:
        raise UsageError(
            f"eigenvalues of Sigma must lie in [{MIN_EIGENVALUE:g}, {MAX_EIGENVALUE:g}] (the model "
            f"multiplies up to six covariate entries, which would under- or overflow); got "
            f"min {min(lam):.3g}, max {max(lam):.3g}"
        )
    signal = signal_variance(lam, prior)
    if noise > MAX_NOISE_RATIO * signal:
        raise UsageError(
            f"--noise {noise:g} is above the limit {MAX_NOISE_RATIO:g} x the signal variance "
            f"E[<w*, x>^2] = tr(Omega Sigma) = {signal:.4g} (here {MAX_NOISE_RATIO * signal:.4g}): "
            "beyond it the sampling error swamps the checks; see verify.limits"
        )


def signal_variance(eigenvalues, prior: str) -> float:
    """E[<w*, x>^2] = tr(Omega Sigma): tr(Sigma) for w* ~ N(0, I), d for N(0, Sigma^-1)."""
    lam = [float(v) for v in eigenvalues]
    return float(len(lam)) if prior == "inverse" else float(sum(lam))
