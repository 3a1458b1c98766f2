"""The automatic backend: each reduction on the backend that is fastest at its size.

"auto" is KeOps when a CUDA device works and Numba otherwise, except where the NumPy
reference is faster (docs/guide/backends.md, docs/performance.md):

* pair reductions (population objectives) go to the compiled backend at every size (on
  the CPU Numba's fused loops beat NumPy's kernel evaluation from m = 16 on: 26 us
  against 72 us per velocity);
* the forward pass and the fused velocity of small float64 networks (d <= 4, at most
  ``LANES_MAX_WORK`` particle x sample products per member) go to Numba's lanes kernels
  (:mod:`meanfield.backends.numba.lanes`: at the demo size, 16 particles x 15 samples, one
  call costs ~9 us against ~23 us for NumPy, and an ensemble of 64 such members ~50 us
  against ~140 us);
* other data reductions (empirical objectives) of fewer than ``DATA_MIN_WORK`` particle
  x sample products per member stay on NumPy (there one Numba call of the per-member
  kernels costs more than NumPy's, ~35 us against ~20 us at the demo size), and so do
  those with 4 < d < ``blas_min_d`` (:mod:`meanfield.backends.tuning`), where NumPy's BLAS
  products beat Numba's scalar loops (m = 50, d = 10, n = 200: 74 us against 260 us).

The choice depends on one member's sizes and dtype, never on the number S of ensemble
members, so an ensemble member and its serial run take the same backend and agree bit
for bit.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import bound_euler_steps, bound_forward_and_grad, cuda_available, get_backend
from . import forward_and_grad_batch as _fg_batch
from . import forward_batch as _forward_batch
from . import pair_reduce_batch as _pair_batch
from .protocol import capabilities
from .tuning import current as _tuning

#: numba_lanes.MAX_D, MAX_K and MAX_WORK (repeated likewise): the sizes the lanes kernels
#: take, up to the per-member work where Numba's per-member kernels overtake them
LANES_MAX_D, LANES_MAX_K, LANES_MAX_WORK = 4, 8, 2048

name = "auto"
#: particle x sample products per member from which data reductions leave NumPy
DATA_MIN_WORK = {"small": 4096, "blas": 32768, "keops": 1 << 17}
#: pairs per member from which KeOps takes a pair reduction
KEOPS_MIN_PAIRS = 1 << 14


def _compiled():
    return get_backend("keops" if cuda_available() else "numba")


_CHOSEN: dict = {}


def data_backend(layout, m: int, n: int, dtype=None):
    """The backend for data reductions of m particles on n samples (one member); with the
    particles' ``dtype``, for the forward pass and the fused velocity (which the lanes
    kernels may take). The choice is remembered per size, so a call costs one dictionary
    lookup."""
    key = (layout.d, layout.k, m, n, dtype, _tuning().blas_min_d)
    backend = _CHOSEN.get(key)
    if backend is None:
        backend = _CHOSEN[key] = _data_backend(layout, m, n, dtype)
    return backend


def _data_backend(layout, m: int, n: int, dtype=None):
    work = m * n
    if dtype == np.float64 and layout.d <= LANES_MAX_D and layout.k <= LANES_MAX_K \
            and work <= LANES_MAX_WORK:
        return get_backend("numba")
    if cuda_available():
        return get_backend("keops" if work >= DATA_MIN_WORK["keops"] else "numpy")
    if layout.d <= 4:
        return get_backend("numba" if work >= DATA_MIN_WORK["small"] else "numpy")
    if layout.d < _tuning().blas_min_d:
        return get_backend("numpy")
    return get_backend("numba" if work >= DATA_MIN_WORK["blas"] else "numpy")


#: pairs per member from which the spectral method takes the pair reductions it applies
#: to (2-D ReLU without bias), by the compiled backend it replaces (measured crossover
#: against Numba; a guess against KeOps)
SPECTRAL_MIN_PAIRS = {"numba": 40_000_000, "keops": 1_000_000_000}


def pair_backend(m_t: int, m_s: int, kernel=None, layout=None):
    """The backend for a pair reduction of m_t targets against m_s sources (of ``kernel``
    on ``layout``, which decide whether the spectral method applies)."""
    pairs = m_t * m_s
    if cuda_available() and pairs < KEOPS_MIN_PAIRS:
        return get_backend("numba")
    compiled = _compiled()
    if kernel is not None and pairs >= SPECTRAL_MIN_PAIRS[compiled.name]:
        spectral: Any = get_backend("spectral")  # the module: its unsupported()
        if spectral.unsupported(kernel, layout) is None:
            return spectral
    return compiled


def pair_reduce(kernel, layout, w_t, w_s, q_s, with_value=False):
    """See :func:`meanfield.backends.numpy.pair_reduce`."""
    return pair_backend(len(w_t), len(w_s), kernel, layout).pair_reduce(
        kernel, layout, w_t, w_s, q_s, with_value)


def pair_reduce_batch(kernel, layout, w_t, w_s, q_s, with_value=False):
    """See :func:`meanfield.backends.numpy.pair_reduce_batch`."""
    return _pair_batch(pair_backend(w_t.shape[1], w_s.shape[1], kernel, layout), kernel,
                       layout, w_t, w_s,
                       q_s, with_value)


def forward(activation, layout, w, q, X):
    """See :func:`meanfield.backends.numpy.forward`."""
    return data_backend(layout, len(w), len(X), _dtype(w, X)).forward(activation, layout,
                                                                         w, q, X)


def forward_batch(activation, layout, w, q, X):
    """See :func:`meanfield.backends.numpy.forward_batch`."""
    return _forward_batch(data_backend(layout, w.shape[1], X.shape[-2], _dtype(w, X)),
                          activation, layout, w, q, X)


def data_grad(activation, layout, w, X, R):
    """See :func:`meanfield.backends.numpy.data_grad`."""
    return data_backend(layout, len(w), len(X)).data_grad(activation, layout, w, X, R)


def forward_and_grad(activation, layout, w, q, m_grad, X, residual):
    """See :func:`meanfield.backends.numpy.forward_and_grad`."""
    backend = data_backend(layout, len(w), len(X), _dtype(w, X))
    fused = capabilities(backend).forward_and_grad
    if fused is not None:
        return fused(activation, layout, w, q, m_grad, X, residual)
    f, grad = forward_and_grad_batch(activation, layout, np.asarray(w)[None],
                                     np.asarray(q)[None], m_grad, X,
                                     lambda F, G, N: residual(F[0], N)[None])
    return f[0], grad[0]


def forward_and_grad_batch(activation, layout, w, q, m_grad, X, residual):
    """See :func:`meanfield.backends.numpy.forward_and_grad_batch`."""
    return _fg_batch(data_backend(layout, w.shape[1], X.shape[-2], _dtype(w, X)), activation,
                     layout, w, q, m_grad, X, residual)


def bind_forward_and_grad(activation, layout, M, dtype, m_grad, X, residual):
    """:func:`forward_and_grad_batch` on fixed data for members of M rows in ``dtype``, as
    a function (w, q) -> (f, grad) calling the chosen backend directly."""
    backend = data_backend(layout, M, np.shape(X)[-2], _dtype(np.empty(0, dtype), X))
    return bound_forward_and_grad(backend, activation, layout, M, dtype, m_grad, X,
                                  residual)


def bind_euler_steps(activation, layout, M, dtype, m_grad, X, residual):
    """Fused Euler steps of the chosen backend (:func:`bind_forward_and_grad`'s), or
    None where it offers none."""
    backend = data_backend(layout, M, np.shape(X)[-2], _dtype(np.empty(0, dtype), X))
    return bound_euler_steps(backend, activation, layout, M, dtype, m_grad, X, residual)


def _dtype(w, X):
    """The arithmetic's dtype (float64 only when particles and data both are)."""
    return np.result_type(getattr(w, "dtype", np.float64), getattr(X, "dtype", np.float64))
