"""Overlaps of a student's neurons with the span of an index target's directions (theory §13).

For an index target y = g(U^T x) with orthonormal directions u_1..u_r (the columns of U,
:class:`meanfield.model.targets.IndexTarget`) and a neuron w_i = (c_i, a_i, b_i):

* the signed overlaps q_ij = u_j . a_i / |a_i| (the cosines of a_i with each direction);
* the overlap with the span, q_i = |P_U a_i| / |a_i| = (sum_j q_ij^2)^(1/2) in [0, 1]
  (1: a_i lies in span(U); for a random a_i in d dimensions q_i ~ (r/d)^(1/2));
* as a measure over the neurons: the mean of q_i weighted by |c_i| (a neuron's weight in
  f = (alpha/m) sum_i c_i sigma(a_i . x + b_i); plain mean where every c_i is 0), the
  fraction of neurons with q_i >= a threshold (1/2: weak recovery), and the maximum.

Neurons with a_i = 0 have no direction; their overlaps are 0. Arrays in, numbers out:
:func:`overlaps_along` maps the measure over the snapshots (n_records, m, p) of a run.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ..core.layout import Layout

__all__ = ["WEAK_RECOVERY", "neuron_overlaps", "overlap_measure", "overlaps_along"]

#: the overlap that defines weak recovery (Ben Arous, Gheissari & Jagannath 2021)
WEAK_RECOVERY = 0.5


def _directions(U: ArrayLike, d: int) -> np.ndarray:
    U = np.asarray(U, dtype=np.float64)
    U = U[:, None] if U.ndim == 1 else U
    if U.ndim != 2 or U.shape[0] != d:
        raise ValueError(f"U must have shape (d, r) with d = {d} (the neurons' input "
                         f"dimension), got {U.shape}")
    return U


def neuron_overlaps(a: ArrayLike, U: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The signed overlaps q_ij = u_j . a_i / |a_i| (shape (m, r)) and the overlaps with
    the span q_i = |P_U a_i| / |a_i| (shape (m,)) of the rows a_i of ``a`` (m, d), for U
    with orthonormal columns (d, r); 0 for a_i = 0 (theory §13).

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> a = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 2.0]])
        >>> signed, span = mf.neuron_overlaps(a, np.eye(3)[:, :1])   # u_1 = e_1
        >>> signed.ravel().tolist(), span.tolist()
        ([0.6, 0.0], [0.6, 0.0])
    """
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"a must have shape (m, d), got {a.shape}")
    U = _directions(U, a.shape[1])
    norms = np.linalg.norm(a, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    signed = (a @ U) / safe[:, None]
    signed[norms == 0] = 0.0
    return signed, np.linalg.norm(signed, axis=1)


def overlap_measure(c: ArrayLike, a: ArrayLike, U: ArrayLike,
                    threshold: float = WEAK_RECOVERY) -> dict[str, float]:
    """The overlaps with span(U) as a measure over the neurons (theory §13): ``mean``
    (sum_i |c_i| q_i / sum_i |c_i|, the plain mean where every c_i is 0), ``fraction``
    (of the neurons with q_i >= ``threshold``) and ``max`` (max_i q_i); c is (m,) or
    (m, k) (|c_i| its row norm), a is (m, d).

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> a = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 2.0]])      # q = 0.6 and 0
        >>> mf.overlap_measure([1.0, 0.0], a, np.eye(3)[:, :1])   # only neuron 1 weighs
        {'mean': 0.6, 'fraction': 0.5, 'max': 0.6}
    """
    threshold = float(threshold)
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    _, q = neuron_overlaps(a, U)
    c = np.asarray(c, dtype=np.float64)
    weights = np.abs(c) if c.ndim == 1 else np.linalg.norm(c.reshape(len(c), -1), axis=1)
    if weights.shape != q.shape:
        raise ValueError(f"c must have one row per neuron ({len(q)}), got shape {c.shape}")
    total = float(weights.sum())
    mean = float(weights @ q / total) if total > 0 else float(q.mean())
    return {"mean": mean, "fraction": float(np.mean(q >= threshold)), "max": float(q.max())}


def overlaps_along(snapshots: ArrayLike, layout: Layout, U: ArrayLike,
                   threshold: float = WEAK_RECOVERY) -> dict[str, np.ndarray]:
    """The overlaps along recorded ``snapshots`` (n_records, m, p) of networks with
    ``layout``: ``signed`` (n_records, m, r) and ``span`` (n_records, m) per neuron
    (:func:`neuron_overlaps`), and ``mean``, ``fraction``, ``max`` (n_records,) of
    :func:`overlap_measure`.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> net = mf.Network.init(m=4, d=3, seed=0)
        >>> out = mf.overlaps_along([net.w, net.w], net.layout, np.eye(3)[:, :2])
        >>> out["signed"].shape, out["span"].shape, out["max"].shape
        ((2, 4, 2), (2, 4), (2,))
        >>> bool(np.all(out["max"] <= 1.0))
        True
    """
    W = np.asarray(snapshots, dtype=np.float64)
    if W.ndim != 3 or W.shape[2] != layout.p:
        raise ValueError(f"snapshots must have shape (n_records, m, {layout.p}), "
                         f"got {W.shape}")
    U = _directions(U, layout.d)
    out: dict[str, list] = {key: [] for key in ("signed", "span", "mean", "fraction", "max")}
    for w in W:
        signed, span = neuron_overlaps(w[:, layout.a], U)
        out["signed"].append(signed)
        out["span"].append(span)
        for key, value in overlap_measure(w[:, layout.c], w[:, layout.a], U,
                                          threshold).items():
            out[key].append(value)
    return {key: np.asarray(value) for key, value in out.items()}
