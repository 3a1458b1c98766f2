"""The m -> infinity limit: a large reference system and synchronously coupled small ones.

The mean-field limit mu_t of the particle flow (THEORY.md §1) is approximated by a
reference system of M >> m particles under the same dynamics (same objective, integrator,
step and mean-field time). A finite-m system starts from m of the reference's initial
particles (:func:`coupled_indices`): its particle i and reference particle idx[i] share
their initial position, so the coupled deviation

    D_m(t) = sqrt((1/m) sum_i |w_i^m(t) - w_idx[i]^M(t)|^2)

measures the propagation of chaos directly; theory gives D_m(t) = O(m^{-1/2}) at fixed t.
Beside it we report W2(mu_m(t), mu_M(t)) with its same-distribution baseline
(meanfield.metrics) and the risk gap |F(mu_m(t)) - F(mu_M(t))|.

Every system is an ordinary run of a :class:`meanfield.Config` with
``student.init.reference_m = M`` (the reference is the cell with student.m = M), so the
whole study is one sweep (meanfield.sweep) over student.m and seeds; :func:`measure` reads
the cells back and :func:`aggregate` averages over seeds.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import metrics, store
from .collect import read_manifest
from .config import Config
from .sweep import CELLS


def coupled_indices(M: int, m: int, symmetric: bool = False) -> np.ndarray:
    """Rows of an M-particle initialisation that seed an m-particle system.

    Plain init: the first m rows. Symmetrised init (Network.init(symmetric=True) stores
    [w_1..w_{M/2} | their c-negated copies]): the first m/2 rows and their partners
    M/2 .. M/2 + m/2 - 1, so the small system is itself symmetrised (f(w0) = 0)."""
    M, m = int(M), int(m)
    if not 1 <= m <= M:
        raise ValueError(f"need 1 <= m <= M, got m={m}, M={M}")
    if not symmetric:
        return np.arange(m)
    if m % 2 or M % 2:
        raise ValueError(f"a symmetric coupling needs even m and M, got m={m}, M={M}")
    half = np.arange(m // 2)
    return np.concatenate([half, M // 2 + half])


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
    manifest = read_manifest(sweep_dir)
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

