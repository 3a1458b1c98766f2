"""The m -> infinity limit (theory §11): a large reference system and coupled small ones.

The mean-field limit mu_t of the particle flow (theory §1) is approximated by a
reference system of M >> m particles under the same dynamics (same objective, integrator,
step and mean-field time). A finite-m system starts from m of the reference's initial
particles (:func:`coupled_indices`): its particle i and reference particle idx[i] share
their initial position, so the coupled deviation

    D_m(t) = sqrt((1/m) sum_i |w_i^m(t) - w_idx[i]^M(t)|^2)

measures the propagation of chaos directly; theory gives D_m(t) = O(m^{-1/2}) at fixed t.
Beside it we report W2(mu_m(t), mu_M(t)) with its same-distribution baseline
(meanfield.analysis.distances) and the risk gap |F(mu_m(t)) - F(mu_M(t))|.

Every system is an ordinary run of a :class:`meanfield.Config` with
``student.init.reference_m = M`` (the reference is the cell with student.m = M), so the
whole study is one sweep (meanfield.runs.sweep) over student.m and seeds; :func:`measure` reads
the cells back and :func:`aggregate` averages over seeds.
"""
from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np

from matplotlib.ticker import NullLocator

from ..analysis import distances as metrics
from ..model.network import coupled_indices
from ..plots.figures import colors, subplots
from ..runs import store
from ..runs.collect import read_config_manifest
from ..runs.config import Config
from ..runs.store import CELLS
from ..runs.sweep import sweep


def study_grid(ms, M: int, seeds) -> dict:
    """The sweep grid of a limit study: student.m over ms and M, seeds."""
    sizes = sorted({int(m) for m in ms} | {int(M)})
    return {"product": {"student.m": sizes}, "seeds": list(seeds)}


def study_config(base: Config, M: int) -> Config:
    """``base`` with the coupled initialisation of an M-particle reference."""
    return base.override({"student.init.reference_m": str(int(M))})


def measure(sweep_dir, M: int, distance: str = "w2", ref_points: int = 4096,
            times=None) -> dict:
    """Per seed and m, the three quantities at each recorded time of a finished study.

    W2 is computed between mu_m(t) and a random subset R of ``ref_points`` reference
    particles drawn among those *not* coupled to the m-system (a coupled reference
    particle sits next to its partner and would bias W2 down), and the baseline between
    R and a disjoint random m-subset of the same uncoupled reference particles, so both
    compare m points with the same |R| points (needs M >= 2m + 1; |R| is reduced to
    M - 2m if needed). ``times`` selects record indices (default all). Returns {"times",
    "m", "seeds", "deviation", "w2", "w2_baseline", "risk_gap"} with arrays of shape
    (n_seeds, n_m, n_times), plus "risk_reference" (n_seeds, n_times)."""
    sweep_dir = Path(sweep_dir)
    manifest = read_config_manifest(sweep_dir)
    base = Config.from_dict(manifest["base"])
    symmetric = base.student.init.symmetric
    runs = {}
    for entry in manifest["cells"]:
        values = entry["values"]
        arr = store.read_npz(sweep_dir / CELLS / entry["id"] / store.TRAJECTORY)
        runs[(int(values["student.m"]), int(values["seed"]))] = arr
    seeds = sorted({s for _, s in runs})
    ms = sorted({m for m, _ in runs if m != M})
    t_all = runs[(M, seeds[0])]["times"]
    idx_t = np.arange(len(t_all)) if times is None else np.asarray(times)
    shape = (len(seeds), len(ms), len(idx_t))
    out = {key: np.full(shape, np.nan) for key in ("deviation", "w2", "w2_baseline",
                                                    "risk_gap")}
    risk_ref = np.full((len(seeds), len(idx_t)), np.nan)
    for s_i, seed in enumerate(seeds):
        ref = runs[(M, seed)]
        risk_ref[s_i] = ref["risk"][idx_t]
        for m_i, m in enumerate(ms):
            small = runs[(m, seed)]
            keep = coupled_indices(M, m, symmetric)
            pool = np.setdiff1d(np.arange(M), keep)  # reference particles not coupled
            n_ref = min(ref_points, len(pool) - m)
            rng = np.random.default_rng([seed, m])
            for k, t_i in enumerate(idx_t):
                w_ref, w_m = ref["snapshots"][t_i], small["snapshots"][t_i]
                out["deviation"][s_i, m_i, k] = metrics.coupled_deviation(w_m, w_ref[keep])
                pick = rng.permutation(pool)
                out["w2"][s_i, m_i, k] = metrics.DISTANCES[distance](w_m, w_ref[pick[:n_ref]])
                out["w2_baseline"][s_i, m_i, k] = metrics.DISTANCES[distance](
                    w_ref[pick[n_ref:n_ref + m]], w_ref[pick[:n_ref]])
                out["risk_gap"][s_i, m_i, k] = metrics.risk_gap(small["risk"][t_i],
                                                                ref["risk"][t_i])
    return {"times": t_all[idx_t], "m": np.asarray(ms), "seeds": seeds,
            "risk_reference": risk_ref, **out}


def aggregate(result: dict) -> dict:
    """Mean over seeds and its standard error (std / sqrt(n_seeds), 0 for one seed) of
    each quantity: keys "<name>_mean" and "<name>_sem", arrays (n_m, n_times)."""
    agg = {}
    n = len(result["seeds"])
    for key in ("deviation", "w2", "w2_baseline", "risk_gap"):
        values = result[key]
        agg[key + "_mean"] = values.mean(axis=0)
        agg[key + "_sem"] = (values.std(axis=0, ddof=1) / np.sqrt(n) if n > 1
                             else np.zeros_like(values[0]))
    return agg


# --------------------------------------------------------------------------- the study
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
    return study_config(base, M)


def mean_field_limit(out_dir, ms=(16, 64, 256), M: int = 2048, seeds=2, d: int = 10,
                     t_end: float = 4.0, ref_points: int = 1024, workers=None) -> dict:
    """Run the coupled study (this module) and return the measured arrays, the seed
    averages and the log-log slopes in m of the deviation and the risk gap at the final
    time (fitted on the seed means)."""
    base = limit_config(d, t_end, M)
    seed_list = list(range(cast(int, seeds))) if np.isscalar(seeds) else list(seeds)
    sweep(base, study_grid(ms, M, seed_list), out_dir, workers=workers,
          progress=False)
    result = measure(out_dir, M, ref_points=ref_points)
    agg = aggregate(result)
    m = result["m"]
    slopes = {key: [metrics.loglog_slope(m, agg[key + "_mean"][:, k])
                    for k in range(len(result["times"]))]
              for key in ("deviation", "risk_gap")}
    manifest = read_config_manifest(out_dir)
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
    r, a = study["result"], study["agg"]
    m, times = r["m"], r["times"]
    fig, axes = subplots(1, 3, figsize=(14, 4.2))
    palette = colors("viridis", len(times))
    for k, t in enumerate(times):
        if t == 0:
            continue
        c = palette[k]
        for ax, key in zip(axes, ("deviation", "w2", "risk_gap"), strict=False):
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
    for ax, title in zip(axes, titles, strict=False):
        ax.set(xscale="log", yscale="log", xlabel="m", title=title)
        ax.set_xticks(m, [str(v) for v in m])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.legend(fontsize=7)
    axes[1].set_yscale("linear")
    fig.suptitle(f"m $\\to\\infty$: reference M = {study['M']}, d = {study['d']}, "
                 f"{len(r['seeds'])} seeds, population gradient flow (ReLU)")
    fig.tight_layout()
    return fig
