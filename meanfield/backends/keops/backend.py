"""PyKeOps backend: the reductions of :mod:`meanfield.backends.numpy` as KeOps formulas.

KeOps compiles each symbolic formula once per (formula, dimensions, dtype) into a cache
folder and then runs it on CUDA when a device works, on the CPU otherwise, in float32 or
float64 (the particles' dtype is kept). The folder is chosen at the first KeOps call:
``$MEANFIELD_KEOPS_CACHE`` if set, else ``meanfield/keops`` in the user's cache directory
(platformdirs); call :func:`warmup` before timing anything, so that no compile lands in
a timed loop.

To keep the number of compiled formulas small, the output weights enter one component
at a time (a k-output network costs k reductions of the same formula, which depends on
d only) and related formulas share one compiled body, the branch being chosen by a
KeOps parameter: the pair kernels relu/erf; the activations relu/linear; and the smooth
activations erf/sigmoid/tanh/softplus.

KeOps has no erf, so Phi and erf are built from exponentials (:func:`normal_cdf`).
The bias kernels relu_bias and erf_bias are KeOps formulas too (:func:`_bias_reduction`):
per-particle scalars (|a|, h = b/|a|, Phi(h), phi(h), ...) are computed in NumPy, and per
pair the formula evaluates the bivariate normal CDF Phi_2 by Genz's BVND algorithm
(20-node Gauss-Legendre, arcsine form for |rho| < 0.925, Drezner-Wesolowsky form above)
and Phi by Gauss-Legendre, each quadrature one KeOps vector operation
(:mod:`meanfield.backends.keops.bvn`), with shared subexpressions factorised. Measured
against the NumPy reference (scipy's Owen's T): Phi_2 to 2e-16 absolute on a grid
including rho = +-1, +-(1 - 1e-6), 0.99, 0.93, 0.925; the pair reductions to ~1e-15
relative in float64 and ~3e-7 in float32. Each compiles in ~10-20 s on a CPU (once
per d and dtype). Both Phi_2 branches and both Phi rules are evaluated for every pair
(IfElse), so on a CPU these kernels are ~5x slower than the Numba backend (m = 1024,
d = 10: ~1.4 s against ~0.27 s); they are meant for CUDA. Linear kernels use the shared O(m p k)
:func:`linear_pair_reduce`;
the kernels of a ReLU with a smooth activation ("relu_erf", "relu_linear",
"relu_quadrature", theory §2.5) and the "quadrature" kernels of two smooth activations
are not KeOps formulas: they defer to the Numba backend (which runs the mixed kernels
compiled and the smooth-pair quadrature on the NumPy reference).
"""
from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import numpy as np
import pykeops
from numpy.polynomial.legendre import leggauss
from pykeops.numpy import LazyTensor
from scipy.special import ndtr

from ...kernels.bivariate import RHO_SNAP, normal_pdf
from . import bvn as kbvn
from .. import numpy as _reference
from ..numpy import linear_pair_reduce

name = "keops"
FLOAT32_SNAP = 2e-6


def cache_folder() -> str:
    """The KeOps build folder: $MEANFIELD_KEOPS_CACHE, else <user cache dir>/meanfield/keops."""
    from platformdirs import user_cache_dir

    default = Path(user_cache_dir("meanfield")) / "keops"
    return str(Path(os.environ.get("MEANFIELD_KEOPS_CACHE") or default))


@functools.cache
def _configure() -> str:
    """Point KeOps at :func:`cache_folder` (created if needed), once, at the first call."""
    folder = cache_folder()
    os.makedirs(folder, exist_ok=True)
    pykeops.set_verbose(False)
    pykeops.set_build_folder(folder)
    return folder

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
    Gauss-Legendre (theory §2.3 for T).
    """
    xx = -0.5 * x * x
    core = sum(float(w) * (float(u * u) * xx).exp() for u, w in zip(_GL_X, _GL_W, strict=False))
    small = 0.5 + x * core / math.sqrt(2.0 * math.pi)
    t1 = sum(float(w / (1.0 + u * u)) * (float(1.0 + u * u) * xx).exp()
             for u, w in zip(_GL_X, _GL_W, strict=False)) / (2.0 * math.pi)
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
    """The activations compiled into one formula with ``name_``; a name KeOps has no
    formula for (a polynomial "hermite[...]") is refused, never evaluated as another."""
    for family in (_CHEAP, _SMOOTH):
        if name_ in family:
            return family
    raise ValueError(f"backend keops: no formula for the activation {name_!r}; use the "
                     f"numpy or numba backend")


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
    # relu (theory §2.1), with r = 1/|a| set to 0 for a = 0
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
    # erf (theory §2.2)
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


def _unit(a, s):
    """a/|a| row-wise, 0 for a = 0."""
    return a / np.where(s > 0, s, 1.0)[:, None] * (s > 0)[:, None]


def _relu_bias_leaves(a, b):
    """Per-particle scalars of the relu_bias kernel (float64): s = |a|, b, h = b/s (b
    when a = 0), Phi(h), phi(h), the mean E[u+] and P(u > 0) of u = a.x + b, phi(h)/s
    (0 when a = 0); and the unit vector a/|a| (0 when a = 0)."""
    s = np.sqrt(np.einsum("ij,ij->i", a, a))
    on = s > 0
    h = b / np.where(on, s, 1.0)
    Ph, ph = ndtr(h), normal_pdf(h)
    mean = np.where(on, b * Ph + s * ph, np.maximum(b, 0.0))
    prob = np.where(on, Ph, (b > 0) * 1.0)
    return np.stack([s, b, h, Ph, ph, mean, prob, np.where(on, ph / np.where(on, s, 1.0), 0.0)],
                    axis=1), _unit(a, s)


def _erf_bias_leaves(a, b):
    """Per-particle scalars of the erf_bias kernel (float64): alpha = 1/A^2 with
    A^2 = 1 + 2|a|^2, beta = |a|^2 alpha, 1/A, h = sqrt2 b/A, Phi(h), phi(h); and the
    vectors sqrt(2 alpha) a (so that r = <., .>) and a/|a| (0 when a = 0)."""
    n = np.einsum("ij,ij->i", a, a)
    alpha = 1.0 / (1.0 + 2.0 * n)
    iA = np.sqrt(alpha)
    h = math.sqrt(2.0) * b * iA
    scalars = np.stack([alpha, n * alpha, iA, h, ndtr(h), normal_pdf(h)], axis=1)
    return scalars, np.sqrt(2.0 * alpha)[:, None] * a, _unit(a, np.sqrt(n))


def _relu_bias_formula(S_i, U_i, S_j, U_j, A_j, snap, quad):
    """[K, P, Q a_j, D] of E[u+ v+] (gaussian.relu_bias_kernel) for one pair.

    rho = <a/|a|, a'/|a'|>; 1 - rho^2 = (|u - u'|^2/2)(|u + u'|^2/2) for the unit vectors
    u, u' (no cancellation near rho = +-1, which matters in float32), rho snapped to +-1
    when 1 - |rho| < ``snap``. With q = sqrt(1 - rho^2), F = Phi_2(h, k; rho),
    C_h = Phi((h - rho k)/q), C_k = Phi((k - rho h)/q) (0, 1/2 or 1 at q = 0):
    K = (b b' + rho s s') F + b s' phi(k) C_h + b' s phi(h) C_k + s s' q phi(h) phi((k - rho h)/q),
    Q = F, D = b' F + s' (phi(k) C_h + rho phi(h) C_k),
    P = phi(h)/s [mu C_k + s' q phi((k - rho h)/q)] with mu = b' - rho s' h.
    When a = 0 or a' = 0, u and v are independent: K = E[u+] E[v+], Q = P(u>0) P(v>0),
    D = P(u>0) E[v+], P = phi(h)/s E[v+].
    """
    s1, b1, h, Ph, ph, mean1, prob1, ph_s1 = (S_i.elem(n) for n in range(8))
    s2, b2, k, Pk, pk, mean2, prob2 = (S_j.elem(n) for n in range(7))
    omr, opr = 0.5 * U_i.sqdist(U_j), 0.5 * (U_i + U_j).sqnorm2()
    near = _where(omr - opr, opr, omr) - snap   # < 0: snap rho to +-1
    rho = _where(near, (U_i | U_j).clamp(-1.0, 1.0), _where(opr - omr, 1.0, -1.0))
    qq = _where(near, omr * opr, 0.0)
    q = qq.sqrt()
    qs = q + quad.tiny
    x_h, x_k = (h - rho * k) / qs, (k - rho * h) / qs
    C_h, C_k = kbvn.normal_cdf(x_h, quad), kbvn.normal_cdf(x_k, quad)
    g_k = (-0.5 * x_k * x_k).exp() / kbvn.SQRT_2PI
    F = kbvn.bvn_cdf(h, k, rho, qq, Ph, Pk, quad)
    rest_K = b1 * s2 * pk * C_h + b2 * s1 * ph * C_k + s1 * s2 * q * ph * g_k
    rest_D = s2 * (pk * C_h + rho * ph * C_k)
    P = ph_s1 * ((b2 - rho * s2 * h) * C_k + s2 * q * g_k)
    reg = ((b1 * b2 + rho * s1 * s2) * F + rest_K).concat(P).concat(F * A_j) \
        .concat(b2 * F + rest_D)
    deg = (mean1 * mean2).concat(ph_s1 * mean2).concat(prob1 * prob2 * A_j).concat(prob1 * mean2)
    out = _where(-s1, deg, _where(-s2, deg, reg))
    return out.factorize(F).factorize(C_h).factorize(C_k).factorize(g_k).factorize(rho) \
        .factorize(q)


def _erf_bias_formula(S_i, R_i, U_i, S_j, R_j, U_j, A_j, quad):
    """[K, P, Q a_j, D] of E[erf(u) erf(v)] (gaussian.erf_bias_kernel) for one pair.

    r = 2 a.a'/(A A'), 1 - r^2 = alpha alpha' + 2 (beta alpha' + alpha beta')
    + 4 beta beta' sin^2(angle(a, a')) > 0 (no cancellation), q = sqrt(1 - r^2),
    x = (k - r h)/q, g = exp(-(x^2 + h^2)/2)/(2 pi q) (the bivariate density at (h, k)):
    K = 4 Phi_2(h, k; r) - 2 Phi(h) - 2 Phi(k) + 1, Q = 8 g/(A A'),
    D = sqrt2/A dK/dh, P = -2/A^2 (h dK/dh + 4 r g), with dK/dh = phi(h) (4 Phi(x) - 2).
    """
    alpha1, beta1, iA1, h, Ph, ph = (S_i.elem(n) for n in range(6))
    alpha2, beta2, iA2, k, Pk = (S_j.elem(n) for n in range(5))
    r = (R_i | R_j).clamp(-1.0, 1.0)
    sin2 = 0.25 * U_i.sqdist(U_j) * (U_i + U_j).sqnorm2()
    qq = alpha1 * alpha2 + 2.0 * (beta1 * alpha2 + alpha1 * beta2) + 4.0 * beta1 * beta2 * sin2
    q = qq.sqrt()
    x = (k - r * h) / q
    F = kbvn.bvn_cdf(h, k, r, qq, Ph, Pk, quad)
    g = (-0.5 * (x * x + h * h)).exp() / (kbvn.TWO_PI * q)
    dK = ph * (4.0 * kbvn.normal_cdf(x, quad) - 2.0)
    K = 4.0 * F + (1.0 - 2.0 * Ph - 2.0 * Pk)
    P = -2.0 * alpha1 * (h * dK + 4.0 * r * g)
    out = K.concat(P).concat((8.0 * iA1 * iA2 * g) * A_j).concat(math.sqrt(2.0) * iA1 * dK)
    return out.factorize(F).factorize(g).factorize(dK).factorize(r).factorize(q)


_BIAS_REDUCTIONS: dict = {}


def _bias_reduction(name_, d, dtype):
    """The KeOps reduction sum_j W_j [K, P, Q a_j, D]_ij of relu_bias / erf_bias, built
    from symbolic variables once per (kernel, d, dtype) and kept, so that a call only
    passes arrays (pykeops would otherwise re-process the long formula string each call).
    Arguments: W_j, then the leaves of :func:`_relu_bias_leaves` (S_i, U_i, S_j, U_j, a_j)
    or :func:`_erf_bias_leaves` (S_i, R_i, U_i, S_j, R_j, U_j, a_j), then the quadrature."""
    key = (name_, d, np.dtype(dtype).str)
    if key not in _BIAS_REDUCTIONS:
        if name_ == "relu_bias":
            dims = ((1, 1), (0, 8), (0, d), (1, 7), (1, d), (1, d))
        else:
            dims = ((1, 1), (0, 6), (0, d), (0, d), (1, 5), (1, d), (1, d), (1, d))
        W_j, *args = (LazyTensor((n, dim, cat)) for n, (cat, dim) in enumerate(dims))
        quad = kbvn.Quad(dtype, len(dims))
        if name_ == "relu_bias":
            body = _relu_bias_formula(*args, RHO_SNAP, quad)
        else:
            body = _erf_bias_formula(*args, quad)
        _BIAS_REDUCTIONS[key] = ((W_j * body).sum(axis=1), quad.arrays())
    return _BIAS_REDUCTIONS[key]


def _bias_pair_reduce(kernel, layout, w_t, w_s, q_s, with_value, dtype):
    """The pair reduction of relu_bias / erf_bias in KeOps (one reduction per output)."""
    c_t, a_t, b_t = layout.unpack(np.asarray(w_t, dtype=np.float64))
    c_s, a_s, b_s = layout.unpack(np.asarray(w_s, dtype=np.float64))
    s_s = c_s * np.asarray(q_s, dtype=np.float64)[:, None]
    d = layout.d
    if kernel.name == "relu_bias":
        (S1, U1), (S2, U2) = _relu_bias_leaves(a_t, b_t), _relu_bias_leaves(a_s, b_s)
        leaves = [S1, U1, S2[:, :7], U2, a_s]
    else:
        (S1, R1, U1), (S2, R2, U2) = _erf_bias_leaves(a_t, b_t), _erf_bias_leaves(a_s, b_s)
        leaves = [S1, R1, U1, S2[:, :5], R2, U2, a_s]
    red, params = _bias_reduction(kernel.name, d, dtype)
    leaves = [np.ascontiguousarray(x, dtype=dtype) for x in leaves]
    grad = np.zeros((len(a_t), layout.p))
    value = np.zeros(len(a_t)) if with_value else None
    for l in range(layout.k):
        W = np.ascontiguousarray(s_s[:, l, None], dtype=dtype)
        out = red(W, *leaves, *params).astype(np.float64)
        grad[:, l] = out[:, 0]
        grad[:, layout.a] += c_t[:, l, None] * (out[:, 1, None] * a_t + out[:, 2:2 + d])
        grad[:, layout.b.start] += c_t[:, l] * out[:, 2 + d]
        if with_value:
            value += c_t[:, l] * out[:, 0]
    grad = (kernel.scale * grad).astype(dtype)
    return grad, (None if value is None else (kernel.scale * value).astype(dtype))


def pair_reduce(kernel, layout, w_t, w_s, q_s, with_value=False):
    """Return (grad (m_t, p), value (m_t,) or None) of the pair reduction (theory §1-2).

    Same contract as :func:`meanfield.backends.numpy.pair_reduce`: per target i,
    value_i = sum_j q_j (c_i . c_j) K_ij and grad_i = (sum_j q_j c_j K_ij,
    sum_j e_ij (P_ij a_i + Q_ij a_j), sum_j e_ij D_ij) with e_ij = q_j c_i . c_j.
    relu, erf, relu_bias and erf_bias run in KeOps; linear, mixed (ReLU with a smooth
    activation) and quadrature kernels as described in the module docstring (Numba).
    """
    _configure()
    if kernel.name.startswith("linear"):
        return linear_pair_reduce(kernel, layout, w_t, w_s, q_s, with_value)
    dtype = np.result_type(w_t, w_s)
    if kernel.name in ("relu_bias", "erf_bias"):
        return _bias_pair_reduce(kernel, layout, w_t, w_s, q_s, with_value, dtype)
    if kernel.name not in ("relu", "erf"):  # quadrature and mixed kernels: Numba
        from ..numba import backend as _numba

        return _numba.pair_reduce(kernel, layout, w_t, w_s, q_s, with_value)
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


def pair_reduce_batch(kernel, layout, w_t, w_s, q_s, with_value=False):
    """The pair reductions of S systems (w_t (S, m_t, p), w_s (S, m_s, p), q_s (S, m_s))
    in one KeOps launch per output column: the member axis is a KeOps batch dimension
    (relu and erf; the bias kernels, linear and quadrature run member by member)."""
    _configure()
    w_t, w_s, q_s = np.asarray(w_t), np.asarray(w_s), np.asarray(q_s)
    if kernel.name not in ("relu", "erf"):
        out = [pair_reduce(kernel, layout, w_t[s], w_s[s], q_s[s], with_value)
               for s in range(len(w_t))]
        return (np.stack([g for g, _ in out]),
                np.stack([v for _, v in out]) if with_value else None)
    dtype = np.result_type(w_t, w_s)
    k, d = layout.k, layout.d
    c_t, a_t = np.asarray(w_t[..., :k], dtype=dtype), np.asarray(w_t[..., k:k + d], dtype)
    c_s, a_s = np.asarray(w_s[..., :k], dtype=dtype), np.asarray(w_s[..., k:k + d], dtype)
    s_s = c_s * np.asarray(q_s, dtype=dtype)[..., None]
    sel = LazyTensor(np.array([1.0 if kernel.name == "relu" else -1.0], dtype=dtype))
    A_i = LazyTensor(np.ascontiguousarray(a_t)[:, :, None, :])
    A_j = LazyTensor(np.ascontiguousarray(a_s)[:, None, :, :])
    grad = np.zeros(w_t.shape[:2] + (layout.p,), dtype=dtype)
    value = np.zeros(w_t.shape[:2], dtype=dtype) if with_value else None
    for l in range(k):
        W_j = LazyTensor(np.ascontiguousarray(s_s[..., l])[:, None, :, None])
        out = _pair_formula(sel, A_i, A_j, W_j, _snap(dtype)).sum(axis=2)
        grad[..., l] = out[..., 0]
        grad[..., k:k + d] += c_t[..., l, None] * (out[..., 1, None] * a_t + out[..., 2:2 + d])
        if with_value:
            value += c_t[..., l] * out[..., 0]
    grad *= kernel.scale
    return grad, (None if value is None else kernel.scale * value)


# --------------------------------------------------------------------------- data
def _reference_for_polynomials(fn):
    """Data reductions of an activation KeOps has no formula for (a polynomial
    "hermite[...]") go to the NumPy reference, as the Numba backend's do."""
    @functools.wraps(fn)
    def reduce(activation, *args):
        if activation.name not in _CHEAP + _SMOOTH:
            return getattr(_reference, fn.__name__)(activation, *args)
        return fn(activation, *args)
    return reduce


def _bias(layout, w, dtype):
    b = layout.unpack(w)[2]
    return np.zeros(len(w), dtype=dtype) if b is None else np.ascontiguousarray(b, dtype=dtype)


@_reference_for_polynomials
def forward(activation, layout, w, q, X):
    """f(x_n) = sum_i q_i c_i sigma(a_i . x_n + b_i), shape (n, k) (theory §1)."""
    _configure()
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


@_reference_for_polynomials
def data_grad(activation, layout, w, X, R):
    """grad_i = sum_n grad_{w_i}[c_i . R_n sigma(a_i . x_n + b_i)], shape (m, p)."""
    _configure()
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


@_reference_for_polynomials
def forward_batch(activation, layout, w, q, X):
    """Outputs (S, n, k) of S networks (w (S, m, p), q (S, m)) on X (n, d) shared or
    (S, n, d), the member axis a KeOps batch dimension."""
    _configure()
    dtype = np.result_type(w, X)
    w = np.asarray(w, dtype=dtype)
    X3 = np.asarray(X, dtype=dtype)
    X3 = np.broadcast_to(X3[None] if X3.ndim == 2 else X3, (len(w),) + X3.shape[-2:])
    k, d = layout.k, layout.d
    cq = w[..., :k] * np.asarray(q, dtype=dtype)[..., None]
    names = _family(activation.name)
    sel = _one_hot(names, activation.name, dtype)
    X_i = LazyTensor(np.ascontiguousarray(X3)[:, :, None, :])
    A_j = LazyTensor(np.ascontiguousarray(w[..., k:k + d])[:, None, :, :])
    b = w[..., k + d] if layout.bias else np.zeros(w.shape[:2], dtype=dtype)
    B_j = LazyTensor(np.ascontiguousarray(b)[:, None, :, None])
    f, _ = _select(names, sel, (X_i | A_j) + B_j)
    out = np.empty(X3.shape[:2] + (k,), dtype=dtype)
    for l in range(k):
        W_j = LazyTensor(np.ascontiguousarray(cq[..., l])[:, None, :, None])
        out[..., l] = (W_j * f).sum(axis=2)[..., 0]
    return out


def data_grad_batch(activation, layout, w, X, R):
    """:func:`data_grad` of S networks on X (n, d) shared or (S, n, d) with residuals R
    (S, n, k), the member axis a KeOps batch dimension."""
    _configure()
    dtype = np.result_type(w, X, R)
    w = np.asarray(w, dtype=dtype)
    X3 = np.asarray(X, dtype=dtype)
    X3 = np.broadcast_to(X3[None] if X3.ndim == 2 else X3, (len(w),) + X3.shape[-2:])
    R = np.asarray(R, dtype=dtype)
    k, d = layout.k, layout.d
    c = w[..., :k]
    names = _family(activation.name)
    sel = _one_hot(names, activation.name, dtype)
    A_i = LazyTensor(np.ascontiguousarray(w[..., k:k + d])[:, :, None, :])
    b = w[..., k + d] if layout.bias else np.zeros(w.shape[:2], dtype=dtype)
    B_i = LazyTensor(np.ascontiguousarray(b)[:, :, None, None])
    X_j = LazyTensor(np.ascontiguousarray(X3)[:, None, :, :])
    f, df = _select(names, sel, (A_i | X_j) + B_i)
    grad = np.zeros(w.shape[:2] + (layout.p,), dtype=dtype)
    for l in range(k):
        rho = LazyTensor(np.ascontiguousarray(R[..., l])[:, None, :, None])
        out = ((rho * f).concat((rho * df) * X_j).concat(rho * df)).sum(axis=2)
        grad[..., l] = out[..., 0]
        grad[..., k:k + d] += c[..., l, None] * out[..., 1:1 + d]
        if layout.bias:
            grad[..., k + d] += c[..., l] * out[..., 1 + d]
    return grad


@_reference_for_polynomials
def forward_and_grad_batch(activation, layout, w, q, m_grad, X, residual):
    """(f (S, n, k), grad (S, m_grad, p)) of S networks: one batched forward launch, the
    residuals, one batched gradient launch (see the NumPy reference)."""
    f = forward_batch(activation, layout, w, q, X)
    R = residual(f, slice(None), slice(None))
    return f, data_grad_batch(activation, layout, np.asarray(w)[:, :m_grad], X, R)


def warmup(d: int, dtypes=("float64",), activations=("relu",), pair: bool = True,
           bias: bool = False) -> None:
    """Compile (or load from the cache) the formulas used at input dimension d.

    For each dtype in ``dtypes``: the relu/erf pair reduction (if ``pair``), the
    relu_bias/erf_bias pair reductions of the ``activations`` that have one (if also
    ``bias``), and both data reductions of each activation's family, on tiny inputs, so
    that later calls only execute.
    """
    _configure()
    from ...core.activations import get_activation
    from ...kernels.gaussian import pair_kernel
    from ...core.layout import Layout

    layout = Layout(1, d, True)
    for dtype in (np.dtype(t) for t in dtypes):
        w = np.ones((2, layout.p), dtype=dtype)
        q = np.ones(2, dtype=dtype)
        if pair:
            pair_reduce(pair_kernel("relu"), Layout(1, d), w[:, :-1], w[:, :-1], q, True)
            for act in sorted(set(activations) & {"relu", "erf"} if bias else ()):
                pair_reduce(pair_kernel(act, bias=True), layout, w, w, q, True)
        X, R = np.ones((2, d), dtype=dtype), np.ones((2, 1), dtype=dtype)
        for act in activations:
            forward(get_activation(act), layout, w, q, X)
            data_grad(get_activation(act), layout, w, X, R)
