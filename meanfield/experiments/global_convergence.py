"""Teacher-student experiments: global convergence in m (Chizat-Bach) and the m -> infinity
limit, each one sweep (meanfield.sweep) of ordinary runs plus a figure.

* :func:`global_convergence` (THEORY.md §5): a teacher of m0 neurons (unit input
  weights on the sphere, output weights +-1, y = sum_j c_j sigma(a_j . x)), students of m
  neurons in the mean-field scaling (alpha = 1, Gaussian init of scale tau), population
  gradient flow (exact risk, §2; adaptive Euler step) up to t_end. The excess risk at
  convergence is the final population risk (no label noise, so inf R = 0 once m >= m0);
  the relative risk divides it by R(0 predictor) = E[y^2]/2; a seed succeeds when the
  relative risk is below ``threshold``.
* :func:`mean_field_limit` (THEORY.md §1): the coupled study of meanfield.limit.
"""
from __future__ import annotations

import numpy as np

from . import limit, metrics
from .collect import collect, read_manifest
from .config import Config
from .runs import build
from .sweep import sweep

FLOOR = 1e-16  # excess risks of exactly 0 (risk clamped at 0) are drawn here


def convergence_config(d: int, activation: str, t_end: float, m0: int = 5,
                       tau: float = 0.5) -> Config:
    """Base config of the global-convergence sweep for one activation (THEORY.md §5)."""
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
                       threshold: float = 1e-4, m0: int = 5, workers=None) -> dict:
    """Run the sweep (one sub-sweep per activation under out_dir/<activation>) and
    reduce it: for each activation, per m the median excess risk over seeds, the
    fraction of seeds with relative risk < threshold, and the per-seed relative risks.
    Resumable: finished cells are not rerun."""
    from pathlib import Path

    summary = {"d": int(d), "m0": int(m0), "t_end": float(t_end), "threshold": threshold,
               "seeds": int(seeds) if np.isscalar(seeds) else len(seeds)}
    for act in activations:
        base = convergence_config(d, act, t_end, m0)
        target = Path(out_dir) / act
        sweep(base, {"product": {"student.m": [int(m) for m in ms]}, "seeds": seeds},
              target, workers=workers, progress=False)
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
    import matplotlib.pyplot as plt

    acts = [k for k in ("relu", "erf") if k in summary]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
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


def limit_config(d: int, t_end: float, M: int, activation: str = "relu", m0: int = 5,
                 dt: float = 0.05, records: int = 5, tau: float = 1.0) -> Config:
    """Base config of the m -> infinity study: Euler population gradient flow (fixed dt,
    so every system is recorded on the same time grid), init coupled to M particles."""
    base = Config.from_dict({
        "d": int(d), "t_end": float(t_end), "backend": "auto",
        "teacher": {"m": int(m0), "activation": activation},
        "student": {"m": int(M), "activation": activation, "init": {"tau": float(tau)}},
        "integrator": {"name": "euler", "dt": float(dt)},
        "record": {"schedule": "linear", "n": int(records)},
        "checkpoint": {"every_seconds": 60.0}})
    return limit.study_config(base, M)


def mean_field_limit(out_dir, ms=(16, 64, 256), M: int = 2048, seeds=2, d: int = 10,
                     t_end: float = 4.0, ref_points: int = 1024, workers=None) -> dict:
    """Run the coupled study (meanfield.limit) and return the measured arrays, the seed
    averages and the log-log slopes in m of the deviation and the risk gap at the final
    time (fitted on the seed means)."""
    base = limit_config(d, t_end, M)
    seed_list = list(range(seeds)) if np.isscalar(seeds) else list(seeds)
    sweep(base, limit.study_grid(ms, M, seed_list), out_dir, workers=workers,
          progress=False)
    result = limit.measure(out_dir, M, ref_points=ref_points)
    agg = limit.aggregate(result)
    m = result["m"]
    slopes = {key: [metrics.loglog_slope(m, agg[key + "_mean"][:, k])
                    for k in range(len(result["times"]))]
              for key in ("deviation", "risk_gap")}
    manifest = read_manifest(out_dir)
    return {"result": result, "agg": agg, "slopes": slopes, "M": int(M), "d": int(d),
            "base": manifest["base"]}


def limit_summary(study: dict) -> dict:
    """The summary.json fields: per m (rows) and recorded time (columns) the seed means,
    and the final-time slopes."""
    r, a = study["result"], study["agg"]
    return {"M": study["M"], "d": study["d"], "seeds": len(r["seeds"]),
            "times": r["times"].tolist(), "m": r["m"].tolist(),
            "coupled_deviation": a["deviation_mean"].tolist(),
            "w2": a["w2_mean"].tolist(), "w2_baseline": a["w2_baseline_mean"].tolist(),
            "risk_gap": a["risk_gap_mean"].tolist(),
            "slope_coupled_deviation": study["slopes"]["deviation"][-1],
            "slope_risk_gap": study["slopes"]["risk_gap"][-1],
            "slopes_by_time": {k: [None if np.isnan(x) else x for x in v]
                               for k, v in study["slopes"].items()}}


def limit_figure(study: dict):
    """Three panels against m (log-log) at each recorded time t > 0, seed means with
    standard-error bars: coupled deviation (with an m^{-1/2} guide), W2 with the baseline
    dashed, risk gap."""
    import matplotlib.pyplot as plt

    r, a = study["result"], study["agg"]
    m, times = r["m"], r["times"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    colors = plt.cm.viridis(np.linspace(0, 0.85, len(times)))
    for k, t in enumerate(times):
        if t == 0:
            continue
        c = colors[k]
        for ax, key in zip(axes, ("deviation", "w2", "risk_gap")):
            slope = study["slopes"].get(key, [None] * len(times))[k]
            label = f"t = {t:g}" + (f" (slope {slope:.2f})" if slope is not None else "")
            ax.errorbar(m, a[key + "_mean"][:, k], a[key + "_sem"][:, k], fmt="o-",
                        color=c, ms=4, capsize=2, label=label)
        axes[1].plot(m, a["w2_baseline_mean"][:, k], "--", color=c, lw=1)
    ref = a["deviation_mean"][0, -1] * np.sqrt(m[0] / m)
    axes[0].plot(m, ref, "k:", label="$\\propto m^{-1/2}$")
    titles = ("coupled deviation $\\sqrt{\\frac{1}{m}\\sum|w_i^m - w_i^M|^2}$",
              "$W_2(\\mu_m, \\mu_M)$ (dashed: same-distribution baseline)",
              "risk gap $|F(\\mu_m) - F(\\mu_M)|$")
    for ax, title in zip(axes, titles):
        ax.set(xscale="log", yscale="log", xlabel="m", title=title)
        ax.set_xticks(m, [str(v) for v in m])
        ax.xaxis.set_minor_locator(plt.NullLocator())
        ax.legend(fontsize=7)
    axes[1].set_yscale("linear")
    fig.suptitle(f"m $\\to\\infty$: reference M = {study['M']}, d = {study['d']}, "
                 f"{len(r['seeds'])} seeds, population gradient flow (ReLU)")
    fig.tight_layout()
    return fig
