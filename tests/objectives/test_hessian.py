"""Exact Hessians: pair-kernel second derivatives, objective Hessians against finite
differences of the velocity, Hessian-vector products (theory §12)."""
import numpy as np
import pytest

import meanfield as mf
from meanfield.kernels.gaussian import pair_kernel
from meanfield.objectives.hessian import DENSE_MAX, hessian, hessian_operator, hvp
from meanfield.kernels.hessians import pair_hessians


def velocity_jacobian(objective, net, eps=1e-6):
    """Central differences of the velocity: column j is (v(w + eps e_j) - v(w - eps e_j))/(2
    eps)."""
    w = net.w.astype(np.float64).ravel()
    cols = []
    for j in range(w.size):
        wp, wm = w.copy(), w.copy()
        wp[j] += eps
        wm[j] -= eps
        vp = objective.velocity(net.with_w(wp.reshape(net.w.shape)))
        vm = objective.velocity(net.with_w(wm.reshape(net.w.shape)))
        cols.append((vp - vm).ravel() / (2 * eps))
    return np.array(cols).T


def relative_error(x, ref, scale=None):
    scale = np.abs(ref).max() if scale is None else scale
    return np.abs(x - ref).max() / scale


def kernel_gradient(kernel, a1, b1, a2, b2):
    """(grad_a K, dK/db) at one pair, from the first-order kernel."""
    K, P, Q, D = kernel(np.array(a1 @ a1), np.array(a2 @ a2), np.array(a1 @ a2),
                        None if b1 is None else np.array(b1), None if b2 is None else np.array(b2))
    grad = P * a1 + Q * a2
    return grad if b1 is None else np.append(grad, D)


def _split(x, d, bias):
    return x[:d], (x[d] if bias else None)


@pytest.mark.parametrize("act", ["relu", "erf", "linear"])
@pytest.mark.parametrize("bias", [False, True])
def test_pair_hessians_are_derivatives_of_the_kernel_gradient(act, bias):
    """d11 K and d12 K against central differences of grad_1 K in each argument, at
    random pairs (generic angles), and d11 K + d12 K on the diagonal against the
    derivative of w -> grad_1 K(w, w) (the self pair)."""
    kernel = pair_kernel(act, bias=bias)
    rng = np.random.default_rng(0)
    d, eps = 4, 1e-6
    e = d + bias
    for _ in range(5):
        x1, x2 = rng.standard_normal(e), rng.standard_normal(e)
        H11, H12 = pair_hessians(kernel, x1[None, :d], x2[None, :d],
                                 x1[None, d] if bias else None, x2[None, d] if bias else None)
        fd11, fd12, fds = (np.zeros((e, e)) for _ in range(3))
        for j in range(e):
            step = eps * np.eye(e)[j]

            def g(y1, y2):
                return kernel_gradient(kernel, *_split(y1, d, bias), *_split(y2, d, bias))

            fd11[:, j] = (g(x1 + step, x2) - g(x1 - step, x2)) / (2 * eps)
            fd12[:, j] = (g(x1, x2 + step) - g(x1, x2 - step)) / (2 * eps)
            fds[:, j] = (g(x1 + step, x1 + step) - g(x1 - step, x1 - step)) / (2 * eps)
        scale = max(np.abs(fd11).max(), np.abs(fd12).max())
        assert relative_error(H11[0], fd11, scale) <= 1e-7
        assert relative_error(H12[0], fd12, scale) <= 1e-7
        S11, S12 = pair_hessians(kernel, x1[None, :d], x1[None, :d],
                                 x1[None, d] if bias else None, x1[None, d] if bias else None)
        assert relative_error(S11[0] + S12[0], fds) <= 1e-7


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("ratio", [1.0, 1.7, -0.8])
def test_relu_kernel_hessian_is_continuous_at_parallel_neurons(bias, ratio):
    """The relu kernel is C^2 where two neurons become parallel (K - a.a'/2 = O(theta^3)
    without bias), although F22 = E[delta(u) delta(v)] diverges like 1/sin(theta): the
    returned second derivatives converge to their value at theta = 0 (or pi for a
    negative ratio, where they vanish) linearly in theta."""
    kernel = pair_kernel("relu", bias=bias)
    rng = np.random.default_rng(1)
    a = rng.standard_normal(4)
    b = np.array([0.4]) if bias else None
    u = rng.standard_normal(4)
    u -= (u @ a) / (a @ a) * a
    u *= np.linalg.norm(a) / np.linalg.norm(u)

    def at(theta):
        a2 = ratio * (np.cos(theta) * a + np.sin(theta) * u)
        b2 = np.array([ratio * 0.4 + 0.3 * theta]) if bias else None
        H11, H12 = pair_hessians(kernel, a[None], a2[None], b, b2)
        return np.concatenate([H11.ravel(), H12.ravel()])

    limit = at(0.0)
    assert np.all(np.isfinite(limit))
    errors = [np.abs(at(theta) - limit).max() for theta in (1e-3, 1e-5, 1e-7)]
    assert 30 < errors[0] / errors[1] < 1000 and 30 < errors[1] / errors[2] < 1000
    assert errors[2] < 1e-6 * max(1.0, np.abs(limit).max())


@pytest.mark.parametrize("act", ["relu", "erf", "linear"])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("k", [1, 3])
def test_population_hessian_is_minus_velocity_jacobian(act, bias, k):
    """H = m grad^2 (R/alpha^2) is minus the Jacobian of the exact population velocity,
    self pairs and teacher noise included; it is symmetric without symmetrisation and
    H v equals the dense product."""
    teacher = mf.Network.init(3, 4, act, k=k, bias=bias, seed=1, tau=0.8)
    student = mf.Network.init(5, 4, act, k=k, bias=bias, seed=2, alpha=1.7, tau=0.8)
    pop = mf.GaussianPopulation(teacher, noise=0.1, backend="numpy")
    H = hessian(student, pop)
    assert H.shape == (student.w.size, student.w.size)
    assert relative_error(H, -velocity_jacobian(pop, student)) <= 1e-6
    assert np.abs(H - H.T).max() <= 1e-14 * np.abs(H).max()
    v = np.random.default_rng(3).standard_normal(student.w.shape)
    Hv = hvp(student, pop, v, backend="numpy")
    assert Hv.shape == v.shape
    assert relative_error(Hv.ravel(), H @ v.ravel()) <= 1e-12
    assert relative_error(hvp(student, pop, v.ravel(), backend="numpy"), H @ v.ravel()) <= 1e-12


@pytest.mark.parametrize("act", ["relu", "erf"])
def test_hessian_with_centring_and_mixed_bias(act):
    """Centred students (reference particles are constant sources) and a teacher with a
    bias the student lacks (the Hessian covers the student's own parameters only)."""
    teacher = mf.Network.init(2, 3, act, bias=True, seed=3)
    pop = mf.GaussianPopulation(teacher, backend="numpy")
    start = mf.Network.init(4, 3, act, bias=True, seed=4, alpha=5.0, centered=True, tau=0.7)
    moved = start.with_w(start.w + 0.1 * np.random.default_rng(0).standard_normal(start.w.shape))
    no_bias = mf.Network.init(4, 3, act, seed=5)
    for net in (moved, no_bias):
        assert relative_error(hessian(net, pop), -velocity_jacobian(pop, net)) <= 1e-6


def test_sphere_inputs_and_online_objective():
    """Sphere inputs scale the kernel by 1/d; an Online objective uses its population."""
    teacher = mf.Network.init(2, 5, "relu", seed=3)
    student = mf.Network.init(4, 5, "relu", seed=6)
    sphere = mf.GaussianPopulation(teacher, inputs="sphere", backend="numpy")
    assert relative_error(hessian(student, sphere), -velocity_jacobian(sphere, student)) <= 1e-6
    online = mf.Online(teacher, batch=10, seed=0, backend="numpy")
    gauss = mf.GaussianPopulation(teacher, backend="numpy")
    np.testing.assert_array_equal(hessian(student, online), hessian(student, gauss))


@pytest.mark.parametrize("loss", ["square", "logistic", "hinge", "softhinge"])
@pytest.mark.parametrize("act", ["relu", "erf", "linear"])
@pytest.mark.parametrize("bias", [False, True])
def test_empirical_hessian_is_minus_velocity_jacobian(loss, act, bias):
    """Gauss-Newton term plus l' times the per-neuron sigma'' blocks, against central
    differences of the empirical velocity (relu and hinge: second derivatives almost
    everywhere, the differences do not cross a kink at these points)."""
    rng = np.random.default_rng(10)
    X = rng.standard_normal((40, 3))
    k = 3 if loss == "square" else 1
    y = rng.standard_normal((40, k)) if loss == "square" else np.sign(rng.standard_normal(40))
    net = mf.Network.init(6, 3, act, k=k, bias=bias, seed=11, alpha=3.0, centered=True)
    net = net.with_w(net.w + 0.1 * rng.standard_normal(net.w.shape))
    emp = mf.Empirical(X, y, loss=loss, backend="numpy")
    H = hessian(net, emp)
    assert relative_error(H, -velocity_jacobian(emp, net)) <= 1e-6
    assert np.abs(H - H.T).max() <= 1e-14 * np.abs(H).max()
    v = rng.standard_normal(net.w.shape)
    assert relative_error(hvp(net, emp, v).ravel(), H @ v.ravel()) <= 1e-12


@pytest.mark.parametrize("act", ["relu", "erf"])
@pytest.mark.parametrize("k", [1, 3])
def test_numba_hvp_matches_numpy(act, k):
    """The fused Numba product equals the NumPy reference, with a centring reference,
    teacher noise and an exactly duplicated neuron (a parallel pair)."""
    teacher = mf.Network.init(4, 6, act, k=k, seed=1)
    student = mf.Network.init(12, 6, act, k=k, seed=2, alpha=1.3, centered=True)
    w = student.w + 0.05 * np.random.default_rng(3).standard_normal(student.w.shape)
    w[3] = w[2]
    student = student.with_w(w)
    pop = mf.GaussianPopulation(teacher, noise=0.1, backend="numba")
    v = np.random.default_rng(0).standard_normal(student.w.shape)
    ref = hvp(student, pop, v, backend="numpy")
    assert relative_error(hvp(student, pop, v, backend="numba"), ref) <= 1e-10
    assert relative_error(hvp(student, pop, v), ref) <= 1e-10  # follows the objective
    op = hessian_operator(student, pop)
    assert relative_error(op.matvec(v.ravel()), ref.ravel()) <= 1e-10


def test_dense_hessian_refuses_large_problems(monkeypatch):
    import meanfield.objectives.hessian as hessian_module

    teacher = mf.Network.init(2, 3, "erf", seed=1)
    pop = mf.GaussianPopulation(teacher, backend="numpy")
    assert DENSE_MAX == 20_000
    with pytest.raises(NotImplementedError, match="activation"):
        hessian(mf.Network.init(2, 3, "relu", seed=1), pop)
    monkeypatch.setattr(hessian_module, "DENSE_MAX", 5)
    with pytest.raises(ValueError, match="hvp"):
        hessian_module.hessian(teacher, pop)
