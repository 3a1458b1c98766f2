"""Geiger, Spigler, Jacot & Wyart: lazy versus feature training over alpha x m (theory §8).

Binary tasks with labels +-1 and the hinge loss (their June 2019 code): "teacher-student"
(y = sign of a 3-neuron relu teacher, inputs on the sphere S^{d-1}) and "digits"
(scikit-learn's digits, label = parity, :mod:`meanfield.objectives.datasets`). The student is a
centred relu network F = alpha (h(w) - h(w0)), h = (1/m) sum_i c_i (a_i . x)_+ with
a ~ N(0, I_d), c ~ N(0, 1) and unit-norm inputs, trained by gradient flow on
R(F)/alpha^2 (Euler, dt = min(1, alpha/2): the particle speed is 1/alpha) until t_end.
The hinge velocity is exactly 0 once every margin y F >= 1, so the dynamics stop by
themselves at the authors' stopping rule. (The adaptive step of theory §8 is not used:
the hinge gradient jumps whenever a margin crosses 1, its gradient-change test then
rejects step after step and dt collapses. The soft hinge does not cure this: relu's own
kinks make the gradient jump whenever a pre-activation a_i . x_k changes sign, and with the
soft hinge (beta = 20), n = 200, m = 8, alpha = 0.3 the adaptive step fell to 6e-16 by
t = 7 unless floored by its ``dt_min``.) Each (alpha, m, seed) is one config cell of
:func:`meanfield.runs.sweep.sweep`.

Units: Geiger's alpha_G multiplies an NTK-parameterised output (1/sqrt(h) last layer), so
alpha = alpha_G sqrt(m) in our family (theory §1), and their collapse variable
sqrt(h) alpha_G is our alpha. Measured per cell: the relative kernel change
||Theta_end - Theta_0||_F/||Theta_0||_F on the first ``probe`` test inputs
(:func:`meanfield.analysis.diagnostics.kernel_change`) and the test error of sign(F). The
crossover alpha*(m) is where the kernel change, log-interpolated in alpha, falls through
``threshold``; we report alpha_G* = alpha*/sqrt(m) and the exponent of alpha_G* ~ m^b
(Geiger et al.: b = -1/2). The ensemble predictor averages F over the seeds of a cell.
"""
from __future__ import annotations

import math
from typing import Any, cast

import numpy as np

from ..analysis.diagnostics import kernel_change, laziness_kappa
from ..objectives.teacher_student import Empirical
from ..plots.figures import colors, subplots
from ..runs.collect import read_config_manifest
from ..runs.run import build, load
from ..runs.store import CELLS
from ..runs.sweep import sweep

TASKS = {"teacher-student": 10, "digits": 64}  # input dimension of each task


def base_config(task: str, n_train: int, n_test: int, t_end: float) -> dict:
    """The cell config of ``task`` (alpha, m and seed are set by the grid)."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    return {"task": "teacher-student", "d": TASKS[task], "backend": "auto",
            "teacher": {"m": 3, "activation": "relu", "sphere": True, "output": "sign"},
            "student": {"m": 64, "activation": "relu", "alpha": 1.0, "centered": True},
            "objective": {"kind": "digits" if task == "digits" else "empirical",
                          "inputs": "sphere", "n_train": n_train, "n_test": n_test,
                          "loss": "hinge"},
            "integrator": {"name": "euler", "dt": 1.0},
            "t_end": float(t_end), "record": {"schedule": "log", "n": 30},
            "checkpoint": {"every_seconds": 60.0}}


def cell_measures(run_dir, probe: int) -> dict:
    """Kernel change, test error, test outputs and the laziness criterion kappa at w0
    (on the training set) of one finished cell."""
    result = load(run_dir)
    problem = build(result.config)
    test, train = cast(Empirical, problem.test), cast(Empirical, problem.objective)
    X, y = test.X, test.y
    final = result.trajectory.final
    f = final(X)
    return {"kernel_change": kernel_change(final, problem.student, X[:probe]),
            "test_error": float(np.mean(np.sign(f) != y)), "f": f[:, 0], "y": y[:, 0],
            "kappa": laziness_kappa(problem.student, train.X, train.y)}


def crossover(alphas, values, threshold: float) -> float:
    """The alpha at which ``values`` (decreasing in alpha) first fall below ``threshold``,
    log-log interpolated; nan if they never cross."""
    a, v = np.log(np.asarray(alphas, float)), np.asarray(values, float)
    for k in range(1, len(v)):
        if v[k - 1] >= threshold > v[k] and v[k] > 0:
            frac = (np.log(threshold) - np.log(v[k - 1])) / (np.log(v[k]) - np.log(v[k - 1]))
            return float(np.exp(a[k - 1] + frac * (a[k] - a[k - 1])))
    return math.nan


def step_size(alpha: float) -> float:
    """Euler step min(1, alpha/2) in mean-field time."""
    return min(1.0, 0.5 * float(alpha))


def phase_diagram(out_dir, task: str, alphas, m_values, seeds, n_train: int = 500,
                  n_test: int = 500, t_end: float = 300.0, probe: int = 100,
                  threshold: float = 0.5, data_seed: int = 0,
                  workers: int | None = None) -> dict:
    """Run (or resume) the alpha x m x seed sweep into ``out_dir`` and reduce it.

    ``seeds`` are initialisation seeds (student.init.seed); teacher and data come from
    ``data_seed`` and are shared by all cells, so the seed ensemble averages networks
    trained on the same data from independent initialisations.

    Returns ``alpha`` (ours), ``m``, per (m, alpha): ``kernel_change``, ``test_error`` and
    ``kappa`` (means over seeds), ``ensemble_error`` (test error of the seed-averaged F); per m:
    ``alpha_star`` (ours) and ``alpha_star_geiger`` = alpha*/sqrt(m); ``exponent`` of
    alpha_G* ~ m^b (nan with fewer than two crossovers).
    """
    grid = {"zip": {"student.alpha": [float(a) for a in alphas],
                    "integrator.dt": [step_size(a) for a in alphas]},
            "product": {"student.m": [int(m) for m in m_values],
                        "student.init.seed": [int(s) for s in seeds]}}
    base = {**base_config(task, n_train, n_test, t_end), "seed": int(data_seed)}
    report = sweep(base, grid, out_dir, workers=workers)
    if not report.ok:
        raise RuntimeError("; ".join(report.failure_lines()))
    shape = (len(m_values), len(alphas))
    kc, err, ens, kappa = (np.zeros(shape) for _ in range(4))
    cells: dict[tuple[float, int], list[dict[str, Any]]] = {}
    for entry in read_config_manifest(out_dir)["cells"]:
        v = entry["values"]
        cells.setdefault((float(v["student.alpha"]), int(v["student.m"])), []).append(
            cell_measures(f"{out_dir}/{CELLS}/{entry['id']}", probe))
    for i, m in enumerate(m_values):
        for j, alpha in enumerate(alphas):
            runs = cells[(float(alpha), int(m))]
            kc[i, j] = np.mean([r["kernel_change"] for r in runs])
            err[i, j] = np.mean([r["test_error"] for r in runs])
            kappa[i, j] = np.mean([r["kappa"] for r in runs])
            mean_f = np.mean([r["f"] for r in runs], axis=0)
            ens[i, j] = float(np.mean(np.sign(mean_f) != runs[0]["y"]))
    star = np.array([crossover(alphas, kc[i], threshold) for i in range(len(m_values))])
    star_g = star / np.sqrt(np.asarray(m_values, float))
    ok = np.isfinite(star_g)
    exponent = (float(np.polyfit(np.log(np.asarray(m_values, float)[ok]),
                                 np.log(star_g[ok]), 1)[0]) if ok.sum() >= 2 else math.nan)
    return {"task": task, "alpha": [float(a) for a in alphas],
            "m": [int(m) for m in m_values], "seeds": len(seeds), "threshold": threshold,
            "kernel_change": kc, "test_error": err, "ensemble_error": ens, "kappa": kappa,
            "alpha_star": star, "alpha_star_geiger": star_g, "exponent": exponent}


def figure(results: list[dict], title: str = ""):
    """Per task (rows): kernel change against alpha_G (one curve per m), the same against
    sqrt(m) alpha_G = alpha (the collapse), and test error of single networks and of the
    seed ensemble against m in the most feature-like and the laziest column."""
    fig, axes = subplots(len(results), 3, figsize=(15, 4.2 * len(results)),
                             squeeze=False)
    for row, res in zip(axes, results, strict=False):
        m = np.asarray(res["m"], float)
        alpha = np.asarray(res["alpha"], float)
        colours = colors("viridis", len(m), 0.1, 0.85)
        for i, colour in enumerate(colours):
            row[0].loglog(alpha / np.sqrt(m[i]), res["kernel_change"][i], "o-", color=colour,
                          label=f"m = {int(m[i])}")
            row[1].loglog(alpha, res["kernel_change"][i], "o-", color=colour,
                          label=f"m = {int(m[i])}")
            if np.isfinite(res["alpha_star"][i]):
                row[1].axvline(res["alpha_star"][i], color=colour, lw=0.8, ls=":")
        for ax in row[:2]:
            ax.axhline(res["threshold"], color="0.5", lw=0.8, ls="--")
            ax.set_ylabel(r"$\|\Theta_{end}-\Theta_0\|_F/\|\Theta_0\|_F$")
            ax.legend(fontsize=8, frameon=False)
        row[0].set(xlabel=r"$\alpha_G = \alpha/\sqrt{m}$",
                   title=f"{res['task']}: kernel change ({res['seeds']} seeds)")
        row[1].set(xlabel=r"$\sqrt{m}\,\alpha_G = \alpha$ (ours)",
                   title=rf"collapse; $\alpha_G^* \propto m^{{{res['exponent']:.2f}}}$")
        for j, style, name in ((0, "C3", "feature"), (len(alpha) - 1, "C0", "lazy")):
            label = rf"{name} ($\alpha$ = {alpha[j]:g})"
            row[2].semilogx(m, res["test_error"][:, j], "o-", color=style,
                            label=f"single net, {label}")
            row[2].semilogx(m, res["ensemble_error"][:, j], "s--", color=style,
                            label=f"ensemble of {res['seeds']}, {label}")
        row[2].set(xlabel="m", ylabel="test error",
                   title=f"{res['task']}: ensemble averaging")
        row[2].set_xticks(m, [str(int(v)) for v in m])
        row[2].minorticks_off()
        row[2].legend(fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
