"""NumPy reference backend: the two reductions every backend implements, tiled.

Pair reduction (theory §1-2): for targets i and sources j with weights q_j,
    value_i = sum_j q_j (c_i . c_j) K(w_i, w_j)
    grad_i  = sum_j q_j grad_{w_i} [(c_i . c_j) K(w_i, w_j)]   (first argument only)
with grad_c = sum_j q_j c_j K, grad_a = sum_j e_ij (P_ij a_i + Q_ij a_j), grad_b = sum_j e_ij D_ij
and e_ij = q_j c_i . c_j.

Data reductions (empirical objective):
    forward_k = sum_i q_i c_i sigma(a_i . x_k + b_i)
    grad_i    = sum_k grad_{w_i} [c_i . R_k sigma(a_i . x_k + b_i)]

Pointwise losses make the residual R_k a function of f(x_k) alone, so
``forward_and_grad`` evaluates both data reductions from one tile of pre-activations per
block of samples (two matrix products instead of three).

Tiles of at most ``TILE`` pair entries keep memory O(m + n) for any m and n.
Reductions whose products reach the tuning's ``blas_pin_min_work`` multiply-adds run
with BLAS's thread count pinned (:mod:`meanfield.backends.blas`), so that their last bits
do not follow BLAS's threads.
"""
from __future__ import annotations

import numpy as np

from .blas import pins

name = "numpy"
TILE = 1 << 20  # pair entries per tile
_ALL = slice(None)


def _tile_rows(n_rows: int, n_cols: int, budget: int = TILE) -> int:
    return max(1, min(n_rows, budget // max(1, n_cols)))


def _blocks(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


@pins(lambda kernel, layout, w_t, w_s, *_: (len(w_t) + len(w_s)) * layout.p * layout.k)
def linear_pair_reduce(kernel, layout, w_t, w_s, q_s, with_value=False):
    """The pair reduction for the linear kernel K = scale (a.a' + b b'), in O(m p k).

    It factorises through M = sum_j q_j c_j a_j^T (k x d) and beta = sum_j q_j c_j b_j:
    grad_c = scale (M a_i + beta b_i), grad_a = scale M^T c_i, grad_b = scale beta . c_i,
    value_i = c_i . grad_c_i. Every backend uses it: it is BLAS-bound already.
    """
    dtype = np.result_type(w_t, w_s)
    c_t, a_t, b_t = layout.unpack(w_t)
    c_s, a_s, b_s = layout.unpack(w_s)
    cq = c_s * np.asarray(q_s, dtype=dtype)[:, None]
    M = kernel.scale * (cq.T @ a_s)
    grad = np.empty((len(w_t), layout.p), dtype=dtype)
    grad[:, layout.c] = a_t @ M.T
    grad[:, layout.a] = c_t @ M
    if layout.bias:
        beta = kernel.scale * (cq.T @ b_s)
        grad[:, layout.c] += b_t[:, None] * beta
        grad[:, layout.b.start] = c_t @ beta
    value = np.einsum("ij,ij->i", c_t, grad[:, layout.c]) if with_value else None
    return grad, value


def pair_reduce(kernel, layout, w_t, w_s, q_s, with_value=False):
    """Return (grad (m_t, p), value (m_t,) or None) of the pair reduction above."""
    if kernel.name.startswith("linear"):
        return linear_pair_reduce(kernel, layout, w_t, w_s, q_s, with_value)
    grad, value = pair_reduce_batch(kernel, layout, np.asarray(w_t)[None],
                                    np.asarray(w_s)[None], np.asarray(q_s)[None], with_value)
    return grad[0], (None if value is None else value[0])


def _member_chunk(S: int, entries: int, budget: int) -> int:
    """Members per chunk when one member's tile has ``entries`` entries: as many as fit
    into ``budget``, at least one. Tiles never depend on S, so each member's arithmetic is
    the same alone or in a stack (an ensemble member equals its serial run)."""
    return max(1, min(S, budget // max(1, entries)))


@pins(lambda kernel, layout, w_t, w_s, *_: np.shape(w_t)[-2] * np.shape(w_s)[-2] * layout.d)
def pair_reduce_batch(kernel, layout, w_t, w_s, q_s, with_value=False):
    """The pair reduction of S independent systems: w_t (S, m_t, p), w_s (S, m_s, p),
    q_s (S, m_s); returns (grad (S, m_t, p), value (S, m_t) or None). Member s equals
    ``pair_reduce(kernel, layout, w_t[s], w_s[s], q_s[s])`` bit for bit."""
    w_t, w_s, q_s = np.asarray(w_t), np.asarray(w_s), np.asarray(q_s)
    S = len(w_t)
    if kernel.name.startswith("linear"):
        out = [linear_pair_reduce(kernel, layout, w_t[s], w_s[s], q_s[s], with_value)
               for s in range(S)]
        return (np.stack([g for g, _ in out]),
                np.stack([v for _, v in out]) if with_value else None)
    dtype = np.result_type(w_t, w_s)
    c_t, a_t, b_t = _unpack3(layout, np.asarray(w_t, dtype=np.float64))
    c_s, a_s, b_s = _unpack3(layout, np.asarray(w_s, dtype=np.float64))
    s_s = np.asarray(q_s, dtype=np.float64)[..., None] * c_s
    m_t, m_s = a_t.shape[1], a_s.shape[1]
    n_t, n_s = np.einsum("sij,sij->si", a_t, a_t), np.einsum("sij,sij->si", a_s, a_s)
    grad = np.zeros((S, m_t, layout.p))
    value = np.zeros((S, m_t)) if with_value else None
    budget = TILE // kernel.work
    col = _tile_rows(m_s, 1, budget=int(np.sqrt(budget)) * 4)
    row = _tile_rows(m_t, col, budget)
    chunk = _member_chunk(S, m_t * m_s, budget) if (row, col) == (m_t, m_s) else 1
    for G in _blocks(S, chunk):
        for I in _blocks(m_t, row):
            coef_a = np.zeros((G.stop - G.start, I.stop - I.start))
            for J in _blocks(m_s, col):
                dot = a_t[G, I] @ a_s[G, J].transpose(0, 2, 1)
                b1 = None if b_t is None else b_t[G, I, None]
                b2 = None if b_s is None else b_s[G, None, J]
                K, P, Q, D = kernel(n_t[G, I, None], n_s[G, None, J], dot, b1, b2)
                e = c_t[G, I] @ s_s[G, J].transpose(0, 2, 1)
                grad[G, I, layout.c] += K @ s_s[G, J]
                coef_a += np.einsum("sij,sij->si", e, P)
                grad[G, I, layout.a] += (e * Q) @ a_s[G, J]
                if layout.bias:
                    grad[G, I, layout.b.start] += np.einsum("sij,sij->si", e, D)
                if with_value:
                    value[G, I] += np.einsum("sij,sij->si", e, K)
            grad[G, I, layout.a] += coef_a[..., None] * a_t[G, I]
    return grad.astype(dtype, copy=False), (None if value is None else value.astype(dtype))


def _unpack3(layout, w):
    """Views (c (S, m, k), a (S, m, d), b (S, m) or None) of a stack of packed arrays."""
    k, d = layout.k, layout.d
    return w[..., :k], w[..., k:k + d], (w[..., k + d] if layout.bias else None)


def _preactivations(layout, w, X):
    c, a, b = layout.unpack(w)
    z = a @ X.T
    if b is not None:
        z += b[:, None]
    return c, z


def forward(activation, layout, w, q, X):
    """f(x_k) = sum_i q_i c_i sigma(a_i . x_k + b_i), shape (n, k)."""
    return forward_batch(activation, layout, np.asarray(w)[None], np.asarray(q)[None], X)[0]


def _data_stack(X):
    """X (n, d) shared by every member, or (S, n, d) one set per member, as a 3-D array."""
    X = np.asarray(X)
    return X[None] if X.ndim == 2 else X


@pins(lambda activation, layout, w, q, X: np.shape(w)[-2] * np.shape(X)[-2] * layout.d)
def forward_batch(activation, layout, w, q, X):
    """Outputs of S networks: w (S, m, p), q (S, m), X (n, d) shared or (S, n, d);
    shape (S, n, k). Member s equals ``forward(activation, layout, w[s], q[s], X[s])``."""
    w, X3 = np.asarray(w), _data_stack(X)
    S, m, n = len(w), w.shape[1], X3.shape[1]
    out = np.zeros((S, n, layout.k), dtype=np.result_type(w, X3))
    c, a, b = _unpack3(layout, w)
    cq = c * np.asarray(q)[..., None]
    rows = _tile_rows(m, n)
    XT = X3.transpose(0, 2, 1)
    for G in _blocks(S, _member_chunk(S, m * n, TILE) if rows == m else 1):
        xt = XT if len(XT) == 1 else XT[G]
        for I in _blocks(m, rows):
            z = a[G, I] @ xt
            if b is not None:
                z += b[G, I, None]
            out[G] += activation.f(z).transpose(0, 2, 1) @ cq[G, I]
    return out


@pins(lambda activation, layout, w, X, R: len(w) * len(X) * layout.d)
def data_grad(activation, layout, w, X, R):
    """grad_i = sum_k grad_{w_i}[c_i . R_k sigma(z_ik)], shape (m, p); R has shape (n, k)."""
    m, n = len(w), X.shape[0]
    grad = np.zeros((m, layout.p), dtype=np.result_type(w, X, R))
    for I in _blocks(m, _tile_rows(m, n)):
        c, z = _preactivations(layout, w[I], X)
        grad[I, layout.c] = activation.f(z) @ R
        e = activation.df(z) * (c @ R.T)
        grad[I, layout.a] = e @ X
        if layout.bias:
            grad[I, layout.b.start] = e.sum(axis=1)
    return grad


def forward_and_grad(activation, layout, w, q, m_grad, X, residual):
    """Both data reductions from one pass over blocks of samples.

    For each block N of samples: Z = A X_N^T + b for all rows of w, f_N = sigma(Z)^T (q c),
    R_N = residual(f_N, N), and for the first ``m_grad`` rows the gradient of
    sum_{k in N} c_i . R_k sigma(z_ik) (as :func:`data_grad`). Returns (f (n, k), grad
    (m_grad, p)); pointwise losses make R_N depend on f_N only (theory §1).
    """
    f, grad = forward_and_grad_batch(activation, layout, np.asarray(w)[None],
                                     np.asarray(q)[None], m_grad, X,
                                     lambda F, G, N: residual(F[0], N)[None])
    return f[0], grad[0]


@pins(lambda activation, layout, w, q, m_grad, X, *_: np.shape(w)[-2] * np.shape(X)[-2]
      * layout.d)
def forward_and_grad_batch(activation, layout, w, q, m_grad, X, residual):
    """:func:`forward_and_grad` for S networks at once: w (S, M, p), q (S, M), X (n, d)
    shared or (S, n, d), ``residual(F, G, N)`` the residuals (len(G), len(N), k) of the
    members G (a slice) on the samples N. Returns (f (S, n, k), grad (S, m_grad, p)); each
    member equals its own :func:`forward_and_grad` bit for bit (same tiles)."""
    w, X3 = np.asarray(w), _data_stack(X)
    S, M, n = len(w), w.shape[1], X3.shape[1]
    dtype = np.result_type(w, X3)
    c, a, b = _unpack3(layout, w)
    cq = c * np.asarray(q, dtype=dtype)[..., None]
    XT = X3.transpose(0, 2, 1)
    rows = _tile_rows(n, M, TILE)
    chunk = _member_chunk(S, n * M, TILE) if rows == n else 1
    if chunk == S:  # one tile for every member (small problems): no loop, no accumulation
        Z = a @ XT
        if b is not None:
            Z += b[..., None]
        S_ = activation.f(Z)
        f = S_.transpose(0, 2, 1) @ cq
        R = residual(f, _ALL, _ALL)
        if m_grad != M:
            Z, S_, c = Z[:, :m_grad], S_[:, :m_grad], c[:, :m_grad]
        CR = c @ R.transpose(0, 2, 1)
        # relu' is the indicator (relu'(0) = 0): multiplying by the boolean is the same
        # number as multiplying by its 0/1 float, one array pass less
        e = (Z > 0) * CR if activation.name == "relu" else activation.df(Z) * CR
        parts = [S_ @ R, e @ X3]
        if layout.bias:
            parts.append(e.sum(axis=2)[..., None])
        return f, np.concatenate(parts, axis=2)
    f = np.empty((S, n, layout.k), dtype=dtype)
    grad = np.empty((S, m_grad, layout.p), dtype=dtype)
    cg = c[:, :m_grad]
    for G in _blocks(S, chunk):
        xt, x = (XT, X3) if len(XT) == 1 else (XT[G], X3[G])
        for k_block, N in enumerate(_blocks(n, rows)):
            Z = a[G] @ xt[..., N]
            if b is not None:
                Z += b[G, :, None]
            S_ = activation.f(Z)
            f[G, N] = S_.transpose(0, 2, 1) @ cq[G]
            R = np.asarray(residual(f[G, N], G, N), dtype=dtype)
            Zg = Z if m_grad == M else Z[:, :m_grad]
            e = activation.df(Zg) * (cg[G] @ R.transpose(0, 2, 1))
            parts = [(layout.c, (S_ if m_grad == M else S_[:, :m_grad]) @ R),
                     (layout.a, e @ x[:, N])]
            if layout.bias:
                parts.append((layout.b, e.sum(axis=2)[..., None]))
            for cols, value in parts:
                if k_block == 0:
                    grad[G, :, cols] = value
                else:
                    grad[G, :, cols] += value
    return f, grad
