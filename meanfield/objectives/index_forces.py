"""What a neuron shares with a Hermite index target: T(a, b) = E[sigma(a.x + b) g(U^T x)],
its gradient and its Hessian (theory §13).

For y = sum_K beta_K prod_j He_{K_j}(u_j.x) and z = U^T a, Stein's lemma gives

    T(a, b) = sum_K beta_K D_{|K|}(|a|, b) P_K(z),   P_K(z) = prod_j z_j^{K_j},

with D_n = E[sigma^{(n)}(|a| g + b)] (:mod:`meanfield.kernels.hermite`). Since
grad_a D_n = a D_{n+2} and d/db D_n = D_{n+1}:

    grad_a T = A a + U h_0,           A = sum beta D_{n+2} P,    h_0 = sum beta D_n grad P
    T_b      = sum beta D_{n+1} P,    grad_a T_b = B a + U h_1,  B = sum beta D_{n+3} P,
                                                                h_1 = sum beta D_{n+1} grad P
    T_bb     = A
    grad^2_a T = A I + C a a^T + a (U h_2)^T + (U h_2) a^T + U G U^T,
                 C = sum beta D_{n+4} P,  h_2 = sum beta D_{n+2} grad P,
                 G = sum beta D_n grad^2 P.

The risk of f = sum_j q_j c_j sigma(a_j.x + b_j) against y is
R = 1/2 E[f^2] - sum_j q_j c_j T(w_j) + 1/2 E[y^2]; the middle term's share of the
velocity and of the Hessian is local to each neuron (:class:`IndexForces`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.activations import Activation
from ..core.layout import Layout
from ..kernels.hermite import SUPPORTED, gaussian_derivatives, supported
from ..model.targets import IndexTarget


def _monomial(z: np.ndarray, K: tuple[int, ...], drop: tuple[int, ...]) -> np.ndarray:
    """d^drop prod_j z_j^{K_j} (drop_j derivatives in z_j), for z of shape (m, r)."""
    out = np.ones(len(z))
    for j, (k, e) in enumerate(zip(K, drop, strict=True)):
        if e > k:
            return np.zeros(len(z))
        falling = float(np.prod(np.arange(k - e + 1, k + 1))) if e else 1.0
        if k - e:
            out = out * z[:, j] ** (k - e)
        out = out * falling
    return out


def _unit(r: int, *js: int) -> tuple[int, ...]:
    e = [0] * r
    for j in js:
        e[j] += 1
    return tuple(e)


@dataclass
class Parts:
    """The coefficients of the module docstring on m neurons (B, h1, C, h2, G are zeros
    unless the second order was asked for)."""

    T: np.ndarray              # (m,)
    A: np.ndarray              # (m,)
    h0: np.ndarray             # (m, r)
    Tb: np.ndarray             # (m,)
    B: np.ndarray              # (m,)
    h1: np.ndarray             # (m, r)
    C: np.ndarray              # (m,)
    h2: np.ndarray             # (m, r)
    G: np.ndarray              # (m, r, r)


class IndexForces:
    """T(a, b) = E[sigma(a.x + b) y] of one index target for any supported activation,
    with the neuron-local gradient and Hessian of -c T (theory §13).

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> target = mf.IndexTarget(np.eye(3)[:, :1], {1: 1.0})      # y = x_1
        >>> forces = IndexForces(target)
        >>> a = np.array([[2.0, 1.0, 0.0]])
        >>> forces.parts(mf.get_activation("linear"), a, np.zeros(1)).T  # E[(a.x) x_1]
        array([2.])
    """

    def __init__(self, target: IndexTarget, tol: float = 1e-10):
        self.target, self.tol = target, float(tol)
        self.U = target.U
        self.terms = [(K, beta, sum(K)) for K, beta in target.terms]

    def check(self, activation: Activation) -> None:
        """ValueError naming the student's activation when it has no D_n."""
        if not supported(activation):
            raise ValueError(f"activation: an index target needs a student activation among "
                             f"{', '.join(SUPPORTED)} or a hermite[...] polynomial, got "
                             f"{activation.name!r}")

    def parts(self, activation: Activation, a: np.ndarray, b: np.ndarray | None,
              order: int = 1) -> Parts:
        """The coefficients for neurons with input weights a (m, d) and biases b (m,) or
        None: T, A, h0, Tb (order 1) and B, h1, C, h2, G (order 2)."""
        a = np.asarray(a, dtype=np.float64)
        b = np.zeros(len(a)) if b is None else np.asarray(b, dtype=np.float64)
        rho = np.sqrt(np.einsum("id,id->i", a, a))
        top = max((n for _, _, n in self.terms), default=0) + (2 if order == 1 else 4)
        D = gaussian_derivatives(activation, rho, b, top, self.tol)
        z = a @ self.U
        m, r = z.shape
        T, A, Tb = np.zeros(m), np.zeros(m), np.zeros(m)
        h0 = np.zeros((m, r))
        second = order >= 2
        B, C = np.zeros(m), np.zeros(m)
        h1, h2, G = np.zeros((m, r)), np.zeros((m, r)), np.zeros((m, r, r))
        for K, beta, n in self.terms:
            P = beta * _monomial(z, K, (0,) * r)
            T += D[n] * P
            A += D[n + 2] * P
            Tb += D[n + 1] * P
            grads = np.stack([beta * _monomial(z, K, _unit(r, j)) for j in range(r)], axis=1)
            h0 += D[n][:, None] * grads
            if second:
                B += D[n + 3] * P
                C += D[n + 4] * P
                h1 += D[n + 1][:, None] * grads
                h2 += D[n + 2][:, None] * grads
                for j in range(r):
                    for l in range(r):
                        G[:, j, l] += D[n] * beta * _monomial(z, K, _unit(r, j, l))
        return Parts(T, A, h0, Tb, B, h1, C, h2, G)

    def value(self, activation: Activation, layout: Layout, w: np.ndarray,
              q: np.ndarray) -> float:
        """E[f y] = sum_j q_j c_j T(w_j) over signed particles w (n, p), weights q."""
        c, a, b = layout.unpack(np.asarray(w, dtype=np.float64))
        T = self.parts(activation, a, b).T
        return float(np.dot(np.asarray(q, dtype=np.float64) * c[:, 0], T))

    def gradient(self, activation: Activation, layout: Layout, w: np.ndarray) -> np.ndarray:
        """grad_w [c T(a, b)] at particles w (n, p): [T | c grad_a T | c T_b], float64."""
        c, a, b = layout.unpack(np.asarray(w, dtype=np.float64))
        pt = self.parts(activation, a, b)
        out = np.empty((len(a), layout.p))
        out[:, layout.c] = pt.T[:, None]
        out[:, layout.a] = c * (pt.A[:, None] * a + pt.h0 @ self.U.T)
        if layout.bias:
            out[:, layout.b.start] = c[:, 0] * pt.Tb
        return out

    def hessian_blocks(self, activation: Activation, layout: Layout,
                       w: np.ndarray) -> np.ndarray:
        """grad^2_w [c T(a, b)] per particle, shape (n, p, p)."""
        c, a, b = layout.unpack(np.asarray(w, dtype=np.float64))
        pt = self.parts(activation, a, b, order=2)
        n, d = a.shape
        out = np.zeros((n, layout.p, layout.p))
        ga = pt.A[:, None] * a + pt.h0 @ self.U.T
        out[:, 0, layout.a] = out[:, layout.a, 0] = ga
        Uh2 = pt.h2 @ self.U.T
        aa = (pt.A[:, None, None] * np.eye(d) + pt.C[:, None, None] * a[:, :, None] * a[:, None]
              + a[:, :, None] * Uh2[:, None] + Uh2[:, :, None] * a[:, None]
              + np.einsum("dj,ijl,el->ide", self.U, pt.G, self.U))
        out[:, layout.a, layout.a] = c[:, 0, None, None] * aa
        if layout.bias:
            bi = layout.b.start
            out[:, 0, bi] = out[:, bi, 0] = pt.Tb
            ab = c * (pt.B[:, None] * a + pt.h1 @ self.U.T)
            out[:, layout.a, bi] = out[:, bi, layout.a] = ab
            out[:, bi, bi] = c[:, 0] * pt.A
        return out

    def hessian_product(self, activation: Activation, layout: Layout, w: np.ndarray,
                        v: np.ndarray) -> np.ndarray:
        """grad^2_w [c T] applied to v per particle, both (n, p), in O(n p r^2)."""
        c, a, b = layout.unpack(np.asarray(w, dtype=np.float64))
        vc, va, vb = layout.unpack(np.asarray(v, dtype=np.float64))
        pt = self.parts(activation, a, b, order=2)
        U, c1 = self.U, c[:, 0]
        av = np.einsum("id,id->i", a, va)
        uh2 = pt.h2 @ U.T
        uv = va @ U
        out = np.zeros_like(np.asarray(v, dtype=np.float64))
        ga = pt.A[:, None] * a + pt.h0 @ U.T
        out[:, 0] = np.einsum("id,id->i", ga, va)
        aa = (pt.A[:, None] * va + (pt.C * av)[:, None] * a
              + a * np.einsum("id,id->i", uh2, va)[:, None] + uh2 * av[:, None]
              + np.einsum("ijl,il->ij", pt.G, uv) @ U.T)
        out[:, layout.a] = vc[:, :1] * ga + c1[:, None] * aa
        if vb is not None:
            bi = layout.b.start
            ab = pt.B[:, None] * a + pt.h1 @ U.T
            out[:, 0] += pt.Tb * vb
            out[:, layout.a] += (c1 * vb)[:, None] * ab
            out[:, bi] = pt.Tb * vc[:, 0] + c1 * (np.einsum("id,id->i", ab, va) + pt.A * vb)
        return out


__all__ = ["IndexForces", "Parts"]
