"""Neurons in the (u_1, u_2) plane of an index target, and overlaps over time (theory §13).

Each neuron i is drawn at its signed overlaps (q_i1, q_i2) = (u_1 . a_i, u_2 . a_i) / |a_i|
with two of the target's directions (:func:`meanfield.analysis.overlaps.neuron_overlaps`),
so every point lies in the unit disc: on the unit circle when a_i lies in span(u_1, u_2),
near the origin when it is (nearly) orthogonal to both, as a random start in d dimensions
is (|q| ~ d^(-1/2)). Red marks have c_i > 0, blue c_i < 0, their areas grow with |c_i|;
hollow marks are the start. The dashed circle of radius 1/2 is weak recovery within
that plane.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ..analysis.overlaps import WEAK_RECOVERY, neuron_overlaps
from .neurons import CIRCLE, NEGATIVE, POSITIVE


def _areas(c: np.ndarray) -> np.ndarray:
    size = np.abs(c) if c.ndim == 1 else np.linalg.norm(c.reshape(len(c), -1), axis=1)
    top = float(size.max()) if size.size and size.max() > 0 else 1.0
    return 8.0 + 52.0 * size / top


def draw_index_plane(ax, snapshots: ArrayLike, layout, U: ArrayLike,
                     directions: tuple[int, int] = (0, 1), title: str | None = None,
                     ) -> None:
    """Draw the first and last of ``snapshots`` (n_records, m, p; or one (m, p) array) in
    the plane of the target directions ``directions`` (columns of U), on ``ax``."""
    W = np.asarray(snapshots, dtype=np.float64)
    W = W[None] if W.ndim == 2 else W
    j1, j2 = directions
    ring = np.linspace(0.0, 2 * np.pi, 256)
    ax.plot(np.cos(ring), np.sin(ring), color=CIRCLE, lw=0.8, label="unit circle")
    ax.plot(WEAK_RECOVERY * np.cos(ring), WEAK_RECOVERY * np.sin(ring), color=CIRCLE,
            lw=0.8, ls=(0, (4, 3)), label=f"overlap {WEAK_RECOVERY:g} (weak recovery)")
    for w, hollow in ((W[0], True), (W[-1], False)) if len(W) > 1 else ((W[0], False),):
        signed, _ = neuron_overlaps(w[:, layout.a], U)
        c = w[:, layout.c]
        positive = (c if c.ndim == 1 else c[:, 0]) >= 0
        for part, colour, sign in ((positive, POSITIVE, ">"), (~positive, NEGATIVE, "<")):
            if not part.any():
                continue
            style = dict(facecolors="none", edgecolors=colour, linewidths=0.7) if hollow \
                else dict(color=colour, alpha=0.8)
            ax.scatter(signed[part, j1], signed[part, j2], s=_areas(c)[part], **style,
                       label=f"{'start' if hollow else 'end'}, $c_i {sign} 0$")
    ax.set(xlim=(-1.05, 1.05), ylim=(-1.05, 1.05), aspect="equal",
           xlabel=f"$u_{j1 + 1} \\cdot a_i / |a_i|$", ylabel=f"$u_{j2 + 1} \\cdot a_i / |a_i|$")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, loc="lower left")


def draw_overlap_curves(ax, times: ArrayLike, curves: dict[str, ArrayLike],
                        xlabel: str = "mean-field time t", logx: bool = False,
                        colours: list | None = None, **style) -> None:
    """Overlap curves (label -> values over ``times``) on ``ax``, with the weak-recovery
    line at 1/2; the y axis is the overlap in [0, 1]."""
    times = np.asarray(times, dtype=np.float64)
    for j, (label, values) in enumerate(curves.items()):
        colour = None if colours is None else colours[j]
        ax.plot(times, np.asarray(values, dtype=np.float64), label=label, color=colour,
                **style)
    ax.axhline(WEAK_RECOVERY, color=CIRCLE, lw=0.7, ls=":")
    ax.set(xlabel=xlabel, ylabel="overlap", ylim=(0.0, 1.02))
    if logx:
        ax.set_xscale("log")
    ax.legend(fontsize=7)
