"""Typed figure data: what an experiment hands to the report layer, which only draws it.

A builder of :mod:`.gallery` returns a list of :class:`Heatmaps` and :class:`Curves`; the
report (:mod:`verify.report.gallery`) draws each one (:mod:`verify.report.figures`), writes the
PNG ``filename`` beside the report and prints the caption generated from the drawn data
followed by ``caption``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Heatmaps", "Curves", "FigureData"]


@dataclass(frozen=True)
class FigureData:
    """Common fields: the PNG's ``filename``, the report's ``heading`` and the figure's
    ``title``; ``caption`` (text after the generated description), ``scaling`` (the protocol
    against the paper's); ``paper_figure`` the paper figure it reproduces ('' if none),
    ``protocol`` the protocol's short description, ``paper_values`` the paper's reported
    values it is compared with and ``ours`` this run's, as text ('' if none)."""

    filename: str
    heading: str
    title: str
    caption: str = ""
    scaling: str = ""
    paper_figure: str = ""
    protocol: str = ""
    paper_values: str = ""
    ours: str = ""


@dataclass(frozen=True)
class Heatmaps(FigureData):
    """Rows of matrix heat maps: ``rows`` = [(row label, [(panel title, matrix)], source)];
    ``groups`` (optional, one name per row): rows of one group share a colour scale per column."""

    rows: list = field(default_factory=list)
    groups: list | None = None


@dataclass(frozen=True)
class Curves(FigureData):
    """Line plot: ``series`` [(label, x, y)], ``hlines`` [(label, y or (xs, ys), style)] and the
    keyword arguments of :func:`verify.report.figures.curve_figure` in ``options``."""

    series: list = field(default_factory=list)
    xlabel: str = ""
    ylabel: str = ""
    hlines: list = field(default_factory=list)
    options: dict = field(default_factory=dict)
