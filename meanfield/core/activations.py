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


def get_activation(name: str | Activation) -> Activation:
    """Return the :class:`Activation` called ``name`` (relu, erf, sigmoid, tanh, softplus, linear).

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
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}"
        ) from None
