"""Numba pair reduction for a ReLU paired with a smooth activation (theory §2.5-2.6).

Line-by-line scalar ports of :mod:`meanfield.kernels.mixed`: the closed forms of ReLU x
erf (bivariate normal CDF by Owen's T, :func:`meanfield.backends.numba.kernels.bvn_cdf`)
and ReLU x linear, and the semi-analytic rule for the other smooth activations: one
nested trapezoid sum over zeta per pair with the step from |a'| and the correlation,
the a posteriori estimate from the steps h, 2h, 4h, refinement by halving, and for
nearly aligned units the split-off step integrated by Gauss-Legendre. Same node plan as
the NumPy reference, so both agree to rounding. The reduction is one fused loop per
target (prange) over the sources: each pair costs a few dozen activation evaluations,
far more than the dot product, so no BLAS tiling is needed.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ...kernels import mixed as mk
from .common import JIT_OPTIONS
from .kernels import (ACT_IDS, INV_SQRT_2PI, PI, SQRT2, TWO_OVER_SQRT_PI, act,
                            bvn_cdf, ndtr, normal_pdf, snap)

#: kernel modes
ERF_MODE, LINEAR_MODE, QUAD_MODE = 0, 1, 2
MODES = {"relu_erf": ERF_MODE, "relu_linear": LINEAR_MODE, "relu_quadrature": QUAD_MODE}
GL_X, GL_STEP_W, GL_RAMP_W = mk.GL_X.copy(), mk.GL_STEP_W.copy(), mk.GL_RAMP_W.copy()
EPS1_MAX, PLAN_FACTOR, MAX_REFINE = mk.EPS1_MAX, mk.PLAN_FACTOR, mk.MAX_REFINE
ERF, LINEAR = ACT_IDS["erf"], ACT_IDS["linear"]
#: strip half-width of each activation by id (meanfield.kernels.mixed.POLE_DISTANCE)
POLES = np.array([mk.POLE_DISTANCE.get(n, 0.5 * PI)
                  for n, _ in sorted(ACT_IDS.items(), key=lambda kv: kv[1])])
_CUT = 9.0  # |x| beyond which Phi(x) is 0 or 1 and phi(x) < 1e-17


@njit(inline="always", **JIT_OPTIONS)
def act3(kind, z):
    """(sigma(z), sigma'(z), sigma''(z)) for the smooth activation id ``kind``, sharing
    one transcendental evaluation (0 derivatives for linear)."""
    if kind == 1:
        e = TWO_OVER_SQRT_PI * math.exp(-z * z)
        return math.erf(z), e, -2.0 * z * e
    if kind == 3:
        t = math.tanh(z)
        return t, 1.0 - t * t, -2.0 * t * (1.0 - t * t)
    if kind == 2 or kind == 4:
        e = math.exp(-abs(z))
        s = 1.0 / (1.0 + e) if z >= 0 else e / (1.0 + e)
        if kind == 2:
            return s, s * (1.0 - s), s * (1.0 - s) * (1.0 - 2.0 * s)
        return max(z, 0.0) + math.log1p(e), s, s * (1.0 - s)
    return z, 1.0, 0.0


@njit(**JIT_OPTIONS)
def _plan(kind, scale, extra, L, span):
    """(step, half) of :func:`meanfield.kernels.mixed.node_plan` for g(m + scale zeta)
    times a weight of Gaussian growth ``extra``."""
    d = POLES[kind] / scale if scale > 0 else math.inf
    gamma = 1.0 + extra + (2.0 * scale * scale if kind == ERF else 0.0)
    Lp = PLAN_FACTOR * L
    if d * d * gamma >= 2.0 * Lp:
        step = PI * math.sqrt(2.0 / (gamma * Lp))
    else:
        step = 2.0 * PI * d / (Lp + 0.5 * gamma * d * d)
    return step, int(math.ceil(span / step))


@njit(**JIT_OPTIONS)
def _estimate(fine, mid, coarse):
    """:func:`meanfield.kernels.mixed.error_estimate` for one quantity."""
    d1, d2 = abs(fine - mid), abs(mid - coarse)
    r = d1 / d2 if d2 > d1 else 1.0
    return d1 * r * r


@njit(**JIT_OPTIONS)
def _gauss_mean(kind, m, s, L, span, tol):
    """E[g(m + s Z)] by the nested trapezoid rule with error control; (value, ok)."""
    step, half = _plan(kind, s, 0.0, L, span)
    for _ in range(MAX_REFINE + 1):
        f0 = f1 = f2 = mag = 0.0
        for j in range(-half, half + 1):
            eta = j * step
            v = act(kind, m + s * eta) * normal_pdf(eta)
            f0 += v
            mag += abs(v)
            if j % 2 == 0:
                f1 += v
            if j % 4 == 0:
                f2 += v
        fine = f0 * step
        if _estimate(fine, 2.0 * step * f1, 4.0 * step * f2) <= tol * max(1.0, mag * step):
            return fine, True
        step *= 0.5
        half *= 2
    return fine, False


@njit(**JIT_OPTIONS)
def _relu_quadrature(kind, relu_target, s_r, mu_r, s_z, mu_z, rho, L, span, tol, buf):
    """(S_0, S_1, R_0, X, Y, ok) with X = s_r T_0, Y = 0 (ReLU target) or X = R_1,
    Y = R_2 (smooth target): :func:`meanfield.kernels.mixed.relu_quadrature_parts`."""
    q = math.sqrt(max(0.0, 1.0 - rho * rho))
    live = s_r > 0
    h = mu_r / s_r if live else 0.0
    d = POLES[kind] / s_z if s_z > 0 else math.inf
    eps1 = min(EPS1_MAX, d / 3.0)
    if kind == ERF:
        eps1 = min(eps1, 0.3 / max(s_z, 1e-300))
    arho = abs(rho)
    eps = q / arho if arho > 0 else math.inf
    split = live and s_z > 0 and eps < eps1
    if split:
        alpha, beta, lam = h / (arho * eps1), math.copysign(1.0, rho) / eps1, arho * eps1
    else:
        qs = q if q > 0 else 1.0
        alpha, beta, lam = h / qs, rho / qs, q
    step_on = 1.0 if mu_r > 0 else 0.0
    relu_b = max(mu_r, 0.0)
    step, half = _plan(kind, s_z, beta * beta, L, span)
    nv = 4 if relu_target else 5
    ok = False
    for _ in range(MAX_REFINE + 1):
        buf[:, :] = 0.0
        mag = 0.0
        # phi(j step) by the recurrence phi_j = phi_{j-1} r_j, r_j = r_{j-1} exp(-step^2)
        base, ratio, shrink = INV_SQRT_2PI, math.exp(-0.5 * step * step), math.exp(-step * step)
        for j in range(half + 1):
            if j > 0:
                base *= ratio
                ratio *= shrink
            for sign in (1.0, -1.0):
                if j == 0 and sign < 0:
                    continue
                zeta = sign * j * step
                f0, f1, f2 = act3(kind, mu_z + s_z * zeta)
                F0, F1 = f0 * base, f1 * base
                wd = 0.0
                if live:
                    x = alpha + beta * zeta
                    if x > _CUT:
                        ws, wr = 1.0, s_r * lam * x
                    elif x < -_CUT:
                        ws, wr = 0.0, 0.0
                    else:
                        Phx, phx = ndtr(x), normal_pdf(x)
                        ws, wr = Phx, s_r * lam * (x * Phx + phx)
                        if relu_target and not split and q > 0:
                            wd = phx / q
                else:
                    ws, wr = step_on, relu_b
                v0, v1, v2 = F0 * ws, F1 * ws, F0 * wr
                if relu_target:
                    v3, v4 = F0 * wd, 0.0
                else:
                    v3, v4 = F1 * wr, f2 * base * wr
                mag += abs(v0) + abs(v1) + abs(v2) + abs(v3) + abs(v4)
                for level in range(3):
                    if j % (1 << level) == 0:
                        buf[level, 0] += v0
                        buf[level, 1] += v1
                        buf[level, 2] += v2
                        buf[level, 3] += v3
                        buf[level, 4] += v4
        est = 0.0
        for n in range(nv):
            est = max(est, _estimate(step * buf[0, n], 2.0 * step * buf[1, n],
                                     4.0 * step * buf[2, n]))
        if est <= tol * max(1.0, mag * step):
            ok = True
            break
        step *= 0.5
        half *= 2
    S0, S1, R0 = step * buf[0, 0], step * buf[0, 1], step * buf[0, 2]
    X, Y = step * buf[0, 3], step * buf[0, 4]
    if split:
        sgn = math.copysign(1.0, rho)
        zstar = -h / rho
        for e, so in ((eps, 1.0), (eps1, -1.0)):
            for k in range(GL_X.shape[0]):
                y = e * GL_X[k]
                zp, zm = zstar + sgn * y, zstar - sgn * y
                bp, bm = normal_pdf(zp), normal_pdf(zm)
                up, um = mu_z + s_z * zp, mu_z + s_z * zm
                ws = -so * e * GL_STEP_W[k]
                wr = so * s_r * arho * e * e * GL_RAMP_W[k]
                gp, gm = act3(kind, up), act3(kind, um)
                S0 += ws * (gp[0] * bp - gm[0] * bm)
                S1 += ws * (gp[1] * bp - gm[1] * bm)
                R0 += wr * (gp[0] * bp + gm[0] * bm)
                if not relu_target:
                    X += wr * (gp[1] * bp + gm[1] * bm)
                    Y += wr * (gp[2] * bp + gm[2] * bm)
        if relu_target:
            mean, ok2 = _gauss_mean(kind, mu_z - rho * s_z * h, s_z * q, L, span, tol)
            X = normal_pdf(h) * mean
            ok = ok and ok2
    return S0, S1, R0, X, Y, ok


@njit(**JIT_OPTIONS)
def _erf_G(m, s):
    B2 = 1.0 + 2.0 * s * s
    B = math.sqrt(B2)
    G1 = TWO_OVER_SQRT_PI / B * math.exp(-m * m / B2)
    return math.erf(m / B), G1, -2.0 * m / B2 * G1


@njit(**JIT_OPTIONS)
def _relu_erf(s_r, mu_r, s_z, mu_z, rho):
    """S_0..S_3, s_r T_0..T_2 of :func:`meanfield.kernels.mixed.relu_erf_parts`."""
    if not s_r > 0:
        on = 1.0 if mu_r > 0 else 0.0
        G0, G1, G2 = _erf_G(mu_z, s_z)
        S3 = on * (-2.0 / (1.0 + 2.0 * s_z * s_z)) * (G1 + mu_z * G2)
        return on * G0, on * G1, on * G2, S3, 0.0, 0.0, 0.0
    h = mu_r / s_r
    A = math.sqrt(1.0 + 2.0 * s_z * s_z)
    kappa = SQRT2 / A
    k, r = kappa * mu_z, kappa * s_z * rho
    qe = math.sqrt(1.0 - r * r)
    x = (h - r * k) / qe
    phk, Phx, phx = normal_pdf(k), ndtr(x), normal_pdf(x)
    G = phk * Phx
    G1 = phk * (-k * Phx - r / qe * phx)
    G2 = -k * G1 + phk * (-Phx + r * k / qe * phx - (r / qe) ** 2 * x * phx)
    q = math.sqrt(max(0.0, 1.0 - rho * rho))
    ph = normal_pdf(h)
    T0, T1, T2 = _erf_G(mu_z - rho * s_z * h, s_z * q)
    return (2.0 * bvn_cdf(h, k, r) - ndtr(h), 2.0 * kappa * G, 2.0 * kappa * kappa * G1,
            2.0 * kappa ** 3 * G2, ph * T0, ph * T1, ph * T2)


@njit(**JIT_OPTIONS)
def _relu_linear(s_r, mu_r, s_z, mu_z, rho):
    """S_0..S_3, s_r T_0..T_2 of :func:`meanfield.kernels.mixed.relu_linear_parts`."""
    if not s_r > 0:
        on = 1.0 if mu_r > 0 else 0.0
        return on * mu_z, on, 0.0, 0.0, 0.0, 0.0, 0.0
    h = mu_r / s_r
    Ph, ph = ndtr(h), normal_pdf(h)
    return mu_z * Ph + s_z * rho * ph, Ph, 0.0, 0.0, ph * (mu_z - rho * s_z * h), ph, 0.0


@njit(**JIT_OPTIONS)
def mixed_pair(mode, kind, relu_target, bias, n1, n2, t, b1, b2, L, span, tol, buf):
    """(K, P, Q, D, ok) of a ReLU x smooth pair (theory §2.5), target first."""
    s1, s2 = math.sqrt(n1), math.sqrt(n2)
    live = s1 > 0 and s2 > 0
    rho = snap(t / (s1 * s2)) if live else 0.0
    c = t if live else 0.0
    if relu_target:
        s_r, mu_r, s_z, mu_z = s1, b1, s2, b2
    else:
        s_r, mu_r, s_z, mu_z = s2, b2, s1, b1
    ok = True
    if mode == QUAD_MODE:
        S0, S1, R0, X, Y, ok = _relu_quadrature(kind, relu_target, s_r, mu_r, s_z, mu_z, rho,
                                                L, span, tol, buf)
        if relu_target:
            K, P, Q, D = R0, (X / s_r if s_r > 0 else 0.0), S1, S0
        else:
            K, P, Q, D = R0, Y, S1, X
    else:
        if mode == ERF_MODE:
            S0, S1, S2, S3, T0, T1, T2 = _relu_erf(s_r, mu_r, s_z, mu_z, rho)
        else:
            S0, S1, S2, S3, T0, T1, T2 = _relu_linear(s_r, mu_r, s_z, mu_z, rho)
        K = mu_r * S0 + s_r * T0 + c * S1
        if relu_target:
            P, Q, D = (T0 / s_r if s_r > 0 else 0.0), S1, S0
        else:
            P, Q, D = mu_r * S2 + s_r * T2 + c * S3, S1, mu_r * S1 + s_r * T1 + c * S2
    return K, P, Q, (D if bias else 0.0), ok


@njit(parallel=True, **JIT_OPTIONS)
def _mixed_pairs(mode, kind, relu_target, bias, c_t, a_t, b_t, sT, a_s, n_s, b_s, L, span,
                 tol, gc, ga, gb, val, ok):
    """Fused pair reduction: per target i, over all sources j, with e_ij = c_i . sT[:, j]
    (theory §1-2): gc = sum K sT, ga = sum e (P a_i + Q a_j), gb = sum e D, val = sum e K."""
    m_t, k = c_t.shape
    d = a_t.shape[1]
    for i in prange(m_t):
        buf = np.zeros((3, 5))
        acc_c = np.zeros(k)
        acc_a = np.zeros(d)
        n1 = 0.0
        for l in range(d):
            n1 += a_t[i, l] * a_t[i, l]
        sp = sd = sv = 0.0
        good = True
        for j in range(n_s.shape[0]):
            t = 0.0
            for l in range(d):
                t += a_t[i, l] * a_s[j, l]
            e = 0.0
            for l in range(k):
                e += c_t[i, l] * sT[l, j]
            K, P, Q, D, fine = mixed_pair(mode, kind, relu_target, bias, n1, n_s[j], t,
                                          b_t[i], b_s[j], L, span, tol, buf)
            good = good and fine
            for l in range(k):
                acc_c[l] += K * sT[l, j]
            eq = e * Q
            for l in range(d):
                acc_a[l] += eq * a_s[j, l]
            sp += e * P
            sd += e * D
            sv += e * K
        for l in range(k):
            gc[i, l] = acc_c[l]
        for l in range(d):
            ga[i, l] = acc_a[l] + sp * a_t[i, l]
        gb[i] = sd
        val[i] = sv
        ok[i] = good


def pair_reduce(kernel, layout, w_t, w_s, q_s, with_value=False):
    """The pair reduction (same contract as :func:`meanfield.backends.numpy.pair_reduce`)
    for the kernels "relu_erf", "relu_linear" and "relu_quadrature"."""
    dtype = np.result_type(w_t, w_s)
    c_t, a_t, b_t = layout.unpack(np.asarray(w_t, dtype=np.float64))
    c_s, a_s, b_s = layout.unpack(np.asarray(w_s, dtype=np.float64))
    m_t, m_s = len(a_t), len(a_s)
    c_t, a_t, a_s = (np.ascontiguousarray(x) for x in (c_t, a_t, a_s))
    sT = np.ascontiguousarray((np.asarray(q_s, dtype=np.float64)[:, None] * c_s).T)
    n_s = np.einsum("ij,ij->i", a_s, a_s)
    b_t = np.zeros(m_t) if b_t is None else np.ascontiguousarray(b_t)
    b_s = np.zeros(m_s) if b_s is None else np.ascontiguousarray(b_s)
    relu_target = kernel.activation.name == "relu"
    smooth = kernel.source_activation if relu_target else kernel.activation
    L = mk.log_tol(kernel.tol)
    gc, ga = np.empty((m_t, layout.k)), np.empty((m_t, layout.d))
    gb, val, ok = np.empty(m_t), np.empty(m_t), np.empty(m_t, dtype=np.bool_)
    _mixed_pairs(MODES[kernel.name], ACT_IDS[smooth.name], relu_target, bool(kernel.bias),
                 c_t, a_t, b_t, sT, a_s, n_s, b_s, L, mk.span(L), float(kernel.tol),
                 gc, ga, gb, val, ok)
    if not ok.all():
        raise ValueError(f"relu x {smooth.name} kernel: the quadrature error estimate still "
                         f"exceeds tol = {kernel.tol:g} after {MAX_REFINE} refinements")
    grad = np.empty((m_t, layout.p), dtype=dtype)
    grad[:, layout.c] = kernel.scale * gc
    grad[:, layout.a] = kernel.scale * ga
    if layout.bias:
        grad[:, layout.b.start] = kernel.scale * gb
    value = (kernel.scale * val).astype(dtype) if with_value else None
    return grad, value
