"""F_ij = E[sigma^(i)(u) sigma^(j)(v)] of smooth pair kernels (theory §2.4, §2.6, §12.1)
against an independent product Gauss-Hermite rule (written with v as the first variable,
the derivatives from the Eulerian-number formula of the sigmoid, never from the
recurrence the package uses) and against Monte Carlo (4 standard errors); the second
derivatives built from them against central differences of the kernel's gradient."""
import math

import numpy as np
import pytest
from numpy.polynomial import hermite_e as He
from numpy.polynomial import polynomial as Pw

from meanfield.core.activations import get_activation
from meanfield.kernels.gaussian import pair_kernel
from meanfield.kernels.hessians import pair_hessians, second_order
from meanfield.kernels.smooth_hessians import ORDERS, applies, smooth_moments

POLYNOMIAL = "hermite[0.3, 1.0, 0.5, -0.2, 0.1]"
SMOOTH = ["tanh", "sigmoid", "softplus", POLYNOMIAL]
#: (|a|^2, |a'|^2, a.a', b, b'): generic, nearly parallel, antiparallel, a dead neuron
PAIRS = [(0.8, 1.1, 0.3, 0.4, -0.7), (0.9, 0.9, 0.9 - 1e-9, -0.3, 0.2),
         (0.5, 1.2, -0.7, 0.0, 0.5), (0.0, 0.7, 0.0, 0.6, -0.1)]


def _eulerian(n: int, k: int) -> int:
    return sum((-1) ** j * math.comb(n + 1, j) * (k + 1 - j) ** n for j in range(k + 2))


def _sigmoid_derivative(z, n):
    """s^(n)(z) = sum_k (-1)^k A(n, k) e^{(k+1) z} / (1 + e^z)^{n+1} (n >= 1)."""
    if n == 0:
        return 1.0 / (1.0 + np.exp(-z))
    e = np.exp(np.minimum(z, 60.0))
    return sum((-1) ** k * _eulerian(n, k) * e ** (k + 1) for k in range(n)) / (1 + e) ** (n + 1)


def _derivative(name, z, n):
    if name == "tanh":             # tanh(z) = 2 s(2z) - 1
        return 2.0 ** (n + 1) * _sigmoid_derivative(2 * z, n) - (n == 0)
    if name == "sigmoid":
        return _sigmoid_derivative(z, n)
    if name == "softplus":         # softplus' = s
        return np.logaddexp(0.0, z) if n == 0 else _sigmoid_derivative(z, n - 1)
    power = He.herme2poly(get_activation(name).hermite)   # a polynomial in the power basis
    return Pw.polyval(z, Pw.polyder(power, n) if n else power)


def _reference(name, n1, n2, t, b1, b2, nodes=160):
    """F_ij by product Gauss-Hermite with v = b' + |a'| xi first, u = b + (t/|a'|) xi
    + sqrt(|a|^2 - t^2/|a'|^2) eta."""
    x, w = He.hermegauss(nodes)
    w = w / w.sum()
    s2 = math.sqrt(n2)
    proj = t / s2
    perp = math.sqrt(max(0.0, n1 - proj * proj))
    v = b2 + s2 * x[:, None] + 0.0 * x[None, :]
    u = b1 + proj * x[:, None] + perp * x[None, :]
    W = w[:, None] * w[None, :]
    return np.array([np.sum(W * _derivative(name, u, i) * _derivative(name, v, j))
                     for i, j in ORDERS])


@pytest.mark.parametrize("name", SMOOTH)
@pytest.mark.parametrize("pair", PAIRS)
def test_moments_match_an_independent_quadrature(name, pair):
    kernel = pair_kernel(name, bias=True)
    assert applies(kernel)
    F = smooth_moments(kernel, *pair)
    ref = _reference(name, *pair)
    # the kernel's tol is 1e-10 relative to max(1, sum of |terms|); the reference rule's
    # own error is below 1e-11 at these scales (poles of tanh at distance pi/2 |a|)
    assert np.max(np.abs(F - ref)) <= 1e-9 * max(1.0, np.max(np.abs(ref)))


@pytest.mark.parametrize("name", ["tanh", POLYNOMIAL])
def test_moments_match_monte_carlo(name):
    n1, n2, t, b1, b2 = PAIRS[0]
    rng = np.random.default_rng(7)
    z = rng.standard_normal((2, 400_000))
    s1 = math.sqrt(n1)
    u = b1 + s1 * z[0]
    v = b2 + t / s1 * z[0] + math.sqrt(n2 - t * t / n1) * z[1]
    F = smooth_moments(pair_kernel(name, bias=True), n1, n2, t, b1, b2)
    for n, (i, j) in enumerate(ORDERS):
        sample = _derivative(name, u, i) * _derivative(name, v, j)
        se = sample.std() / math.sqrt(len(sample))
        assert abs(F[n] - sample.mean()) <= 4 * se


@pytest.mark.parametrize("name", ["tanh", "softplus", POLYNOMIAL])
def test_fixed_rules_and_scalars_shape(name):
    """A fixed rule (the kernel's order/rule) gives the F_ij of that rule, close to the
    controlled ones; broadcast pair scalars keep their shape; without bias b = 0."""
    n1, n2, t = np.array([0.8, 0.5]), np.array([[1.1], [0.9]]), np.array(0.3)
    F = smooth_moments(pair_kernel(name), n1, n2, t)
    assert F.shape == (7, 2, 2)
    fixed = smooth_moments(pair_kernel(name, order=120, rule="hermite"), n1, n2, t)
    assert np.max(np.abs(F - fixed)) <= 1e-8 * max(1.0, np.abs(F).max())
    ref = _reference(name, 0.5, 0.9, 0.3, 0.0, 0.0)
    assert np.max(np.abs(F[:, 1, 1] - ref)) <= 1e-9 * max(1.0, np.abs(ref).max())


def _gradient(kernel, x1, x2, d, bias):
    """(grad_a K, dK/db) at one pair from the first-order kernel."""
    a1, a2 = x1[:d], x2[:d]
    b1, b2 = (np.array(x1[d]), np.array(x2[d])) if bias else (None, None)
    K, P, Q, D = kernel(np.array(a1 @ a1), np.array(a2 @ a2), np.array(a1 @ a2), b1, b2)
    grad = P * a1 + Q * a2
    return np.append(grad, D) if bias else grad


@pytest.mark.parametrize("name", SMOOTH)
@pytest.mark.parametrize("bias", [False, True])
def test_pair_hessians_are_derivatives_of_the_kernel_gradient(name, bias):
    """d11 K and d12 K against central differences of grad_1 K (kernel at tol = 1e-13, so
    that its error over the step 1e-4 stays near 1e-9), and on the self pair d11 + d12
    against the derivative of w -> grad_1 K(w, w)."""
    kernel = pair_kernel(name, bias=bias, tol=1e-13)
    rng = np.random.default_rng(2)
    d, eps = 3, 1e-4
    e = d + bias
    for _ in range(3):
        x1, x2 = 0.7 * rng.standard_normal(e), 0.7 * rng.standard_normal(e)
        split = [(x[None, :d], x[None, d] if bias else None) for x in (x1, x2)]
        H11, H12 = pair_hessians(kernel, split[0][0], split[1][0], split[0][1], split[1][1])
        S11, S12 = pair_hessians(kernel, split[0][0], split[0][0], split[0][1], split[0][1])
        fd11, fd12, fds = (np.zeros((e, e)) for _ in range(3))
        for j in range(e):
            h = eps * np.eye(e)[j]
            fd11[:, j] = (_gradient(kernel, x1 + h, x2, d, bias)
                          - _gradient(kernel, x1 - h, x2, d, bias)) / (2 * eps)
            fd12[:, j] = (_gradient(kernel, x1, x2 + h, d, bias)
                          - _gradient(kernel, x1, x2 - h, d, bias)) / (2 * eps)
            fds[:, j] = (_gradient(kernel, x1 + h, x1 + h, d, bias)
                         - _gradient(kernel, x1 - h, x1 - h, d, bias)) / (2 * eps)
        scale = max(1.0, np.abs(fd11).max(), np.abs(fd12).max())
        assert np.abs(H11[0] - fd11).max() <= 1e-6 * scale
        assert np.abs(H12[0] - fd12).max() <= 1e-6 * scale
        assert np.abs(S11[0] + S12[0] - fds).max() <= 1e-6 * scale


def test_mixed_smooth_pairs_have_no_second_order():
    with pytest.raises(NotImplementedError, match="tanh x sigmoid"):
        second_order(pair_kernel("tanh", "sigmoid"), 1.0, 1.0, 0.5)
    with pytest.raises(ValueError, match="kernel"):
        smooth_moments(pair_kernel("erf"), 1.0, 1.0, 0.5)
