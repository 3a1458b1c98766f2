"""Chizat-Oyallon-Bach: generalisation against the initialisation scale tau (theory §6).

**Fixed training set** (their ``test_vs_scale.jl``): d = 100, n_train = n_test = 1000,
m = 50, teacher y = sum_{j<=3} c*_j (a*_j . x)_+ (a*_j on the sphere, c*_j = +-1), inputs
uniform on the sphere, student a ~ N(0, I_d), c ~ N(0, 1) symmetrised, times tau;
F(w) = (1/2n) sum_k (sum_i c_i (a_i . x_k)_+ - y_k)^2 by GD with step
eta = min(10, 0.1/tau^2). Conversion to our alpha family (as in :mod:`meanfield.experiments.demo`):
their f has no 1/m, so alpha = m ("sum"); their step moves w_i by -eta grad_{w_i} R, ours
by dt m grad_{w_i}(R/m^2), so dt = m eta and t_end = m eta iterations. Each (tau, seed)
is one config cell of :func:`meanfield.runs.sweep.sweep`; the "best test loss during
training" is the minimum over the recorded times (200 log-spaced records), where the
authors take it over every iteration.

**Population SGD** (``populationSGD.jl``): student (1/m) sum_i c_i (a_i . x)_+ (alpha = 1),
a, c ~ tau N(0, 1) symmetrised, fresh batches of 200, eta = min(0.25/tau^2, 25), with the
first-layer step multiplied by d. A step of d eta on a is a step eta on a' = a/sqrt(d)
with inputs x' = sqrt(d) x, so we train on x' ~ N(0, I_d) (the sphere scaled by sqrt(d),
to O(1/sqrt(d))) with a' ~ (tau/sqrt(d)) N(0, I_d) and teacher directions a*/sqrt(d);
their step -eta grad R is our Euler step dt = eta/m. The loss "at convergence" is the
mean of the exact population risk over the records of the last 10% of the iterations
(theirs: the sum of the last 2000 of 20000 minibatch losses), normalised by its maximum
over tau. Their code divides the teacher output by the batch size:
``teacher_divisor = batch`` reproduces that (y = sum_j c*_j (a*_j . x)_+ / 200, the
paper's figure); ``teacher_divisor = 1`` is the teacher the paper describes.

Every fixed-training-set cell also records the laziness diagnostics of
:mod:`meanfield.analysis.diagnostics` on 100 test points (config section ``diagnostics``): the
criterion kappa at w0 and the relative tangent-kernel change at the end, reduced to
``kappa`` and ``kernel_change_end`` per tau.
"""
from __future__ import annotations

import math

import numpy as np

from ..dynamics.integrators import euler
from ..model.network import Network
from ..objectives.teacher_student import Online
from ..plots.figures import subplots
from ..dynamics.trajectory import LinearSchedule, simulate_many
from ..runs.sweep import map_cells, sweep

D, N, M = 100, 1000, 50
PROBE = 100  # test points of the kernel-change diagnostic


def gd_step(tau: float) -> float:
    """Their step rule min(10, 0.1/tau^2) (fixed training set)."""
    return min(10.0, 0.1 / tau**2)


def base_config(iterations: int, d: int = D, n: int = N, m: int = M) -> dict:
    """The fixed-training-set config (tau, dt, t_end and seed are set per cell)."""
    return {"task": "teacher-student", "d": d, "backend": "auto",
            "teacher": {"m": 3, "activation": "relu", "sphere": True, "output": "sign",
                        "alpha": "sum"},
            "student": {"m": m, "activation": "relu", "alpha": "sum",
                        "init": {"tau": 1.0, "symmetric": True}},
            "objective": {"kind": "empirical", "inputs": "sphere", "n_train": n, "n_test": n},
            "integrator": {"name": "euler", "dt": 1.0},
            "t_end": float(iterations),
            "record": {"schedule": "log", "n": 200},
            "checkpoint": {"every_seconds": 60.0},
            "diagnostics": {"probe": PROBE}}


def grid(taus, seeds, iterations: int, m: int = M) -> dict:
    """Zip tau with its step dt = m eta(tau) and horizon t_end = dt * iterations."""
    dts = [m * gd_step(t) for t in taus]
    return {"zip": {"student.init.tau": [float(t) for t in taus], "integrator.dt": dts,
                    "t_end": [dt * iterations for dt in dts]},
            "seeds": [int(s) for s in seeds]}


def test_vs_scale(out_dir, taus, seeds, iterations: int = 10_000, d: int = D, n: int = N,
                  m: int = M, workers: int | None = None, batch: bool = True) -> dict:
    """Run (or resume) the sweep into ``out_dir`` and reduce it: ``tau``, and mean and std
    over seeds of ``test_loss_end`` (last record), ``test_loss_best`` (min over records),
    ``kappa`` (laziness criterion at w0) and ``kernel_change_end``. ``batch`` runs
    compatible cells as ensembles (:mod:`meanfield.runs.batch`; the same numbers)."""
    from ..runs.collect import collect, collect_series

    report = sweep(base_config(iterations, d, n, m), grid(taus, seeds, iterations, m),
                   out_dir, workers=workers, batch=batch)
    if not report.ok:
        raise RuntimeError("; ".join(report.failure_lines()))
    series, table = collect_series(out_dir), collect(out_dir, save=False)
    ends, bests, kappas, changes = [], [], [], []
    for tau in taus:
        cells = series[np.isclose(series["student.init.tau"], tau)]
        per_seed = cells.sort_values("t").groupby("seed")["test_risk"]
        ends.append(per_seed.last().to_numpy())
        bests.append(per_seed.min().to_numpy())
        rows = table[np.isclose(table["student.init.tau"], tau)]
        kappas.append(rows["kappa"].to_numpy())
        changes.append(rows["final_kernel_change"].to_numpy())
    return {"tau": [float(t) for t in taus],
            "test_loss_end": _mean_std(ends), "test_loss_best": _mean_std(bests),
            "kappa": _mean_std(kappas), "kernel_change_end": _mean_std(changes),
            "iterations": iterations, "seeds": len(seeds)}


def _mean_std(rows) -> dict:
    return {"mean": [float(np.mean(r)) for r in rows],
            "std": [float(np.std(r, ddof=1)) if len(r) > 1 else 0.0 for r in rows]}


def sgd_step(tau: float) -> float:
    """Their population-SGD step rule min(0.25/tau^2, 25)."""
    return min(0.25 / tau**2, 25.0)


def _population_sgd_problem(tau, seed, batch, d, m, teacher_divisor):
    teacher_seed, student_seed, stream = np.random.SeedSequence(seed).spawn(3)
    scale = 1.0 / math.sqrt(d)
    teacher = Network.init(3, d, sphere=True, output="sign", alpha=3.0 / teacher_divisor,
                           tau={"a": scale}, seed=teacher_seed)
    student = Network.init(m, d, tau={"c": tau, "a": tau * scale}, symmetric=True,
                           alpha=1.0, seed=student_seed)
    return student, Online(teacher, batch=batch, seed=stream, backend="numpy"), stream


def population_sgd_cell(tau: float, seed: int, iterations: int, batch: int = 200,
                        d: int = D, m: int = M, teacher_divisor: float = 1.0) -> float:
    """One population-SGD run (module docstring) with teacher outputs divided by
    ``teacher_divisor``; returns the mean exact population risk over the last 10% of the
    iterations."""
    return population_sgd_seeds(tau, [seed], iterations, batch, d, m, teacher_divisor)[0]


def population_sgd_seeds(tau: float, seeds, iterations: int, batch: int = 200, d: int = D,
                         m: int = M, teacher_divisor: float = 1.0) -> list[float]:
    """:func:`population_sgd_cell` for several seeds as one ensemble
    (:func:`meanfield.dynamics.trajectory.simulate_many`: each seed keeps its own teacher and
    random stream, so every value equals its single run's)."""
    runs = [_population_sgd_problem(tau, s, batch, d, m, teacher_divisor) for s in seeds]
    dt = sgd_step(tau) / m
    trajs = simulate_many([r[0] for r in runs], [r[1] for r in runs], euler(dt),
                          dt * iterations, record=LinearSchedule(51),
                          seeds=[r[2] for r in runs])
    for traj in trajs:
        if traj.divergence is not None:
            raise traj.divergence
    return [float(np.mean(traj.risk[-6:])) for traj in trajs]


def population_sgd(taus, seeds, out_dir, iterations: int = 20_000,
                   workers: int | None = None, batch: int = 200, d: int = D, m: int = M,
                   teacher_divisor: float = 1.0) -> dict:
    """Population SGD over ``taus`` x ``seeds``: one function cell of
    :func:`meanfield.runs.sweep.map_cells` per tau (in ``out_dir``, resumable), its seeds
    run as one ensemble (:func:`population_sgd_seeds`); ``tau`` and the normalised loss at
    convergence (mean and std over seeds, divided by the max mean). ``teacher_divisor =
    batch`` is the authors' code (see the module docstring)."""
    calls = [dict(tau=float(t), seeds=[int(s) for s in seeds], iterations=int(iterations),
                  batch=int(batch), d=int(d), m=int(m), teacher_divisor=float(teacher_divisor))
             for t in taus]
    report = map_cells(population_sgd_seeds, calls, out_dir, workers=workers, progress=False)
    if not report.ok:
        raise RuntimeError("; ".join(report.failure_lines()))
    values = np.array(report.results, dtype=float).reshape(len(taus), len(seeds))
    mean = values.mean(axis=1)
    std = values.std(axis=1, ddof=1) if len(seeds) > 1 else np.zeros(len(taus))
    top = mean.max()
    return {"tau": [float(t) for t in taus], "loss": (mean / top).tolist(),
            "loss_std": (std / top).tolist(), "raw_max": float(top),
            "iterations": iterations, "seeds": len(seeds),
            "teacher_divisor": float(teacher_divisor)}


def figure(fixed: dict, online=(), title: str = ""):
    """Test loss (x1000) against tau, end of training and best during training (mean +-
    std); kappa and the end-of-training kernel change against tau; and a population-SGD
    panel with one curve per result in ``online`` (teacher divisors)."""
    panels = 2 + bool(online)
    fig, axes = subplots(1, panels, figsize=(5.2 * panels, 4.2), squeeze=False)
    ax = axes[0, 0]
    tau = np.asarray(fixed["tau"])
    for key, style, label in (("test_loss_end", "k-", "end of training"),
                              ("test_loss_best", "k:", "best throughout training")):
        mean, std = (1000 * np.asarray(fixed[key][k]) for k in ("mean", "std"))
        ax.fill_between(tau, mean - std, mean + std, color="0.85")
        ax.semilogx(tau, mean, style, lw=2.5, label=label)
    ax.set(xlabel=r"$\tau$ (init scale; lazy for large $\tau$)", ylabel=r"test loss $\times 1000$",
           title=f"GD on a fixed training set ({fixed['iterations']} iterations, "
                 f"{fixed['seeds']} seeds)")
    ax.legend(frameon=False)
    ax = axes[0, 1]
    ax.loglog(tau, fixed["kappa"]["mean"], "o-", label=r"$\kappa$ at $w_0$")
    ax.loglog(tau, fixed["kernel_change_end"]["mean"], "s-",
              label=r"$\|\Theta_T - \Theta_0\| / \|\Theta_0\|$")
    ax.set(xlabel=r"$\tau$", title="laziness diagnostics (mean over seeds)")
    ax.legend(frameon=False)
    for k, result in enumerate(online):
        ax = axes[0, 2]
        tau, mean, std = (np.asarray(result[key]) for key in ("tau", "loss", "loss_std"))
        divisor = result.get("teacher_divisor", 1.0)
        ax.fill_between(tau, mean - std, mean + std, color="0.85")
        ax.semilogx(tau, mean, ("k-", "C0--")[k % 2], lw=2,
                    label=f"teacher / {divisor:g} (their code)" if divisor != 1
                    else "teacher as described")
        ax.set(xlabel=r"$\tau$", ylabel="population loss at convergence (normalised)",
               title=f"population SGD ({result['iterations']} iterations, "
                     f"{result['seeds']} seeds)")
        ax.legend(frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
