"""The 2-D ReLU pair kernel as a function on the circle, and its Fourier series (theory §11).

In d = 2, write an input weight as a = r (cos theta, sin theta). The ReLU kernel without
bias (theory §2.1) depends on the two weights only through their norms and the angle
between them:

    K(a, a') = s r r' kappa(theta - theta'),
    kappa(phi) = (sin|phi| + (pi - |phi|) cos phi) / (2 pi),    phi wrapped to [-pi, pi],

with s = 1 for Gaussian inputs and s = 1/d = 1/2 for inputs uniform on the circle. So a
network f = sum_j q_j c_j relu(a_j . x) depends only on the signed measure
nu = sum_j q_j c_j r_j delta_{theta_j} on the circle, and every pair sum is a circular
convolution of nu with kappa or kappa'.

Fourier series. With g(phi) = max(cos phi, 0) and x = rho (cos psi, sin psi),
K = E[rho^2] r r' (g * g)(theta - theta') / (2 pi), E[rho^2] = 2, so
kappa_hat_k = 2 g_hat_k^2 with g_hat_k = cos(k pi/2) / (pi (1 - k^2)) (g_hat_{+-1} = 1/4):

    kappa_hat_0 = 2/pi^2,   kappa_hat_{+-1} = 1/8,   kappa_hat_k = 0 for odd |k| >= 3,
    kappa_hat_k = 2 / (pi^2 (k^2 - 1)^2) for even k != 0,

all non-negative (kappa is a positive-definite function), summing to kappa(0) = 1/2.

Smoothness. Near phi = 0, kappa = 1/2 - phi^2/4 + |phi|^3/(6 pi) + O(phi^4), and near
|phi| = pi, kappa = (pi - |phi|)^3/(6 pi) + ...: kappa is C^2 and its third derivative
jumps at 0 and pi, hence the k^-4 decay. kappa' is odd and continuous with kappa'(0) = 0,
so coincident particles need no special case, but its series converges more slowly:
truncating both series to |k| <= L leaves at most

    tail(kappa)  = sum_{|k|>L} kappa_hat_k            <= tail(kappa') / (L + 1),
                   (4.0e-9 at L = 256, 6.3e-11 at L = 1024: 8e-9 and 1.3e-10 of kappa(0)),
    tail(kappa') = sum_{|k|>L} |k| kappa_hat_k = 1 / (pi^2 (K - 1)^2),  K the least even
                   integer > L (the sum telescopes: k/(k^2-1)^2 = [(k-1)^-2 - (k+1)^-2]/4),

per unit of total variation of nu. The derivative tail (L^-2) is what sets L for a
velocity; the value tail falls like L^-3. The bound is attained only by pairs of
particles about 1/L apart; for spread-out clouds the error is one to two orders smaller.
"""
from __future__ import annotations

import numpy as np

_TWO_PI = 2.0 * np.pi


def wrap(phi):
    """phi reduced to [-pi, pi)."""
    return np.mod(np.asarray(phi, dtype=np.float64) + np.pi, _TWO_PI) - np.pi


def kappa(phi):
    """kappa(phi) = (sin|phi| + (pi - |phi|) cos phi) / (2 pi), 2 pi-periodic (theory §2.1)."""
    phi = wrap(phi)
    a = np.abs(phi)
    return (np.sin(a) + (np.pi - a) * np.cos(phi)) / _TWO_PI


def kappa_prime(phi):
    """kappa'(phi) = -(pi - |phi|) sin(phi) / (2 pi), odd and continuous (theory §11)."""
    phi = wrap(phi)
    return -(np.pi - np.abs(phi)) * np.sin(phi) / _TWO_PI


def kappa_hat(k):
    """Fourier coefficients kappa_hat_k = (1/2pi) int kappa(phi) e^{-ik phi} dphi at integers
    k (theory §11): 1/8 for |k| = 1, 0 for odd |k| >= 3, 2 / (pi^2 (k^2 - 1)^2) for even k."""
    k = np.asarray(k, dtype=np.float64)
    even = np.mod(k, 2.0) == 0
    denom = np.pi**2 * np.where(even, k * k - 1.0, 1.0) ** 2
    return np.where(even, 2.0 / denom, np.where(np.abs(k) == 1, 0.125, 0.0))


def derivative_tail(L: int) -> float:
    """sum_{|k|>L} |k| kappa_hat_k = 1/(pi^2 (K-1)^2), K the least even integer > L: the
    largest error, per unit |nu|, of the kappa' convolution truncated to |k| <= L (theory §11)."""
    L = int(L)
    if L < 1:
        raise ValueError(f"need L >= 1, got {L}")
    K = L + 1 if L % 2 else L + 2
    return 1.0 / (np.pi**2 * (K - 1.0) ** 2)


def modes_for_tolerance(tol: float, derivative: bool = True) -> int:
    """The least odd L whose truncation costs at most tol/2 per unit |nu| (theory §11).

    With ``derivative`` (velocities: kappa and kappa' series) the condition is
    derivative_tail(L) <= tol/2, i.e. L ~ sqrt(2/tol)/pi; without (values and energies:
    the kappa series only) it is derivative_tail(L)/(L+1) <= tol/2, i.e.
    L ~ (2/(pi^2 tol))^(1/3). The other tol/2 is left for the NUFFT.
    """
    tol = float(tol)
    if not (np.isfinite(tol) and 0.0 < tol < 1.0):
        raise ValueError(f"tolerance must be in (0, 1), got {tol}")
    guess = np.sqrt(2.0 / tol) / np.pi if derivative else (2.0 / (np.pi**2 * tol)) ** (1 / 3)
    L = max(1, int(guess) - 2)
    L += 1 - L % 2

    def bound(L):
        return derivative_tail(L) if derivative else derivative_tail(L) / (L + 1)

    while bound(L) > 0.5 * tol:
        L += 2
    return L


def polar(a):
    """Angles theta in [-pi, pi] and radii r of (m, 2) input weights a = r (cos, sin)."""
    a = np.asarray(a, dtype=np.float64)
    return np.arctan2(a[:, 1], a[:, 0]), np.hypot(a[:, 0], a[:, 1])
