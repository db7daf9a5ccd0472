"""The setting of a verification run: dimensions, data distribution, seed, effort.

Randomness: every consumer draws from its own ``numpy.random.Generator`` derived from
``(seed, stream name)``, so adding a consumer never shifts another one's numbers.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .errors import AssumptionError
from .limits import check_limits
from .sampling import PAPER_SPECTRUM, PromptLaw, make_sigma, validate_spectrum

__all__ = ["Setting", "parse_spectrum", "AssumptionError"]

PRIORS = ("identity", "inverse")


def parse_spectrum(text: str) -> tuple:
    """Parse ``"l1,...,ld"`` into numbers (syntax only: the :class:`Setting` validates them, by
    :func:`verify.sampling.validate_spectrum`); ValueError names what was wrong."""
    parts = [p.strip() for p in str(text).split(",")]
    if not parts or any(p == "" for p in parts):
        raise ValueError(
            f"--spectrum must be a comma-separated list of numbers like 1,0.5,0.25; got {text!r}"
        )
    vals = []
    for p in parts:
        try:
            vals.append(float(p))
        except ValueError:
            raise ValueError(
                f"--spectrum entries must be numbers; {p!r} in {text!r} is not"
            ) from None
    return tuple(vals)


@dataclass(frozen=True)
class Setting:
    """One verification setting (conventions: :mod:`verify.conventions`).

    ``spectrum``: eigenvalues of Sigma (length d); default the paper's (1, 1, 0.25, 0.0625, 1)
    cycled to length d.  ``prior``: ``identity`` (w* ~ N(0, I)) or ``inverse``
    (w* ~ N(0, Sigma^{-1})).  ``noise``: variance of the context-label noise.
    """

    d: int = 5
    n: int = 20
    spectrum: tuple | None = None
    rotate: bool = True
    prior: str = "identity"
    noise: float = 0.0
    seed: int = 0
    quick: bool = False
    layers: int | None = None
    resolution: float | None = (
        None  # requested resolution (claims 1 and 5; see README "Resolution")
    )

    def __post_init__(self):
        """Every field validated once, in constant time, before anything is built: types, ranges,
        then the limits of :mod:`verify.limits` (sizes first, so a huge d builds nothing)."""
        for name in ("d", "n", "seed"):
            _integer(name, getattr(self, name))
        if self.d < 1:
            raise ValueError(f"d (covariate dimension) must be >= 1; got {self.d}")
        if self.n < 1:
            raise ValueError(f"n (number of context examples) must be >= 1; got {self.n}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0; got {self.seed}")
        for name in ("rotate", "quick"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(
                    f"{name} must be True or False; got {type(getattr(self, name)).__name__}"
                )
        if not isinstance(self.prior, str) or self.prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}; got {_show(self.prior)}")
        if not (_real(self.noise) and math.isfinite(self.noise) and self.noise >= 0):
            raise ValueError(
                f"noise is a variance and must be a finite number >= 0; got {_show(self.noise)}"
            )
        if self.layers is not None:
            _integer("layers", self.layers)
            if self.layers < 1:
                raise ValueError(f"layers must be an integer >= 1; got {self.layers}")
        if self.resolution is not None and not (_real(self.resolution) and 0 < self.resolution < 1):
            raise ValueError(
                "resolution is a relative Frobenius deviation and must be a number in (0, 1); "
                f"got {_show(self.resolution)}"
            )
        check_limits(self.d, self.n)  # before the spectrum: a d-tuple of a huge d is never built
        if self.spectrum is not None:
            object.__setattr__(self, "spectrum", validate_spectrum(self.spectrum, self.d))
        check_limits(self.d, self.n, self.eigenvalues, self.noise, self.prior)

    @property
    def eigenvalues(self) -> tuple:
        if self.spectrum is not None:
            return self.spectrum
        return tuple(PAPER_SPECTRUM[i % len(PAPER_SPECTRUM)] for i in range(self.d))

    def rng(self, stream: str) -> np.random.Generator:
        """An independent generator for the named stream of this seed."""
        return np.random.default_rng([self.seed, zlib.crc32(stream.encode())])

    @cached_property
    def sigma(self) -> np.ndarray:
        """Sigma = U^T diag(eigenvalues) U (U from the seed's "sigma" stream), drawn once per
        setting and read-only (every consumer sees the same matrix)."""
        S = make_sigma(self.eigenvalues, self.rng("sigma"), rotate=self.rotate)
        S.setflags(write=False)
        return S

    @cached_property
    def law(self) -> PromptLaw:
        """The law of this setting's prompts: Sigma, Omega (None for I, else Sigma^{-1}), noise;
        built once (every sampler call of a run samples this object)."""
        omega = None if self.prior == "identity" else np.linalg.inv(self.sigma)
        return PromptLaw(self.sigma, omega, self.noise)

    def describe(self, sigma: np.ndarray) -> dict:
        out = {
            "d": self.d,
            "n": self.n,
            "spectrum": list(self.eigenvalues),
            "rotation": self.rotate,
            "prior": self.prior,
            "noise": self.noise,
            "seed": self.seed,
            "quick": self.quick,
        }
        if self.layers is not None:
            out["layers"] = self.layers
        if self.resolution is not None:
            out["requested_resolution"] = self.resolution
        out["sigma"] = sigma
        return out


def _integer(name: str, v) -> None:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise ValueError(f"{name} must be an integer; got {_show(v)}")


def _show(v) -> str:
    """A short description of a bad value (its repr if short, else its type)."""
    try:
        text = repr(v)
    except Exception:  # noqa: BLE001  a hostile __repr__
        text = ""
    return text if isinstance(text, str) and len(text) <= 60 else f"a {type(v).__name__}"


def _real(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
        v, (bool, np.bool_)
    )
