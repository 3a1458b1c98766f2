"""Distances between 2-D ReLU networks through their measures on the circle (theory §11).

A network without bias in d = 2 with one output, f = sum_j q_j c_j relu(a_j . x), depends
on its particles only through the signed measure on the circle

    nu = sum_j nu_j delta_{theta_j},   nu_j = q_j c_j r_j,   a_j = r_j (cos theta_j, sin theta_j)

(relu is 1-homogeneous), so two networks are compared through their measures, which are
sampled at the m^-1/2 rate whatever the dimension of the particles:

* :func:`circle_wasserstein`: W_p on the circle (POT) between the positive parts of two
  measures and between their negative parts, each normalised to unit mass, with the
  masses beside them. Distances are in turns (circumference 1, POT's convention): a
  rotation by delta radians of a Dirac mass is at distance |delta|/(2 pi).
* :func:`function_distance`: ||f_a - f_b|| in L^2(inputs), exact through the kernel,
  ||f_a - f_b||^2 = s sum_k kappa_hat_k |S_k(nu_a) - S_k(nu_b)|^2 (theory §11).

Each has a ``*_with_baseline`` form that, as in :mod:`meanfield.analysis.distances`, reports the
distance of an m-atom measure to a reference measure beside the same-distribution
baseline: the distance between two disjoint random subsets of the reference's atoms, of
sizes m and n_ref - m, each reweighted as a network of its own size (weights times
n_ref/n). The atoms must be exchangeable draws (the particles of a non-centred network).
Arrays in, numbers out.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import ot

from ..backends.spectral import TOLERANCE, energy
from ..kernels.circle import polar

_TWO_PI = 2.0 * np.pi
#: stopping tolerance of POT's binary search for p > 1 (on the cut, in turns)
CIRCLE_EPS = 1e-12
SCALES = {"gaussian": 1.0, "sphere": 0.5}


def circle_measure(w, q):
    """(angles in [-pi, pi], weights nu_j = q_j c_j r_j) of packed particles
    w = [c | a_1 a_2] (m, 3) with weights q (m,), e.g. ``Network.signed_particles()``."""
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 2 or w.shape[1] != 3:
        raise ValueError(f"expected 2-D relu particles [c | a1 a2] of shape (m, 3), got "
                         f"{w.shape}")
    theta, r = polar(w[:, 1:])
    return theta, np.asarray(q, dtype=np.float64) * w[:, 0] * r


def jordan(theta, nu):
    """The positive and negative parts ((angles, masses), (angles, masses)) of
    nu = sum_j nu_j delta_{theta_j}, after merging atoms at the same angle (so that a
    neuron and its sign-flipped copy cancel, as in a symmetrised initialisation)."""
    theta = np.mod(np.asarray(theta, dtype=np.float64), _TWO_PI)
    nu = np.asarray(nu, dtype=np.float64)
    if theta.shape != nu.shape or theta.ndim != 1:
        raise ValueError(f"angles and weights must be 1-D of one length, got {theta.shape} "
                         f"and {nu.shape}")
    angles, inverse = np.unique(theta, return_inverse=True)
    merged = np.bincount(inverse, weights=nu, minlength=len(angles))
    pos, neg = merged > 0, merged < 0
    return (angles[pos], merged[pos]), (angles[neg], -merged[neg])


def wasserstein_on_circle(theta_a, mass_a, theta_b, mass_b, p: int = 1) -> float:
    """W_p in turns between two positive measures on the circle, each normalised to unit
    mass (POT: the level-median formula for p = 1, binary search over the cut for p > 1);
    NaN when either is empty."""
    if len(theta_a) == 0 or len(theta_b) == 0:
        return float("nan")
    u, v = np.mod(theta_a, _TWO_PI) / _TWO_PI, np.mod(theta_b, _TWO_PI) / _TWO_PI
    wu, wv = mass_a / np.sum(mass_a), mass_b / np.sum(mass_b)
    if p == 1:
        # POT 0.9.7's level-median formula drops the arc from 0 to the first atom (where
        # F_u - F_v = 0): a massless atom at 0 makes that arc empty
        u, wu = np.concatenate([[0.0], u]), np.concatenate([[0.0], wu])
        return float(ot.lp.solver_circle.wasserstein1_circle(u, v, wu, wv)[0])
    cost = ot.binary_search_circle(u, v, wu, wv, p=p, eps=CIRCLE_EPS)
    return float(max(float(np.ravel(cost)[0]), 0.0) ** (1.0 / p))


def circle_wasserstein(theta_a, nu_a, theta_b, nu_b, p: int = 1) -> dict:
    """W_p between the normalised positive parts and between the normalised negative parts
    of two signed measures on the circle (theory §11), with their masses:
    {"positive", "negative" (turns), "mass_positive", "mass_negative" ((a, b) pairs),
    "mass_difference_positive", "mass_difference_negative" (|a - b|)}."""
    (pa, na), (pb, nb) = jordan(theta_a, nu_a), jordan(theta_b, nu_b)
    out: dict[str, Any] = {}
    for sign, part_a, part_b in (("positive", pa, pb), ("negative", na, nb)):
        out[sign] = wasserstein_on_circle(part_a[0], part_a[1], part_b[0], part_b[1], p=p)
        masses = (float(np.sum(part_a[1])), float(np.sum(part_b[1])))
        out["mass_" + sign] = masses
        out["mass_difference_" + sign] = abs(masses[0] - masses[1])
    return out


def function_distance(theta_a, nu_a, theta_b, nu_b, inputs: str = "gaussian",
                      tol: float = TOLERANCE) -> float:
    """||f_a - f_b||_{L^2(inputs)} for the 2-D relu networks of two measures on the circle,
    sqrt(s sum_k kappa_hat_k |S_k(nu_a) - S_k(nu_b)|^2) with s = 1 (x ~ N(0, I_2)) or 1/2
    (x uniform on the circle) (theory §11). The squared distance is within
    (tol/2) s (sum |nu_a| + sum |nu_b|)^2 of its exact value."""
    if inputs not in SCALES:
        raise ValueError(f"inputs must be one of {', '.join(SCALES)}, got {inputs!r}")
    theta = np.concatenate([np.ravel(theta_a), np.ravel(theta_b)])
    nu = np.concatenate([np.asarray(nu_a, dtype=np.float64),
                         -np.asarray(nu_b, dtype=np.float64)])
    return float(np.sqrt(max(energy(theta, nu, SCALES[inputs], tol), 0.0)))


def _baseline_subsets(n_ref: int, m: int, seed):
    """Two disjoint random index sets of the reference, of sizes m and n_ref - m."""
    if not 1 <= m < n_ref:
        raise ValueError(f"a baseline needs 1 <= m < n_ref, got m={m}, n_ref={n_ref}")
    perm = np.random.default_rng(seed).permutation(n_ref)
    return perm[:m], perm[m:]


def _with_baseline(distance, theta, nu, theta_ref, nu_ref, seed, **kwargs) -> dict:
    theta_ref, nu_ref = np.asarray(theta_ref), np.asarray(nu_ref, dtype=np.float64)
    n_ref = len(theta_ref)
    first, rest = _baseline_subsets(n_ref, len(theta), seed)
    baseline = distance(theta_ref[first], nu_ref[first] * (n_ref / len(first)),
                        theta_ref[rest], nu_ref[rest] * (n_ref / len(rest)), **kwargs)
    return {"distance": distance(theta, nu, theta_ref, nu_ref, **kwargs),
            "baseline": baseline, "baseline_sizes": [len(first), len(rest)]}


def circle_wasserstein_with_baseline(theta, nu, theta_ref, nu_ref, p: int = 1,
                                     seed=0) -> dict:
    """:func:`circle_wasserstein` of (theta, nu) to the reference, and the same between two
    disjoint random subsets of the reference of sizes m and n_ref - m (module docstring):
    {"distance": dict, "baseline": dict, "baseline_sizes"}."""
    return _with_baseline(circle_wasserstein, theta, nu, theta_ref, nu_ref, seed, p=p)


def function_distance_with_baseline(theta, nu, theta_ref, nu_ref, inputs="gaussian",
                                    seed=0, tol: float = TOLERANCE) -> dict:
    """:func:`function_distance` of (theta, nu) to the reference beside its same-distribution
    baseline (module docstring): {"distance", "baseline", "baseline_sizes"}."""
    return _with_baseline(function_distance, theta, nu, theta_ref, nu_ref, seed,
                          inputs=inputs, tol=tol)
