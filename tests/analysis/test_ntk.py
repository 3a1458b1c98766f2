"""NTK/NNGP closed forms (theory §3) against wide random networks; kernel predictor."""
import numpy as np
import pytest
from scipy.linalg import expm

import meanfield as mf
from meanfield.analysis.ntk import kernel_predictor, nngp, ntk, tangent_kernel


def _points(n=6, d=3, seed=0, sphere=False):
    X = np.random.default_rng(seed).standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True) if sphere else X


@pytest.mark.parametrize("act", ["relu", "erf", "tanh"])
@pytest.mark.parametrize("tau_b", [None, 0.7])
def test_ntk_matches_wide_random_network(act, tau_b):
    """Theta is the m -> infinity tangent kernel of c ~ N(0, tau_c^2), a ~ N(0, tau_a^2),
    b ~ N(0, tau_b^2); at m = 4e5 the Monte Carlo error is about 3e-3."""
    X = _points(5, 3, seed=1)
    tau = {"c": 1.3, "a": 0.8, "b": (tau_b or 0.0)}
    m = 400_000
    net = mf.Network.init(m, 3, act, bias=tau_b is not None, tau=tau, seed=2)
    emp = tangent_kernel(net, X)
    exact = ntk(X, X, act, tau_c=1.3, tau_a=0.8, tau_b=tau_b)
    # per-entry standard error from 20 independent sub-networks
    parts = np.array([tangent_kernel(mf.Network.from_packed(net.w[i::20], net.layout, act), X)
                      for i in range(20)])
    se = parts.std(0, ddof=1) / np.sqrt(20)
    assert np.all(np.abs(emp - exact) <= 4 * se + 1e-12)
    sigma = nngp(X, X, act, tau_a=0.8, tau_b=tau_b)
    feats = mf.get_activation(act).f(net.a @ X.T + (net.b[:, None] if tau_b is not None else 0))
    products = feats[:, :, None] * feats[:, None, :]  # (m, n, n) samples of sigma(u) sigma(v)
    se = products.std(0) / np.sqrt(m)
    assert np.all(np.abs(products.mean(0) - sigma) <= 4 * se + 1e-12)


def test_relu_ntk_on_the_sphere_closed_form():
    X = _points(8, 4, seed=3, sphere=True)
    u = np.clip(X @ X.T, -1, 1)
    expected = (np.sqrt(1 - u**2) + 2 * (np.pi - np.arccos(u)) * u) / (2 * np.pi)
    np.testing.assert_allclose(ntk(X, X, "relu"), expected, atol=1e-12)
    kappa0 = 1 - np.arccos(u) / np.pi
    kappa1 = (np.sqrt(1 - u**2) + (np.pi - np.arccos(u)) * u) / np.pi
    np.testing.assert_allclose(ntk(X, X, "relu"), 0.5 * kappa1 + 0.5 * u * kappa0, atol=1e-12)


def test_erf_ntk_closed_form():
    X = _points(4, 2, seed=4)
    X1 = X
    n = 1 + 2 * np.sum(X1**2, 1)
    dot = X1 @ X1.T
    sigma = 2 / np.pi * np.arcsin(2 * dot / np.sqrt(np.outer(n, n)))
    dsigma = 4 / np.pi / np.sqrt(np.outer(n, n) - 4 * dot**2)
    np.testing.assert_allclose(ntk(X, X, "erf"), sigma + dot * dsigma, atol=1e-12)


def test_kernel_predictor_solves_the_linear_dynamics():
    """f_t = f_0 + K(x, X) K^{-1} (I - e^{-tK/n})(y - f_0) equals the matrix-exponential
    solution of dg/dt = -(1/n) K (g - y) on the training points, and tends to ridgeless."""
    X = _points(12, 3, seed=5)
    Xt = _points(7, 3, seed=6)
    y = np.sin(X[:, 0])
    f0, f0t = 0.1 * X[:, 1], 0.1 * Xt[:, 1]
    K, Kt = ntk(X, X, "relu"), ntk(Xt, X, "relu")
    n = len(X)
    for t in (0.5, 5.0, 50.0):
        g = y + expm(-t * K / n) @ (f0 - y)
        pred = kernel_predictor(K, K, y, t=t, f0_train=f0, f0_test=f0)
        np.testing.assert_allclose(pred[:, 0], g, atol=1e-10)
    ridgeless = kernel_predictor(K, K, y, f0_train=f0, f0_test=f0)
    np.testing.assert_allclose(ridgeless[:, 0], y, atol=1e-8)  # interpolates
    late = kernel_predictor(K, Kt, y, t=1e9, f0_train=f0, f0_test=f0t)
    np.testing.assert_allclose(late, kernel_predictor(K, Kt, y, f0_train=f0, f0_test=f0t),
                               atol=1e-8)


def test_tangent_kernel_rejects_vector_outputs():
    with pytest.raises(ValueError, match="k = 1"):
        tangent_kernel(mf.Network.init(4, 2, k=2), _points(3, 2))
