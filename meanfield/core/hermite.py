"""The probabilists' Hermite polynomials He_n (theory §13.1).

He_0 = 1, He_1 = z, He_{n+1} = z He_n - n He_{n-1}; orthogonal for the standard Gaussian,
E[He_n(g) He_m(g)] = n! [n = m].
"""
from __future__ import annotations

import numpy as np


def hermite_e(n: int, z: np.ndarray) -> np.ndarray:
    """The probabilists' Hermite polynomial He_n at z, by the three-term recurrence.

    Examples:

        >>> import numpy as np
        >>> hermite_e(3, np.array([2.0]))    # He_3(z) = z^3 - 3z
        array([2.])
    """
    z = np.asarray(z, dtype=float)
    previous, current = np.ones_like(z), z.copy()
    if n == 0:
        return previous
    for j in range(1, n):
        previous, current = current, z * current - j * previous
    return current
