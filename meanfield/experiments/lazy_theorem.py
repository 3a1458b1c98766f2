"""The lazy theorem and the exit from the tangent space (theory §1, §3, §8).

Both experiments train an alpha-scaled network and its tangent model
(:class:`meanfield.objectives.tangent.Tangent`) side by side from the same particles with the same
integrator and record schedule, on a teacher-student regression task with Gaussian
inputs (teacher: 3 relu neurons on the sphere with output weights +-1, summed), and
compare their predictions on held-out probe points
(:func:`meanfield.analysis.diagnostics.diagnose`).

* :func:`lazy_theorem`: across alpha, the sup over time of the RMS distance between the
  network and the tangent model. With a centred network (f - f(w0), Gaussian init) it is
  O(1/alpha) (Chizat-Oyallon-Bach); with a symmetrised init the O(1/alpha) term cancels
  between twin neurons (c, a) and (-c, a): to first order their c-moves agree and their
  a-moves are opposite, so the second-order terms delta_c sigma'(z) (delta_a . x) and
  c sigma''(z) (delta_a . x)^2 have opposite signs, leaving O(1/alpha^2). It also
  measures the distance to the infinite-width NTK kernel predictor
  (:func:`meanfield.analysis.ntk.ntk`) at the final time, which falls like 1/alpha down to the
  finite-m floor of the empirical tangent kernel.
* :func:`tangent_exit`: over m and alpha, the time t1 at which the relative distance
  RMS(f_net - f_lin)/RMS(f_lin - f(w0)) first exceeds a threshold. In our family
  alpha = sqrt(m) alpha_G (Geiger's alpha), so Geiger's t1 ~ sqrt(h) alpha_G predicts
  t1 ~ alpha here (mean-field time) at any m; the fit t1 ~ alpha^p m^q measures both.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..analysis.diagnostics import diagnose
from ..dynamics.integrators import euler
from ..analysis.distances import loglog_slope
from ..model.network import Network
from ..analysis.ntk import kernel_predictor, ntk
from ..objectives.teacher_student import Empirical, GaussianPopulation
from ..plots.figures import colors, subplots
from ..dynamics.trajectory import LogSchedule, simulate
from ..objectives.tangent import Tangent


def teacher_task(d: int, n_train: int, n_test: int, seed=0, backend="auto"):
    """(train objective, X_test, y_test): y = sum_{j<=3} c*_j (a*_j . x)_+, x ~ N(0, I_d),
    a*_j uniform on the sphere, c*_j = +-1 (the Chizat-Oyallon-Bach teacher, §6)."""
    teacher_seed, data_seed = np.random.SeedSequence(seed).spawn(2)
    teacher = Network.init(3, d, sphere=True, output="sign", alpha=3.0, seed=teacher_seed)
    population = GaussianPopulation(teacher, backend=backend)
    rng = np.random.default_rng(data_seed)
    X, y = population.sample(n_train, rng)
    X_test, y_test = population.sample(n_test, rng)
    return Empirical(X, y, backend=backend), X_test, y_test


def paired_run(net0: Network, objective: Empirical, probe, dt: float, t_end: float,
               records: int = 40) -> dict:
    """Euler(dt) on the network and on its tangent model up to t_end, recorded at the same
    log-spaced times; returns ``times``, the final ``network`` and ``tangent`` particles
    and the diagnostics of :func:`meanfield.analysis.diagnostics.diagnose` on ``probe``."""
    tangent = Tangent(objective, net0)
    schedule = LogSchedule(records)
    net_run = simulate(net0, objective, euler(dt), t_end, record=schedule)
    lin_run = simulate(net0, tangent, euler(dt), t_end, record=schedule)
    diag = diagnose(net_run.snapshots, net0, probe, tangent, lin_run.snapshots)
    return {"times": net_run.times, "network": net_run.final, "tangent": lin_run.final,
            "tangent_model": tangent, **diag}



def lazy_theorem(alphas, m: int = 200, d: int = 5, n_train: int = 50, n_test: int = 200,
                 t_end: float = 10.0, dt: float = 0.02, activation: str = "erf",
                 fit_from: float = 10.0, seed=0, backend="numpy") -> dict:
    """Network versus tangent model across ``alphas`` for a centred and a symmetrised
    initialisation (a ~ N(0, I_d), c ~ N(0, 1)); see the module docstring.

    Returns ``alpha`` and, per init ("centred", "symmetrised"): ``distance_to_tangent``
    (sup over records of RMS_test(f_net - f_lin)), ``distance_to_ntk`` (RMS_test of
    f_net(t_end) minus the NTK kernel predictor at t_end, with f(w0) = 0), ``tangent_to_ntk``
    (the same for the tangent model: the finite-m floor), ``displacement`` (final
    ||w - w0||/||w0||) and ``slope`` (fitted exponent of distance_to_tangent in alpha,
    over alpha >= ``fit_from``). The default activation is erf: the theorem needs a smooth
    h; with relu, sign flips of a_i . x_k at training points add jumps to the velocity
    and the distance reaches its 1/alpha asymptote only once no pattern flips any more.
    The default backend is numpy (these sizes are too small for Numba's threads to pay).
    """
    objective, X_test, _ = teacher_task(d, n_train, n_test, seed, backend)
    X, y = objective.X, objective.y
    K, K_test = ntk(X, X, activation), ntk(X_test, X, activation)
    ntk_pred = kernel_predictor(K, K_test, y, t=t_end)
    init_seed = np.random.SeedSequence(seed).spawn(3)[2]
    out: dict[str, Any] = {"alpha": [float(a) for a in alphas]}
    variants: tuple[tuple[str, dict[str, Any]], ...] = (("centred", {"centered": True}),
                                                        ("symmetrised", {"symmetric": True}))
    for name, kwargs in variants:
        rows: dict[str, Any] = {key: [] for key in ("distance_to_tangent", "distance_to_ntk",
                                    "tangent_to_ntk", "displacement")}
        for alpha in alphas:
            net0 = Network.init(m, d, activation=activation, alpha=float(alpha),
                                seed=init_seed, **kwargs)
            run = paired_run(net0, objective, X_test, dt, t_end)
            f_net = run["network"](X_test)
            f_lin = run["tangent_model"].outputs(run["tangent"], X_test)
            f0 = net0(X_test)
            rows["distance_to_tangent"].append(float(run["tangent_distance"].max()))
            rows["distance_to_ntk"].append(float(np.sqrt(np.mean((f_net - f0 - ntk_pred) ** 2))))
            rows["tangent_to_ntk"].append(float(np.sqrt(np.mean((f_lin - f0 - ntk_pred) ** 2))))
            rows["displacement"].append(float(run["displacement"][-1]))
        fit = np.asarray(alphas, float) >= fit_from
        rows["slope"] = loglog_slope(np.asarray(alphas, float)[fit],
                                  np.asarray(rows["distance_to_tangent"])[fit])
        out[name] = rows
    return out


def exit_time(times, relative_distance, threshold: float) -> float:
    """First time the relative distance exceeds ``threshold``, interpolated in log-log
    between the two records around the crossing; inf if it never does."""
    times, r = np.asarray(times, float), np.asarray(relative_distance, float)
    above = np.nonzero(r > threshold)[0]
    if len(above) == 0:
        return math.inf
    k = above[0]
    if k == 0 or r[k - 1] <= 0 or times[k - 1] <= 0:
        return float(times[k])
    frac = (np.log(threshold) - np.log(r[k - 1])) / (np.log(r[k]) - np.log(r[k - 1]))
    return float(np.exp(np.log(times[k - 1]) + frac * (np.log(times[k]) - np.log(times[k - 1]))))


def tangent_exit(m_values, alphas, d: int = 5, n_train: int = 50, n_test: int = 200,
                 threshold: float = 0.1, horizon: float = 30.0, steps: int = 600,
                 activation: str = "erf", seed=0, backend="numpy") -> dict:
    """t1 (first time RMS(f_net - f_lin)/RMS(f_lin - f0) > ``threshold``) for centred
    networks of widths ``m_values`` at scales ``alphas`` (our alpha = sqrt(m) alpha_G).

    Each run goes to t_end = ``horizon`` * alpha with dt = t_end/``steps`` (the particle
    speed is 1/alpha, so the nonlinear effects build up on a time ~ alpha). Returns
    ``m``, ``alpha``, ``t1`` (len(m) x len(alpha), inf where never left) and the fitted
    exponents of t1 ~ alpha^p m^q (:func:`power_law`).
    """
    objective, X_test, _ = teacher_task(d, n_train, n_test, seed, backend)
    init_seed = np.random.SeedSequence(seed).spawn(3)[2]
    t1 = np.full((len(m_values), len(alphas)), math.inf)
    for i, m in enumerate(m_values):
        for j, alpha in enumerate(alphas):
            net0 = Network.init(int(m), d, activation=activation, alpha=float(alpha),
                                centered=True, seed=init_seed)
            t_end = horizon * float(alpha)
            run = paired_run(net0, objective, X_test, t_end / steps, t_end, records=80)
            t1[i, j] = exit_time(run["times"], run["tangent_distance_rel"], threshold)
    return {"m": [int(m) for m in m_values], "alpha": [float(a) for a in alphas],
            "t1": t1, "threshold": threshold, **power_law(m_values, alphas, t1)}


def power_law(m_values, alphas, values) -> dict:
    """Least-squares fit log v = p log alpha + q log m + const over the finite entries of
    ``values`` (len(m) x len(alpha)): {"exponent_alpha": p, "exponent_m": q}."""
    A, M = np.meshgrid(np.asarray(alphas, float), np.asarray(m_values, float))
    v = np.asarray(values, float)
    ok = np.isfinite(v) & (v > 0)
    if ok.sum() < 3:
        return {"exponent_alpha": math.nan, "exponent_m": math.nan}
    design = np.stack([np.log(A[ok]), np.log(M[ok]), np.ones(ok.sum())], axis=1)
    coef = np.linalg.lstsq(design, np.log(v[ok]), rcond=None)[0]
    return {"exponent_alpha": float(coef[0]), "exponent_m": float(coef[1])}


# --------------------------------------------------------------------------- figures
def theorem_figure(result: dict, title: str = ""):
    """(a) sup_t RMS(f_net - f_lin) against alpha, centred and symmetrised, with 1/alpha and
    1/alpha^2 guides; (b) distance of the network (and of its tangent model) to the
    infinite-width NTK kernel predictor at t_end, and the relative displacement."""
    alpha = np.asarray(result["alpha"])
    fig, (ax1, ax2) = subplots(1, 2, figsize=(11, 4.2))
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
    fig, (ax1, ax2) = subplots(1, 2, figsize=(11, 4.2))
    colours = colors("viridis", len(m), 0.1, 0.85)
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
