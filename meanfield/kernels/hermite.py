"""Gaussian derivative expectations D_n(rho, b) = E[sigma^{(n)}(rho g + b)], g ~ N(0, 1).

They are the whole of what a neuron sigma(a.x + b) shares with a Hermite index target
(theory §13): by Stein's lemma, for x ~ N(0, I_d) and orthonormal u_1..u_r,

    E[sigma(a.x + b) prod_j He_{K_j}(u_j.x)] = D_{|K|}(|a|, b) prod_j (u_j.a)^{K_j},

and the family is closed under differentiation: grad_a D_n = a D_{n+2} and
d/db D_n = D_{n+1}. Closed forms (theory §13.2):

* relu: D_0 = rho phi(h) + b Phi(h), D_1 = Phi(h) (h = b/rho), and for n >= 2
  D_n = E[delta^{(n-2)}(rho g + b)] = rho^{1-n} He_{n-2}(-h) phi(h);
* erf: D_0 = erf(b/s), s^2 = 1 + 2 rho^2, and for n >= 1
  D_n = (2/sqrt(pi)) (-1)^{n-1} s^{-n} H_{n-1}(b/s) exp(-b^2/s^2) (physicists' H);
* linear: D_0 = b, D_1 = 1, D_n = 0 for n >= 2;
* a polynomial sum_k h_k He_k (:func:`meanfield.core.activations.hermite_activation`):
  Gauss-Hermite with deg/2 + 1 nodes, exact.

tanh, sigmoid and softplus have sigma^{(n)} as a polynomial in tanh or the sigmoid
(t' = 1 - t^2, s' = s(1 - s); softplus' is the sigmoid); D_n is then a 1-D trapezoid sum
with the a posteriori error control of :mod:`meanfield.kernels.mixed` (theory §2.6) to the
accuracy ``tol``. A dead neuron (rho = 0) has D_n = sigma^{(n)}(b) exactly, with the
conventions relu'(0) = 0 and relu^{(n)} = 0 for n >= 2 (theory §2.1).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.polynomial import Polynomial
from numpy.polynomial.hermite import hermval
from numpy.polynomial.hermite_e import HermiteE, hermegauss, hermeder, hermeval
from scipy.special import erf, expit, log_expit, ndtr

from . import mixed as _mixed
from .gaussian import DEFAULT_TOL
from ..core.activations import Activation, get_activation
from ..core.hermite import hermite_e

#: activations whose D_n are closed forms; the others are computed by quadrature
CLOSED = ("relu", "erf", "linear")
#: activations with D_n (closed or by quadrature)
SUPPORTED = ("relu", "erf", "linear", "tanh", "sigmoid", "softplus")
#: quadrature step never above this (the Gaussian weight alone is then exact to ~1e-34)
MAX_STEP = 0.5
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def gaussian_derivatives(activation: str | Activation, rho, b, n_max: int,
                         tol: float = DEFAULT_TOL) -> np.ndarray:
    """D_n(rho, b) = E[sigma^{(n)}(rho g + b)], g ~ N(0, 1), for n = 0..n_max (theory §13.2).

    ``rho`` >= 0 and ``b`` broadcast together; returns shape (n_max + 1,) + their shape,
    float64. Closed forms for relu, erf and linear; tanh, sigmoid and softplus by the
    error-controlled trapezoid rule to the accuracy ``tol``.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> D = mf.gaussian_derivatives("relu", np.array([1.0]), np.array([0.0]), 3)
        >>> bool(np.allclose(D[:, 0], [1 / np.sqrt(2 * np.pi), 0.5, 1 / np.sqrt(2 * np.pi), 0]))
        True
        >>> D = mf.gaussian_derivatives("tanh", 1.0, 0.0, 1)   # E[tanh'(g)] = E[g tanh(g)]
        >>> bool(abs(D[1] - 0.6057) < 1e-4)
        True
    """
    act = get_activation(activation)
    if not supported(act):
        raise ValueError(f"activation: no Gaussian derivatives for {act.name!r}; use one of "
                         f"{', '.join(SUPPORTED)} or a hermite[...] polynomial")
    n_max = int(n_max)
    if n_max < 0:
        raise ValueError(f"n_max must be >= 0, got {n_max}")
    rho, b = np.broadcast_arrays(np.asarray(rho, dtype=np.float64),
                                 np.asarray(b, dtype=np.float64))
    if np.any(rho < 0) or not (np.all(np.isfinite(rho)) and np.all(np.isfinite(b))):
        raise ValueError("rho must be finite and >= 0, b finite")
    if act.name == "relu":
        return _relu(rho, b, n_max)
    if act.name == "erf":
        return _erf(rho, b, n_max)
    if act.hermite is not None:
        return _polynomial(act.hermite, rho, b, n_max)
    if act.name == "linear":
        out = np.zeros((n_max + 1,) + rho.shape)
        out[0] = b
        if n_max >= 1:
            out[1] = 1.0
        return out
    return _quadrature(act, rho, b, n_max, float(tol))


def supported(activation: Activation) -> bool:
    """Whether :func:`gaussian_derivatives` knows ``activation``: SUPPORTED or a polynomial.

    Examples:

        >>> import meanfield as mf
        >>> supported(mf.get_activation("tanh")), supported(mf.hermite_activation([0, 1]))
        (True, True)
    """
    return activation.name in SUPPORTED or activation.hermite is not None


def _polynomial(h, rho, b, n_max):
    series = HermiteE(h)
    nodes, weights = hermegauss(len(h) // 2 + 1)   # exact up to degree len(h) >= deg + 1
    weights = weights / weights.sum()
    z = rho[..., None] * nodes + b[..., None]
    out = np.zeros((n_max + 1,) + rho.shape)
    for n in range(min(n_max, len(h) - 1) + 1):
        out[n] = series.deriv(n)(z) @ weights
    return out


def _relu(rho, b, n_max):
    out = np.zeros((n_max + 1,) + rho.shape)
    live = rho > 0
    r = np.where(live, rho, 1.0)
    h = np.where(live, b / r, 0.0)
    with np.errstate(over="ignore"):  # phi(h) underflows to 0 where h * h overflows
        pdf = _INV_SQRT_2PI * np.exp(-0.5 * h * h)
    out[0] = np.where(live, rho * pdf + b * ndtr(h), np.maximum(b, 0.0))
    if n_max >= 1:
        out[1] = np.where(live, ndtr(h), (b > 0).astype(np.float64))
    with np.errstate(over="ignore", invalid="ignore"):
        for n in range(2, n_max + 1):
            value = r ** (1 - n) * hermite_e(n - 2, -h) * pdf
            out[n] = np.where(live & np.isfinite(value), value, 0.0)
    return out


def _erf(rho, b, n_max):
    out = np.empty((n_max + 1,) + rho.shape)
    s = np.sqrt(1.0 + 2.0 * rho * rho)
    z = b / s
    out[0] = erf(z)
    gauss = _TWO_OVER_SQRT_PI * np.exp(-z * z)
    for n in range(1, n_max + 1):
        coef = np.zeros(n)
        coef[-1] = 1.0
        out[n] = (-1.0) ** (n - 1) * s ** (-n) * hermval(z, coef) * gauss
    return out


@lru_cache(maxsize=None)
def derivative_polynomials(name: str, n_max: int) -> tuple[Polynomial, ...]:
    """p_n with sigma^{(n)}(z) = p_n(base(z)) for n = 0..n_max; base = tanh for tanh, the
    sigmoid for sigmoid and softplus (softplus's p_0 is unused: it is not a polynomial).

    Examples:

        >>> [p.coef.tolist() for p in derivative_polynomials("tanh", 2)]
        [[0.0, 1.0], [1.0, 0.0, -1.0], [0.0, -2.0, 0.0, 2.0]]
    """
    chain = Polynomial([1.0, 0.0, -1.0]) if name == "tanh" else Polynomial([0.0, 1.0, -1.0])
    polys = [Polynomial([0.0, 1.0])]
    if name == "softplus":  # softplus' = sigmoid, then the sigmoid's chain
        polys.append(Polynomial([0.0, 1.0]))
    while len(polys) <= n_max:
        polys.append(polys[-1].deriv() * chain)
    return tuple(polys[:n_max + 1])


@lru_cache(maxsize=None)
def _power_coefficients(name: str, n_max: int) -> np.ndarray:
    """C with C[k, n] the t^k coefficient of p_n of :func:`derivative_polynomials`."""
    polys = derivative_polynomials(name, n_max)
    C = np.zeros((max(len(p.coef) for p in polys), n_max + 1))
    for n, p in enumerate(polys):
        C[:len(p.coef), n] = p.coef
    C.flags.writeable = False
    return C


@lru_cache(maxsize=None)
def _hermite_coefficients(h: tuple[float, ...], n_max: int) -> np.ndarray:
    """C with C[k, n] the He_k coefficient of the n-th derivative of sum_k h_k He_k."""
    C = np.zeros((len(h), n_max + 1))
    for n in range(min(n_max, len(h) - 1) + 1):
        der = hermeder(h, n)
        C[:len(der), n] = der
    C.flags.writeable = False
    return C


def derivative_values(activation: Activation, z, n_max: int) -> list[np.ndarray]:
    """[sigma(z), sigma'(z), ..., sigma^{(n_max)}(z)] for tanh, sigmoid and softplus (by
    :func:`derivative_polynomials`, sigma^{(n)}(z) = p_n(base(z))) and for a polynomial
    (its Hermite series' derivatives), from cached coefficient matrices.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> vals = derivative_values(mf.get_activation("tanh"), np.array([0.0]), 3)
        >>> [float(v[0]) for v in vals]                # tanh^(3)(0) = -2
        [0.0, 1.0, 0.0, -2.0]
        >>> cube = mf.hermite_activation([0.0, 0.0, 0.0, 1.0])   # He_3(z) = z^3 - 3 z
        >>> [float(v[0]) for v in derivative_values(cube, np.array([2.0]), 4)]
        [2.0, 9.0, 12.0, 6.0, 0.0]
    """
    z = np.asarray(z, dtype=np.float64)
    if activation.hermite is not None:
        C = _hermite_coefficients(activation.hermite, n_max)
        return [hermeval(z, C[:, n]) for n in range(n_max + 1)]
    if activation.name not in ("tanh", "sigmoid", "softplus"):
        raise ValueError(f"activation: no derivative recurrence for {activation.name!r}")
    t = (np.tanh if activation.name == "tanh" else expit)(z)
    C = _power_coefficients(activation.name, n_max)
    # Horner's rule for every p_n at once, in place: no temporary array per degree
    column = (n_max + 1,) + (1,) * t.ndim
    horner = np.empty((n_max + 1,) + t.shape)
    horner[...] = C[-1].reshape(column)
    for coef in C[-2::-1]:
        horner *= t
        horner += coef.reshape(column)
    vals = list(horner)
    if activation.name == "softplus":
        vals[0] = -log_expit(-z)
    return vals


def _quadrature(act: Activation, rho, b, n_max, tol):
    shape = rho.shape
    rho, b = rho.ravel(), b.ravel()

    def derivatives(z):
        return derivative_values(act, z, n_max)

    out = np.empty((n_max + 1, len(rho)))
    dead = rho == 0
    if dead.any():
        out[:, dead] = np.array(derivatives(b[dead]))
    live = np.nonzero(~dead)[0]
    if len(live):
        L = _mixed.log_tol(tol)
        d, gamma = _mixed.strip(act, rho[live])
        step = np.minimum(MAX_STEP, _mixed.trapezoid_step(d, gamma, _mixed.PLAN_FACTOR * L))
        half = np.ceil(_mixed.span(L) / step).astype(np.int64)

        def integrand(zeta, active):
            weight = _INV_SQRT_2PI * np.exp(-0.5 * zeta * zeta)
            idx = live[active]
            return [v * weight for v in derivatives(rho[idx] * zeta + b[idx])]

        sums = _mixed._trapezoid(integrand, step, half, L, tol,
                                      f"E[{act.name}^(n)(rho g + b)]")
        out[:, live] = np.array(sums)
    return out.reshape((n_max + 1,) + shape)


__all__ = ["CLOSED", "SUPPORTED", "derivative_polynomials", "derivative_values",
           "gaussian_derivatives", "supported"]
