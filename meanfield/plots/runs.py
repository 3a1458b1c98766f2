"""Figures of a run: loss curves, neuron positions in the plane, animations.

Neurons are drawn by :mod:`meanfield.plots.neurons` (theory §1): every student and teacher
neuron at its own |c| a, red c > 0 and blue c < 0, start and end marks, paths, teacher
arrows, the unit circle, ticks in those units and one legend entry per mark.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..analysis.overlaps import overlaps_along
from ..runs import store
from .figures import plain_log_ticks, save, subplots
from .index_plane import draw_index_plane, draw_overlap_curves
from .neurons import (PATHS, NeuronPanel, draw_neurons, extent_of, legend_handles,
                      output_weights, plane_basis, plane_positions)

#: GIFs are at least this many pixels wide, whatever the number of panels
GIF_MIN_WIDTH = 1000
PANEL_INCHES, GIF_PANEL_INCHES = 5.4, 4.6


def _legend(fig, teacher, paths, ncol: int = 3) -> None:
    fig.legend(handles=legend_handles(teacher, paths), loc="lower center", ncol=ncol,
               frameon=False, fontsize=9)


def _time_colorbar(fig, panel, axes) -> None:
    fig.colorbar(panel.lines, ax=axes, shrink=0.8, pad=0.02, label="time t (log scale)")


def _zoom(ax, snaps, student, teacher, times, paths, half: float) -> None:
    """An inset magnifying |x|, |y| <= half in the emptiest corner of ``ax`` (the corner
    holding the fewest recorded positions), its frame marked on the panel."""
    pos = plane_positions(np.asarray(snaps), student.layout, plane_basis(teacher))
    pos = pos.reshape(-1, 2)
    # lower and left corners leave room for the inset's own tick labels
    corners = {(0.62, 0.6): (pos[:, 0] > 0) & (pos[:, 1] > 0),
               (0.1, 0.6): (pos[:, 0] < 0) & (pos[:, 1] > 0),
               (0.1, 0.09): (pos[:, 0] < 0) & (pos[:, 1] < 0),
               (0.62, 0.09): (pos[:, 0] > 0) & (pos[:, 1] < 0)}
    x0, y0 = min(corners, key=lambda k: corners[k].sum())
    inset = ax.inset_axes([x0, y0, 0.34, 0.34])
    NeuronPanel(inset, snaps, student, teacher, times=times, extent=half,
                paths=paths).show()
    inset.set_xlabel("")
    inset.set_ylabel("")
    inset.tick_params(labelsize=7)
    inset.set_title(f"zoom: |x|, |y| ≤ {half:g}", fontsize=7, pad=2)
    ax.indicate_inset_zoom(inset, edgecolor="0.4")


def neurons_figure(panels, teacher, extent=None, paths: str | None = "sign",
                   suptitle: str | None = None, zoom: float | None = None):
    """Side-by-side neuron panels sharing one extent (:func:`neurons.extent_of` of all of
    them unless given). ``panels`` is a list of (title, snapshots, student, times);
    ``paths`` is "sign", "time" (a colour bar of log t) or None; with ``zoom``, a panel
    whose positions all lie within a third of the extent gets an inset magnifying the
    square of half-width ``zoom`` (the shared extent still holds every panel).

    Examples:

        >>> import meanfield as mf
        >>> from meanfield.plots.runs import neurons_figure
        >>> teacher = mf.Network.init(3, 2, sphere=True, output="sign", alpha="sum", seed=1)
        >>> small, large = (mf.Network.init(8, 2, tau=tau, seed=2) for tau in (0.1, 3.0))
        >>> fig = neurons_figure([("small", small.w[None], small, None),
        ...                       ("large", large.w[None], large, None)], teacher)
        >>> fig.axes[0].get_xlim() == fig.axes[1].get_xlim()
        True
    """
    if paths not in PATHS:
        raise ValueError(f"paths: {paths!r} is not one of {PATHS}")
    if extent is None:
        extent = extent_of([(p[1], p[2]) for p in panels], teacher)
    n = len(panels)
    fig, axes = subplots(1, n, figsize=(PANEL_INCHES * n + 0.6 * (paths == "time"), 6.3),
                         squeeze=False)
    drawn = None
    for ax, (title, snaps, student, times) in zip(axes[0], panels, strict=False):
        drawn = draw_neurons(ax, snaps, student, teacher, extent=extent, paths=paths,
                             times=times)
        if zoom and extent_of([(snaps, student)], teacher, margin=1.0) < extent / 3:
            _zoom(ax, snaps, student, teacher, times, paths, zoom)
        ax.set_title(f"{title}\n{output_weights(student, teacher)}" if title else
                     output_weights(student, teacher), fontsize=10)
    if suptitle:
        fig.suptitle(suptitle)
    _legend(fig, teacher, paths)
    fig.subplots_adjust(bottom=0.2, top=0.88, left=0.1, right=0.97, wspace=0.3)
    if paths == "time":
        _time_colorbar(fig, drawn, axes[0].tolist())
    return fig


def trajectory_figure(snapshots, student, teacher, title=None, extent=None,
                      paths: str | None = "sign", times=None, zoom: float | None = None):
    """One panel of neurons (:func:`neurons_figure` with one run) with its legend."""
    return neurons_figure([(title, snapshots, student, times)], teacher, extent=extent,
                          paths=paths, zoom=zoom)


def loss_figure(curves, ylabel="risk"):
    """Log-log loss curves; ``curves`` is a list of (label, times, risk, test_risk|None)."""
    fig, ax = subplots(figsize=(5.5, 4))
    for k, (label, times, risk, test) in enumerate(curves):
        keep = times > 0
        line, = ax.loglog(times[keep], risk[keep], lw=1.8, label=f"{label} train",
                          color=f"C{k}")
        if test is not None and np.any(np.isfinite(test)):
            ax.loglog(times[keep], test[keep], lw=1.4, ls="--", color=line.get_color(),
                      label=f"{label} test")
    plain_log_ticks(ax)
    ax.set_xlabel("time t (mean-field units)")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(frameon=False, fontsize=9)
    fig.tight_layout()
    return fig


def gif_dpi(width_inches: float, min_width: int = GIF_MIN_WIDTH) -> int:
    """The smallest dpi (at least 120, so 9-point text is 15 pixels high) giving a frame
    ``min_width`` pixels wide."""
    return max(120, math.ceil(min_width / width_inches))


def animate(panels, teacher, path, fps: int = 12, max_frames: int = 60,
            paths: str | None = "sign") -> Path:
    """Animated GIF of one or more runs side by side, one extent for all, at least
    :data:`GIF_MIN_WIDTH` pixels wide, the time on every frame; ``panels`` is a list of
    (title, snapshots, student, times). Axes, ticks and legend are rendered once (Agg);
    each frame redraws only the panels' marks over that background (Pillow writes the GIF).

    Examples:

        >>> import pathlib, tempfile
        >>> import meanfield as mf
        >>> from meanfield.plots.runs import animate
        >>> teacher = mf.Network.init(3, 2, sphere=True, output="sign", alpha="sum", seed=1)
        >>> student = mf.Network.init(8, 2, tau=0.5, seed=2)
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
        >>> animate([("run", student.w[None], student, [0.0])], teacher, out).name
        'run.gif'
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    n_records = min(len(p[1]) for p in panels)
    frames = np.unique(np.linspace(1, n_records, min(max_frames, n_records)).astype(int))
    extent = extent_of([(p[1], p[2]) for p in panels], teacher)
    n = len(panels)
    fig, axes = subplots(1, n, figsize=(GIF_PANEL_INCHES * n + 0.8 * (n == 1), 6.2),
                         squeeze=False)
    drawn = []
    for ax, (title, snaps, student, times) in zip(axes[0], panels, strict=False):
        drawn.append(NeuronPanel(ax, snaps, student, teacher, times=times, extent=extent,
                                 paths=paths))
        ax.set_title(f"{title}\n{output_weights(student, teacher)}", fontsize=10)
    _legend(fig, teacher, paths, ncol=3 if n > 1 else 2)
    fig.subplots_adjust(bottom=0.26 if n > 1 else 0.3, top=0.84, left=0.12, right=0.97,
                        wspace=0.35)
    if paths == "time":
        _time_colorbar(fig, drawn[-1], axes[0].tolist())
    clock = fig.suptitle("", fontsize=15)
    moving = [(panel.ax, artist) for panel in drawn for artist in panel.artists()]
    for _, artist in moving:
        artist.set_animated(True)
    clock.set_animated(True)
    fig.set_dpi(gif_dpi(fig.get_figwidth()))
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    images = []
    for upto in frames:
        canvas.restore_region(background)
        for panel in drawn:
            panel.show(upto)
        for ax, artist in moving:
            ax.draw_artist(artist)
        clock.set_text(f"t = {panels[0][3][upto - 1]:.4g}")
        fig.draw_artist(clock)
        rgba = np.asarray(canvas.buffer_rgba())
        images.append(Image.fromarray(rgba[..., :3].copy()).quantize(
            255, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE))
    path = Path(path).with_suffix(".gif")
    images[0].save(path, save_all=True, append_images=images[1:], loop=0,
                   duration=round(1000 / fps))
    return path


def index_figure(snapshots, times, layout, U, title: str):
    """The overlaps of a run with an index target (theory §13): each neuron's |P_U a|/|a|
    and the measure's mean, fraction >= 1/2 and maximum over time, beside the neurons in
    the (u_1, u_2) plane when the target has two directions or more."""
    out = overlaps_along(snapshots, layout, U)
    r = np.asarray(U).shape[1]
    fig, axes = subplots(1, 2 if r >= 2 else 1, figsize=(10.0 if r >= 2 else 5.4, 4.6))
    axes = np.atleast_1d(axes)
    t = np.asarray(times, dtype=np.float64)
    for i in range(out["span"].shape[1]):
        axes[0].plot(t, out["span"][:, i], color="0.75", lw=0.6)
    draw_overlap_curves(axes[0], t, {"|c|-weighted mean": out["mean"],
                                     "fraction >= 1/2": out["fraction"], "max": out["max"]},
                        logx=bool(t[0] > 0 and t[-1] / t[0] > 100))
    axes[0].set_title(f"{title}: |P_U a_i| / |a_i| (grey, per neuron)", fontsize=9)
    if r >= 2:
        draw_index_plane(axes[1], snapshots, layout, U, title="start (hollow) and end")
    return fig


def plot_run(result, out_dir=None, gif: bool = False,
             paths: str | None = "sign") -> list[Path]:
    """Figures of a finished run (meanfield.runs.Result) into ``out_dir`` (default
    <run_dir>/figures): loss.png/pdf, neurons.png/pdf (paths coloured by ``paths``:
    "sign", "time" or None), optionally neurons.gif, and for an index target
    overlaps.png/pdf (:func:`index_figure`).

    Examples:

        >>> plot_run(mf.load("runs/first"), gif=True)  # doctest: +SKIP
    """
    out = Path(out_dir) if out_dir else Path(result.run_dir) / store.FIGURES
    out.mkdir(parents=True, exist_ok=True)
    traj, student = result.trajectory, result.trajectory.final
    name = Path(result.run_dir).name
    written = save(loss_figure([(name, traj.times, traj.risk, traj.test_risk)]),
                   out / "loss")
    title = f"{name}: m = {student.m}, t = 0 … {traj.times[-1]:.3g}"
    written += save(trajectory_figure(traj.snapshots, student, result.teacher, title,
                                      paths=paths, times=traj.times), out / "neurons")
    if gif:
        written.append(animate([(name, traj.snapshots, student, traj.times)],
                               result.teacher, out / "neurons", paths=paths))
    if result.config.teacher.kind == "index":   # the stand-in teacher's a_j are the u_j
        written += save(index_figure(traj.snapshots, traj.times, student.layout,
                                     result.teacher.a.T, name), out / "overlaps")
    return written
