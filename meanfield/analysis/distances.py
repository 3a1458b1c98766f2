"""Distances between particle clouds (POT) and coupled-particle diagnostics.

A network is the empirical measure mu_m = (1/m) sum_i delta_{w_i} of its packed particles
(theory §1), so two networks are compared as point clouds in R^p with the squared
Euclidean ground cost |w - w'|^2. Every distance here is reported on the W2 scale, i.e.
the square root of an optimal-transport cost (theory §11), and every
``*_with_baseline`` function returns it beside the same-distribution baseline:

    baseline = D(S_1, S_2),  S_1, S_2 two disjoint random subsets of the *reference*
               cloud, of the sizes of the two clouds being compared (n_a and n_b).

S_1 and S_2 are two independent samples of (approximately) the reference measure, so the
baseline is the value D takes when the clouds have the same law; empirical W2 between
samples decays only like n^{-1/p} in dimension p, so a raw W2 is meaningless without it.
Disjointness needs n_a + n_b <= n_ref (else the subsets are drawn with the larger size
halved, reported in ``baseline_sizes``).

Solvers and their cost (measured on this 2-core machine, float64):

* :func:`w2` exact network simplex ``ot.emd2``; O(n^3) worst case, measured 0.34 s for
  1000 x 1000 and 1.5 s for 2000 x 2000 points in R^12 (the cost matrix is n^2 doubles:
  200 MB at 5000, the practical limit).
* :func:`sliced_w2` ``ot.sliced_wasserstein_distance`` with ``n_projections`` random
  directions; O(L n log n); a lower bound of W2 (each 1-D projection is 1-Lipschitz).
* :func:`sinkhorn_w2` the debiased Sinkhorn divergence
  S_eps(a, b) = OT_eps(a, b) - (OT_eps(a, a) + OT_eps(b, b))/2 with POT's log-domain
  (stabilised) solver, reported as sqrt(max(S_eps, 0)). The regularisation is relative,
  eps = ``reg`` x mean ground cost, since Sinkhorn needs ~ (cost scale)/eps iterations.
  Measured here (n = 1000 per cloud, p = 12, loaded 2-core machine): one log-domain
  iteration costs ~10 ms per n x n problem, and 5000 iterations (reg = 0.05 or 0.01,
  both stabilised solvers) take about a minute, against 0.34 s for the exact ``emd2``
  (1.5 s at n = 2000). On the same clouds W2 = 2.66, the divergence gave 2.83 at
  reg = 0.05 and 2.67 at reg = 0.01. So on this CPU the exact solver is both faster and
  exact up to ~5000 points; the divergence is for larger clouds (memory n^2 for emd2),
  with reg = 0.1 and a 1000-iteration cap as the default (bias of a few % upwards).
"""
from __future__ import annotations

import numpy as np
import ot

__all__ = ["w2", "sliced_w2", "sinkhorn_w2", "baseline", "distance_with_baseline",
           "coupled_deviation", "risk_gap", "loglog_slope"]

EMD_MAX_ITER = 10_000_000


def _cloud(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"a cloud must be a non-empty (n, p) array, got shape {x.shape}")
    return x


def _pair(x, y):
    x, y = _cloud(x), _cloud(y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"clouds live in different dimensions: {x.shape[1]} vs {y.shape[1]}")
    return x, y


def _uniform(n: int) -> np.ndarray:
    return np.full(n, 1.0 / n)


def w2(x, y) -> float:
    """Exact W2(mu_x, mu_y) between uniform empirical measures (POT ``emd2``).

    W2^2 = min_{pi in Pi(1/n, 1/m)} sum_ij pi_ij |x_i - y_j|^2, returned as its square
    root. Practical up to about 5000 points per cloud.

    Examples:

        >>> import meanfield as mf
        >>> mf.metrics.w2([[0.0], [1.0]], [[1.0], [2.0]])  # a shift by 1 moves every point by 1
        1.0
    """
    x, y = _pair(x, y)
    cost = ot.dist(x, y, metric="sqeuclidean")
    value = ot.emd2(_uniform(len(x)), _uniform(len(y)), cost, numItermax=EMD_MAX_ITER)
    return float(np.sqrt(max(float(value), 0.0)))


def sliced_w2(x, y, n_projections: int = 200, seed=0) -> float:
    """Sliced W2: sqrt(E_theta W2^2(theta#mu_x, theta#mu_y)) over uniform directions
    theta on the sphere (POT ``sliced_wasserstein_distance``, ``n_projections``
    Monte Carlo directions). Each 1-D W2 uses the sorted matching; SW2 <= W2.

    Examples:

        >>> import meanfield as mf
        >>> round(mf.metrics.sliced_w2([[0.0], [1.0]], [[1.0], [2.0]]), 6)
        1.0
    """
    x, y = _pair(x, y)
    value = ot.sliced_wasserstein_distance(x, y, n_projections=int(n_projections), p=2,
                                           seed=np.random.RandomState(_seed32(seed)))
    return float(value)


def sinkhorn_w2(x, y, reg: float = 0.1, max_iter: int = 1000, tol: float = 1e-6) -> float:
    """Debiased Sinkhorn divergence on the W2 scale, sqrt(max(S_eps, 0)) with
    S_eps(x, y) = C_eps(x, y) - (C_eps(x, x) + C_eps(y, y))/2 (POT
    ``empirical_sinkhorn_divergence``, log-domain solver), where C_eps is the transport
    cost <pi_eps, |.|^2> of the entropic plan and eps = ``reg`` x mean |x_i - y_j|^2
    (relative regularisation). S_eps -> W2^2 as reg -> 0; smaller reg needs more than
    ``max_iter`` iterations (see the module doc for measured costs).

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> x = np.random.default_rng(0).standard_normal((50, 2))
        >>> round(mf.metrics.sinkhorn_w2(x, x + [3.0, 0.0], reg=0.01), 1)  # W2 of a shift by 3
        3.0
    """
    import warnings

    x, y = _pair(x, y)
    scale = float(np.mean(ot.dist(x, y, metric="sqeuclidean")))
    eps = max(float(reg) * scale, 1e-300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # iteration cap: documented trade-off
        value = ot.bregman.empirical_sinkhorn_divergence(
            x, y, eps, metric="sqeuclidean", numIterMax=int(max_iter), stopThr=tol,
            method="sinkhorn_log")
    return float(np.sqrt(max(float(value), 0.0)))


DISTANCES = {"w2": w2, "sliced": sliced_w2, "sinkhorn": sinkhorn_w2}


def _seed32(seed) -> int:
    return int(np.random.default_rng(seed).integers(2**31 - 1))


def baseline(reference, n_a: int, n_b: int, distance="w2", seed=0, **kwargs) -> float:
    """The same-distribution baseline D(S_1, S_2): S_1 and S_2 are disjoint random
    subsets of ``reference`` of sizes n_a and n_b (two independent samples of the
    reference measure, of the sizes being compared). If n_a + n_b exceeds the reference
    size, both are scaled down proportionally to fit.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> ref = np.random.default_rng(0).standard_normal((200, 2))
        >>> 0.0 < mf.metrics.baseline(ref, 50, 50) < 1.0  # two samples of one law are close
        True
    """
    ref = _cloud(reference)
    n_a, n_b = _fit_sizes(len(ref), int(n_a), int(n_b))
    perm = np.random.default_rng(seed).permutation(len(ref))
    return DISTANCES[distance](ref[perm[:n_a]], ref[perm[n_a:n_a + n_b]], **kwargs)


def _fit_sizes(n_ref: int, n_a: int, n_b: int) -> tuple[int, int]:
    if n_ref < 2:
        raise ValueError("a baseline needs a reference cloud of at least 2 points")
    if n_a + n_b <= n_ref:
        return n_a, n_b
    scale = n_ref / (n_a + n_b)
    n_a = max(1, int(n_a * scale))
    return n_a, max(1, min(n_ref - n_a, int(n_b * scale)))


def distance_with_baseline(x, reference, distance="w2", seed=0, **kwargs) -> dict:
    """D(mu_x, mu_ref) on the W2 scale beside the same-distribution baseline
    (:func:`baseline` with sizes len(x), len(reference) - len(x) when they fit, i.e. the
    comparison 'm points vs the rest of the reference'). ``distance`` is "w2", "sliced"
    or "sinkhorn"; returns {"distance", "baseline", "baseline_sizes"}.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> ref = np.random.default_rng(0).standard_normal((200, 2))
        >>> out = mf.metrics.distance_with_baseline(ref[:50] + [1.0, 0.0], ref)
        >>> out["baseline_sizes"], out["distance"] > out["baseline"]  # the shift is detected
        ([50, 150], True)
    """
    x, ref = _pair(x, reference)
    if distance not in DISTANCES:
        raise ValueError(f"unknown distance {distance!r}; use one of {', '.join(DISTANCES)}")
    n_b = max(1, min(len(ref), len(ref) - len(x))) if len(x) < len(ref) else len(ref)
    sizes = _fit_sizes(len(ref), len(x), n_b)
    return {"distance": DISTANCES[distance](x, ref, **kwargs),
            "baseline": baseline(ref, *sizes, distance=distance, seed=seed, **kwargs),
            "baseline_sizes": list(sizes)}


def coupled_deviation(w_small, w_reference) -> float:
    """sqrt((1/m) sum_i |w_i^m - w_i^M|^2): the distance between particle i of the
    m-system and particle i of the M-system it was started from (synchronous coupling,
    the first m rows of the reference). An upper bound of W2(mu_m, first-m marginal).

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> round(mf.metrics.coupled_deviation(np.zeros((2, 3)), np.ones((4, 3))), 6)  # sqrt(3)
        1.732051
    """
    small = _cloud(w_small)
    ref = _cloud(w_reference)[:len(small)]
    if ref.shape != small.shape:
        raise ValueError(f"the reference has fewer than m = {len(small)} particles or "
                         f"another dimension: {ref.shape}")
    return float(np.sqrt(np.mean(np.sum((small - ref) ** 2, axis=1))))


def risk_gap(risk_small, risk_reference):
    """|F(mu_m) - F(mu_M)| (elementwise for arrays of risks over time).

    Examples:

        >>> import meanfield as mf
        >>> mf.metrics.risk_gap([0.5, 0.25], [0.25, 0.25])
        array([0.25, 0.  ])
    """
    return np.abs(np.asarray(risk_small, dtype=float) - np.asarray(risk_reference, dtype=float))


def loglog_slope(x, y) -> float:
    """Least-squares slope of log y against log x over the finite positive points
    (NaN with fewer than two): the exponent of a power law y ~ x^s.

    Examples:

        >>> import meanfield as mf
        >>> round(mf.metrics.loglog_slope([1, 2, 4], [1, 4, 16]), 6)  # y = x^2
        2.0
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])
