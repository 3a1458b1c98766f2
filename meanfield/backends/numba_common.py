"""Tuning constants and thread control shared by the Numba pair and data reductions."""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
from numba import get_num_threads, njit, set_num_threads

BLAS_MIN_D = 24      # input dimension from which dot products go through BLAS
TILE = 1 << 22       # entries of a BLAS tile (32 MB in float64)
CHUNK = 512          # sources per register chunk of the fused path
SAMPLE_TILE = 1 << 20  # entries of a particles x samples tile in forward_and_grad
#: Numba threads for the scalar pass between two BLAS products. OpenBLAS's threads keep
#: spinning for a while after a product, so a parallel pass fights them for the cores:
#: on 2 cores one Numba thread was faster (m = 4096, d = 100 population velocity
#: 0.156 s against 0.208 s; empirical d = 100 0.052 s against 0.079 s).
TILE_THREADS = 1
_FM = {"reassoc", "contract", "arcp"}  # no nnan/ninf: selects must see inf and nan
JIT_OPTIONS = dict(cache=True, error_model="numpy", fastmath=_FM)


@contextmanager
def tile_threads():
    """Run the enclosed tiled (BLAS) loop with at most TILE_THREADS Numba threads."""
    n = get_num_threads()
    set_num_threads(max(1, min(n, TILE_THREADS)))
    try:
        yield
    finally:
        set_num_threads(n)


def pad4(x):
    """(m, <=4) -> (m, 4) float64 with zero columns appended."""
    out = np.zeros((len(x), 4))
    out[:, :x.shape[1]] = x
    return out


@njit(inline="always", **JIT_OPTIONS)
def col4(M, j):
    """Column j of a (4, n) array as a 4-tuple (registers, for the d <= 4 paths)."""
    return M[0, j], M[1, j], M[2, j], M[3, j]


@njit(inline="always", **JIT_OPTIONS)
def dot4(x, y):
    """Dot product of two 4-tuples."""
    return x[0] * y[0] + x[1] * y[1] + x[2] * y[2] + x[3] * y[3]
