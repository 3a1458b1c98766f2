"""Second derivatives of the Gaussian pair kernels K(w, w') (theory §2.1-2.3, §12).

The pair kernel K = E[sigma(u) sigma(v)], u = a.x + b, v = a'.x + b', x ~ N(0, I_d), is a
function of the pair scalars n1 = |a|^2, n2 = |a'|^2, t = a.a', b1 = b, b2 = b'. Write
F_ij = E[sigma^(i)(u) sigma^(j)(v)]. Gaussian integration by parts (Stein's lemma) gives
d/db1 F_ij = F_(i+1)j, d/dt F_ij = F_(i+1)(j+1), d/dn1 F_ij = F_(i+2)j / 2, so that
grad_a F_ij = F_(i+2)j a + F_(i+1)(j+1) a'. The first derivatives are those of
:mod:`meanfield.kernels.gaussian` (P = F20, Q = F11, D = F10); differentiating once more,

    Hessian in (a, b) of the first argument:
        d2K/da da  = P I + F40 a a^T + F31 (a a'^T + a' a^T) + F22 a' a'^T
        d2K/da db  = F30 a + F21 a',      d2K/db db = P
    mixed (rows: a, b of the first argument; columns: a', b' of the second):
        d2K/da da' = Q I + F31 a a^T + F22 (a a'^T + a' a^T) + F13 a' a'^T
        d2K/da db' = d2K/db da' = F21 a + F12 a',      d2K/db db' = Q.

For relu, F22 = E[delta(u) delta(v)] is the density of (u, v) at 0, which diverges like
1/sin(theta) when the two neurons become parallel; F31 and F40 diverge with it. The
divergent parts cancel: with lam = t/n1 and r = a' - lam a (the part of a' orthogonal to
a, |r| = |a'| sin theta) the same matrices read

    d2K/da da  = P I + Aaa a a^T + Aar (a r^T + r a^T) + Arr r r^T
    d2K/da db  = Ba a + F21 r
    d2K/da da' = Q I + Aar a a^T + Aar' a' a'^T + Wq (lam a a^T + a r^T + r a^T)
                 - lam' Arr r r^T
with Aaa = F40 + 2 lam F31 + lam^2 F22, Aar = F31 + lam F22, Arr = F22, Ba = F30 + lam F21,
Wq = F22 sin^2(theta), lam' = t/n2 and Aar' the Aar of the swapped pair. Every term is
bounded (Arr r r^T = O(sin theta)), and this is the form computed here.

relu, through the law of v given u = 0 (mean mu = b' - lam b, std s_c = |r|): with
g = phi(b/|a|)/|a| the density of u at 0, g' and g'' its derivatives in b, and
M = E[v+ | u = 0], M' = P(v > 0 | u = 0), M'' = density of v at 0 given u = 0,

    Aaa = g'' M,  Aar = g' M',  Arr = g M'',  Ba = g' M,  F21 = g M',  Wq = g M'' sin^2.

The relu kernel is twice continuously differentiable except where |a| = 0 and, with a
bias, on coincident hyperplanes. What is returned there:

* parallel or antiparallel input weights (1 - cos^2(theta) < Q2_SNAP): the limit
  sin(theta) -> 0 (Arr r r^T and Wq vanish); this limit is the true second derivative
  without bias (K is C^2 at theta = 0, pi: K - a.a'/2 = O(theta^3)). The conditional std
  s_c is floored at Q_FLOOR |a'| inside M, M', M'', so that P(v > 0 | u = 0) is 1/2 on
  coincident hyperplanes (mu = 0). That is the symmetric value for which the Hessian of
  coincident neurons is continuous (the two conditional probabilities that multiply
  the same matrix sum to 1).
* |a| = 0: the density g is taken as 0 (exact in the limit when b != 0; a convention at
  a = 0, b = 0, where relu kernels are not differentiable).

erf: F11 = (4/pi) det(I + 2S)^(-1/2) exp(-mu^T (I + 2S)^(-1) mu) with S the covariance
and mu = (b, b') of (u, v) (Williams' kernel and its biased form, theory §2.2-2.3), so
F21, F22, F31 are its derivatives; F30 and F40 are b-derivatives of P, taken in
h = sqrt2 b / sqrt(1 + 2|a|^2). linear: only Q = 1 (and d2K/db db' = 1 with a bias).

tanh, sigmoid, softplus and polynomial activations paired with themselves: nothing
diverges, every F_ij is a 2-D Gaussian integral of derivatives of sigma, computed by
:mod:`meanfield.kernels.smooth_hessians` (to the kernel's ``tol``, or exactly by
Gauss-Hermite for polynomials), and Wq = F22 (1 - lam lam') with no snapping.

Every quantity is multiplied by the kernel's ``scale`` (1/d for sphere inputs).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import ndtr

from . import smooth_hessians as _smooth
from .bivariate import normal_pdf
from .gaussian import PairKernel

#: 1 - cos^2(theta) below this counts as parallel (rounding of |a|^2 |a'|^2 - (a.a')^2)
Q2_SNAP = 1e-14
#: floor on the conditional std of v given u = 0, relative to |a'| (relu)
Q_FLOOR = 1e-7

SUPPORTED = ("relu", "relu_bias", "erf", "erf_bias", "linear", "linear_bias")


class SecondOrder(NamedTuple):
    """Pair-kernel derivatives on broadcast pair scalars (see the module docstring).

    K, P, Q, D: the kernel and grad_a K = P a + Q a', dK/db = D. Ps, Ds: the same for the
    second argument, grad_a' K = Ps a' + Q a, dK/db' = Ds. lam = t/n1, lam_s = t/n2.
    Aaa, Aar, Arr, Ba, F21: first-argument Hessian; Aar_s, F12, Wq: mixed Hessian.
    """

    K: np.ndarray
    P: np.ndarray
    Q: np.ndarray
    D: np.ndarray
    Ps: np.ndarray
    Ds: np.ndarray
    lam: np.ndarray
    lam_s: np.ndarray
    Aaa: np.ndarray
    Aar: np.ndarray
    Arr: np.ndarray
    Ba: np.ndarray
    F21: np.ndarray
    Aar_s: np.ndarray
    F12: np.ndarray
    Wq: np.ndarray


def _ratio(num, den):
    """num/den, and 0 where den = 0."""
    ok = den != 0
    return np.where(ok, num / np.where(ok, den, 1.0), 0.0)


def sin2(n1, n2, t):
    """1 - cos^2(theta) = 1 - t^2/(n1 n2), clipped to [0, 1], 0 below Q2_SNAP, 1 when a
    norm vanishes."""
    prod = n1 * n2
    q2 = np.clip(1.0 - _ratio(t * t, prod), 0.0, 1.0)
    q2 = np.where(prod > 0, q2, 1.0)
    return np.where(q2 < Q2_SNAP, 0.0, q2)


def _relu_half(n1, n2, t, b1, b2):
    """(Aaa, Aar, Arr, Ba, F21, Wq) of the relu kernel, from the law of v given u = 0."""
    s1, s2 = np.sqrt(n1), np.sqrt(n2)
    alive = s1 > 0
    h = _ratio(b1, s1)
    g = _ratio(normal_pdf(h), s1)                      # density of u at 0
    g1 = -_ratio(h * g, s1)                            # d/db of it
    g2 = _ratio((h * h - 1.0) * g, n1)                 # d2/db2 of it
    lam = np.where(alive, _ratio(t, n1), 0.0)
    q2 = sin2(n1, n2, t)
    s_c = s2 * np.sqrt(q2)
    s_eff = np.maximum(s_c, Q_FLOOR * s2)
    mu = b2 - lam * b1
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(s_eff > 0, mu / np.where(s_eff > 0, s_eff, 1.0),
                     np.where(mu == 0, 0.0, np.sign(mu) * np.inf))
    M1 = ndtr(z)
    dens = np.where(np.isfinite(z), normal_pdf(np.where(np.isfinite(z), z, 0.0)), 0.0)
    M = mu * M1 + s_c * dens
    M2 = _ratio(dens, s_eff)
    return g2 * M, g1 * M1, g * M2, g1 * M, g * M1, g * M2 * q2


def _erf_half(n1, n2, t, b1, b2):
    """(Aaa, Aar, Arr, Ba, F21, Wq) of the erf kernel (with or without bias)."""
    A1sq, A2sq = 1.0 + 2.0 * n1, 1.0 + 2.0 * n2
    det = A1sq * A2sq - 4.0 * t * t                    # det(I + 2 S) > 0
    expo = (A2sq * b1 * b1 - 4.0 * t * b1 * b2 + A1sq * b2 * b2) / det
    F11 = (4.0 / np.pi) / np.sqrt(det) * np.exp(-expo)
    u1 = 2.0 * (A2sq * b1 - 2.0 * t * b2) / det        # d expo / d b1
    u2 = 2.0 * (A1sq * b2 - 2.0 * t * b1) / det
    F21 = -u1 * F11
    F22 = F11 * (u1 * u2 + 4.0 * t / det)
    F31 = F11 * (u1 * u1 - 2.0 * A2sq / det)
    # F30, F40: b-derivatives of P = F20; d/db = c1 d/dh with h = sqrt2 b / A1
    A1, A2 = np.sqrt(A1sq), np.sqrt(A2sq)
    c1 = np.sqrt(2.0) / A1
    h, k, r = c1 * b1, np.sqrt(2.0) * b2 / A2, 2.0 * t / (A1 * A2)
    qr = np.sqrt(det) / (A1 * A2)                      # sqrt(1 - r^2)
    kappa = (k - r * h) / qr
    E1 = 2.0 * ndtr(kappa) - 1.0
    pk = normal_pdf(kappa)
    G = (1.0 - h * h) * E1 - 4.0 * h * r * pk / qr + 2.0 * r * r * kappa * pk / qr**2
    dG = (-2.0 * h * E1 - 2.0 * r * (3.0 - h * h) * pk / qr
          - 4.0 * h * r * r * kappa * pk / qr**2 + 2.0 * r**3 * (kappa**2 - 1.0) * pk / qr**3)
    ph = normal_pdf(h)
    F30 = -2.0 * c1**3 * ph * G
    F40 = -2.0 * c1**4 * ph * (dG - h * G)
    lam = _ratio(t, n1)
    return (F40 + 2.0 * lam * F31 + lam * lam * F22, F31 + lam * F22, F22,
            F30 + lam * F21, F21, F22 * sin2(n1, n2, t))


def _linear_half(n1, n2, t, b1, b2):
    zero = np.zeros(np.broadcast(n1, n2, t).shape)
    return (zero,) * 6


_HALVES = {"relu": _relu_half, "erf": _erf_half, "linear": _linear_half}


def has_second_order(kernel: PairKernel) -> bool:
    """Whether :func:`second_order` knows ``kernel``: a closed form (SUPPORTED) or a
    smooth activation paired with itself (:mod:`meanfield.kernels.smooth_hessians`).

    Examples:

        >>> import meanfield as mf
        >>> has_second_order(mf.pair_kernel("erf")), has_second_order(mf.pair_kernel("tanh"))
        (True, True)
        >>> has_second_order(mf.pair_kernel("tanh", "sigmoid"))
        False
    """
    return kernel.name in SUPPORTED or _smooth.applies(kernel)


def second_order(kernel: PairKernel, n1, n2, t, b1=None, b2=None) -> SecondOrder:
    """Derivatives up to order two of the pair kernel ``kernel`` at the pair scalars.

    Closed forms for relu, erf and linear, with or without bias (theory §2.1-2.3, §12):
    see the module docstring for the formulas and for what is returned on the
    measure-zero sets where relu kernels are not twice differentiable. tanh, sigmoid,
    softplus and polynomials paired with themselves: the same formulas with F_ij by
    quadrature (:mod:`meanfield.kernels.smooth_hessians`; theory §2.6, §12.1), where
    Wq = F22 (1 - lam lam_s) exactly.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> square = mf.pair_kernel(mf.hermite_activation([0.0, 0.0, 1.0]))  # z^2 - 1
        >>> so = second_order(square, 1.0, 1.0, 0.0)   # Arr = F22 = E[2 * 2]
        >>> bool(np.allclose([so.Arr, so.Aaa, so.Q], [4.0, 0.0, 0.0]))  # Q = 4 a.a' = 0
        True
    """
    if not has_second_order(kernel):
        raise NotImplementedError(
            f"exact second derivatives exist for {', '.join(SUPPORTED)} kernels and for "
            f"a {', '.join(_smooth.SMOOTH)} or polynomial activation paired with itself, "
            f"not for {kernel.name!r} ({kernel.activation.name} x "
            f"{kernel.source_activation.name})")
    n1, n2, t = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (n1, n2, t)))
    zeros = np.zeros(n1.shape)
    b1 = zeros if b1 is None else np.broadcast_to(np.asarray(b1, dtype=np.float64), n1.shape)
    b2 = zeros if b2 is None else np.broadcast_to(np.asarray(b2, dtype=np.float64), n1.shape)
    kb1, kb2 = (b1, b2) if kernel.bias else (None, None)
    K, P, Q, D = kernel(n1, n2, t, kb1, kb2)
    _, Ps, _, Ds = kernel(n2, n1, t, kb2, kb1)
    lam = np.where(n1 > 0, _ratio(t, n1), 0.0)
    lam_s = np.where(n2 > 0, _ratio(t, n2), 0.0)
    if kernel.name in SUPPORTED:
        half = _HALVES[kernel.activation.name]
        Aaa, Aar, Arr, Ba, F21, Wq = (kernel.scale * x for x in half(n1, n2, t, b1, b2))
        _, Aar_s, _, _, F12, _ = (kernel.scale * x for x in half(n2, n1, t, b2, b1))
    else:
        F40, F31, F22, F13, F30, F21, F12 = kernel.scale * _smooth.smooth_moments(
            kernel, n1, n2, t, kb1, kb2)
        Aaa, Aar, Arr = F40 + 2.0 * lam * F31 + lam * lam * F22, F31 + lam * F22, F22
        Ba, Aar_s, Wq = F30 + lam * F21, F13 + lam_s * F22, F22 * (1.0 - lam * lam_s)
    return SecondOrder(K, P, Q, D, Ps, Ds, lam, lam_s, Aaa, Aar, Arr, Ba, F21, Aar_s, F12, Wq)


def pair_hessians(kernel: PairKernel, a1, a2, b1=None, b2=None):
    """Dense second derivatives of K for a batch of pairs (theory §12).

    a1, a2 have shape (N, d) and b1, b2 shape (N,) (or None without bias). Returns
    (H11, H12), each (N, e, e) with e = d + bias, over the coordinates (a, b): H11 is the
    Hessian in the first argument, H12[n, i, j] = d2K / d(a1, b1)_i d(a2, b2)_j.
    """
    a1, a2 = np.asarray(a1, dtype=np.float64), np.asarray(a2, dtype=np.float64)
    n1, n2 = np.einsum("nd,nd->n", a1, a1), np.einsum("nd,nd->n", a2, a2)
    t = np.einsum("nd,nd->n", a1, a2)
    so = second_order(kernel, n1, n2, t, b1, b2)
    d = a1.shape[1]
    e = d + int(kernel.bias)
    r = a2 - so.lam[:, None] * a1
    eye = np.eye(d)
    H11 = np.zeros((len(a1), e, e))
    H12 = np.zeros((len(a1), e, e))
    H11[:, :d, :d] = (so.P[:, None, None] * eye + _outer(so.Aaa, a1, a1)
                      + _outer(so.Aar, a1, r) + _outer(so.Aar, r, a1) + _outer(so.Arr, r, r))
    H12[:, :d, :d] = (so.Q[:, None, None] * eye + _outer(so.Aar, a1, a1)
                      + _outer(so.Aar_s, a2, a2)
                      + _outer(so.Wq * so.lam, a1, a1) + _outer(so.Wq, a1, r)
                      + _outer(so.Wq, r, a1) - _outer(so.lam_s * so.Arr, r, r))
    if kernel.bias:
        H11[:, :d, d] = H11[:, d, :d] = so.Ba[:, None] * a1 + so.F21[:, None] * r
        H11[:, d, d] = so.P
        H12[:, :d, d] = H12[:, d, :d] = so.F21[:, None] * a1 + so.F12[:, None] * a2
        H12[:, d, d] = so.Q
    return H11, H12


def _outer(coef, x, y):
    return coef[:, None, None] * x[:, :, None] * y[:, None, :]
