"""PyKeOps backend: the reductions of :mod:`meanfield.backends.numpy` as KeOps formulas.

KeOps compiles each symbolic formula once per (formula, dimensions, dtype) into a cache
folder and then runs it on CUDA when a device works, on the CPU otherwise, in float32 or
float64 (the particles' dtype is kept). The folder is ``<repo>/build/cache/keops``
unless the environment variable ``MEANFIELD_KEOPS_CACHE`` names another one; call
:func:`warmup` before timing anything, so that no compile lands in a timed loop.

To keep the number of compiled formulas small, the output weights enter one component
at a time (a k-output network costs k reductions of the same formula, which depends on
d only) and related formulas share one compiled body, the branch being chosen by a
KeOps parameter: the pair kernels relu/erf; the activations relu/linear; and the smooth
activations erf/sigmoid/tanh/softplus.

KeOps has no erf, so Phi and erf are built from exponentials (:func:`normal_cdf`).
What is *not* expressed in KeOps: the bias kernels relu_bias and erf_bias run on the
Numba backend. Their bivariate normal CDF was written from exponentials (Owen's T by
Gauss-Legendre, Phi as here), but KeOps' Python code generator did not finish
expanding that formula (hundreds of exponentials, both IfElse branches) within 12
minutes, so it is not usable; linear kernels use the shared O(m p k) :func:`linear_pair_reduce`;
"quadrature" kernels run on the NumPy reference.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pykeops
from numpy.polynomial.legendre import leggauss
from pykeops.numpy import LazyTensor

from ..gaussian import RHO_SNAP
from . import numba as _numba
from . import numpy as _reference
from .numpy import linear_pair_reduce

name = "keops"
FLOAT32_SNAP = 2e-6


def cache_folder() -> str:
    """The KeOps build folder: $MEANFIELD_KEOPS_CACHE or <repo>/build/cache/keops."""
    default = Path(__file__).resolve().parents[2] / "build" / "cache" / "keops"
    return str(Path(os.environ.get("MEANFIELD_KEOPS_CACHE", default)))


os.makedirs(cache_folder(), exist_ok=True)
pykeops.set_verbose(False)
pykeops.set_build_folder(cache_folder())

_GL_U, _GL_W = leggauss(16)
_GL_X = 0.5 * (1.0 + _GL_U)  # 16 Gauss-Legendre nodes and weights on [0, 1]
_GL_W = 0.5 * _GL_W
_SMOOTH = ("erf", "sigmoid", "tanh", "softplus")
_CHEAP = ("relu", "linear")


# --------------------------------------------------------------------------- maths
def _where(cond, a, b):
    """a where cond >= 0, else b (KeOps IfElse; both branches are evaluated)."""
    return cond.ifelse(a, b)


def _const(x, like):
    """A constant broadcast like the LazyTensor ``like`` (KeOps needs symbolic operands)."""
    return 0.0 * like + x


def normal_cdf(x):
    """Phi(x) from exponentials only, |error| < 5e-16.

    For |x| < 3: Phi = 1/2 + x/sqrt(2 pi) int_0^1 exp(-x^2 u^2/2) du. For |x| >= 3 the
    tail s = Phi(-|x|) solves s (1 - s) = 2 T(x, 1) with Owen's
    T(x, 1) = (1/2 pi) int_0^1 exp(-x^2 (1 + u^2)/2)/(1 + u^2) du, i.e.
    s = 4 T/(1 + sqrt(1 - 8 T)) without cancellation. Both integrals use 16-node
    Gauss-Legendre (THEORY.md §2.3 for T).
    """
    xx = -0.5 * x * x
    core = sum(float(w) * (float(u * u) * xx).exp() for u, w in zip(_GL_X, _GL_W))
    small = 0.5 + x * core / math.sqrt(2.0 * math.pi)
    t1 = sum(float(w / (1.0 + u * u)) * (float(1.0 + u * u) * xx).exp()
             for u, w in zip(_GL_X, _GL_W)) / (2.0 * math.pi)
    tail = 4.0 * t1 / (1.0 + (1.0 - 8.0 * t1).relu().sqrt())
    return _where(x.abs() - 3.0, _where(x, 1.0 - tail, tail), small)


def _erf(z):
    return 2.0 * normal_cdf(math.sqrt(2.0) * z) - 1.0


def _sigmoid(z):
    return _where(z, 1.0 / (1.0 + (-z).exp()), z.exp() / (1.0 + z.exp()))


def _activation(name_, z):
    """(sigma(z), sigma'(z)) as LazyTensors (relu'(0) = 0)."""
    if name_ == "relu":
        return z.relu(), _where(-z, _const(0.0, z), _const(1.0, z))
    if name_ == "linear":
        return z, _const(1.0, z)
    if name_ == "erf":
        return _erf(z), (2.0 / math.sqrt(math.pi)) * (-z * z).exp()
    if name_ == "sigmoid":
        s = _sigmoid(z)
        return s, s * (1.0 - s)
    if name_ == "tanh":
        e = (-2.0 * z.abs()).exp()
        t = z.sign() * (1.0 - e) / (1.0 + e)
        return t, 1.0 - t * t
    e = (-z.abs()).exp()  # softplus = relu(z) + log(1 + exp(-|z|)), derivative sigmoid
    return z.relu() + (1.0 + e).log(), _sigmoid(z)


def _family(name_):
    return _CHEAP if name_ in _CHEAP else _SMOOTH


def _select(names, sel, z):
    """(sigma, sigma') of the activation picked by the one-hot parameter ``sel``."""
    outs = [_activation(n, z) for n in names]
    f = sum(sel.elem(i) * o[0] for i, o in enumerate(outs))
    df = sum(sel.elem(i) * o[1] for i, o in enumerate(outs))
    return f, df


def _one_hot(names, name_, dtype):
    return LazyTensor(np.array([1.0 if n == name_ else 0.0 for n in names], dtype=dtype))


# --------------------------------------------------------------------------- pairs
def _pair_formula(sel, a_i, a_j, w_j, snap):
    """sum_j of [w K, w P, w Q a_j] for the relu (sel >= 0) or erf (sel < 0) kernel;
    correlations within ``snap`` of +-1 are set to +-1 (gaussian.snap_correlation)."""
    t = a_i | a_j
    n1, n2 = a_i.sqnorm2(), a_j.sqnorm2()
    zero1 = _const(0.0, n1)
    # relu (THEORY.md §2.1), with r = 1/|a| set to 0 for a = 0
    s1, s2 = n1.sqrt(), n2.sqrt()
    r1 = _where(-n1, zero1, n1.rsqrt())
    r2 = _where(-n2, _const(0.0, n2), n2.rsqrt())
    cos = (t * r1 * r2).clamp(-1.0, 1.0)
    cos = _where(cos.abs() - (1.0 - snap), cos.sign(), cos)
    sin = (1.0 - cos * cos).relu().sqrt()
    pt = math.pi - cos.acos()
    K_r = (s1 * s2 * sin + pt * t) / (2.0 * math.pi)
    P_r = s2 * sin * r1 / (2.0 * math.pi)
    Q_r = pt * _where(-n1, zero1, _const(1.0 / (2.0 * math.pi), n1))
    # erf (THEORY.md §2.2)
    A1 = 1.0 + 2.0 * n1
    prod = A1 * (1.0 + 2.0 * n2)
    K_e = (2.0 / math.pi) * (2.0 * t * prod.rsqrt()).clamp(-1.0, 1.0).asin()
    Q_e = (4.0 / math.pi) * (prod - 4.0 * t * t).rsqrt()
    P_e = -2.0 * t / A1 * Q_e
    K, P, Q = _where(sel, K_r, K_e), _where(sel, P_r, P_e), _where(sel, Q_r, Q_e)
    return (w_j * K).concat(w_j * P).concat((w_j * Q) * a_j)


def _snap(dtype):
    """RHO_SNAP in float64; in float32 a dot product resolves cos only to ~1e-6, so
    coincident particles would get a spurious angle of ~1e-3 without a wider snap."""
    return RHO_SNAP if dtype == np.float64 else FLOAT32_SNAP


def pair_reduce(kernel, layout, w_t, w_s, q_s, with_value=False):
    """Return (grad (m_t, p), value (m_t,) or None) of the pair reduction (THEORY.md §1-2).

    Same contract as :func:`meanfield.backends.numpy.pair_reduce`; relu and erf run in
    KeOps, the bias kernels on Numba, linear and quadrature as described above.
    """
    if kernel.name.startswith("linear"):
        return linear_pair_reduce(kernel, layout, w_t, w_s, q_s, with_value)
    if kernel.name in ("relu_bias", "erf_bias"):
        return _numba.pair_reduce(kernel, layout, w_t, w_s, q_s, with_value)
    if kernel.name not in ("relu", "erf"):
        return _reference.pair_reduce(kernel, layout, w_t, w_s, q_s, with_value)
    dtype = np.result_type(w_t, w_s)
    c_t, a_t, _ = layout.unpack(np.asarray(w_t, dtype=dtype))
    c_s, a_s, _ = layout.unpack(np.asarray(w_s, dtype=dtype))
    s_s = c_s * np.asarray(q_s, dtype=dtype)[:, None]
    sel = LazyTensor(np.array([1.0 if kernel.name == "relu" else -1.0], dtype=dtype))
    A_i = LazyTensor(np.ascontiguousarray(a_t)[:, None, :])
    A_j = LazyTensor(np.ascontiguousarray(a_s)[None, :, :])
    d = layout.d
    grad = np.zeros((len(a_t), layout.p), dtype=dtype)
    value = np.zeros(len(a_t), dtype=dtype) if with_value else None
    for l in range(layout.k):
        W_j = LazyTensor(np.ascontiguousarray(s_s[:, l])[None, :, None])
        out = _pair_formula(sel, A_i, A_j, W_j, _snap(dtype)).sum(axis=1)
        grad[:, l] = out[:, 0]
        grad[:, layout.a] += c_t[:, l, None] * (out[:, 1, None] * a_t + out[:, 2:2 + d])
        if with_value:
            value += c_t[:, l] * out[:, 0]
    grad *= kernel.scale
    return grad, (None if value is None else kernel.scale * value)


# --------------------------------------------------------------------------- data
def _bias(layout, w, dtype):
    b = layout.unpack(w)[2]
    return np.zeros(len(w), dtype=dtype) if b is None else np.ascontiguousarray(b, dtype=dtype)


def forward(activation, layout, w, q, X):
    """f(x_n) = sum_i q_i c_i sigma(a_i . x_n + b_i), shape (n, k) (THEORY.md §1)."""
    dtype = np.result_type(w, X)
    w = np.asarray(w, dtype=dtype)
    c, a, _ = layout.unpack(w)
    cq = c * np.asarray(q, dtype=dtype)[:, None]
    names = _family(activation.name)
    sel = _one_hot(names, activation.name, dtype)
    X_i = LazyTensor(np.ascontiguousarray(X, dtype=dtype)[:, None, :])
    A_j = LazyTensor(np.ascontiguousarray(a)[None, :, :])
    B_j = LazyTensor(_bias(layout, w, dtype)[None, :, None])
    f, _ = _select(names, sel, (X_i | A_j) + B_j)
    out = np.empty((len(X), layout.k), dtype=dtype)
    for l in range(layout.k):
        W_j = LazyTensor(np.ascontiguousarray(cq[:, l])[None, :, None])
        out[:, l] = (W_j * f).sum(axis=1)[:, 0]
    return out


def data_grad(activation, layout, w, X, R):
    """grad_i = sum_n grad_{w_i}[c_i . R_n sigma(a_i . x_n + b_i)], shape (m, p)."""
    dtype = np.result_type(w, X, R)
    w = np.asarray(w, dtype=dtype)
    c, a, _ = layout.unpack(w)
    R = np.asarray(R, dtype=dtype)
    names = _family(activation.name)
    sel = _one_hot(names, activation.name, dtype)
    A_i = LazyTensor(np.ascontiguousarray(a)[:, None, :])
    B_i = LazyTensor(_bias(layout, w, dtype)[:, None, None])
    X_j = LazyTensor(np.ascontiguousarray(X, dtype=dtype)[None, :, :])
    f, df = _select(names, sel, (A_i | X_j) + B_i)
    d = layout.d
    grad = np.zeros((len(w), layout.p), dtype=dtype)
    for l in range(layout.k):
        rho = LazyTensor(np.ascontiguousarray(R[:, l])[None, :, None])
        out = ((rho * f).concat((rho * df) * X_j).concat(rho * df)).sum(axis=1)
        grad[:, l] = out[:, 0]
        grad[:, layout.a] += c[:, l, None] * out[:, 1:1 + d]
        if layout.bias:
            grad[:, layout.b.start] += c[:, l] * out[:, 1 + d]
    return grad


def warmup(d: int, dtype=np.float64, pair: bool = True, activations=("relu",)) -> None:
    """Compile (or load from the cache) the formulas used at input dimension d.

    Runs the relu/erf pair reduction (if ``pair``) and both data reductions of each
    activation's family on tiny inputs of ``dtype``, so that later calls only execute.
    """
    from ..activations import get_activation
    from ..gaussian import pair_kernel
    from ..model import Layout

    layout = Layout(1, d, True)
    w = np.ones((2, layout.p), dtype=dtype)
    q = np.ones(2, dtype=dtype)
    if pair:
        pair_reduce(pair_kernel("relu"), Layout(1, d), w[:, :-1], w[:, :-1], q, True)
    X, R = np.ones((2, d), dtype=dtype), np.ones((2, 1), dtype=dtype)
    for act in activations:
        forward(get_activation(act), layout, w, q, X)
        data_grad(get_activation(act), layout, w, X, R)
