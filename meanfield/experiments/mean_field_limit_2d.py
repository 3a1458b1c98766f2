"""The m -> infinity limit in 2-D: a million-particle reference and distances that see m^-1/2.

Setting (theory §11.1, §11.4, §11.5). Inputs x ~ N(0, I_2), ReLU without bias. The
teacher is the one of the 2-D illustration (:mod:`meanfield.experiments.demo`): three
neurons with |a*_j| = 1 at -112.7, -31.0 and 98.4 degrees and output weights -1, +1, -1
(alpha = "sum", so y = sum_j c*_j relu(a*_j . x)). Students are mean-field networks
(alpha = 1) with a *balanced* initialisation: a_i = tau (cos, sin) of a uniform angle and
c_i = +-tau with a random sign, tau = 0.5. For ReLU, c_i^2 - |a_i|^2 is conserved by the
flow (theory §1.4), here 0, so every neuron stays balanced (|c_i| = |a_i| = r_i): its
angle follows the smooth field d theta_i/dt = -sign(c_i) W(theta_i) and its log-radius
d log r_i/dt = -sign(c_i) U(theta_i), with U and W the convolutions of the signed measure
nu = sum_j q_j c_j r_j delta_{theta_j} of f - y with kappa and kappa' (theory §11.4). No
particle crosses a = 0, where angles move fast and amplify perturbations.

All systems follow Euler steps of the population gradient flow with the same dt and are
compared at the same recorded times:

* the **reference**: M = 10^6 particles (one per seed), spectral backend (theory §11.4,
  exact to about 1e-11 relative per velocity);
* **coupled** systems: the first m of the reference's initial particles
  (:func:`meanfield.model.network.coupled_indices`), m = 16 ... 65 536;
* **independent** systems: fresh draws of m particles from the same law.

At each recorded time every system is compared with the reference (:func:`distances`),
each distance beside its same-distribution baseline (two disjoint random subsets of the
reference, of sizes m and M - m, or m and |R| for W2):

* circle W1 (theory §11.5; POT, in turns) between the normalised positive parts of
  nu_m(t) and nu_M(t) and between the negative parts, with the masses;
* ||f_m - f_M|| in L^2(N(0, I_2)), exact through the kernel (theory §11.4);
* W2 in R^3 between the clouds (POT ``emd2``) against |R| = ``ref_points`` reference
  particles not coupled to the system, as in the d = 10 study (only for m <= ``w2_max_m``:
  the cost matrix has m |R| entries);
* the coupled deviation sqrt((1/m) sum_i |w_i^m - w_i^M|^2) (coupled systems only);
* the risk gap |R(f_m) - R(f_M)|.

The study is a plain resumable loop over files (:func:`run_study`): one directory per
reference (its snapshots at the recorded times as .npy, 24 MB each at M = 10^6, and its
kymograph), one JSON file per finite system, each written atomically and skipped when
present. :func:`measure` reads them back and :func:`summary` fits the log-log slopes in m
at each time; :mod:`meanfield.experiments.mean_field_limit_2d_figures` draws them.
"""
from __future__ import annotations

import io
import json
import os
import time
import warnings
from typing import Any
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ..analysis import distances as metrics
from ..backends import spectral
from ..analysis.circle_distances import (circle_measure, circle_wasserstein_with_baseline,
                              function_distance_with_baseline)
from ..dynamics.integrators import euler
from ..model.network import Network, coupled_indices
from ..objectives.teacher_student import GaussianPopulation
from ..runs import store
from ..runs.cells import read_result
from ..runs.sweep import call_id, function_name, map_cells
from ..dynamics.trajectory import simulate

#: the seed of the 2-D illustration's teacher (meanfield.experiments.demo.DEMO_SEED)
TEACHER_SEED = 19
#: recorded times of the full-size study (multiples of dt)
TIMES = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
#: the distances of the study, by summary name
DISTANCES = ("circle_w", "function_distance", "w2", "coupled_deviation")
_TWO_PI = 2.0 * np.pi


@dataclass(frozen=True)
class Setting:
    """Everything that defines the study (module docstring); stored in setting.json."""

    M: int = 10**6
    ms: tuple = (16, 64, 256, 1024, 4096, 16384, 65536)
    seeds: tuple = (0, 1, 2)
    times: tuple = TIMES
    tau: float = 0.5
    dt: float = 0.05
    inputs: str = "gaussian"
    tol: float = spectral.TOLERANCE
    ref_points: int = 4096
    w2_max_m: int = 4096
    kymograph_m: int = 64
    kymograph_records: int = 96
    bins: int = 180

    def __post_init__(self):
        times = np.asarray(self.times, dtype=float)
        if times[0] != 0 or np.any(np.diff(times) <= 0):
            raise ValueError(f"times must start at 0 and increase, got {self.times}")
        steps = times / self.dt
        if not np.allclose(steps, np.rint(steps), atol=1e-9):
            raise ValueError(f"every time must be a multiple of dt = {self.dt}")
        if max(self.ms) >= self.M / 2:
            raise ValueError(f"need every m < M/2 (baselines), got m = {max(self.ms)}, "
                             f"M = {self.M}")
        if self.kymograph_m not in self.ms:
            raise ValueError(f"kymograph_m = {self.kymograph_m} is not among ms = {self.ms}")

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, values: dict) -> "Setting":
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                                  for k, v in values.items()}
        return cls(**fields)

    @property
    def steps(self) -> int:
        return int(round(self.times[-1] / self.dt))


# --------------------------------------------------------------------------- the problem
def teacher() -> Network:
    """The teacher of the 2-D illustration (meanfield.experiments.demo, seed 19): three
    unit ReLU neurons on the circle, output weights +-1, alpha = "sum"."""
    seed = np.random.SeedSequence(TEACHER_SEED).spawn(4)[0]  # as runs.run.build does
    return Network.init(3, 2, "relu", sphere=True, output="sign", alpha="sum", seed=seed)


def initial_network(m: int, seed, tau: float) -> Network:
    """m balanced neurons: a_i = tau (cos, sin) of a uniform angle, c_i = +-tau (theory
    §1.4: c^2 - |a|^2 = 0 is conserved), mean-field scaling alpha = 1."""
    return Network.init(m, 2, "relu", sphere=True, output="sign", tau=tau, seed=seed)


def reference_start(setting: Setting, seed: int) -> Network:
    """The reference's M initial particles for one seed."""
    return initial_network(setting.M, np.random.SeedSequence([seed, 0]), setting.tau)


def system_start(setting: Setting, seed: int, m: int, coupled: bool) -> Network:
    """The m-system's initial particles: the reference's first m (coupled, theory §11.1)
    or an independent draw of the same law."""
    if coupled:
        ref = reference_start(setting, seed)
        return Network.from_packed(ref.w[coupled_indices(setting.M, m)], ref.layout)
    return initial_network(m, np.random.SeedSequence([seed, 1, m]), setting.tau)


def objective(setting: Setting, backend="auto") -> GaussianPopulation:
    """The population objective of the teacher, with the given backend (the reference
    uses ``spectral.Spectral(setting.tol)``)."""
    return GaussianPopulation(teacher(), inputs=setting.inputs, backend=backend)


@dataclass(frozen=True)
class FixedTimes:
    """A record schedule of given times (used like meanfield.LogSchedule)."""

    values: tuple

    def times(self, t_end: float, dt: float | None = None) -> np.ndarray:
        return np.asarray(self.values, dtype=float)


def kymograph_steps(setting: Setting) -> np.ndarray:
    """Step indices of the kymograph: 0 and ``kymograph_records`` - 1 log-spaced steps
    from 1 to the last step."""
    n = setting.steps
    return np.unique(np.concatenate([[0], np.rint(np.geomspace(
        1, n, max(2, setting.kymograph_records - 1))).astype(int)]))


def angle_density(w, m: int, bins: int):
    """Densities per radian of the positive and negative parts of nu (mean-field weights
    1/m) on ``bins`` equal arcs of [-pi, pi): two arrays of length ``bins``."""
    theta, nu = circle_measure(w, np.full(len(w), 1.0 / m))
    edges = np.linspace(-np.pi, np.pi, bins + 1)
    width = edges[1] - edges[0]
    pos = np.histogram(theta, edges, weights=np.where(nu > 0, nu, 0.0))[0] / width
    neg = np.histogram(theta, edges, weights=np.where(nu < 0, -nu, 0.0))[0] / width
    return pos, neg


@dataclass
class Kymograph:
    """nu_t of a system on the circle at given steps (an ``on_step`` of simulate):
    densities of its positive and negative parts, and the first ``track`` particles."""

    steps: np.ndarray
    m: int
    bins: int
    track: int
    times: list = field(default_factory=list)
    positive: list = field(default_factory=list)
    negative: list = field(default_factory=list)
    particles: list = field(default_factory=list)

    def add(self, w, t: float) -> None:
        pos, neg = angle_density(w, self.m, self.bins)
        self.times.append(float(t))
        self.positive.append(pos)
        self.negative.append(neg)
        self.particles.append(np.array(w[:self.track], dtype=np.float64))

    def __call__(self, state, recorder) -> None:
        if state.step in self._wanted:
            self.add(state.w, state.t)

    def __post_init__(self):
        self._wanted = {int(s) for s in self.steps if s > 0}

    def arrays(self) -> dict:
        return {"times": np.asarray(self.times), "positive": np.asarray(self.positive),
                "negative": np.asarray(self.negative),
                "particles": np.asarray(self.particles)}


def evolve(net: Network, setting: Setting, backend="auto", kymograph: bool = False,
           track: int = 0) -> dict:
    """Euler steps of the population gradient flow from ``net`` to the last recorded time:
    {"times", "risk", "snapshots" (n_times, m, 3), "kymograph" (arrays or None)}."""
    obj = objective(setting, backend)
    kymo = None
    if kymograph:
        kymo = Kymograph(kymograph_steps(setting), net.m, setting.bins, track)
        kymo.add(net.w, 0.0)
    traj = simulate(net, obj, euler(setting.dt), setting.times[-1],
                    record=FixedTimes(setting.times), on_step=kymo)
    if not np.allclose(traj.times, setting.times, rtol=0, atol=1e-9):
        raise RuntimeError(f"recorded {traj.times}, expected {setting.times}")
    return {"times": traj.times, "risk": traj.risk, "snapshots": traj.snapshots,
            "kymograph": None if kymo is None else kymo.arrays()}


# --------------------------------------------------------------------------- distances
def distances(w_m, w_ref, m: int, coupled: bool, setting: Setting, rng_seed) -> dict:
    """Every distance of one m-system to the reference at one time, with baselines
    (module docstring). ``rng_seed`` fixes the baseline subsets and the W2 subsample."""
    M = len(w_ref)
    theta, nu = circle_measure(w_m, np.full(m, 1.0 / m))
    theta_ref, nu_ref = circle_measure(w_ref, np.full(M, 1.0 / M))
    seed = np.random.SeedSequence(rng_seed)
    cw = circle_wasserstein_with_baseline(theta, nu, theta_ref, nu_ref, p=1, seed=seed)
    fd = function_distance_with_baseline(theta, nu, theta_ref, nu_ref, setting.inputs,
                                         seed=seed, tol=setting.tol)
    out = {}
    for part in ("positive", "negative"):
        out[f"circle_w_{part}"] = cw["distance"][part]
        out[f"circle_w_{part}_baseline"] = cw["baseline"][part]
        out[f"mass_{part}"] = cw["distance"]["mass_" + part][0]
        out[f"mass_{part}_reference"] = cw["distance"]["mass_" + part][1]
        out[f"mass_difference_{part}"] = cw["distance"]["mass_difference_" + part]
        out[f"mass_difference_{part}_baseline"] = cw["baseline"]["mass_difference_" + part]
    for key in ("", "_baseline"):
        out["circle_w" + key] = 0.5 * (out["circle_w_positive" + key]
                                       + out["circle_w_negative" + key])
    out["function_distance"] = fd["distance"]
    out["function_distance_baseline"] = fd["baseline"]
    out["w2"] = out["w2_baseline"] = float("nan")
    if m <= setting.w2_max_m:
        keep = coupled_indices(M, m) if coupled else np.arange(0)
        pool = np.setdiff1d(np.arange(M), keep, assume_unique=True)
        n_ref = min(setting.ref_points, len(pool) - m)
        pick = np.random.default_rng(seed).choice(pool, n_ref + m, replace=False)
        ref_sample = w_ref[np.sort(pick[:n_ref])]
        out["w2"] = metrics.w2(w_m, ref_sample)
        out["w2_baseline"] = metrics.w2(w_ref[np.sort(pick[n_ref:])], ref_sample)
    out["coupled_deviation"] = (metrics.coupled_deviation(
        w_m, w_ref[coupled_indices(M, m)]) if coupled else float("nan"))
    return out


# --------------------------------------------------------------------------- the study
def _save_npy(path: Path, array) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array))
    store.atomic_write(path, buffer.getvalue())


def reference_dir(out_dir, seed: int) -> Path:
    return Path(out_dir) / "reference" / f"seed{seed}"


def system_name(seed: int, m: int, coupled: bool) -> str:
    return f"seed{seed}-m{m}-{'coupled' if coupled else 'independent'}"


def _stamp(began: float) -> dict:
    return {"wall_seconds": time.monotonic() - began,
            "load_average": list(os.getloadavg()), "cpu_count": os.cpu_count()}


def reference_cell(out_dir: str, setting: dict, seed: int) -> dict:
    """One seed's reference (a function cell of :func:`run_study`): writes t<k>.npy (the
    particles at each recorded time) and kymograph.npz into ``reference_dir`` and
    returns {times, risk, steps, wall time, load}."""
    spec = Setting.from_dict(setting)
    folder = reference_dir(out_dir, seed)
    folder.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    run = evolve(reference_start(spec, seed), spec,
                 backend=spectral.Spectral(spec.tol), kymograph=True,
                 track=spec.kymograph_m)
    for k, snapshot in enumerate(run["snapshots"]):
        _save_npy(folder / f"t{k}.npy", snapshot)
    store.write_npz(folder / "kymograph.npz", **run["kymograph"])
    return {"seed": seed, "M": spec.M, "times": run["times"].tolist(),
            "risk": run["risk"].tolist(), "steps": spec.steps, **_stamp(began)}


def system_cell(out_dir: str, setting: dict, seed: int, m: int, coupled: bool,
                reference_risk: list) -> dict:
    """One finite system measured against its seed's reference at every recorded time
    (a function cell of :func:`run_study`); the coupled system of m = kymograph_m also
    writes its kymograph to systems/<name>.npz."""
    spec = Setting.from_dict(setting)
    ref_folder = reference_dir(out_dir, seed)
    began = time.monotonic()
    kymo = coupled and m == spec.kymograph_m
    run = evolve(system_start(spec, seed, m, coupled), spec, kymograph=kymo,
                 track=m)
    run_seconds = time.monotonic() - began
    rows = []
    for k in range(len(spec.times)):
        w_ref = np.load(ref_folder / f"t{k}.npy")
        rows.append(distances(run["snapshots"][k], w_ref, m, coupled, spec,
                              [seed, m, int(coupled), k]))
    result: dict[str, Any] = {key: [row[key] for row in rows] for key in rows[0]}
    result["risk_gap"] = np.abs(run["risk"] - np.asarray(reference_risk)).tolist()
    result.update({"seed": seed, "m": m, "coupled": coupled,
                   "times": run["times"].tolist(), "risk": run["risk"].tolist(),
                   "run_seconds": run_seconds, **_stamp(began)})
    if kymo:
        folder = Path(out_dir) / "systems"
        folder.mkdir(parents=True, exist_ok=True)
        store.write_npz(folder / (system_name(seed, m, coupled) + ".npz"), **run["kymograph"])
    return result


def _calls(out: Path, setting: Setting, refs=None):
    """The keyword arguments of the reference cells, or (given the references' results
    by seed) of the system cells."""
    shared = {k: v for k, v in setting.to_dict().items() if k != "seeds"}  # seeds may grow
    common = {"out_dir": str(out), "setting": shared}
    if refs is None:
        return [{**common, "seed": s} for s in setting.seeds]
    return [{**common, "seed": s, "m": m, "coupled": c, "reference_risk": refs[s]["risk"]}
            for s in setting.seeds for m in setting.ms for c in (True, False)]


def run_study(out_dir, setting: Setting, log=print, workers=None) -> dict:
    """The references, then every finite system, as function cells of the sweep
    machinery (:func:`meanfield.runs.sweep.map_cells`: resumable, one result per cell
    under study/references and study/systems; the references one at a time, each using
    both cores); returns :func:`load_study`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    saved = out / "setting.json"
    if saved.exists():  # more or other seeds may be added to a study, nothing else
        before = Setting.from_dict(store.read_json(saved))
        if replace(before, seeds=setting.seeds) != setting:
            raise ValueError(f"{out} holds a study with another setting ({saved}); use "
                             "another directory")
    store.write_json(saved, setting.to_dict())
    refs = _results(map_cells(reference_cell, _calls(out, setting), out / "references",
                              workers=1, progress=False))
    for seed, info in zip(setting.seeds, refs, strict=False):
        log(f"reference seed {seed}: M = {setting.M}, {info['steps']} steps in "
            f"{info['wall_seconds']:.0f} s (load {info['load_average'][0]:.1f})")
    systems = _results(map_cells(system_cell, _calls(out, setting, dict(zip(setting.seeds,
                                                                             refs, strict=False))),
                                 out / "systems", workers=workers, progress=False))
    for res in systems:
        log(f"{system_name(res['seed'], res['m'], res['coupled'])}: "
            f"{res['wall_seconds']:.1f} s, function distance "
            f"{res['function_distance'][-1]:.3g} (baseline "
            f"{res['function_distance_baseline'][-1]:.3g})")
    return load_study(out)


def _results(report) -> tuple:
    if not report.ok:
        raise RuntimeError("; ".join(report.failure_lines()))
    return report.results


def load_study(out_dir, seeds=None) -> dict:
    """{"setting", "references" (by seed), "systems" (by (seed, m, coupled)), "out"} of
    the seeds of setting.json (or ``seeds``), read from the cells' results."""
    out = Path(out_dir)
    setting = Setting.from_dict(store.read_json(out / "setting.json"))
    if seeds is not None:
        setting = replace(setting, seeds=tuple(seeds))
    refs = dict(zip(setting.seeds, _read(reference_cell, out / "references",
                                         _calls(out, setting)), strict=False))
    systems = {(r["seed"], r["m"], r["coupled"]): r for r in
               _read(system_cell, out / "systems", _calls(out, setting, refs))}
    return {"setting": setting, "references": refs, "systems": systems, "out": out}


def _read(function, sweep_dir: Path, calls) -> list:
    """The results of ``function``'s cells called with ``calls`` (JSON round trip, as
    map_cells hashes them)."""
    name = function_name(function)
    return [read_result(sweep_dir / store.CELLS / call_id(name, json.loads(json.dumps(c))))
            for c in calls]


# --------------------------------------------------------------------------- measures
#: per-system quantities that :func:`measure` stacks
QUANTITIES = ("circle_w", "circle_w_positive", "circle_w_negative", "function_distance",
              "w2", "coupled_deviation", "risk_gap", "mass_difference_positive",
              "mass_difference_negative", "mass_positive", "mass_negative")
BASELINED = ("circle_w", "circle_w_positive", "circle_w_negative", "function_distance",
             "w2", "mass_difference_positive", "mass_difference_negative")


def measure(study: dict) -> dict:
    """Arrays (n_seeds, n_m, n_times) of every quantity (and "<name>_baseline") for the
    coupled and the independent systems: {"coupled": {...}, "independent": {...}}."""
    setting = study["setting"]
    out = {}
    for label, coupled in (("coupled", True), ("independent", False)):
        arrays = {}
        keys = list(QUANTITIES) + [k + "_baseline" for k in BASELINED]
        for key in keys:
            arrays[key] = np.array([[study["systems"][(s, m, coupled)][key]
                                     for m in setting.ms] for s in setting.seeds], float)
        out[label] = arrays
    return out


def _mean_sem(values):
    """Mean over seeds and its standard error; NaN where a quantity is not defined (W2
    above w2_max_m, the coupled deviation of independent systems)."""
    n = values.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
        mean = np.nanmean(values, axis=0)
        sem = (np.nanstd(values, axis=0, ddof=1) / np.sqrt(n) if n > 1
               else np.zeros_like(mean))
    return mean, sem


def slopes(ms, means) -> list:
    """Log-log slope in m of each column (time) of a (n_m, n_times) array (NaN where
    fewer than two positive values)."""
    return [metrics.loglog_slope(ms, means[:, k]) for k in range(means.shape[1])]


def prefactors(ms, means) -> np.ndarray:
    """C(t) = geometric mean over m of sqrt(m) D_m(t): the prefactor of D = C m^-1/2."""
    ms = np.asarray(ms, float)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(means * np.sqrt(ms))
    logs[~np.isfinite(logs)] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
        return np.exp(np.nanmean(logs, axis=0))


def _clean(value):
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_clean(v) for v in value]
    if isinstance(value, (float, np.floating)):  # six significant digits, NaN as null
        return None if not np.isfinite(value) else float(f"{value:.6g}")
    if isinstance(value, np.integer):
        return int(value)
    return value


def aggregate(study: dict) -> dict:
    """Seed means and standard errors, slopes and prefactors of every quantity:
    {label: {"<q>_mean", "<q>_sem", "slope_<q>", "prefactor_<q>"}} for label in
    coupled, independent (arrays (n_m, n_times) and lists over times)."""
    ms = np.asarray(study["setting"].ms)
    out = {}
    for label, arrays in measure(study).items():
        agg = {}
        for key, values in arrays.items():
            mean, sem = _mean_sem(values)
            agg[key + "_mean"], agg[key + "_sem"] = mean, sem
            agg["slope_" + key] = slopes(ms, mean)
            agg["prefactor_" + key] = prefactors(ms, mean)
        out[label] = agg
    return out


def summary(study: dict) -> dict:
    """The summary.json fields (numbers to six significant digits, NaN as null). The
    ``slope_*`` keys are the final-time slopes of the coupled systems; "slopes" holds them
    at every time for both kinds of systems, the tables the seed means (rows m, columns
    times)."""
    setting, agg = study["setting"], aggregate(study)
    final = -1
    refs = study["references"]
    teach = teacher()
    out = {
        "m": list(setting.ms), "M": setting.M, "times": list(setting.times),
        "seeds": list(setting.seeds), "setting": setting.to_dict(),
        "teacher": {"angles_degrees": np.degrees(np.arctan2(teach.a[:, 1],
                                                            teach.a[:, 0])).tolist(),
                    "c": teach.c[:, 0].tolist()},
        "slope_circle_w": agg["coupled"]["slope_circle_w"][final],
        "slope_function_distance": agg["coupled"]["slope_function_distance"][final],
        "slope_w2": agg["coupled"]["slope_w2"][final],
        "slope_coupled_deviation": agg["coupled"]["slope_coupled_deviation"][final],
        "slopes": {label: {key: agg[label]["slope_" + key]
                           for key in QUANTITIES + tuple(k + "_baseline" for k in BASELINED)
                           if not (label == "independent" and key == "coupled_deviation")}
                   for label in agg},
        "prefactors": {label: {key: agg[label]["prefactor_" + key]
                               for key in ("circle_w", "circle_w_baseline",
                                           "function_distance",
                                           "function_distance_baseline",
                                           "coupled_deviation")}
                       for label in agg},
        "reference_risk": np.mean([refs[s]["risk"] for s in setting.seeds], axis=0),
        "reference_mass": {part: np.mean([study["systems"][(s, setting.ms[0], True)]
                                          ["mass_" + part + "_reference"]
                                          for s in setting.seeds], axis=0)
                           for part in ("positive", "negative")},
        "reference_wall_seconds": [refs[s]["wall_seconds"] for s in setting.seeds],
        "reference_load_average": [refs[s]["load_average"] for s in setting.seeds],
        "system_wall_seconds": float(sum(r["wall_seconds"]
                                         for r in study["systems"].values())),
        "study_wall_seconds": float(sum(r["wall_seconds"] for r in refs.values())
                                    + sum(r["wall_seconds"]
                                          for r in study["systems"].values())),
    }
    for label in agg:
        out[label] = {key[:-5]: agg[label][key] for key in agg[label]
                      if key.endswith("_mean")}
        out[label + "_sem"] = {key[:-4]: agg[label][key] for key in agg[label]
                               if key.endswith("_sem")}
    return _clean(out)
