"""Spectral backend: the pair reduction of 2-D ReLU networks without bias by NUFFT (theory §11).

With a = r (cos theta, sin theta) the pair kernel is K = s r r' kappa(theta - theta')
(:mod:`meanfield.kernels.circle`; s = 1 for Gaussian inputs, 1/2 on the circle), so for
targets i and sources j with weights q_j and output weights c_j (theory §1-2):

    nu = sum_j q_j c_j r_j delta_{theta_j}                      (a signed measure, R^k-valued)
    U(theta) = s (nu * kappa)(theta),   W(theta) = s (nu * kappa')(theta)
    grad_c_i = r_i U(theta_i),          value_i = r_i c_i . U(theta_i)
    grad_a_i = (c_i . U(theta_i)) e_r(theta_i) + (c_i . W(theta_i)) e_theta(theta_i)

with e_r = (cos, sin) and e_theta = (-sin, cos), since grad_a r = e_r and
grad_a theta = e_theta / r. The sum includes j = i and differentiates the first argument
only, as the NumPy reference does: at phi = 0 it gives r_i kappa(0) = r_i/2 radially
and kappa'(0) = 0 tangentially, i.e. grad_1 K(a, a) = a/2. A target with a = 0 gets
grad_a = 0 (the relu'(0) = 0 convention).

Both convolutions are Fourier series: with S_k = sum_j nu_j e^{-ik theta_j} (a type-1
NUFFT, sources -> modes |k| <= L), U + iW = s sum_k kappa_hat_k (1 - k) S_k e^{ik theta}
(one type-2 NUFFT, modes -> targets; U and W are real). The cost is
O((m_s + m_t) log(1/eps) + L log L) instead of O(m_s m_t). L comes from the tolerance
through the kappa' tail bound (:func:`meanfield.kernels.circle.modes_for_tolerance`), and
the NUFFT runs at eps = tol/4: every U and W is then within tol s sum_j |nu_j| of its
exact value (kappa(0) = 1/2 bounds |U| by s sum_j |nu_j| / 2).

Transforms: finufft on the CPU (threads: see :meth:`Engine.options`), cufinufft when a CUDA
device works and cufinufft with CuPy or PyTorch imports (device arrays in, the O(L)
mode product on the host). The data reductions (empirical objectives) are Numba's.
"""
from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import get_num_threads

from ..core.extras import require
from ..kernels.circle import kappa_hat, modes_for_tolerance, polar
from .numba.data import data_grad, forward, forward_and_grad  # noqa: F401 (interface)

name = "spectral"
#: default tolerance (see the module docstring); L = 142353 modes for velocities
TOLERANCE = 1e-11
#: the finest NUFFT precision requested (finufft's limit in double precision)
EPS_MIN = 1e-14
#: finufft gets one thread per this many non-uniform points (at most Numba's count)
POINTS_PER_THREAD = 100_000
#: "auto" uses the spectral method when m_t m_s reaches this many pairs: against Numba,
#: the crossover measured on 2 cores at the default tolerance (one population velocity,
#: 5 teachers: equal times near m = 6000-7000, idle or loaded); against KeOps on a GPU,
#: an unmeasured guess (no GPU here)
def unsupported(kernel, layout) -> str | None:
    """Why the spectral method cannot compute this pair reduction, or None if it can."""
    problems = []
    if kernel.name != "relu":
        problems.append(f"the {kernel.name!r} kernel (only relu without bias, same "
                        "activation for student and teacher)")
    if layout.d != 2:
        problems.append(f"input dimension d = {layout.d} (only d = 2)")
    if layout.bias:
        problems.append("biases")
    if importlib.util.find_spec("finufft") is None:  # auto falls back to the compiled path
        problems.append('finufft, which is not installed (pip install "meanfield[spectral]")')
    return "; ".join(problems) or None


@dataclass(frozen=True)
class Engine:
    """A NUFFT library and the transfers to its memory (identity on the CPU)."""

    name: str
    module: Any
    to_device: Callable[[np.ndarray], Any]
    to_host: Callable[[Any], np.ndarray]

    def options(self, n_points: int) -> dict:
        """finufft threads: Numba's thread count, one per POINTS_PER_THREAD points (fewer
        threads are faster on small problems: measured 0.5 ms on one thread against
        30 ms on two for 1000 points, 2L+1 = 5455 modes)."""
        if self.name != "finufft":
            return {}
        return {"nthreads": max(1, min(get_num_threads(), n_points // POINTS_PER_THREAD))}


@functools.lru_cache(maxsize=1)
def engine() -> Engine:
    """cufinufft when a CUDA device works and cufinufft and CuPy (or PyTorch) import;
    finufft otherwise. Imported lazily, once per process."""
    from . import cuda_available

    if cuda_available():
        try:
            import cufinufft
        except ImportError:
            cufinufft = None
        if cufinufft is not None:
            try:
                import cupy

                return Engine("cufinufft", cufinufft, cupy.asarray, cupy.asnumpy)
            except ImportError:
                pass
            try:
                import torch

                return Engine("cufinufft", cufinufft,
                              lambda x: torch.as_tensor(x, device="cuda"),
                              lambda x: x.cpu().numpy())
            except ImportError:
                pass
    finufft = require("finufft", "spectral")
    return Engine("finufft", finufft, np.asarray, np.asarray)


def _nufft_eps(tol: float) -> float:
    return max(0.25 * float(tol), EPS_MIN)


def fourier_modes(theta, nu, L: int, eps: float) -> np.ndarray:
    """S_k = sum_j nu_j e^{-ik theta_j} for k = -L..L (type-1 NUFFT), shape (k_out, 2L+1)
    for nu of shape (m, k_out) (theory §11)."""
    eng = engine()
    nu = np.asarray(nu, dtype=np.float64)
    if len(theta) == 0:
        return np.zeros((nu.shape[1], 2 * L + 1), dtype=np.complex128)
    x = eng.to_device(np.ascontiguousarray(theta, dtype=np.float64))
    c = np.ascontiguousarray(nu.T, dtype=np.complex128)
    c = eng.to_device(c[0] if len(c) == 1 else c)  # one transform: a 1-D array
    S = eng.module.nufft1d1(x, c, (2 * L + 1,), eps=eps, isign=-1, **eng.options(len(theta)))
    return np.asarray(eng.to_host(S)).reshape(nu.shape[1], 2 * L + 1)


def convolve(theta_s, nu, theta_t, scale: float = 1.0, tol: float = TOLERANCE):
    """U = s (nu * kappa) and W = s (nu * kappa') at the target angles, each (m_t, k_out),
    for nu = sum_j nu_j delta_{theta_j} with nu of shape (m_s, k_out) (theory §11).

    |U - exact|, |W - exact| <= tol s sum_j |nu_j| per component.
    """
    L = modes_for_tolerance(tol)
    eps = _nufft_eps(tol)
    S = fourier_modes(theta_s, nu, L, eps)
    k = np.arange(-L, L + 1, dtype=np.float64)
    coef = np.ascontiguousarray(scale * kappa_hat(k) * (1.0 - k) * S)
    eng = engine()
    if len(theta_t) == 0:
        return np.zeros((0, S.shape[0])), np.zeros((0, S.shape[0]))
    x = eng.to_device(np.ascontiguousarray(theta_t, dtype=np.float64))
    coef = eng.to_device(coef[0] if len(coef) == 1 else coef)
    z = eng.module.nufft1d2(x, coef, eps=eps, isign=1, **eng.options(len(theta_t)))
    z = np.asarray(eng.to_host(z)).reshape(S.shape[0], len(theta_t)).T
    return np.ascontiguousarray(z.real), np.ascontiguousarray(z.imag)


def energy(theta, nu, scale: float = 1.0, tol: float = TOLERANCE) -> float:
    """sum_ij nu_i . nu_j s kappa(theta_i - theta_j) = s sum_k kappa_hat_k |S_k|^2 (theory §11).

    For nu the measure of f (weights q_j c_j r_j) this is ||f||^2 in L^2(inputs). Every
    term is non-negative, so there is no cancellation; the truncation error is at most
    (tol/2) s (sum_j |nu_j|)^2 and L ~ (2/(pi^2 tol))^(1/3) modes suffice.
    """
    nu = np.asarray(nu, dtype=np.float64)
    if nu.ndim == 1:
        nu = nu[:, None]
    L = modes_for_tolerance(tol, derivative=False)
    S = fourier_modes(theta, nu, L, _nufft_eps(tol))
    k = np.arange(-L, L + 1, dtype=np.float64)
    return float(scale * np.sum(kappa_hat(k) * np.abs(S) ** 2))


def _check(kernel, layout) -> None:
    reason = unsupported(kernel, layout)
    if reason is not None:
        raise ValueError(f"the spectral backend cannot handle {reason}; use the numpy, "
                         "numba or keops backend")


class Spectral:
    """The spectral backend at a given tolerance (the module-level functions use
    :data:`TOLERANCE`); pass an instance as ``backend=`` to change it."""

    name = "spectral"
    forward = staticmethod(forward)  # data reductions: Numba's
    data_grad = staticmethod(data_grad)
    forward_and_grad = staticmethod(forward_and_grad)

    def __init__(self, tol: float = TOLERANCE):
        modes_for_tolerance(tol)  # validates
        self.tol = float(tol)

    def pair_reduce(self, kernel, layout, w_t, w_s, q_s, with_value=False):
        """(grad (m_t, p), value (m_t,) or None) of the relu pair reduction, d = 2, no bias."""
        _check(kernel, layout)
        dtype = np.result_type(w_t, w_s)
        c_t, a_t, _ = layout.unpack(np.asarray(w_t, dtype=np.float64))
        c_s, a_s, _ = layout.unpack(np.asarray(w_s, dtype=np.float64))
        theta_s, r_s = polar(a_s)
        if len(a_t) <= len(a_s) and np.array_equal(a_t, a_s[:len(a_t)]):
            theta_t, r_t = theta_s[:len(a_t)], r_s[:len(a_t)]  # targets lead the sources
        else:
            theta_t, r_t = polar(a_t)
        nu = (np.asarray(q_s, dtype=np.float64) * r_s)[:, None] * c_s
        U, W = convolve(theta_s, nu, theta_t, kernel.scale, self.tol)
        cu = np.einsum("ij,ij->i", c_t, U)
        cw = np.einsum("ij,ij->i", c_t, W)
        alive = r_t > 0
        inv_r = np.where(alive, 1.0 / np.where(alive, r_t, 1.0), 0.0)
        cos, sin = a_t[:, 0] * inv_r, a_t[:, 1] * inv_r
        grad = np.empty((len(a_t), layout.p))
        grad[:, layout.c] = r_t[:, None] * U
        grad[:, layout.k] = cu * cos - cw * sin
        grad[:, layout.k + 1] = cu * sin + cw * cos
        value = (r_t * cu).astype(dtype) if with_value else None
        return grad.astype(dtype, copy=False), value


DEFAULT = Spectral()
pair_reduce = DEFAULT.pair_reduce
