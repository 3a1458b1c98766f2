"""Index learning: samples to weak recovery of single-index targets He_k* by online SGD.

Setting (theory §13). The target is y = He_k(u . x), x ~ N(0, I_d), u uniform on the
sphere, information exponent k* = k. The student is one neuron f(x) = c sigma(a . x) with
an activation whose k-th Hermite coefficient sigma_k = E[sigma(z) He_k(z)] / k! is not 0
(erf for odd k, relu for even k: :data:`STUDENT`). Its output weight c = eps s is frozen
and small (eps = :data:`EPSILON`), so the square loss is, to O(eps), the correlation loss
-eps y sigma(a . x) of Ben Arous, Gheissari & Jagannath (2021); the sign s = sign(sigma_k
m0^k) makes the start's side attracting (for odd k their results hold on that side).
a starts uniform on the unit sphere: the overlap m0 = u . a0 is ~ N(0, 1/d).

Online SGD (:class:`meanfield.objectives.teacher_student.Online`, the ``sgd`` integrator,
``simulate_many`` over seeds) takes per fresh sample the step eta on a, with the learning
rate scaled with d as the theory asks:

    eta = delta d^(-max(1, k/2))     (delta = :data:`DELTA`),

i.e. eta = delta/d for k <= 2 and the step delta_N = delta N^(-(k-2)/2) of BAGJ in their
units (eta = delta_N / N) for k >= 3. Samples come in batches of B = dtau / eta with the
step dt = dtau / eps, so each step moves the effective time tau = eps t by dtau; a batch
of B samples at step dt is B successive samples at step eta up to O(dtau^2) (large
batches up to d^(k/2) do not change the sample complexity, Arnaboldi et al. 2024).

On the sphere the population flow of the overlap is the ODE

    dm/dtau = C_k m^(k-1) (1 - m^2),     C_k = k k! |sigma_k|,

so its escape time from m0 to 1/2 is T(m0) = int_m0^(1/2) dm / (C_k m^(k-1) (1 - m^2))
(:func:`escape_time`): about 0.55/C_1 for k = 1, ln(1/(2 m0))/C_2 for k = 2 and
m0^(2-k) / ((k - 2) C_k) for k >= 3. With m0 ~ d^(-1/2) the samples n = T/eta grow like
d, d log d and d^(k-1): the law of BAGJ. We measure n per seed (the first sample count at
which |u . a| / |a| >= 1/2, :func:`meanfield.analysis.overlaps.neuron_overlaps`), fit
log n against log d with bootstrap intervals over seeds (:func:`fit_exponent`), and
compare n with T(|m0|)/eta seed by seed and the fitted exponent with that of the ODE's
median T(median |m0|)/eta over the same grid (:func:`predicted_median`: the law with its
finite-d correction, as m0 is not small against 1/2 at small d). The exact population
flow (``GaussianPopulation``) from m0 = d^(-1/2) gives the escape time against d
(:func:`population_escape`).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import integrate, stats
from scipy.special import factorial

from ..analysis.overlaps import WEAK_RECOVERY, neuron_overlaps
from ..core.activations import get_activation
from ..dynamics import integrators
from ..dynamics.trajectory import LinearSchedule, simulate, simulate_many
from ..model.network import Network
from ..model.targets import IndexTarget, hermite_e
from ..objectives.teacher_student import GaussianPopulation, Online

#: the student's activation for information exponent k: sigma_k != 0
STUDENT = {1: "erf", 2: "relu", 3: "erf", 4: "relu"}
DELTA = 0.05        # learning-rate constant delta
EPSILON = 1e-3      # |c|, frozen: the correlation-loss regime
DTAU = 0.05         # effective time step eps dt
HORIZON = 3.0       # SGD runs to HORIZON x T(median |m0|)
RECORDS = 400       # records along each SGD run


def hermite_coefficient(activation: str, k: int) -> float:
    """sigma_k = E[sigma(z) He_k(z)] / k!, z ~ N(0, 1), by adaptive quadrature on each
    half line (exact to ~1e-10; relu's kink at 0 is an end point).

    Examples:

        >>> round(hermite_coefficient("relu", 2), 6)      # phi(0) / 2!
        0.199471
    """
    sigma = get_activation(activation)

    def integrand(z: float) -> float:
        return float(sigma(np.array([z]))[0] * hermite_e(k, np.array([z]))[0]
                     * math.exp(-z * z / 2) / math.sqrt(2 * math.pi))

    total = sum(integrate.quad(integrand, lo, hi, epsabs=1e-13, limit=200)[0]
                for lo, hi in ((-np.inf, 0.0), (0.0, np.inf)))
    return float(total / factorial(k))


def rate(k: int) -> float:
    """C_k = k k! |sigma_k| of :data:`STUDENT`'s activation (the module's ODE)."""
    return float(k * factorial(k) * abs(hermite_coefficient(STUDENT[k], k)))


def escape_time(k: int, m0: float, target: float = WEAK_RECOVERY) -> float:
    """T(m0) = int_m0^target dm / (C_k m^(k-1) (1 - m^2)): the spherical population
    flow's time from overlap m0 to ``target`` (0 when m0 >= target).

    Examples:

        >>> round(escape_time(2, 0.05) * rate(2), 4)     # ln(10) + ln(1 - 0.05^2)/2 - ln(3/4)/2
        2.4452
    """
    m0 = abs(float(m0))
    if m0 >= target:
        return 0.0
    value, _ = integrate.quad(lambda m: 1.0 / (m ** (k - 1) * (1 - m * m)), m0, target,
                              epsabs=0.0, epsrel=1e-10, limit=200)
    return float(value / rate(k))


def median_start(d: int) -> float:
    """The median of |m0| = |u . a0| for a0 uniform on the sphere of R^d: m0^2 ~
    Beta(1/2, (d - 1)/2), so it is the square root of that law's median (~0.674 d^-1/2).

    Examples:

        >>> round(median_start(2), 6)       # |cos| of a uniform angle: cos(pi/4)
        0.707107
    """
    return float(math.sqrt(stats.beta.median(0.5, (d - 1) / 2)))


def predicted_median(k: int, d: int, delta: float = DELTA) -> float:
    """The median over random starts of the ODE's samples to weak recovery,
    T(|m0|)/eta = T(median_start(d))/eta (T decreases with |m0|, so medians map)."""
    return escape_time(k, median_start(d)) / learning_rate(k, d, delta)


def learning_rate(k: int, d: int, delta: float = DELTA) -> float:
    """eta = delta d^(-max(1, k/2)), the per-sample step on a."""
    return float(delta * d ** -max(1.0, k / 2))


def student(k: int, d: int, target: IndexTarget, seed: Any) -> Network:
    """One neuron, a uniform on the unit sphere, c = eps sign(sigma_k m0^k)."""
    a = Network.init(1, d, sphere=True, seed=seed).a
    m0 = float(target.overlaps(a)[0, 0])
    sign = np.sign(hermite_coefficient(STUDENT[k], k) * m0 ** k) or 1.0
    return Network(np.array([[EPSILON * sign]]), a, activation=STUDENT[k])


def crossing(overlap: np.ndarray, counts: np.ndarray, level: float = WEAK_RECOVERY) -> float:
    """The count (samples, or time) at which ``overlap`` first reaches ``level``, linear
    between the two records around it; inf if it never does.

    Examples:

        >>> crossing(np.array([0.1, 0.3, 0.7]), np.array([0.0, 10.0, 20.0]))
        15.0
    """
    above = np.flatnonzero(overlap >= level)
    if not above.size:
        return math.inf
    i = int(above[0])
    if i == 0:
        return float(counts[0])
    lo, hi = overlap[i - 1], overlap[i]
    return float(counts[i - 1] + (counts[i] - counts[i - 1]) * (level - lo) / (hi - lo))


def sgd_cell(k: int, d: int, seeds: list[int], delta: float = DELTA,
             backend: str = "numpy") -> dict:
    """Online SGD on He_k in d dimensions, one member per seed (one target for all).
    Returns the batch, step, horizon, per seed m0 and the samples to weak recovery
    (inf: not within the horizon), the prediction T(|m0|)/eta and the overlap curves."""
    target = IndexTarget.random(d, {k: 1.0}, seed=[k, d])
    eta = learning_rate(k, d, delta)
    batch = max(1, round(DTAU / eta))
    dt = batch * eta / EPSILON                 # eps dt = dtau up to the rounding of B
    typical = escape_time(k, median_start(d))
    t_end = dt * math.ceil(HORIZON * max(typical, 1.0) / (EPSILON * dt))
    nets = [student(k, d, target, seed=[s, k, d]) for s in seeds]
    objectives = [Online(target, batch=batch, seed=s, backend=backend) for s in seeds]
    trajs = simulate_many(nets, objectives, integrators.sgd(dt, batch), t_end,
                          record=LinearSchedule(RECORDS), seeds=seeds, frozen=("c",))
    m0 = np.array([float(target.overlaps(net.a)[0, 0]) for net in nets])
    curves, samples = [], []
    for traj in trajs:
        q = np.array([neuron_overlaps(w[:, 1:], target.U)[1][0] for w in traj.snapshots])
        curves.append(q)
        samples.append(crossing(q, np.asarray(traj.steps, dtype=float) * batch))
    return {"k": k, "d": d, "seeds": list(seeds), "eta": eta, "batch": batch, "dt": dt,
            "t_end": t_end, "activation": STUDENT[k], "m0": m0.tolist(),
            "samples": samples,
            "predicted": [escape_time(k, m) / eta for m in m0],
            "samples_axis": (np.asarray(trajs[0].steps, dtype=float) * batch).tolist(),
            "overlap": [q.tolist() for q in curves]}


def population_escape(k: int, d: int, dtau: float = 0.01, backend: str = "numpy") -> dict:
    """The exact population gradient flow (``GaussianPopulation``, Euler at eps dt =
    ``dtau``) of the same student from overlap m0 = d^(-1/2) exactly: the time tau at
    which the overlap reaches 1/2, beside the spherical ODE's T(m0)."""
    target = IndexTarget.random(d, {k: 1.0}, seed=[k, d])
    m0 = d ** -0.5
    u = target.U[:, 0]
    other = np.random.default_rng([k, d, 1]).standard_normal(d)
    other -= (other @ u) * u
    a = m0 * u + math.sqrt(1 - m0 * m0) * other / np.linalg.norm(other)
    sign = np.sign(hermite_coefficient(STUDENT[k], k)) or 1.0
    net = Network(np.array([[EPSILON * sign]]), a[None, :], activation=STUDENT[k])
    predicted = escape_time(k, m0)
    dt = dtau / EPSILON
    t_end = dt * math.ceil(1.5 * predicted / dtau + 10)
    traj = simulate(net, GaussianPopulation(target, backend=backend),
                    integrators.euler(dt), t_end, record=LinearSchedule(2000),
                    frozen=("c",))
    q = np.array([neuron_overlaps(w[:, 1:], target.U)[1][0] for w in traj.snapshots])
    return {"k": k, "d": d, "m0": m0, "escape_time": crossing(q, traj.times * EPSILON),
            "predicted": predicted}


def _slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return float(slope), float(intercept)


def fit_exponent(ds, samples, n_boot: int = 2000, level: float = 0.95,
                 seed: Any = 0) -> dict:
    """Fit log median(n) = p log d + c over the dimensions ``ds`` (``samples``: one
    array of per-seed counts per d; inf = not reached, counted above every finite one);
    the interval of p is the ``level`` percentile interval of the fits to medians of
    seeds resampled with replacement at each d (a resample with a median of 0 or inf at a
    kept d is redrawn; 0: starts already at weak recovery). Dimensions whose median is 0
    or inf are left out (listed in ``left_out``).

    Examples:

        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> ds = [16, 32, 64, 128]
        >>> samples = [5 * d ** 1.5 * rng.lognormal(0, 0.2, 24) for d in ds]
        >>> fit = fit_exponent(ds, samples, n_boot=500)
        >>> bool(fit["low"] < 1.5 < fit["high"]), round(fit["exponent"], 1)
        (True, 1.5)
    """
    rng = np.random.default_rng(seed)
    ds = np.asarray(ds, dtype=float)
    arrays = [np.asarray(s, dtype=float) for s in samples]
    medians = np.array([np.median(s) for s in arrays])
    keep = np.isfinite(medians) & (medians > 0)
    if keep.sum() < 2:
        raise ValueError("samples: fewer than two dimensions with a finite positive median")
    slope, intercept = _slope(ds[keep], medians[keep])
    boots: list[float] = []
    for _ in range(100 * int(n_boot)):
        if len(boots) == int(n_boot):
            break
        resampled = np.array([np.median(rng.choice(s, size=len(s))) for s in arrays])[keep]
        if np.all(np.isfinite(resampled) & (resampled > 0)):
            boots.append(_slope(ds[keep], resampled)[0])
    tail = (1 - level) / 2
    low, high = np.quantile(boots, [tail, 1 - tail]) if boots else (math.nan, math.nan)
    return {"exponent": slope, "intercept": intercept, "low": float(low),
            "high": float(high), "medians": medians.tolist(),
            "left_out": ds[~keep].tolist()}


def law(k: int, d) -> np.ndarray:
    """The BAGJ sample complexity up to constants: d, d log d, d^(k-1) for k = 1, 2, >= 3."""
    d = np.asarray(d, dtype=float)
    return d if k == 1 else d * np.log(d) if k == 2 else d ** (k - 1)


def law_exponent(k: int, ds) -> float:
    """The slope of log law(k, d) against log d fitted over the grid ``ds`` (d log d has
    no single exponent: 1 + 1/ln d locally)."""
    return _slope(np.asarray(ds, dtype=float), law(k, ds))[0]
