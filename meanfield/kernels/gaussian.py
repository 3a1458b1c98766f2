"""Gaussian pair kernels K(w, w') = E[sigma(a.x + b) sigma'(a'.x + b')], x ~ N(0, I_d).

Every kernel is a function of the five pair scalars n1 = |a|^2, n2 = |a'|^2, t = a.a',
b1 = b, b2 = b' and returns four arrays (theory §2):

* ``K``  = E[sigma(u) sigma(v)] with u = a.x + b, v = a'.x + b';
* ``P``, ``Q`` with grad_a K = P a + Q a' (Stein's lemma: P = E[sigma''(u) sigma(v)],
  Q = E[sigma'(u) sigma'(v)]);
* ``D``  = dK/db = E[sigma'(u) sigma(v)] (zeros without a bias).

Closed forms: relu and erf with and without bias (bias through the bivariate normal CDF,
computed exactly with Owen's T), linear; any other pair of activations by 2-D
quadrature (§2.4: Gauss-Hermite, or a uniform rule that converges faster here). Gradients are
explicit, never autodiff through arccos,
and finite at theta = 0, theta = pi and |a| = 0 (convention relu'(0) = 0).
A ReLU paired with a smooth activation has its kink integrated analytically
(:mod:`meanfield.kernels.mixed`, theory §2.5); pairs of smooth activations without a
closed form use the nested trapezoid rule with an a posteriori error estimate and the
node counts chosen from |a| for a requested accuracy ``tol`` (theory §2.6).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import ndtr

from . import mixed as _mixed
from ..core.activations import Activation, get_activation
from .bivariate import (INV_SQRT_2PI, RHO_SNAP, TWO_PI, bvn_cdf,  # noqa: F401 (re-exported)
                        bvn_pdf, normal_pdf, safe_ratio, snap_correlation)

# --------------------------------------------------------------------------- closed forms
def relu_kernel(n1, n2, t, b1=None, b2=None):
    """Arc-cosine kernel of degree 1 (theory §2.1).

    K = (|a||a'| sin(theta) + (pi - theta) a.a')/(2 pi), grad_a K = P a + Q a' with
    P = |a'| sin(theta)/(2 pi |a|), Q = (pi - theta)/(2 pi); P = Q = 0 when a = 0.
    """
    s1, s2 = np.sqrt(n1), np.sqrt(n2)
    prod = s1 * s2
    live = prod > 0
    cos = snap_correlation(t / np.where(live, prod, 1.0)) * live
    sin = np.sqrt(np.maximum(0.0, 1.0 - cos * cos))
    theta = np.arccos(cos)
    K = (prod * sin + (np.pi - theta) * t) / TWO_PI
    alive = s1 > 0
    P = np.where(alive, s2 * sin / (TWO_PI * np.where(alive, s1, 1.0)), 0.0)
    Q = np.where(alive, (np.pi - theta) / TWO_PI, 0.0)
    return K, P, Q, np.zeros_like(K)


def relu_bias_kernel(n1, n2, t, b1, b2):
    """E[u+ v+] for u ~ N(b, |a|^2), v ~ N(b', |a'|^2), corr rho (theory §2.3).

    With h = b/|a|, k = b'/|a'|, q = sqrt(1 - rho^2):
    K = (b b' + rho s1 s2) Phi2 + b s2 phi(k) Phi((h - rho k)/q) + b' s1 phi(h) Phi((k - rho h)/q)
        + s1 s2 q phi(sqrt((h^2 - 2 rho h k + k^2)/q^2)) / sqrt(2 pi),
    Q = Phi2(h, k; rho), D = E[1{u>0} v+], P = E[delta(u) v+] by Stein's lemma. A zero
    input weight makes u (or v) the constant b and the expectations factorise.
    """
    with np.errstate(all="ignore"):  # degenerate branches are overwritten below
        return _relu_bias_kernel(np.sqrt(n1), np.sqrt(n2), t, b1, b2)


def _relu_bias_kernel(s1, s2, t, b1, b2):
    on1, on2 = s1 > 0, s2 > 0
    s1s, s2s = np.where(on1, s1, 1.0), np.where(on2, s2, 1.0)
    rho = snap_correlation(t / (s1s * s2s)) * (on1 & on2)
    q = np.sqrt(np.maximum(0.0, 1.0 - rho * rho))
    h, k = b1 / s1s, b2 / s2s
    qs = np.where(q > 0, q, 1.0)
    cond_h = ndtr(safe_ratio(h - rho * k, q))
    cond_k = ndtr(safe_ratio(k - rho * h, q))
    phi_h, phi_k = normal_pdf(h), normal_pdf(k)
    F2 = bvn_cdf(h, k, rho)
    tail = np.where(q > 0, s1 * s2 * q * normal_pdf(np.sqrt((h * h - 2 * rho * h * k + k * k)
                                                             / (qs * qs))) * INV_SQRT_2PI, 0.0)
    K = (b1 * b2 + rho * s1 * s2) * F2 + b1 * s2 * phi_k * cond_h + b2 * s1 * phi_h * cond_k + tail
    Q = F2
    D = b2 * F2 + s2 * (phi_k * cond_h + rho * phi_h * cond_k)
    mu_c, s_c = b2 - rho * s2 * h, s2 * q
    s_cs = np.where(s_c > 0, s_c, 1.0)
    cond_mean = np.where(s_c > 0, mu_c * ndtr(mu_c / s_cs) + s_c * normal_pdf(mu_c / s_cs),
                         np.maximum(mu_c, 0.0))
    P = phi_h / s1s * cond_mean
    # degenerate input weights: u = b (when a = 0) and/or v = b' (when a' = 0)
    relu_b1, relu_b2 = np.maximum(b1, 0.0), np.maximum(b2, 0.0)
    step_b1, step_b2 = (b1 > 0) * 1.0, (b2 > 0) * 1.0
    mean_u = b1 * ndtr(h) + s1 * phi_h
    mean_v = b2 * ndtr(k) + s2 * phi_k
    K = np.where(on1, np.where(on2, K, relu_b2 * mean_u), relu_b1 * np.where(on2, mean_v, relu_b2))
    Q = np.where(on1, np.where(on2, Q, ndtr(h) * step_b2),
                 step_b1 * np.where(on2, ndtr(k), step_b2))
    D = np.where(on1, np.where(on2, D, relu_b2 * ndtr(h)), step_b1 * np.where(on2, mean_v, relu_b2))
    P = np.where(on1, np.where(on2, P, relu_b2 * phi_h / s1s), 0.0)
    return K, P, Q, D


def erf_kernel(n1, n2, t, b1=None, b2=None):
    """Williams' kernel for erf (theory §2.2).

    K = (2/pi) arcsin(2 a.a' / (A1 A2)) with A_i = sqrt(1 + 2|a_i|^2);
    grad_a K = (4/pi) (a' - 2 a.a'/A1^2 a) / sqrt(A1^2 A2^2 - 4 (a.a')^2).
    """
    A1sq, A2sq = 1.0 + 2.0 * n1, 1.0 + 2.0 * n2
    K = (2.0 / np.pi) * np.arcsin(np.clip(2.0 * t / np.sqrt(A1sq * A2sq), -1.0, 1.0))
    Q = (4.0 / np.pi) / np.sqrt(A1sq * A2sq - 4.0 * t * t)
    P = -2.0 * t / A1sq * Q
    return K, P, Q, np.zeros_like(K)


def erf_bias_kernel(n1, n2, t, b1, b2):
    """E[erf(u) erf(v)] with biases (theory §2.3), and its exact derivatives.

    K = 4 Phi2(h, k; r) - 2 Phi(h) - 2 Phi(k) + 1 with h = sqrt2 b/A1, k = sqrt2 b'/A2,
    r = 2 a.a'/(A1 A2). Differentiating in (|a|^2, a.a', b): Q = dK/d(a.a'),
    P = 2 dK/d|a|^2, D = dK/db, using dPhi2/dh = phi(h) Phi((k - r h)/q), dPhi2/dr = phi2.
    """
    A1sq, A2sq = 1.0 + 2.0 * n1, 1.0 + 2.0 * n2
    A1, A2 = np.sqrt(A1sq), np.sqrt(A2sq)
    h, k = np.sqrt(2.0) * b1 / A1, np.sqrt(2.0) * b2 / A2
    r = np.clip(2.0 * t / (A1 * A2), -1.0, 1.0)
    q = np.sqrt(np.maximum(1.0 - r * r, 1e-300))
    K = 4.0 * bvn_cdf(h, k, r) - 2.0 * ndtr(h) - 2.0 * ndtr(k) + 1.0
    density = bvn_pdf(h, k, r, q)
    dK_dh = 4.0 * normal_pdf(h) * ndtr((k - r * h) / q) - 2.0 * normal_pdf(h)
    Q = 8.0 * density / (A1 * A2)
    D = np.sqrt(2.0) / A1 * dK_dh
    P = -2.0 / A1sq * (h * dK_dh + 4.0 * r * density)
    return K, P, Q, D


def linear_kernel(n1, n2, t, b1=None, b2=None):
    """E[(a.x + b)(a'.x + b')] = a.a' + b b'; grad_a = a', d/db = b'."""
    t = np.asarray(t, dtype=np.float64)
    if b1 is None:
        return t * 1.0, np.zeros_like(t), np.ones_like(t), np.zeros_like(t)
    return t + b1 * b2, np.zeros_like(t), np.ones_like(t), b2 + np.zeros_like(t)


# --------------------------------------------------------------------------- quadrature
QUADRATURE_RULES = ("trapezoid", "hermite")


def quadrature_rule(rule: str, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes t and weights (summing to 1) for E[g(Z)], Z ~ N(0, 1).

    "hermite": probabilists' Gauss-Hermite (theory §2.4), exact for polynomials of
    degree < 2 order. "trapezoid": a uniform grid on [-9, 9] with Gaussian weights; for
    integrands analytic in a strip of half-width s (tanh(|a| t) has s = pi/(2|a|)) its
    error decays like exp(-2 pi s/h), far faster than Gauss-Hermite's exp(-s sqrt(2n)):
    at |a| = 3 and 128 nodes, 5e-11 against 9e-6 for tanh-sigmoid products.
    """
    if rule == "hermite":
        nodes, weights = hermegauss(order)
    elif rule == "trapezoid":
        nodes = np.linspace(-9.0, 9.0, order)
        weights = np.exp(-0.5 * nodes * nodes)
    else:
        raise ValueError(f"unknown quadrature rule {rule!r}; use {' or '.join(QUADRATURE_RULES)}")
    return nodes, weights / weights.sum()


def quadrature_kernel(act_u: Activation, act_v: Activation, nodes, weights,
                      n1, n2, t, b1=None, b2=None):
    """2-D quadrature of K, P, Q, D for any smooth target activation (theory §2.4).

    u = b + |a| t_k, v = b' + (a.a'/|a|) t_k + sqrt(|a'|^2 - (a.a')^2/|a|^2) t_l, summed
    with weights w_k w_l; P, Q, D come from Stein's lemma, so the target activation must
    have a sigma'' without Dirac part.
    """
    n1, n2, t = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (n1, n2, t)))
    b1 = np.zeros_like(n1) if b1 is None else np.broadcast_to(b1, n1.shape)
    b2 = np.zeros_like(n1) if b2 is None else np.broadcast_to(b2, n1.shape)
    s1 = np.sqrt(n1)
    s1s = np.where(s1 > 0, s1, 1.0)
    proj = np.where(s1 > 0, t / s1s, 0.0)
    perp = np.sqrt(np.maximum(0.0, n2 - proj * proj))
    K, P, Q, D = (np.zeros(n1.shape) for _ in range(4))
    inner_v = perp[..., None] * nodes  # (..., order)
    for node, weight in zip(nodes, weights, strict=False):
        u = b1 + s1 * node
        v = (b2 + proj * node)[..., None] + inner_v
        sv = act_v.f(v) @ weights
        dsv = act_v.df(v) @ weights
        K += weight * act_u.f(u) * sv
        P += weight * act_u.d2f(u) * sv
        Q += weight * act_u.df(u) * dsv
        D += weight * act_u.df(u) * sv
    return K, P, Q, D


def smooth_quadrature_kernel(act_u: Activation, act_v: Activation, tol: float,
                             n1, n2, t, b1=None, b2=None):
    """K, P, Q, D of two smooth activations to accuracy ``tol`` (theory §2.4, §2.6).

    u = b + |a| zeta, v = b' + (a.a'/|a|) zeta + sqrt(|a'|^2 - (a.a')^2/|a|^2) eta; the
    product trapezoid rule on nested grids (steps from
    :func:`meanfield.kernels.mixed.node_plan`: the strip and growth of the integrand
    along each axis follow from the coefficients |a|, a.a'/|a| and the perpendicular
    part) gives each quantity at steps h, 2h and 4h on both axes; where
    :func:`meanfield.kernels.mixed.error_estimate` exceeds tol max(1, sum of |terms|),
    both steps are halved. P, Q, D by Stein's lemma.
    """
    n1, n2, t = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (n1, n2, t)))
    shape = n1.shape
    b1 = np.zeros(shape) if b1 is None else np.broadcast_to(b1, shape)
    b2 = np.zeros(shape) if b2 is None else np.broadcast_to(b2, shape)
    n1, n2, t, b1, b2 = (np.asarray(v, dtype=np.float64).ravel() for v in (n1, n2, t, b1, b2))
    s1 = np.sqrt(n1)
    proj = np.where(s1 > 0, t / np.where(s1 > 0, s1, 1.0), 0.0)
    perp = np.sqrt(np.maximum(0.0, n2 - proj * proj))
    step_z, half_z, step_e, half_e = _mixed.product_plan(act_u, act_v, s1, proj, perp, tol)

    def u_values(u):
        return act_u.f(u), act_u.df(u), act_u.d2f(u)

    def v_values(v):
        return act_v.f(v), act_v.df(v)

    out = np.empty((4, n1.size))
    active = np.arange(n1.size)
    for _ in range(_mixed.MAX_REFINE + 1):
        sums, mag = product_trapezoid(
            u_values, v_values, _KERNEL_ORDERS, 1, b1[active], s1[active], b2[active],
            proj[active], perp[active], step_z[active], half_z[active], step_e[active],
            half_e[active])
        out[:, active] = sums[0]
        bad = np.max(_mixed.error_estimate(*sums), axis=0) > tol * np.maximum(1.0, mag[0])
        if not bad.any():
            return tuple(o.reshape(shape) for o in out)
        active = active[bad]
        step_z[active] *= 0.5
        step_e[active] *= 0.5
        half_z[active] *= 2
        half_e[active] *= 2
    raise ValueError(f"{act_u.name} x {act_v.name} kernel: the quadrature error estimate "
                     f"still exceeds tol = {tol:g} after {_mixed.MAX_REFINE} refinements")


#: (i, j) with K, P, Q, D = E[f^(i)(u) g^(j)(v)], f and g the target and source activations
#: (P, Q, D by Stein's lemma)
_KERNEL_ORDERS = ((0, 0), (2, 0), (1, 1), (1, 0))
#: grid points (pairs x zeta nodes x eta nodes) evaluated at once by product_trapezoid
PRODUCT_CHUNK = 1 << 18
#: padding points (beyond the pairs' own grids) worth one more chunk of product_trapezoid
PRODUCT_WASTE = 1 << 12


def product_trapezoid(u_values, v_values, orders, n_mag, b1, s1, b2, proj, perp,
                      step_z, half_z, step_e, half_e):
    """Nested product trapezoid sums of F_n = E[f_i(u) g_k(v)], (i, k) = orders[n], with
    u = b1 + s1 zeta, v = b2 + proj zeta + perp eta and zeta, eta ~ N(0, 1) independent
    (theory §2.6), over flat pairs with their own grids.

    Pair p's nodes are zeta_j = j step_z (|j| <= half_z) and eta_l = l step_e
    (|l| <= half_e); level lv = 0, 1, 2 (steps h, 2h, 4h) sums the nodes with j and l
    divisible by 2^lv, with weights 2^lv step_z phi(zeta_j) and 2^lv step_e phi(eta_l).
    ``u_values(u)`` and ``v_values(v)`` return the lists [f_0(u), f_1(u), ...] and
    [g_0(v), g_1(v), ...] (elementwise). Returns the sums, shape (3, len(orders), pairs),
    and the sums of |terms| at level 0 of the first ``n_mag`` orders, shape (n_mag, pairs).

    The pairs, sorted by (half_z, half_e), are evaluated in chunks on the 3-D grid
    (pairs, zeta nodes, eta nodes) of at most PRODUCT_CHUNK points (a pair with more
    points in blocks of zeta nodes), the eta sums as matrix products; a node beyond a
    pair's own range has weight 0 and is evaluated at zeta = 0 or eta = 0 (never far
    out, where activations overflow).
    """
    n = len(b1)
    sums = np.zeros((3, len(orders), n))
    mag = np.zeros((n_mag, n))
    order = np.lexsort((half_e, half_z))
    start = 0
    while start < n:
        idx = _product_chunk(half_z, half_e, order[start:start + PRODUCT_CHUNK])
        start += len(idx)
        zeta, wz = _product_axis(step_z[idx], half_z[idx])
        eta, we = _product_axis(step_e[idx], half_e[idx])
        rows = max(1, PRODUCT_CHUNK // (len(idx) * eta.shape[1]))
        for z in range(0, zeta.shape[1], rows):
            block = slice(z, z + rows)
            fu = u_values(b1[idx, None] + s1[idx, None] * zeta[:, block])
            gv = v_values((b2[idx, None] + proj[idx, None] * zeta[:, block])[:, :, None]
                          + perp[idx, None, None] * eta[:, None, :])
            sv = [g @ we for g in gv]  # (pairs, zeta nodes, levels)
            for n_, (i, k) in enumerate(orders):
                sums[:, n_, idx] += np.einsum("pz,pzl,pzl->lp", fu[i], wz[:, block], sv[k])
            abs_v = {k: (np.abs(gv[k]) @ we[:, :, :1])[..., 0] for _, k in orders[:n_mag]}
            for n_, (i, k) in enumerate(orders[:n_mag]):
                mag[n_, idx] += np.einsum("pz,pz,pz->p", np.abs(fu[i]), wz[:, block, 0],
                                          abs_v[k])
    return sums, mag


def _product_chunk(half_z, half_e, idx):
    """The longest prefix of the pairs ``idx`` whose common grid (the largest half counts)
    has at most PRODUCT_CHUNK points and at most PRODUCT_WASTE (1/8 of the pairs' own
    points if more) points beyond the pairs' own grids; one pair at least."""
    own = (2 * half_z[idx] + 1) * (2 * half_e[idx] + 1)
    points = ((2 * np.maximum.accumulate(half_z[idx]) + 1)
              * (2 * np.maximum.accumulate(half_e[idx]) + 1) * np.arange(1, len(idx) + 1))
    total = np.cumsum(own)
    fits = (points <= PRODUCT_CHUNK) & (points - total <= np.maximum(PRODUCT_WASTE, total / 8))
    return idx[:max(1, len(idx) if fits.all() else int(np.argmin(fits)))]


def _product_axis(step, half):
    """Nodes j step (0 beyond |j| <= half), shape (pairs, 2 max(half) + 1), and their
    weights 2^lv step phi at the levels lv = 0, 1, 2, shape (pairs, nodes, 3)."""
    j = np.arange(-int(half.max()), int(half.max()) + 1)
    keep = np.abs(j) <= half[:, None]
    x = np.where(keep, j * step[:, None], 0.0)
    w = np.where(keep, normal_pdf(x) * step[:, None], 0.0)
    return x, np.stack([np.where(j % (1 << lv) == 0, (1 << lv) * w, 0.0) for lv in range(3)],
                       axis=-1)


# --------------------------------------------------------------------------- dispatch
#: input laws with exact kernels: x ~ N(0, I_d), or x uniform on the sphere S^{d-1}
INPUT_LAWS = ("gaussian", "sphere")

_CLOSED_FORMS = {
    ("relu", False): relu_kernel,
    ("relu", True): relu_bias_kernel,
    ("erf", False): erf_kernel,
    ("erf", True): erf_bias_kernel,
    ("linear", False): linear_kernel,
    ("linear", True): linear_kernel,
}
#: default accuracy of the kernels computed by quadrature (theory §2.6)
DEFAULT_TOL = 1e-10
#: kernels of a ReLU with another activation (theory §2.5), by the other activation
MIXED_NAMES = ("relu_erf", "relu_linear", "relu_quadrature")


@dataclass(frozen=True)
class PairKernel:
    """The Gaussian pair kernel between a target activation and a source activation.

    ``name`` identifies the formula for the fast backends: "relu", "relu_bias", "erf",
    "erf_bias", "linear", "linear_bias" for closed forms; "relu_erf", "relu_linear" (closed
    forms) and "relu_quadrature" (semi-analytic, accuracy ``tol``) for a ReLU with another
    activation, either being the target; "quadrature" for two smooth activations
    (nested trapezoid to accuracy ``tol``, or the fixed rule ``rule`` with ``order`` nodes
    per axis when those are set).
    ``scale`` multiplies K, P, Q, D (1/d for inputs uniform on the unit sphere, which for
    1-homogeneous activations without bias is exact).
    """

    name: str
    activation: Activation
    source_activation: Activation
    bias: bool
    order: int | None = None
    rule: str | None = None
    scale: float = 1.0
    tol: float = DEFAULT_TOL

    @property
    def work(self) -> int:
        """Rough cost of one pair in units of a closed form (used to size tiles)."""
        if self.name == "quadrature":
            return self.order * self.order if self.order else 4096
        return 64 if self.name == "relu_quadrature" else 1

    def __call__(self, n1, n2, t, b1=None, b2=None):
        """(K, P, Q, D) on broadcast pair scalars; see the module docstring."""
        if self.bias:
            b1 = np.zeros_like(n1) if b1 is None else b1
            b2 = np.zeros_like(n2) if b2 is None else b2
        else:
            b1 = b2 = None
        if self.name == "quadrature" and self.order:
            nodes, weights = quadrature_rule(self.rule or "trapezoid", self.order)
            out = quadrature_kernel(self.activation, self.source_activation, nodes, weights,
                                    n1, n2, t, b1, b2)
        elif self.name == "quadrature":
            out = smooth_quadrature_kernel(self.activation, self.source_activation, self.tol,
                                           n1, n2, t, b1, b2)
        elif self.name in MIXED_NAMES:
            relu_target = self.activation.name == "relu"
            smooth = self.source_activation if relu_target else self.activation
            out = _mixed.relu_mixed_kernel(relu_target, smooth, self.bias, self.tol,
                                           n1, n2, t, b1, b2)
        else:
            out = _CLOSED_FORMS[(self.activation.name, self.bias)](n1, n2, t, b1, b2)
        if self.scale != 1.0:
            out = tuple(self.scale * o for o in out)
        return out


def pair_kernel(activation: str | Activation,
                source_activation: str | Activation | None = None, bias: bool = False,
                inputs: str = "gaussian", order: int | None = None, rule: str | None = None,
                d: int | None = None, tol: float = DEFAULT_TOL) -> PairKernel:
    """Choose the exact kernel for (activation, source activation, bias, input law).

    Closed forms when both activations are the same relu, erf or linear; a ReLU with
    erf or linear in closed form and with any other smooth activation semi-analytically
    (theory §2.5), in either role; two smooth activations by quadrature. Quadrature
    meets the accuracy ``tol`` (theory §2.6) unless ``order`` (nodes per axis) or
    ``rule`` ("trapezoid" or "hermite", see :func:`quadrature_rule`) ask for the fixed
    rule of earlier versions (smooth pairs only; no error estimate). ``inputs`` is
    "gaussian" (x ~ N(0, I_d)) or "sphere" (x uniform on S^{d-1}; relu or linear without
    bias, K_sphere = K_gauss / d).

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> kernel = mf.pair_kernel("relu")            # closed form (theory §2.2)
        >>> n1, n2, t = np.array([1.0, 1.0]), np.array([1.0, 1.0]), np.array([1.0, 0.0])
        >>> K, P, Q, D = kernel(n1, n2, t)             # a = a' unit, then a orthogonal to a'
        >>> bool(np.allclose(K, [1 / 2, 1 / (2 * np.pi)]))
        True
        >>> mf.pair_kernel("relu", "erf").name, mf.pair_kernel("tanh").name
        ('relu_erf', 'quadrature')
    """
    act = get_activation(activation)
    src = act if source_activation is None else get_activation(source_activation)
    if inputs not in INPUT_LAWS:
        raise ValueError(f"inputs must be one of {', '.join(INPUT_LAWS)}, got {inputs!r}")
    tol = float(tol)
    _mixed.log_tol(tol)  # validates tol
    scale = 1.0
    if inputs == "sphere":
        if bias or act.homogeneous_degree != 1 or src.homogeneous_degree != 1:
            raise ValueError("sphere inputs need 1-homogeneous activations (relu, linear) "
                             "without bias")
        if d is None:
            raise ValueError("sphere inputs need the input dimension d")
        scale = 1.0 / float(d)
    if act.name == src.name and (act.name, bias) in _CLOSED_FORMS:
        name = act.name + ("_bias" if bias else "")
        return PairKernel(name, act, src, bias, scale=scale, tol=tol)
    if "relu" in (act.name, src.name):
        other = src if act.name == "relu" else act
        if act.name != src.name and other.smooth:
            name = "relu_" + (other.name if other.name in ("erf", "linear") else "quadrature")
            return PairKernel(name, act, src, bias, scale=scale, tol=tol)
    if not (act.smooth and src.smooth):
        raise ValueError(f"no Gaussian kernel for a {act.name} unit paired with a "
                         f"{src.name} unit")
    if order is None and rule is None and act.hermite is not None and src.hermite is not None:
        # two polynomials (theory §13.1): Gauss-Hermite exact for the product's degree
        nodes = (len(act.hermite) + len(src.hermite)) // 2 + 1
        return PairKernel("quadrature", act, src, bias, nodes, "hermite", scale, tol)
    if order is None and rule is None:
        return PairKernel("quadrature", act, src, bias, scale=scale, tol=tol)
    order = 96 if order is None else int(order)
    if order < 2:
        raise ValueError(f"quadrature order must be at least 2, got {order}")
    rule = "trapezoid" if rule is None else rule
    quadrature_rule(rule, 2)  # validates the rule name
    return PairKernel("quadrature", act, src, bias, order, rule, scale, tol)
