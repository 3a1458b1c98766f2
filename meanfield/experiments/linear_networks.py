"""Experiments on two-layer linear networks: Tu, Aranguri & Jacot's Figures 1 and 2.

Theory §9. :func:`compare` runs gradient descent and the discretised self-consistent
equation side by side from the same A(0) with the same step and records errors, singular
values and their distance; :func:`phase_cell` reduces one run to the numbers of a
phase-diagram cell and :func:`phase_diagram` maps it over a (gamma_sigma2, gamma_w) grid
as resumable function cells (:func:`meanfield.runs.sweep.map_cells`). The figures are
drawn by :func:`figure1` and :func:`figure2`.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..analysis import linear_networks as linear
from ..plots.figures import subplots
from ..runs.sweep import map_cells

WIDTH_LIMIT = 100_000  # "auto": particles up to this width, d x d Gram matrices beyond


def _gd(method: str, task, sigma2: float, w: int, eta: float, seed, order: str):
    if method == "auto":
        method = "particles" if w <= WIDTH_LIMIT else "gram"
    if method == "particles":
        if order != "simultaneous":
            raise ValueError("the particle path runs simultaneous GD; use method='gram' "
                             "for order='paper'")
        return linear.ParticleGD(linear.init_network(task.d, sigma2, w, seed),
                                 task.target, eta)
    if method == "gram":
        return linear.GramGD.from_blocks(linear.neuron_blocks(task.d, sigma2, w, seed),
                                         task.target, eta, order)
    raise ValueError(f"method must be 'auto', 'particles' or 'gram', got {method!r}")


def _early_stop(train, test) -> bool:
    """The authors' rule (theory §9): train error below 1e-3, test error rising twice
    in a row, or a plateau (train change < 2e-4 after a drop of at least 1e-2)."""
    i = len(train) - 1
    return (train[-1] < 1e-3
            or (i > 3 and test[-3] < test[-2] < test[-1])
            or (i > 0 and abs(train[-1] - train[-2]) < 2e-4 and train[0] - train[-1] > 1e-2))


def compare(task: "linear.Task", gamma_sigma2: float, gamma_w: float, steps: int = 100,
            divisor: float = 5.0, method: str = "auto", order: str = "simultaneous",
            seed=0, early_stop: bool = False) -> dict:
    """GD and the self-consistent (SC) dynamics from the same A(0), same step eta
    (:func:`linear.paper_step`), for ``steps`` steps (theory §9, Figure 1).

    ``method`` is "particles" (the package's objective and Euler integrator), "gram"
    (the exact d x d reduction) or "auto" (particles up to width 1e5); ``order`` is
    "simultaneous" (plain GD) or "paper" (W1 first, then W2; Gram path only).
    ``early_stop`` applies the authors' Figure 2 rule. Returns a dict of arrays indexed
    by step 0..n: ``train_gd``, ``test_gd``, ``train_sc``, ``test_sc``, ``sv_gd``,
    ``sv_sc`` (n+1, d), ``distance`` ||A_GD - A_SC||_F and ``norm_gd`` ||A_GD||_F,
    plus the scalars sigma2, w, eta, threshold = sigma^2 w and the method used.
    """
    sigma2, w = linear.scales(task.d, gamma_sigma2, gamma_w)
    eta = linear.paper_step(task, sigma2, w, gamma_sigma2, gamma_w, divisor)
    gd = _gd(method, task, sigma2, w, eta, seed, order)
    sc = linear.SelfConsistent(gd.matrix(), task.target, sigma2 * w, eta)
    rec: dict[str, list[Any]] = {key: [] for key in (
        "train_gd", "test_gd", "train_sc", "test_sc", "sv_gd", "sv_sc", "distance", "norm_gd")}
    for i in range(steps + 1):
        A_gd, A_sc = gd.matrix(), sc.matrix()
        for tag, A in (("gd", A_gd), ("sc", A_sc)):
            train, test = linear.errors(A, task)
            rec["train_" + tag].append(train)
            rec["test_" + tag].append(test)
            rec["sv_" + tag].append(np.linalg.svd(A, compute_uv=False))
        rec["distance"].append(float(np.linalg.norm(A_gd - A_sc)))
        rec["norm_gd"].append(float(np.linalg.norm(A_gd)))
        if i == steps or not np.isfinite(rec["train_gd"][-1]) or (
                early_stop and _early_stop(rec["train_gd"], rec["test_gd"])):
            break
        gd.step()
        sc.step()
    out: dict[str, Any] = {key: np.asarray(val) for key, val in rec.items()}
    out.update(sigma2=sigma2, w=w, eta=eta, threshold=sigma2 * w, k=task.k,
               method=type(gd).__name__)
    return out


def figure1_summary(run: dict) -> dict:
    """``rel_distance_gd_selfconsistent`` = max_t ||A_GD - A_SC||_F / ||A_GD||_F and the
    final (and minimal) test errors of both dynamics."""
    return {"rel_distance_gd_selfconsistent": float(np.max(run["distance"] / run["norm_gd"])),
            "test_error_gd": float(run["test_gd"][-1]),
            "test_error_sc": float(run["test_sc"][-1]),
            "min_test_error_gd": float(np.min(run["test_gd"])),
            "min_test_error_sc": float(np.min(run["test_sc"])),
            "train_error_gd": float(run["train_gd"][-1]),
            "train_error_sc": float(run["train_sc"][-1]),
            "sigma2": run["sigma2"], "w": run["w"], "eta": run["eta"],
            "threshold_sigma2_w": run["threshold"], "steps": len(run["train_gd"]) - 1,
            "gd_path": run["method"]}


def phase_cell(task, gamma_sigma2: float, gamma_w: float, steps: int = 750,
               divisor: float = 50.0, seed=0, order: str = "simultaneous") -> dict:
    """One Figure 2 cell (theory §9): GD (Gram path) and SC with the authors' step
    1/(50 ...) and early stopping. Returns the minimal test error, the rank (singular
    values above s_max/5) and the stable rank at that point, the number of steps to it,
    ln(max_t ||A_GD - A_SC||_F^2 / d^2) and the relative distance max_t ||dA|| / ||A_GD||."""
    run = compare(task, gamma_sigma2, gamma_w, steps, divisor, "gram", order, seed,
                  early_stop=True)
    test = run["test_gd"]
    best = int(np.nanargmin(test)) if np.any(np.isfinite(test)) else 0
    dist2 = np.max(run["distance"] ** 2) / task.d ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.max(run["distance"] / run["norm_gd"])
    return {"min_test_error": float(test[best]),
            "rank": linear.numerical_rank(run["sv_gd"][best]),
            "stable_rank": linear.stable_rank(run["sv_gd"][best]),
            "steps_to_best": best,
            "log_distance": float(np.log(dist2)) if dist2 > 0 else -math.inf,
            "rel_distance": float(rel),
            "steps_run": len(test) - 1}


PANELS = ("min_test_error", "rank", "stable_rank", "steps_to_best", "log_distance",
          "rel_distance", "steps_run")


def task_phase_cell(d: int, k: int, noise: float, task_seed: int, gamma_sigma2: float,
                    gamma_w: float, steps: int, divisor: float, seed) -> dict:
    """:func:`phase_cell` on the task ``linear.make_task(d, k, noise, task_seed)``: the
    cell function of :func:`phase_diagram` (its arguments are plain numbers)."""
    return phase_cell(linear.make_task(d, k, noise, task_seed), gamma_sigma2, gamma_w,
                      steps, divisor, seed)


def phase_diagram(out_dir, d: int, gammas_sigma2, gammas_w, k: int = 5, noise: float = 1.0,
                  steps: int = 750, divisor: float = 50.0, seed: int = 0,
                  workers: int | None = None) -> dict:
    """Map :func:`phase_cell` over the grid, one function cell of
    :func:`meanfield.runs.sweep.map_cells` each (in ``out_dir``, resumable), on the task
    ``linear.make_task(d, k, noise, seed)``; cell (i, j) has gamma_sigma2 =
    gammas_sigma2[i], gamma_w = gammas_w[j] and init seed (seed, i, j). Returns the axes
    and one (n_sigma2, n_w) array per entry of :data:`PANELS`."""
    gs, gw = np.asarray(gammas_sigma2, float), np.asarray(gammas_w, float)
    cells = [(i, j) for i in range(len(gs)) for j in range(len(gw))]
    calls = [dict(d=int(d), k=int(k), noise=float(noise), task_seed=int(seed),
                  gamma_sigma2=float(gs[i]), gamma_w=float(gw[j]), steps=int(steps),
                  divisor=float(divisor), seed=[int(seed), i, j]) for i, j in cells]
    report = map_cells(task_phase_cell, calls, out_dir, workers=workers, progress=False)
    if not report.ok:
        raise RuntimeError("; ".join(report.failure_lines()))
    out = {"gamma_sigma2": gs, "gamma_w": gw}
    for key in PANELS:
        grid = np.empty((len(gs), len(gw)))
        for (i, j), res in zip(cells, report.results, strict=False):
            grid[i, j] = res[key]
        out[key] = grid
    return out


# ------------------------------------------------------------------------ figures
def figure1(run: dict, title: str = ""):
    """(a) train and test error of GD (dashed) and SC (solid); (b) singular values of A
    over steps, SC solid and GD dashed, the top k coloured, the bulk grey, and the
    threshold sigma^2 w."""
    k = run["k"]
    steps = np.arange(len(run["train_gd"]))
    fig, (ax1, ax2) = subplots(1, 2, figsize=(11, 4.2))
    for key, colour, label in (("train", "C0", "train"), ("test", "C3", "test")):
        ax1.plot(steps, run[key + "_sc"], color=colour, lw=2, label=f"{label}, self-consistent")
        ax1.plot(steps, run[key + "_gd"], color="k", ls="--", lw=1, label=f"{label}, GD")
    ax1.set(yscale="log", xlabel="GD step", ylabel=r"error $\|A-\cdot\|_F^2/d^2$",
            title="(a) train and test error")
    ax1.legend(fontsize=8, frameon=False)
    sv_sc, sv_gd = run["sv_sc"], run["sv_gd"]
    ax2.plot(steps, sv_sc[:, k:], color="0.8", lw=1.5)
    ax2.plot(steps, sv_gd[:, k:], color="0.3", lw=0.5, ls="--")
    for r in range(k):
        ax2.plot(steps, sv_sc[:, r], color=f"C{r}", lw=2)
        ax2.plot(steps, sv_gd[:, r], color="k", lw=1, ls="--")
    ax2.axhline(run["threshold"], color="k", lw=1, ls=":")
    ax2.text(steps[-1], run["threshold"], r"$\sigma^2 w$", ha="right", va="bottom")
    ax2.set(yscale="log", xlabel="GD step", ylabel="singular values of $A$",
            title="(b) singular values: self-consistent (solid), GD (dashed)")
    ax2.set_ylim(bottom=max(1e-4, 0.5 * np.min(sv_sc[:, :2 * k])))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _lines(ax, d: int, k: int, gs, gw):
    """gamma_sigma2 + gamma_w = 1 (lazy/active), gamma_sigma2 + gamma_w/2 = 0 (infinite
    noise) and w = k (gamma_w = log k / log d), on (x = gamma_w, y = gamma_sigma2) axes."""
    x = np.linspace(gw[0], gw[-1], 100)
    ax.plot(x, 1 - x, color="k", lw=1.5, label=r"$\gamma_{\sigma^2}+\gamma_w=1$")
    ax.plot(x, -x / 2, color="r", lw=1.5, label=r"$\gamma_{\sigma^2}+\gamma_w/2=0$")
    ax.axvline(math.log(k) / math.log(d), color="b", lw=1.5, label="$w=k$")
    ax.set_xlim(gw[0], gw[-1])
    ax.set_ylim(gs[0], gs[-1])


def figure2(diagram: dict, d: int, k: int):
    """Four panels over (gamma_w, gamma_sigma2): minimal test error (log10), rank at the
    best test error, steps to it, ln max ||A_GD - A_SC||_F^2 / d^2; with the three lines."""
    gs, gw = diagram["gamma_sigma2"], diagram["gamma_w"]
    panels = [("min_test_error", "log10 minimal test error", np.log10, "viridis"),
              ("rank", "rank at best test error (sv > s_max/5)", None, "magma"),
              ("steps_to_best", "GD steps to the minimal test error", None, "cividis"),
              ("log_distance", r"ln max$_t\|A_{GD}-A_{SC}\|_F^2/d^2$", None, "plasma")]
    fig, axes = subplots(2, 2, figsize=(11, 8.5))
    for ax, (key, title, fn, cmap) in zip(axes.flat, panels, strict=False):
        z = np.asarray(diagram[key], float)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = fn(z) if fn else z
        z = np.where(np.isfinite(z), z, np.nan)
        mesh = ax.pcolormesh(gw, gs, z, shading="nearest", cmap=cmap)
        fig.colorbar(mesh, ax=ax)
        _lines(ax, d, k, gs, gw)
        ax.set(title=title, xlabel=r"$\gamma_w$", ylabel=r"$\gamma_{\sigma^2}$")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, frameon=False)
    fig.suptitle(f"two-layer linear network, d = {d}, rank A* = {k}", fontsize=11)
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    return fig
