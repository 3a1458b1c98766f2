"""Noisy (Langevin) dynamics and its Gibbs fixed point, checked self-consistently.

Mean-field Langevin dynamics (theory §7; meanfield.dynamics.integrators.langevin, temperature
T = 1/beta, weight decay lam) has the stationary law rho* ∝ exp(-Psi_lam(w; rho*)/T) with
Psi_lam(w; rho) = F'(rho)(w) + lam |w|^2 / 2. Its fixed-point equation involves rho*
on both sides, so we test it *self-consistently*: for the particle cloud mu_t at time t,
freeze its potential Psi_lam(.; mu_t) and sample the Gibbs law

    G[mu_t](dw) ∝ exp(-Psi_lam(w; mu_t) / T) dw

exactly in law, as the stationary law of n independent test particles running Langevin
dynamics in the frozen field (a non-interacting, linear Fokker-Planck equation whose
unique invariant law is G[mu_t]; same Ornstein-Uhlenbeck splitting as the integrator),
for a time ``t_mix`` much longer than the relaxation time of the confining potential.
mu_t is at the fixed point iff mu_t = G[mu_t]; we report W2(mu_t, G[mu_t]) with the
same-distribution baseline W2(G_1, G_2) of two disjoint Gibbs samples of the same sizes
(m and n - m). Both curves should meet as t grows. (A finite cloud carries its own O(1/m)
self-interaction, so equality is up to O(1/m) plus the O(dt) splitting bias.)
"""
from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib import patheffects

from ..dynamics import integrators as dynamics
from ..analysis import distances as metrics
from ..model.network import Network
from ..objectives.teacher_student import GaussianPopulation
from ..plots import neurons
from ..plots.figures import subplots
from ..dynamics.trajectory import LinearSchedule, simulate


def gibbs_sample(objective, net: Network, n: int, temperature: float, weight_decay: float,
                 dt: float, t_mix: float, seed=0) -> np.ndarray:
    """n samples of G[mu] ∝ exp(-(F'(mu)(w) + lam|w|^2/2)/T) for the frozen cloud mu of
    ``net``: independent test particles started from the cloud (resampled) and run
    w <- e^{-lam dt} w + dt v_mu(w) + sqrt(T (1 - e^{-2 lam dt}) / lam) xi for t_mix."""
    rng = np.random.default_rng(seed)
    lam, T = float(weight_decay), float(temperature)
    decay = np.exp(-lam * dt)
    noise = np.sqrt(T * -np.expm1(-2 * lam * dt) / lam) if lam > 0 else np.sqrt(2 * T * dt)
    w = net.w[rng.integers(net.m, size=int(n))].copy()
    for _ in range(int(np.ceil(t_mix / dt))):
        w = decay * w + dt * objective.velocity_at(net, w) + noise * rng.standard_normal(w.shape)
    return w


def gibbs_check(teacher: Network, student: Network, temperature: float,
                weight_decay: float, dt: float, t_end: float, records: int = 6,
                n_gibbs: int = 2000, t_mix: float = 50.0, seed=0) -> dict:
    """Run Langevin from ``student`` to t_end on the population objective and, at each
    of ``records`` equally spaced times, compare the cloud with the Gibbs law of its own
    potential. Returns times, w2_to_gibbs, w2_baseline, risk and the final cloud and
    Gibbs sample."""
    objective = GaussianPopulation(teacher)
    integrator = dynamics.langevin(dt, temperature, weight_decay)
    traj = simulate(student, objective, integrator, t_end, record=LinearSchedule(records),
                    seed=seed)
    m = student.m
    out: dict[str, Any] = {"times": [], "w2_to_gibbs": [], "w2_baseline": [], "risk": []}
    gibbs = None
    for k, (t, w) in enumerate(zip(traj.times, traj.snapshots, strict=False)):
        cloud = student.with_w(w)
        gibbs = gibbs_sample(objective, cloud, n_gibbs + m, temperature, weight_decay, dt,
                             t_mix, seed=[int(seed), k])
        out["times"].append(float(t))
        out["w2_to_gibbs"].append(metrics.w2(w, gibbs[m:]))
        out["w2_baseline"].append(metrics.w2(gibbs[:m], gibbs[m:]))
        out["risk"].append(float(traj.risk[k]))
    assert gibbs is not None  # a trajectory has at least two records
    out.update(final_cloud=traj.snapshots[-1], final_gibbs=gibbs[m:])
    return out


def gibbs_figure(result: dict, student: Network, teacher: Network, title: str):
    """Left: W2(mu_t, G[mu_t]) and the baseline against t; right: the final cloud and
    its Gibbs sample drawn at |c| a (the papers' convention, first two coordinates; cloud
    red c > 0, blue c < 0; teacher arrows at their own |c*| a*; unit circle dashed)."""
    fig, (ax1, ax2) = subplots(1, 2, figsize=(11, 4.3))
    t = np.asarray(result["times"])
    ax1.plot(t, result["w2_to_gibbs"], "o-", label="$W_2(\\mu_t, G[\\mu_t])$")
    ax1.plot(t, result["w2_baseline"], "s--", color="gray",
             label="baseline $W_2(G_1, G_2)$ (same sizes)")
    ax1.set(xlabel="mean-field time t", ylabel="$W_2$", yscale="log",
            title="cloud vs Gibbs law of its own potential")
    if result["w2_baseline"][0] > 10 * max(result["w2_baseline"][1:], default=0):
        ax1.annotate("t = 0: exp(-Psi/T) of the unfitted cloud\nis not normalisable "
                     "(test particles escape)", (t[0], result["w2_baseline"][0]),
                     xytext=(0.25, 0.8), textcoords="axes fraction", fontsize=7,
                     arrowprops=dict(arrowstyle="->", lw=0.6))
    ax1.legend(fontsize=8)
    lay = student.layout
    sample = result["final_gibbs"]
    gibbs = np.abs(sample[:, lay.c][:, :1]) * sample[:, lay.a][:, :2]
    ax2.scatter(*gibbs.T, s=4, color="0.6", alpha=0.35, label="Gibbs sample $G[\\mu_T]$",
                zorder=1)
    cloud = result["final_cloud"]
    pos = np.abs(cloud[:, lay.c][:, :1]) * cloud[:, lay.a][:, :2]
    positive = cloud[:, lay.c][:, 0] >= 0
    for part, colour, sign in ((positive, neurons.POSITIVE, ">"),
                               (~positive, neurons.NEGATIVE, "<")):
        if part.any():  # a legend entry only for marks that are drawn
            ax2.scatter(*pos[part].T, s=10, color=colour, alpha=0.8, zorder=2,
                        label=f"cloud $\\mu_T$, $c_i {sign} 0$")
    ring = np.linspace(0, 2 * np.pi, 256)
    ax2.plot(np.cos(ring), np.sin(ring), color=neurons.CIRCLE, lw=1.0, ls=(0, (4, 3)),
             zorder=3, label="unit circle")
    outline = [patheffects.withStroke(linewidth=4.0, foreground="white")]
    for c, a in zip(teacher.c[:, 0], teacher.a[:, :2], strict=False):
        colour = neurons.TEACHER_POSITIVE if c >= 0 else neurons.TEACHER_NEGATIVE
        ax2.annotate("", xy=tuple(a * abs(c)), xytext=(0, 0), zorder=4, arrowprops=dict(
            arrowstyle="-|>", color=colour, lw=2.0, mutation_scale=14,
            path_effects=outline))
    for s in sorted({c >= 0 for c in teacher.c[:, 0]}, reverse=True):
        ax2.plot([], [], marker=">", lw=2.0,
                 label=f"teacher $|c^*|a^*$, $c^* {'>' if s else '<'} 0$",
                 color=neurons.TEACHER_POSITIVE if s else neurons.TEACHER_NEGATIVE)
    # every point, the origin and the unit circle in view, one scale on both axes
    points = np.concatenate([gibbs, pos, [[-1.0, -1.0], [1.0, 1.0]]])
    low, high = points.min(axis=0), points.max(axis=0)
    pad = 0.05 * float(np.max(high - low))
    ax2.set(xlabel="$|c|\\,a_1$", ylabel="$|c|\\,a_2$", aspect="equal",
            xlim=(low[0] - pad, high[0] + pad), ylim=(low[1] - pad, high[1] + pad),
            title=f"t = {t[-1]:g}: neurons at $|c|a$ (teacher and cloud alike)")
    ax2.legend(fontsize=7, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
