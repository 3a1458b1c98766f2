"""The best risk of a student family on an index target against least squares on samples."""
import itertools

import numpy as np
import pytest

import meanfield as mf

TARGET = {(0, 0): 0.5, (1, 0): 1.0, (2, 0): 1.0, (1, 1): 2.0, (3, 0): 0.3, (0, 2): -0.4}


def sampled_fit(target, features, n=400_000, seed=0):
    """1/2 of the least-squares residual of y on the features, on n fresh samples (and its
    Monte Carlo standard error)."""
    X, y = target.sample(n, seed)
    Phi = features(X)
    coef = np.linalg.lstsq(Phi, y[:, 0], rcond=None)[0]
    residual = (y[:, 0] - Phi @ coef) ** 2
    return 0.5 * residual.mean(), 0.5 * residual.std() / np.sqrt(n)


def monomials(degrees):
    def features(X):
        d = X.shape[1]
        cols = [np.prod(X[:, list(idx)], axis=1) if idx else np.ones(len(X))
                for n in degrees for idx in itertools.combinations_with_replacement(range(d), n)]
        return np.stack(cols, axis=1)
    return features


@pytest.mark.parametrize("activation, bias, degrees", [
    ("linear", False, [1]), ("linear", True, [0, 1]),
    (mf.hermite_activation([1.0, 0.0, 1.0]), False, [2]),          # z^2: degree 2 only
    (mf.hermite_activation([0.0, 0.0, 1.0]), False, [0, 2]),        # z^2 - 1
    (mf.hermite_activation([0.0, 1.0, 0.0, 1.0]), False, [1, 3]),   # z^3 - 2z
    (mf.hermite_activation([0.0, 1.0, 1.0]), True, [0, 1, 2])])
def test_polynomial_families_match_sampled_least_squares(activation, bias, degrees):
    U = np.linalg.qr(np.random.default_rng(1).standard_normal((4, 2)))[0]
    target = mf.IndexTarget(U, TARGET, noise=0.2)
    exact = target.best_risk(activation, bias)
    fitted, se = sampled_fit(target, monomials(degrees))
    # the sample fit overfits by ~ (features/n) of the residual: a few standard errors cover it
    assert abs(fitted - exact) < 5 * se + 1e-4 * exact


@pytest.mark.parametrize("activation, keep", [
    ("tanh", "odd"), ("erf", "odd"), ("sigmoid", "odd+1"), ("softplus", "even+x")])
def test_bias_free_analytic_families_keep_a_parity(activation, keep):
    """Against the parity projection computed on samples: (y(x) -+ y(-x))/2."""
    target = mf.IndexTarget(np.eye(3)[:, :2], TARGET)
    X, y = target.sample(400_000, 2)
    odd = 0.5 * (y - target(-X))[:, 0]
    even = (y[:, 0] - odd)
    if keep == "odd":
        residual = even
    elif keep == "odd+1":
        residual = even - even.mean()
    else:   # even functions and the linear ones: the odd part minus its linear fit
        coef = np.linalg.lstsq(X, odd, rcond=None)[0]
        residual = odd - X @ coef
    sampled = 0.5 * np.mean(residual**2)
    se = 0.5 * np.std(residual**2) / np.sqrt(len(X))
    assert abs(sampled - target.best_risk(activation)) < 5 * se


def test_dense_with_a_bias_and_no_closed_value_for_bias_free_relu():
    target = mf.IndexTarget(np.eye(3)[:, :1], {3: 1.0}, noise=0.5)
    assert target.best_risk("relu", bias=True) == pytest.approx(0.125)
    assert target.best_risk("tanh", bias=True) == pytest.approx(0.125)
    assert target.best_risk("relu") is None
    assert mf.IndexTarget(np.eye(3)[:, :1], {2: 1.0}).best_risk("erf") == pytest.approx(1.0)
