"""The packed particle array: column blocks [c (k) | a (d) | b (0 or 1)] (theory §1).

A network's m neurons w_i = (c_i, a_i, b_i) are stored as one float array of shape (m, p);
:class:`Layout` names its column slices. Backends, objectives and distances all work on
this array.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class Layout:
    """Column blocks of the packed particle array: c has k columns, a has d, b has 0 or 1.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> layout = mf.Layout(k=1, d=2, bias=True)
        >>> layout.p                       # columns: c, a_1, a_2, b
        4
        >>> w = layout.pack(np.ones(3), np.zeros((3, 2)), np.full(3, 5.0))
        >>> w[0]
        array([1., 0., 0., 5.])
        >>> layout.unpack(w)[2]
        array([5., 5., 5.])
    """

    k: int
    d: int
    bias: bool = False

    @property
    def p(self) -> int:
        return self.k + self.d + int(self.bias)

    @property
    def c(self) -> slice:
        return slice(0, self.k)

    @property
    def a(self) -> slice:
        return slice(self.k, self.k + self.d)

    @property
    def b(self) -> slice:
        return slice(self.k + self.d, self.p)

    def pack(self, c: ArrayLike, a: ArrayLike, b: ArrayLike | None = None) -> np.ndarray:
        """Stack (m,k) output weights, (m,d) input weights and optional (m,) biases."""
        c = np.asarray(c)
        a = np.asarray(a)
        c = c.reshape(len(c), -1)
        cols = [c, a]
        if self.bias:
            cols.append(np.asarray(b).reshape(len(a), 1))
        return np.concatenate(cols, axis=1)

    def unpack(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Return views (c (m,k), a (m,d), b (m,) or None) of a packed array."""
        return w[:, self.c], w[:, self.a], (w[:, self.k + self.d] if self.bias else None)
