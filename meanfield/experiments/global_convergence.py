"""Global convergence in m (Chizat & Bach 2018, theory §5): one sweep of ordinary runs
per activation, reduced to success fractions, plus a figure.

A teacher of m0 neurons (unit input
  weights on the sphere, output weights +-1, y = sum_j c_j sigma(a_j . x)), students of m
  neurons in the mean-field scaling (alpha = 1, Gaussian init of scale tau), population
  gradient flow (exact risk, §2; adaptive Euler step) up to t_end. The excess risk at
  convergence is the final population risk (no label noise, so inf R = 0 once m >= m0);
  the relative risk divides it by R(0 predictor) = E[y^2]/2; a seed succeeds when the
  relative risk is below ``threshold``.
"""
from __future__ import annotations

import numpy as np

from pathlib import Path

from ..plots.figures import subplots
from ..runs.collect import collect
from ..runs.config import Config
from ..runs.run import build
from ..runs.sweep import sweep

FLOOR = 1e-16  # excess risks of exactly 0 (risk clamped at 0) are drawn here


def convergence_config(d: int, activation: str, t_end: float, m0: int = 5,
                       tau: float = 0.5) -> Config:
    """Base config of the global-convergence sweep for one activation (theory §5)."""
    return Config.from_dict({
        "d": int(d), "t_end": float(t_end), "backend": "auto",
        "teacher": {"m": int(m0), "activation": activation},
        "student": {"m": 2, "activation": activation, "init": {"tau": float(tau)}},
        "integrator": {"name": "adaptive", "dt": 0.01, "dt_max": 5.0},
        "record": {"n": 30}, "checkpoint": {"every_seconds": 60.0}})


def null_risk(config: Config) -> float:
    """R of the zero predictor, E[y^2]/2, for the teacher a config builds."""
    problem = build(config)
    w = problem.student.w.copy()
    w[:, problem.student.layout.c] = 0.0
    return float(problem.objective.risk(problem.student.with_w(w)))


def global_convergence(out_dir, d: int = 10, ms=(2, 5, 10, 20, 50), seeds=3,
                       activations=("relu", "erf"), t_end: float = 2000.0,
                       threshold: float = 1e-4, m0: int = 5, workers=None,
                       batch: bool = True) -> dict:
    """Run the sweep (one sub-sweep per activation under out_dir/<activation>) and
    reduce it: for each activation, per m the median excess risk over seeds, the
    fraction of seeds with relative risk < threshold, and the per-seed relative risks.
    Resumable: finished cells are not rerun. ``batch`` runs the seeds of each m as
    ensembles (:mod:`meanfield.runs.batch`; the same numbers)."""
    summary = {"d": int(d), "m0": int(m0), "t_end": float(t_end), "threshold": threshold,
               "seeds": int(seeds) if np.isscalar(seeds) else len(seeds)}
    for act in activations:
        base = convergence_config(d, act, t_end, m0)
        target = Path(out_dir) / act
        sweep(base, {"product": {"student.m": [int(m) for m in ms]}, "seeds": seeds},
              target, workers=workers, progress=False, batch=batch)
        table = collect(target)
        seed_list = sorted(table["seed"].unique())
        r0 = {s: null_risk(base.override({"seed": str(int(s))})) for s in seed_list}
        table["relative_risk"] = table["final_risk"] / table["seed"].map(r0)
        rows = {"m": [], "excess_risk_median": [], "success_fraction": [],
                "excess_risk": [], "relative_risk": []}
        for m, group in table.groupby("student.m"):
            rows["m"].append(int(m))
            rows["excess_risk_median"].append(float(group["final_risk"].median()))
            rows["success_fraction"].append(float((group["relative_risk"] < threshold).mean()))
            rows["excess_risk"].append([float(v) for v in group["final_risk"]])
            rows["relative_risk"].append([float(v) for v in group["relative_risk"]])
        summary[act] = rows
    return summary


def drop_location(m, success) -> int | None:
    """The smallest m from which every larger m succeeds on at least half the seeds."""
    m, success = list(m), list(success)
    for i in range(len(m)):
        if all(s >= 0.5 for s in success[i:]):
            return int(m[i])
    return None


def convergence_figure(summary: dict, title: str = ""):
    """Left: median excess risk vs m (log-log, each seed a dot, floored at FLOOR);
    right: fraction of seeds below the relative-risk threshold."""
    acts = [k for k in ("relu", "erf") if k in summary]
    fig, (ax1, ax2) = subplots(1, 2, figsize=(10, 4))
    for act, color in zip(acts, ("C0", "C3")):
        rows = summary[act]
        m = np.asarray(rows["m"])
        ax1.plot(m, np.maximum(rows["excess_risk_median"], FLOOR), "o-", color=color,
                 label=f"{act}: median over seeds")
        for mi, risks in zip(m, rows["excess_risk"]):
            ax1.scatter(np.full(len(risks), mi * (1.06 if act == "erf" else 0.94)),
                        np.maximum(risks, FLOOR), s=9, color=color, alpha=0.4)
        ax2.plot(m, rows["success_fraction"], "o-", color=color, label=act)
    ax1.axvline(summary["m0"], color="gray", ls=":", label=f"$m_0$ = {summary['m0']}")
    ax2.axvline(summary["m0"], color="gray", ls=":")
    ax1.set(xscale="log", yscale="log", xlabel="student width m",
            ylabel=f"excess population risk at $t_{{end}}$ (0 drawn at {FLOOR:g})")
    ax2.set(xscale="log", xlabel="student width m", ylim=(-0.05, 1.05),
            ylabel=f"fraction of seeds with $R/R_0$ < {summary['threshold']:g}")
    ticks = summary[acts[0]]["m"]
    for ax in (ax1, ax2):
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=8)
    fig.suptitle(title or f"global convergence: d = {summary['d']}, $m_0$ = {summary['m0']}, "
                 f"{summary['seeds']} seeds, population gradient flow to t = {summary['t_end']:g}")
    fig.tight_layout()
    return fig
