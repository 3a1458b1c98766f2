"""Exact Hessians of the objectives and their products with vectors (theory §12).

Scaling. With J = R/alpha^2 and the mean-field velocity v_i = -m grad_{w_i} J, the
operator computed here is

    H = m grad^2_w J        ((m p) x (m p), over the row-major flattening of net.w),

so that the Jacobian of the velocity field w -> v(w) is exactly -H (what an implicit
integrator needs) and H is the Hessian of m J, the function whose gradient is -v. Its
spectrum is O(1) in m for the mean-field scaling: a Newton step is dw = -H^{-1} (-v).

An index target (theory §13) adds -(1/alpha) grad^2 [c_i T(w_i)] to H_ii, the
neuron-local second derivative of -E[f y] (:mod:`meanfield.objectives.index_forces`).

Population objective (theory §2, §12). Over the signed neurons j of f - y (students
q = alpha/m, centring reference -alpha/m, teacher -alpha_T/m_T),
R = 1/2 sum_{j,l} q_j q_l U(w_j, w_l) + k noise^2/2 with U(w, w') = (c.c') K(w, w'), and

    H_ii = (1/alpha) sum_l q_l d11 U(w_i, w_l) + (1/m) d12 U(w_i, w_i)
    H_ij = (1/m) d12 U(w_i, w_j)                                   (i != j),

where d11 is the Hessian in the first argument and d12 the mixed second derivative
(:mod:`meanfield.kernels.hessians`). The self pair l = i enters both terms because
U(w_i, w_i) depends on w_i through both arguments. The d12 part is the Gauss-Newton
matrix (1/m) E[grad phi(w_i) grad phi(w_j)^T]; the d11 part is E[(f - y) grad^2 phi]/alpha.

Empirical objective (1/n) sum_s l(f(x_s), y_s): with G_s = (m/alpha) df(x_s)/dw,

    H = (1/(m n)) sum_s G_s^T l''(f_s) G_s + (1/(alpha n)) sum_s sum_o l'_o(f_s) grad^2 phi_o(x_s),

the second term block diagonal per neuron (sigma'' terms: zero almost everywhere for
relu; l'' = 0 almost everywhere for the hinge loss).

:func:`hessian` forms H (m p <= DENSE_MAX); :func:`hvp` and :func:`hessian_operator`
apply it without forming it, in O(m^2 p) per product for the population (the pair
reduction structure) and O(m n p) for data.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from ..kernels.hessians import second_order
from ..core.losses import loss_curvature, loss_derivative
from ..model.network import Network, check_network
from .protocol import OffersHessian
from .frozen import Frozen, free_indices, unfreeze

if TYPE_CHECKING:
    from scipy.sparse.linalg import LinearOperator

#: largest m p for which :func:`hessian` forms the dense matrix
DENSE_MAX = 20_000
#: entries of a (targets x sources) tile
TILE = 1 << 18
#: pair coefficients of an operator are kept between products below this many bytes
CACHE_BYTES = 1 << 28


def hessian(net: Network, objective: OffersHessian,
            frozen: Sequence[str] | None = None) -> np.ndarray:
    """H = m grad^2 (R/alpha^2) as a dense (m p, m p) float64 matrix (theory §12).

    Rows and columns follow the row-major flattening of ``net.w`` (particle i, then its
    columns [c | a | b]). The Jacobian of ``objective.velocity`` is -H. Population
    objectives use exact pair-kernel second derivatives (closed forms for relu, erf and
    linear, Gauss-Hermite for polynomials, quadrature to the objective's ``tol`` for tanh,
    sigmoid and softplus; student and teacher with the same activation, or an index
    target); Empirical objectives the closed form above.
    ``frozen`` (some of "c", "a", "b"; also read from a Frozen objective) restricts H to
    the free parameters: the block H[free, free], rows and columns in the same order
    (:func:`meanfield.objectives.frozen.free_indices`).

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> teacher = mf.Network.init(m=2, d=3, activation="erf", seed=1)
        >>> population = mf.GaussianPopulation(teacher, backend="numpy")
        >>> net = mf.Network.init(m=3, d=3, activation="erf", seed=2)
        >>> H = mf.hessian(net, population)            # (m p, m p), symmetric
        >>> H.shape, bool(np.allclose(H, H.T))
        ((12, 12), True)
        >>> e, h = np.eye(12)[0], 1e-6                 # the velocity's Jacobian is -H
        >>> moved = net.with_w(net.w + h * e.reshape(3, 4))
        >>> dv = population.velocity(moved) - population.velocity(net)
        >>> bool(np.allclose(-dv.ravel() / h, H[:, 0], atol=1e-5))
        True
        >>> mf.hessian(net, population, frozen=("c",)).shape   # a only: 3 x 3 free
        (9, 9)
    """
    objective, frozen = unfreeze(objective, frozen)
    free = free_indices(net.layout, net.m, frozen) if frozen else None
    size = net.w.size
    if size > DENSE_MAX:
        raise ValueError(f"m p = {size} exceeds DENSE_MAX = {DENSE_MAX}; use hvp or "
                         "hessian_operator")
    H = _operator(net, objective, "numpy").dense()
    return H if free is None else H[np.ix_(free, free)]


def hvp(net: Network, objective: OffersHessian, v: ArrayLike,
        backend: str | None = None, frozen: Sequence[str] | None = None) -> np.ndarray:
    """H v for v of shape (m, p) (returns (m, p)) or flat (m p,) (returns flat).

    The matrix is never formed: O(m^2 p) per product for a population objective,
    O(m n p) for data. ``backend`` "numba" evaluates the population pair coefficients
    with compiled loops (relu and erf without bias; other kernels use NumPy); None
    follows the objective's backend. With ``frozen`` groups the product is with the
    Hessian restricted to the free parameters: v of shape (m, p) gives P H P v (zeros
    on the frozen columns), a flat v of the free parameters' length gives the
    restricted product, of the same length.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> teacher = mf.Network.init(m=2, d=3, seed=1)
        >>> population = mf.GaussianPopulation(teacher, backend="numpy")
        >>> net = mf.Network.init(m=4, d=3, seed=2)
        >>> v = np.random.default_rng(0).standard_normal(net.w.shape)
        >>> H = mf.hessian(net, population)            # the dense matrix, for comparison
        >>> bool(np.allclose(mf.hvp(net, population, v).ravel(), H @ v.ravel()))
        True
    """
    objective, frozen = unfreeze(objective, frozen)
    v = np.asarray(v, dtype=np.float64)
    if frozen:
        free = free_indices(net.layout, net.m, frozen)
        if v.shape == (len(free),):
            full = np.zeros(net.w.size)
            full[free] = v
            return hvp(net, objective, full, backend, frozen)[free]
        objective = Frozen(objective, frozen)
    if v.shape not in (net.w.shape, (net.w.size,)):
        raise ValueError(f"v must have shape {net.w.shape} or ({net.w.size},), got {v.shape}")
    out = _operator(net, objective, backend).matvec(v.reshape(net.w.shape))
    return out.reshape(v.shape)


def hessian_operator(net: Network, objective: OffersHessian,
                     backend: str | None = None,
                     frozen: Sequence[str] | None = None) -> LinearOperator:
    """H as a symmetric scipy LinearOperator on flat vectors of length m p (with
    ``frozen`` groups: the restricted Hessian, on vectors of the free parameters).

    Pair coefficients are computed once and reused by every product when they fit in
    CACHE_BYTES, so Lanczos or Krylov solvers pay the kernel evaluations once.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> from scipy.sparse.linalg import eigsh
        >>> teacher = mf.Network.init(m=2, d=3, seed=1)
        >>> population = mf.GaussianPopulation(teacher, backend="numpy")
        >>> op = mf.hessian_operator(teacher, population)
        >>> op.shape
        (8, 8)
        >>> top = eigsh(op, k=1, which="LA", return_eigenvectors=False)[0]
        >>> bool(np.isclose(top, np.linalg.eigvalsh(mf.hessian(teacher, population))[-1]))
        True
    """
    objective, frozen = unfreeze(objective, frozen)
    op = _operator(net, objective, backend)
    shape = net.w.shape
    free = free_indices(net.layout, net.m, frozen) if frozen else np.arange(net.w.size)
    n = len(free)

    def matvec(x):
        full = np.zeros(net.w.size)
        full[free] = np.asarray(x, dtype=np.float64).ravel()
        return op.matvec(full.reshape(shape)).ravel()[free]

    from scipy.sparse.linalg import LinearOperator  # loaded at first use

    return LinearOperator((n, n), matvec=matvec, rmatvec=matvec, dtype=np.float64)


def _operator(net, objective, backend):
    """The objective's Hessian (what it offers as ``hessian_operator``: the population
    objectives :class:`PopulationHessian`, data objectives :class:`EmpiricalHessian`)."""
    if not isinstance(objective, OffersHessian):
        raise TypeError(f"{type(objective).__name__} offers no Hessian (GaussianPopulation, "
                        f"Online and Empirical do)")
    return objective.hessian_operator(net, backend)


def _float64(net: Network) -> Network:
    return net if net.w.dtype == np.float64 else net.with_w(net.w.astype(np.float64))


def _blocks(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


# --------------------------------------------------------------------------- population
class PopulationHessian:
    """H of a GaussianPopulation objective ``pop`` at ``net`` (module docstring)."""

    def __init__(self, net: Network, pop, backend=None):
        check_network(net, pop.d, pop.k, "teacher")
        self.index = pop.index
        if self.index is None and net.activation.name != pop.teacher.activation.name:
            raise NotImplementedError("exact Hessians need the student and the teacher to "
                                      "share their activation")
        net = _float64(net)
        self.net, self.alpha, self.m = net, net.alpha, net.m
        self.layout, groups = pop._groups(net)
        act, ws, qs = groups[0]
        self.kernel = pop._kernel(act, act, self.layout.bias)
        self.student_bias = net.layout.bias
        lay = self.layout
        w = net.w if lay.bias == net.layout.bias else np.concatenate(
            [net.w, np.zeros((net.m, 1))], axis=1)
        self.w, self.ws = w, np.asarray(ws, dtype=np.float64)
        self.qs = np.asarray(qs, dtype=np.float64)
        self.c, self.a, self.b = lay.unpack(self.w)
        self.cs, self.as_, self.bs = lay.unpack(self.ws)
        self.n_t = np.einsum("ij,ij->i", self.a, self.a)
        self.n_s = np.einsum("ij,ij->i", self.as_, self.as_)
        self.rows = max(1, TILE // max(1, len(self.ws)))
        self.backend = _numba_hessian(backend, pop, self.kernel)
        n_pairs = self.m * len(self.ws)
        self._cache: dict | None = {} if 16 * 8 * n_pairs <= CACHE_BYTES else None

    def _pairs(self, I):
        """Second-order coefficients for targets I (students) against every source."""
        if self._cache is not None and (I.start, I.stop) in self._cache:
            return self._cache[(I.start, I.stop)]
        T = self.a[I] @ self.as_.T
        idx = np.arange(I.start, I.stop)
        T[idx - I.start, idx] = self.n_t[I]          # self pairs: exactly parallel
        b1 = None if self.b is None else self.b[I, None]
        b2 = None if self.bs is None else self.bs[None, :]
        so = second_order(self.kernel, self.n_t[I, None], self.n_s[None, :], T, b1, b2)
        if self._cache is not None:
            self._cache[(I.start, I.stop)] = so
        return so

    def _trim(self, x):
        """Drop the bias column added when only the teacher has a bias."""
        return x if self.student_bias == self.layout.bias else x[..., :-1]

    # ------------------------------------------------------------------ dense
    def dense(self) -> np.ndarray:
        lay, m, d = self.layout, self.m, self.layout.d
        p = lay.p
        H = np.zeros((m, p, m, p))
        rows = max(1, TILE // max(1, len(self.ws) * d, m * p * p))
        for I in _blocks(m, rows):
            so = self._pairs(I)
            diag = self._dense_diagonal(I, so)
            mixed = self._dense_mixed(I, so)
            H[I] += mixed.transpose(0, 2, 1, 3) / m
            if self.index is not None:
                diag -= self.index.hessian_blocks(self.net.activation, lay, self.w[I])
            for ii, i in enumerate(range(I.start, I.stop)):
                H[i, :, i, :] += diag[ii] / self.alpha
        if self.student_bias != lay.bias:
            H = H[:, :-1, :, :-1]
        n = H.shape[0] * H.shape[1]
        return H.reshape(n, n)

    def _dense_diagonal(self, I, so):
        """sum_l q_l d11 U(w_i, w_l) for i in I, shape (|I|, p, p)."""
        lay, d = self.layout, self.layout.d
        C, A, q = self.c[I], self.a[I], self.qs
        Cs, As = self.cs, self.as_
        e = (C @ Cs.T) * q
        r = As[None, :, :] - so.lam[:, :, None] * A[:, None, :]
        out = np.zeros((len(C), lay.p, lay.p))
        ca = ((so.P * q) @ Cs)[:, :, None] * A[:, None, :] + np.einsum(
            "il,lk,ld->ikd", so.Q * q, Cs, As)
        out[:, lay.c, lay.a] = ca
        out[:, lay.a, lay.c] = ca.transpose(0, 2, 1)
        R1 = np.einsum("il,ild->id", e * so.Aar, r)
        aa = (np.einsum("il,il->i", e, so.P)[:, None, None] * np.eye(d)
              + np.einsum("il,il->i", e, so.Aaa)[:, None, None] * A[:, :, None] * A[:, None, :]
              + A[:, :, None] * R1[:, None, :] + R1[:, :, None] * A[:, None, :]
              + np.matmul(r.transpose(0, 2, 1) * (e * so.Arr)[:, None, :], r))
        out[:, lay.a, lay.a] = aa
        if lay.bias:
            bi = lay.b.start
            cb = (so.D * q) @ Cs
            out[:, lay.c, bi] = out[:, bi, lay.c] = cb
            ab = (np.einsum("il,il->i", e, so.Ba)[:, None] * A
                  + np.einsum("il,ild->id", e * so.F21, r))
            out[:, lay.a, bi] = out[:, bi, lay.a] = ab
            out[:, bi, bi] = np.einsum("il,il->i", e, so.P)
        return out

    def _dense_mixed(self, I, so):
        """d12 U(w_i, w_j) for i in I and every student j, shape (|I|, m, p, p)."""
        lay, m, k, d = self.layout, self.m, self.layout.k, self.layout.d
        S = slice(0, m)
        Ct, At, C, A = self.c[I], self.a[I], self.c, self.a
        K, P, Q, D, Ps, Ds = (x[:, S] for x in (so.K, so.P, so.Q, so.D, so.Ps, so.Ds))
        lam, lam_s, Aar, Aar_s, Arr, Wq, F21, F12 = (
            x[:, S] for x in (so.lam, so.lam_s, so.Aar, so.Aar_s, so.Arr, so.Wq, so.F21,
                              so.F12))
        E = Ct @ C.T
        r = A[None, :, :] - lam[:, :, None] * At[:, None, :]
        out = np.zeros((len(Ct), m, lay.p, lay.p))
        out[:, :, lay.c, lay.c] = K[:, :, None, None] * np.eye(k)
        out[:, :, lay.c, lay.a] = (np.einsum("ij,jk,jd->ijkd", Ps, C, A)
                                   + np.einsum("ij,jk,id->ijkd", Q, C, At))
        out[:, :, lay.a, lay.c] = (np.einsum("ij,id,ik->ijdk", P, At, Ct)
                                   + np.einsum("ij,jd,ik->ijdk", Q, A, Ct))
        ai = At[:, None, :]
        aa = (Q[:, :, None, None] * np.eye(d)
              + (Aar + Wq * lam)[:, :, None, None] * (ai[..., :, None] * ai[..., None, :])
              + Aar_s[:, :, None, None] * (A[None, :, :, None] * A[None, :, None, :])
              + Wq[:, :, None, None] * (ai[..., :, None] * r[..., None, :]
                                        + r[..., :, None] * ai[..., None, :])
              - (lam_s * Arr)[:, :, None, None] * (r[..., :, None] * r[..., None, :]))
        out[:, :, lay.a, lay.a] = E[:, :, None, None] * aa
        if lay.bias:
            bi = lay.b.start
            out[:, :, lay.c, bi] = Ds[:, :, None] * C[None, :, :]
            out[:, :, bi, lay.c] = D[:, :, None] * Ct[:, None, :]
            ab = E[:, :, None] * (F21[:, :, None] * ai + F12[:, :, None] * A[None, :, :])
            out[:, :, lay.a, bi] = out[:, :, bi, lay.a] = ab
            out[:, :, bi, bi] = E * Q
        return out

    # ------------------------------------------------------------------ products
    def matvec(self, v) -> np.ndarray:
        v = np.asarray(v, dtype=np.float64)
        if self.student_bias != self.layout.bias:
            v = np.concatenate([v, np.zeros((len(v), 1))], axis=1)
        if self.backend is not None:
            out = self.backend.population_hvp(self, v)
        else:
            out = np.empty_like(v)
            for I in _blocks(self.m, self.rows):
                out[I] = self._matvec_rows(I, v)
        if self.index is not None:
            out -= self.index.hessian_product(self.net.activation, self.layout, self.w,
                                              v) / self.alpha
        return self._trim(out)

    def _matvec_rows(self, I, v):
        """Rows I of H v (see the module docstring), from the pair coefficients."""
        lay, m = self.layout, self.m
        so = self._pairs(I)
        Vc, Va, Vb = lay.unpack(v)
        At, Ct, q = self.a[I], self.c[I], self.qs
        As, Cs, A, C = self.as_, self.cs, self.a, self.c
        vb = np.zeros(len(At)) if Vb is None else Vb[I]
        out = np.zeros((len(At), lay.p))
        # diagonal part: sum_l q_l d11 U(w_i, w_l) v_i
        e = (Ct @ Cs.T) * q
        al = np.einsum("id,id->i", At, Va[I])[:, None]
        be = Va[I] @ As.T
        rv = be - so.lam * al
        ga = (Vc[I] @ Cs.T) * q
        vbi = vb[:, None]
        rc = e * (so.Aar * al + so.Arr * rv + so.F21 * vbi)
        ci = (ga * so.P + e * (so.Aaa * al + so.Aar * rv + so.Ba * vbi) - so.lam * rc).sum(1)
        out[:, lay.c] = ((so.P * al + so.Q * be + so.D * vbi) * q) @ Cs
        out[:, lay.a] = ci[:, None] * At + (ga * so.Q + rc) @ As \
            + (e * so.P).sum(1)[:, None] * Va[I]
        if lay.bias:
            out[:, lay.b.start] = (ga * so.D + e * (so.Ba * al + so.F21 * rv + so.P * vbi)).sum(1)
        out /= self.alpha
        # mixed part: (1/m) sum_j d12 U(w_i, w_j) v_j over students j
        S = slice(0, m)
        K, P, Q, D, Ps, Ds, lam, lam_s, Aar, Aar_s, Arr, Wq, F21, F12 = (
            x[:, S] for x in (so.K, so.P, so.Q, so.D, so.Ps, so.Ds, so.lam, so.lam_s, so.Aar,
                              so.Aar_s, so.Arr, so.Wq, so.F21, so.F12))
        E = Ct @ C.T
        al2 = At @ Va.T
        be2 = np.einsum("jd,jd->j", A, Va)[None, :]
        rv2 = be2 - lam * al2
        ka = Ct @ Vc.T
        vbj = (np.zeros(m) if Vb is None else Vb)[None, :]
        rc = E * (Wq * al2 - lam_s * Arr * rv2)
        ci = (ka * P + E * (Aar * al2 + Wq * lam * al2 + Wq * rv2 + F21 * vbj) - lam * rc).sum(1)
        cj = ka * Q + E * (Aar_s * be2 + F12 * vbj) + rc
        mixed = np.zeros_like(out)
        mixed[:, lay.c] = K @ Vc + (Ps * be2 + Q * al2 + Ds * vbj) @ C
        mixed[:, lay.a] = ci[:, None] * At + cj @ A + (E * Q) @ Va
        if lay.bias:
            mixed[:, lay.b.start] = (ka * D + E * (F21 * al2 + F12 * be2 + Q * vbj)).sum(1)
        return out + mixed / m


def _numba_hessian(backend, pop, kernel):
    """The compiled product module when it applies, else None (NumPy)."""
    name = backend if backend is not None else getattr(pop.backend, "name", "numpy")
    if name == "numpy" or kernel.name not in ("relu", "erf"):
        return None
    from ..backends.numba import hessian as numba_hessian
    return numba_hessian


# --------------------------------------------------------------------------- data
class EmpiricalHessian:
    """H of an Empirical objective ``emp`` at ``net`` (module docstring)."""

    def __init__(self, net: Network, emp):
        net = _float64(net)
        self.net, self.emp, self.layout = net, emp, net.layout
        self.m, self.alpha = net.m, net.alpha
        self.X = np.asarray(emp.X, dtype=np.float64)
        f = emp.outputs(net).astype(np.float64)
        y = np.asarray(emp.y, dtype=np.float64)
        self.lp = loss_derivative(emp.loss, f, y, emp.beta)          # l'(f), (n, k)
        self.lpp = loss_curvature(emp.loss, f, y, emp.beta)          # l''(f), (n, 1)
        self.n = len(self.X)
        self.rows = max(1, TILE // max(1, self.m))

    def _features(self, N):
        """sigma, sigma', sigma'' of the pre-activations of samples N, each (m, |N|)."""
        c, a, b = self.layout.unpack(self.net.w)
        Z = a @ self.X[N].T
        if b is not None:
            Z += b[:, None]
        act = self.net.activation
        return act.f(Z), act.df(Z), act.d2f(Z)

    def dense(self) -> np.ndarray:
        lay, m, k = self.layout, self.m, self.layout.k
        c = lay.unpack(self.net.w)[0]
        p, n = lay.p, self.n
        H = np.zeros((m * p, m * p))
        resid = np.zeros((m, p, p))
        for N in _blocks(n, max(1, TILE // (m * p * k))):
            S, S1, S2 = self._features(N)
            X = self.X[N]
            G = np.zeros((len(X), k, m, p))                     # (m/alpha) df_o/dw
            G[:, np.arange(k), :, np.arange(k)] = S.T[None]
            G[:, :, :, lay.a] = (c.T[None, :, :, None] * S1.T[:, None, :, None]
                                 * X[:, None, None, :])
            if lay.bias:
                G[:, :, :, lay.b.start] = c.T[None] * S1.T[:, None, :]
            G = G.reshape(len(X) * k, m * p)
            weight = np.broadcast_to(self.lpp[N], (len(X), k)).reshape(-1)
            H += G.T @ (weight[:, None] * G)
            rho = self.lp[N]
            ca = np.einsum("so,is,sd->iod", rho, S1, X)
            resid[:, lay.c, lay.a] += ca
            resid[:, lay.a, lay.c] += ca.transpose(0, 2, 1)
            w2 = (c @ rho.T) * S2
            resid[:, lay.a, lay.a] += np.einsum("is,sd,se->ide", w2, X, X)
            if lay.bias:
                bi = lay.b.start
                cb = S1 @ rho
                resid[:, lay.c, bi] += cb
                resid[:, bi, lay.c] += cb
                ab = w2 @ X
                resid[:, lay.a, bi] += ab
                resid[:, bi, lay.a] += ab
                resid[:, bi, bi] += w2.sum(1)
        H /= m * n
        for i in range(m):
            H[i * p:(i + 1) * p, i * p:(i + 1) * p] += resid[i] / (self.alpha * n)
        return H

    def matvec(self, v) -> np.ndarray:
        lay = self.layout
        c = lay.unpack(self.net.w)[0]
        Vc, Va, Vb = lay.unpack(np.asarray(v, dtype=np.float64))
        gn = np.zeros((self.m, lay.p))
        res = np.zeros((self.m, lay.p))
        for N in _blocks(self.n, self.rows):
            S, S1, S2 = self._features(N)
            X = self.X[N]
            XV = Va @ X.T                                       # x_s . v_a,i
            if Vb is not None:
                XV += Vb[:, None]
            u = S.T @ Vc + (S1 * XV).T @ c                      # G v, (|N|, k)
            u *= self.lpp[N]
            e = (c @ u.T) * S1
            gn[:, lay.c] += S @ u
            gn[:, lay.a] += e @ X
            rho = self.lp[N]
            w1 = (Vc @ rho.T) * S1 + (c @ rho.T) * S2 * XV
            res[:, lay.c] += (S1 * XV) @ rho
            res[:, lay.a] += w1 @ X
            if lay.bias:
                gn[:, lay.b.start] += e.sum(1)
                res[:, lay.b.start] += w1.sum(1)
        return gn / (self.m * self.n) + res / (self.alpha * self.n)


__all__ = ["DENSE_MAX", "EmpiricalHessian", "PopulationHessian", "hessian",
           "hessian_operator", "hvp"]
