"""Scalar building blocks of the Numba backend, compiled with ``@njit(cache=True)``.

Everything here is a function of a few float64 scalars, so the reductions of
:mod:`meanfield.backends.numba.backend` can fuse it into their loops:

* ``acos_`` / ``asin_``: branch-free fdlibm rational approximations (|error| ~ 1 ulp),
  written with selects so that LLVM can vectorise the loops that call them (this
  machine's Numba has no SVML, so ``math.acos`` would stay scalar);
* ``ndtr``, Owen's ``owens_t`` and the bivariate normal CDF ``bvn_cdf`` (theory §2.3):
  T(h, a) = (1/2 pi) int_0^a exp(-h^2 (1 + x^2)/2)/(1 + x^2) dx by 16-node
  Gauss-Legendre for |a| <= 1 (the integrand is analytic in a wide ellipse and carries
  the factor exp(-h^2/2), so the absolute error is below 1e-16 for every h), and for
  |a| > 1 the identity T(h, a) = (Q(h) + Q(ah))/2 - Q(h) Q(ah) - T(ah, 1/a), Q = 1 - Phi;
* the closed-form pair kernels ``relu_bias`` and ``erf_bias`` returning (K, P, Q, D),
  line-by-line ports of :mod:`meanfield.kernels.gaussian` (same degenerate branches, same snap);
* the activations ``act`` / ``dact`` by integer id (relu'(0) = 0).
"""
from __future__ import annotations

import math

from numba import njit
from numpy.polynomial.legendre import leggauss

from ...kernels.bivariate import RHO_SNAP

#: integer ids of the closed-form pair kernels
RELU, RELU_BIAS, ERF, ERF_BIAS = 0, 1, 2, 3
KERNEL_IDS = {"relu": RELU, "relu_bias": RELU_BIAS, "erf": ERF, "erf_bias": ERF_BIAS}
#: integer ids of the activations of the data reductions
ACT_IDS = {"relu": 0, "erf": 1, "sigmoid": 2, "tanh": 3, "softplus": 4, "linear": 5}

PI = math.pi
HALF_PI = 0.5 * math.pi
INV_2PI = 1.0 / (2.0 * math.pi)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
SQRT1_2 = math.sqrt(0.5)
SQRT2 = math.sqrt(2.0)
TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
SNAP = 1.0 - RHO_SNAP

_GL_U, _GL_W = leggauss(16)
GL_X = 0.5 * (1.0 + _GL_U)  # nodes on [0, 1]
GL_W = 0.5 * _GL_W

_PS0, _PS1 = 1.66666666666666657415e-01, -3.25565818622400915405e-01
_PS2, _PS3 = 2.01212532134862925881e-01, -4.00555345006794114027e-02
_PS4, _PS5 = 7.91534994289814532176e-04, 3.47933107596021167570e-05
_QS1, _QS2 = -2.40339491173441421878e+00, 2.02094576023350569471e+00
_QS3, _QS4 = -6.88283971605453293030e-01, 7.70381505559019352791e-02

_FM = {"contract", "arcp"}


@njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _asin_parts(x):
    """(big, s + s R(z)) with asin|x| = pi/2 - 2 (s + s R) if big else s + s R (fdlibm)."""
    ax = abs(x)
    big = ax > 0.5
    z = (1.0 - ax) * 0.5 if big else ax * ax
    s = math.sqrt(z) if big else ax
    p = z * (_PS0 + z * (_PS1 + z * (_PS2 + z * (_PS3 + z * (_PS4 + z * _PS5)))))
    q = 1.0 + z * (_QS1 + z * (_QS2 + z * (_QS3 + z * _QS4)))
    return big, s + s * (p / q)


@njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def acos_(x):
    """arccos(x) for x in [-1, 1], to about 1 ulp."""
    big, r = _asin_parts(x)
    if big:
        return 2.0 * r if x > 0 else PI - 2.0 * r
    return HALF_PI - math.copysign(r, x)


@njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def asin_(x):
    """arcsin(x) for x in [-1, 1], to about 1 ulp."""
    big, r = _asin_parts(x)
    return math.copysign(HALF_PI - 2.0 * r if big else r, x)


@njit(cache=True, error_model="numpy")
def ndtr(x):
    """Phi(x), the standard normal CDF (scipy's ndtr algorithm through erf/erfc)."""
    z = x * SQRT1_2
    if abs(z) < SQRT1_2:
        return 0.5 + 0.5 * math.erf(z)
    y = 0.5 * math.erfc(abs(z))
    return 1.0 - y if z > 0 else y


@njit(cache=True, error_model="numpy")
def normal_pdf(x):
    """phi(x) = exp(-x^2/2)/sqrt(2 pi)."""
    return INV_SQRT_2PI * math.exp(-0.5 * x * x)


@njit(cache=True, error_model="numpy")
def _owen_gl(h, a):
    """(1/2 pi) int_0^a exp(-h^2 (1 + x^2)/2)/(1 + x^2) dx for 0 <= a <= 1."""
    hh = -0.5 * h * h
    acc = 0.0
    for n in range(GL_X.shape[0]):
        x = a * GL_X[n]
        y = 1.0 + x * x
        acc += GL_W[n] * math.exp(hh * y) / y
    return acc * a * INV_2PI


@njit(cache=True, error_model="numpy")
def owens_t(h, a):
    """Owen's T function T(h, a); a may be +-inf (then T = sign(a)/4 needs h = 0)."""
    if a == 0.0 or math.isnan(a):
        return 0.0 if a == 0.0 else math.nan
    sign = 1.0 if a > 0 else -1.0
    h, a = abs(h), abs(a)
    if math.isinf(a):
        return sign * math.atan(a) * INV_2PI
    if a <= 1.0:
        return sign * _owen_gl(h, a)
    qh, qah = ndtr(-h), ndtr(-a * h)
    return sign * (0.5 * (qh + qah) - qh * qah - _owen_gl(a * h, 1.0 / a))


@njit(cache=True, error_model="numpy")
def _owen_slope(num, h, q):
    if h != 0.0:
        return num / (h * q)
    if num == 0.0:
        return math.nan
    return math.copysign(math.inf, num)


@njit(cache=True, error_model="numpy")
def bvn_cdf(h, k, rho):
    """Phi_2(h, k; rho) by Owen's formula, as :func:`meanfield.kernels.gaussian.bvn_cdf`."""
    rho = min(1.0, max(-1.0, rho))
    q = math.sqrt(max(0.0, 1.0 - rho * rho))
    if q > 0:
        if h == 0.0 and k == 0.0:
            out = 0.25 + math.asin(rho) * INV_2PI
        else:
            a_h = _owen_slope(k - rho * h, h, q)
            a_k = _owen_slope(h - rho * k, k, q)
            beta = 0.5 if (h * k < 0 or (h * k == 0 and h + k < 0)) else 0.0
            out = 0.5 * (ndtr(h) + ndtr(k)) - owens_t(h, a_h) - owens_t(k, a_k) - beta
    elif rho > 0:
        out = ndtr(min(h, k))
    else:
        out = max(0.0, ndtr(h) + ndtr(k) - 1.0)
    return min(1.0, max(0.0, out))


@njit(cache=True, error_model="numpy")
def snap(rho):
    """Clip to [-1, 1] and snap |rho| > 1 - RHO_SNAP to +-1 (gaussian.snap_correlation)."""
    rho = min(1.0, max(-1.0, rho))
    return math.copysign(1.0, rho) if abs(rho) > SNAP else rho


@njit(cache=True, error_model="numpy")
def _safe_ratio(num, q):
    if q > 0:
        return num / q
    if num == 0.0:
        return 0.0
    return math.copysign(math.inf, num)


@njit(cache=True, error_model="numpy")
def relu_bias(n1, n2, t, b1, b2):
    """(K, P, Q, D) of E[u+ v+] with biases (theory §2.3; gaussian.relu_bias_kernel)."""
    s1, s2 = math.sqrt(n1), math.sqrt(n2)
    on1, on2 = s1 > 0, s2 > 0
    s1s = s1 if on1 else 1.0
    s2s = s2 if on2 else 1.0
    h, k = b1 / s1s, b2 / s2s
    phi_h, phi_k = normal_pdf(h), normal_pdf(k)
    relu_b2 = max(b2, 0.0)
    step_b1 = 1.0 if b1 > 0 else 0.0
    step_b2 = 1.0 if b2 > 0 else 0.0
    if not on1:
        mean_v = b2 * ndtr(k) + s2 * phi_k
        K = max(b1, 0.0) * (mean_v if on2 else relu_b2)
        Q = step_b1 * (ndtr(k) if on2 else step_b2)
        D = step_b1 * (mean_v if on2 else relu_b2)
        return K, 0.0, Q, D
    if not on2:
        return relu_b2 * (b1 * ndtr(h) + s1 * phi_h), relu_b2 * phi_h / s1s, \
            ndtr(h) * step_b2, relu_b2 * ndtr(h)
    rho = snap(t / (s1 * s2))
    q = math.sqrt(max(0.0, 1.0 - rho * rho))
    cond_h = ndtr(_safe_ratio(h - rho * k, q))
    cond_k = ndtr(_safe_ratio(k - rho * h, q))
    F2 = bvn_cdf(h, k, rho)
    tail = 0.0
    if q > 0:
        tail = s1 * s2 * q * normal_pdf(math.sqrt((h * h - 2 * rho * h * k + k * k) / (q * q))) \
            * INV_SQRT_2PI
    K = (b1 * b2 + rho * s1 * s2) * F2 + b1 * s2 * phi_k * cond_h + b2 * s1 * phi_h * cond_k + tail
    D = b2 * F2 + s2 * (phi_k * cond_h + rho * phi_h * cond_k)
    mu_c, s_c = b2 - rho * s2 * h, s2 * q
    if s_c > 0:
        cond_mean = mu_c * ndtr(mu_c / s_c) + s_c * normal_pdf(mu_c / s_c)
    else:
        cond_mean = max(mu_c, 0.0)
    return K, phi_h / s1s * cond_mean, F2, D


@njit(cache=True, error_model="numpy")
def erf_bias(n1, n2, t, b1, b2):
    """(K, P, Q, D) of E[erf(u) erf(v)] with biases (theory §2.3; gaussian.erf_bias_kernel)."""
    A1sq, A2sq = 1.0 + 2.0 * n1, 1.0 + 2.0 * n2
    A1, A2 = math.sqrt(A1sq), math.sqrt(A2sq)
    h, k = SQRT2 * b1 / A1, SQRT2 * b2 / A2
    r = min(1.0, max(-1.0, 2.0 * t / (A1 * A2)))
    q = math.sqrt(max(1.0 - r * r, 1e-300))
    K = 4.0 * bvn_cdf(h, k, r) - 2.0 * ndtr(h) - 2.0 * ndtr(k) + 1.0
    density = math.exp(-0.5 * (h * h - 2.0 * r * h * k + k * k) / (q * q)) / (2.0 * PI * q)
    phi_h = normal_pdf(h)
    dK_dh = 4.0 * phi_h * ndtr((k - r * h) / q) - 2.0 * phi_h
    return K, -2.0 / A1sq * (h * dK_dh + 4.0 * r * density), 8.0 * density / (A1 * A2), \
        SQRT2 / A1 * dK_dh


@njit(cache=True, inline="always", error_model="numpy")
def _sigmoid(z):
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@njit(cache=True, inline="always", error_model="numpy")
def act(kind, z):
    """sigma(z) for the activation id ``kind`` (see ACT_IDS)."""
    if kind == 0:
        return max(z, 0.0)
    if kind == 1:
        return math.erf(z)
    if kind == 2:
        return _sigmoid(z)
    if kind == 3:
        return math.tanh(z)
    if kind == 4:
        return max(z, 0.0) + math.log1p(math.exp(-abs(z)))
    return z


@njit(cache=True, inline="always", error_model="numpy")
def dact(kind, z):
    """sigma'(z) for the activation id ``kind`` (relu'(0) = 0)."""
    if kind == 0:
        return 1.0 if z > 0 else 0.0
    if kind == 1:
        return TWO_OVER_SQRT_PI * math.exp(-z * z)
    if kind == 2:
        s = _sigmoid(z)
        return s * (1.0 - s)
    if kind == 3:
        t = math.tanh(z)
        return 1.0 - t * t
    if kind == 4:
        return _sigmoid(z)
    return 1.0
