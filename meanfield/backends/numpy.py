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
"""
from __future__ import annotations

import numpy as np

name = "numpy"
TILE = 1 << 20  # pair entries per tile


def _tile_rows(n_rows: int, n_cols: int, budget: int = TILE) -> int:
    return max(1, min(n_rows, budget // max(1, n_cols)))


def _blocks(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


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
    dtype = np.result_type(w_t, w_s)
    c_t, a_t, b_t = layout.unpack(np.asarray(w_t, dtype=np.float64))
    c_s, a_s, b_s = layout.unpack(np.asarray(w_s, dtype=np.float64))
    s_s = np.asarray(q_s, dtype=np.float64)[:, None] * c_s
    m_t, m_s = len(a_t), len(a_s)
    n_t, n_s = np.einsum("ij,ij->i", a_t, a_t), np.einsum("ij,ij->i", a_s, a_s)
    grad = np.zeros((m_t, layout.p))
    value = np.zeros(m_t) if with_value else None
    budget = TILE // kernel.work
    col = _tile_rows(m_s, 1, budget=int(np.sqrt(budget)) * 4)
    row = _tile_rows(m_t, col, budget)
    for I in _blocks(m_t, row):
        coef_a = np.zeros(I.stop - I.start)
        for J in _blocks(m_s, col):
            dot = a_t[I] @ a_s[J].T
            b1 = None if b_t is None else b_t[I, None]
            b2 = None if b_s is None else b_s[None, J]
            K, P, Q, D = kernel(n_t[I, None], n_s[None, J], dot, b1, b2)
            e = c_t[I] @ s_s[J].T
            grad[I, layout.c] += K @ s_s[J]
            coef_a += np.einsum("ij,ij->i", e, P)
            grad[I, layout.a] += (e * Q) @ a_s[J]
            if layout.bias:
                grad[I, layout.b.start] += np.einsum("ij,ij->i", e, D)
            if with_value:
                value[I] += np.einsum("ij,ij->i", e, K)
        grad[I, layout.a] += coef_a[:, None] * a_t[I]
    return grad.astype(dtype, copy=False), (None if value is None else value.astype(dtype))


def _preactivations(layout, w, X):
    c, a, b = layout.unpack(w)
    z = a @ X.T
    if b is not None:
        z += b[:, None]
    return c, z


def forward(activation, layout, w, q, X):
    """f(x_k) = sum_i q_i c_i sigma(a_i . x_k + b_i), shape (n, k)."""
    n = X.shape[0]
    out = np.zeros((n, layout.k), dtype=np.result_type(w, X))
    cq = layout.unpack(w)[0] * np.asarray(q)[:, None]
    for I in _blocks(len(w), _tile_rows(len(w), n)):
        _, z = _preactivations(layout, w[I], X)
        out += activation.f(z).T @ cq[I]
    return out


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
    n = X.shape[0]
    dtype = np.result_type(w, X)
    c, a, b = layout.unpack(w)
    cq = c * np.asarray(q, dtype=dtype)[:, None]
    f = np.empty((n, layout.k), dtype=dtype)
    grad = np.zeros((m_grad, layout.p), dtype=dtype)
    cg = c[:m_grad]
    for N in _blocks(n, _tile_rows(n, len(w), TILE)):
        Z = a @ X[N].T
        if b is not None:
            Z += b[:, None]
        S = activation.f(Z)
        f[N] = S.T @ cq
        R = np.asarray(residual(f[N], N), dtype=dtype)
        grad[:, layout.c] += S[:m_grad] @ R
        e = activation.df(Z[:m_grad]) * (cg @ R.T)
        grad[:, layout.a] += e @ X[N]
        if layout.bias:
            grad[:, layout.b.start] += e.sum(axis=1)
    return f, grad
