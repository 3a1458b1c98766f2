"""Activation functions by name, each with its first and second derivative.

Conventions (theory §2.1): relu'(0) = 0 (the PyTorch convention) and relu'' = 0
almost everywhere; the Dirac mass of relu'' only matters in population expectations,
where the closed forms of :mod:`meanfield.kernels.gaussian` account for it exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.special import erf as _erf
from numpy.polynomial.hermite_e import HermiteE
from scipy.special import expit, log_expit

_TWO_OVER_SQRT_PI = 2.0 / np.sqrt(np.pi)


@dataclass(frozen=True)
class Activation:
    """An activation sigma with sigma' and sigma'' as vectorised NumPy functions.

    ``smooth`` is False when sigma'' has a Dirac part (ReLU), so that generic
    quadrature of E[sigma''(u) sigma(v)] would be wrong; ``homogeneous_degree`` is q
    when sigma(lambda z) = lambda^q sigma(z) for lambda > 0, else None.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> relu = mf.get_activation("relu")
        >>> relu(np.array([-1.0, 2.0])), relu.df(np.array([-1.0, 2.0]))
        (array([0., 2.]), array([0., 1.]))
        >>> relu.smooth, relu.homogeneous_degree
        (False, 1)
    """

    name: str
    f: Callable[[np.ndarray], np.ndarray]
    df: Callable[[np.ndarray], np.ndarray]
    d2f: Callable[[np.ndarray], np.ndarray]
    smooth: bool = True
    homogeneous_degree: int | None = None
    hermite: tuple[float, ...] | None = None  # a polynomial's Hermite coefficients


    def __call__(self, z):
        return self.f(z)


def _relu(z):
    return np.maximum(z, 0.0)


def _relu_d(z):
    return (z > 0).astype(np.result_type(z, np.float32))


def _zeros(z):
    return np.zeros_like(np.asarray(z, dtype=np.result_type(z, np.float32)))


def _ones(z):
    return np.ones_like(np.asarray(z, dtype=np.result_type(z, np.float32)))


def _erf_d(z):
    return _TWO_OVER_SQRT_PI * np.exp(-z * z)


def _erf_d2(z):
    return -2.0 * z * _erf_d(z)


def _sigmoid_d(z):
    s = expit(z)
    return s * (1.0 - s)


def _sigmoid_d2(z):
    s = expit(z)
    return s * (1.0 - s) * (1.0 - 2.0 * s)


def _tanh_d(z):
    t = np.tanh(z)
    return 1.0 - t * t


def _tanh_d2(z):
    t = np.tanh(z)
    return -2.0 * t * (1.0 - t * t)


def _softplus(z):
    return -log_expit(-z)  # log(1 + e^z), stable for large |z|


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("relu", _relu, _relu_d, _zeros, smooth=False, homogeneous_degree=1),
        Activation("erf", _erf, _erf_d, _erf_d2),
        Activation("sigmoid", expit, _sigmoid_d, _sigmoid_d2),
        Activation("tanh", np.tanh, _tanh_d, _tanh_d2),
        Activation("softplus", _softplus, expit, _sigmoid_d),
        Activation("linear", lambda z: np.asarray(z) * 1.0, _ones, _zeros, homogeneous_degree=1),
    )
}


#: names "hermite[h_0, h_1, ...]" are the polynomial activations of :func:`hermite_activation`
HERMITE_PREFIX = "hermite["


def hermite_activation(coefficients) -> Activation:
    """The polynomial sigma(z) = sum_k h_k He_k(z) given by its Hermite coefficients h_k
    (probabilists' He_k, theory §13.1), named "hermite[h_0, h_1, ...]" (that name is a
    valid activation name everywhere: ``get_activation``, networks, configs).

    Its Gaussian pair kernels are exact (Gauss-Hermite with enough nodes) and so are its
    derivative expectations D_n (theory §13.2); the NumPy and Numba backends evaluate it.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> square = mf.hermite_activation([1.0, 0.0, 1.0])     # 1 + He_2(z) = z^2
        >>> square(np.array([3.0])), square.name
        (array([9.]), 'hermite[1.0, 0.0, 1.0]')
        >>> mf.get_activation(square.name).hermite
        (1.0, 0.0, 1.0)
    """
    try:
        h = tuple(float(c) for c in np.atleast_1d(np.asarray(coefficients, dtype=float)))
    except (TypeError, ValueError):
        raise ValueError(f"coefficients must be numbers, got {coefficients!r}") from None
    if not h or not all(np.isfinite(h)):
        raise ValueError(f"coefficients must be a non-empty list of finite numbers, got "
                         f"{coefficients!r}")
    series = HermiteE(h)

    def wrap(poly):
        return lambda z: poly(np.asarray(z)).astype(np.result_type(z, np.float32), copy=False)
    name = HERMITE_PREFIX + ", ".join(repr(c) for c in h) + "]"
    return Activation(name, wrap(series), wrap(series.deriv(1)), wrap(series.deriv(2)),
                      hermite=h)


def get_activation(name: str | Activation) -> Activation:
    """Return the :class:`Activation` called ``name`` (relu, erf, sigmoid, tanh, softplus, linear,
    or a polynomial "hermite[h_0, h_1, ...]" of :func:`hermite_activation`).

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> tanh = mf.get_activation("tanh")
        >>> bool(np.isclose(tanh.df(0.5), 1 - np.tanh(0.5) ** 2))
        True
        >>> sorted(mf.ACTIVATIONS)
        ['erf', 'linear', 'relu', 'sigmoid', 'softplus', 'tanh']
    """
    if isinstance(name, Activation):
        return name
    if isinstance(name, str) and name.startswith(HERMITE_PREFIX) and name.endswith("]"):
        try:
            return hermite_activation([float(c) for c in name[len(HERMITE_PREFIX):-1]
                                       .split(",")])
        except ValueError:
            raise ValueError(f"activation {name!r}: a polynomial is hermite[h_0, h_1, ...] "
                             f"with finite numbers h_k") from None
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}"
        ) from None
