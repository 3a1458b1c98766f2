"""Figure helpers shared by every plot: new figures and saving them.

Figures are built with matplotlib's object-oriented API (``matplotlib.figure.Figure``),
never through pyplot's global state, so no backend is forced on the caller: a script, a
notebook or a GUI keeps whatever backend it chose, and files are written by the
figure's own canvas.
"""
from __future__ import annotations

from pathlib import Path

from matplotlib import colormaps
from matplotlib.figure import Figure


def subplots(nrows: int = 1, ncols: int = 1, figsize=(5.5, 4), **kwargs):
    """A new (Figure, axes) pair, as pyplot.subplots but without a global figure."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def colors(name: str, n: int, start: float = 0.0, stop: float = 0.85):
    """``n`` colours evenly spaced on the colormap ``name`` from ``start`` to ``stop``."""
    cmap = colormaps[name]
    return [cmap(start + (stop - start) * k / max(n - 1, 1)) for k in range(n)]


def save(fig, path, formats=("png", "pdf")) -> list[Path]:
    """Save ``fig`` as path.<fmt> for each format; returns the written paths."""
    path = Path(path)
    written = []
    for fmt in formats:
        target = path.with_suffix("." + fmt)
        fig.savefig(target, dpi=150, bbox_inches="tight")
        written.append(target)
    return written
