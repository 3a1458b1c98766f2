"""The tangent model (meanfield.objectives.tangent): exact linear dynamics, lazy limit of the
network."""
import numpy as np
import pytest

from meanfield.dynamics.integrators import euler
from meanfield.model.network import Network
from meanfield.analysis.ntk import kernel_predictor, tangent_kernel
from meanfield.objectives.teacher_student import Empirical
from meanfield.dynamics.trajectory import LinearSchedule, simulate
from meanfield.objectives.tangent import Tangent
from meanfield.analysis import diagnostics as dg


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((10, 3))
    return X, np.sin(X[:, 0])


def _train(net, objective, dt, t_end, n=3):
    return simulate(net, objective, euler(dt), t_end, record=LinearSchedule(n))


def test_tangent_euler_is_exact_discrete_kernel_dynamics(data):
    """Euler on the tangent model is Euler on g: f_N = f0 + K K^+ (I - (I - dt K/n)^N) r."""
    X, y = data
    net0 = Network.init(20, 3, seed=1, alpha=2.0, bias=True)
    tangent = Tangent(Empirical(X, y, backend="numpy"), net0)
    dt, steps = 0.01, 50
    final = _train(net0, tangent, dt, dt * steps).final
    K, f0 = tangent_kernel(net0, X), net0(X)
    n = len(X)
    step = np.linalg.matrix_power(np.eye(n) - dt * K / n, steps)
    expected = f0 + (np.eye(n) - step) @ (y[:, None] - f0)
    np.testing.assert_allclose(tangent.outputs(final), expected, atol=1e-10)


def test_tangent_gd_equals_finite_time_kernel_predictor(data):
    """Tangent GD -> the kernel predictor at time t (theory §3): first order in dt, and
    the Richardson combination 2 f(dt/2) - f(dt) agrees to 1e-6."""
    X, y = data
    net0 = Network.init(20, 3, seed=1, alpha=2.0, bias=True)
    tangent = Tangent(Empirical(X, y, backend="numpy"), net0)
    X_test = np.random.default_rng(5).standard_normal((7, 3))
    K, K_test = tangent_kernel(net0, X), tangent_kernel(net0, X_test, X)
    exact = kernel_predictor(K, K_test, y, t=1.0, f0_train=net0(X), f0_test=net0(X_test))
    coarse, fine = (tangent.outputs(_train(net0, tangent, dt, 1.0).final, X_test)
                    for dt in (2e-3, 1e-3))
    err_coarse, err_fine = np.abs(coarse - exact).max(), np.abs(fine - exact).max()
    assert 1.8 < err_coarse / err_fine < 2.2
    assert np.abs(2 * fine - coarse - exact).max() < 1e-6


def test_network_approaches_tangent_like_one_over_alpha(data):
    """Centred alpha-scaled training stays O(1/alpha) from the tangent model (theory §1);
    relative displacement is O(1/alpha) as well."""
    X, y = data
    obj = Empirical(X, y, backend="numpy")
    alphas = np.array([10.0, 30.0, 100.0])
    dist, disp = [], []
    for alpha in alphas:
        net0 = Network.init(20, 3, seed=1, alpha=alpha, centered=True)
        tangent = Tangent(obj, net0)
        a, b = _train(net0, obj, 0.01, 2.0), _train(net0, tangent, 0.01, 2.0)
        diag = dg.diagnose(a.snapshots, net0, X, tangent, b.snapshots)
        dist.append(diag["tangent_distance"][-1])
        disp.append(diag["displacement"][-1])
    slope = np.polyfit(np.log(alphas), np.log(dist), 1)[0]
    assert -1.1 < slope < -0.9
    assert -1.05 < np.polyfit(np.log(alphas), np.log(disp), 1)[0] < -0.95


def test_tangent_checks_its_inputs(data):
    X, y = data
    with pytest.raises(TypeError):
        Tangent(object(), Network.init(4, 3))
    with pytest.raises(ValueError):
        Tangent(Empirical(X, y, backend="numpy"), Network.init(4, 5))
