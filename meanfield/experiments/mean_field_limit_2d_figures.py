"""Figures of the 2-D m -> infinity study (meanfield.experiments.mean_field_limit_2d).

* :func:`kymograph_figure`: nu_t on the circle against log t (positive and negative
  parts) for the reference and a coupled m-system, next to the particles' trajectories;
* :func:`slopes_figure`: each distance against m at every recorded time, with baselines,
  m^-1/2 guides and the prefactors' growth with t.
"""
from __future__ import annotations

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.ticker import NullFormatter, NullLocator

from ..model.network import Network
from ..plots.figures import colors, subplots
from ..plots.runs import draw_neurons
from ..runs import store
from .mean_field_limit_2d import aggregate, reference_dir, system_name, teacher


def _thousands(n: int) -> str:
    """n with thin spaces between thousands (math text)."""
    return f"{int(n):,}".replace(",", "\\,")


def _time_edges(times):
    t = np.asarray(times, float)
    mids = np.sqrt(t[1:] * t[:-1])
    return np.concatenate([[t[0] ** 2 / mids[0]], mids, [t[-1] ** 2 / mids[-1]]])


def _kymograph_panel(ax, kymo, part, norm, cmap, teacher_net, title):
    times = kymo["times"]
    keep = times > 0
    density = kymo[part][keep].T  # (bins, n_times)
    bins = density.shape[0]
    theta_edges = np.degrees(np.linspace(-np.pi, np.pi, bins + 1))
    mesh = ax.pcolormesh(_time_edges(times[keep]), theta_edges,
                         np.where(density > 0, density, np.nan), norm=norm, cmap=cmap,
                         shading="flat", rasterized=True)
    ax.set_xscale("log")
    angles = np.degrees(np.arctan2(teacher_net.a[:, 1], teacher_net.a[:, 0]))
    for angle, c in zip(angles, teacher_net.c[:, 0], strict=False):
        ax.axhline(angle, color="k", lw=0.8, ls=(0, (4, 3)), alpha=0.7)
        ax.annotate(f"$c^*={c:+.0f}$", (0.01, angle), xycoords=("axes fraction", "data"),
                    xytext=(0, 2), textcoords="offset points", fontsize=7, va="bottom")
    ax.set(ylim=(-180, 180), yticks=np.arange(-180, 181, 90), xlabel="time $t$",
           ylabel="angle $\\theta$ (degrees)", title=title)
    return mesh


def kymograph_figure(study: dict, seed=None):
    """nu_t on the circle against log t, positive and negative parts, for the reference
    and the coupled m = kymograph_m system of one seed, next to the m-system's particle
    trajectories in the plane (|c_i| a_i, red c > 0, blue c < 0) and those of its partners
    in the reference (teacher directions: arrows of unit length, dashed lines)."""
    setting = study["setting"]
    seed = setting.seeds[0] if seed is None else seed
    m = setting.kymograph_m
    ref = store.read_npz(reference_dir(study["out"], seed) / "kymograph.npz")
    small = store.read_npz(study["out"] / "systems" / (system_name(seed, m, True) + ".npz"))
    teach = teacher()
    fig, axes = subplots(2, 3, figsize=(15, 8.4),
                         gridspec_kw={"width_ratios": [1.25, 1.25, 1]})
    vmax = {p: max(np.max(ref[p]), np.max(small[p])) for p in ("positive", "negative")}
    norms = {p: LogNorm(vmin=vmax[p] * 1e-3, vmax=vmax[p]) for p in vmax}
    cmaps = {"positive": "Reds", "negative": "Blues"}
    rows = ((ref, f"reference, $M = {_thousands(setting.M)}$"),
            (small, f"coupled system, $m = {m}$"))
    for row, (kymo, name) in enumerate(rows):
        for col, part in enumerate(("positive", "negative")):
            mesh = _kymograph_panel(axes[row, col], kymo, part, norms[part], cmaps[part],
                                    teach, f"{name}: $\\nu_{{t,{'+' if col == 0 else '-'}}}$")
            fig.colorbar(mesh, ax=axes[row, col], pad=0.09,
                         label="density per radian")
        snaps = kymo["particles"]
        view = Network.from_packed(snaps[0], teach.layout, alpha="sum")
        who = ("its first" if row == 0 else "the")
        draw_neurons(axes[row, 2], snaps, view, teach,
                     title=f"{who} {snaps.shape[1]} particles, $t \\leq {kymo['times'][-1]:g}$")
    extent = max(axes[r, 2].get_xlim()[1] for r in range(2))
    for r in range(2):
        axes[r, 2].set_xlim(-extent, extent)
        axes[r, 2].set_ylim(-extent, extent)
    fig.suptitle(f"$\\nu_t=\\sum_j q_j c_j |a_j| \\delta_{{\\theta_j}}$ on the circle "
                 f"(seed {seed}); dashed: teacher directions; particles at $|c_i|a_i$ "
                 "(red $c_i>0$, blue $c_i<0$, circles: start; teacher arrows of unit "
                 "length)")
    fig.tight_layout()
    return fig


_PANELS = (("circle_w", "circle $W_1$ (turns), mean of $\\nu_+$ and $\\nu_-$"),
           ("function_distance", "$\\|f_m-f_M\\|_{L^2}$"),
           ("w2", "$W_2$ in $\\mathbb{R}^3$ (vs %d reference particles)"),
           ("coupled_deviation", "coupled deviation"))


def slopes_figure(study: dict, label: str = "coupled", n_shown: int = 5):
    """Each distance against m (log-log) at ``n_shown`` of the recorded times, evenly
    spread (seed means and standard errors; dashed: same-distribution baselines; dotted:
    m^-1/2), the prefactors sqrt(m) D(t) against t, and the reference's risk and masses
    against t."""
    setting = study["setting"]
    agg = aggregate(study)[label]
    ms, times = np.asarray(setting.ms), np.asarray(setting.times)
    fig, axes = subplots(2, 3, figsize=(15, 8.6))
    palette = colors("viridis", len(times))
    for ax, (key, title) in zip(axes.flat, _PANELS, strict=False):
        if "%d" in title:
            title = title % setting.ref_points
        if not np.any(np.isfinite(agg[key + "_mean"])):
            ax.text(0.5, 0.5, f"not defined for {label} systems", ha="center",
                    va="center", transform=ax.transAxes)
            ax.set(title=title, xticks=[], yticks=[])
            continue
        shown = np.unique(np.rint(np.linspace(0, len(times) - 1, n_shown)).astype(int))
        if key == "coupled_deviation" and times[shown[0]] == 0:
            shown[0] = 1  # zero at t = 0
        for k in shown:
            t = times[k]
            mean, sem = agg[key + "_mean"][:, k], agg[key + "_sem"][:, k]
            ok = np.isfinite(mean)
            slope = agg["slope_" + key][k]
            ax.errorbar(ms[ok], mean[ok], sem[ok], fmt="o-", ms=3.5, lw=1.2, capsize=2,
                        color=palette[k], label=f"t = {t:g} (slope {slope:.2f})")
            if key + "_baseline_mean" in agg:
                base = agg[key + "_baseline_mean"][:, k]
                ax.plot(ms[ok], base[ok], "--", color=palette[k], lw=0.9)
        finite = agg[key + "_mean"][:, -1]
        ok = np.isfinite(finite) & (finite > 0)
        if ok.any():
            first = np.flatnonzero(ok)[0]
            guide = finite[first] * np.sqrt(ms[first] / ms[ok])
            ax.plot(ms[ok], guide, "k:", lw=1.2, label="$\\propto m^{-1/2}$")
        ax.set(xscale="log", yscale="log", xlabel="m", title=title)
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticks(ms[ok] if ok.any() else ms,
                      [str(v) for v in (ms[ok] if ok.any() else ms)], fontsize=7)
        ax.legend(fontsize=6.5, loc="lower left")
    ax = axes[1, 1]
    for j, (key, name) in enumerate((("circle_w", "circle $W_1$"),
                                     ("function_distance", "$\\|f_m-f_M\\|$"),
                                     ("coupled_deviation", "coupled deviation"))):
        pre = agg["prefactor_" + key]
        ok = times > 0
        ax.plot(times[ok], pre[ok], "o-", color=f"C{j}", ms=3.5, label=name)
        if "prefactor_" + key + "_baseline" in agg:
            ax.plot(times[ok], agg["prefactor_" + key + "_baseline"][ok], "--",
                    color=f"C{j}", lw=1, label=name + " baseline")
    ax.set(xscale="log", yscale="log", xlabel="time $t$",
           title="prefactor $C(t)$: geometric mean over m of $\\sqrt{m}\\,D_m(t)$")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize=7)
    ax = axes[1, 2]
    refs = study["references"]
    risk = np.mean([refs[s]["risk"] for s in setting.seeds], axis=0)
    ok = times > 0
    ax.plot(times[ok], risk[ok], "k.-", label="risk $R(f_M)$")
    ref_mass = [np.mean([study["systems"][(s, setting.ms[0], True)]
                         [f"mass_{part}_reference"] for s in setting.seeds], axis=0)
                for part in ("positive", "negative")]
    ax.plot(times[ok], ref_mass[0][ok], "o-", color="#d62728", ms=3.5,
            label="mass of $\\nu_{M,+}$")
    ax.plot(times[ok], ref_mass[1][ok], "o-", color="#1f77b4", ms=3.5,
            label="mass of $\\nu_{M,-}$")
    diff = agg["mass_difference_positive_mean"]
    ax.plot(times[ok], diff[list(setting.ms).index(setting.kymograph_m), ok], "s--",
            color="#d62728", ms=3, lw=1,
            label=f"$|$mass $\\nu_{{m,+}}-\\nu_{{M,+}}|$, m = {setting.kymograph_m}")
    ax.set(xscale="log", yscale="log", xlabel="time $t$",
           title="reference: risk and masses (seed mean)")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize=7)
    fig.suptitle(f"2-D teacher-student, {label} systems against the reference "
                 f"$M = {_thousands(setting.M)}$ ({len(setting.seeds)} seeds); dashed: "
                 "same-distribution baselines")
    fig.tight_layout()
    return fig
