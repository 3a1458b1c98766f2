"""Numba CPU backend: the reductions of :mod:`meanfield.backends.numpy`, fused and parallel.

Pair reduction (THEORY.md §1-2), for each target i over sources j with e_ij = q_j c_i.c_j:
    grad_c_i = sum_j q_j c_j K_ij,   grad_a_i = (sum_j e_ij P_ij) a_i + sum_j e_ij Q_ij a_j,
    grad_b_i = sum_j e_ij D_ij,      value_i = sum_j e_ij K_ij.
Two strategies, chosen by the input dimension d:

* d < ``BLAS_MIN_D``: fully fused. Per target, a chunk of dot products a_i.a_j is formed
  in registers, the kernel (angle, K, P, Q, D) is evaluated in a loop that LLVM
  vectorises (branch-free arccos), and the chunk is accumulated; nothing of size m x m
  exists, not even in blocks.
* d >= ``BLAS_MIN_D``: tiled. A tile of rows of A_t A_s^T comes from BLAS, one
  pass (on ``TILE_THREADS`` Numba threads) turns it in place into (e o Q) while
  accumulating grad_c, sum e P, grad_b and value, and BLAS forms (e o Q) A_s. Tiles
  hold at most ``TILE`` entries.

Kernel arithmetic is always float64 (the reference's precision: the angle of nearly
coincident particles needs it); float32 particles are converted on entry and the
result cast back. The linear kernel uses the O(m p k) :func:`linear_pair_reduce` and the
"quadrature" kernel (activations without a closed form) falls back to the NumPy
reference. Data reductions fuse sigma, sigma' and the residual weights the same way;
their tiled path keeps the data's dtype for the BLAS products (float32 stays float32).
Compiled code is cached on disk by Numba (``NUMBA_CACHE_DIR`` overrides the location).
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np
from numba import get_num_threads, njit, prange, set_num_threads

from . import numpy as _reference
from .numba_kernels import (ACT_IDS, ERF, INV_2PI, KERNEL_IDS, PI, RELU, RELU_BIAS,
                            SNAP, acos_, act, asin_, dact, erf_bias, relu_bias)
from .numpy import linear_pair_reduce

name = "numba"
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
_OPTS = dict(cache=True, error_model="numpy", fastmath=_FM)


@njit(inline="always", **_OPTS)
def _relu_pair(s1, r1, qmask, s2, r2, t):
    """(K, P, Q) of the relu kernel (THEORY.md §2.1), branch-free. r1 = 1/|a_i| and
    r2 = 1/|a_j| are 0 for a zero input weight, so cos = 0 whenever a norm vanishes;
    qmask = 1/(2 pi), or 0 when a_i = 0 (relu'(0) = 0 convention)."""
    prod = s1 * s2
    cos = min(1.0, max(-1.0, t * (r1 * r2)))
    cos = math.copysign(1.0, cos) if abs(cos) > SNAP else cos
    sin = math.sqrt(max(0.0, 1.0 - cos * cos))
    pt = PI - acos_(cos)
    return (prod * sin + pt * t) * INV_2PI, s2 * sin * (r1 * INV_2PI), pt * qmask


@njit(inline="always", **_OPTS)
def _erf_pair(A1, n2, t):
    """(K, P, Q) of Williams' erf kernel (THEORY.md §2.2), A1 = 1 + 2|a_i|^2."""
    prod = A1 * (1.0 + 2.0 * n2)
    x = min(1.0, max(-1.0, 2.0 * t / math.sqrt(prod)))
    Q = (4.0 / PI) / math.sqrt(prod - 4.0 * t * t)
    return (2.0 / PI) * asin_(x), -2.0 * t / A1 * Q, Q


@njit(inline="always", **_OPTS)
def _bias_pair(kind, n1, n2, t, b1, b2):
    if kind == RELU_BIAS:
        return relu_bias(n1, n2, t, b1, b2)
    return erf_bias(n1, n2, t, b1, b2)


@njit(inline="always", **_OPTS)
def _target_constants(n1):
    s1 = math.sqrt(n1)
    return s1, (1.0 / s1 if s1 > 0 else 0.0), (INV_2PI if s1 > 0 else 0.0)


@njit(**_OPTS)
def _pair_row(kind, n1, b1, n_s, sq_s, r_s, b_s, t, e, kb):
    """Kernel of one target against a run of sources, K, P, Q, D unscaled.

    On entry t[j] = a_i.a_j and e[j] = e_ij; on exit kb[j] = K_ij, t[j] = e_ij Q_ij.
    Returns (sum_j e_ij P_ij, sum_j e_ij D_ij, sum_j e_ij K_ij). One loop per kernel
    so that the relu and erf loops vectorise.
    """
    sp = 0.0
    sd = 0.0
    sv = 0.0
    n = t.shape[0]
    if kind == RELU:
        s1, r1, qmask = _target_constants(n1)
        for j in range(n):
            K, P, Q = _relu_pair(s1, r1, qmask, sq_s[j], r_s[j], t[j])
            kb[j] = K
            t[j] = e[j] * Q
            sp += e[j] * P
            sv += e[j] * K
    elif kind == ERF:
        A1 = 1.0 + 2.0 * n1
        for j in range(n):
            K, P, Q = _erf_pair(A1, n_s[j], t[j])
            kb[j] = K
            t[j] = e[j] * Q
            sp += e[j] * P
            sv += e[j] * K
    else:
        for j in range(n):
            K, P, Q, D = _bias_pair(kind, n1, n_s[j], t[j], b1, b_s[j])
            kb[j] = K
            t[j] = e[j] * Q
            sp += e[j] * P
            sd += e[j] * D
            sv += e[j] * K
    return sp, sd, sv


@njit(inline="always", **_OPTS)
def _acc4(acc, K, P, Q, D, e, c, a):
    """Add one source to the accumulators (g (4), h (4), sum eP, sum eD, sum eK)."""
    eq = e * Q
    return (acc[0] + K * c[0], acc[1] + K * c[1], acc[2] + K * c[2], acc[3] + K * c[3],
            acc[4] + eq * a[0], acc[5] + eq * a[1], acc[6] + eq * a[2], acc[7] + eq * a[3],
            acc[8] + e * P, acc[9] + e * D, acc[10] + e * K)


@njit(inline="always", **_OPTS)
def _col4(M, j):
    return M[0, j], M[1, j], M[2, j], M[3, j]


@njit(inline="always", **_OPTS)
def _dot4(x, y):
    return x[0] * y[0] + x[1] * y[1] + x[2] * y[2] + x[3] * y[3]


@njit(parallel=True, **_OPTS)
def _small_pairs(kind, c_t, a_t, n_t, b_t, S, A, n_s, sq_s, r_s, b_s, gc, ga, gb, val):
    """Fused pair reduction for d <= 4 and k <= 4, one pass over the sources per target.

    c_t, a_t are zero-padded to 4 columns and S = (q_j c_j)^T, A = a_s^T to 4 rows, so
    the dot products unroll into fixed multiply-adds and the relu/erf loops vectorise.
    """
    m_s = n_s.shape[0]
    for i in prange(c_t.shape[0]):
        x = _col4(a_t.T, i)
        y = _col4(c_t.T, i)
        n1, b1 = n_t[i], b_t[i]
        acc = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        if kind == RELU:
            s1, r1, qmask = _target_constants(n1)
            for j in range(m_s):
                a, c = _col4(A, j), _col4(S, j)
                t = _dot4(x, a)
                K, P, Q = _relu_pair(s1, r1, qmask, sq_s[j], r_s[j], t)
                acc = _acc4(acc, K, P, Q, 0.0, _dot4(y, c), c, a)
        elif kind == ERF:
            A1 = 1.0 + 2.0 * n1
            for j in range(m_s):
                a, c = _col4(A, j), _col4(S, j)
                t = _dot4(x, a)
                K, P, Q = _erf_pair(A1, n_s[j], t)
                acc = _acc4(acc, K, P, Q, 0.0, _dot4(y, c), c, a)
        else:
            for j in range(m_s):
                a, c = _col4(A, j), _col4(S, j)
                K, P, Q, D = _bias_pair(kind, n1, n_s[j], _dot4(x, a), b1, b_s[j])
                acc = _acc4(acc, K, P, Q, D, _dot4(y, c), c, a)
        for l in range(gc.shape[1]):
            gc[i, l] = acc[l]
        for l in range(ga.shape[1]):
            ga[i, l] = acc[4 + l] + acc[8] * x[l]
        gb[i] = acc[9]
        val[i] = acc[10]


@njit(parallel=True, **_OPTS)
def _fused_pairs(kind, c_t, a_t, n_t, b_t, sT, aT, n_s, sq_s, r_s, b_s, gc, ga, gb, val):
    """Fully fused pair reduction (small d): see the module docstring."""
    m_t, k = c_t.shape
    d = a_t.shape[1]
    m_s = n_s.shape[0]
    for i in prange(m_t):
        t = np.empty(CHUNK)
        e = np.empty(CHUNK)
        kb = np.empty(CHUNK)
        acc_c = np.zeros(k)
        acc_a = np.zeros(d)
        sp = 0.0
        sd = 0.0
        sv = 0.0
        for lo in range(0, m_s, CHUNK):
            n = min(m_s, lo + CHUNK) - lo
            for j in range(n):
                t[j] = 0.0
                e[j] = 0.0
            for l in range(d):
                x = a_t[i, l]
                for j in range(n):
                    t[j] += x * aT[l, lo + j]
            for l in range(k):
                x = c_t[i, l]
                for j in range(n):
                    e[j] += x * sT[l, lo + j]
            p_, d_, v_ = _pair_row(kind, n_t[i], b_t[i], n_s[lo:lo + n], sq_s[lo:lo + n],
                                   r_s[lo:lo + n], b_s[lo:lo + n], t[:n], e[:n], kb[:n])
            sp += p_
            sd += d_
            sv += v_
            for l in range(k):
                acc = 0.0
                for j in range(n):
                    acc += kb[j] * sT[l, lo + j]
                acc_c[l] += acc
            for l in range(d):
                acc = 0.0
                for j in range(n):
                    acc += t[j] * aT[l, lo + j]
                acc_a[l] += acc
        for l in range(k):
            gc[i, l] = acc_c[l]
        for l in range(d):
            ga[i, l] = acc_a[l] + sp * a_t[i, l]
        gb[i] = sd
        val[i] = sv


@njit(parallel=True, **_OPTS)
def _tile_pairs(kind, c_t, n_t, b_t, sT, n_s, sq_s, r_s, b_s, T, gc, coef_p, gb, val, lanes):
    """One BLAS tile: T (rows, m_s) of dot products becomes e o Q in place; rows are
    dealt to ``lanes`` parallel lanes, each with its own buffers."""
    rows, k = c_t.shape
    m_s = n_s.shape[0]
    for lane in prange(lanes):
        e = np.empty(m_s)
        kb = np.empty(m_s)
        for r in range(lane, rows, lanes):
            e[:] = 0.0
            for l in range(k):
                x = c_t[r, l]
                for j in range(m_s):
                    e[j] += x * sT[l, j]
            sp, sd, sv = _pair_row(kind, n_t[r], b_t[r], n_s, sq_s, r_s, b_s, T[r], e, kb)
            for l in range(k):
                acc = 0.0
                for j in range(m_s):
                    acc += kb[j] * sT[l, j]
                gc[r, l] = acc
            coef_p[r] = sp
            gb[r] = sd
            val[r] = sv


@contextmanager
def _tile_threads():
    """Run the enclosed tiled (BLAS) loop with at most TILE_THREADS Numba threads."""
    n = get_num_threads()
    set_num_threads(max(1, min(n, TILE_THREADS)))
    try:
        yield
    finally:
        set_num_threads(n)


def _lanes(rows: int) -> int:
    """Parallel lanes for ``rows`` independent rows: a few per thread, for balance."""
    return max(1, min(rows, 4 * get_num_threads()))


def _pad4(x):
    """(m, <=4) -> (m, 4) float64 with zero columns appended."""
    out = np.zeros((len(x), 4))
    out[:, :x.shape[1]] = x
    return out


def pair_reduce(kernel, layout, w_t, w_s, q_s, with_value=False):
    """Return (grad (m_t, p), value (m_t,) or None) of the pair reduction (THEORY.md §1-2).

    Same contract as :func:`meanfield.backends.numpy.pair_reduce`.
    """
    if kernel.name.startswith("linear"):
        return linear_pair_reduce(kernel, layout, w_t, w_s, q_s, with_value)
    if kernel.name not in KERNEL_IDS:
        return _reference.pair_reduce(kernel, layout, w_t, w_s, q_s, with_value)
    dtype = np.result_type(w_t, w_s)
    c_t, a_t, b_t = layout.unpack(np.asarray(w_t, dtype=np.float64))
    c_s, a_s, b_s = layout.unpack(np.asarray(w_s, dtype=np.float64))
    m_t, m_s = len(a_t), len(a_s)
    c_t, a_t, a_s = (np.ascontiguousarray(x) for x in (c_t, a_t, a_s))
    sT = np.ascontiguousarray((np.asarray(q_s, dtype=np.float64)[:, None] * c_s).T)
    n_t, n_s = np.einsum("ij,ij->i", a_t, a_t), np.einsum("ij,ij->i", a_s, a_s)
    sq_s = np.sqrt(n_s)
    r_s = np.divide(1.0, sq_s, out=np.zeros(m_s), where=sq_s > 0)
    b_t = np.zeros(m_t) if b_t is None else np.ascontiguousarray(b_t)
    b_s = np.zeros(m_s) if b_s is None else np.ascontiguousarray(b_s)
    kind = KERNEL_IDS[kernel.name]
    gc, ga = np.empty((m_t, layout.k)), np.empty((m_t, layout.d))
    gb, val = np.empty(m_t), np.empty(m_t)
    if layout.d <= 4 and layout.k <= 4:
        _small_pairs(kind, _pad4(c_t), _pad4(a_t), n_t, b_t, _pad4(sT.T).T.copy(),
                     _pad4(a_s).T.copy(), n_s, sq_s, r_s, b_s, gc, ga, gb, val)
    elif layout.d < BLAS_MIN_D:
        _fused_pairs(kind, c_t, a_t, n_t, b_t, sT, np.ascontiguousarray(a_s.T), n_s, sq_s,
                     r_s, b_s, gc, ga, gb, val)
    else:
        rows = max(1, min(m_t, TILE // max(1, m_s)))
        coef_p = np.empty(m_t)
        with _tile_threads():
            for lo in range(0, m_t, rows):
                I = slice(lo, min(m_t, lo + rows))
                T = a_t[I] @ a_s.T
                _tile_pairs(kind, c_t[I], n_t[I], b_t[I], sT, n_s, sq_s, r_s, b_s, T, gc[I],
                            coef_p[I], gb[I], val[I], _lanes(len(T)))
                ga[I] = T @ a_s
                ga[I] += coef_p[I, None] * a_t[I]
    grad = np.empty((m_t, layout.p), dtype=dtype)
    grad[:, layout.c] = kernel.scale * gc
    grad[:, layout.a] = kernel.scale * ga
    if layout.bias:
        grad[:, layout.b.start] = kernel.scale * gb
    value = (kernel.scale * val).astype(dtype) if with_value else None
    return grad, value


# --------------------------------------------------------------------------- data
@njit(parallel=True, **_OPTS)
def _fused_forward(kind, cq, a, b, X, out):
    """out[n] = sum_i cq_i sigma(a_i . x_n + b_i), parallel over samples (small d)."""
    m, k = cq.shape
    d = a.shape[1]
    for nn in prange(X.shape[0]):
        acc = np.zeros(k)
        for i in range(m):
            z = b[i]
            for l in range(d):
                z += a[i, l] * X[nn, l]
            s = act(kind, z)
            for l in range(k):
                acc[l] += cq[i, l] * s
        for l in range(k):
            out[nn, l] = acc[l]


@njit(parallel=True, **_OPTS)
def _fused_data_grad(kind, c, a, b, X, R, gc, ga, gb):
    """grad of sum_n c_i.R_n sigma(a_i . x_n + b_i), parallel over particles (small d)."""
    m, k = c.shape
    d = a.shape[1]
    n = X.shape[0]
    for i in prange(m):
        acc_c = np.zeros(k)
        acc_a = np.zeros(d)
        acc_b = 0.0
        for nn in range(n):
            z = b[i]
            for l in range(d):
                z += a[i, l] * X[nn, l]
            s = act(kind, z)
            cr = 0.0
            for l in range(k):
                acc_c[l] += s * R[nn, l]
                cr += c[i, l] * R[nn, l]
            e = dact(kind, z) * cr
            for l in range(d):
                acc_a[l] += e * X[nn, l]
            acc_b += e
        for l in range(k):
            gc[i, l] = acc_c[l]
        for l in range(d):
            ga[i, l] = acc_a[l]
        gb[i] = acc_b


@njit(parallel=True, **_OPTS)
def _small_forward(kind, CQ, AT, b, X4, out):
    """Forward pass for d <= 4 and k <= 4: CQ = (q_i c_i)^T and AT = a^T zero-padded to
    4 rows, X4 the data padded to 4 columns; the relu loop vectorises."""
    m = b.shape[0]
    for nn in prange(X4.shape[0]):
        x = (X4[nn, 0], X4[nn, 1], X4[nn, 2], X4[nn, 3])
        o0 = o1 = o2 = o3 = 0.0
        if kind == 0:
            for i in range(m):
                s = max(b[i] + _dot4(x, _col4(AT, i)), 0.0)
                o0 += s * CQ[0, i]
                o1 += s * CQ[1, i]
                o2 += s * CQ[2, i]
                o3 += s * CQ[3, i]
        else:
            for i in range(m):
                s = act(kind, b[i] + _dot4(x, _col4(AT, i)))
                o0 += s * CQ[0, i]
                o1 += s * CQ[1, i]
                o2 += s * CQ[2, i]
                o3 += s * CQ[3, i]
        o = (o0, o1, o2, o3)
        for l in range(out.shape[1]):
            out[nn, l] = o[l]


@njit(inline="always", **_OPTS)
def _acc_data(acc, s, e, r, x):
    return (acc[0] + s * r[0], acc[1] + s * r[1], acc[2] + s * r[2], acc[3] + s * r[3],
            acc[4] + e * x[0], acc[5] + e * x[1], acc[6] + e * x[2], acc[7] + e * x[3],
            acc[8] + e)


@njit(parallel=True, **_OPTS)
def _small_data_grad(kind, C4, A4, b, XT, RT, gc, ga, gb):
    """Data gradient for d <= 4 and k <= 4: C4, A4 padded to 4 columns, XT = X^T and
    RT = R^T padded to 4 rows; one pass over the samples per particle."""
    n = XT.shape[1]
    for i in prange(C4.shape[0]):
        a = (A4[i, 0], A4[i, 1], A4[i, 2], A4[i, 3])
        c = (C4[i, 0], C4[i, 1], C4[i, 2], C4[i, 3])
        acc = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        if kind == 0:
            for nn in range(n):
                x, r = _col4(XT, nn), _col4(RT, nn)
                z = b[i] + _dot4(a, x)
                s = max(z, 0.0)
                e = _dot4(c, r) if z > 0 else 0.0
                acc = _acc_data(acc, s, e, r, x)
        else:
            for nn in range(n):
                x, r = _col4(XT, nn), _col4(RT, nn)
                z = b[i] + _dot4(a, x)
                acc = _acc_data(acc, act(kind, z), dact(kind, z) * _dot4(c, r), r, x)
        for l in range(gc.shape[1]):
            gc[i, l] = acc[l]
        for l in range(ga.shape[1]):
            ga[i, l] = acc[4 + l]
        gb[i] = acc[8]


@njit(parallel=True, **_OPTS)
def _tile_forward(kind, Z, b, CQ, out):
    """out[n] = sum_i CQ[l, i] sigma(Z[n, i] + b[i]) for a tile Z of samples x particles."""
    m = Z.shape[1]
    for nn in prange(Z.shape[0]):
        z = Z[nn]
        for l in range(CQ.shape[0]):
            acc = 0.0
            if kind == 0:
                for i in range(m):
                    acc += CQ[l, i] * max(z[i] + b[i], 0.0)
            else:
                for i in range(m):
                    acc += CQ[l, i] * act(kind, z[i] + b[i])
            out[nn, l] = acc


@njit(parallel=True, **_OPTS)
def _tile_grad(kind, Z, b, c, RT, gc, gb):
    """For a tile Z (particles x samples) of a.x: gc = sum_n sigma(z) R_n, then
    Z <- sigma'(z) (c_i . R_n) in place and gb = its row sums (z = Z + b)."""
    n = Z.shape[1]
    k = RT.shape[0]
    for r in prange(Z.shape[0]):
        z = Z[r]
        br = b[r]
        for l in range(k):
            acc = 0.0
            if kind == 0:
                for nn in range(n):
                    acc += max(z[nn] + br, 0.0) * RT[l, nn]
            else:
                for nn in range(n):
                    acc += act(kind, z[nn] + br) * RT[l, nn]
            gc[r, l] = acc
        acc = 0.0
        if kind == 0 and k == 1:
            cr = c[r, 0]
            for nn in range(n):
                e = cr * RT[0, nn] if z[nn] + br > 0 else 0.0
                z[nn] = e
                acc += e
        else:
            for nn in range(n):
                cr = 0.0
                for l in range(k):
                    cr += c[r, l] * RT[l, nn]
                e = dact(kind, z[nn] + br) * cr
                z[nn] = e
                acc += e
        gb[r] = acc


@njit(parallel=True, **_OPTS)
def _tile_forward_rows(kind, Z, b, CQ, out):
    """out[n] = sum_i CQ[l, i] sigma(Z[i, n] + b[i]) for a tile Z of particles x samples,
    in parallel over chunks of samples (the inner loop over samples vectorises)."""
    m, n = Z.shape
    chunks = (n + CHUNK - 1) // CHUNK
    for ch in prange(chunks):
        lo, hi = ch * CHUNK, min(n, (ch + 1) * CHUNK)
        for l in range(CQ.shape[0]):
            for nn in range(lo, hi):
                out[nn, l] = 0.0
            for i in range(m):
                coef, bi, z = CQ[l, i], b[i], Z[i]
                if kind == 0:
                    for nn in range(lo, hi):
                        out[nn, l] += coef * max(z[nn] + bi, 0.0)
                else:
                    for nn in range(lo, hi):
                        out[nn, l] += coef * act(kind, z[nn] + bi)


def _parts(layout, w):
    c, a, b = layout.unpack(w)
    b = np.zeros(len(w), dtype=w.dtype) if b is None else np.ascontiguousarray(b)
    return np.ascontiguousarray(c), np.ascontiguousarray(a), b


def forward(activation, layout, w, q, X):
    """f(x_n) = sum_i q_i c_i sigma(a_i . x_n + b_i), shape (n, k) (THEORY.md §1)."""
    kind = ACT_IDS[activation.name]
    dtype = np.result_type(w, X)
    w, X = np.asarray(w, dtype=dtype), np.ascontiguousarray(X, dtype=dtype)
    c, a, b = _parts(layout, w)
    cq = np.ascontiguousarray(c * np.asarray(q, dtype=dtype)[:, None])
    n = X.shape[0]
    out = np.empty((n, layout.k), dtype=dtype)
    if layout.d <= 4 and layout.k <= 4:
        _small_forward(kind, _pad4(cq).T.copy(), _pad4(a).T.copy(), b, _pad4(X), out)
        return out
    if layout.d < BLAS_MIN_D:
        _fused_forward(kind, cq, a, b, X, out)
        return out
    rows = max(1, min(n, TILE // max(1, len(w))))
    with _tile_threads():
        for lo in range(0, n, rows):
            N = slice(lo, min(n, lo + rows))
            _tile_forward(kind, X[N] @ a.T, b, np.ascontiguousarray(cq.T), out[N])
    return out


def data_grad(activation, layout, w, X, R):
    """grad_i = sum_n grad_{w_i}[c_i . R_n sigma(a_i . x_n + b_i)], shape (m, p):
    grad_c = sum_n sigma(z) R_n, grad_a = sum_n sigma'(z) (c_i.R_n) x_n, grad_b likewise."""
    kind = ACT_IDS[activation.name]
    dtype = np.result_type(w, X, R)
    w = np.asarray(w, dtype=dtype)
    X, R = np.ascontiguousarray(X, dtype=dtype), np.ascontiguousarray(R, dtype=dtype)
    c, a, b = _parts(layout, w)
    m = len(w)
    gc, ga = np.empty((m, layout.k), dtype=dtype), np.empty((m, layout.d), dtype=dtype)
    gb = np.empty(m, dtype=dtype)
    if layout.d <= 4 and layout.k <= 4:
        _small_data_grad(kind, _pad4(c), _pad4(a), b, _pad4(X).T.copy(), _pad4(R).T.copy(),
                         gc, ga, gb)
    elif layout.d < BLAS_MIN_D:
        _fused_data_grad(kind, c, a, b, X, R, gc, ga, gb)
    else:
        rows = max(1, min(m, TILE // max(1, len(X))))
        RT = np.ascontiguousarray(R.T)
        with _tile_threads():
            for lo in range(0, m, rows):
                I = slice(lo, min(m, lo + rows))
                Z = a[I] @ X.T
                _tile_grad(kind, Z, b[I], c[I], RT, gc[I], gb[I])
                ga[I] = Z @ X
    grad = np.empty((m, layout.p), dtype=dtype)
    grad[:, layout.c] = gc
    grad[:, layout.a] = ga
    if layout.bias:
        grad[:, layout.b.start] = gb
    return grad


def forward_and_grad(activation, layout, w, q, m_grad, X, residual):
    """f (n, k) of all rows of w and the data gradient (m_grad, p) of the first m_grad,
    with R = residual(f_N, N) per block of samples (see the NumPy reference). For
    d >= BLAS_MIN_D one tile Z = A X_N^T from BLAS serves both: a pass sums f_N, a pass
    turns Z into sigma'(z) (c . R) in place, BLAS forms Z X_N: two products, not three."""
    if layout.d < BLAS_MIN_D:
        f = forward(activation, layout, w, q, X)
        return f, data_grad(activation, layout, w[:m_grad], X, residual(f, slice(None)))
    kind = ACT_IDS[activation.name]
    dtype = np.result_type(w, X)
    w, X = np.asarray(w, dtype=dtype), np.ascontiguousarray(X, dtype=dtype)
    c, a, b = _parts(layout, w)
    CQ = np.ascontiguousarray((c * np.asarray(q, dtype=dtype)[:, None]).T)
    n, k = X.shape[0], layout.k
    f = np.empty((n, k), dtype=dtype)
    gc, ga = np.zeros((m_grad, k), dtype=dtype), np.zeros((m_grad, layout.d), dtype=dtype)
    gb = np.zeros(m_grad, dtype=dtype)
    gc_tile, gb_tile = np.empty_like(gc), np.empty_like(gb)
    cg, bg = np.ascontiguousarray(c[:m_grad]), b[:m_grad]
    rows = max(1, min(n, SAMPLE_TILE // max(1, len(w))))
    with _tile_threads():
        for lo in range(0, n, rows):
            N = slice(lo, min(n, lo + rows))
            Z = a @ X[N].T
            _tile_forward_rows(kind, Z, b, CQ, f[N])
            RT = np.ascontiguousarray(np.asarray(residual(f[N], N), dtype=dtype).T)
            Zg = Z[:m_grad]
            _tile_grad(kind, Zg, bg, cg, RT, gc_tile, gb_tile)
            gc += gc_tile
            gb += gb_tile
            ga += Zg @ X[N]
    grad = np.empty((m_grad, layout.p), dtype=dtype)
    grad[:, layout.c] = gc
    grad[:, layout.a] = ga
    if layout.bias:
        grad[:, layout.b.start] = gb
    return f, grad
