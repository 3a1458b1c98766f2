"""The best risk a student family can reach on an index target, where it is closed (theory §13.5).

The family is every network f(x) = sum_i c_i sigma(a_i.x + b_i) of any width (the mean-field
measures); its L^2(N(0, I_d)) closure decides inf_f 1/2 E[(f - y)^2] =
1/2 |y - P y|^2 + noise^2/2 with P the projection onto that closure:

* with a bias and a non-polynomial activation the family is dense (Leshno, Lin, Pinkus &
  Schocken 1993): only the noise is left;
* a polynomial activation of degree p with a bias (linear: p = 1) spans the polynomials of
  degree <= p, i.e. the Hermite chaoses 0..p;
* without a bias, sigma(rho v.x) = sum_k s_k rho^k (v.x)^k: differentiating in rho spans the
  homogeneous polynomials of the monomial degrees k with s_k != 0. For tanh and erf (odd, every
  odd s_k != 0) the closure is the odd functions (odd chaoses); for the sigmoid the constants
  and the odd functions; for softplus (z/2 plus an even series) the even functions and the
  linear ones. For a polynomial the span is finite: the projection is a least-squares problem
  (the span is invariant under the rotations fixing span(U), so the projection of y is a
  polynomial in U^T x and |x - U U^T x|^2; exact Gaussian and chi-square moments);
* relu without a bias spans the positively 1-homogeneous functions, whose projection is not
  a finite Hermite computation: no closed value (None).
"""
from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

import numpy as np
from numpy.polynomial.hermite_e import herme2poly

from ..core.activations import Activation, get_activation

if TYPE_CHECKING:
    from .targets import IndexTarget

#: chaos degrees (their parity) that each bias-free analytic activation's closure contains
_PARITY = {"erf": lambda n: n % 2 == 1, "tanh": lambda n: n % 2 == 1,
           "sigmoid": lambda n: n == 0 or n % 2 == 1,
           "softplus": lambda n: n == 1 or n % 2 == 0}


def _monomial_degrees(act: Activation, bias: bool) -> list[int] | None:
    """Monomial degrees spanned by a polynomial activation (None if not a polynomial)."""
    if act.name == "linear":
        power = np.array([0.0, 1.0])
    elif act.hermite is not None:
        power = herme2poly(np.asarray(act.hermite, dtype=float))
    else:
        return None
    scale = float(np.max(np.abs(power))) if power.size else 0.0
    live = [k for k, s in enumerate(power) if abs(s) > 1e-12 * scale]
    if bias and live:
        return list(range(max(live) + 1))
    return live


def _gaussian_moment(powers) -> float:
    """E[prod_i g_i^{k_i}] for independent standard normals: prod of (k - 1)!! (0 if odd)."""
    return math.prod(0.0 if k % 2 else float(math.prod(range(k - 1, 0, -2))) for k in powers)


def _chi2_moment(q: int, j: int) -> float:
    """E[s^j] for s = |x_perp|^2 ~ chi^2_q: q (q + 2) ... (q + 2j - 2)."""
    return float(math.prod(q + 2 * i for i in range(j)))


def _least_squares_residual(target: IndexTarget, degrees: list[int]) -> float:
    """|y - P y|^2 for P the projection onto the homogeneous polynomials of the given degrees.

    The span is invariant under the rotations that fix span(U), so P y is a polynomial in
    z = U^T x and s = |x - U z|^2: the basis is z^alpha s^j with |alpha| + 2j in ``degrees``,
    and the normal equations use exact Gaussian and chi-square moments.
    """
    r, q = target.r, target.d - target.r
    y: dict[tuple[int, ...], float] = {}      # y as a polynomial in z: monomial -> coefficient
    for K, beta in target.terms:
        axes = [herme2poly(np.eye(k + 1)[k]) for k in K]
        for gamma in itertools.product(*(range(len(a)) for a in axes)):
            value = beta * math.prod(float(a[g]) for a, g in zip(axes, gamma, strict=True))
            if value:
                y[gamma] = y.get(gamma, 0.0) + value
    basis = [(alpha, (n - sum(alpha)) // 2) for n in degrees
             for alpha in itertools.product(range(n + 1), repeat=r)
             if sum(alpha) <= n and (n - sum(alpha)) % 2 == 0 and (q or sum(alpha) == n)]
    energy = target.second_moment - target.noise**2
    if not basis:
        return energy

    def inner(alpha, j, beta, ell) -> float:
        shifted = [a + b for a, b in zip(alpha, beta, strict=True)]
        return _gaussian_moment(shifted) * _chi2_moment(q, j + ell)
    G = np.array([[inner(a, j, b, ell) for b, ell in basis] for a, j in basis])
    rhs = np.array([sum(c * inner(a, j, g, 0) for g, c in y.items()) for a, j in basis])
    coef = np.linalg.lstsq(G, rhs, rcond=None)[0]
    return max(energy - float(rhs @ coef), 0.0)


def best_risk(target: IndexTarget, activation: str | Activation,
              bias: bool = False) -> float | None:
    """inf over networks of any width of 1/2 E[(f(x) - y)^2] (theory §13.5); None where the
    value is not closed (relu without a bias).

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> target = mf.IndexTarget(np.eye(4)[:, :1], {1: 1.0, 2: 1.0})   # He_1 + He_2
        >>> target.best_risk("tanh")            # odd functions only: He_2 is left, 2!/2
        1.0
        >>> target.best_risk("tanh", bias=True)  # dense with a bias
        0.0
        >>> target.best_risk("linear", bias=True)
        1.0
    """
    act = get_activation(activation)
    noise = 0.5 * target.noise**2
    degrees = _monomial_degrees(act, bool(bias))
    if degrees is not None:
        return 0.5 * _least_squares_residual(target, degrees) + noise
    if bias:
        return noise
    if act.name not in _PARITY:
        return None
    reach = _PARITY[act.name]
    left = sum(beta**2 * math.prod(math.factorial(k) for k in K)
               for K, beta in target.terms if not reach(sum(K)))
    return 0.5 * left + noise
