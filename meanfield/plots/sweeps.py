"""Figures of a sweep: a metric against one axis with error bars over
seeds, and a heat map of a metric over two axes (mean over seeds).

Axes that vary together (a zip group) count as one: plotting against one of them, the
others of its group are not "other axes". Every other axis that varies gives one line
(line plots) or one panel (heat maps). Numeric axes spanning a factor of 20 or more
are drawn on a log scale; non-numeric ones (e.g. alpha = "ntk") as categories.
"""
from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np

from ..runs import store
from ..runs.collect import collect, read_config_manifest
from ..runs.config import ConfigError
from .figures import save, subplots


def _numeric(values) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _log_scale(values) -> bool:
    return _numeric(values) and min(values) > 0 and max(values) / min(values) >= 20


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
        mask = np.logical_and.reduce([table[a] == k for a, k in zip(axes, key)])
        if mask.any():
            yield ", ".join(f"{a}={k}" for a, k in zip(axes, key)), table[mask]


def _check(table, metric, axes):
    for name in [metric, *axes]:
        if name not in table.columns:
            raise ConfigError(name, f"not a column of the sweep table (columns: "
                                    f"{', '.join(table.columns)})")


def axis_figure(table, groups, axis: str, metric: str = "final_risk"):
    """``metric`` against ``axis``: mean over seeds with error bars of one standard
    deviation over seeds, one line per combination of the other varying axes."""
    _check(table, metric, [axis])
    fig, ax = subplots(figsize=(5.5, 4))
    xs = _ordered(table[axis])
    numeric = _numeric(xs)
    n_seeds = 0
    for label, part in _combos(table, _others(table, groups, [axis])):
        stats = part.groupby(axis, sort=False)[metric].agg(["mean", "std", "count"])
        stats = stats.reindex(xs)
        if stats["mean"].isna().all():
            continue
        n_seeds = max(n_seeds, int(stats["count"].max()))
        pos = xs if numeric else list(range(len(xs)))
        ax.errorbar(pos, stats["mean"], yerr=stats["std"].fillna(0.0), marker="o",
                    capsize=3, label=label or None)
    if not numeric:
        ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    elif _log_scale(xs):
        ax.set_xscale("log")
    values = table[metric].dropna()
    if len(values) and values.min() > 0 and values.max() / values.min() >= 20:
        ax.set_yscale("log")
    ax.set_xlabel(axis)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric}: mean ± std over {n_seeds} seed{'s' * (n_seeds != 1)}",
                 fontsize=10)
    if ax.get_legend_handles_labels()[1]:
        ax.legend(fontsize=8)
    return fig


def heatmap_figure(table, groups, x: str, y: str, metric: str = "final_risk"):
    """Heat map of ``metric`` (mean over seeds) over axes ``x`` and ``y``, one panel per
    combination of the other varying axes; missing or unfinished cells are blank."""
    from matplotlib.colors import LogNorm

    _check(table, metric, [x, y])
    if any(x in g and y in g for g in groups):
        raise ConfigError(y, f"varies together with {x} (same zip group); pick axes "
                             f"from different groups")
    xs, ys = _ordered(table[x]), _ordered(table[y])
    panels = list(_combos(table, _others(table, groups, [x, y])))
    fig, axes = subplots(1, len(panels), figsize=(1.0 + 4.2 * len(panels), 3.8),
                             squeeze=False)
    grids = []
    for label, part in panels:
        means = part.groupby([y, x])[metric].mean()
        grids.append(np.array([[means.get((yv, xv), math.nan) for xv in xs] for yv in ys]))
    finite = np.concatenate([g[np.isfinite(g)] for g in grids])
    norm = None
    if finite.size and finite.min() > 0 and finite.max() / finite.min() >= 100:
        norm = LogNorm(finite.min(), finite.max())
    vmin, vmax = (finite.min(), finite.max()) if finite.size and norm is None else (None,
                                                                                    None)
    for ax, (label, _), grid in zip(axes[0], panels, grids):
        image = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis", norm=norm,
                          vmin=vmin, vmax=vmax)
        ax.set_xticks(range(len(xs)), [f"{v:g}" if _numeric([v]) else str(v) for v in xs])
        ax.set_yticks(range(len(ys)), [f"{v:g}" if _numeric([v]) else str(v) for v in ys])
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        if label:
            ax.set_title(label, fontsize=9)
    fig.colorbar(image, ax=axes[0].tolist(), label=f"{metric} (mean over seeds)")
    return fig


def _stem(*names) -> str:
    return "_".join(n.replace(".", "-") for n in names)


def plot_sweep(sweep_dir, out_dir=None, metric: str = "final_risk", x: str | None = None,
               y: str | None = None) -> list[Path]:
    """Write a sweep's figures (PNG and PDF) into ``out_dir`` (default SWEEP_DIR/figures):
    ``metric`` against ``x`` (default: each varying axis) and a heat map over ``x`` and
    ``y`` (default: the first two varying axes of different groups). Returns the paths."""
    if y and not x:
        raise ConfigError("y", "a heat map needs both x and y")
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
    pair = (x, y) if x and y else tuple(varying[:2]) if not x and not y else None
    if pair and len(pair) == 2:
        written += save(heatmap_figure(table, groups, *pair, metric),
                        out / _stem(metric, "heatmap", *pair))
    return written
