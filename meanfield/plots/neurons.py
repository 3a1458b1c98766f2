"""Neurons in the plane: every student and teacher neuron drawn at |c| a (theory §1).

A ReLU unit is 2-homogeneous, so neuron i is the point |c_i| a_i of the input space with
the sign of c_i: c sigma(a.x) = sign(c) sigma(|c| a.x) (theory §1). Students and teacher
are drawn in these same units, each at its own |c| a, without rescaling; a network's
output weight q = alpha/m multiplies every neuron, so a student reproduces a teacher
neuron when q_S sum_i |c_i| a_i over the students on its ray equals q_T |c*| a* (the
panel's title states both q; in the demo q_S = q_T = 1). For d > 2 the plane is the span
of the teacher's first two input directions (orthonormalised) and the axes are the
projections on them.

Marks: students at the last drawn time as filled dots (red c_i > 0, blue c_i < 0), their
start as hollow circles of the same colours; the negative marks are smaller and drawn
on top, so a symmetric start (each a_i twice, with +c_i and -c_i) shows a blue dot inside
a red ring, not one colour. Paths are coloured by sign (fading from light, early, to
solid, late) or by time (a colour scale over log t); teacher neurons are arrows from the
origin (dark red c* > 0, dark blue c* < 0), their rays dotted to the edge; the unit
circle |c| a = 1 is a dashed line drawn above the paths. Panels that are shown side by
side take one ``extent`` (:func:`extent_of`), and every mark drawn has a legend entry
(:func:`legend_handles`).
"""
from __future__ import annotations

import numpy as np
from matplotlib import patheffects
from matplotlib.colors import LogNorm, Normalize, to_rgba
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D

POSITIVE, NEGATIVE = "#d62728", "#1f77b4"
TEACHER_POSITIVE, TEACHER_NEGATIVE = "#7f0000", "#08306b"
CIRCLE = "0.25"
PATHS = ("sign", "time", None)
SIZE_POSITIVE, NEGATIVE_SHARE = 46.0, 0.3  # marker areas (pt^2): blue fits inside red
TIME_CMAP = "viridis"


def marker_sizes(m: int) -> tuple[float, float]:
    """Areas (pt^2) of the positive and negative marks for m students: 46 and 14 up to
    m = 32, shrinking like m^-1/2 beyond (never below 12 and 3.6)."""
    positive = SIZE_POSITIVE if m <= 32 else max(12.0, SIZE_POSITIVE * np.sqrt(32 / m))
    return positive, NEGATIVE_SHARE * positive


def plane_basis(teacher) -> np.ndarray:
    """(d, 2) orthonormal basis: identity for d = 2, else the teacher's span (completed
    with coordinate axes if the teacher spans fewer than two directions).

    Examples:

        >>> import meanfield as mf
        >>> from meanfield.plots.neurons import plane_basis
        >>> plane_basis(mf.Network.init(3, 2, seed=0)).tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """
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


def teacher_positions(teacher, basis: np.ndarray) -> np.ndarray:
    """The teacher neurons' |c*_j| a*_j in the plane: the students' units, unscaled."""
    return plane_positions(teacher.w, teacher.layout, basis)


def _signs(w, layout) -> np.ndarray:
    return np.sign(w[..., layout.c][..., 0])


def extent_of(runs, teacher, margin: float = 1.08) -> float:
    """Half-width of a square view holding every position of every run and the teacher
    (and at least the unit circle): one number for panels shown side by side.

    ``runs`` is a list of (snapshots (n, m, p), student Network) pairs.
    """
    basis = plane_basis(teacher)
    reach = [1.0, float(np.max(np.abs(teacher_positions(teacher, basis))))]
    for snapshots, student in runs:
        pos = plane_positions(np.asarray(snapshots), student.layout, basis)
        finite = pos[np.isfinite(pos)]
        if finite.size:
            reach.append(float(np.max(np.abs(finite))))
    return margin * max(reach)


def output_weights(student, teacher) -> str:
    """'q_S = alpha/m = ..., q_T = ...': the output weight of one neuron of each."""
    return (f"output weights α/m: student {student.alpha / student.m:.3g}, "
            f"teacher {teacher.alpha / teacher.m:.3g}")


class NeuronPanel:
    """The artists of one neuron panel, drawn once and updated per frame (GIFs).

    ``snapshots`` (n, m, p) are the recorded particles, ``times`` their times (needed for
    ``paths="time"``), ``extent`` the half-width of the view (default: this run's
    :func:`extent_of`). :meth:`show` draws the state after record ``upto``.
    """

    def __init__(self, ax, snapshots, student, teacher, times=None, extent=None,
                 paths: str | None = "sign"):
        if paths not in PATHS:
            raise ValueError(f"paths: {paths!r} is not one of {PATHS}")
        if paths == "time" and times is None:
            raise ValueError("paths: 'time' needs the records' times")
        self.ax, self.paths = ax, paths
        basis = plane_basis(teacher)
        self.pos = plane_positions(np.asarray(snapshots), student.layout, basis)
        self.signs = _signs(np.asarray(snapshots), student.layout)
        self.times = None if times is None else np.asarray(times, dtype=float)
        extent = extent_of([(snapshots, student)], teacher) if extent is None else extent
        ring = np.linspace(0, 2 * np.pi, 256)
        self.ring, = ax.plot(np.cos(ring), np.sin(ring), color=CIRCLE, lw=1.0,
                             ls=(0, (4, 3)), zorder=2.5)
        self.lines = LineCollection([], linewidths=1.4, zorder=2)
        if paths == "time":
            self.lines.set_cmap(TIME_CMAP)
            self.lines.set_norm(time_norm(self.times))
        ax.add_collection(self.lines)
        first_pos = self.signs[0] >= 0
        big, small = marker_sizes(self.pos.shape[1])
        self.start = [
            ax.scatter(*self.pos[0][first_pos].T, s=big, facecolors="none",
                       edgecolors=POSITIVE, lw=1.0, zorder=3),
            ax.scatter(*self.pos[0][~first_pos].T, s=small, facecolors="none",
                       edgecolors=NEGATIVE, lw=1.0, zorder=3.1)]
        self.end_positive = ax.scatter([], [], s=big, c=POSITIVE, zorder=4)
        self.end_negative = ax.scatter([], [], s=small, c=NEGATIVE, zorder=4.1)
        self.teacher_signs = _signs(teacher.w, teacher.layout)
        outline = [patheffects.withStroke(linewidth=4.0, foreground="white")]
        self.arrows = []
        for (x, y), s in zip(teacher_positions(teacher, basis), self.teacher_signs, strict=False):
            reach = 2 * extent / max(np.hypot(x, y), 1e-300)
            ax.plot([0, reach * x], [0, reach * y], lw=0.9, ls=":", zorder=1,
                    color=TEACHER_POSITIVE if s >= 0 else TEACHER_NEGATIVE)
            self.arrows.append(ax.annotate(
                "", xy=(x, y), xytext=(0, 0), zorder=3.5, arrowprops=dict(
                    arrowstyle="-|>", lw=2.0, mutation_scale=16, path_effects=outline,
                    color=TEACHER_POSITIVE if s >= 0 else TEACHER_NEGATIVE)))
        ax.set_xlim(-extent, extent)
        ax.set_ylim(-extent, extent)
        ax.set_aspect("equal")
        ax.axhline(0, color="0.85", lw=0.6, zorder=0)
        ax.axvline(0, color="0.85", lw=0.6, zorder=0)
        d = teacher.layout.d
        ax.set_xlabel("|c| a₁" if d == 2 else "|c| a · e₁ (teacher plane)")
        ax.set_ylabel("|c| a₂" if d == 2 else "|c| a · e₂ (teacher plane)")

    def artists(self) -> list:
        """The panel's own marks above the paths, in drawing order (the frames of a GIF
        redraw these over a stored background)."""
        marks = [self.lines, self.ring, *self.start, *self.arrows, self.end_positive,
                 self.end_negative]
        return sorted(marks, key=lambda artist: artist.get_zorder())

    def show(self, upto: int | None = None) -> None:
        """Draw records 0 .. upto - 1: paths up to there, the dots at record upto - 1."""
        n = len(self.pos) if upto is None else int(upto)
        pos, signs = self.pos[:n], self.signs[:n]
        if n > 1 and self.paths is not None:
            segs = np.stack([pos[:-1], pos[1:]], axis=2).reshape(-1, 2, 2)
            # matplotlib's stub asks for a Sequence; its code takes any (n, 2, 2) array
            self.lines.set_segments(segs)  # type: ignore[arg-type]
            if self.paths == "time":
                assert self.times is not None  # __init__ refuses "time" without times
                self.lines.set_array(np.repeat(self.times[1:n], pos.shape[1]))
            else:
                fade = np.repeat(np.linspace(0.15, 1.0, n - 1), pos.shape[1])
                colours = np.where((signs[1:].reshape(-1) >= 0)[:, None],
                                   to_rgba(POSITIVE), to_rgba(NEGATIVE))
                colours[:, 3] = fade
                self.lines.set_color(colours)
        else:
            self.lines.set_segments([])
        last, positive = pos[-1], signs[-1] >= 0
        self.end_positive.set_offsets(last[positive].reshape(-1, 2))
        self.end_negative.set_offsets(last[~positive].reshape(-1, 2))


def time_norm(times) -> Normalize:
    """Colour scale of paths coloured by time: log t over the positive recorded times."""
    t = np.asarray(times, dtype=float)
    positive = t[t > 0]
    if positive.size >= 2 and positive.max() > positive.min():
        return LogNorm(positive.min(), positive.max(), clip=True)
    return Normalize(float(t.min()), float(t.max()) or 1.0)


def draw_neurons(ax, snapshots, student, teacher, title=None, upto=None, extent=None,
                 paths: str | None = "sign", times=None) -> NeuronPanel:
    """Neuron positions |c_i| a_i on ``ax`` (module docstring): snapshots (n, m, p), paths
    up to record ``upto``, start and end marks, teacher arrows and the unit circle, in a
    square view of half-width ``extent``. Returns the panel (for a colour bar of time
    paths, ``panel.lines``).

    Examples:

        >>> import meanfield as mf
        >>> from meanfield.plots.figures import subplots
        >>> from meanfield.plots.neurons import draw_neurons
        >>> teacher = mf.Network.init(3, 2, sphere=True, output="sign", alpha="sum", seed=1)
        >>> student = mf.Network.init(8, 2, tau=0.5, seed=2)
        >>> fig, ax = subplots()
        >>> panel = draw_neurons(ax, student.w[None], student, teacher)
        >>> low, high = ax.get_xlim()
        >>> low == -high and ax.get_ylim() == (low, high)
        True
    """
    panel = NeuronPanel(ax, snapshots, student, teacher, times=times, extent=extent,
                        paths=paths)
    panel.show(upto)
    if title:
        ax.set_title(title)
    return panel


def legend_handles(teacher=None, paths: str | None = "sign") -> list[Line2D]:
    """One legend entry per kind of mark :class:`NeuronPanel` draws (teacher entries for
    the signs the teacher has)."""
    handles = [
        Line2D([], [], ls="", marker="o", markersize=7, color=POSITIVE,
               label="student cᵢ > 0 (now)"),
        Line2D([], [], ls="", marker="o", markersize=4, color=NEGATIVE,
               label="student cᵢ < 0 (now)"),
        Line2D([], [], ls="", marker="o", markersize=7, markerfacecolor="none",
               markeredgecolor="0.3", label="start t = 0 (hollow, by sign)")]
    if paths == "sign":
        handles.append(Line2D([], [], color=POSITIVE, lw=1.4,
                              label="path (light: early, solid: late)"))
    elif paths == "time":
        handles.append(Line2D([], [], color=to_rgba("C2"), lw=1.4,
                              label="path (colour: time t)"))
    signs = [1.0, -1.0] if teacher is None else sorted(
        set(np.where(_signs(teacher.w, teacher.layout) >= 0, 1.0, -1.0)), reverse=True)
    for s in signs:
        handles.append(Line2D([], [], color=TEACHER_POSITIVE if s > 0 else TEACHER_NEGATIVE,
                              lw=2.0, marker=">", markersize=6,
                              label=f"teacher |c*| a*, c* {'>' if s > 0 else '<'} 0"))
    handles.append(Line2D([], [], color="0.2", lw=0.9, ls=":", label="teacher directions"))
    handles.append(Line2D([], [], color=CIRCLE, lw=1.0, ls=(0, (4, 3)),
                          label="unit circle |c| a = 1"))
    return handles
