"""Initialisation laws per layer and explicit weights: moments of every law against its
definition (large samples, 5 standard errors), Haar orthonormal rows, the unchanged
default draws, explicit weights from arrays, .npz files and configs."""
import numpy as np
import pytest

import meanfield as mf
from meanfield.model.laws import input_weights

N = 20_000


@pytest.mark.parametrize("law,second_moment", [("gaussian", 1.0), ("xavier", 1.0 / 8)])
def test_gaussian_input_laws_have_the_stated_covariance(law, second_moment):
    """E a a^T = s^2 I (gaussian) or s^2 I/d (xavier, d = 8), s = tau_a = 0.5."""
    net = mf.Network.init(N, 8, input=law, tau={"a": 0.5}, seed=1)
    cov = net.a.T @ net.a / N
    target = 0.25 * second_moment
    assert np.abs(cov - target * np.eye(8)).max() < 5 * target * np.sqrt(2 / N)


def test_sphere_law_has_radius_tau_and_isotropic_directions():
    net = mf.Network.init(N, 5, input="sphere", tau={"a": 2.0}, seed=2)
    assert np.allclose(np.linalg.norm(net.a, axis=1), 2.0)
    # uniform on the sphere: E a a^T = r^2 I / d
    cov = net.a.T @ net.a / N
    assert np.abs(cov - 4.0 / 5 * np.eye(5)).max() < 5 * 4.0 / 5 * np.sqrt(2 / N)


def test_orthonormal_rows_are_orthonormal_and_haar_distributed():
    """Rows orthonormal to rounding; the first row's first coordinate has E x^2 = 1/d
    over many draws (Haar), not a fixed basis."""
    rng = np.random.default_rng(0)
    a = input_weights("orthonormal", 4, 6, rng)
    assert np.allclose(a @ a.T, np.eye(4), atol=1e-12)
    x = np.array([input_weights("orthonormal", 2, 6, rng)[0, 0] for _ in range(4000)])
    assert abs(np.mean(x**2) - 1 / 6) < 5 * np.std(x**2) / np.sqrt(4000)
    with pytest.raises(ValueError, match="n <= d"):
        input_weights("orthonormal", 7, 6, rng)


@pytest.mark.parametrize("law,values", [("ones", {1.5}), ("zeros", {0.0}),
                                        ("sign", {-1.5, 1.5})])
def test_output_laws_times_their_scale(law, values):
    net = mf.Network.init(50, 3, output=law, tau={"c": 1.5}, seed=3)
    assert set(net.c.ravel().tolist()) == values


def test_zero_biases_and_symmetric_xavier_init():
    net = mf.Network.init(6, 3, bias=True, bias_law="zeros", input="xavier",
                          symmetric=True, seed=4)
    assert not net.b.any()
    assert np.array_equal(net.a[:3], net.a[3:]) and np.array_equal(net.c[:3], -net.c[3:])
    assert np.allclose(net(np.random.default_rng(0).standard_normal((5, 3))), 0.0)


def test_bad_laws_are_value_errors_naming_them():
    with pytest.raises(ValueError, match="input law"):
        mf.Network.init(3, 2, input="cube")
    with pytest.raises(ValueError, match="output init"):
        mf.Network.init(3, 2, output="twos")
    with pytest.raises(ValueError, match="bias law"):
        mf.Network.init(3, 2, bias=True, bias_law="one")
    with pytest.raises(ValueError, match="sphere=True contradicts"):
        mf.Network.init(3, 2, sphere=True, input="xavier")


def test_explicit_weights_from_arrays_and_npz(tmp_path):
    """f of a network from arrays equals the formula; the .npz round trip is exact."""
    c, a, b = np.array([1.0, -2.0]), np.array([[1.0, 0.5], [0.0, 1.0]]), np.array([0.1, 0.0])
    net = mf.Network.from_arrays(c, a.tolist(), b, alpha="sum")
    X = np.random.default_rng(0).standard_normal((7, 2))
    assert np.allclose(net(X)[:, 0], np.maximum(X @ a.T + b, 0) @ c, rtol=1e-14)
    np.savez(tmp_path / "w.npz", c=c, a=a, b=b)
    again = mf.Network.from_npz(tmp_path / "w.npz", alpha="sum")
    assert np.array_equal(again.w, net.w)
    np.savez(tmp_path / "bad.npz", c=c)
    with pytest.raises(ValueError, match="no array 'a'"):
        mf.Network.from_npz(tmp_path / "bad.npz")
