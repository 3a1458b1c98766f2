"""Numba CPU backend: the reductions of :mod:`meanfield.backends.numpy`, fused and parallel.

Pair reduction (theory §1-2), for each target i over sources j with e_ij = q_j c_i.c_j:
    grad_c_i = sum_j q_j c_j K_ij,   grad_a_i = (sum_j e_ij P_ij) a_i + sum_j e_ij Q_ij a_j,
    grad_b_i = sum_j e_ij D_ij,      value_i = sum_j e_ij K_ij.
Two strategies, chosen by the input dimension d:

* d < ``blas_min_d`` (:mod:`meanfield.backends.tuning`): fully fused. Per target, a chunk of
  dot products a_i.a_j is formed in registers, the kernel (angle, K, P, Q, D) is evaluated
  in a loop that LLVM vectorises (branch-free arccos), and the chunk is accumulated;
  nothing of size m x m exists, not even in blocks.
* d >= ``blas_min_d``: tiled. A tile of rows of A_t A_s^T comes from BLAS, one
  pass (on ``tile_threads`` Numba threads) turns it in place into (e o Q) while
  accumulating grad_c, sum e P, grad_b and value, and BLAS forms (e o Q) A_s. Tiles
  hold at most ``tile`` entries and are at least ``parts`` where the sizes allow
  (``common.spans``: sizes only); from ``share_min_work`` pairs they are handed to
  Numba's threads (``common.share_tiles``: each tile's rows are its own and each tile
  runs on one thread, BLAS pinned to ``blas_threads``
  (:mod:`meanfield.backends.blas`), so which thread ran it, and how many threads
  there were, changes nothing).

The loops run in parallel from ``parallel_min_work`` pairs (a single run's or an
ensemble's). Every choice follows the sizes only, and each target's sums are formed by
one thread in a fixed order, so the results do not depend on the load or the threads.

Kernel arithmetic is always float64 (the reference's precision: the angle of nearly
coincident particles needs it); float32 particles are converted on entry and the
result cast back. The linear kernel uses the O(m p k) :func:`linear_pair_reduce`; a ReLU
paired with a smooth activation ("relu_erf", "relu_linear", "relu_quadrature", theory
§2.5) runs in :mod:`meanfield.backends.numba.mixed`; the "quadrature" kernel (two smooth
activations without a closed form) falls back to the NumPy reference. The data reductions
(:mod:`meanfield.backends.numba.data`) fuse sigma, sigma'
and the residual weights the same way; their tiled path keeps the data's dtype for the
BLAS products (float32 stays float32); small float64 ReLU networks take the lanes kernels
(:mod:`meanfield.backends.numba.lanes`: the member axis innermost).
Compiled code is cached on disk in a folder keyed by the package version and the sources
(:mod:`meanfield.backends.numba.cache`).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ...kernels.gaussian import MIXED_NAMES
from .. import numpy as _reference
from .kernels import (ERF, INV_2PI, KERNEL_IDS, PI, RELU, RELU_BIAS, SNAP, acos_,
                            asin_, erf_bias, relu_bias)
from ..tuning import current as _tuning
from .common import JIT_OPTIONS, NOGIL_OPTIONS
from .common import col4 as _col4
from .common import dot4 as _dot4
from .common import pad4 as _pad4
from .common import pad4t as _pad4t
from .common import pick as _pick
from .common import parts as _parts
from .common import share_tiles as _share_tiles
from .common import shares as _shares
from .common import spans as _spans
from .common import twin as _twin
from .data import (bind_euler_steps, bind_forward_and_grad, data_grad,  # noqa: F401
                   forward, forward_and_grad, forward_and_grad_batch, forward_batch)
from ..numpy import linear_pair_reduce

name = "numba"


@njit(inline="always", **JIT_OPTIONS)
def _relu_pair(s1, r1, qmask, s2, r2, t):
    """(K, P, Q) of the relu kernel (theory §2.1), branch-free. r1 = 1/|a_i| and
    r2 = 1/|a_j| are 0 for a zero input weight, so cos = 0 whenever a norm vanishes;
    qmask = 1/(2 pi), or 0 when a_i = 0 (relu'(0) = 0 convention)."""
    prod = s1 * s2
    cos = min(1.0, max(-1.0, t * (r1 * r2)))
    cos = math.copysign(1.0, cos) if abs(cos) > SNAP else cos
    sin = math.sqrt(max(0.0, 1.0 - cos * cos))
    pt = PI - acos_(cos)
    return (prod * sin + pt * t) * INV_2PI, s2 * sin * (r1 * INV_2PI), pt * qmask


@njit(inline="always", **JIT_OPTIONS)
def _erf_pair(A1, n2, t):
    """(K, P, Q) of Williams' erf kernel (theory §2.2), A1 = 1 + 2|a_i|^2."""
    prod = A1 * (1.0 + 2.0 * n2)
    x = min(1.0, max(-1.0, 2.0 * t / math.sqrt(prod)))
    Q = (4.0 / PI) / math.sqrt(prod - 4.0 * t * t)
    return (2.0 / PI) * asin_(x), -2.0 * t / A1 * Q, Q


@njit(inline="always", **JIT_OPTIONS)
def _bias_pair(kind, n1, n2, t, b1, b2):
    if kind == RELU_BIAS:
        return relu_bias(n1, n2, t, b1, b2)
    return erf_bias(n1, n2, t, b1, b2)


@njit(inline="always", **JIT_OPTIONS)
def _target_constants(n1):
    s1 = math.sqrt(n1)
    return s1, (1.0 / s1 if s1 > 0 else 0.0), (INV_2PI if s1 > 0 else 0.0)


@njit(**JIT_OPTIONS)
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


@njit(inline="always", **JIT_OPTIONS)
def _acc4(acc, K, P, Q, D, e, c, a):
    """Add one source to the accumulators (g (4), h (4), sum eP, sum eD, sum eK)."""
    eq = e * Q
    return (acc[0] + K * c[0], acc[1] + K * c[1], acc[2] + K * c[2], acc[3] + K * c[3],
            acc[4] + eq * a[0], acc[5] + eq * a[1], acc[6] + eq * a[2], acc[7] + eq * a[3],
            acc[8] + e * P, acc[9] + e * D, acc[10] + e * K)


def _small_pairs(kind, c_t, a_t, n_t, b_t, S4, A4, n_s, sq_s, r_s, b_s, gc, ga, gb, val):
    """Fused pair reduction of S systems for d <= 4 and k <= 4, one pass over the
    sources per (member, target), parallel over both.

    c_t, a_t (S, m_t, 4) are zero-padded, S4 = (q_j c_j)^T and A4 = a_s^T (S, 4, m_s), so
    the dot products unroll into fixed multiply-adds and the relu/erf loops vectorise.
    """
    S, m_t = c_t.shape[0], c_t.shape[1]
    m_s = n_s.shape[1]
    for idx in prange(S * m_t):
        s = idx // m_t
        i = idx - s * m_t
        A, Sq = A4[s], S4[s]
        ns, sqs, rs, bs = n_s[s], sq_s[s], r_s[s], b_s[s]
        x = (a_t[s, i, 0], a_t[s, i, 1], a_t[s, i, 2], a_t[s, i, 3])
        y = (c_t[s, i, 0], c_t[s, i, 1], c_t[s, i, 2], c_t[s, i, 3])
        n1, b1 = n_t[s, i], b_t[s, i]
        acc = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        if kind == RELU:
            s1, r1, qmask = _target_constants(n1)
            for j in range(m_s):
                a, c = _col4(A, j), _col4(Sq, j)
                t = _dot4(x, a)
                K, P, Q = _relu_pair(s1, r1, qmask, sqs[j], rs[j], t)
                acc = _acc4(acc, K, P, Q, 0.0, _dot4(y, c), c, a)
        elif kind == ERF:
            A1 = 1.0 + 2.0 * n1
            for j in range(m_s):
                a, c = _col4(A, j), _col4(Sq, j)
                t = _dot4(x, a)
                K, P, Q = _erf_pair(A1, ns[j], t)
                acc = _acc4(acc, K, P, Q, 0.0, _dot4(y, c), c, a)
        else:
            for j in range(m_s):
                a, c = _col4(A, j), _col4(Sq, j)
                K, P, Q, D = _bias_pair(kind, n1, ns[j], _dot4(x, a), b1, bs[j])
                acc = _acc4(acc, K, P, Q, D, _dot4(y, c), c, a)
        for l in range(gc.shape[2]):
            gc[s, i, l] = acc[l]
        for l in range(ga.shape[2]):
            ga[s, i, l] = acc[4 + l] + acc[8] * x[l]
        gb[s, i] = acc[9]
        val[s, i] = acc[10]


_SMALL_PAIRS = _twin(_small_pairs)


@njit(inline="always", **JIT_OPTIONS)
def _pair_chunk(kind, D, K, ai, ci, n1, b1, A, Sq, n_s, sq_s, r_s, b_s, T, KB):
    """One target against every source in a single pass: the dot products a_i.a_j
    and c_i.(q_j c_j) (D, K tuples: d and k are compile-time constants, so these unroll
    and the pass over j vectorises), the kernel, KB[j] = K_ij and T[j] = e_ij Q_ij.
    Returns (sum_j e_ij P_ij, sum_j e_ij D_ij, sum_j e_ij K_ij)."""
    sp = 0.0
    sd = 0.0
    sv = 0.0
    if kind == RELU:
        s1, r1, qmask = _target_constants(n1)
        for j in range(n_s.shape[0]):
            t = 0.0
            for l in range(len(D)):
                t += ai[l] * A[l, j]
            e = 0.0
            for l in range(len(K)):
                e += ci[l] * Sq[l, j]
            K_, P, Q = _relu_pair(s1, r1, qmask, sq_s[j], r_s[j], t)
            KB[j] = K_
            T[j] = e * Q
            sp += e * P
            sv += e * K_
    elif kind == ERF:
        A1 = 1.0 + 2.0 * n1
        for j in range(n_s.shape[0]):
            t = 0.0
            for l in range(len(D)):
                t += ai[l] * A[l, j]
            e = 0.0
            for l in range(len(K)):
                e += ci[l] * Sq[l, j]
            K_, P, Q = _erf_pair(A1, n_s[j], t)
            KB[j] = K_
            T[j] = e * Q
            sp += e * P
            sv += e * K_
    else:
        for j in range(n_s.shape[0]):
            t = 0.0
            for l in range(len(D)):
                t += ai[l] * A[l, j]
            e = 0.0
            for l in range(len(K)):
                e += ci[l] * Sq[l, j]
            K_, P, Q, D_ = _bias_pair(kind, n1, n_s[j], t, b1, b_s[j])
            KB[j] = K_
            T[j] = e * Q
            sp += e * P
            sd += e * D_
            sv += e * K_
    return sp, sd, sv


def _fused_pairs(KIND, D, K, w_t, sT, aT, n_s, sq_s, r_s, b_s, scale, grad, val, block):
    """Fully fused pair reduction of S systems (small d), parallel over blocks of
    ``block`` targets of one member (buffers allocated once per block): see the module
    docstring. Targets are read from the packed w_t (S, m_t, p) (c, a, then b when
    p > k + d), sources come transposed (S, ., m_s) from :func:`_fused_sources`; grad
    (S, m_t, p) and val (S, m_t) receive ``scale`` times the sums. KIND, D and K are
    tuples of length kernel id + 1, d and k (compile-time constants: one compilation per
    kernel, whose loop LLVM optimises alone, 27% less time than with a run-time id at
    d = 10). Per target, one pass over the sources (:func:`_pair_chunk`) forms the
    kernel, then k + d vectorised passes accumulate grad_c and grad_a: 2x faster than
    separate passes per coordinate at d = 10, m = 100. (The sources are not split into
    chunks: a loop over chunks around these passes made LLVM's code 4x slower.)"""
    S, m_t = w_t.shape[0], w_t.shape[1]
    kind, d, k = len(KIND) - 1, len(D), len(K)
    bias = w_t.shape[2] > k + d
    m_s = n_s.shape[1]
    per = (m_t + block - 1) // block
    for blk in prange(S * per):
        s = blk // per
        i0 = (blk - s * per) * block
        T = np.empty(m_s)
        KB = np.empty(m_s)
        A, Sq = aT[s], sT[s]
        ns, sqs, rs, bs = n_s[s], sq_s[s], r_s[s], b_s[s]
        for i in range(i0, min(m_t, i0 + block)):
            ci, ai = w_t[s, i, :k], w_t[s, i, k:k + d]
            n1 = 0.0
            for l in range(d):
                n1 += ai[l] * ai[l]
            b1 = w_t[s, i, k + d] if bias else 0.0
            sp, sd, sv = _pair_chunk(kind, D, K, ai, ci, n1, b1, A, Sq, ns, sqs, rs, bs,
                                     T, KB)
            for l in range(k):
                acc = 0.0
                row = Sq[l]
                for j in range(m_s):
                    acc += KB[j] * row[j]
                grad[s, i, l] = scale * acc
            for l in range(d):
                acc = 0.0
                row = A[l]
                for j in range(m_s):
                    acc += T[j] * row[j]
                grad[s, i, k + l] = scale * (acc + sp * ai[l])
            if bias:
                grad[s, i, k + d] = scale * sd
            val[s, i] = scale * sv


@njit(**JIT_OPTIONS)
def _fused_sources(w_s, q_s, k, d):
    """The sources of :func:`_fused_pairs` from packed w_s (S, m_s, p) and q_s (S, m_s):
    (q c)^T (S, k, m_s), a^T (S, d, m_s), |a|^2, |a|, 1/|a| (0 for a = 0) and b (0
    without a bias column), in one pass."""
    S, m_s = w_s.shape[0], w_s.shape[1]
    bias = w_s.shape[2] > k + d
    sT, aT = np.empty((S, k, m_s)), np.empty((S, d, m_s))
    n_s, sq_s, r_s, b_s = (np.empty((S, m_s)), np.empty((S, m_s)), np.empty((S, m_s)),
                           np.zeros((S, m_s)))
    for s in range(S):
        for j in range(m_s):
            q = q_s[s, j]
            for l in range(k):
                sT[s, l, j] = q * w_s[s, j, l]
            n = 0.0
            for l in range(d):
                x = w_s[s, j, k + l]
                aT[s, l, j] = x
                n += x * x
            r = math.sqrt(n)
            n_s[s, j], sq_s[s, j] = n, r
            r_s[s, j] = 1.0 / r if r > 0 else 0.0
            if bias:
                b_s[s, j] = w_s[s, j, k + d]
    return sT, aT, n_s, sq_s, r_s, b_s


_FUSED_PAIRS = _twin(_fused_pairs, NOGIL_OPTIONS)


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


_TILE_PAIRS = _twin(_tile_pairs, NOGIL_OPTIONS)


def _block(S: int, m_t: int) -> int:
    """Targets per parallel block of the fused loop: at most 64, the tuning's ``parts``
    blocks at least, and a member's blocks of equal size (m_t = 100 in two blocks of 50,
    not 64 + 36: 8% less time for S = 10 on two threads). Sizes only; a target's sums do
    not depend on its block."""
    per = min(m_t, max(-(-m_t // 64), -(-_tuning().parts // S)))
    return max(1, -(-m_t // per))


def pair_reduce(kernel, layout, w_t, w_s, q_s, with_value=False):
    """Return (grad (m_t, p), value (m_t,) or None) of the pair reduction (theory §1-2).

    Same contract as :func:`meanfield.backends.numpy.pair_reduce`.
    """
    if kernel.name.startswith("linear"):
        return linear_pair_reduce(kernel, layout, w_t, w_s, q_s, with_value)
    if kernel.name in MIXED_NAMES:
        from . import mixed as numba_mixed  # compiled on first use

        return numba_mixed.pair_reduce(kernel, layout, w_t, w_s, q_s, with_value)
    grad, value = pair_reduce_batch(kernel, layout, np.asarray(w_t)[None],
                                    np.asarray(w_s)[None], np.asarray(q_s)[None], with_value)
    return grad[0], (None if value is None else value[0])


def pair_reduce_batch(kernel, layout, w_t, w_s, q_s, with_value=False):
    """The pair reductions of S systems, w_t (S, m_t, p), w_s (S, m_s, p), q_s (S, m_s):
    (grad (S, m_t, p), value (S, m_t) or None). The member axis is one more parallel
    dimension of the fused loops (d < blas_min_d); tiled members run one after the other.
    Member s equals :func:`pair_reduce` of member s bit for bit."""
    w_t, w_s, q_s = np.asarray(w_t), np.asarray(w_s), np.asarray(q_s)
    S = len(w_t)
    if kernel.name.startswith("linear"):
        out = [linear_pair_reduce(kernel, layout, w_t[s], w_s[s], q_s[s], with_value)
               for s in range(S)]
        return (np.stack([g for g, _ in out]),
                np.stack([v for _, v in out]) if with_value else None)
    if kernel.name in MIXED_NAMES:  # member by member: the mixed kernels' own loops
        from . import mixed as numba_mixed  # compiled on first use

        out = [numba_mixed.pair_reduce(kernel, layout, w_t[s], w_s[s], q_s[s], with_value)
               for s in range(S)]
        return (np.stack([g for g, _ in out]),
                np.stack([v for _, v in out]) if with_value else None)
    if kernel.name not in KERNEL_IDS:
        return _reference.pair_reduce_batch(kernel, layout, w_t, w_s, q_s, with_value)
    dtype = np.result_type(w_t, w_s)
    k, d = layout.k, layout.d
    tune = _tuning()
    if d < tune.blas_min_d and not (d <= 4 and k <= 4):  # the fused path
        return _fused_reduce(KERNEL_IDS[kernel.name], layout, kernel.scale, w_t, w_s, q_s,
                             dtype, with_value)
    wt, ws = np.asarray(w_t, dtype=np.float64), np.asarray(w_s, dtype=np.float64)
    c_t, a_t = np.ascontiguousarray(wt[..., :k]), np.ascontiguousarray(wt[..., k:k + d])
    c_s, a_s = ws[..., :k], np.ascontiguousarray(ws[..., k:k + d])
    m_t, m_s = a_t.shape[1], a_s.shape[1]
    sT = np.ascontiguousarray((np.asarray(q_s, dtype=np.float64)[..., None] * c_s)
                              .transpose(0, 2, 1))
    n_t, n_s = np.einsum("sij,sij->si", a_t, a_t), np.einsum("sij,sij->si", a_s, a_s)
    sq_s = np.sqrt(n_s)
    r_s = np.divide(1.0, sq_s, out=np.zeros((S, m_s)), where=sq_s > 0)
    b_t = np.ascontiguousarray(wt[..., k + d]) if layout.bias else np.zeros((S, m_t))
    b_s = np.ascontiguousarray(ws[..., k + d]) if layout.bias else np.zeros((S, m_s))
    kind = KERNEL_IDS[kernel.name]
    gc, ga = np.empty((S, m_t, k)), np.empty((S, m_t, d))
    gb, val = np.empty((S, m_t)), np.empty((S, m_t))
    work = S * m_t * m_s
    if d <= 4 and k <= 4:
        args = (kind, _pad4(c_t), _pad4(a_t), n_t, b_t, _pad4t(sT.transpose(0, 2, 1)),
                _pad4t(a_s), n_s, sq_s, r_s, b_s, gc, ga, gb, val)
        _pick(_SMALL_PAIRS, work)(*args)
    else:
        coef_p = np.empty((S, m_t))
        tiles = [(s, I) for s in range(S) for I in _spans(m_t, m_s, tune.tile)]
        shared = _shares(work, len(tiles))  # tiles on helper threads: sequential passes

        def tile(i):
            s, I = tiles[i]
            T = a_t[s, I] @ a_s[s].T
            _pick(_TILE_PAIRS, 0 if shared else T.size)(
                kind, c_t[s, I], n_t[s, I], b_t[s, I], sT[s], n_s[s], sq_s[s], r_s[s],
                b_s[s], T, gc[s, I], coef_p[s, I], gb[s, I], val[s, I], _parts(len(T)))
            ga[s, I] = T @ a_s[s]
            ga[s, I] += coef_p[s, I, None] * a_t[s, I]

        _share_tiles(tile, len(tiles), shared)
    grad = np.empty((S, m_t, layout.p), dtype=dtype)
    grad[..., layout.c] = kernel.scale * gc
    grad[..., layout.a] = kernel.scale * ga
    if layout.bias:
        grad[..., layout.b.start] = kernel.scale * gb
    value = (kernel.scale * val).astype(dtype) if with_value else None
    return grad, value


def _fused_reduce(kind, layout, scale, w_t, w_s, q_s, dtype, with_value):
    """:func:`pair_reduce_batch` on the fused path (d < blas_min_d): one call prepares the
    sources, one the pairs (its parallel loop from ``parallel_min_work`` pairs; same
    arithmetic either way), writing the scaled gradient."""
    wt = np.ascontiguousarray(w_t, dtype=np.float64)
    ws = np.ascontiguousarray(w_s, dtype=np.float64)
    S, m_t, m_s = wt.shape[0], wt.shape[1], ws.shape[1]
    sources = _fused_sources(ws, np.ascontiguousarray(q_s, dtype=np.float64), layout.k,
                             layout.d)
    grad, val = np.empty(wt.shape), np.empty((S, m_t))
    args = ((0,) * (kind + 1), (0,) * layout.d, (0,) * layout.k, wt, *sources, scale, grad,
            val, _block(S, m_t))
    _pick(_FUSED_PAIRS, S * m_t * m_s)(*args)
    return grad.astype(dtype, copy=False), (val.astype(dtype) if with_value else None)


def __getattr__(name: str):
    """``TILE``: the tuning's tile (pair entries), read by run directories' memory budget."""
    if name == "TILE":
        return _tuning().tile
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
