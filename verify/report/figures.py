"""Deterministic PNG figures (matplotlib, Agg, no pyplot state) and the captions that describe them.

:func:`heatmap_figure` and :func:`curve_figure` return a :class:`Drawn`: the PNG bytes and a
caption generated from the very data drawn (how many rows and panels, what each panel shows
and its values, each curve's start and end, the reference lines and their values), so a
caption cannot fall out of step with its figure.  :func:`heatmaps` and :func:`curves` return
the PNG bytes alone.

Determinism: matplotlib's default style (any user matplotlibrc is ignored), a fixed dpi, and
the PNG metadata stripped of the software version (PNGs carry no date by default).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # no display; must precede any figure creation

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullFormatter

__all__ = ["DPI", "Drawn", "curve_figure", "curves", "heatmap_figure", "heatmaps", "matrix_summary"]

DPI = 100
_RC = {
    k: v
    for k, v in matplotlib.rcParamsDefault.items()
    if k not in ("backend", "backend_fallback", "interactive")
}


@dataclass(frozen=True)
class Drawn:
    """A drawn figure: ``png`` bytes and the ``caption`` generated from the data it shows."""

    png: bytes
    caption: str


def _png(fig, tight: bool = False) -> bytes:
    """PNG bytes; ``tight`` grows the canvas to hold artists outside the axes (a legend)."""
    buf = io.BytesIO()
    extra = {"bbox_inches": "tight", "pad_inches": 0.1} if tight else {}
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None}, **extra)
    return buf.getvalue()


def _g(x, digits: int = 3) -> str:
    return f"{float(x):.{digits}g}"


def matrix_summary(M) -> str:
    """What a heat map of ``M`` shows, in words: ``c I`` for a multiple of the identity, else a
    square matrix's diagonal mean and largest off-diagonal entry, else the range of its entries."""
    M = np.atleast_2d(np.asarray(M, dtype=float))
    if M.shape[0] == M.shape[1] and M.shape[0] > 1:
        diag = np.diag(M)
        off = float(np.max(np.abs(M - np.diag(diag))))
        if off == 0 and np.all(diag == diag[0]):
            return f"{_g(diag[0])} I"
        return f"diagonal mean {_g(np.mean(diag))}, off-diagonal entries up to {_g(off, 2)} in size"
    return f"entries from {_g(M.min())} to {_g(M.max())}"


def _rows(rows) -> list:
    """Normalise heat-map rows to (label, panels, source); ``source`` is optional."""
    out = []
    for row in rows:
        label, panels, *rest = row
        out.append((label, list(panels), rest[0] if rest else ""))
    return out


def _heatmap_caption(rows, scale, annotate: bool, by_group=None) -> str:
    ncol = max(len(p) for _, p, _ in rows)
    n = sum(len(p) for _, p, _ in rows)
    cols = lambda sc: ", ".join(f"column {j + 1}: +-{_g(s)}" for j, s in enumerate(sc))  # noqa: E731
    shared = (
        f"panels in one column share a symmetric colour scale ({cols(scale)})"
        if not by_group
        else "panels in one column and one group of rows share a symmetric colour scale ("
        + "; ".join(f"{g}: {cols(sc)}" for g, sc in by_group.items())
        + ")"
    )
    parts = [
        f"{len(rows)} {'row' if len(rows) == 1 else 'rows'} of heat maps ({n} panels, up to {ncol} "
        f"per row); {shared}" + ("; entries printed to 2 decimals" if annotate else "") + "."
    ]
    for i, (label, panels, source) in enumerate(rows, 1):
        shown = "; ".join(
            name
            if "=" in name and matrix_summary(M).endswith(" I")
            else f"{name}: {matrix_summary(M)}"
            for name, M in panels
        )  # a title "a_0 I = 0.5 I" already states a multiple of I
        parts.append(f"Row {i}, {label}{' (' + source + ')' if source else ''}: {shown}.")
    return " ".join(parts)


def _group_scales(rows, groups) -> tuple:
    """Per row, the symmetric colour scale of each of its columns: rows of one group (``groups[i]``,
    e.g. the A_l rows and the B_l rows of family (11)) share a scale per column."""
    ncol = max(len(p) for _, p, _ in rows)
    keys = list(dict.fromkeys(groups))
    table = {
        g: [
            max(
                (
                    float(np.max(np.abs(p[j][1])))
                    for (_, p, _), h in zip(rows, groups)
                    if h == g and j < len(p)
                ),
                default=0.0,
            )
            or 1.0
            for j in range(ncol)
        ]
        for g in keys
    }
    return [table[g] for g in groups], table


def heatmap_figure(rows, title: str, annotate: bool = True, groups=None) -> Drawn:
    """Grid of matrix heat maps and its caption.

    ``rows``: list of (row label, [(panel title, matrix), ...]) or (row label, panels, source),
    ``source`` saying where the row's matrices come from (caption only).  Panels in the same
    column share a symmetric colour scale, so a learned matrix and its closed form (stacked in
    one column) are read on the same scale.
    """
    rows = _rows(rows)
    ncol = max(len(panels) for _, panels, _ in rows)
    scale = [
        max(float(np.max(np.abs(p[j][1]))) for _, p, _ in rows if j < len(p)) or 1.0
        for j in range(ncol)
    ]
    row_scale, by_group = _group_scales(rows, groups) if groups else ([scale] * len(rows), None)
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(2.6 * ncol + 0.6, 2.5 * len(rows) + 0.6))
        axes = fig.subplots(len(rows), ncol, squeeze=False)
        for i, (label, panels, _) in enumerate(rows):
            for j in range(ncol):
                ax = axes[i][j]
                if j >= len(panels):
                    ax.axis("off")
                    continue
                name, M = panels[j]
                M = np.asarray(M, dtype=float)
                sc = row_scale[i][j]
                im = ax.imshow(M, cmap="RdBu_r", vmin=-sc, vmax=sc)
                ax.set_title(name, fontsize=9)
                ax.set_xticks([])
                ax.set_yticks([])
                if annotate and M.shape[0] <= 6:
                    for (r, c), v in np.ndenumerate(M):
                        ax.text(
                            c,
                            r,
                            f"{round(v, 2) + 0.0:.2f}",
                            ha="center",
                            va="center",
                            fontsize=6.5,  # no -0.00
                            color="white" if abs(v) > 0.6 * sc else "black",
                        )
                if j == 0:
                    ax.set_ylabel(label, fontsize=9)
                fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04).ax.tick_params(labelsize=7)
        fig.suptitle(title, fontsize=10)
        fig.tight_layout()
        png = _png(fig)
    return Drawn(
        png,
        _heatmap_caption(
            rows,
            scale,
            annotate and all(np.asarray(M).shape[0] <= 6 for _, p, _ in rows for _, M in p),
            by_group,
        ),
    )


def heatmaps(rows, title: str, annotate: bool = True) -> bytes:
    """PNG bytes of :func:`heatmap_figure`."""
    return heatmap_figure(rows, title, annotate).png


def _tick_optimum(ax, values) -> None:
    """On a log axis, put a labelled major tick at each reference value and keep the decades
    that are not crowding it (a tick within a factor 10^0.25 of a reference is dropped)."""
    lo, hi = ax.get_ylim()
    decades = [10.0**k for k in range(math.ceil(math.log10(lo)), math.floor(math.log10(hi)) + 1)]
    refs = [v for v in values if lo <= v <= hi and v > 0]
    keep = [t for t in decades if all(abs(math.log10(t / v)) > 0.25 for v in refs)]
    ticks = sorted(keep + refs)
    labels = [_g(t, 4) if t in refs else f"$10^{{{round(math.log10(t))}}}$" for t in ticks]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.set_yticks(ticks, labels)
    if keep:  # decades carry the scale; unlabelled minor ticks between them
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(lo, hi)


def _series_caption(series, hlines, vline, vline_label, logy, xlabel) -> str:
    parts = []
    for label, x, y, *_ in series:
        x, y = list(x), list(y)
        if x:
            parts.append(f"{label}: {_g(y[0])} at {xlabel} = {x[0]:g}, {_g(y[-1])} at {x[-1]:g}")
    out = [
        f"{len(series)} {'curve' if len(series) == 1 else 'curves'} against {xlabel}"
        + (" (log-scale y axis)" if logy else "")
        + ": "
        + "; ".join(parts)
        + "."
    ]
    for label, y, style in hlines:
        kind = {"--": "dashed", "none": "starred", "o": "circled", ":": "dotted"}.get(
            style, "solid"
        )
        if np.ndim(y) == 0:
            tick = " (ticked on the axis)" if logy and float(y) > 0 else ""
            out.append(f"{kind.capitalize()} line: {label} = {_g(y, 6)}{tick}.")
        else:
            xs, ys = list(y[0]), list(y[1])
            pairs = list(zip(xs, ys)) if len(xs) <= 4 else [(xs[0], ys[0]), (xs[-1], ys[-1])]
            vals = (", " if len(xs) <= 4 else " to ").join(f"{_g(v, 4)} at {x:g}" for x, v in pairs)
            out.append(
                f"{kind.capitalize()} reference{'s' if len(xs) > 1 else ''}: {label} ({vals})."
            )
    if vline is not None:
        out.append(
            f"Dotted vertical line at {xlabel} = {vline:g}"
            + (f": {vline_label}." if vline_label else ".")
        )
    return " ".join(out)


def curve_figure(
    series,
    title: str,
    xlabel: str,
    ylabel: str,
    *,
    hlines=(),
    vline=None,
    vline_label: str = "",
    logy: bool = False,
    markers: bool = False,
    ylim_bottom=None,
    integer_x: bool = False,
    xname: str = "",
) -> Drawn:
    """Line plot and its caption.

    ``series``: [(label, x, y)] or [(label, x, y, line keywords)]; ``hlines``: [(label, y,
    style)] exact values, a scalar (horizontal line; on a log axis it gets a labelled tick) or a
    pair (xs, ys) (a curve; style "none" draws stars only, "o" rings only); the legend sits
    below the axes; ``vline``: x of a phase change (dotted), ``vline_label`` what it is;
    ``xname``: the x variable's short name in the caption (default ``xlabel``).
    """
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(6.4, 4.0))
        ax = fig.subplots()
        for label, x, y, *style in series:  # an optional 4th item: matplotlib line keywords
            ax.plot(
                x,
                y,
                label=label,
                marker="o" if markers else None,
                markersize=3.5,
                linewidth=1.3,
                **(style[0] if style else {}),
            )
        colors = ("black", "tab:red", "tab:purple")
        for k, (label, y, style) in enumerate(hlines):
            if np.ndim(y) == 0:
                ax.axhline(
                    float(y), color=colors[k % 3], linestyle=style, linewidth=1.2, label=label
                )
            else:
                xs, ys = y
                hollow = style == "o"  # a ring, so a star at the same point stays visible
                ax.plot(
                    xs,
                    ys,
                    color=colors[k % 3],
                    linestyle="none" if hollow else style,
                    linewidth=1.6,
                    label=label,
                    marker="o" if hollow else "*" if style == "none" else None,
                    markersize=16 if hollow else 11,
                    markerfacecolor="none" if hollow else None,
                    markeredgewidth=1.6 if hollow else None,
                )
        if vline is not None:
            ax.axvline(vline, color="grey", linestyle=":", linewidth=1)
        if logy:
            ax.set_yscale("log")
        if ylim_bottom is not None:
            ax.set_ylim(bottom=ylim_bottom)
        refs = [float(y) for _, y, _ in hlines if np.ndim(y) == 0]
        if logy and refs:
            _tick_optimum(ax, refs)
        if integer_x:
            from matplotlib.ticker import MaxNLocator

            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
        # below the axes, never over the data
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
        fig.tight_layout()
        png = _png(fig, tight=True)
    return Drawn(png, _series_caption(series, hlines, vline, vline_label, logy, xname or xlabel))


def curves(series, title: str, xlabel: str, ylabel: str, **kwargs) -> bytes:
    """PNG bytes of :func:`curve_figure`."""
    return curve_figure(series, title, xlabel, ylabel, **kwargs).png
