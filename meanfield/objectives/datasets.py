"""Real data sets shipped inside PyPI packages (no download at run time).

``digits``: scikit-learn's 8 x 8 handwritten digits (1797 images, d = 64, stored inside
the package), as the binary task "parity of the digit" used for the Geiger et al. phase
diagram (theory §8): y = +1 for an even digit, -1 for an odd one.
"""
from __future__ import annotations

import numpy as np

from ..core.extras import require

__all__ = ["digits_parity"]

DIGITS_D = 64


def digits_parity(n_train: int, n_test: int, seed=0):
    """((X_train, y_train), (X_test, y_test)) from a seeded permutation of the digits.

    Each image's pixels are centred by the data-set mean pixel vector and the image is
    scaled to unit norm, so a ~ N(0, I_64) gives pre-activations a . x ~ N(0, 1) (Geiger's
    1/sqrt(fan-in) convention). Labels are +-1 by parity; n_train + n_test <= 1797.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> (X, y), (X_test, y_test) = mf.datasets.digits_parity(100, 50, seed=0)
        >>> X.shape, X_test.shape, sorted(set(y.ravel().tolist()))
        ((100, 64), (50, 64), [-1.0, 1.0])
        >>> bool(np.allclose(np.linalg.norm(X, axis=1), 1.0))
        True
    """
    load_digits = require("sklearn.datasets", "data").load_digits

    data = load_digits()
    X = data.data.astype(np.float64)
    if n_train + n_test > len(X):
        raise ValueError(f"digits has {len(X)} images; asked for {n_train} + {n_test}")
    X = X - X.mean(axis=0)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.where(data.target % 2 == 0, 1.0, -1.0)[:, None]
    order = np.random.default_rng(seed).permutation(len(X))
    train, test = order[:n_train], order[n_train:n_train + n_test]
    return (X[train], y[train]), (X[test], y[test])
