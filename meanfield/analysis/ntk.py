"""Lazy-limit objects: NNGP and NTK of the two-layer net, and the kernel predictor.

theory §3. For neurons c ~ N(0, tau_c^2), a ~ N(0, tau_a^2 I_d), b ~ N(0, tau_b^2),
a.x + b = a~ . x~ with a~ ~ N(0, I_{d+1}) and x~ = (tau_a x, tau_b), so
    NNGP  Sigma(x, x')    = E[sigma(a~.x~) sigma(a~.x~')] = K(x~, x~')
    dSigma(x, x')         = E[sigma'(a~.x~) sigma'(a~.x~')] = Q(x~, x~')
    NTK   Theta(x, x')    = Sigma + tau_c^2 (x.x' + 1[bias trained]) dSigma,
where K and Q are the Gaussian pair kernel and its Stein coefficient of
:mod:`meanfield.kernels.gaussian` (closed forms for relu and erf, quadrature otherwise). In
mean-field units Theta is the tangent kernel of the initial particle law,
Theta(x, x') = int grad_w phi(w, x) . grad_w phi(w, x') dmu_0(w) (§1, §3).
"""
from __future__ import annotations

import numpy as np

from ..kernels.gaussian import pair_kernel
from ..model.network import Network

__all__ = ["nngp", "ntk", "tangent_kernel", "kernel_predictor"]


def _augmented(X, tau_a: float, tau_b: float | None):
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    if tau_b is None:
        return tau_a * X
    return np.concatenate([tau_a * X, np.full((len(X), 1), float(tau_b))], axis=1)


def _sigma_and_derivative(X1, X2, activation, tau_a, tau_b):
    Z1, Z2 = _augmented(X1, tau_a, tau_b), _augmented(X2, tau_a, tau_b)
    kernel = pair_kernel(activation)
    n1 = np.einsum("ij,ij->i", Z1, Z1)[:, None]
    n2 = np.einsum("ij,ij->i", Z2, Z2)[None, :]
    K, _, Q, _ = kernel(n1, n2, Z1 @ Z2.T)
    return K, Q


def nngp(X1, X2, activation="relu", tau_a: float = 1.0, tau_b: float | None = None):
    """NNGP kernel Sigma(x, x') = E[sigma(a.x + b) sigma(a.x' + b)], shape (n1, n2).

    ``tau_b=None`` means no bias; relu gives |x~||x~'|(sin t + (pi - t) cos t)/(2 pi),
    erf gives (2/pi) arcsin(2 x~.x~'/sqrt((1 + 2|x~|^2)(1 + 2|x~'|^2))) (theory §3).

    Examples:

        >>> import meanfield as mf
        >>> mf.ntk.nngp([[1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]).round(4)  # 1/2 and 1/(2 pi)
        array([[0.5   , 0.1592]])
    """
    return _sigma_and_derivative(X1, X2, activation, tau_a, tau_b)[0]


def ntk(X1, X2, activation="relu", tau_c: float = 1.0, tau_a: float = 1.0,
        tau_b: float | None = None, train_bias: bool | None = None):
    """NTK Theta(x, x') = Sigma + tau_c^2 (x.x' + 1[bias trained]) dSigma, shape (n1, n2).

    The bias term enters as +1 (not tau_b^2) because b itself is the trained parameter
    (theory §3). ``train_bias`` defaults to ``tau_b is not None``.

    Examples:

        >>> import meanfield as mf
        >>> mf.ntk.ntk([[1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]).round(4)  # 1/2 + 1/2, 1/(2 pi) + 0
        array([[1.    , 0.1592]])
    """
    if train_bias is None:
        train_bias = tau_b is not None
    K, Q = _sigma_and_derivative(X1, X2, activation, tau_a, tau_b)
    X1, X2 = np.atleast_2d(X1), np.atleast_2d(X2)
    return K + tau_c**2 * (X1 @ X2.T + float(train_bias)) * Q


def tangent_kernel(net: Network, X1, X2=None, block: int = 4096):
    """Tangent kernel of the particles in mean-field units, shape (n1, n2):
    Theta(x, x') = (1/m) sum_i grad_w phi(w_i, x) . grad_w phi(w_i, x')
                 = (1/m) [sigma(Z1)^T sigma(Z2) + (x.x' + 1[bias]) (c^2 sigma'(Z1))^T sigma'(Z2)]
    with Z = a.x + b (theory §1). Scalar outputs (k = 1) only.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> net = mf.Network.init(m=100, d=2, seed=0)
        >>> X = np.random.default_rng(1).standard_normal((5, 2))
        >>> K = mf.ntk.tangent_kernel(net, X)
        >>> K.shape, bool(np.allclose(K, K.T))
        ((5, 5), True)
    """
    if net.layout.k != 1:
        raise ValueError("tangent_kernel needs a scalar-output network (k = 1)")
    X1 = np.asarray(X1, dtype=np.float64)
    X2 = X1 if X2 is None else np.asarray(X2, dtype=np.float64)
    act = net.activation
    gram = X1 @ X2.T + float(net.layout.bias)
    out = np.zeros((len(X1), len(X2)))
    for start in range(0, net.m, block):
        w = net.w[start:start + block].astype(np.float64)
        c, a = w[:, 0], w[:, net.layout.a]
        b = w[:, -1:] if net.layout.bias else 0.0
        Z1, Z2 = a @ X1.T + b, a @ X2.T + b
        out += act.f(Z1).T @ act.f(Z2)
        out += gram * ((c[:, None] ** 2 * act.df(Z1)).T @ act.df(Z2))
    return out / net.m


def kernel_predictor(K_train, K_test_train, y, t=None, f0_train=None, f0_test=None,
                     rtol: float = 1e-12):
    """Predictions of the linearised (lazy) dynamics at time t, or ridgeless at t = None.

    For the loss (1/2n) sum_k (f(x_k) - y_k)^2 and dg/dt = -(1/n) Theta (g - y) (theory §3):
        f_t(x) = f_0(x) + Theta(x, X) Theta(X, X)^{-1} (I - exp(-t Theta(X, X)/n)) (y - f_0(X)),
    which tends to ridgeless kernel regression. Eigenvalues below rtol * max are treated
    as zero (a pseudo-inverse), where the exact dynamics do not move either.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> X = np.random.default_rng(1).standard_normal((5, 2))
        >>> y = np.sign(X[:, :1])
        >>> K = mf.ntk.ntk(X, X)
        >>> bool(np.allclose(mf.ntk.kernel_predictor(K, K, y), y))  # ridgeless: interpolates
        True
        >>> float(np.abs(mf.ntk.kernel_predictor(K, K, y, t=0.0)).max())  # nothing learnt at t = 0
        0.0
    """
    K_train = np.asarray(K_train, dtype=np.float64)
    n = len(K_train)
    y = np.asarray(y, dtype=np.float64).reshape(n, -1)
    residual = y - (0.0 if f0_train is None else np.asarray(f0_train).reshape(n, -1))
    lam, V = np.linalg.eigh(0.5 * (K_train + K_train.T))
    live = lam > rtol * max(lam.max(), 0.0)
    lam_safe = np.where(live, lam, 1.0)
    if t is None:
        gain = np.where(live, 1.0 / lam_safe, 0.0)
    else:
        gain = np.where(live, -np.expm1(-float(t) * lam_safe / n) / lam_safe, 0.0)
    coef = V @ (gain[:, None] * (V.T @ residual))
    pred = np.asarray(K_test_train) @ coef
    if f0_test is not None:
        pred = pred + np.asarray(f0_test).reshape(pred.shape)
    return pred
