"""Figures of a run: loss curves, neuron trajectories in the plane, animations.

Neurons are drawn as in the papers' figures: neuron i at |c_i| a_i (projected on two
directions), coloured by sign(c_i) (red +, blue -), teacher neurons as arrows (dark red
or dark blue by the sign of their output weight). For a
2-homogeneous (ReLU) unit, q c sigma(a.x) = c' sigma(a'.x) with |c'| a' = q |c| a, so with
per-neuron output weights q = alpha/m the teacher arrows are scaled by q_T/q_S: student
neurons lying on a teacher's ray reproduce it when their |c_i| a_i add up to the arrow
(in the demo q_T = q_S = 1). For d > 2 the plane is the span of the teacher's
first two input directions (orthonormalised).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.animation import FuncAnimation, PillowWriter
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba
from matplotlib.lines import Line2D

from ..runs import store
from .figures import save, subplots

POSITIVE, NEGATIVE, TEACHER = "#d62728", "#1f77b4", "black"
TEACHER_POSITIVE, TEACHER_NEGATIVE = "#7f0000", "#08306b"


def plane_basis(teacher) -> np.ndarray:
    """(d, 2) orthonormal basis: identity for d = 2, else the teacher's span (completed
    with coordinate axes if the teacher spans fewer than two directions)."""
    d = teacher.layout.d
    if d <= 2:
        return np.eye(d, 2)
    vectors = np.concatenate([teacher.a.T, np.eye(d)], axis=1)
    q, _ = np.linalg.qr(vectors)
    return q[:, :2]


def plane_positions(w: np.ndarray, layout, basis: np.ndarray) -> np.ndarray:
    """|c_i| a_i projected on ``basis``; w is (..., m, p), the result (..., m, 2)."""
    c = np.abs(w[..., layout.c][..., 0:1])
    return (c * w[..., layout.a]) @ basis


def teacher_positions(teacher, student, basis) -> np.ndarray:
    """The teacher neurons' |c*| a* in the plane, scaled by q_T/q_S (module docstring)."""
    scale = (teacher.alpha / teacher.m) / (student.alpha / student.m)
    return scale * plane_positions(teacher.w, teacher.layout, basis)


def _signs(w, layout):
    return np.sign(w[..., layout.c][..., 0])


def draw_neurons(ax, snapshots, student, teacher, title=None, upto=None) -> None:
    """Neuron trajectories on ``ax``: snapshots (n, m, p), drawn as lines fading from light
    (early) to solid (late), the last position as a dot, teacher arrows, unit circle."""
    basis = plane_basis(teacher)
    upto = len(snapshots) if upto is None else upto
    pos = plane_positions(snapshots[:upto], student.layout, basis)
    signs = _signs(snapshots[:upto], student.layout)
    n = len(pos)
    ring = np.linspace(0, 2 * np.pi, 256)
    ax.plot(np.cos(ring), np.sin(ring), color="0.6", lw=0.8, ls="--", zorder=0)
    if n > 1:
        segs = np.stack([pos[:-1], pos[1:]], axis=2).reshape(-1, 2, 2)  # (n-1)*m segments
        fade = np.repeat(np.linspace(0.15, 1.0, n - 1), pos.shape[1])
        sign = signs[1:].reshape(-1)
        colors = np.where((sign >= 0)[:, None], to_rgba(POSITIVE), to_rgba(NEGATIVE))
        colors[:, 3] = fade
        ax.add_collection(LineCollection(segs, colors=colors, linewidths=1.6))
    last, last_sign = pos[-1], signs[-1]
    ax.scatter(*pos[0].T, s=10, facecolors="none", edgecolors="0.5", lw=0.6, zorder=2)
    ax.scatter(*last.T, s=18, c=[POSITIVE if s >= 0 else NEGATIVE for s in last_sign],
               zorder=3)
    for (x, y), s in zip(teacher_positions(teacher, student, basis),
                         _signs(teacher.w, teacher.layout)):
        ax.annotate("", xy=(x, y), xytext=(0, 0), zorder=4, arrowprops=dict(
            arrowstyle="-|>", lw=1.8, color=TEACHER_POSITIVE if s >= 0 else TEACHER_NEGATIVE))
    extent = max(1.15, 1.1 * float(np.max(np.abs(pos))),
                 1.1 * float(np.max(np.abs(teacher_positions(teacher, student, basis)))))
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)


def _legend(fig):
    handles = [Line2D([], [], color=POSITIVE, lw=2, label="cᵢ > 0"),
               Line2D([], [], color=NEGATIVE, lw=2, label="cᵢ < 0"),
               Line2D([], [], color=TEACHER, lw=1.8, marker=">", markersize=6,
                      label="teacher |c*ⱼ| a*ⱼ"),
               Line2D([], [], color="0.6", ls="--", label="unit circle")]
    fig.legend(handles=handles, loc="lower center", ncol=4, frameon=False, fontsize=9)


def trajectory_figure(snapshots, student, teacher, title=None):
    """One panel of neuron trajectories (see :func:`draw_neurons`) with a legend."""
    fig, ax = subplots(figsize=(5, 5.3))
    draw_neurons(ax, snapshots, student, teacher, title)
    _legend(fig)
    fig.subplots_adjust(bottom=0.1)
    return fig


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
    ax.set_xlabel("time t (mean-field units)")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(frameon=False, fontsize=9)
    fig.tight_layout()
    return fig


def animate(panels, teacher, path, fps: int = 12, max_frames: int = 60) -> Path:
    """Animated GIF (matplotlib's Pillow writer) of one or more runs side by side;
    ``panels`` is a list of (title, snapshots, student, times)."""
    n_frames = min(max_frames, min(len(p[1]) for p in panels))
    frames = np.unique(np.linspace(1, min(len(p[1]) for p in panels), n_frames).astype(int))
    fig, axes = subplots(1, len(panels), figsize=(4.2 * len(panels), 4.5), squeeze=False)
    _legend(fig)

    def draw(upto):
        for ax, (title, snaps, student, times) in zip(axes[0], panels):
            ax.clear()
            draw_neurons(ax, snaps, student, teacher, upto=upto)
            ax.set_title(f"{title}   t = {times[upto - 1]:.3g}", fontsize=10)
        fig.subplots_adjust(bottom=0.12, top=0.9, wspace=0.05)

    path = Path(path).with_suffix(".gif")
    FuncAnimation(fig, draw, frames=frames).save(path, writer=PillowWriter(fps=fps), dpi=80)
    return path


def plot_run(result, out_dir=None, gif: bool = False) -> list[Path]:
    """Figures of a finished run (meanfield.runs.Result) into ``out_dir`` (default
    <run_dir>/figures): loss.png/pdf, neurons.png/pdf and optionally neurons.gif."""
    out = Path(out_dir) if out_dir else Path(result.run_dir) / store.FIGURES
    out.mkdir(parents=True, exist_ok=True)
    traj, student = result.trajectory, result.trajectory.final
    name = Path(result.run_dir).name
    written = save(loss_figure([(name, traj.times, traj.risk, traj.test_risk)]), out / "loss")
    title = f"{name}: t = {traj.times[-1]:.3g}"
    written += save(trajectory_figure(traj.snapshots, student, result.teacher, title),
                    out / "neurons")
    if gif:
        written.append(animate([(name, traj.snapshots, student, traj.times)],
                               result.teacher, out / "neurons"))
    return written
