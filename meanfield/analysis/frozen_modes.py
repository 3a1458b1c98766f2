"""Zero modes of the Hessian restricted to free parameters (theory §12, frozen groups).

When parameter groups are frozen, the zero modes implied by the symmetries of f are the
symmetry directions that move free parameters only. Two counts, as in
:func:`meanfield.analysis.critical.expected_zero_modes`:

* at any critical point, the exact symmetries: relu rescalings (-c_i, a_i, b_i), moves
  of output weight between neurons with one feature, every parameter of a dead neuron,
  and, with c frozen, the input weights of neurons whose output weight is 0. Their span
  T meets the free subspace F in dim(T cap F) = rank T - rank(T restricted to the frozen
  coordinates) directions (the kernel of the projection of T onto frozen coordinates);
* at a global minimum (f stationary in function space), every free direction that
  leaves f unchanged to first order: the free parameters minus the rank of the
  derivative of the map parameters -> f, restricted to free columns. Per group of
  neurons with one feature sigma(u.x) the image is spanned, for a positively
  1-homogeneous activation, by e_o (x) (x sigma'(u.x)) (Euler: sigma(u.x) is among them)
  with dc_i -> |(a_i, b_i)| e_o (x) u and d(a, b)_i -> c_i (x) (a direction); otherwise by
  e_o sigma(u.x) and e_o (x) x sigma'(u.x) separately.

Linear networks (f depends on M = sum_i c_i (a_i, b_i)^T only) use the GL(m) orbit
(dC = X C, dA = -X^T A) and the kernel of dM.
"""
from __future__ import annotations

import numpy as np


def _rank(M: np.ndarray, tol: float) -> int:
    if M.size == 0:
        return 0
    s = np.linalg.svd(M, compute_uv=False)
    return int(np.sum(s > tol * max(float(s.max(initial=0.0)), 1e-300)))


def _in_free(T: np.ndarray, free: np.ndarray, tol: float) -> int:
    """dim(span(columns of T) cap F) for F the coordinates ``free`` (bool rows)."""
    return _rank(T, tol) - _rank(T[~free], tol)


def frozen_zero_modes(net, free: np.ndarray, at_global_minimum: bool, tol: float,
                      classes, dead: np.ndarray) -> int:
    """Zero modes of H restricted to the free columns ``free`` (p,) of ``net`` (module
    docstring); ``classes(net, live, tol)`` groups live neurons by feature and ``dead``
    marks dead relu neurons, as in :mod:`meanfield.analysis.critical`.

    >>> import numpy as np, meanfield as mf
    >>> from meanfield.analysis.critical import _classes
    >>> net = mf.Network(np.ones(2), [[1.0, 0.0], [2.0, 0.0]])
    >>> frozen_zero_modes(net, np.array([False, True, True]), False, 1e-4, _classes,
    ...                   np.zeros(2, bool))
    1
    """
    lay = net.layout
    k, p = lay.k, lay.p
    e = p - k
    c, a, b = lay.unpack(np.asarray(net.w, dtype=np.float64))
    ab = a if b is None else np.concatenate([a, b[:, None]], axis=1)
    if net.activation.name == "linear":
        return _linear(c, ab, free, at_global_minimum, tol)
    count = int(dead.sum()) * int(free.sum())
    homogeneous = net.activation.homogeneous_degree == 1
    c_scale = max(float(np.abs(c).max(initial=0.0)), 1e-300)
    for group in classes(net, ~dead, tol):
        g = len(group)
        rows = np.tile(free, g)
        norms = np.linalg.norm(ab[group], axis=1)
        if at_global_minimum:
            J = _image(net, c[group], ab[group], norms, homogeneous, k, e)
            count += int(rows.sum()) - _rank(J[:, rows], tol)
            continue
        T = _symmetries(c[group], ab[group], norms, homogeneous, k, e, free, c_scale, tol)
        count += _in_free(T, rows, tol) if T.shape[1] else 0
    return int(count)


def _symmetries(c, ab, norms, homogeneous, k, e, free, c_scale, tol):
    """Exact symmetry directions of one group (columns, over its g (k + e) coordinates)."""
    g, p = len(c), k + e
    cols = []
    scale = np.where(norms > 0, norms, 1.0) if homogeneous else np.ones(g)
    for i in range(g):
        if homogeneous and norms[i] > 0:
            v = np.zeros(g * p)
            v[i * p:i * p + k], v[i * p + k:(i + 1) * p] = -c[i], ab[i]
            cols.append(v)
        if not free[:k].any() and np.abs(c[i]).max() <= tol * c_scale:
            for j in range(e):  # c_i = 0 held fixed: f ignores (a_i, b_i)
                v = np.zeros(g * p)
                v[i * p + k + j] = 1.0
                cols.append(v)
    if np.abs(c).max() > tol * c_scale:
        for o in range(k):
            for j in range(1, g):
                v = np.zeros(g * p)
                v[o], v[j * p + o] = 1.0 / scale[0], -1.0 / scale[j]
                cols.append(v)
    return np.array(cols).T if cols else np.zeros((g * p, 0))


def _image(net, c, ab, norms, homogeneous, k, e):
    """The derivative of (group parameters) -> f in a basis of the group's features."""
    g, p = len(c), k + e
    if homogeneous:
        u = ab[int(np.argmax(norms))] / norms.max()
        J = np.zeros((k * e, g * p))
        for i in range(g):
            for o in range(k):
                J[o * e:(o + 1) * e, i * p + o] = norms[i] * u
            for j in range(e):
                J[np.arange(k) * e + j, i * p + k + j] = c[i]
        return J
    act, origin = net.activation, not np.abs(ab).max() > 0
    c_on = not (origin and act.f(np.zeros(1))[0] == 0)
    a_on = not (origin and act.df(np.zeros(1))[0] == 0)
    J = np.zeros((k + k * e, g * p))
    for i in range(g):
        for o in range(k):
            J[o, i * p + o] = float(c_on)
        for j in range(e):
            J[k + np.arange(k) * e + j, i * p + k + j] = c[i] * float(a_on)
    return J


def _linear(c, ab, free, at_global_minimum, tol):
    """Linear activation: kernel of dM (global) or the GL(m) orbit, within F."""
    m, k = c.shape
    e = ab.shape[1]
    p = k + e
    rows = np.tile(free, m)
    if at_global_minimum:
        J = np.zeros((k * e, m * p))
        for i in range(m):
            for o in range(k):
                J[o * e:(o + 1) * e, i * p + o] = ab[i]
            for j in range(e):
                J[np.arange(k) * e + j, i * p + k + j] = c[i]
        return int(rows.sum()) - _rank(J[:, rows], tol)
    if m * m * m * p > 5e7:
        raise ValueError(f"the symmetry count of a linear network with frozen groups "
                         f"needs m^3 p <= 5e7, got m = {m}, p = {p}")
    T = np.zeros((m * p, m * m))
    for i in range(m):
        for j in range(m):
            col = i * m + j
            T[i * p:i * p + k, col] = c[j]          # dC = E_ij C
            T[j * p + k:(j + 1) * p, col] = -ab[i]  # dA = -E_ji A
    return _in_free(T, rows, tol)
