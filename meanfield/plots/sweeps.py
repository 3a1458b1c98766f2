"""Figures of a sweep: a metric against one axis (the median over seeds, every seed as a
point), the fraction of seeds meeting a success condition, and heat maps (medians or
success fractions) over two axes.

Axes that vary together (a zip group) count as one: plotting against one of them, the
others of its group are not "other axes". Every other axis that varies gives one line
(line plots) or one panel (heat maps). Scales follow the data: a numeric axis whose
positive values span a factor of :data:`LOG_SPAN` or more is drawn on a log scale (m = 2
... 32 is), non-numeric ones (e.g. alpha = "ntk") as categories; a metric is drawn on a
log scale when its positive values span that factor, and a risk's colour scale is
logarithmic whenever the risks are positive. On a log scale an exact 0 is drawn at the
floor (a tenth of the smallest positive value) and the axis label says so.

A success condition is a column, a comparison and a number, e.g. ``"R/R0<1e-4"``
(``R/R0`` names the column ``relative_risk`` and ``R`` ``final_risk``): the fraction of a
point's seeds for which it holds; a cell that did not finish counts as a failure.
"""
from __future__ import annotations

import itertools
import math
import operator
import re
from pathlib import Path

import numpy as np

from ..runs import store
from ..runs.collect import collect, read_config_manifest
from ..runs.config import ConfigError
from .figures import save, subplots

#: a numeric axis or metric spanning this factor or more is drawn on a log scale
LOG_SPAN = 8.0
ALIASES = {"R/R0": "relative_risk", "R": "final_risk"}
COMPARISONS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}


def _numeric(values) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def log_scale(values) -> bool:
    """True when ``values`` are numbers whose positive ones span a factor of LOG_SPAN or
    more, none negative (0 allowed: it is drawn at the floor, :func:`floored`).

    Examples:

        >>> from meanfield.plots.sweeps import log_scale
        >>> log_scale([2, 4, 8, 16, 32]), log_scale([1.0, 4.0])
        (True, False)
    """
    values = [v for v in values if not (isinstance(v, float) and math.isnan(v))]
    if not values or not _numeric(values) or min(values) < 0:
        return False
    positive = [v for v in values if v > 0]
    return bool(positive) and max(positive) / min(positive) >= LOG_SPAN


def floored(values, floor: float) -> np.ndarray:
    """``values`` with exact zeros (and smaller) raised to ``floor`` (log axes)."""
    values = np.asarray(values, dtype=float)
    return np.where(values > 0, values, floor)


def _floor(values) -> float | None:
    """A tenth of the smallest positive value when some value is 0, else None."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size and np.any(values <= 0) and np.any(values > 0):
        return float(values[values > 0].min()) / 10
    return None


def parse_success(condition: str) -> tuple[str, str, float]:
    """'R/R0<1e-4' -> ("relative_risk", "<", 1e-4): column, comparison, threshold.

    Examples:

        >>> from meanfield.plots.sweeps import parse_success
        >>> parse_success("R/R0<1e-4"), parse_success("final_risk >= 0.5")
        (('relative_risk', '<', 0.0001), ('final_risk', '>=', 0.5))
    """
    match = re.fullmatch(r"\s*([^<>=\s]+)\s*(<=|>=|<|>)\s*(\S+)\s*", condition or "")
    try:
        threshold = float(match.group(3)) if match else math.nan
    except ValueError:
        threshold = math.nan
    if not match or not math.isfinite(threshold):
        raise ConfigError("success", f"{condition!r} is not COLUMN<NUMBER (or <=, >, >=), "
                                     f"e.g. R/R0<1e-4")
    column = ALIASES.get(match.group(1), match.group(1))
    return column, match.group(2), threshold


def success_column(table, condition: str):
    """Per row, True when ``condition`` (:func:`parse_success`) holds; missing values
    (unfinished cells) give False."""
    column, comparison, threshold = parse_success(condition)
    _check(table, column, [])
    values = table[column].astype(float)
    return COMPARISONS[comparison](values, threshold) & values.notna()


def _ordered(values) -> list:
    unique = list(dict.fromkeys(values))
    return sorted(unique) if _numeric(unique) else unique


def _others(table, groups, used: list[str]) -> list[str]:
    """Axes that vary in ``table`` outside the groups of the ``used`` axes (one axis per
    zip group, its first)."""
    skip = {a for g in groups if set(g) & set(used) for a in g}
    return [g[0] for g in groups if g[0] not in skip and table[g[0]].nunique() > 1]


def _combos(table, axes):
    if not axes:
        yield "", table
        return
    for key in itertools.product(*[_ordered(table[a]) for a in axes]):
        mask = np.logical_and.reduce([table[a] == k for a, k in zip(axes, key, strict=False)])
        if mask.any():
            yield ", ".join(f"{a}={k}" for a, k in zip(axes, key, strict=False)), table[mask]


def _check(table, metric, axes):
    for name in [metric, *axes]:
        if name not in table.columns:
            raise ConfigError(name, f"not a column of the sweep table (columns: "
                                    f"{', '.join(table.columns)})")


def _positions(xs):
    return xs if _numeric(xs) else list(range(len(xs)))


def _x_axis(ax, axis: str, xs) -> None:
    if not _numeric(xs):
        ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    elif log_scale(xs):
        ax.set_xscale("log")
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
        ax.minorticks_off()
    ax.set_xlabel(axis)


def _seed_count(table, axis, others) -> int:
    return int(max(part.groupby(axis).size().max() for _, part in _combos(table, others)))


def axis_figure(table, groups, axis: str, metric: str = "final_risk"):
    """``metric`` against ``axis``: the median over seeds as a line and every seed as a
    point, one colour per combination of the other varying axes; log scales where the
    values span a factor of LOG_SPAN (module docstring).

    Examples:

        >>> from meanfield.plots.sweeps import axis_figure
        >>> import pandas as pd
        >>> table = pd.DataFrame({"student.m": [2, 2, 32, 32], "seed": [0, 1, 0, 1],
        ...                       "final_risk": [0.1, 0.2, 1e-6, 1e-4],
        ...                       "relative_risk": [0.2, 0.4, 2e-6, 2e-4]})
        >>> ax = axis_figure(table, [["student.m"]], "student.m").axes[0]
        >>> ax.get_xscale(), ax.get_yscale()
        ('log', 'log')
    """
    _check(table, metric, [axis])
    fig, ax = subplots(figsize=(5.8, 4.2))
    xs = _ordered(table[axis])
    pos = dict(zip(xs, _positions(xs), strict=False))
    values = table[metric].astype(float)
    log_y = log_scale(values.dropna().tolist())
    floor = _floor(values) if log_y else None
    others = _others(table, groups, [axis])
    combos = list(_combos(table, others))
    for k, (label, part) in enumerate(combos):
        colour = f"C{k % 10}"
        # a small horizontal offset per line keeps coinciding seeds of two lines apart
        shift = (k - (len(combos) - 1) / 2) * 0.04
        y = part[metric].astype(float)
        if floor is not None:
            y = floored(y, floor)
        x = np.array([pos[v] for v in part[axis]], dtype=float)
        x = x * np.exp(shift) if log_scale(xs) else x + shift * (1 if not _numeric(xs)
                                                                 else 0)
        ax.plot(x, y, ls="", marker="o", ms=4, alpha=0.45, color=colour)
        medians = part.assign(_y=y).groupby(axis, sort=False)["_y"].median().reindex(xs)
        keep = medians.notna().to_numpy()
        ax.plot(np.array(_positions(xs), dtype=float)[keep], medians.to_numpy()[keep],
                marker="o", ms=6, lw=1.8, color=colour,
                label=f"{label + ': ' if label else ''}median")
    ax.plot([], [], ls="", marker="o", ms=4, alpha=0.45, color="0.3", label="each seed")
    _x_axis(ax, axis, xs)
    if log_y:
        ax.set_yscale("log")
    ax.set_ylabel(metric + (f" (0 drawn at {floor:.0e})" if floor is not None else ""))
    n_seeds = _seed_count(table, axis, others)
    ax.set_title(f"{metric}: median over {n_seeds} seed{'s' * (n_seeds != 1)} "
                 f"(points: each seed)", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def success_figure(table, groups, axis: str, condition: str = "R/R0<1e-4"):
    """The fraction of seeds meeting ``condition`` (:func:`parse_success`) against
    ``axis``, one line per combination of the other varying axes (unfinished cells
    count as failures).

    Examples:

        >>> from meanfield.plots.sweeps import success_figure
        >>> import pandas as pd
        >>> table = pd.DataFrame({"student.m": [2, 2, 32, 32], "seed": [0, 1, 0, 1],
        ...                       "final_risk": [0.1, 0.2, 1e-6, 1e-4],
        ...                       "relative_risk": [0.2, 0.4, 2e-6, 2e-4]})
        >>> fig = success_figure(table, [["student.m"]], "student.m", "R/R0<1e-4")
        >>> fig.axes[0].lines[0].get_ydata().tolist()
        [0.0, 0.5]
    """
    _check(table, axis, [])
    hit = success_column(table, condition)
    fig, ax = subplots(figsize=(5.8, 4.2))
    xs = _ordered(table[axis])
    others = _others(table, groups, [axis])
    for k, (label, part) in enumerate(_combos(table, others)):
        fraction = hit[part.index].groupby(part[axis]).mean().reindex(xs)
        counts = part.groupby(axis).size().reindex(xs)
        keep = fraction.notna().to_numpy()
        ax.plot(np.array(_positions(xs), dtype=float)[keep], fraction.to_numpy()[keep],
                marker="o", lw=1.8, color=f"C{k % 10}", label=label or None)
        for x, f, n in zip(np.array(_positions(xs), dtype=float)[keep],
                           fraction.to_numpy()[keep], counts.to_numpy()[keep], strict=False):
            ax.annotate(f"{round(f * n)}/{n}", (x, f), xytext=(0, 5),
                        textcoords="offset points", ha="center", fontsize=7)
    _x_axis(ax, axis, xs)
    ax.set_ylim(-0.05, 1.12)
    ax.set_ylabel(f"fraction of seeds with {condition}")
    ax.set_title(f"success: {condition} (labels: seeds meeting it / seeds)", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    if ax.get_legend_handles_labels()[1]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _grid_norm(grids, metric: str, success: bool):
    from matplotlib.colors import LogNorm, Normalize

    finite = np.concatenate([g[np.isfinite(g)] for g in grids])
    if success:
        return Normalize(0.0, 1.0)
    if not finite.size:
        return Normalize(0.0, 1.0)
    positive = finite[finite > 0]
    if positive.size and finite.min() >= 0 and (
            "risk" in metric or positive.max() / positive.min() >= LOG_SPAN):
        low, high = positive.min(), positive.max()
        return LogNorm(low, high if high > low else low * 10, clip=True)
    return Normalize(finite.min(), finite.max() if finite.max() > finite.min()
                     else finite.min() + 1)


def heatmap_figure(table, groups, x: str, y: str, metric: str = "final_risk",
                   success: str | None = None):
    """Heat map over axes ``x`` and ``y``, one panel per combination of the other varying
    axes: the median of ``metric`` over seeds (log colour scale for risks, or when the
    values span LOG_SPAN), or with ``success`` the fraction of seeds meeting it; every
    cell carries its value; missing or unfinished cells are blank.

    Examples:

        >>> from meanfield.plots.sweeps import heatmap_figure
        >>> import pandas as pd
        >>> table = pd.DataFrame({"student.m": [2, 2, 32, 32], "seed": [0, 1, 0, 1],
        ...                       "final_risk": [0.1, 0.2, 1e-6, 1e-4],
        ...                       "relative_risk": [0.2, 0.4, 2e-6, 2e-4]})
        >>> table["student.alpha"] = [1.0, 4.0, 1.0, 4.0]
        >>> fig = heatmap_figure(table, [["student.m"], ["student.alpha"]], "student.m",
        ...                      "student.alpha")
        >>> type(fig.axes[0].get_images()[0].norm).__name__
        'LogNorm'
    """
    _check(table, metric if success is None else x, [x, y])
    if any(x in g and y in g for g in groups):
        raise ConfigError(y, f"varies together with {x} (same zip group); pick axes "
                             f"from different groups")
    if success is not None:
        table = table.assign(_success=success_column(table, success).astype(float))
    column = "_success" if success is not None else metric
    xs, ys = _ordered(table[x]), _ordered(table[y])
    panels = list(_combos(table, _others(table, groups, [x, y])))
    fig, axes = subplots(1, len(panels), figsize=(1.4 + 4.4 * len(panels), 4.0),
                         squeeze=False)
    grids = []
    for _label, part in panels:
        stat = part.groupby([y, x])[column]
        stat = stat.mean() if success is not None else stat.median()
        grids.append(np.array([[stat.get((yv, xv), math.nan) for xv in xs] for yv in ys]))
    norm = _grid_norm(grids, metric, success is not None)
    cmap = "viridis" if success is None else "cividis"
    for ax, (label, _), grid in zip(axes[0], panels, grids, strict=False):
        image = ax.imshow(grid, origin="lower", aspect="auto", cmap=cmap, norm=norm)
        for (i, j), value in np.ndenumerate(grid):
            if np.isfinite(value):
                ax.text(j, i, f"{value:.2g}", ha="center", va="center", fontsize=7,
                        color="white" if norm(value) < 0.5 else "black")
        ax.set_xticks(range(len(xs)), [f"{v:g}" if _numeric([v]) else str(v) for v in xs])
        ax.set_yticks(range(len(ys)), [f"{v:g}" if _numeric([v]) else str(v) for v in ys])
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        if label:
            ax.set_title(label, fontsize=9)
    what = (f"fraction of seeds with {success}" if success is not None
            else f"{metric} (median over seeds)")
    fig.colorbar(image, ax=axes[0].tolist(), label=what)
    return fig


def _stem(*names) -> str:
    return "_".join(n.replace(".", "-") for n in names)


def plot_sweep(sweep_dir, out_dir=None, metric: str = "final_risk", x: str | None = None,
               y: str | None = None, success: str | None = None) -> list[Path]:
    """Write a sweep's figures (PNG and PDF) into ``out_dir`` (default SWEEP_DIR/figures):
    ``metric`` against ``x`` (default: each varying axis) and a heat map over ``x`` and
    ``y`` (default: the first two varying axes of different groups); with ``success``
    (e.g. "R/R0<1e-4"), also the fraction of seeds meeting it against the same axes and
    over the same pair. Returns the paths.

    Examples:

        >>> plot_sweep("sweeps/s", success="R/R0<1e-4")  # doctest: +SKIP
    """
    if y and not x:
        raise ConfigError("y", "a heat map needs both x and y")
    if success is not None:
        parse_success(success)
    manifest = read_config_manifest(sweep_dir)
    groups = manifest["groups"]
    table = collect(sweep_dir, save=False)
    varying = _others(table, groups, [])
    out = Path(out_dir) if out_dir else Path(sweep_dir) / store.FIGURES
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for axis in [x] if x else varying:
        written += save(axis_figure(table, groups, axis, metric),
                        out / _stem(metric, "vs", axis))
        if success is not None:
            written += save(success_figure(table, groups, axis, success),
                            out / _stem("success", "vs", axis))
    pair = (x, y) if x and y else tuple(varying[:2]) if not x and not y else None
    if pair and len(pair) == 2:
        written += save(heatmap_figure(table, groups, *pair, metric),
                        out / _stem(metric, "heatmap", *pair))
        if success is not None:
            written += save(heatmap_figure(table, groups, *pair, metric, success=success),
                            out / _stem("success", "heatmap", *pair))
    return written
