"""Figure helpers shared by every plot: new figures and saving them.

Figures are built with matplotlib's object-oriented API (``matplotlib.figure.Figure``),
never through pyplot's global state, so no backend is forced on the caller: a script, a
notebook or a GUI keeps whatever backend it chose, and files are written by the
figure's own canvas.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatterSciNotation

#: exponent characters as Unicode superscripts
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


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


class PlainLogFormatter(LogFormatterSciNotation):
    """Matplotlib's log-axis labels (10⁻³, 2×10⁻³) as plain Unicode text instead of
    mathtext: the same labels, without the mathtext parser (about 20 ms per label, so
    most of the time a log-log figure takes to draw). Under ``text.usetex`` the labels
    stay TeX.

    >>> PlainLogFormatter()(1e-3), PlainLogFormatter(labelOnlyBase=False)(2e-3)
    ('10⁻³', '2×10⁻³')
    """

    def __call__(self, x: float, pos: int | None = None) -> str:
        label = super().__call__(x, pos)
        if not label.startswith("$") or mpl.rcParams["text.usetex"]:
            return label
        body = label.removeprefix("$\\mathdefault{").removesuffix("}$")
        head, _, power = body.partition("^{")
        head = head.replace("\\times", "×").replace("-", "\N{MINUS SIGN}")
        return head + power.removesuffix("}").translate(_SUPERSCRIPT)


def plain_log_ticks(ax) -> None:
    """Label the log axes of ``ax`` with :class:`PlainLogFormatter` (major and minor)."""
    for axis in (ax.xaxis, ax.yaxis):
        if axis.get_scale() == "log":
            axis.set_major_formatter(PlainLogFormatter())
            axis.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False))
