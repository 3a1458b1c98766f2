"""Numba data reductions (empirical objective): forward pass, data gradient, and both in
one pass over sample blocks. See :mod:`meanfield.backends.numba.backend` for the strategies by
input dimension and :mod:`meanfield.backends.numpy` for the math (theory §1).
"""
from __future__ import annotations

import itertools

import numpy as np
from numba import njit, prange

from .. import numpy as _reference
from ..tuning import current as _tuning
from . import lanes as _lanes
from .common import JIT_OPTIONS, NOGIL_OPTIONS
from .common import col4 as _col4
from .common import dot4 as _dot4
from .common import pad4 as _pad4
from .common import pad4t as _pad4t
from .common import pick as _pick
from .common import share_tiles as _share_tiles
from .common import shares as _shares
from .common import spans as _spans
from .common import twin as _twin
from ..protocol import square_labels
from .kernels import ACT_IDS, act, dact


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


_FUSED_FORWARD = _twin(_fused_forward)


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


_FUSED_DATA_GRAD = _twin(_fused_data_grad)


def _small_forward(kind, CQ, AT, b, X4, out):
    """Forward pass of S networks for d <= 4 and k <= 4: CQ = (q_i c_i)^T and AT = a^T
    zero-padded to (S, 4, m), X4 the data padded to 4 columns ((1, n, 4) shared or
    (S, n, 4)); parallel over (member, sample); the relu loop vectorises."""
    S, m, n = b.shape[0], b.shape[1], X4.shape[1]
    shared = X4.shape[0] == 1
    for idx in prange(S * n):
        s = idx // n
        nn = idx - s * n
        sx = 0 if shared else s
        x = (X4[sx, nn, 0], X4[sx, nn, 1], X4[sx, nn, 2], X4[sx, nn, 3])
        AT_, CQ_, b_ = AT[s], CQ[s], b[s]
        o0 = o1 = o2 = o3 = 0.0
        if kind == 0:
            for i in range(m):
                sg = max(b_[i] + _dot4(x, _col4(AT_, i)), 0.0)
                o0 += sg * CQ_[0, i]
                o1 += sg * CQ_[1, i]
                o2 += sg * CQ_[2, i]
                o3 += sg * CQ_[3, i]
        else:
            for i in range(m):
                sg = act(kind, b_[i] + _dot4(x, _col4(AT_, i)))
                o0 += sg * CQ_[0, i]
                o1 += sg * CQ_[1, i]
                o2 += sg * CQ_[2, i]
                o3 += sg * CQ_[3, i]
        o = (o0, o1, o2, o3)
        for l in range(out.shape[2]):
            out[s, nn, l] = o[l]


_SMALL_FORWARD = _twin(_small_forward)


@njit(inline="always", **JIT_OPTIONS)
def _acc_data(acc, s, e, r, x):
    return (acc[0] + s * r[0], acc[1] + s * r[1], acc[2] + s * r[2], acc[3] + s * r[3],
            acc[4] + e * x[0], acc[5] + e * x[1], acc[6] + e * x[2], acc[7] + e * x[3],
            acc[8] + e)


def _small_data_grad(kind, C4, A4, b, XT, RT, gc, ga, gb):
    """Data gradient of S networks for d <= 4 and k <= 4: C4, A4 padded to (S, m, 4),
    XT = X^T padded to (1 or S, 4, n) and RT = R^T to (S, 4, n); parallel over (member,
    particle), one pass over the samples each."""
    S, m, n = C4.shape[0], C4.shape[1], XT.shape[2]
    shared = XT.shape[0] == 1
    for idx in prange(S * m):
        s = idx // m
        i = idx - s * m
        XT_, RT_ = XT[0 if shared else s], RT[s]
        a = (A4[s, i, 0], A4[s, i, 1], A4[s, i, 2], A4[s, i, 3])
        c = (C4[s, i, 0], C4[s, i, 1], C4[s, i, 2], C4[s, i, 3])
        bi = b[s, i]
        acc = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        if kind == 0:
            for nn in range(n):
                x, r = _col4(XT_, nn), _col4(RT_, nn)
                z = bi + _dot4(a, x)
                sg = max(z, 0.0)
                e = _dot4(c, r) if z > 0 else 0.0
                acc = _acc_data(acc, sg, e, r, x)
        else:
            for nn in range(n):
                x, r = _col4(XT_, nn), _col4(RT_, nn)
                z = bi + _dot4(a, x)
                acc = _acc_data(acc, act(kind, z), dact(kind, z) * _dot4(c, r), r, x)
        for l in range(gc.shape[2]):
            gc[s, i, l] = acc[l]
        for l in range(ga.shape[2]):
            ga[s, i, l] = acc[4 + l]
        gb[s, i] = acc[8]


_SMALL_DATA_GRAD = _twin(_small_data_grad)


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


_TILE_FORWARD = _twin(_tile_forward, NOGIL_OPTIONS)


def _tile_grad(kind, Z, b, c, RT, gc, gb, zero):
    """For tiles Z (S, particles, samples) of a.x: gc = sum_n sigma(z) R_n, then
    Z <- sigma'(z) (c_i . R_n) in place and gb = its row sums (z = Z + b). One sweep
    over each row, parallel over (member, row); arithmetic in the dtype of ``zero``."""
    S, rows, n = Z.shape
    k = RT.shape[1]
    for idx in prange(S * rows):
        s = idx // rows
        r = idx - s * rows
        z = Z[s, r]
        br = b[s, r]
        if kind == 0 and k == 1:
            cr, accc, accb = c[s, r, 0], zero, zero
            for nn in range(n):
                zz, rr = z[nn] + br, RT[s, 0, nn]
                positive = zz > zero
                accc += (zz if positive else zero) * rr
                e = cr * rr if positive else zero
                z[nn] = e
                accb += e
            gc[s, r, 0] = accc
            gb[s, r] = accb
            continue
        for l in range(k):
            gc[s, r, l] = zero
        accb = zero
        for nn in range(n):
            zz = z[nn] + br
            sg, cr = act(kind, zz), zero
            for l in range(k):
                gc[s, r, l] += sg * RT[s, l, nn]
                cr += c[s, r, l] * RT[s, l, nn]
            e = dact(kind, zz) * cr
            z[nn] = e
            accb += e
        gb[s, r] = accb


_TILE_GRAD = _twin(_tile_grad, NOGIL_OPTIONS)


def _tile_forward_rows(kind, Z, b, CQ, out, zero, chunk):
    """out[s, n] = sum_i CQ[s, l, i] sigma(Z[s, i, n] + b[s, i]) for tiles Z (S,
    particles, samples), parallel over (member, ``chunk`` samples); each chunk accumulates
    in a local contiguous buffer, so the inner loop over samples vectorises (in the dtype
    of ``zero``)."""
    S, m, n = Z.shape
    chunks = (n + chunk - 1) // chunk
    for idx in prange(S * chunks):
        s = idx // chunks
        ch = idx - s * chunks
        lo, hi = ch * chunk, min(n, (ch + 1) * chunk)
        acc = np.empty(hi - lo, dtype=Z.dtype)
        for l in range(CQ.shape[1]):
            acc[:] = zero
            for i in range(m):
                coef, bi, z = CQ[s, l, i], b[s, i], Z[s, i, lo:hi]
                if kind == 0:
                    for j in range(hi - lo):
                        acc[j] += coef * max(z[j] + bi, zero)
                else:
                    for j in range(hi - lo):
                        acc[j] += coef * act(kind, z[j] + bi)
            for j in range(hi - lo):
                out[s, lo + j, l] = acc[j]


_TILE_FORWARD_ROWS = _twin(_tile_forward_rows, NOGIL_OPTIONS)
# the sequential passes, by name for _tile_passes
_FORWARD_ROWS_SEQ, _GRAD_SEQ = _TILE_FORWARD_ROWS[1], _TILE_GRAD[1]


# exact IEEE division in the residual (no reciprocal), as NumPy's; the passes it calls
# keep their own options
@njit(**dict(NOGIL_OPTIONS, fastmath=False))
def _tile_passes(kind, Z, Zg, b, CQ, f, labels, divisor, bg, cg, gc, gb, zero, chunk):
    """Everything between the two products of a tile of members with the square loss, in
    one call (so threads sharing the members meet the GIL only at the products): f by
    :func:`_tile_forward_rows`, R = (f - labels) / divisor (the residual of the square
    loss, same arithmetic as :func:`meanfield.core.losses.loss_derivative`), then
    :func:`_tile_grad` on Zg (the first rows of Z, a view of it, passed in so that a
    contiguous view keeps its layout), added to gc and gb. ``labels`` (1 or S, n, k) is
    shared or per member."""
    S, n, k = Z.shape[0], Z.shape[2], CQ.shape[1]
    _FORWARD_ROWS_SEQ(kind, Z, b, CQ, f, zero, chunk)
    RT = np.empty((S, k, n), dtype=Z.dtype)
    for s in range(S):
        y = labels[min(s, labels.shape[0] - 1)]
        for nn in range(n):
            for l in range(k):
                RT[s, l, nn] = (f[s, nn, l] - y[nn, l]) / divisor
    gc_tile, gb_tile = np.empty(gc.shape, dtype=Z.dtype), np.empty(gb.shape, dtype=Z.dtype)
    _GRAD_SEQ(kind, Zg, bg, cg, RT, gc_tile, gb_tile, zero)
    gc += gc_tile
    gb += gb_tile


def _parts(layout, w):
    c, a, b = layout.unpack(w)
    b = np.zeros(len(w), dtype=w.dtype) if b is None else np.ascontiguousarray(b)
    return np.ascontiguousarray(c), np.ascontiguousarray(a), b


def _stack_parts(layout, w):
    """Contiguous (c (S, m, k), a (S, m, d), b (S, m)) of a stack of packed arrays."""
    k, d = layout.k, layout.d
    b = np.ascontiguousarray(w[..., k + d]) if layout.bias else np.zeros(w.shape[:2], w.dtype)
    return np.ascontiguousarray(w[..., :k]), np.ascontiguousarray(w[..., k:k + d]), b


def _data3(X, dtype):
    X = np.asarray(X, dtype=dtype)
    return np.ascontiguousarray(X[None] if X.ndim == 2 else X)


def _member_groups(S: int, chunk: int) -> list[slice]:
    """Consecutive groups of at most ``chunk`` of the S members (sizes differing by at
    most one), one tiled pass each. The grouping changes no number: every member has its
    own products and passes."""
    count = -(-S // chunk)
    bounds = np.linspace(0, S, count + 1).round().astype(int)
    return [slice(int(lo), int(hi)) for lo, hi in itertools.pairwise(bounds)]


def _sample_blocks(tiles: int, partial: int) -> list[slice]:
    """Consecutive blocks of a member's ``tiles`` sample tiles (nearly equal numbers of
    tiles), each summing its own partial gradient of ``partial`` entries, then added in
    block order: the tuning's ``parts`` at most, and the partials beyond the first at
    most ``tile`` entries in all. Sizes only: the threads that run the blocks change no
    bit."""
    tune = _tuning()
    count = max(1, min(tiles, tune.parts, 1 + tune.tile // max(1, partial)))
    bounds = np.linspace(0, tiles, count + 1).round().astype(int)
    return [slice(int(lo), int(hi)) for lo, hi in itertools.pairwise(bounds)]


def forward(activation, layout, w, q, X):
    """f(x_n) = sum_i q_i c_i sigma(a_i . x_n + b_i), shape (n, k) (theory §1)."""
    return forward_batch(activation, layout, np.asarray(w)[None], np.asarray(q)[None], X)[0]


def forward_batch(activation, layout, w, q, X):
    """Outputs (S, n, k) of S networks w (S, m, p), q (S, m) on X (n, d) shared or
    (S, n, d); member s equals :func:`forward` of member s (same kernels)."""
    w, X = np.asarray(w), np.asarray(X)
    if _lanes.applies(activation, layout, w.shape[1], X.shape[-2], np.result_type(w, X)):
        return _lanes.forward_batch(activation, layout, w, q, X)
    if activation.name not in ACT_IDS:  # a polynomial activation: the NumPy reference
        return _reference.forward_batch(activation, layout, w, q, X)
    kind = ACT_IDS[activation.name]
    dtype = np.result_type(w, X)
    zero = dtype.type(0)
    w = np.asarray(w, dtype=dtype)
    X3 = _data3(X, dtype)
    S, m, n = w.shape[0], w.shape[1], X3.shape[1]
    c, a, b = _stack_parts(layout, w)
    cq = c * np.asarray(q, dtype=dtype)[..., None]
    out = np.empty((S, n, layout.k), dtype=dtype)
    if layout.d <= 4 and layout.k <= 4:
        _pick(_SMALL_FORWARD, S * m * n)(kind, _pad4t(cq), _pad4t(a), b, _pad4(X3), out)
        return out
    tune = _tuning()
    if layout.d < tune.blas_min_d:
        for s in range(S):
            _pick(_FUSED_FORWARD, m * n)(kind, np.ascontiguousarray(cq[s]), a[s], b[s],
                                         X3[0 if len(X3) == 1 else s], out[s])
        return out
    CQ = np.ascontiguousarray(cq.transpose(0, 2, 1))
    tiles = [(s, N) for s in range(S) for N in _spans(n, m, tune.tile)]
    shared = _shares(S * m * n, len(tiles))  # tiles on helper threads: sequential passes

    def tile(i):
        s, N = tiles[i]
        Z = X3[0 if len(X3) == 1 else s, N] @ a[s].T
        _pick(_TILE_FORWARD, 0 if shared else Z.size)(kind, Z, b[s], CQ[s], out[s, N], zero)

    _share_tiles(tile, len(tiles), shared)
    return out


def data_grad(activation, layout, w, X, R):
    """grad_i = sum_n grad_{w_i}[c_i . R_n sigma(a_i . x_n + b_i)], shape (m, p):
    grad_c = sum_n sigma(z) R_n, grad_a = sum_n sigma'(z) (c_i.R_n) x_n, grad_b likewise."""
    if activation.name not in ACT_IDS:
        return _reference.data_grad(activation, layout, w, X, R)
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
        _pick(_SMALL_DATA_GRAD, m * len(X))(
            kind, _pad4(c)[None], _pad4(a)[None], b[None], _pad4t(X[None]), _pad4t(R[None]),
            gc[None], ga[None], gb[None])
    elif layout.d < _tuning().blas_min_d:
        _pick(_FUSED_DATA_GRAD, m * len(X))(kind, c, a, b, X, R, gc, ga, gb)
    else:
        RT = np.ascontiguousarray(R.T)
        tiles = _spans(m, len(X), _tuning().tile)
        shared = _shares(m * len(X), len(tiles))  # tiles on helper threads

        def tile(i):
            I = tiles[i]
            Z = a[I] @ X.T
            _pick(_TILE_GRAD, 0 if shared else Z.size)(
                kind, Z[None], b[None, I], c[None, I], RT[None], gc[None, I], gb[None, I],
                zero)
            ga[I] = Z @ X

        _share_tiles(tile, len(tiles), shared)
    grad = np.empty((m, layout.p), dtype=dtype)
    grad[:, layout.c] = gc
    grad[:, layout.a] = ga
    if layout.bias:
        grad[:, layout.b.start] = gb
    return grad


def forward_and_grad(activation, layout, w, q, m_grad, X, residual):
    """f (n, k) of all rows of w and the data gradient (m_grad, p) of the first m_grad,
    with R = residual(f_N, N) per block of samples (see the NumPy reference). For
    d >= blas_min_d one tile Z = A X_N^T from BLAS serves both: a pass sums f_N, a pass
    turns Z into sigma'(z) (c . R) in place, BLAS forms Z X_N: two products, not three."""
    f, grad = forward_and_grad_batch(activation, layout, np.asarray(w)[None],
                                     np.asarray(q)[None], m_grad, X,
                                     lambda F, G, N: residual(F[0], N)[None])
    return f[0], grad[0]


def bind_forward_and_grad(activation, layout, M, dtype, m_grad, X, residual):
    """:func:`forward_and_grad_batch` on fixed data X for members of M rows in ``dtype``,
    as a function (w, q) -> (f, grad) with what does not depend on w prepared once."""
    X = np.asarray(X)
    if _lanes.applies(activation, layout, M, X.shape[-2], np.result_type(dtype, X)):
        return _lanes.bind_forward_and_grad(activation, layout, m_grad, X, residual)
    return lambda w, q: forward_and_grad_batch(activation, layout, w, q, m_grad, X, residual)


def bind_euler_steps(activation, layout, M, dtype, m_grad, X, residual):
    """Fused Euler steps (w, q, neg, h, n) -> (w after n steps, w after n - 1) of the
    square loss on fixed data for float64 particles where the lanes kernels take the
    reduction (:func:`meanfield.backends.numba.lanes.bind_euler_steps`), else None."""
    X = np.asarray(X)
    if M == m_grad and np.dtype(dtype) == np.float64 and \
            _lanes.applies(activation, layout, M, X.shape[-2], np.result_type(dtype, X)):
        return _lanes.bind_euler_steps(activation, layout, m_grad, X, residual)
    return None


def forward_and_grad_batch(activation, layout, w, q, m_grad, X, residual):
    """:func:`forward_and_grad` for S networks w (S, M, p), q (S, M) on X (n, d) shared or
    (S, n, d); ``residual(F, G, N)`` gives the residuals of members G on samples N.
    Member s equals the single reduction of member s bit for bit (same products, same
    tiles, same arithmetic in the passes); the member axis is one more parallel dimension
    of every loop. For d >= blas_min_d a member's samples are cut into tiles
    (``common.spans``); a member of one tile joins others in member groups, shared
    between threads from ``share_min_work``; a member of several tiles has its tiles
    cut into blocks (:func:`_sample_blocks`), shared between threads, each block
    summing its partial gradient on one thread, the partials added in block order. Every
    partition follows the sizes only: the thread count changes speed, never bits. Small float64
    members with d <= 4 take the lanes kernels (:mod:`meanfield.backends.numba.lanes`)."""
    w, X = np.asarray(w), np.asarray(X)
    if _lanes.applies(activation, layout, w.shape[1], X.shape[-2], np.result_type(w, X)):
        return _lanes.forward_and_grad_batch(activation, layout, w, q, m_grad, X, residual)
    if activation.name not in ACT_IDS:
        return _reference.forward_and_grad_batch(activation, layout, w, q, m_grad, X, residual)
    kind = ACT_IDS[activation.name]
    dtype = np.result_type(w, X)
    zero = dtype.type(0)
    w = np.asarray(w, dtype=dtype)
    X3 = _data3(X, dtype)
    S, M, n, k = w.shape[0], w.shape[1], X3.shape[1], layout.k
    c, a, b = _stack_parts(layout, w)
    grad = np.empty((S, m_grad, layout.p), dtype=dtype)
    tune = _tuning()
    if layout.d < tune.blas_min_d:
        f = forward_batch(activation, layout, w, q, X3)
        R = np.ascontiguousarray(np.asarray(residual(f, slice(None), slice(None)),
                                            dtype=dtype))
        cg, ag, bg = c[:, :m_grad], a[:, :m_grad], b[:, :m_grad]
        gc, ga = np.empty((S, m_grad, k), dtype=dtype), np.empty((S, m_grad, layout.d), dtype)
        gb = np.empty((S, m_grad), dtype=dtype)
        if layout.d <= 4 and k <= 4:
            _pick(_SMALL_DATA_GRAD, S * m_grad * n)(
                kind, _pad4(cg), _pad4(ag), np.ascontiguousarray(bg), _pad4t(X3), _pad4t(R),
                gc, ga, gb)
        else:
            for s in range(S):
                _pick(_FUSED_DATA_GRAD, m_grad * n)(
                    kind, np.ascontiguousarray(cg[s]), np.ascontiguousarray(ag[s]),
                    np.ascontiguousarray(bg[s]), X3[0 if len(X3) == 1 else s], R[s],
                    gc[s], ga[s], gb[s])
        grad[..., layout.c], grad[..., layout.a] = gc, ga
        if layout.bias:
            grad[..., layout.b.start] = gb
        return f, grad
    CQ = np.ascontiguousarray((c * np.asarray(q, dtype=dtype)[..., None]).transpose(0, 2, 1))
    f = np.empty((S, n, k), dtype=dtype)
    gc, ga = np.zeros((S, m_grad, k), dtype=dtype), np.zeros((S, m_grad, layout.d), dtype)
    gb = np.zeros((S, m_grad), dtype=dtype)
    cg, bg = np.ascontiguousarray(c[:, :m_grad]), np.ascontiguousarray(b[:, :m_grad])
    tiles = _spans(n, M, tune.sample_tile)  # a member's sample tiles (sizes M, n only)
    # members taken together when each is one tile: their tiles (and their data, when
    # it is per member) stay in a 1 MB cache between the two products
    per_member = M * n + (0 if len(X3) == 1 else n * layout.d)
    chunk = max(1, min(S, tune.member_tile // per_member)) if len(tiles) == 1 else 1
    groups = _member_groups(S, chunk)
    blocks = _sample_blocks(len(tiles), m_grad * (layout.d + k + 1))
    XT = X3.transpose(0, 2, 1)
    # the square loss's residual formed in the compiled passes (float64: the labels'
    # conversion is then exact, as in the residual's own promotion)
    square = square_labels(residual) if dtype == np.float64 else None
    labels, divisor = (None, None) if square is None else square

    def tile(G, N, gcG, gbG, gaG, shared):
        """Sample tile N of the members G, each member with its own products, its
        gradient added to (gcG, gbG, gaG); a tile of size >= parallel_min_work runs its
        passes in parallel when tiles are not shared between threads."""
        xt, x = (XT, X3) if len(X3) == 1 else (XT[G], X3[G])
        Z = a[G] @ xt[..., N]  # one product per member (shared data broadcast)
        size = 0 if shared else Z.size
        Zg = Z[:, :m_grad]
        if labels is not None and size < tune.parallel_min_work:
            _tile_passes(kind, Z, Zg, b[G], CQ[G], f[G, N],
                         labels[:, N] if len(labels) == 1 else labels[G, N], divisor,
                         bg[G], cg[G], gcG, gbG, zero, tune.chunk)
        else:
            _pick(_TILE_FORWARD_ROWS, size)(kind, Z, b[G], CQ[G], f[G, N], zero, tune.chunk)
            R = np.asarray(residual(f[G, N], G, N), dtype=dtype)
            RT = np.ascontiguousarray(R.transpose(0, 2, 1))
            gc_tile, gb_tile = np.empty_like(gcG), np.empty_like(gbG)
            _pick(_TILE_GRAD, size)(kind, Zg, bg[G], cg[G], RT, gc_tile, gb_tile, zero)
            gcG += gc_tile
            gbG += gb_tile
        gaG += Zg @ x[:, N]

    if len(blocks) == 1:  # member groups shared between threads, tiles in order
        shared = _shares(S * M * n, len(groups))

        def group(g):
            G = groups[g]
            for N in tiles:
                tile(G, N, gc[G], gb[G], ga[G], shared)

        _share_tiles(group, len(groups), shared)
    else:  # member by member, its blocks of tiles shared, summed in block order
        shared = _shares(M * n, len(blocks))
        for s in range(S):
            G = slice(s, s + 1)
            outs = [(gc[G], gb[G], ga[G])] + [
                (np.zeros_like(gc[G]), np.zeros_like(gb[G]), np.zeros_like(ga[G]))
                for _ in blocks[1:]]

            def block(i, G=G, outs=outs):
                for N in tiles[blocks[i]]:
                    tile(G, N, *outs[i], shared)

            _share_tiles(block, len(blocks), shared)
            for part in outs[1:]:
                for total, add in zip(outs[0], part, strict=True):
                    total += add
    grad[..., layout.c], grad[..., layout.a] = gc, ga
    if layout.bias:
        grad[..., layout.b.start] = gb
    return f, grad
