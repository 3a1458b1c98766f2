"""Figures a reader can trust, asserted from the matplotlib objects: extents, units,
scales, legend entries, sizes, and what the pixels show."""
import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm, to_rgb

import meanfield as mf
from meanfield.plots import neurons, runs, sweeps


def _teacher():
    return mf.Network.init(m=3, d=2, sphere=True, output="sign", alpha="sum", seed=1)


def _snapshots(student, n=6, drift=0.3):
    """n records moving every neuron radially by ``drift`` per record (c unchanged)."""
    w = np.repeat(student.w[None], n, axis=0).copy()
    a = student.layout.a
    w[:, :, a] *= (1.0 + drift * np.arange(n))[:, None, None]
    return w


def _rgb(fig) -> np.ndarray:
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].astype(float) / 255


def _count(image, colour, tol=0.06) -> int:
    return int(np.sum(np.all(np.abs(image - np.array(to_rgb(colour))) < tol, axis=-1)))


def _labels(fig) -> list[str]:
    return [t.get_text() for t in fig.legends[0].get_texts()]


# -- neurons in the plane ------------------------------------------------------------
def test_teacher_and_students_are_drawn_at_their_own_c_a_with_ticks_and_units():
    teacher = _teacher()  # alpha = m0: output weight 1 per neuron
    student = mf.Network.init(m=64, d=2, tau=1.0, seed=2)  # alpha = 1: weight 1/64
    snaps = _snapshots(student)
    fig = runs.trajectory_figure(snaps, student, teacher, title="run")
    ax = fig.axes[0]
    tips = np.array([a.xy for a in ax.texts if hasattr(a, "xy")])
    expected = np.abs(teacher.c) * teacher.a  # |c*| a*, not rescaled by q_T / q_S = 64
    assert np.allclose(np.sort(tips, axis=0), np.sort(expected, axis=0))
    half = ax.get_xlim()[1]
    assert ax.get_xlim() == (-half, half) and ax.get_ylim() == (-half, half)
    reach = np.max(np.abs(np.abs(snaps[..., :1]) * snaps[..., 1:]))
    assert reach <= half < 1.2 * reach  # every position in view, the view not wasted
    assert "|c| a" in ax.get_xlabel() and "|c| a" in ax.get_ylabel()
    assert len([t for t in ax.get_xticks() if -half <= t <= half]) >= 3
    assert "0.0156" in ax.get_title() and "teacher 1" in ax.get_title()


def test_side_by_side_panels_share_one_extent_holding_both_runs():
    teacher = _teacher()
    small = mf.Network.init(m=8, d=2, tau=0.1, seed=3)
    large = mf.Network.init(m=8, d=2, tau=3.0, seed=3)
    fig = runs.neurons_figure([("small", _snapshots(small), small, None),
                               ("large", _snapshots(large), large, None)], teacher,
                              zoom=1.1)
    panels = fig.axes
    limits = {ax.get_xlim() for ax in panels} | {ax.get_ylim() for ax in panels}
    assert len(panels) == 2 and len(limits) == 1
    reach = np.max(np.abs(np.abs(_snapshots(large)[..., :1]) * _snapshots(large)[..., 1:]))
    assert limits.pop()[1] >= reach
    # only the panel lost in the shared extent gets a magnified inset
    assert len(panels[1].child_axes) == 0 and len(panels[0].child_axes) == 1
    assert panels[0].child_axes[0].get_xlim() == (-1.1, 1.1)


def test_every_mark_has_a_legend_entry_and_the_unit_circle_is_drawn_above_the_paths():
    teacher = _teacher()
    student = mf.Network.init(m=8, d=2, tau=0.5, seed=4)
    for paths in ("sign", "time"):
        fig = runs.trajectory_figure(_snapshots(student), student, teacher,
                                     paths=paths, times=np.arange(6.0))
        labels = _labels(fig)
        for word in ("cᵢ > 0", "cᵢ < 0", "start", "path", "unit circle", "directions"):
            assert any(word in label for label in labels), (paths, word)
        signs = {s > 0 for s in teacher.c[:, 0]}
        assert sum("teacher |c*| a*" in label for label in labels) == len(signs)
        ax = fig.axes[0]
        circle = [ln for ln in ax.lines if len(ln.get_xdata()) > 100
                  and np.allclose(np.hypot(ln.get_xdata(), ln.get_ydata()), 1.0)]
        assert len(circle) == 1 and circle[0].get_zorder() > ax.collections[0].get_zorder()
        assert ax.get_xlim()[1] > 1.0  # in view
    assert fig.axes[-1].get_ylabel().startswith("time t")  # the colour bar of time paths


def test_a_symmetric_start_shows_both_signs():
    """Each a_i twice, with +c_i and -c_i: both colours must reach the pixels at t = 0."""
    teacher = _teacher()
    student = mf.Network.init(m=8, d=2, tau=2.0, symmetric=True, sphere=True,
                              output="uniform", seed=5)
    snaps = _snapshots(student, n=1)
    fig, ax = runs.subplots(figsize=(4, 4))
    neurons.draw_neurons(ax, snaps, student, teacher, paths=None)
    image = _rgb(fig)
    assert _count(image, neurons.POSITIVE) > 50 and _count(image, neurons.NEGATIVE) > 50


def test_bad_path_colouring_names_the_argument():
    teacher = _teacher()
    student = mf.Network.init(m=4, d=2, seed=6)
    with pytest.raises(ValueError, match="paths"):
        runs.trajectory_figure(_snapshots(student), student, teacher, paths="speed")


def test_gif_is_at_least_1000_px_wide_with_the_time_on_each_frame(tmp_path):
    from PIL import Image

    teacher = _teacher()
    student = mf.Network.init(m=8, d=2, tau=0.5, seed=7)
    snaps = _snapshots(student, n=5)
    path = runs.animate([("run", snaps, student, np.arange(5.0))], teacher,
                        tmp_path / "run", max_frames=5)
    with Image.open(path) as gif:
        assert gif.size[0] >= runs.GIF_MIN_WIDTH and gif.n_frames == 5
        frames = []
        for k in range(gif.n_frames):
            gif.seek(k)
            frames.append(np.asarray(gif.convert("RGB"), dtype=float))
    # the clock (top strip) changes from frame to frame; the axes' ticks do not
    top = slice(0, frames[0].shape[0] // 12)
    assert all(np.any(frames[k][top] != frames[k + 1][top]) for k in range(4))
    timed = runs.animate([("run", snaps, student, np.arange(5.0))], teacher,
                         tmp_path / "timed", max_frames=2, paths="time")
    assert timed.stat().st_size > 1000
    assert runs.gif_dpi(10.0) == 120 and runs.gif_dpi(4.6) >= 1000 / 4.6


# -- sweeps ----------------------------------------------------------------------------
def _table(ms=(2, 4, 8, 16, 32), seeds=3, alphas=(1.0, 4.0)):
    rng = np.random.default_rng(0)
    rows = []
    for m in ms:
        for alpha in alphas:
            for seed in range(seeds):
                risk = float(10 ** rng.uniform(-15, -1))
                rows.append({"student.m": m, "student.alpha": alpha, "seed": seed,
                             "status": "done", "final_risk": risk,
                             "relative_risk": risk / 0.5})
    return pd.DataFrame(rows)


GROUPS = [["student.m"], ["student.alpha"]]


def test_axis_figure_draws_medians_and_every_seed_on_log_axes_chosen_from_the_span():
    table = _table()
    fig = sweeps.axis_figure(table, GROUPS, "student.m")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"  # m = 2 ... 32, risks
    medians = [ln for ln in ax.lines if ln.get_label().endswith("median")]
    points = [ln for ln in ax.lines if ln.get_linestyle() == "None" and len(ln.get_xdata())]
    assert len(medians) == 2 and sum(len(p.get_ydata()) for p in points) == len(table)
    for line, alpha in zip(medians, (1.0, 4.0), strict=False):
        expected = table[table["student.alpha"] == alpha].groupby("student.m")[
            "final_risk"].median()
        assert np.allclose(line.get_ydata(), expected.to_numpy())  # medians, not means
    assert "median" in ax.get_title() and "each seed" in _legend_texts(ax)
    linear = sweeps.axis_figure(_table(ms=(16, 24, 32)), GROUPS, "student.m").axes[0]
    assert linear.get_xscale() == "linear"


def _legend_texts(ax) -> str:
    return " ".join(t.get_text() for t in ax.get_legend().get_texts())


def test_zero_risks_are_drawn_at_a_stated_floor_on_a_log_axis():
    table = _table()
    table.loc[0, "final_risk"] = 0.0
    ax = sweeps.axis_figure(table, GROUPS, "student.m").axes[0]
    smallest = table["final_risk"][table["final_risk"] > 0].min()
    ys = np.concatenate([ln.get_ydata() for ln in ax.lines if len(ln.get_ydata())])
    assert np.all(ys > 0) and np.isclose(ys.min(), smallest / 10)
    assert "0 drawn at" in ax.get_ylabel()


def test_heatmap_of_risks_has_a_log_colour_scale_and_median_values():
    table = _table(ms=(2, 32), seeds=3)
    table["final_risk"] = np.linspace(2e-3, 5e-2, len(table))  # a span of 25
    fig = sweeps.heatmap_figure(table, GROUPS, "student.m", "student.alpha")
    image = fig.axes[0].get_images()[0]
    assert isinstance(image.norm, LogNorm)
    expected = table.groupby(["student.alpha", "student.m"])["final_risk"].median()
    assert np.allclose(image.get_array(), expected.to_numpy().reshape(2, 2))
    assert "median" in fig.axes[-1].get_ylabel()


def test_success_fraction_counts_seeds_meeting_the_condition_and_unfinished_as_failures():
    table = _table(alphas=(1.0,), seeds=4)
    table.loc[table.index[::4], "relative_risk"] = math.nan  # unfinished cells
    hit = (table["relative_risk"] < 1e-4).to_numpy()
    fig = sweeps.success_figure(table, GROUPS, "student.m", "R/R0<1e-4")
    line = fig.axes[0].lines[0]
    expected = pd.Series(hit).groupby(table["student.m"].to_numpy()).mean()
    assert np.allclose(line.get_ydata(), expected.to_numpy())
    assert sweeps.parse_success(" R/R0 <= 1e-4") == ("relative_risk", "<=", 1e-4)
    for bad in ("R/R0", "R/R0<abc", "R/R0=1", "R/R0<nan"):
        with pytest.raises(ValueError, match="success"):
            sweeps.parse_success(bad)
    with pytest.raises(ValueError, match="nowhere"):
        sweeps.success_figure(table, GROUPS, "student.m", "nowhere<1")


def test_noisy_dynamics_plane_has_one_scale_every_point_and_only_drawn_marks_in_legend():
    from meanfield.experiments import noisy_dynamics as noisy

    teacher = _teacher()
    student = mf.Network.init(m=16, d=2, tau=3.0, seed=8)
    cloud = student.w.copy()
    cloud[:, 0] = np.abs(cloud[:, 0])  # every c > 0: no c < 0 entry
    result = {"times": [0.0, 1.0], "w2_to_gibbs": [1.0, 0.5], "w2_baseline": [0.4, 0.4],
              "final_cloud": cloud, "final_gibbs": cloud[::-1] * 1.1}
    fig = noisy.gibbs_figure(result, student, teacher, "test")
    ax = fig.axes[1]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("c_i > 0" in s for s in labels) and not any("c_i < 0" in s for s in labels)
    assert any("unit circle" in s for s in labels) and any("teacher" in s for s in labels)
    positions = np.abs(cloud[:, :1]) * cloud[:, 1:]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert x0 < min(-1, positions[:, 0].min()) and x1 > max(1, positions[:, 0].max())
    assert y0 < min(-1, positions[:, 1].min()) and y1 > max(1, positions[:, 1].max())
    assert ax.get_aspect() == 1.0


@pytest.mark.parametrize("module", ["neurons", "runs", "sweeps"])
def test_the_examples_of_the_plot_modules_run(module):
    import doctest
    import importlib

    found = doctest.testmod(importlib.import_module(f"meanfield.plots.{module}"),
                            optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert found.attempted > 0 and found.failed == 0
