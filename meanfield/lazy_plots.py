"""Figures of the lazy-versus-feature experiments (THEORY.md §1, §3, §6, §8).

One function per experiment, each returning a matplotlib Figure (saved as PNG and PDF by
:func:`meanfield.plotting.save`). Scales are converted as in the experiments: our alpha
is Geiger's sqrt(m) alpha_G, Chizat-Oyallon-Bach's tau is the init scale.
"""
from __future__ import annotations

import numpy as np

from .plotting import plt


def theorem_figure(result: dict, title: str = ""):
    """(a) sup_t RMS(f_net - f_lin) against alpha, centred and symmetrised, with 1/alpha and
    1/alpha^2 guides; (b) distance of the network (and of its tangent model) to the
    infinite-width NTK kernel predictor at t_end, and the relative displacement."""
    alpha = np.asarray(result["alpha"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, colour in (("centred", "C0"), ("symmetrised", "C3")):
        row = result[name]
        ax1.loglog(alpha, row["distance_to_tangent"], "o-", color=colour,
                   label=f"{name} (slope {row['slope']:.2f})")
    ref = np.asarray(result["centred"]["distance_to_tangent"])[-1]
    ax1.loglog(alpha, ref * alpha[-1] / alpha, "k:", lw=1, label=r"$\propto 1/\alpha$")
    ref = np.asarray(result["symmetrised"]["distance_to_tangent"])[-1]
    ax1.loglog(alpha, ref * (alpha[-1] / alpha) ** 2, "k--", lw=1,
               label=r"$\propto 1/\alpha^2$")
    ax1.set(xlabel=r"$\alpha$", ylabel=r"$\sup_t$ RMS$_{test}(f_{net} - f_{lin})$",
            title="(a) network vs its tangent model")
    ax1.legend(fontsize=8, frameon=False)
    for name, colour in (("centred", "C0"), ("symmetrised", "C3")):
        row = result[name]
        ax2.loglog(alpha, row["distance_to_ntk"], "o-", color=colour,
                   label=f"network, {name}")
        ax2.loglog(alpha, row["tangent_to_ntk"], "--", color=colour, lw=1,
                   label=f"tangent model (finite-m floor), {name}")
    ax2.loglog(alpha, result["centred"]["displacement"], "s-", color="0.4", ms=3,
               label=r"$\|w-w_0\|/\|w_0\|$ (centred)")
    ax2.set(xlabel=r"$\alpha$", ylabel="RMS$_{test}$ distance at $t_{end}$",
            title="(b) to the NTK kernel predictor")
    ax2.legend(fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def exit_figure(result: dict, title: str = ""):
    """t1 against our alpha = sqrt(m) alpha_G (left) and against alpha_G (right), one
    curve per width m; the left panel carries the fitted power law."""
    m = np.asarray(result["m"], float)
    alpha = np.asarray(result["alpha"], float)
    t1 = np.asarray(result["t1"], float)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = plt.cm.viridis(np.linspace(0.1, 0.85, len(m)))
    for i, colour in enumerate(colours):
        ax1.loglog(alpha, t1[i], "o-", color=colour, label=f"m = {int(m[i])}")
        ax2.loglog(alpha / np.sqrt(m[i]), t1[i], "o-", color=colour, label=f"m = {int(m[i])}")
    ax1.loglog(alpha, alpha, "k:", lw=1, label=r"$t_1 = \sqrt{m}\,\alpha_G$")
    p, q = result["exponent_alpha"], result["exponent_m"]
    ax1.set(xlabel=r"$\sqrt{m}\,\alpha_G = \alpha$ (ours)", ylabel=r"$t_1$ (mean-field time)",
            title=rf"(a) fit $t_1 \propto \alpha^{{{p:.2f}}} m^{{{q:.2f}}}$")
    ax2.set(xlabel=r"$\alpha_G = \alpha/\sqrt{m}$", ylabel=r"$t_1$",
            title="(b) against Geiger's alpha")
    for ax in (ax1, ax2):
        ax.legend(fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
