"""D_n(rho, b) = E[sigma^{(n)}(rho g + b)] (theory §13.2) against an independent 1-D
quadrature (scipy.integrate.quad of Stein's form E[sigma(rho g + b) He_n(g)] / rho^n, which
uses sigma itself, never its derivatives) and against Monte Carlo (4 standard errors)."""
import math

import numpy as np
import pytest
from scipy.integrate import quad

from meanfield.core.activations import get_activation, hermite_activation
from meanfield.core.hermite import hermite_e
from meanfield.kernels.gaussian import pair_kernel
from meanfield.kernels.hermite import SUPPORTED, derivative_polynomials, gaussian_derivatives

CASES = [(0.6, 0.0), (0.9, 0.4), (1.7, -0.8), (3.0, 1.2)]
POLYNOMIAL = "hermite[0.3, 1.0, 0.5, -0.2, 0.1]"     # 0.3 + He_1 + 0.5 He_2 - 0.2 He_3 + ...
N_MAX = 6


def _stein(name: str, rho: float, b: float, n: int) -> float:
    """E[sigma(rho g + b) He_n(g)] / rho^n = E[sigma^{(n)}(rho g + b)] (Stein, n times)."""
    act = get_activation(name)

    def f(g):
        return float(act(np.array(rho * g + b))) * float(hermite_e(n, np.array(g))) \
            * math.exp(-0.5 * g * g) / math.sqrt(2 * math.pi)
    kink = -b / rho if name == "relu" else 0.0
    total = sum(quad(f, lo, hi, limit=400, epsabs=1e-14, epsrel=1e-13)[0]
                for lo, hi in ((-14.0, kink), (kink, 14.0)))
    return total / rho**n


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")  # 1e-14 floor
@pytest.mark.parametrize("name", [*SUPPORTED, POLYNOMIAL])
@pytest.mark.parametrize("rho,b", CASES)
def test_derivatives_match_stein_quadrature(name, rho, b):
    D = gaussian_derivatives(name, rho, b, N_MAX)
    reference = np.array([_stein(name, rho, b, n) for n in range(N_MAX + 1)])
    # the Stein form loses digits as 1/rho^n grows; 1e-8 relative to the largest D_n
    assert np.max(np.abs(D - reference)) <= 1e-8 * max(1.0, np.max(np.abs(reference)))


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "softplus", "erf"])
def test_derivatives_match_monte_carlo(name):
    rng = np.random.default_rng(7)
    g = rng.standard_normal(1_000_000)
    rho, b = 1.3, 0.3
    D = gaussian_derivatives(name, rho, b, 3)
    act = get_activation(name)
    samples = [act(rho * g + b), act.df(rho * g + b), act.d2f(rho * g + b)]
    for n, s in enumerate(samples):
        assert abs(D[n] - s.mean()) <= 4 * s.std() / math.sqrt(len(s))


def test_relu_closed_form_and_dead_neurons():
    # relu: D_n = rho^{1-n} He_{n-2}(-b/rho) phi(b/rho); at b = 0 the odd ones (n >= 3) vanish
    D = gaussian_derivatives("relu", np.array([0.8, 0.0, 0.0]), np.array([0.0, 0.5, -0.5]), 5)
    assert D[3, 0] == 0.0 and D[5, 0] == 0.0
    assert np.isclose(D[2, 0], 1 / (0.8 * math.sqrt(2 * math.pi)))
    # a dead neuron (a = 0) sees the constant b: relu(b), relu'(b), and 0 beyond
    assert np.allclose(D[:, 1], [0.5, 1, 0, 0, 0, 0]) and np.allclose(D[:, 2], 0)
    # tiny rho with a bias: phi(b/rho) underflows, no overflow into NaN
    assert np.all(np.isfinite(gaussian_derivatives("relu", 1e-200, 0.3, 8)))


def test_polynomials_are_derivatives():
    z = np.linspace(-2, 2, 9)
    h = 1e-5
    for name, base in (("tanh", np.tanh), ("sigmoid", lambda x: 1 / (1 + np.exp(-x)))):
        polys = derivative_polynomials(name, 4)
        for n in range(4):
            fd = (polys[n](base(z + h)) - polys[n](base(z - h))) / (2 * h)
            assert np.allclose(polys[n + 1](base(z)), fd, atol=1e-8)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="activation"):
        gaussian_derivatives(get_activation("relu").__class__("cube", np.square, np.abs,
                                                              np.abs), 1.0, 0.0, 2)
    with pytest.raises(ValueError, match="rho"):
        gaussian_derivatives("erf", -1.0, 0.0, 2)
    with pytest.raises(ValueError, match="n_max"):
        gaussian_derivatives("erf", 1.0, 0.0, -1)


def test_polynomial_activation_pair_kernel_is_exact():
    """Unit a, a' without bias: E[p(u) p'(v)] = sum_k h_k h'_k k! (a.a')^k (Mehler); with a
    bias, against Monte Carlo (4 standard errors)."""
    p = get_activation(POLYNOMIAL)
    q = get_activation("hermite[0.0, -0.5, 0.0, 0.7]")
    kernel = pair_kernel(p, q)
    for t in (-0.6, 0.0, 0.35, 0.9):
        K = kernel(np.array(1.0), np.array(1.0), np.array(t))[0]
        mehler = sum(hp * hq * math.factorial(k) * t**k
                     for k, (hp, hq) in enumerate(zip(p.hermite, q.hermite, strict=False)))
        assert abs(float(K) - mehler) <= 1e-13
    rng = np.random.default_rng(3)
    a1, a2 = np.array([0.8, 0.3, -0.2]), np.array([-0.1, 0.9, 0.4])
    X = rng.standard_normal((1_000_000, 3))
    samples = p(X @ a1 + 0.4) * q(X @ a2 - 0.3)
    K = pair_kernel(p, q, bias=True)(a1 @ a1, a2 @ a2, a1 @ a2, 0.4, -0.3)[0]
    assert abs(float(K) - samples.mean()) <= 4 * samples.std() / math.sqrt(len(samples))


def test_polynomial_activation_names_round_trip_and_bad_ones_raise():
    p = hermite_activation([0.5, 1, -0.25])
    assert get_activation(p.name).hermite == (0.5, 1.0, -0.25)
    z = np.linspace(-2, 2, 5)
    assert np.allclose(p(z), 0.5 + z - 0.25 * (z * z - 1), rtol=0, atol=1e-14)
    assert p(z.astype(np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="activation"):
        get_activation("hermite[1, x]")
    with pytest.raises(ValueError, match="coefficients"):
        hermite_activation([])
