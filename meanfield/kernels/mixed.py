"""ReLU paired with a smooth activation (theory §2.5), and the step rule of §2.6.

One side of the pair is a ReLU unit r = a.x + b, the other a smooth unit z = a'.x + b'
(x ~ N(0, I_d)); with s_r = |a|, s_z = |a'|, rho = a.a'/(s_r s_z), q = sqrt(1 - rho^2),
h = b/s_r and c = a.a' = rho s_r s_z. Every kernel entry is one of

    S_k = E[1{r > 0} g^(k)(z)],   R_k = E[r_+ g^(k)(z)],   T_k = E[delta(r) g^(k)(z)],

for the smooth activation g: with the ReLU as target (the moved particle)
K = R_0, P = T_0, Q = S_1, D = S_0; with the smooth unit as target K = R_0, P = R_2,
Q = S_1, D = R_1 (Stein's lemma). The kink is integrated analytically:

* closed forms (erf, linear): S_0 = E[1{r>0} g(z)] is 2 Phi_2(h, k_e; r_e) - Phi(h) for
  erf (k_e = sqrt2 b'/A, r_e = sqrt2 s_z rho/A, A = sqrt(1 + 2 s_z^2)) and
  b' Phi(h) + s_z rho phi(h) for linear; S_k = d^k S_0/db'^k;
  T_k = (phi(h)/s_r) G_k(b' - rho s_z h, s_z q) with G_k(m, s) = E[g^(k)(m + s Z)];
  and Gaussian integration by parts in r gives R_k = b S_k + s_r^2 T_k + c S_{k+1}.
* otherwise (tanh, sigmoid, softplus) condition on zeta = (z - b')/s_z: given zeta, r is
  Gaussian, E[1{r>0} | zeta] = Phi(x), E[r_+ | zeta] = s_r q psi(x) with psi(x) = x Phi(x)
  + phi(x), and the density of r at 0 is phi(x)/(s_r q), where x = (h + rho zeta)/q. So
  S_k, R_k, T_0 are 1-D integrals of g^(k)(b' + s_z zeta) phi(zeta) times an entire
  weight, done by the trapezoid rule with the step of :func:`trapezoid_step` and an a
  posteriori estimate (two resolutions). When the units are nearly aligned
  (eps = q/|rho| < eps_1) the weights approach a step at zeta* = -h/rho; then the rule
  runs with eps_1 in place of eps and the difference is added exactly as
  Phi(y/eps) - Phi(y/eps_1) = -sgn(y) [Phi(-|y|/eps) - Phi(-|y|/eps_1)] (y the signed
  distance to zeta*), two integrals over [0, inf) of smooth functions done by
  Gauss-Legendre (and the same for psi with chi(x) = phi(x) - x Phi(-x)); T_0 is then
  (phi(h)/s_r) G_0(b' - rho s_z h, s_z q) by the same trapezoid rule.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.polynomial.legendre import leggauss
from scipy.special import erf, ndtr

from ..core.activations import Activation
from .bivariate import bvn_cdf, snap_correlation

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)

#: half-width of the strip around the real axis where g(z) is analytic (poles of tanh at
#: i pi/2, of the sigmoid and softplus at i pi); erf and linear are entire.
POLE_DISTANCE = {"tanh": 0.5 * math.pi, "sigmoid": math.pi, "softplus": math.pi,
                 "erf": math.inf, "linear": math.inf}
#: upper bound on eps_1, the sharpness below which the step is split off (see module doc)
EPS1_MAX = 0.5
#: Gauss-Legendre rule on [0, GL_SPAN] for the split-off corrections (the weights
#: Phi(-x) and chi(x) are below 1e-17 beyond GL_SPAN)
GL_SPAN = 8.5
GL_NODES = 32
_GL_U, _GL_W = leggauss(GL_NODES)
GL_X = 0.5 * GL_SPAN * (1.0 + _GL_U)
GL_W = 0.5 * GL_SPAN * _GL_W
GL_STEP_W = GL_W * ndtr(-GL_X)                                          # weight Phi(-x)
GL_RAMP_W = GL_W * (_INV_SQRT_2PI * np.exp(-0.5 * GL_X**2) - GL_X * ndtr(-GL_X))  # chi(x)
#: refinements (halvings of the step) before giving up on a requested tolerance
MAX_REFINE = 6


def normal_pdf(x):
    """phi(x)."""
    return _INV_SQRT_2PI * np.exp(-0.5 * np.square(x))


def log_tol(tol: float) -> float:
    """L = ln(1/tol) + 2: the exponent the step rule aims at (e^-2 of safety)."""
    if not (0.0 < tol < 1.0):
        raise ValueError(f"tol must be in (0, 1), got {tol}")
    return math.log(1.0 / tol) + 2.0


def strip(activation: Activation, scale):
    """(d, gamma_g) for zeta -> g(m + scale zeta): poles at distance d = w/scale from the
    real axis (w from POLE_DISTANCE) and Gaussian growth |g(m + scale i y)| ~
    exp(gamma_g y^2/2) (gamma_g = 2 scale^2 for erf, else 0)."""
    scale = np.asarray(scale, dtype=np.float64)
    w = POLE_DISTANCE.get(activation.name, 0.5 * math.pi)
    with np.errstate(divide="ignore"):
        d = np.where(scale > 0, w / np.where(scale > 0, scale, 1.0), np.inf)
    gamma = 2.0 * scale * scale if activation.name == "erf" else np.zeros_like(scale)
    return d, gamma


def trapezoid_step(d, gamma, L):
    """Step of the trapezoid rule for int F(zeta) phi(zeta) dzeta (theory §2.6).

    For an integrand analytic in |Im zeta| < d and growing like exp(gamma y^2/2) on
    Im zeta = y, the error of the step h is at most about exp(gamma y^2/2 - 2 pi y/h) for
    every y < d. The best y is min(d, 2 pi/(gamma h)), so the error is e^-L for
    h = pi sqrt(2/(gamma L)) when d >= sqrt(2 L/gamma), else h = 2 pi d/(L + gamma d^2/2).
    """
    d, gamma = np.broadcast_arrays(np.asarray(d, dtype=np.float64),
                                   np.asarray(gamma, dtype=np.float64))
    wide = d * d * gamma >= 2.0 * L
    dd = np.where(wide, 1.0, d)
    with np.errstate(divide="ignore"):  # the wide branch only where gamma > 0
        return np.where(wide, math.pi * np.sqrt(2.0 / (gamma * L)),
                        2.0 * math.pi * dd / (L + 0.5 * gamma * dd * dd))


def span(L: float) -> float:
    """Half-width of the truncated node range: phi beyond it is below e^-L/1e4."""
    return math.sqrt(2.0 * (L + math.log(1e4)))


#: the bound of :func:`trapezoid_step` drops constants (residues, the Gaussian weight at
#: the poles): measured errors at the step for e^-L are about e^-0.8L, so the node plan
#: aims at e^-(PLAN_FACTOR L) and the a posteriori estimate catches what is left.
PLAN_FACTOR = 1.4


def node_plan(d, gamma, L):
    """(step, half count) of the grid zeta_j = j step, |j| <= half (theory §2.6)."""
    step = trapezoid_step(d, gamma, PLAN_FACTOR * L)
    half = np.ceil(span(L) / step).astype(np.int64)
    return step, half


def product_plan(act_u: Activation, act_v: Activation, s1, proj, perp, tol: float):
    """(step_z, half_z, step_e, half_e): the two grids of the nested product trapezoid
    rule for E[f(u) g(v)] with u = s1 z + b1, v = proj z + perp e + b2 (theory §2.6)."""
    L = log_tol(tol)
    d_u, g_u = strip(act_u, s1)
    d_p, g_p = strip(act_v, np.abs(proj))
    d_e, g_e = strip(act_v, perp)
    step_z, half_z = node_plan(np.minimum(d_u, d_p), 1.0 + g_u + g_p, L)
    step_e, half_e = node_plan(d_e, 1.0 + g_e, L)
    return step_z, half_z, step_e, half_e


def error_estimate(fine, mid, coarse):
    """A posteriori error of the trapezoid sum ``fine`` (step h) from the nested sums at
    steps 2h and 4h (theory §2.6): with err(h) = C exp(-c/h), d1 = |T_h - T_2h| ~ err(2h)
    and d2 = |T_2h - T_4h| ~ err(4h) give err(h) = d1^3/d2^2 = d1 (d1/d2)^2; outside the
    asymptotic regime (d1 >= d2) the estimate is d1 itself."""
    d1, d2 = np.abs(fine - mid), np.abs(mid - coarse)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(d2 > d1, d1 / np.where(d2 > 0, d2, 1.0), 1.0)
    return d1 * ratio * ratio


# --------------------------------------------------------------------------- geometry
def mixed_geometry(relu_target: bool, n1, n2, t, b1, b2):
    """(s_r, mu_r, s_z, mu_z, rho, c) of a ReLU x smooth pair from the pair scalars.

    The target (first) unit is the ReLU when ``relu_target``; rho is snapped as in
    :func:`meanfield.kernels.bivariate.snap_correlation` and 0 when a norm vanishes.
    """

    n1, n2, t = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (n1, n2, t)))
    b1 = np.zeros(n1.shape) if b1 is None else np.broadcast_to(b1, n1.shape).astype(np.float64)
    b2 = np.zeros(n1.shape) if b2 is None else np.broadcast_to(b2, n1.shape).astype(np.float64)
    s1, s2 = np.sqrt(n1), np.sqrt(n2)
    live = (s1 > 0) & (s2 > 0)
    rho = snap_correlation(t / np.where(live, s1 * s2, 1.0)) * live
    if relu_target:
        return s1, b1, s2, b2, rho, t * live
    return s2, b2, s1, b1, rho, t * live


def _ratio_h(s_r, mu_r):
    """h = mu_r/s_r, and +-inf for s_r = 0 (so that Phi(h) = 1{mu_r > 0}, phi(h) = 0)."""
    return np.where(s_r > 0, mu_r / np.where(s_r > 0, s_r, 1.0),
                    np.where(mu_r > 0, np.inf, -np.inf))


def assemble(relu_target: bool, bias: bool, mu_r, s_r, c, S, sT):
    """(K, P, Q, D) from S = (S_0, S_1, S_2, S_3) and sT = (s_r T_0, s_r T_1, s_r T_2)
    (theory §2.5), with R_k = mu_r S_k + s_r (s_r T_k) + c S_{k+1}."""
    K = mu_r * S[0] + s_r * sT[0] + c * S[1]
    if relu_target:
        P = np.where(s_r > 0, sT[0] / np.where(s_r > 0, s_r, 1.0), 0.0)
        Q, D = S[1], S[0]
    else:
        Q = S[1]
        D = mu_r * S[1] + s_r * sT[1] + c * S[2]
        P = mu_r * S[2] + s_r * sT[2] + c * S[3]
    return K, P, Q, (D if bias else np.zeros_like(K))


# --------------------------------------------------------------------------- closed forms
def _erf_G(m, s):
    """(G_0, G_1, G_2) of erf: E[erf(m + sZ)] = erf(m/B), B = sqrt(1 + 2 s^2), and its
    derivatives in m."""
    B2 = 1.0 + 2.0 * s * s
    B = np.sqrt(B2)
    G1 = _TWO_OVER_SQRT_PI / B * np.exp(-m * m / B2)
    return erf(m / B), G1, -2.0 * m / B2 * G1


def relu_erf_parts(s_r, mu_r, s_z, mu_z, rho):
    """S_0..S_3 and s_r T_0..T_2 for g = erf in closed form (theory §2.5).

    With A = sqrt(1 + 2 s_z^2), kappa = sqrt2/A, k = kappa mu_z, r = kappa s_z rho,
    q_e = sqrt(1 - r^2) >= 1/A and x = (h - r k)/q_e:
    S_0 = 2 Phi_2(h, k; r) - Phi(h), S_1 = 2 kappa G, S_2 = 2 kappa^2 G', S_3 = 2 kappa^3 G''
    with G(k) = phi(k) Phi(x), G' = phi(k) [-k Phi(x) - (r/q_e) phi(x)] and
    G'' = -k G' + phi(k) [-Phi(x) + (r k/q_e) phi(x) - (r^2/q_e^2) x phi(x)];
    s_r T_k = phi(h) G_k(mu_z - rho s_z h, s_z q) with G_k of :func:`_erf_G`.
    A zero ReLU weight (s_r = 0) makes r = b constant: S_k = 1{b > 0} G_k(mu_z, s_z).
    """

    live = s_r > 0
    h = np.where(live, _ratio_h(s_r, mu_r), 0.0)
    A = np.sqrt(1.0 + 2.0 * s_z * s_z)
    kappa = _SQRT2 / A
    k, r = kappa * mu_z, kappa * s_z * rho
    qe = np.sqrt(1.0 - r * r)
    x = (h - r * k) / qe
    phk, Phx, phx = normal_pdf(k), ndtr(x), normal_pdf(x)
    G = phk * Phx
    G1 = phk * (-k * Phx - r / qe * phx)
    G2 = -k * G1 + phk * (-Phx + r * k / qe * phx - (r / qe) ** 2 * x * phx)
    S = [2.0 * bvn_cdf(h, k, r) - ndtr(h), 2.0 * kappa * G, 2.0 * kappa**2 * G1,
         2.0 * kappa**3 * G2]
    q = np.sqrt(np.maximum(0.0, 1.0 - rho * rho))
    ph = normal_pdf(h)
    sT = [ph * g for g in _erf_G(mu_z - rho * s_z * h, s_z * q)]
    # s_r = 0: r = mu_r, independent of z
    on = (mu_r > 0) * 1.0
    G_free = _erf_G(mu_z, s_z)
    free_S = [on * G_free[0], on * G_free[1], on * G_free[2],
              on * (-2.0 / (1.0 + 2.0 * s_z**2)) * (G_free[1] + mu_z * G_free[2])]
    S = [np.where(live, s, f) for s, f in zip(S, free_S, strict=False)]
    sT = [np.where(live, v, 0.0) for v in sT]
    return S, sT


def relu_linear_parts(s_r, mu_r, s_z, mu_z, rho):
    """S_k and s_r T_k for g(z) = z (theory §2.5): S_0 = mu_z Phi(h) + s_z rho phi(h),
    S_1 = Phi(h), S_2 = S_3 = 0, s_r T_0 = phi(h)(mu_z - rho s_z h), s_r T_1 = phi(h)."""
    h = _ratio_h(s_r, mu_r)
    Ph = ndtr(h)
    ph = np.where(np.isfinite(h), normal_pdf(np.where(np.isfinite(h), h, 0.0)), 0.0)
    hs = np.where(np.isfinite(h), h, 0.0)
    zero = np.zeros_like(Ph)
    S = [mu_z * Ph + s_z * rho * ph, Ph, zero, zero]
    sT = [ph * (mu_z - rho * s_z * hs), ph, zero]
    return S, sT


# --------------------------------------------------------------------------- quadrature
def _trapezoid(fn, step, half, L, tol, what):
    """Trapezoid sums sum_j step fn(j step), |j| <= half, over flat pairs (theory §2.6).

    ``fn(zeta, idx)`` returns a list of integrand arrays on a node grid: ``zeta`` of shape
    (c, nodes) holds each row's nodes for the pairs ``idx`` of shape (c, 1). Returns the
    sums; where :func:`error_estimate` exceeds tol max(1, sum |terms|), the step is halved
    (at most MAX_REFINE times) before ValueError.
    """
    n = step.shape[0]
    active = np.arange(n)
    out = None
    for _ in range(MAX_REFINE + 1):
        st = step[active]
        sums, mag = _grid_sums(fn, active, st, half[active])
        sums *= (st * np.array([1.0, 2.0, 4.0])[:, None, None])
        est = np.max(error_estimate(*sums), axis=0)
        if out is None:
            out = np.empty((sums.shape[1], n))
        out[:, active] = sums[0]
        bad = est > tol * np.maximum(1.0, mag * st)
        if not bad.any():
            return list(out)
        active, step, half = active[bad], step.copy(), half.copy()
        step[active] *= 0.5
        half[active] *= 2
    raise ValueError(f"{what}: the quadrature error estimate {est.max():.2e} still exceeds "
                     f"tol = {tol:g} after {MAX_REFINE} refinements; raise tol")


#: most elements of one (pairs x nodes) grid of :func:`_grid_sums` (bounds its memory)
GRID_SIZE = 2**16


def _grid_sums(fn, active, st, hf):
    """(sums, mag) of :func:`_trapezoid` at the steps st: sums[l, k, p] = sum over
    |j| <= hf[p] with j divisible by 2^l of fn_k(j st[p]) (the rules at steps h, 2h, 4h,
    unscaled) and mag[p] = sum_k sum_j |fn_k(j st[p])|. The pairs are taken by decreasing
    half count in chunks whose grids hold at most GRID_SIZE nodes (a pair's nodes
    beyond its own half count are evaluated at zeta = 0 and get weight 0)."""
    order = np.argsort(-hf, kind="stable")
    sums = mag = None
    start = 0
    while start < len(order):
        top = int(hf[order[start]])
        chunk = order[start:start + max(1, GRID_SIZE // (2 * top + 1))]
        start += len(chunk)
        j = np.arange(-top, top + 1)
        inside = np.abs(j) <= hf[chunk, None]
        zeta = np.where(inside, j * st[chunk, None], 0.0)
        vals = np.stack(np.broadcast_arrays(*fn(zeta, active[chunk, None])))  # (k, c, nodes)
        np.copyto(vals, 0.0, where=~inside)
        levels = (j % np.array([[1], [2], [4]]) == 0).astype(np.float64)
        if sums is None:
            sums = np.zeros((3, len(vals), len(hf)))
            mag = np.zeros(len(hf))
        sums[:, :, chunk] = np.moveaxis(vals @ levels.T, -1, 0)
        mag[chunk] = np.abs(vals).sum(axis=(0, 2))
    return sums, mag


def relu_quadrature_parts(g: Activation, s_r, mu_r, s_z, mu_z, rho, tol: float,
                          relu_target: bool):
    """S_0, S_1, R_0 and, with the ReLU as target, s_r T_0, else R_1, R_2, for a smooth g
    without a closed form, by the semi-analytic 1-D rule of the module docstring
    (theory §2.5-2.6). Returns {"S": [S_0, S_1], "sT0": s_r T_0 or None,
    "R": [R_0, R_1 or None, R_2 or None]}.
    """
    shape = s_r.shape
    s_r, mu_r, s_z, mu_z, rho = (np.asarray(v, dtype=np.float64).ravel()
                                 for v in (s_r, mu_r, s_z, mu_z, rho))
    L = log_tol(tol)
    q = np.sqrt(np.maximum(0.0, 1.0 - rho * rho))
    live = s_r > 0
    h = _ratio_h(s_r, mu_r)
    d, gamma_g = strip(g, s_z)
    eps1 = np.minimum(EPS1_MAX, d / 3.0)
    if g.name == "erf":
        eps1 = np.minimum(eps1, 0.3 / np.maximum(s_z, 1e-300))
    arho = np.abs(rho)
    with np.errstate(divide="ignore", invalid="ignore"):
        eps = np.where(arho > 0, q / np.where(arho > 0, arho, 1.0), np.inf)
    split = live & (s_z > 0) & (eps < eps1)
    sgn = np.sign(rho)
    hs = np.where(live, h, 0.0)
    # x = alpha + beta zeta; ramp weight s_r lam psi(x); lam = q (or |rho| eps_1 if split)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(split, hs / np.where(split, arho * eps1, 1.0), h / np.where(q > 0, q, 1.0))
        beta = np.where(split, sgn / eps1, rho / np.where(q > 0, q, 1.0))
    lam = np.where(split, arho * eps1, q)
    relu_b = np.maximum(mu_r, 0.0)
    step, half = node_plan(d, 1.0 + gamma_g + beta * beta, L)
    derivs = 2 if relu_target else 3

    def integrand(zeta, idx):
        z = mu_z[idx] + s_z[idx] * zeta
        base = normal_pdf(zeta)
        F = [g.f(z) * base, g.df(z) * base] + ([g.d2f(z) * base] if derivs == 3 else [])
        with np.errstate(invalid="ignore"):
            x = alpha[idx] + beta[idx] * zeta
        x = np.where(live[idx], x, 0.0)
        Phx, phx = ndtr(x), normal_pdf(x)
        w_step = np.where(live[idx], Phx, (mu_r[idx] > 0) * 1.0)
        w_ramp = np.where(live[idx], s_r[idx] * lam[idx] * (x * Phx + phx), relu_b[idx])
        vals = [F[0] * w_step, F[1] * w_step, F[0] * w_ramp]
        if relu_target:
            w_delta = np.where(live[idx] & ~split[idx], phx / np.where(q[idx] > 0, q[idx], 1.0),
                               0.0)
            vals.append(F[0] * w_delta)
        else:
            vals += [F[1] * w_ramp, F[2] * w_ramp]
        return vals

    sums = _trapezoid(integrand, step, half, L, tol, f"relu x {g.name} kernel")
    S0, S1, R0 = sums[:3]
    sT0, R1, R2 = (sums[3], None, None) if relu_target else (None, *sums[3:])
    if split.any():
        idx = np.nonzero(split)[0]
        corr = _split_corrections(g, s_r[idx], hs[idx], s_z[idx], mu_z[idx], rho[idx],
                                  eps[idx], eps1[idx], derivs)
        S0[idx] += corr["step"][0]
        S1[idx] += corr["step"][1]
        R0[idx] += corr["ramp"][0]
        if relu_target:
            sT0[idx] = _delta_integral(g, hs[idx], s_z[idx], mu_z[idx], rho[idx], q[idx], L, tol)
        else:
            R1[idx] += corr["ramp"][1]
            R2[idx] += corr["ramp"][2]
    out = dict(S=[S0, S1], sT0=sT0, R=[R0, R1, R2])
    return {k: [None if v is None else v.reshape(shape) for v in vs] if isinstance(vs, list)
            else (None if vs is None else vs.reshape(shape)) for k, vs in out.items()}


def _split_corrections(g, s_r, h, s_z, mu_z, rho, eps, eps1, derivs):
    """Exact differences between the eps and eps_1 weights (module docstring):
    step: -[A(eps) - A(eps_1)] with A(e) = e int_0^inf Phi(-x) Odd(e x) dx,
    ramp: s_r |rho| [B(eps) - B(eps_1)] with B(e) = e^2 int_0^inf chi(x) Even(e x) dx,
    Odd/Even(y) = Fphi(zeta* + s y) -/+ Fphi(zeta* - s y), zeta* = -h/rho, s = sgn(rho)."""
    sgn = np.sign(rho)
    zstar = -h / rho
    step = [np.zeros_like(h) for _ in range(derivs)]
    ramp = [np.zeros_like(h) for _ in range(derivs)]
    for e, sign_out in ((eps, 1.0), (eps1, -1.0)):
        y = e[:, None] * GL_X[None, :]
        plus, minus = zstar[:, None] + sgn[:, None] * y, zstar[:, None] - sgn[:, None] * y
        fp, fm = (np.stack([fn(mu_z[:, None] + s_z[:, None] * zz) * normal_pdf(zz)
                            for fn in (g.f, g.df, g.d2f)[:derivs]]) for zz in (plus, minus))
        odd = (fp - fm) @ GL_STEP_W
        even = (fp + fm) @ GL_RAMP_W
        for k in range(derivs):
            step[k] += -sign_out * e * odd[k]
            ramp[k] += sign_out * s_r * np.abs(rho) * e * e * even[k]
    return {"step": step, "ramp": ramp}


def _delta_integral(g, h, s_z, mu_z, rho, q, L, tol):
    """s_r T_0 = phi(h) E[g(mu_c + s_c Z)], mu_c = mu_z - rho s_z h, s_c = s_z q."""
    mu_c, s_c = mu_z - rho * s_z * h, s_z * q
    d, gamma_g = strip(g, s_c)
    step, half = node_plan(d, 1.0 + gamma_g, L)

    def integrand(eta, idx):
        return [g.f(mu_c[idx] + s_c[idx] * eta) * normal_pdf(eta)]

    return normal_pdf(h) * _trapezoid(integrand, step, half, L, tol, f"relu x {g.name} kernel")[0]


# --------------------------------------------------------------------------- kernel
def relu_mixed_kernel(relu_target: bool, smooth: Activation, bias: bool, tol: float,
                      n1, n2, t, b1=None, b2=None):
    """(K, P, Q, D) of a ReLU x smooth pair on broadcast pair scalars (theory §2.5).

    ``relu_target``: the target (first, moved) unit is the ReLU, else the smooth one;
    erf and linear in closed form, other activations by :func:`relu_quadrature_parts`
    to the absolute (relative above 1) accuracy ``tol``.
    """
    s_r, mu_r, s_z, mu_z, rho, c = mixed_geometry(relu_target, n1, n2, t, b1, b2)
    if smooth.name in ("erf", "linear"):
        parts = relu_erf_parts if smooth.name == "erf" else relu_linear_parts
        S, sT = parts(s_r, mu_r, s_z, mu_z, rho)
        return assemble(relu_target, bias, mu_r, s_r, c, S, sT)
    out = relu_quadrature_parts(smooth, s_r, mu_r, s_z, mu_z, rho, tol, relu_target)
    S, R = out["S"], out["R"]
    if relu_target:
        live = s_r > 0
        P = np.where(live, out["sT0"] / np.where(live, s_r, 1.0), 0.0)
        K, Q, D = R[0], S[1], S[0]
    else:
        K, P, Q, D = R[0], R[2], S[1], R[1]
    return K, P, Q, (D if bias else np.zeros_like(K))
