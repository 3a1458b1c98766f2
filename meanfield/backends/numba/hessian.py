"""Numba population Hessian-vector product for relu and erf kernels without bias.

The same operator as :class:`meanfield.objectives.hessian.PopulationHessian` (theory §12),
H = (1/alpha) diag_i(sum_l q_l d11 U(w_i, w_l)) + (1/m) [d12 U(w_i, w_j)]_ij, applied to v
in one fused pass: for each target i (parallel) and each source l, the pair scalars
a_i.a_l, a_l.v_i, a_i.v_l, the first and second kernel derivatives
(:mod:`meanfield.kernels.hessians`) and the accumulation of (H v)_i are computed in
registers, so nothing of size m x m is stored and a product costs O(m^2 (d + k)).
Kernel arithmetic is float64; the first derivatives reproduce
:func:`meanfield.kernels.gaussian.relu_kernel` (same snap of the correlation) and
:func:`meanfield.kernels.gaussian.erf_kernel`.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ...kernels.bivariate import RHO_SNAP
from ...kernels.hessians import Q2_SNAP, Q_FLOOR
from ..tuning import current as tuning
from .common import JIT_OPTIONS, twin

RELU, ERF = 0, 1
KINDS = {"relu": RELU, "erf": ERF}
_INV_2PI = 1.0 / (2.0 * math.pi)
_PHI0 = 1.0 / math.sqrt(2.0 * math.pi)


@njit(inline="always", **JIT_OPTIONS)
def _sin2(n1, n2, t):
    prod = n1 * n2
    if prod <= 0.0:
        return 1.0
    q2 = min(1.0, max(0.0, 1.0 - t * t / prod))
    return 0.0 if q2 < Q2_SNAP else q2


@njit(inline="always", **JIT_OPTIONS)
def _relu_pair(n1, n2, t):
    """(K, P, Q, Ps, Aaa, Aar, Arr, Aar_s, Wq) of the relu kernel without bias."""
    s1, s2 = math.sqrt(n1), math.sqrt(n2)
    prod = s1 * s2
    cos = 0.0
    if prod > 0.0:
        cos = min(1.0, max(-1.0, t / prod))
        if abs(cos) > 1.0 - RHO_SNAP:
            cos = math.copysign(1.0, cos)
    sin = math.sqrt(max(0.0, 1.0 - cos * cos))
    pt = math.pi - math.acos(cos)
    K = (prod * sin + pt * t) * _INV_2PI
    P = s2 * sin * _INV_2PI / s1 if s1 > 0.0 else 0.0
    Q = pt * _INV_2PI if s1 > 0.0 else 0.0
    Ps = s1 * sin * _INV_2PI / s2 if s2 > 0.0 else 0.0
    q2 = _sin2(n1, n2, t)
    s_c = s2 * math.sqrt(q2)
    s_eff = max(s_c, Q_FLOOR * s2)
    g = _PHI0 / s1 if s1 > 0.0 else 0.0
    M = s_c * _PHI0
    M2 = _PHI0 / s_eff if s_eff > 0.0 else 0.0
    Aaa = -g * M / n1 if s1 > 0.0 else 0.0
    return K, P, Q, Ps, Aaa, 0.0, g * M2, 0.0, g * M2 * q2


@njit(inline="always", **JIT_OPTIONS)
def _erf_pair(n1, n2, t):
    """(K, P, Q, Ps, Aaa, Aar, Arr, Aar_s, Wq) of Williams' erf kernel without bias."""
    A1, A2 = 1.0 + 2.0 * n1, 1.0 + 2.0 * n2
    det = A1 * A2 - 4.0 * t * t
    Q = (4.0 / math.pi) / math.sqrt(det)
    K = (2.0 / math.pi) * math.asin(min(1.0, max(-1.0, 2.0 * t / math.sqrt(A1 * A2))))
    P = -2.0 * t * Q / A1
    Ps = -2.0 * t * Q / A2
    F22 = 4.0 * t * Q / det
    F31 = -2.0 * A2 * Q / det
    F13 = -2.0 * A1 * Q / det
    F40 = -2.0 * t * F31 / A1 + 8.0 * t * Q / (A1 * A1)
    lam = t / n1 if n1 > 0.0 else 0.0
    lam_s = t / n2 if n2 > 0.0 else 0.0
    Aaa = F40 + 2.0 * lam * F31 + lam * lam * F22
    return (K, P, Q, Ps, Aaa, F31 + lam * F22, F22, F13 + lam_s * F22,
            F22 * _sin2(n1, n2, t))


def _hvp(kind, scale, alpha, c, a, n_t, cs, as_, n_s, qs, vc, va, out_c, out_a):
    """(H v)_i for the students i (the first m sources are the students themselves)."""
    m, k = c.shape
    d = a.shape[1]
    ms = as_.shape[0]
    beta_s = np.empty(m)
    for j in range(m):
        acc = 0.0
        for x in range(d):
            acc += a[j, x] * va[j, x]
        beta_s[j] = acc
    inv_m = 1.0 / m
    inv_alpha = 1.0 / alpha
    for i in prange(m):
        acc_c = np.zeros(k)
        acc_a = np.zeros(d)
        al = beta_s[i]
        n1 = n_t[i]
        coef_i = 0.0
        coef_v = 0.0
        for l in range(ms):
            t = 0.0
            be = 0.0
            for x in range(d):
                t += a[i, x] * as_[l, x]
                be += as_[l, x] * va[i, x]
            if l == i:
                t = n1
            n2 = n_s[l]
            if kind == RELU:
                K, P, Q, Ps, Aaa, Aar, Arr, Aar_s, Wq = _relu_pair(n1, n2, t)
            else:
                K, P, Q, Ps, Aaa, Aar, Arr, Aar_s, Wq = _erf_pair(n1, n2, t)
            K, P, Q, Ps = scale * K, scale * P, scale * Q, scale * Ps
            Aaa, Aar, Arr, Aar_s, Wq = (scale * Aaa, scale * Aar, scale * Arr, scale * Aar_s,
                                        scale * Wq)
            lam = t / n1 if n1 > 0.0 else 0.0
            q = qs[l]
            cc = 0.0
            cv = 0.0
            for o in range(k):
                cc += c[i, o] * cs[l, o]
                cv += cs[l, o] * vc[i, o]
            e = q * cc
            ga = q * cv
            # first-argument Hessian, weighted by q_l, divided by alpha
            rv = be - lam * al
            rc = e * (Aar * al + Arr * rv)
            coef_i += (ga * P + e * (Aaa * al + Aar * rv) - lam * rc) * inv_alpha
            coef_v += e * P * inv_alpha
            wl = (ga * Q + rc) * inv_alpha
            wc = q * (P * al + Q * be) * inv_alpha
            for o in range(k):
                acc_c[o] += wc * cs[l, o]
            for x in range(d):
                acc_a[x] += wl * as_[l, x]
            if l < m:  # mixed derivative with student j = l, divided by m
                lam_s = t / n2 if n2 > 0.0 else 0.0
                al2 = 0.0
                for x in range(d):
                    al2 += a[i, x] * va[l, x]
                ka = 0.0
                for o in range(k):
                    ka += c[i, o] * vc[l, o]
                be2 = beta_s[l]
                rv2 = be2 - lam * al2
                rc2 = cc * (Wq * al2 - lam_s * Arr * rv2)
                coef_i += (ka * P + cc * (Aar * al2 + Wq * lam * al2 + Wq * rv2)
                           - lam * rc2) * inv_m
                wj = (ka * Q + cc * Aar_s * be2 + rc2) * inv_m
                wv = cc * Q * inv_m
                wcj = (Ps * be2 + Q * al2) * inv_m
                for o in range(k):
                    acc_c[o] += K * inv_m * vc[l, o] + wcj * cs[l, o]
                for x in range(d):
                    acc_a[x] += wj * as_[l, x] + wv * va[l, x]
        for o in range(k):
            out_c[i, o] = acc_c[o]
        for x in range(d):
            out_a[i, x] = acc_a[x] + coef_i * a[i, x] + coef_v * va[i, x]


_HVP = twin(_hvp)


def population_hvp(op, v) -> np.ndarray:
    """H v for a :class:`meanfield.objectives.hessian.PopulationHessian` without bias, v (m, p)."""
    lay = op.layout
    vc = np.ascontiguousarray(v[:, lay.c])
    va = np.ascontiguousarray(v[:, lay.a])
    out = np.empty_like(v)
    out_c = np.empty_like(vc)
    out_a = np.empty_like(va)
    pairs = op.m * len(op.ws)
    kernel = _HVP[0] if pairs >= tuning().hvp_parallel_min_pairs else _HVP[1]
    kernel(KINDS[op.kernel.name], float(op.kernel.scale), float(op.alpha),
         np.ascontiguousarray(op.c), np.ascontiguousarray(op.a), op.n_t,
         np.ascontiguousarray(op.cs), np.ascontiguousarray(op.as_), op.n_s, op.qs,
         vc, va, out_c, out_a)
    out[:, lay.c] = out_c
    out[:, lay.a] = out_a
    return out
