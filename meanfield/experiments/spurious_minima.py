"""Spurious local minima of two-layer ReLU networks (Safran & Shamir, ICML 2018).

The setting, exactly: student x -> sum_{i<=n} max(0, w_i . x) with output weights frozen
at 1 (``frozen=("c",)``, alpha = "sum" so f is the plain sum), teacher
sum_{i<=k} max(0, v_i . x) with orthonormal v_i (v_i = e_i; the law of the flow is
rotation invariant), inputs x ~ N(0, I_d) with d = k, the exact square loss
1/2 E(f - y)^2 (:class:`meanfield.objectives.teacher_student.GaussianPopulation`),
Xavier initialisation w_i ~ N(0, I_d/d). Each initialisation follows the population
gradient flow (adaptive Euler, one ensemble per cell through
:func:`meanfield.dynamics.trajectory.simulate_many`) to ``t_end``, then
:func:`meanfield.analysis.critical.refine` moves it to a critical point of the
restricted risk and :func:`meanfield.analysis.critical.classify` certifies it (theory
§12): a global minimum (risk 0), a spurious local minimum (restricted Hessian with no
negative eigenvalue, risk > 0), a saddle, or not converged.

Per cell (k, n): the fraction of spurious minima with its Clopper-Pearson interval, the
distinct spurious risks (equal to 1e-6 relative) with how often each was reached and the
smallest Hessian eigenvalue there (> 0: a strict minimum), the saddles. With
``trained_c=True`` the output weights are trained as well (the package's native
setting, same initial c = 1), to show what freezing changes.
"""
from __future__ import annotations

import time

import contextlib

import numpy as np

from ..analysis.critical import classify, refine
from ..dynamics.integrators import adaptive
from ..dynamics.trajectory import LogSchedule, simulate_many
from ..model.network import Network
from ..objectives.teacher_student import GaussianPopulation

#: relative tolerance under which two spurious risks are the same minimum
SAME_RISK = 1e-6
KINDS = ("global minimum", "local minimum", "saddle", "not a critical point")


def problem(k: int, backend: str = "numpy") -> GaussianPopulation:
    """The population objective of the teacher sum_{i<=k} relu(e_i . x) in d = k."""
    teacher = Network.from_arrays(np.ones(k), np.eye(k), alpha="sum")
    return GaussianPopulation(teacher, backend=backend)


def students(k: int, n: int, inits: int, seed: int) -> list[Network]:
    """``inits`` Xavier students of n neurons with unit output weights (sum scaling);
    initialisation i is drawn from the seed sequence (seed, k, n, i)."""
    return [Network.init(n, k, input="xavier", output="ones", alpha="sum",
                         seed=np.random.SeedSequence([seed, k, n, i]))
            for i in range(inits)]


def cell(k: int, n: int, inits: int = 500, seed: int = 0, t_end: float = 5000.0,
         trained_c: bool = False, backend: str = "numpy") -> dict:
    """Run one cell (module docstring) and summarise it (:func:`summarise`).

    >>> out = cell(2, 2, inits=2, t_end=5.0)
    >>> out["counts"]["global minimum"] + out["counts"]["local minimum"] <= 2
    True
    """
    pop = problem(k, backend)
    frozen = None if trained_c else ("c",)
    nets = students(k, n, inits, seed)
    start = time.perf_counter()
    trajs = simulate_many(nets, pop, adaptive(dt=0.1), t_end, record=LogSchedule(2),
                          frozen=frozen)
    flow_s = time.perf_counter() - start
    points = []
    # small dense Hessians: one BLAS thread (two threads on two busy cores made each
    # 120 x 120 SVD of the least-squares polish take 1-2 s instead of 20 ms)
    with _one_blas_thread():
        for traj in trajs:
            net, _ = refine(traj.final, pop, frozen=frozen)
            cert = classify(net, pop, frozen=frozen)
            point = {key: cert[key] for key in (
                "kind", "risk", "min_eig", "n_negative", "stationarity", "n_zero",
                "expected_zero_modes", "degenerate")}
            eigs = cert["eigenvalues"]
            point["min_nonzero_eig"] = float(eigs[eigs > cert["zero_threshold"]].min(
                initial=np.inf))
            points.append(point)
    out = summarise(points)
    out.update(k=k, n=n, d=k, trained_c=trained_c, t_end=t_end, flow_seconds=flow_s,
               seconds=time.perf_counter() - start)
    return out


def _one_blas_thread():
    """threadpoolctl's limit of the BLAS pools to one thread, when it is installed (it
    comes with scikit-learn); otherwise nothing changes (same numbers, slower on a busy
    machine)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - present wherever scikit-learn is
        return contextlib.nullcontext()
    return threadpool_limits(1)


def summarise(points: list[dict]) -> dict:
    """Counts per kind, the spurious fraction with its 95% Clopper-Pearson interval, the
    distinct spurious risks (count; smallest and largest eigenvalue beyond the zero modes
    the symmetries explain, ``min_nonzero_eig``, at each; how many were degenerate, with
    more zero eigenvalues than symmetries) and saddles.

    >>> s = summarise([{"kind": "local minimum", "risk": 0.5, "min_nonzero_eig": 0.1},
    ...                {"kind": "global minimum", "risk": 0.0, "min_nonzero_eig": 0.2}])
    >>> s["spurious_fraction"], s["spurious_risks"][0]["count"]
    (0.5, 1)
    """
    from scipy.stats import binomtest

    counts = {kind: sum(p["kind"] == kind for p in points) for kind in KINDS}
    total, spurious = len(points), counts["local minimum"]
    ci = binomtest(spurious, total).proportion_ci(confidence_level=0.95, method="exact")
    return {"inits": total, "counts": counts, "spurious_fraction": spurious / total,
            "spurious_ci": [float(ci.low), float(ci.high)],
            "spurious_risks": _distinct([p for p in points if p["kind"] == "local minimum"]),
            "saddle_risks": _distinct([p for p in points if p["kind"] == "saddle"])}


def _distinct(points: list[dict]) -> list[dict]:
    groups: list[dict] = []
    for p in sorted(points, key=lambda p: p["risk"]):
        if groups and abs(p["risk"] - groups[-1]["risk"]) <= SAME_RISK * groups[-1]["risk"]:
            g = groups[-1]
            g["count"] += 1
            g["min_eig_low"] = min(g["min_eig_low"], p["min_nonzero_eig"])
            g["min_eig_high"] = max(g["min_eig_high"], p["min_nonzero_eig"])
            g["degenerate"] += int(p.get("degenerate", False))
        else:
            groups.append({"risk": float(p["risk"]), "count": 1,
                           "min_eig_low": float(p["min_nonzero_eig"]),
                           "min_eig_high": float(p["min_nonzero_eig"]),
                           "degenerate": int(p.get("degenerate", False))})
    return groups


def spurious_minima(ks, extra=(0, 1, 2), inits: int = 500, seed: int = 0,
                    t_end: float = 5000.0, trained=(False, True), backend: str = "numpy",
                    log=print, on_cell=None, done: list[dict] | None = None) -> dict:
    """Every cell (k, n = k + e) for k in ``ks``, e in ``extra``, with c frozen and (if
    True is in ``trained``) trained, one column (trained, e) after the other: all k of
    n = k first, then n = k + 1, ... Cells of ``done`` (a previous summary's "cells" with
    the same inits, seed and t_end) are kept, not rerun; ``on_cell(summary)`` is called
    after every cell with the summary so far, so an interrupted run leaves its finished
    cells. Returns {"cells": [...], "columns": [{"trained_c", "extra", "seconds"}],
    "wall_seconds": ...}: a column's seconds are the sum of its cells' (kept cells count
    with the seconds they took, so the figure survives resumes), ``wall_seconds`` the
    wall time of this call.

    >>> out = spurious_minima([2], [0], inits=2, t_end=5.0, trained=(False,), log=None)
    >>> [(c["k"], c["n"], c["inits"]) for c in out["cells"]]
    [(2, 2, 2)]
    """
    start = time.perf_counter()
    old = {(c["k"], c["n"], c["trained_c"]): c for c in done or ()
           if (c["inits"], c["t_end"]) == (inits, t_end)}
    summary: dict = {"cells": [], "columns": [], "inits": inits, "seed": seed,
                     "t_end": t_end, "wall_seconds": 0.0}
    for trained_c in trained:
        for e in extra:
            done_before = len(summary["cells"])
            for k in ks:
                out = old.get((k, k + e, trained_c))
                if out is None:
                    out = cell(k, k + e, inits, seed, t_end, trained_c, backend)
                    if log:
                        log(f"k={k} n={k + e} c {'trained' if trained_c else 'frozen'}: "
                            f"{out['counts']} ({out['seconds']:.0f} s)")
                summary["cells"].append(out)
                summary["wall_seconds"] = time.perf_counter() - start
                if on_cell:
                    on_cell(summary)
            summary["columns"].append({"trained_c": trained_c, "extra": e, "seconds": sum(
                c["seconds"] for c in summary["cells"][done_before:])})
    summary["wall_seconds"] = time.perf_counter() - start
    if on_cell:
        on_cell(summary)
    return summary


#: The authors' own runs of this setting at n = k, as published with Safran, Yehudai &
#: Shamir (COLT 2021, arXiv:2006.01005), github.com/ItaySafran/Overparameterization,
#: "Processed minima.zip" (commit d162690): 500 runs of gradient descent per k (step 5/k,
#: Xavier initialisation, until the gradient norm is 1e-12), each end point stored with
#: its multiplicity. {k: (runs ending at a spurious minimum, runs)}, counted from those
#: files: every minimum except the identity (the global one). Safran & Shamir (2018)'s
#: own Table 1 could not be retrieved (docs/experiments/spurious-minima.md).
REFERENCE: dict[int, tuple[int, int]] = {
    6: (0, 500), 7: (27, 500), 8: (57, 500), 9: (111, 500), 10: (160, 500),
    11: (237, 500), 12: (269, 500), 13: (335, 500), 14: (352, 500), 15: (390, 500),
    16: (436, 500), 17: (451, 500), 18: (448, 500), 19: (472, 500), 20: (471, 500)}


def against_reference(cell: dict) -> tuple[float, float] | None:
    """(reference percentage, two-sided p-value of Fisher's exact test that our spurious
    fraction and the reference's are one) for a frozen n = k cell in :data:`REFERENCE`,
    else None. A small p-value says the two protocols (gradient flow to t_end then
    Newton here, fixed-step gradient descent there) reach spurious minima at different
    rates.

    >>> round(against_reference({"k": 8, "n": 8, "trained_c": False, "inits": 500,
    ...                          "counts": {"local minimum": 57}})[1], 6)
    1.0
    """
    from scipy.stats import fisher_exact

    if cell["n"] != cell["k"] or cell["trained_c"] or cell["k"] not in REFERENCE:
        return None
    theirs, runs = REFERENCE[cell["k"]]
    ours, total = cell["counts"]["local minimum"], cell["inits"]
    p = fisher_exact([[ours, total - ours], [theirs, runs - theirs]]).pvalue
    return 100 * theirs / runs, float(p)


def markdown(summary: dict) -> str:
    """The table of results: one row per cell, ours (fraction, 95% CI) beside the
    authors' runs of n = k (:data:`REFERENCE`) with Fisher's exact p-value.

    >>> print(markdown({"cells": []}).splitlines()[1])
    |---|---|---|---|---|---|---|---|---|---|---|
    """
    rows = ["| k | n | output weights | inits | spurious (%) | 95% CI (%) | authors' runs "
            "(%) | Fisher p | saddles | not converged | distinct spurious risks (count, "
            "smallest eigenvalue beyond the symmetries) |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in summary["cells"]:
        risks = "; ".join(f"{g['risk']:.4g} ({g['count']}, {g['min_eig_low']:.2g})"
                          for g in c["spurious_risks"]) or "-"
        ref = against_reference(c)
        rows.append(
            f"| {c['k']} | {c['n']} | {'trained' if c['trained_c'] else 'frozen at 1'} | "
            f"{c['inits']} | {100 * c['spurious_fraction']:.1f} | "
            f"{100 * c['spurious_ci'][0]:.1f}-{100 * c['spurious_ci'][1]:.1f} | "
            f"{'-' if ref is None else f'{ref[0]:.1f}'} | "
            f"{'-' if ref is None else f'{ref[1]:.2g}'} | {c['counts']['saddle']} | "
            f"{c['counts']['not a critical point']} | {risks} |")
    return "\n".join(rows)
