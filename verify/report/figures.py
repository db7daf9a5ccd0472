"""Deterministic PNG figures (matplotlib, Agg, no pyplot state): heat maps and curves.

Each function takes arrays and returns PNG bytes.  Determinism: matplotlib's default style
(any user matplotlibrc is ignored), a fixed dpi, and the PNG metadata stripped of the
software version (PNGs carry no date by default).
"""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display; must precede any figure creation

from matplotlib.figure import Figure  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["heatmaps", "curves", "DPI"]

DPI = 100
_RC = {k: v for k, v in matplotlib.rcParamsDefault.items()
       if k not in ("backend", "backend_fallback", "interactive")}


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def heatmaps(rows, title: str, annotate: bool = True) -> bytes:
    """Grid of matrix heat maps.  ``rows``: list of (row label, [(panel title, matrix), ...]).

    Panels in the same column share a symmetric colour scale, so a learned matrix and its
    closed form (stacked in one column) are read on the same scale.
    """
    with matplotlib.rc_context(_RC):
        ncol = max(len(panels) for _, panels in rows)
        fig = Figure(figsize=(2.6 * ncol + 0.6, 2.5 * len(rows) + 0.6))
        axes = fig.subplots(len(rows), ncol, squeeze=False)
        scale = [max(float(np.max(np.abs(p[j][1]))) for _, p in rows if j < len(p)) or 1.0 for j in range(ncol)]
        for i, (label, panels) in enumerate(rows):
            for j in range(ncol):
                ax = axes[i][j]
                if j >= len(panels):
                    ax.axis("off")
                    continue
                name, M = panels[j]
                M = np.asarray(M, dtype=float)
                im = ax.imshow(M, cmap="RdBu_r", vmin=-scale[j], vmax=scale[j])
                ax.set_title(name, fontsize=9)
                ax.set_xticks([])
                ax.set_yticks([])
                if annotate and M.shape[0] <= 6:
                    for (r, c), v in np.ndenumerate(M):
                        ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=6.5,
                                color="white" if abs(v) > 0.6 * scale[j] else "black")
                if j == 0:
                    ax.set_ylabel(label, fontsize=9)
                fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04).ax.tick_params(labelsize=7)
        fig.suptitle(title, fontsize=10)
        fig.tight_layout()
        return _png(fig)


def curves(series, title: str, xlabel: str, ylabel: str, *, hlines=(), vline=None, logy: bool = False,
           markers: bool = False, ylim_bottom=None, integer_x: bool = False) -> bytes:
    """Line plot.  ``series``: [(label, x, y)]; ``hlines``: [(label, y, style)] exact values, a
    scalar (horizontal line) or a pair (xs, ys) (a curve; style "none" draws stars only);
    ``vline``: x of a phase change (dotted)."""
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(6.4, 4.0))
        ax = fig.subplots()
        for label, x, y in series:
            ax.plot(x, y, label=label, marker="o" if markers else None, markersize=3.5, linewidth=1.3)
        colors = ("black", "tab:red", "tab:purple")
        for k, (label, y, style) in enumerate(hlines):
            if np.ndim(y) == 0:
                ax.axhline(float(y), color=colors[k % 3], linestyle=style, linewidth=1.2, label=label)
            else:
                xs, ys = y
                ax.plot(xs, ys, color=colors[k % 3], linestyle=style, linewidth=1.6, label=label,
                        marker="*" if style == "none" else None, markersize=11)
        if vline is not None:
            ax.axvline(vline, color="grey", linestyle=":", linewidth=1)
        if logy:
            ax.set_yscale("log")
        if ylim_bottom is not None:
            ax.set_ylim(bottom=ylim_bottom)
        if integer_x:
            from matplotlib.ticker import MaxNLocator
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        return _png(fig)
