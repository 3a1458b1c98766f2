"""Initialisation laws of the layers (theory §1): input weights, output weights, biases.

Each law draws an (n, ·) array of unit scale; :meth:`meanfield.model.network.Network.init`
multiplies it by the block's scale (``tau``: s_c, s_a, s_b), so with ``tau = s``:

* input weights ("a"): ``"gaussian"`` a ~ N(0, s^2 I_d); ``"xavier"`` a ~ N(0, s^2 I_d / d)
  (Glorot/Xavier for one output, the law of Safran & Shamir 2018 at s = 1);
  ``"sphere"`` uniform on the sphere of radius s; ``"orthonormal"`` n <= d Haar-random
  orthonormal rows times s (a teacher with orthonormal directions);
* output weights ("c"): ``"gaussian"`` N(0, s^2), ``"uniform"`` s U[0, 1], ``"sign"``
  s * (+-1), ``"ones"`` s, ``"zeros"`` 0;
* biases ("b"): ``"gaussian"`` N(0, s^2), ``"zeros"`` 0.
"""
from __future__ import annotations

import numpy as np

#: laws of the input weights
INPUT_WEIGHT_LAWS = ("gaussian", "xavier", "sphere", "orthonormal")
#: laws of the output weights
OUTPUT_INITS = ("gaussian", "uniform", "sign", "ones", "zeros")
#: laws of the biases
BIAS_LAWS = ("gaussian", "zeros")


def _choice(law: str, options, what: str) -> None:
    if law not in options:
        raise ValueError(f"unknown {what} {law!r}; use one of {', '.join(options)}")


def input_weights(law: str, n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """n input weight vectors of unit scale, shape (n, d) (module docstring).

    >>> a = input_weights("orthonormal", 3, 5, np.random.default_rng(0))
    >>> bool(np.allclose(a @ a.T, np.eye(3)))
    True
    """
    _choice(law, INPUT_WEIGHT_LAWS, "input law")
    if law == "orthonormal":
        if n > d:
            raise ValueError(f"orthonormal input weights need n <= d, got n={n}, d={d}")
        q, r = np.linalg.qr(rng.standard_normal((d, n)))
        return (q * np.sign(np.diag(r))).T  # Haar: the QR factor with a positive diagonal
    a = rng.standard_normal((n, d))
    if law == "sphere":
        a /= np.linalg.norm(a, axis=1, keepdims=True)
    elif law == "xavier":
        a /= np.sqrt(d)
    return a


def output_weights(law: str, n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """n output weight vectors of unit scale, shape (n, k) (module docstring).

    >>> output_weights("ones", 2, 1, np.random.default_rng(0)).ravel().tolist()
    [1.0, 1.0]
    """
    _choice(law, OUTPUT_INITS, "output init")
    if law == "gaussian":
        return rng.standard_normal((n, k))
    if law == "uniform":
        return rng.uniform(0.0, 1.0, (n, k))
    if law == "sign":
        return rng.choice([-1.0, 1.0], size=(n, k))
    return np.full((n, k), 1.0 if law == "ones" else 0.0)


def biases(law: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """n biases of unit scale, shape (n,) (module docstring).

    >>> biases("zeros", 2, np.random.default_rng(0)).tolist()
    [0.0, 0.0]
    """
    _choice(law, BIAS_LAWS, "bias law")
    return rng.standard_normal(n) if law == "gaussian" else np.zeros(n)
