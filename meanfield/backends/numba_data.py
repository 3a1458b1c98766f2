"""Numba data reductions (empirical objective): forward pass, data gradient, and both in
one pass over sample blocks. See :mod:`meanfield.backends.numba` for the strategies by
input dimension and :mod:`meanfield.backends.numpy` for the math (theory §1).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import numba_common as _common
from .numba_common import BLAS_MIN_D, CHUNK, JIT_OPTIONS, TILE
from .numba_common import col4 as _col4
from .numba_common import dot4 as _dot4
from .numba_common import pad4 as _pad4
from .numba_common import tile_threads as _tile_threads
from .numba_kernels import ACT_IDS, act, dact


@njit(parallel=True, **JIT_OPTIONS)
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


@njit(parallel=True, **JIT_OPTIONS)
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


@njit(parallel=True, **JIT_OPTIONS)
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


@njit(inline="always", **JIT_OPTIONS)
def _acc_data(acc, s, e, r, x):
    return (acc[0] + s * r[0], acc[1] + s * r[1], acc[2] + s * r[2], acc[3] + s * r[3],
            acc[4] + e * x[0], acc[5] + e * x[1], acc[6] + e * x[2], acc[7] + e * x[3],
            acc[8] + e)


@njit(parallel=True, **JIT_OPTIONS)
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


@njit(parallel=True, **JIT_OPTIONS)
def _tile_forward(kind, Z, b, CQ, out, zero):
    """out[n] = sum_i CQ[l, i] sigma(Z[n, i] + b[i]) for a tile Z of samples x particles.
    ``zero`` has the dtype of Z, so float32 tiles are computed in float32 (a float64
    literal would promote every element and halve the SIMD width)."""
    m = Z.shape[1]
    for nn in prange(Z.shape[0]):
        z = Z[nn]
        for l in range(CQ.shape[0]):
            acc = zero
            if kind == 0:
                for i in range(m):
                    acc += CQ[l, i] * max(z[i] + b[i], zero)
            else:
                for i in range(m):
                    acc += CQ[l, i] * act(kind, z[i] + b[i])
            out[nn, l] = acc


@njit(parallel=True, **JIT_OPTIONS)
def _tile_grad(kind, Z, b, c, RT, gc, gb, zero):
    """For a tile Z (particles x samples) of a.x: gc = sum_n sigma(z) R_n, then
    Z <- sigma'(z) (c_i . R_n) in place and gb = its row sums (z = Z + b). One sweep
    over each row; arithmetic in the dtype of ``zero`` (that of Z)."""
    n = Z.shape[1]
    k = RT.shape[0]
    for r in prange(Z.shape[0]):
        z = Z[r]
        br = b[r]
        if kind == 0 and k == 1:
            cr, accc, accb = c[r, 0], zero, zero
            for nn in range(n):
                zz, rr = z[nn] + br, RT[0, nn]
                positive = zz > zero
                accc += (zz if positive else zero) * rr
                e = cr * rr if positive else zero
                z[nn] = e
                accb += e
            gc[r, 0] = accc
            gb[r] = accb
            continue
        for l in range(k):
            gc[r, l] = zero
        accb = zero
        for nn in range(n):
            zz = z[nn] + br
            s, cr = act(kind, zz), zero
            for l in range(k):
                gc[r, l] += s * RT[l, nn]
                cr += c[r, l] * RT[l, nn]
            e = dact(kind, zz) * cr
            z[nn] = e
            accb += e
        gb[r] = accb


@njit(parallel=True, **JIT_OPTIONS)
def _tile_forward_rows(kind, Z, b, CQ, out, zero):
    """out[n] = sum_i CQ[l, i] sigma(Z[i, n] + b[i]) for a tile Z of particles x samples,
    in parallel over chunks of samples; each chunk accumulates in a local contiguous
    buffer, so the inner loop over samples vectorises (in the dtype of ``zero``)."""
    m, n = Z.shape
    chunks = (n + CHUNK - 1) // CHUNK
    for ch in prange(chunks):
        lo, hi = ch * CHUNK, min(n, (ch + 1) * CHUNK)
        acc = np.empty(hi - lo, dtype=Z.dtype)
        for l in range(CQ.shape[0]):
            acc[:] = zero
            for i in range(m):
                coef, bi, z = CQ[l, i], b[i], Z[i, lo:hi]
                if kind == 0:
                    for j in range(hi - lo):
                        acc[j] += coef * max(z[j] + bi, zero)
                else:
                    for j in range(hi - lo):
                        acc[j] += coef * act(kind, z[j] + bi)
            for j in range(hi - lo):
                out[lo + j, l] = acc[j]


def _parts(layout, w):
    c, a, b = layout.unpack(w)
    b = np.zeros(len(w), dtype=w.dtype) if b is None else np.ascontiguousarray(b)
    return np.ascontiguousarray(c), np.ascontiguousarray(a), b


def forward(activation, layout, w, q, X):
    """f(x_n) = sum_i q_i c_i sigma(a_i . x_n + b_i), shape (n, k) (theory §1)."""
    kind = ACT_IDS[activation.name]
    dtype = np.result_type(w, X)
    zero = dtype.type(0)
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
            _tile_forward(kind, X[N] @ a.T, b, np.ascontiguousarray(cq.T), out[N], zero)
    return out


def data_grad(activation, layout, w, X, R):
    """grad_i = sum_n grad_{w_i}[c_i . R_n sigma(a_i . x_n + b_i)], shape (m, p):
    grad_c = sum_n sigma(z) R_n, grad_a = sum_n sigma'(z) (c_i.R_n) x_n, grad_b likewise."""
    kind = ACT_IDS[activation.name]
    dtype = np.result_type(w, X, R)
    zero = dtype.type(0)
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
                _tile_grad(kind, Z, b[I], c[I], RT, gc[I], gb[I], zero)
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
    zero = dtype.type(0)
    w, X = np.asarray(w, dtype=dtype), np.ascontiguousarray(X, dtype=dtype)
    c, a, b = _parts(layout, w)
    CQ = np.ascontiguousarray((c * np.asarray(q, dtype=dtype)[:, None]).T)
    n, k = X.shape[0], layout.k
    f = np.empty((n, k), dtype=dtype)
    gc, ga = np.zeros((m_grad, k), dtype=dtype), np.zeros((m_grad, layout.d), dtype=dtype)
    gb = np.zeros(m_grad, dtype=dtype)
    gc_tile, gb_tile = np.empty_like(gc), np.empty_like(gb)
    cg, bg = np.ascontiguousarray(c[:m_grad]), b[:m_grad]
    rows = max(1, min(n, _common.SAMPLE_TILE // max(1, len(w))))
    with _tile_threads():
        for lo in range(0, n, rows):
            N = slice(lo, min(n, lo + rows))
            Z = a @ X[N].T
            _tile_forward_rows(kind, Z, b, CQ, f[N], zero)
            RT = np.ascontiguousarray(np.asarray(residual(f[N], N), dtype=dtype).T)
            Zg = Z[:m_grad]
            _tile_grad(kind, Zg, bg, cg, RT, gc_tile, gb_tile, zero)
            gc += gc_tile
            gb += gb_tile
            ga += Zg @ X[N]
    grad = np.empty((m_grad, layout.p), dtype=dtype)
    grad[:, layout.c] = gc
    grad[:, layout.a] = ga
    if layout.bias:
        grad[:, layout.b.start] = gb
    return f, grad
