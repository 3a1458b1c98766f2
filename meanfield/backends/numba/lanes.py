"""Numba data reductions of many small ReLU networks at once: the member axis innermost.

Ensembles of small networks (the 2-D demo: 16 particles, 15 samples, d = 2) have too
little work per member for any per-member loop to vectorise: a loop over 15 samples or
16 particles is one vector and a remainder, and every NumPy operation costs more in
calls than in arithmetic. Here each chunk of up to ``LANES`` members is transposed into
*lanes* (particles, coordinates, members), and every loop of the forward pass and of the
data gradient (theory §1) runs over the members innermost: one SIMD operation advances
every member of the chunk by the same step of the same arithmetic.

Member s's arithmetic is the same sequence of scalar operations whatever S, the chunk
or the lane it lands in (sums over particles and samples in index order; no
reassociation, fused multiply-adds where written), so an ensemble member equals its
serial run (S = 1) bit for bit. It is not the NumPy reference's order (BLAS sums in
blocks): the two agree to rounding (tested to 1e-12 relative over whole runs).

Square loss: the residual R = (f - y)/n is formed inside the kernel, so one call gives
the velocity's gradient; other losses take two calls (forward, then the gradient of the
residual the objective computed).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..protocol import square_labels
from .common import parts, pick, twin

#: members per chunk of the sequential kernel (the SIMD loops' length); the parallel one
#: deals the members to the tuning's ``parts`` chunks
LANES = 64
#: particle x sample products per member up to which data reductions with d <= MAX_D
#: take the lanes kernels (above, the per-member kernels vectorise on their own)
MAX_WORK = 2048
MAX_D, MAX_K = 4, 8
_OPTIONS = dict(cache=True, error_model="numpy", fastmath={"contract"}, boundscheck=False)


@njit(**_OPTIONS)
def _chunk_forward(D, K, AT, BT, CQT, XT, FT, SG):
    """FT (n, k, L) = sum_i cq_i relu(a_i . x_j + b_i), particles in index order; SG
    (m, n, L) keeps relu(z) of the first m particles for the gradient (relu'(z) =
    1{relu(z) > 0}). D and K are tuples of length d and k: their lengths are compile-time
    constants, so the loops over coordinates unroll and each loop over the lanes is one
    SIMD loop."""
    M, L = BT.shape
    m = SG.shape[0]
    n = XT.shape[0]
    for j in range(n):
        for l in range(len(K)):
            for s in range(L):
                FT[j, l, s] = 0.0
        for i in range(M):
            keep = i < m
            for s in range(L):
                z = BT[i, s]
                for l in range(len(D)):
                    z += AT[i, l, s] * XT[j, l, s]
                sg = max(z, 0.0)
                if keep:
                    SG[i, j, s] = sg
                for l in range(len(K)):
                    FT[j, l, s] += CQT[i, l, s] * sg


@njit(**_OPTIONS)
def _chunk_grad(D, K, CT, XT, RT, SG, GT):
    """GT (m, k + d + 1, L): grad_c = sum_j relu(z) R_j, grad_a = sum_j relu'(z)
    (c . R_j) x_j, grad_b = sum_j relu'(z) (c . R_j), samples in index order."""
    m, n, L = SG.shape
    k, d = len(K), len(D)
    for i in range(m):
        for l in range(GT.shape[1]):
            for s in range(L):
                GT[i, l, s] = 0.0
        for j in range(n):
            for s in range(L):
                sg = SG[i, j, s]
                e = 0.0
                for l in range(len(K)):
                    r = RT[j, l, s]
                    GT[i, l, s] += sg * r
                    e += CT[i, l, s] * r
                e = e if sg > 0.0 else 0.0
                for l in range(len(D)):
                    GT[i, k + l, s] += e * XT[j, l, s]
                GT[i, k + d, s] += e


@njit(**_OPTIONS)
def _transpose_in(W, Q, lo, L, M, k, d, bias, AT, BT, CT, CQT):
    for i in range(M):
        for s in range(L):
            w = W[lo + s, i]
            q = Q[lo + s, i]
            for l in range(k):
                CT[i, l, s] = w[l]
                CQT[i, l, s] = w[l] * q
            for l in range(d):
                AT[i, l, s] = w[k + l]
            BT[i, s] = w[k + d] if bias else 0.0


@njit(**_OPTIONS)
def _transpose_rows(A, lo, L, out):
    """out (rows, cols, L) = A[lo:lo + L] (S', rows, cols) moved to lanes; a single
    shared array (S' = 1) is repeated in every lane."""
    shared = A.shape[0] == 1
    for s in range(L):
        src = A[0] if shared else A[lo + s]
        for r in range(out.shape[0]):
            for c in range(out.shape[1]):
                out[r, c, s] = src[r, c]


def _lanes(mode, D, K, W, Q, X, Y, R, bias, n_div, m_grad, lanes, F, G):
    """mode 0: forward (F) and, with the square-loss residual (F - Y)/n_div, the
    gradient (G); mode 1: forward only; mode 2: gradient of the residual R only (the
    forward pass runs again for relu(z)).
    W (S, M, p), Q (S, M), X (1 or S, n, d), Y (1 or S, n, k), R (S, n, k); F (S, n, k),
    G (S, m_grad, p). Parallel over chunks of ``lanes`` members."""
    S, M = W.shape[0], W.shape[1]
    k, d = len(K), len(D)
    n = X.shape[1]
    p = G.shape[2]
    chunks = (S + lanes - 1) // lanes
    for ch in prange(chunks):
        lo = ch * lanes
        L = min(S, lo + lanes) - lo
        AT, BT = np.empty((M, d, L)), np.empty((M, L))
        CT, CQT = np.empty((M, k, L)), np.empty((M, k, L))
        XT, FT = np.empty((n, d, L)), np.empty((n, k, L))
        _transpose_in(W, Q, lo, L, M, k, d, bias, AT, BT, CT, CQT)
        _transpose_rows(X, lo, L, XT)
        SG = np.empty((0 if mode == 1 else m_grad, n, L))
        _chunk_forward(D, K, AT, BT, CQT, XT, FT, SG)
        if mode != 2:
            for s in range(L):
                for j in range(n):
                    for l in range(k):
                        F[lo + s, j, l] = FT[j, l, s]
        if mode == 1:
            continue
        RT = np.empty((n, k, L))
        if mode == 0:
            YT = np.empty((n, k, L))
            _transpose_rows(Y, lo, L, YT)
            for j in range(n):
                for l in range(k):
                    for s in range(L):
                        RT[j, l, s] = (FT[j, l, s] - YT[j, l, s]) / n_div
        else:
            _transpose_rows(R, lo, L, RT)
        GT = np.empty((m_grad, k + d + 1, L))
        _chunk_grad(D, K, CT, XT, RT, SG, GT)
        for s in range(L):
            for i in range(m_grad):
                for l in range(p):
                    G[lo + s, i, l] = GT[i, l, s]


_LANES = twin(_lanes, _OPTIONS)
_lanes_sequential = _LANES[1]  # a plain global: compiled kernels call it directly


def applies(activation, layout, M: int, n: int, dtype) -> bool:
    """Whether the lanes kernels take the data reductions of members of M rows on n
    samples: relu, float64, d <= MAX_D, k <= MAX_K and M n <= MAX_WORK (never a function
    of the number of members). Smooth activations stay out: their scalar libm calls
    (no SVML here) make a 64-member tanh ensemble 5x slower than NumPy's SIMD ufuncs."""
    return (layout.d <= MAX_D and layout.k <= MAX_K and dtype == np.float64
            and M * n <= MAX_WORK and activation.name == "relu")


def _lanes_of(kernels, S: int) -> int:
    """Members per chunk: LANES for the sequential kernel, else as many as make the
    tuning's ``parts`` chunks (at most LANES): sizes only. Each member's arithmetic is its
    own lane's, whatever the chunk."""
    return LANES if kernels is _LANES[1] else min(LANES, -(-S // parts(S)))


def _run(activation, layout, mode, w, q, X, Y, R, n_div, m_grad):
    w = np.ascontiguousarray(w, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if q.shape != w.shape[:2]:
        q = np.broadcast_to(q, w.shape[:2])
    q = np.ascontiguousarray(q)
    X = np.ascontiguousarray(X, dtype=np.float64)
    if X.ndim == 2:
        X = X[None]
    S, M, n = w.shape[0], w.shape[1], X.shape[1]
    k, d = layout.k, layout.d
    F = np.empty((S, n, k))
    G = np.empty((S, m_grad, layout.p))
    kernels = pick(_LANES, S * M * n)
    kernels(mode, _TUPLES[d], _TUPLES[k], w, q, X, Y, R,
            layout.bias, float(n_div), m_grad, _lanes_of(kernels, S), F, G)
    return F, G


_TUPLES = [(0,) * i for i in range(max(MAX_D, MAX_K) + 1)]
_NONE = np.zeros((1, 1, 1))


def forward_batch(activation, layout, w, q, X):
    """Outputs (S, n, k); see :func:`meanfield.backends.numpy.forward_batch`."""
    return _run(activation, layout, 1, w, q, X, _NONE, _NONE, 1.0, 0)[0]


def forward_and_grad_batch(activation, layout, w, q, m_grad, X, residual):
    """See :func:`meanfield.backends.numpy.forward_and_grad_batch`. A
    :class:`meanfield.backends.protocol.SquareResidual` (labels (1 or S, n, k), divisor)
    is the square loss's (F - labels)/divisor and is formed inside the kernel (one call)."""
    square = square_labels(residual)
    if square is not None:
        Y = np.ascontiguousarray(square[0], dtype=np.float64)
        return _run(activation, layout, 0, w, q, X, Y, _NONE, square[1], m_grad)
    F = _run(activation, layout, 1, w, q, X, _NONE, _NONE, 1.0, 0)[0]
    R = np.ascontiguousarray(residual(F, slice(None), slice(None)), dtype=np.float64)
    return F, _run(activation, layout, 2, w, q, X, _NONE, R, 1.0, m_grad)[1]


def bind_forward_and_grad(activation, layout, m_grad, X, residual):
    """:func:`forward_and_grad_batch` on fixed data, as a function (w, q) -> (F, G) with
    the data converted and the kernel's arguments prepared once (the per-step cost of a
    small ensemble is its call overhead)."""
    X = np.asarray(X, dtype=np.float64)
    X = np.ascontiguousarray(X[None] if X.ndim == 2 else X)
    n, k, p = X.shape[1], layout.k, layout.p
    D, K, bias = _TUPLES[layout.d], _TUPLES[k], layout.bias
    square = square_labels(residual)
    if square is None:
        return lambda w, q: forward_and_grad_batch(activation, layout, w, q, m_grad, X,
                                                   residual)
    Y = np.ascontiguousarray(square[0], dtype=np.float64)
    divisor = square[1]

    def call(w, q):
        S, M = w.shape[0], w.shape[1]
        F, G = np.empty((S, n, k)), np.empty((S, m_grad, p))
        kernels = pick(_LANES, S * M * n)
        kernels(0, D, K, np.ascontiguousarray(w), np.ascontiguousarray(q), X, Y,
                _NONE, bias, divisor, m_grad, _lanes_of(kernels, S), F, G)
        return F, G

    return call


@njit(cache=True, error_model="numpy", boundscheck=False)
def _euler_steps(steps, D, K, W, Q, X, Y, R, bias, n_div, lanes, neg, h, prev):
    """``steps`` Euler steps W <- W + h_s (G_s / neg_s) in place, G the square-loss data
    gradient of ``_lanes`` (mode 0, sequential copy); ``prev`` receives W before the last
    step. The update is two IEEE operations per entry (no contraction), as NumPy's
    ``W + H * (G / neg)``."""
    S, M, p = W.shape
    F = np.empty((S, X.shape[1], len(K)))
    G = np.empty((S, M, p))
    for _ in range(steps):
        _lanes_sequential(0, D, K, W, Q, X, Y, R, bias, n_div, M, lanes, F, G)
        for s in range(S):
            for i in range(M):
                for l in range(p):
                    prev[s, i, l] = W[s, i, l]
                    W[s, i, l] = W[s, i, l] + h[s] * (G[s, i, l] / neg[s])


def bind_euler_steps(activation, layout, m_grad, X, residual):
    """Fused Euler steps on fixed data for the square loss: a function
    (w (S, M, p), q (S, M), neg (S,), h (S,), n) -> (w after n steps, w after n - 1)
    doing exactly, step by step, ``w + h * (grad / neg)`` with ``grad`` from
    :func:`bind_forward_and_grad` (same bits as n calls of it), or None when the
    residual is not the square loss's or the gradient rows are not all rows."""
    square = square_labels(residual)
    if square is None:
        return None
    X = np.asarray(X, dtype=np.float64)
    X = np.ascontiguousarray(X[None] if X.ndim == 2 else X)
    Y = np.ascontiguousarray(square[0], dtype=np.float64)
    D, K, bias, divisor = _TUPLES[layout.d], _TUPLES[layout.k], layout.bias, float(square[1])
    bound = bind_forward_and_grad(activation, layout, m_grad, X, residual)

    def steps(w, q, neg, h, n):
        if w.shape[1] != m_grad:
            raise ValueError(f"w must have m_grad = {m_grad} rows, got {w.shape[1]}")
        W = np.array(w, dtype=np.float64, order="C")
        prev = np.empty_like(W)
        if pick(_LANES, W.shape[0] * W.shape[1] * X.shape[1]) is _LANES[0]:
            # hundreds of members: the parallel kernel, one call per step
            H, N = np.asarray(h)[:, None, None], np.asarray(neg)[:, None, None]
            for _ in range(int(n)):
                prev, W = W, W + H * (bound(W, q)[1] / N)
            return W, prev
        _euler_steps(int(n), D, K, W, np.ascontiguousarray(q, dtype=np.float64), X, Y,
                     _NONE, bias, divisor, LANES,
                     np.ascontiguousarray(neg, dtype=np.float64),
                     np.ascontiguousarray(h, dtype=np.float64), prev)
        return W, prev

    return steps
