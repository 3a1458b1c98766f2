"""Index learning, part two: staircase against leap 3 under the population flow, and the
figures of :mod:`meanfield.experiments.index_learning`.

Staircase y = He_1(z1) + He_1(z1) He_1(z2) + He_1(z1) He_1(z2) He_1(z3) (leap 1) against
y = He_1(z1) He_1(z2) He_1(z3) (leap 3, information exponent 3), z_j = u_j . x, learned
by the exact population gradient flow (``GaussianPopulation``) of a mean-field relu
network with bias (relu with bias has every Hermite degree) from a small start. The
staircase is learned direction by direction, each new term picked up once the previous
directions are (saddle to saddle: plateaus of the risk, overlaps with u_1, then u_2, then
u_3 rising in turn); the leap-3 target waits on a plateau until all three directions
rise together.
"""
from __future__ import annotations

import numpy as np

from ..analysis.overlaps import neuron_overlaps
from ..core.layout import Layout
from ..dynamics import integrators
from ..dynamics.trajectory import LogSchedule, simulate
from ..model.network import Network
from ..model.targets import IndexTarget
from ..objectives.teacher_student import GaussianPopulation
from ..plots.figures import colors, subplots
from ..plots.index_plane import draw_index_plane, draw_overlap_curves
from .index_learning import law

TARGETS = {"staircase": {(1, 0, 0): 1.0, (1, 1, 0): 1.0, (1, 1, 1): 1.0},
           "leap 3": {(1, 1, 1): 1.0}}


def staircase_run(name: str, d: int, m: int, t_end: float, dt: float = 0.02, seed=0,
                  backend: str = "numpy") -> dict:
    """The population flow on TARGETS[name] in d dimensions: risk and, per direction j,
    the largest |q_ij| over the neurons and the |c|-weighted mean of |q_ij|, at log-spaced
    times; the first and last snapshots for the (u_1, u_2) picture."""
    target = IndexTarget.random(d, TARGETS[name], r=3, seed=[d, 3])
    net = Network.init(m, d, bias=True, sphere=True, seed=seed,
                       tau={"c": 0.1, "a": 1.0, "b": 0.5})
    traj = simulate(net, GaussianPopulation(target, backend=backend),
                    integrators.euler(dt), t_end, record=LogSchedule(120, t_min=dt))
    lay = net.layout
    top, mean = [], []
    for w in traj.snapshots:
        q = np.abs(neuron_overlaps(w[:, lay.a], target.U)[0])
        weights = np.abs(w[:, lay.c][:, 0])
        top.append(q.max(axis=0).tolist())
        mean.append((weights @ q / weights.sum()).tolist())
    return {"name": name, "d": d, "m": m, "dt": dt, "times": traj.times.tolist(),
            "risk": traj.risk.tolist(), "second_moment": target.second_moment,
            "overlap_max": top, "overlap_mean": mean,
            "first_last": [traj.snapshots[0].tolist(), traj.snapshots[-1].tolist()],
            "U": target.U.tolist(), "layout_p": lay.p}


def staircase_figure(runs: list[dict], title: str):
    """Per target: relative risk R/R(0) and the overlap of each direction (largest over
    the neurons, solid; |c|-weighted mean, dashed) against t (log), and the neurons in the
    (u_1, u_2) plane at the start and the end."""
    fig, axes = subplots(len(runs), 3, figsize=(14, 4.0 * len(runs)), squeeze=False)
    for row, run in zip(axes, runs, strict=True):
        t = np.asarray(run["times"])[1:]
        risk = np.asarray(run["risk"])
        row[0].plot(t, risk[1:] / risk[0])
        row[0].set(xscale="log", yscale="log", xlabel="mean-field time t",
                   ylabel="R(t) / R(0)", title=f"{run['name']}: population risk")
        palette = colors("viridis", 3)
        mean, top = np.asarray(run["overlap_mean"])[1:], np.asarray(run["overlap_max"])[1:]
        for j, colour in enumerate(palette):
            row[1].plot(t, top[:, j], ls="--", lw=0.8, color=colour)
        draw_overlap_curves(row[1], t, {f"$u_{j + 1}$": mean[:, j] for j in range(3)},
                            logx=True, colours=palette)
        row[1].set_title(f"{run['name']}: overlap $|u_j \\cdot a_i|/|a_i|$, |c|-weighted "
                         "mean (dashed: max over i)", fontsize=9)
        d = run["d"]
        layout = Layout(k=1, d=d, bias=run["layout_p"] == d + 2)
        draw_index_plane(row[2], np.asarray(run["first_last"]), layout,
                         np.asarray(run["U"]), title=f"{run['name']}: neurons, "
                         f"t = 0 (hollow) and t = {run['times'][-1]:g}")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def scaling_figure(cells: dict[int, list[dict]], fits: dict[int, dict], title: str):
    """Samples to weak recovery against d (log-log): every seed (dots), the median
    (squares), the fit with its bootstrap interval, the law d, d log d, d^(k-1) through
    the first median (dotted) and the spherical ODE's median (dashed); one colour per k."""
    fig, ax = subplots(1, 1, figsize=(6.5, 5))
    for (k, row), colour in zip(sorted(cells.items()), colors("plasma", len(cells)),
                                strict=True):
        ds = np.array([cell["d"] for cell in row], dtype=float)
        for cell in row:
            n = np.asarray(cell["samples"], dtype=float)
            ax.scatter(np.full(np.isfinite(n).sum(), cell["d"]), n[np.isfinite(n)], s=5,
                       color=colour, alpha=0.35)
        fit = fits[k]
        medians = np.asarray(fit["medians"])
        ax.plot(ds, medians, "s", color=colour,
                label=f"k* = {k}: fit $d^{{{fit['exponent']:.2f}}}$ "
                      f"[{fit['low']:.2f}, {fit['high']:.2f}]")
        ax.plot(ds, np.exp(fit["intercept"]) * ds ** fit["exponent"], color=colour, lw=1)
        shape = law(k, ds)
        ax.plot(ds, shape * medians[0] / shape[0], color=colour, lw=1, ls=":")
        if "ode_medians" in fit:
            ax.plot(ds, fit["ode_medians"], color=colour, lw=1, ls="--")
    ax.plot([], [], color="0.3", ls=":", label="law d, d log d, $d^{k^*-1}$ (BAGJ), "
            "through the first median")
    ax.plot([], [], color="0.3", ls="--", label="ODE: $T(\\mathrm{median}|m_0|)/\\eta$")
    ax.set(xscale="log", yscale="log", xlabel="input dimension d",
           ylabel="samples to overlap 1/2", title=title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def escape_figure(rows: dict[int, list[dict]], title: str):
    """The population flow's escape time tau (to overlap 1/2 from d^(-1/2)) against d:
    measured (dots) and the spherical ODE's T(m0) (lines)."""
    fig, ax = subplots(1, 1, figsize=(6, 4.5))
    for (k, row), colour in zip(sorted(rows.items()), colors("plasma", len(rows)),
                                strict=True):
        ds = [r["d"] for r in row]
        ax.plot(ds, [r["escape_time"] for r in row], "o", color=colour,
                label=f"k* = {k}, exact population flow")
        ax.plot(ds, [r["predicted"] for r in row], color=colour, lw=1)
    ax.plot([], [], color="0.3", lw=1, label="ODE dm/d$\\tau$ = $C m^{k-1}(1-m^2)$")
    ax.set(xscale="log", yscale="log", xlabel="input dimension d",
           ylabel="escape time $\\tau = \\epsilon t$ to overlap 1/2", title=title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig

