"""Bivariate normal building blocks of the Gaussian kernels (theory §2.3).

The bivariate standard normal CDF by Owen's T function (exact to rounding), its density,
the standard normal density, and the snapping of correlations near +-1 that keeps the
kernels' sqrt(1 - rho^2) factors free of rounding noise.
"""
from __future__ import annotations

import numpy as np
from scipy.special import ndtr, owens_t

INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)
TWO_PI = 2.0 * np.pi
#: correlations within RHO_SNAP of +-1 are set to +-1. Rounding makes the cosine of a
#: particle with itself 1 - O(1e-16); the ReLU kernels' sqrt(1 - rho^2) would turn that
#: into O(1e-8) noise in the gradient. Snapping changes K by O(RHO_SNAP^1.5).
RHO_SNAP = 1e-10


def snap_correlation(rho):
    """Clip rho to [-1, 1] and set it to +-1 when 1 - |rho| < RHO_SNAP."""
    rho = np.clip(rho, -1.0, 1.0)
    return np.where(np.abs(rho) > 1.0 - RHO_SNAP, np.sign(rho), rho)


def normal_pdf(x):
    """Standard normal density phi(x)."""
    return INV_SQRT_2PI * np.exp(-0.5 * np.square(x))


def bvn_cdf(h: float | np.ndarray, k: float | np.ndarray,
            rho: float | np.ndarray) -> np.ndarray:
    """Bivariate standard normal CDF Phi_2(h, k; rho) = P(Z1 <= h, Z2 <= k), corr rho.

    Owen (1956): Phi_2 = (Phi(h) + Phi(k))/2 - T(h, a_h) - T(k, a_k) - beta with
    a_h = (k - rho h)/(h q), a_k = (h - rho k)/(k q), q = sqrt(1 - rho^2), and beta = 1/2
    when h k < 0 or (h k = 0 and h + k < 0). rho = +-1 are the degenerate limits
    Phi(min(h, k)) and max(0, Phi(h) + Phi(k) - 1) (theory §2.3).

    Examples:

        >>> import meanfield as mf
        >>> float(mf.bvn_cdf(0.0, 0.0, 0.5))   # 1/4 + arcsin(rho)/(2 pi) = 1/3
        0.333...
        >>> float(mf.bvn_cdf(0.0, 0.0, 0.0))   # independent: 1/2 * 1/2
        0.25
    """
    h, k, rho = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (h, k, rho)))
    rho = np.clip(rho, -1.0, 1.0)
    q = np.sqrt(np.maximum(0.0, 1.0 - rho * rho))
    regular = q > 0
    qs = np.where(regular, q, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        a_h = _owen_slope(k - rho * h, h, qs)
        a_k = _owen_slope(h - rho * k, k, qs)
    beta = np.where((h * k < 0) | ((h * k == 0) & (h + k < 0)), 0.5, 0.0)
    general = 0.5 * (ndtr(h) + ndtr(k)) - _owens_t(h, a_h) - _owens_t(k, a_k) - beta
    origin = 0.25 + np.arcsin(rho) / TWO_PI
    general = np.where((h == 0) & (k == 0), origin, general)
    upper = ndtr(np.minimum(h, k))
    lower = np.maximum(0.0, ndtr(h) + ndtr(k) - 1.0)
    return np.clip(np.where(regular, general, np.where(rho > 0, upper, lower)), 0.0, 1.0)


def _owen_slope(num, h, q):
    """(num)/(h q), with +-inf when h = 0 (where T(0, a) = arctan(a)/(2 pi))."""
    hs = np.where(h != 0, h, 1.0)
    return np.where(h != 0, num / (hs * q), np.copysign(np.inf, num) * (num != 0))


def _owens_t(h, a):
    finite = np.isfinite(a)
    at_zero = np.arctan(a) / TWO_PI
    return np.where(finite, owens_t(h, np.where(finite, a, 0.0)), at_zero)


def safe_ratio(num, q):
    """num/q for q > 0 and its limit (0 or +-inf) at q = 0."""
    qs = np.where(q > 0, q, 1.0)
    return np.where(q > 0, num / qs, np.where(num == 0, 0.0, np.sign(num) * np.inf))


def bvn_pdf(h, k, rho, q):
    """Bivariate standard normal density at (h, k) for correlation rho with
    q = sqrt(1-rho^2) > 0."""
    quad = (h * h - 2.0 * rho * h * k + k * k) / (q * q)
    return np.exp(-0.5 * quad) / (TWO_PI * q)
