"""Closed-form Gaussian kernels (theory §2) against Monte Carlo and scipy."""
import numpy as np
import pytest
from scipy.stats import multivariate_normal

import meanfield as mf
from meanfield.kernels.gaussian import pair_kernel, quadrature_rule

N_MC = 1_000_000


def _mc_expectations(act, a1, b1, a2, b2, n=N_MC, seed=0, sphere=False):
    """Monte Carlo means and standard errors of sigma(u)sigma(v), sigma'(u)sigma(v)x,
    sigma'(u)sigma(v) for x ~ N(0, I) (or uniform on the sphere)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, len(a1)))
    if sphere:
        X /= np.linalg.norm(X, axis=1, keepdims=True)
    u, v = X @ a1 + b1, X @ a2 + b2
    samples = {
        "K": act.f(u) * act.f(v),
        "grad_a": (act.df(u) * act.f(v))[:, None] * X,
        "D": act.df(u) * act.f(v),
    }
    return {k: (s.mean(axis=0), s.std(axis=0) / np.sqrt(n)) for k, s in samples.items()}


def _closed_form(kernel, a1, b1, a2, b2):
    K, P, Q, D = kernel(a1 @ a1, a2 @ a2, a1 @ a2, b1, b2)
    return {"K": K, "grad_a": P * a1 + Q * a2, "D": D}


CASES = [(act, bias) for act in ("relu", "erf", "linear") for bias in (False, True)]


@pytest.mark.parametrize("act,bias", CASES)
@pytest.mark.parametrize("pair_seed", [1, 2, 3])
def test_closed_forms_match_monte_carlo(act, bias, pair_seed):
    rng = np.random.default_rng(pair_seed)
    d = 3
    a1, a2 = rng.standard_normal(d), rng.standard_normal(d) * 0.7
    b1, b2 = (rng.standard_normal(2) if bias else (0.0, 0.0))
    kernel = pair_kernel(act, bias=bias)
    exact = _closed_form(kernel, a1, b1, a2, b2)
    mc = _mc_expectations(mf.get_activation(act), a1, b1, a2, b2, seed=pair_seed)
    for key in ("K", "grad_a") + (("D",) if bias else ()):
        mean, se = mc[key]
        assert np.all(np.abs(np.asarray(exact[key]) - mean) <= 4 * se + 1e-12), key


@pytest.mark.parametrize("act", ["relu", "linear"])
def test_sphere_inputs_match_monte_carlo(act):
    rng = np.random.default_rng(7)
    d = 4
    a1, a2 = rng.standard_normal(d), rng.standard_normal(d)
    kernel = pair_kernel(act, inputs="sphere", d=d)
    exact = _closed_form(kernel, a1, 0.0, a2, 0.0)
    mc = _mc_expectations(mf.get_activation(act), a1, 0.0, a2, 0.0, sphere=True)
    for key in ("K", "grad_a"):
        mean, se = mc[key]
        assert np.all(np.abs(exact[key] - mean) <= 4 * se + 1e-12), key


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "softplus"])
@pytest.mark.parametrize("rule,order,tol", [("trapezoid", 96, 1e-9), ("hermite", 96, 1e-6)])
def test_quadrature_matches_monte_carlo_and_converges(act, rule, order, tol):
    rng = np.random.default_rng(11)
    a1, a2 = rng.standard_normal(3) * 0.8, rng.standard_normal(3) * 0.8
    b1, b2 = 0.3, -0.5
    fine = _closed_form(pair_kernel(act, bias=True, order=400), a1, b1, a2, b2)
    coarse = _closed_form(pair_kernel(act, bias=True, order=order, rule=rule), a1, b1, a2, b2)
    for key in fine:
        np.testing.assert_allclose(coarse[key], fine[key], rtol=0, atol=tol)
    mc = _mc_expectations(mf.get_activation(act), a1, b1, a2, b2)
    for key in fine:
        mean, se = mc[key]
        assert np.all(np.abs(fine[key] - mean) <= 4 * se + 1e-12), key


def test_bvn_cdf_matches_scipy_and_special_cases():
    rng = np.random.default_rng(0)
    h, k, rho = rng.normal(size=40), rng.normal(size=40), rng.uniform(-0.99, 0.99, 40)
    h[:4] = 0.0
    k[2:6] = 0.0
    ours = mf.bvn_cdf(h, k, rho)
    for hi, ki, ri, oi in zip(h, k, rho, ours, strict=False):
        ref = multivariate_normal(mean=[0, 0], cov=[[1, ri], [ri, 1]]).cdf([hi, ki])
        assert abs(oi - ref) < 1e-7  # scipy's own tolerance is ~1e-8
    assert mf.bvn_cdf(0.0, 0.0, 0.5) == pytest.approx(0.25 + np.arcsin(0.5) / (2 * np.pi),
                                                      abs=1e-15)
    from scipy.special import ndtr
    assert mf.bvn_cdf(0.3, -0.2, 1.0) == pytest.approx(ndtr(-0.2), abs=1e-15)
    assert mf.bvn_cdf(0.3, -0.2, -1.0) == pytest.approx(max(0, ndtr(0.3) + ndtr(-0.2) - 1),
                                                        abs=1e-15)
    # continuity into the degenerate limits
    assert mf.bvn_cdf(0.3, -0.2, 1 - 1e-9) == pytest.approx(ndtr(-0.2), abs=1e-4)


def test_relu_kernel_known_values_at_edges():
    a = np.array([0.6, -0.8, 1.2])
    K, P, Q, D = pair_kernel("relu")(a @ a, a @ a, a @ a)
    assert K == pytest.approx((a @ a) / 2, rel=1e-14)
    np.testing.assert_allclose(P * a + Q * a, a / 2, rtol=1e-14)  # grad_1 K(a, a) = a/2
    K, P, Q, D = pair_kernel("relu")(a @ a, a @ a, -(a @ a))  # antipodal
    assert K == 0.0 and np.all(P * a - Q * a == 0.0)


@pytest.mark.parametrize("act,bias", CASES)
def test_edge_cases_are_finite_and_continuous(act, bias):
    """Coincident, antipodal and zero-norm input weights give finite values, and values
    next to those configurations are close to the values at them."""
    kernel = pair_kernel(act, bias=bias)
    a = np.array([0.7, -0.4, 0.5])
    b1, b2 = (0.3, -0.2) if bias else (0.0, 0.0)
    zero = np.zeros(3)
    tilt = np.array([1e-7, 2e-7, -1e-7])
    for a1, a2 in [(a, a), (a, -a), (zero, a), (a, zero), (zero, zero)]:
        exact = _closed_form(kernel, a1, b1, a2, b2)
        near = _closed_form(kernel, a1 + tilt * (np.any(a1) > 0), b1,
                            a2 + 1.3 * tilt * (np.any(a2) > 0), b2)
        for key in exact:
            assert np.all(np.isfinite(exact[key])), (a1, a2, key)
            if np.any(a1) and np.any(a2) or key == "K":
                np.testing.assert_allclose(exact[key], near[key], atol=1e-5)


def test_relu_bias_kernel_reduces_to_arccos_kernel():
    rng = np.random.default_rng(3)
    A, B = rng.normal(size=(6, 4)), rng.normal(size=(5, 4))
    n1, n2, t = (A * A).sum(1)[:, None], (B * B).sum(1)[None], A @ B.T
    zeros = np.zeros_like(t)
    for plain, biased in [("relu", "relu"), ("erf", "erf")]:
        out0 = pair_kernel(plain)(n1, n2, t)
        out1 = pair_kernel(biased, bias=True)(n1, n2, t, zeros, zeros)
        for x0, x1 in zip(out0[:3], out1[:3], strict=False):
            np.testing.assert_allclose(x0, x1, rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("act,bias", [("relu", False), ("relu", True)])
def test_correlation_snap_changes_kernel_negligibly(act, bias):
    """Inside the snap (1 - rho < 1e-10) K equals its value just outside to ~1e-13."""
    kernel = pair_kernel(act, bias=bias)
    a = np.array([1.0, 2.0])
    inside = a + np.array([0.0, 2e-6]) * a[::-1] * np.array([1, -1])  # 1 - rho ~ 1e-12
    outside = a + np.array([0.0, 1e-4]) * a[::-1] * np.array([1, -1])  # 1 - rho ~ 1e-9
    at = _closed_form(kernel, a, 0.2, a, 0.1)["K"]
    for other in (inside, outside):
        K = _closed_form(kernel, a, 0.2, other, 0.1)["K"]
        cos = a @ other / np.linalg.norm(a) / np.linalg.norm(other)
        # K is C^1 in w', so the difference is first order in |w' - w|
        assert abs(K - at) <= 5 * np.linalg.norm(other - a) * np.linalg.norm(a), cos
    K_in = _closed_form(kernel, a, 0.2, inside, 0.1)["K"]
    assert abs(K_in - at) < 1e-5


def test_quadrature_rule_validation():
    with pytest.raises(ValueError, match="quadrature rule"):
        quadrature_rule("simpson", 10)
    with pytest.raises(ValueError, match="quadrature rule"):
        pair_kernel("tanh", rule="simpson")  # relu with tanh is no longer an error (theory §2.5)
    with pytest.raises(ValueError, match="tol"):
        pair_kernel("tanh", tol=0.0)
    with pytest.raises(ValueError, match="sphere"):
        pair_kernel("erf", inputs="sphere", d=3)
