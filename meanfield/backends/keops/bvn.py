"""Normal and bivariate normal CDFs as small KeOps formulas (vectorised quadrature).

KeOps has no erf, so Phi and Phi_2 are written with exponentials. Every quadrature is one
Q-dimensional KeOps vector expression contracted with a parameter vector of weights
(``(weights | integrand)``), so the formula tree has one node per operation whatever
the number of nodes Q; expanding the sums term by term made KeOps' code generator
take more than 12 minutes on Phi_2.

* :func:`normal_cdf` -- Phi(x), |error| < 5e-16: 16-node Gauss-Legendre for
  Phi(x) = 1/2 + x/sqrt(2 pi) int_0^1 exp(-x^2 u^2/2) du when |x| < 3, and for |x| >= 3
  the tail s = Phi(-|x|) from s (1 - s) = 2 T(x, 1) (Owen's T, same rule).
* :func:`bvn_cdf` -- Phi_2(h, k; rho), Genz's BVND (A. Genz, "Numerical computation of
  rectangular bivariate and trivariate normal and t probabilities", Stat. Comput. 14,
  2004), double precision (|error| ~ 1e-15):
  for |rho| < 0.925, Phi_2 = Phi(h) Phi(k) + (1/2 pi) int_0^{asin rho}
  exp(-(h^2 + k^2 - 2 h k sin t)/(2 cos^2 t)) dt by 20-node Gauss-Legendre; for
  |rho| >= 0.925 Drezner-Wesolowsky's substitution x = sqrt(1 - rho'^2) (integrating
  from rho' = +-1, where Phi_2 is Phi(min(h, k)) or max(0, Phi(h) + Phi(k) - 1)), a
  two-term Taylor correction integrated in closed form and the smooth remainder by the
  same 20-node rule. Both branches are evaluated and selected with IfElse; rho = +-1
  exactly (q^2 = 0) is the degenerate limit, with no special case.

All arguments are KeOps LazyTensors of dimension 1 of the particles' dtype; ``Quad``
holds the parameter vectors of nodes and weights in that dtype.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.polynomial.legendre import leggauss
from pykeops.numpy import LazyTensor

SQRT_2PI = math.sqrt(2.0 * math.pi)
TWO_PI = 2.0 * math.pi
#: Genz's switch from the arcsine integral to the Drezner-Wesolowsky form
HIGH_RHO = 0.925


def where(cond, a, b):
    """a where cond >= 0, else b (KeOps IfElse; both branches are evaluated, NaN or inf
    in the branch not taken does not propagate)."""
    return cond.ifelse(a, b)


class Quad:
    """Quadrature parameter vectors as symbolic KeOps parameters (Pm), indices
    ``first`` .. ``first + 5``; :meth:`arrays` gives their values in that order.

    ``u2``, ``w`` (16-node Gauss-Legendre on [0, 1]: u^2 and w/sqrt(2 pi)) for Phi's core;
    ``v``, ``wv`` (1 + u^2 and w/(2 pi (1 + u^2))) for T(x, 1); ``x``, ``wx``
    (20-node Gauss-Legendre on [0, 2]) for Phi_2. ``tiny`` (1e-300 in float64, 1e-30 in
    float32) keeps divisions by q = sqrt(1 - rho^2) finite at rho = +-1.
    """

    def __init__(self, dtype, first: int):
        u, w = leggauss(16)
        u, w = 0.5 * (1.0 + u), 0.5 * w
        x, wx = leggauss(20)
        self._values = [u * u, w / SQRT_2PI, 1.0 + u * u, w / (TWO_PI * (1.0 + u * u)),
                        1.0 + x, wx]
        self.dtype = np.dtype(dtype)
        self.tiny = 1e-300 if self.dtype == np.float64 else 1e-30
        self.u2, self.w, self.v, self.wv, self.x, self.wx = (
            LazyTensor((first + n, len(val), 2)) for n, val in enumerate(self._values))

    def arrays(self):
        """The parameter values, in index order, in the dtype."""
        return [np.ascontiguousarray(v, dtype=self.dtype) for v in self._values]


def normal_cdf(x, quad: Quad):
    """Phi(x) for a scalar LazyTensor x (formulas in the module docstring); +-inf and
    huge |x| give 1 and 0."""
    xx = -0.5 * x * x
    big = x.abs() - 3.0  # >= 0: tail; one 16-vector of exponentials serves both rules
    S = where(big, quad.wv, quad.w) | (xx * where(big, quad.v, quad.u2)).exp()
    small = 0.5 + x * S
    tail = 4.0 * S / (1.0 + (1.0 - 8.0 * S).relu().sqrt())
    return where(big, where(x, 1.0 - tail, tail), small).factorize(S).factorize(x)


def bvn_cdf(h, k, rho, qq, Ph, Pk, quad: Quad):
    """Phi_2(h, k; rho) = P(Z1 <= h, Z2 <= k) for standard normals of correlation rho.

    ``qq`` = 1 - rho^2 (passed separately so that callers can compute it without
    cancellation near |rho| = 1; 0 means rho = +-1), ``Ph`` = Phi(h), ``Pk`` = Phi(k).
    Genz's BVND with 20 Gauss-Legendre nodes (module docstring); clipped to [0, 1].
    """
    hk = h * k
    # |rho| < 0.925: Phi(h) Phi(k) + (asin(rho)/4 pi) sum_i w_i f(asin(rho) x_i/2), where
    # f(t) = exp(-(h^2 + k^2 - 2 h k sin t)/(2 cos^2 t)); the exponentials are shared
    # with the |rho| >= 0.925 branch (E below), only one of which is used per pair
    asr = 0.5 * rho.clamp(-1.0, 1.0).asin()
    sn = (asr * quad.x).sin()
    low_arg = (sn * hk - 0.5 * (h * h + k * k)) / (1.0 - sn * sn)
    # |rho| >= 0.925 (Genz's bvnu on (-h, -k), with k -> -k when rho < 0)
    sgn = where(rho, 1.0, -1.0)
    HK = hk * sgn
    d = h - sgn * k
    bs = d * d
    as_ = qq + quad.tiny
    a = as_.sqrt()
    c = (4.0 - HK) / 8.0
    dd = (12.0 - HK) / 80.0
    first = a * (-0.5 * (bs / as_ + HK)).exp() * (
        1.0 - c * (bs - as_) * (1.0 - dd * bs) / 3.0 + c * dd * as_ * as_)
    b = d.abs()
    HKc = (HK + 100.0).relu() - 100.0  # exp(-HK/2) only where HK > -100
    second = (-0.5 * HKc).exp() * SQRT_2PI * normal_cdf(-b / a, quad) * b * (
        1.0 - c * bs * (1.0 - dd * bs) / 3.0)
    first = first - where(HK + 100.0, second, 0.0)
    a2 = 0.5 * a
    xs = (a2 * quad.x) ** 2
    rs = (1.0 - xs).sqrt()
    is_high = rho.abs() - HIGH_RHO
    E = where(is_high, -0.5 * (bs / xs + HK), low_arg).exp()  # one 20-vector for both
    low = Ph * Pk + asr / TWO_PI * (quad.wx | E)
    integrand = E * (1.0 + c * xs * (1.0 + 5.0 * dd * xs)) \
        - (-0.5 * bs / xs - HK / (1.0 + rs)).exp() / rs
    corr = (a2 * (quad.wx | integrand) - first) / TWO_PI
    pos = corr + where(h - k, Pk, Ph)                         # + Phi(min(h, k))
    neg = where(-(h + k), -corr, Ph + Pk - 1.0 - corr)        # L - corr
    out = where(is_high, where(rho, pos, neg), low)
    out = out.factorize(E).factorize(xs).factorize(rs).factorize(bs).factorize(HK) \
        .factorize(as_).factorize(c).factorize(dd).factorize(sn)
    return out.clamp(0.0, 1.0).factorize(hk).factorize(rho)
