"""Draw the claims' figure data (:mod:`verify.experiments.data`) beside a report.

Each claim names its experiments in ``claim.figures`` (:mod:`verify.experiments.gallery`);
they return typed figure data.  This module only draws it (:mod:`.figures`), writes the PNGs
atomically and returns :class:`.render.Figure` records whose caption is the description
generated from the drawn data followed by the experiment's own caption.
"""

from __future__ import annotations

from pathlib import Path

from ..experiments.data import Curves, Heatmaps
from . import figures as fg
from .io import atomic_write_bytes
from .render import Figure

__all__ = ["build_figures", "draw"]


def draw(data, out_dir: Path) -> Figure:
    """Draw one :class:`Heatmaps` or :class:`Curves`, write its PNG, return its Figure record."""
    if isinstance(data, Heatmaps):
        drawn = fg.heatmap_figure(data.rows, data.title, groups=data.groups)
    elif isinstance(data, Curves):
        drawn = fg.curve_figure(
            data.series, data.title, data.xlabel, data.ylabel, hlines=data.hlines, **data.options
        )
    else:
        raise TypeError(f"figure data must be Heatmaps or Curves; got {type(data).__name__}")
    atomic_write_bytes(Path(out_dir) / data.filename, drawn.png)
    caption = " ".join(x for x in (drawn.caption, data.caption) if x)
    return Figure(data.filename, data.heading, caption, data.scaling)


def build_figures(claim, verdict, setting, out_dir, budget) -> tuple:
    """Run the claim's figure experiments (``claim.figures``) and draw them; returns
    (Figure records, figure data) in order."""
    data = []
    for experiment in claim.figures:
        data += experiment(claim.id, verdict, setting, budget)
    return [draw(d, out_dir) for d in data], data
