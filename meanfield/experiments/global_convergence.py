"""Global convergence in m (Chizat & Bach 2018, theory §5): one sweep of ordinary runs
per activation, reduced to success fractions, plus a figure; optionally certified.

A teacher of m0 neurons (unit input
  weights on the sphere, output weights +-1, y = sum_j c_j sigma(a_j . x)), students of m
  neurons in the mean-field scaling (alpha = 1, Gaussian init of scale tau), population
  gradient flow (exact risk, §2; adaptive Euler step) up to t_end. The excess risk at
  convergence is the final population risk (no label noise, so inf R = 0 once m >= m0);
  the relative risk divides it by R(0 predictor) = E[y^2]/2; a seed succeeds when the
  relative risk is below ``threshold``.

Certified (``certify=True``, theory §12): every end point with m <= ``certify_max_m`` is
refined to a critical point and classified (:func:`certify_cell`): a global minimum, a
spurious local minimum, a saddle, or not converged; and for m >= m0 each seed is run
again from its initial particles by every method of
:mod:`meanfield.experiments.time_to_tolerance` until R/R0 < 1e-10, to compare the time they need.
"""
from __future__ import annotations

import numpy as np

from pathlib import Path
from typing import Any, cast

from ..analysis.critical import classify, refine
from ..plots.figures import subplots
from ..runs import store
from ..runs.collect import collect
from ..runs.config import Config
from ..runs.run import build
from ..runs.sweep import map_cells, sweep
from .time_to_tolerance import METHODS, TOL, time_to_tolerance

FLOOR = 1e-16  # excess risks of exactly 0 (risk clamped at 0) are drawn here


def convergence_config(d: int, activation: str, t_end: float, m0: int = 5,
                       tau: float = 0.5, backend: str = "auto") -> Config:
    """Base config of the global-convergence sweep for one activation (theory §5)."""
    return Config.from_dict({
        "d": int(d), "t_end": float(t_end), "backend": backend,
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
                       batch: bool = True, backend: str = "auto", certify: bool = False,
                       certify_max_m: int = 10, compare: bool = True,
                       max_evaluations: int = 100_000) -> dict:
    """Run the sweep (one sub-sweep per activation under out_dir/<activation>) and
    reduce it: for each activation, per m the median excess risk over seeds, the
    fraction of seeds with relative risk < threshold, and the per-seed relative risks.
    Resumable: finished cells are not rerun. ``batch`` runs the seeds of each m as
    ensembles (:mod:`meanfield.runs.batch`; the same numbers).

    ``certify``: also certify the end points with m <= ``certify_max_m`` and, with
    ``compare``, time the methods to R/R0 < 1e-10 for m0 <= m <= certify_max_m (each
    giving up after ``max_evaluations`` velocity evaluations); function cells under
    out_dir/certify/<activation>, resumable. Adds ``summary[activation]["certified"]``
    (:func:`reduce_certificates`)."""
    summary: dict[str, Any] = {
        "d": int(d), "m0": int(m0), "t_end": float(t_end), "threshold": threshold,
        "seeds": int(cast(int, seeds)) if np.isscalar(seeds) else len(seeds), "backend": backend}
    if certify:
        summary["certify"] = {"max_m": int(certify_max_m), "compare": bool(compare),
                              "tol": TOL, "max_evaluations": int(max_evaluations),
                              "methods": list(METHODS)}
    for act in activations:
        base = convergence_config(d, act, t_end, m0, backend=backend)
        target = Path(out_dir) / act
        sweep(base, {"product": {"student.m": [int(m) for m in ms]}, "seeds": seeds},
              target, workers=workers, progress=False, batch=batch)
        table = collect(target)
        seed_list = sorted(table["seed"].unique())
        r0 = {s: null_risk(base.override({"seed": str(int(s))})) for s in seed_list}
        table["relative_risk"] = table["final_risk"] / table["seed"].map(r0)
        rows: dict[str, Any] = {"m": [], "excess_risk_median": [], "success_fraction": [],
                "excess_risk": [], "relative_risk": []}
        for m, group in table.groupby("student.m"):
            rows["m"].append(int(m))
            rows["excess_risk_median"].append(float(group["final_risk"].median()))
            rows["success_fraction"].append(float((group["relative_risk"] < threshold).mean()))
            rows["excess_risk"].append([float(v) for v in group["final_risk"]])
            rows["relative_risk"].append([float(v) for v in group["relative_risk"]])
        summary[act] = rows
        if certify:
            done = table[(table["status"] == "done") & (table["student.m"] <= certify_max_m)]
            calls = [{"run_dir": str(Path(target).resolve() / store.CELLS / cell),
                      "compare": bool(compare and m >= m0),
                      "max_evaluations": int(max_evaluations)}
                     for cell, m in zip(done["cell"], done["student.m"], strict=False)]
            report = map_cells(certify_cell, calls, Path(out_dir) / "certify" / act,
                               workers=workers, progress=False)
            rows["certified"] = reduce_certificates(
                [r for r in report.results if r is not None], m0)
            rows["certified"]["failed_cells"] = sum(r is None for r in report.results)
    return summary


#: what a certified end point is; "not converged": refine found no critical point
KINDS = ("global minimum", "spurious local minimum", "saddle", "not converged")


def certify_point(net, objective, tol: float = 1e-12) -> tuple:
    """Refine ``net`` to a critical point and classify it (theory §12.3-12.4).

    Least squares first (it converges to the critical point next to the end point,
    saddles included, as a flow lingering there would see it); if it does not reach
    stationarity ``tol``, refine's default descent then polish, whichever ends more
    stationary. Returns (refined network, refine report, classify result)."""
    refined, report = refine(net, objective, tol=tol, method="least-squares")
    if not report["success"]:
        other, other_report = refine(net, objective, tol=tol)
        if other_report["stationarity_end"] < report["stationarity_end"]:
            refined, report = other, other_report
    return refined, report, classify(refined, objective)


def certify_cell(run_dir: str | Path, compare: bool = True, max_evaluations: int = 100_000) -> dict:
    """Certify the end point of the run in ``run_dir`` (:func:`certify_point`) and, with
    ``compare``, time every method of bench_ode from the run's initial particles to
    R/R0 < 1e-10. A function cell of :func:`global_convergence` (JSON in, JSON out)."""
    run_dir = Path(run_dir)
    config = Config.load(run_dir / store.CONFIG)
    problem = build(config)
    objective = problem.objective
    end = problem.student.with_w(store.read_npz(run_dir / store.TRAJECTORY)["final"])
    r0 = null_risk(config)
    refined, report, result = certify_point(end, objective)
    out = {"m": config.student.m, "seed": config.seed, "activation": config.student.activation,
           "flow_relative_risk": float(objective.risk(end)) / r0,
           "relative_risk": float(result["risk"]) / r0,
           "refine_method": report["method"], "refine_success": report["success"],
           "displacement": report["displacement"],
           **{key: _plain(result[key]) for key in (
               "kind", "stationarity", "min_eig", "max_abs_eig", "n_negative", "n_zero",
               "expected_zero_modes", "degenerate", "zero_gap")}}
    if compare:
        out["time_to_tolerance"] = {
            method: time_to_tolerance(problem.student, objective, method, r0,
                                      max_evaluations=max_evaluations)
            for method in METHODS}
    return out


def _plain(value):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else str(float(value))
    return value


def category(cert: dict, m0: int, best_risk: float | None = None,
             rel: float = 1e-6) -> str:
    """The KINDS entry of a certified end point. classify's "local minimum" is spurious
    for m >= m0 (the teacher is representable, so the global minimum has R = 0); for
    m < m0 the global minimum of an m-neuron student is unknown, and a minimum counts as
    global when its risk is within ``rel`` of ``best_risk``, the lowest found over the
    seeds (so the spurious fraction is a lower bound)."""
    kind = cert["kind"]
    if kind == "not a critical point":
        return "not converged"
    if kind in ("global minimum", "saddle"):
        return kind
    if cert["m"] < m0 and best_risk is not None \
            and cert["relative_risk"] <= best_risk * (1 + rel) + 1e-300:
        return "global minimum"
    return "spurious local minimum"


def reduce_certificates(certs, m0: int) -> dict:
    """Per m: the fraction of each of KINDS, degenerate minima, the per-seed risks and
    spectra, and per method of bench_ode the fraction of compared seeds reaching
    R/R0 < 1e-10 and the medians (over those seeds) of t, velocity evaluations,
    Hessians and seconds."""
    by_m: dict[int, list] = {}
    for cert in certs:
        by_m.setdefault(int(cert["m"]), []).append(cert)
    rows: dict[str, Any] = {"m": [], **{kind: [] for kind in KINDS}, "degenerate": [], "seeds": [],
            "kinds": [], "flow_relative_risk": [], "relative_risk": [], "n_negative": [],
            "min_eig": [], "time_to_tolerance": {method: {
                "compared": [], "reached": [], "t": [], "velocity_evaluations": [],
                "hessians": [], "seconds": []} for method in METHODS}}
    for m in sorted(by_m):
        group = sorted(by_m[m], key=lambda c: c["seed"])
        minima = [c["relative_risk"] for c in group if c["kind"] == "local minimum"]
        best = min(minima) if minima else None
        kinds = [category(c, m0, best) for c in group]
        rows["m"].append(m)
        for kind in KINDS:
            rows[kind].append(kinds.count(kind) / len(group))
        rows["degenerate"].append(sum(bool(c["degenerate"]) for c in group
                                      if c["kind"] != "not a critical point"))
        rows["seeds"].append([int(c["seed"]) for c in group])
        rows["kinds"].append(kinds)
        for key in ("flow_relative_risk", "relative_risk", "n_negative", "min_eig"):
            rows[key].append([c[key] for c in group])
        for method, out in rows["time_to_tolerance"].items():
            runs = [c["time_to_tolerance"][method] for c in group if "time_to_tolerance" in c]
            hits = [r for r in runs if r["reached"]]
            out["compared"].append(len(runs))
            out["reached"].append(len(hits) / len(runs) if runs else None)
            for key in ("t", "velocity_evaluations", "hessians", "seconds"):
                out[key].append(float(np.median([r[key] for r in hits])) if hits else None)
    return rows


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
    for act, color in zip(acts, ("C0", "C3"), strict=False):
        rows = summary[act]
        m = np.asarray(rows["m"])
        ax1.plot(m, np.maximum(rows["excess_risk_median"], FLOOR), "o-", color=color,
                 label=f"{act}: median over seeds")
        for mi, risks in zip(m, rows["excess_risk"], strict=False):
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


def certified_figure(summary: dict, title: str = ""):
    """One panel per activation: the fraction of seeds whose end point is each of KINDS
    against m (stacked bars); last panel: median wall time to R/R0 < 1e-10 per method
    against m (relu solid, erf dashed; over the seeds that reach it)."""
    acts = [k for k in ("relu", "erf") if k in summary and "certified" in summary[k]]
    fig, axes = subplots(1, len(acts) + 1, figsize=(5 * (len(acts) + 1), 4))
    colors = {"global minimum": "C2", "spurious local minimum": "C3", "saddle": "C1",
              "not converged": "C7"}
    for ax, act in zip(axes, acts, strict=False):
        rows = summary[act]["certified"]
        m = np.asarray(rows["m"])
        bottom = np.zeros(len(m))
        for kind in KINDS:
            frac = np.asarray(rows[kind], dtype=float)
            hatch = ["//" if kind == "global minimum" and mi < summary["m0"] else ""
                     for mi in m]
            ax.bar(m, frac, bottom=bottom, color=colors[kind], label=kind, width=0.8,
                   hatch=hatch)
            bottom += frac
        ax.axvline(summary["m0"] - 0.5, color="gray", ls=":")
        ax.text(0.02, 0.98, "hatched: lowest minimum\nfound over the seeds\n(m < $m_0$)",
                transform=ax.transAxes, va="top", fontsize=7)
        ax.set(xlabel="student width m", ylabel="fraction of seeds", ylim=(0, 1.02),
               title=f"{act}: certified end points", xticks=m)
        ax.legend(fontsize=7, loc="lower right")
    ax = axes[-1]
    for act, style in zip(acts, ("-", "--"), strict=False):
        rows = summary[act]["certified"]
        for i, method in enumerate(METHODS):
            out = rows["time_to_tolerance"][method]
            pts = [(m, s) for m, s in zip(rows["m"], out["seconds"], strict=False) if s is not None]
            if pts:
                ax.plot(*zip(*pts, strict=False), style, marker="o", ms=3, color=f"C{i}",
                        label=method if act == acts[0] else None)
    ax.set(yscale="log", xlabel="student width m",
           ylabel="median wall time to $R/R_0<10^{-10}$ (s)",
           title="time to tolerance (" + ", ".join(
               f"{a} {s}" for a, s in zip(acts, ("solid", "dashed"), strict=False)) + ")")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    fig.suptitle(title or f"certified global convergence: d = {summary['d']}, "
                 f"$m_0$ = {summary['m0']}, {summary['seeds']} seeds, flow to "
                 f"t = {summary['t_end']:g}, then refine and classify")
    fig.tight_layout()
    return fig


def certified_markdown(summary: dict) -> str:
    """Markdown tables of a certified summary: per activation the fraction of seeds
    whose end point is each of KINDS per m, then per method the seeds reaching
    R/R0 < 1e-10 and the medians of velocity evaluations and wall time over them."""
    out = []
    for act in ("relu", "erf"):
        if act not in summary or "certified" not in summary[act]:
            continue
        rows = summary[act]["certified"]
        ms = rows["m"]
        out += [f"**{act}**: certified end points (fraction of seeds)", "",
                "| m | " + " | ".join(map(str, ms)) + " |",
                "|---|" + "---|" * len(ms)]
        for kind in KINDS:
            out.append(f"| {kind} | " + " | ".join(f"{v:.2g}" for v in rows[kind]) + " |")
        out.append("| degenerate | " + " | ".join(map(str, rows["degenerate"])) + " |")
        out += ["", f"**{act}**: seeds reaching $R/R_0<10^{{-10}}$; median velocity "
                    "evaluations / wall time over them", "",
                "| method | " + " | ".join(str(m) for m in ms if m >= summary["m0"]) + " |",
                "|---|" + "---|" * sum(m >= summary["m0"] for m in ms)]
        for method in METHODS:
            t = rows["time_to_tolerance"][method]
            cells = []
            for i, m in enumerate(ms):
                if m < summary["m0"]:
                    continue
                n, frac = t["compared"][i], t["reached"][i]
                hits = round(frac * n) if frac is not None else 0
                cells.append(f"{hits}/{n}" + (f": {t['velocity_evaluations'][i]:.3g} / "
                                              f"{t['seconds'][i]:.2g} s" if hits else ""))
            out.append(f"| {method} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)
