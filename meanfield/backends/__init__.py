"""Backend registry: one interface (``pair_reduce``, ``forward``, ``data_grad``), several
implementations. "numpy" is the reference, "numba" the CPU backend, "keops" the GPU
(or CPU) one, "spectral" the NUFFT pair reduction of 2-D ReLU networks without bias
(theory §11); "auto" picks, per reduction, KeOps when a CUDA device works and Numba
otherwise, NumPy where it is faster (tiny data reductions) and the spectral method for
the large pair reductions it applies to (:mod:`meanfield.backends.auto`).

Every backend exposes ``name`` and the three reductions of the typed protocol
:class:`meanfield.backends.protocol.Backend` (documented in :mod:`meanfield.backends.numpy`,
the reference), and may offer the optional capabilities of that module (batched and
fused reductions); :func:`meanfield.backends.protocol.capabilities` says which.

Its modules are internal (they may move); the public names are re-exported by ``meanfield``.
"""
from __future__ import annotations

import ctypes
import functools
import importlib
from typing import Any, cast

import numpy as _np

from . import numpy as _numpy_backend
from .protocol import Backend, BatchResidual, BoundEulerSteps, BoundForwardAndGrad, capabilities

_MODULES: dict[str, str | Backend] = {
    "numpy": "meanfield.backends.numpy", "numba": "meanfield.backends.numba.backend",
    "keops": "meanfield.backends.keops.backend", "spectral": "meanfield.backends.spectral"}
_LOADED: dict[str, Backend] = {"numpy": _numpy_backend}


def register(name: str, backend: str | Backend) -> None:
    """Make a backend usable by name: ``backend`` is a module path (imported lazily on
    first use) or a backend object; either must have the members of
    :class:`meanfield.backends.protocol.Backend`. The name is then accepted everywhere a
    backend is (objectives, run configs, the command line).

    Examples:

        >>> register("broken", object())
        Traceback (most recent call last):
        ...
        TypeError: backend 'broken' lacks name, pair_reduce, forward, data_grad (see ...)
    """
    if name == "auto":
        raise ValueError("'auto' is not a backend name but the automatic choice")
    if not isinstance(backend, str):
        _check(name, backend)
    _MODULES[name] = backend
    _LOADED.pop(name, None)


def _check(name: str, backend: object) -> Backend:
    """``backend`` itself when it has every member of the Backend protocol."""
    if not isinstance(backend, Backend):
        missing = [m for m in ("name", "pair_reduce", "forward", "data_grad")
                   if not hasattr(backend, m)]
        raise TypeError(f"backend {name!r} lacks {', '.join(missing)} (see "
                        f"meanfield.backends.protocol.Backend)")
    return backend


def available() -> list[str]:
    """Names of the registered backends (the one list: configs and commands read it)."""
    return list(_MODULES)


def names() -> list[str]:
    """Every accepted backend name: the registered ones and "auto"."""
    return [*_MODULES, "auto"]


@functools.lru_cache(maxsize=1)
def cuda_available() -> bool:
    """True when a CUDA device works (checked once per process, through the driver library).

    A driver that loads but reports no device, or no driver at all, gives False; nothing
    is compiled and KeOps is not imported.
    """
    for lib in ("libcuda.so.1", "libcuda.so", "nvcuda.dll"):
        try:
            cuda = ctypes.CDLL(lib)
        except OSError:
            continue
        count = ctypes.c_int(0)
        return cuda.cuInit(0) == 0 and cuda.cuDeviceGetCount(ctypes.byref(count)) == 0 \
            and count.value > 0
    return False


def _auto() -> Backend:
    """The automatic backend (:mod:`meanfield.backends.auto`): KeOps when a CUDA device
    works and Numba otherwise, NumPy for the reductions where it is faster (tiny data
    reductions; docs/guide/backends.md)."""
    if "auto" not in _LOADED:
        _LOADED["auto"] = cast(Backend, importlib.import_module("meanfield.backends.auto"))
    return _LOADED["auto"]


def get_backend(name: str | Backend = "auto") -> Backend:
    """The backend module called ``name`` ("numpy", ... or "auto"); a backend object
    (anything with the members of :class:`meanfield.backends.protocol.Backend`) is
    returned as it is.

    Examples:

        >>> import meanfield as mf
        >>> mf.get_backend("numpy").name
        'numpy'
    """
    if not isinstance(name, str):
        return name
    if name == "auto":
        return _auto()
    if name not in _MODULES:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(names())}")
    if name not in _LOADED:
        entry = _MODULES[name]
        module = importlib.import_module(entry) if isinstance(entry, str) else entry
        _LOADED[name] = _check(name, module)
    return _LOADED[name]


# --------------------------------------------------------------------------- ensembles
# Reductions over a stack of S independent systems (ensembles, theory §10). A backend
# offers them as ``pair_reduce_batch``, ``forward_batch`` and ``forward_and_grad_batch``
# (see meanfield.backends.numpy); one that does not gets the loops below, so a new
# backend needs only the single-system functions. Member s of a batched reduction equals
# the single-system reduction of member s bit for bit.
def pair_reduce_batch(backend: Backend, kernel: Any, layout: Any, w_t: _np.ndarray,
                      w_s: _np.ndarray, q_s: _np.ndarray, with_value: bool = False
                      ) -> tuple[_np.ndarray, Any]:
    """(grad (S, m_t, p), value (S, m_t) or None) of the pair reductions of S systems."""
    fn = capabilities(backend).pair_reduce_batch
    if fn is not None:
        return fn(kernel, layout, w_t, w_s, q_s, with_value)
    out: list[tuple[_np.ndarray, Any]] = [
        backend.pair_reduce(kernel, layout, w_t[s], w_s[s], q_s[s], with_value)
        for s in range(len(w_t))]
    return (_np.stack([g for g, _ in out]),
            _np.stack([v for _, v in out]) if with_value else None)


def forward_batch(backend: Backend, activation: Any, layout: Any, w: _np.ndarray,
                  q: _np.ndarray, X: _np.ndarray) -> _np.ndarray:
    """Outputs (S, n, k) of S networks on shared X (n, d) or per-member X (S, n, d)."""
    fn = capabilities(backend).forward_batch
    if fn is not None:
        return fn(activation, layout, w, q, X)
    X = _np.asarray(X)
    return _np.stack([backend.forward(activation, layout, w[s], q[s],
                                      X if X.ndim == 2 else X[s]) for s in range(len(w))])


def forward_and_grad_batch(backend: Backend, activation: Any, layout: Any, w: _np.ndarray,
                           q: _np.ndarray, m_grad: int, X: _np.ndarray,
                           residual: BatchResidual) -> tuple[_np.ndarray, _np.ndarray]:
    """(f (S, n, k), grad (S, m_grad, p)) of S networks; ``residual(F, G, N)`` gives the
    residuals of the members G (a slice) on the samples N (see the NumPy reference)."""
    caps = capabilities(backend)
    fn = caps.forward_and_grad_batch
    if fn is not None:
        return fn(activation, layout, w, q, m_grad, X, residual)
    X = _np.asarray(X)
    fs, grads = [], []
    for s in range(len(w)):
        Xs = X if X.ndim == 2 else X[s]
        G = slice(s, s + 1)

        def one(F, N, G=G):
            return residual(F[None], G, N)[0]

        fused = caps.forward_and_grad
        if fused is not None:
            f, g = fused(activation, layout, w[s], q[s], m_grad, Xs, one)
        else:
            f = backend.forward(activation, layout, w[s], q[s], Xs)
            g = backend.data_grad(activation, layout, w[s][:m_grad], Xs,
                                  one(f, slice(None)))
        fs.append(f)
        grads.append(g)
    return _np.stack(fs), _np.stack(grads)


def bound_forward_and_grad(backend: Backend, activation: Any, layout: Any, M: int,
                           dtype: Any, m_grad: int, X: _np.ndarray,
                           residual: BatchResidual) -> BoundForwardAndGrad:
    """``forward_and_grad_batch`` of ``backend`` on fixed data X, for members of M rows in
    ``dtype``, as a function (w, q) -> (f, grad): the backend's own binding
    (``bind_forward_and_grad``: data converted once, kernel arguments prepared) when it
    offers one, else a call of the batched reduction."""
    caps = capabilities(backend)
    bind = caps.bind_forward_and_grad
    if bind is not None:
        return bind(activation, layout, M, dtype, m_grad, X, residual)
    batched = caps.forward_and_grad_batch
    if batched is not None:
        return lambda w, q: batched(activation, layout, w, q, m_grad, X, residual)
    return lambda w, q: forward_and_grad_batch(backend, activation, layout, w, q, m_grad, X,
                                               residual)


def bound_euler_steps(backend: Backend, activation: Any, layout: Any, M: int, dtype: Any,
                      m_grad: int, X: _np.ndarray,
                      residual: BatchResidual) -> BoundEulerSteps | None:
    """The backend's fused Euler steps on fixed data X
    (:class:`meanfield.backends.protocol.BindsEulerSteps`: n steps
    w <- w + h_s (grad_s / neg_s) in one call, the same bits as n calls of
    :func:`bound_forward_and_grad`), or None where it offers none for these sizes.

    >>> import meanfield as mf
    >>> bound_euler_steps(mf.get_backend("numpy"), None, None, 16, float, 16, None, None)
    """
    bind = capabilities(backend).bind_euler_steps
    return None if bind is None else bind(activation, layout, M, dtype, m_grad, X, residual)
