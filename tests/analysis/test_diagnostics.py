"""Laziness diagnostics (meanfield.analysis.diagnostics)."""
import numpy as np
import pytest

from meanfield.analysis import diagnostics as dg
from meanfield.dynamics.integrators import euler
from meanfield.model.network import Network
from meanfield.analysis.ntk import tangent_kernel
from meanfield.objectives.teacher_student import Empirical
from meanfield.dynamics.trajectory import LinearSchedule, simulate


@pytest.fixture
def run():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 3))
    y = np.sign(X[:, 0]) * 2.0
    net0 = Network.init(16, 3, seed=2, alpha=1.0, centered=True, bias=True)
    traj = simulate(net0, Empirical(X, y, backend="numpy"), euler(0.05), 5.0,
                    record=LinearSchedule(6))
    return X, y, net0, traj


def test_diagnostics_start_at_identity_and_then_move(run):
    X, _, net0, traj = run
    diag = dg.diagnose(traj.snapshots, net0, X)
    assert diag["displacement"][0] == 0.0
    assert diag["kernel_change"][0] == 0.0
    assert diag["activation_stability"][0] == 1.0
    assert diag["kernel_change"][-1] > 0.05
    assert np.all(np.diff(diag["displacement"]) > 0)
    assert diag["kernel_change"][-1] > diag["kernel_change"][1]
    assert diag["activation_stability"][-1] < 1.0


def test_kernel_change_and_stability_by_hand(run):
    X, _, net0, traj = run
    net = traj.final
    K0, K1 = tangent_kernel(net0, X), tangent_kernel(net, X)
    assert dg.kernel_change(net, net0, X) == pytest.approx(
        np.linalg.norm(K1 - K0) / np.linalg.norm(K0))
    z0 = X @ net0.a.T + net0.b
    z1 = X @ net.a.T + net.b
    assert dg.activation_stability(net, net0, X) == pytest.approx(np.mean((z0 > 0) == (z1 > 0)))


def test_kappa_matches_brute_force_and_scales_like_one_over_alpha(run):
    X, y, _, _ = run
    nets = [Network.init(6, 3, seed=4, alpha=a, centered=True) for a in (1.0, 10.0)]
    kappas = [dg.laziness_kappa(net, X, y) for net in nets]
    assert kappas[1] == pytest.approx(kappas[0] / 10, rel=1e-6)
    net = nets[0]
    n = len(X)
    first = np.linalg.eigvalsh(tangent_kernel(net, X) / n)[-1]
    second = max(np.sqrt(np.linalg.eigvalsh((X * (X @ a > 0)[:, None]).T @ X / n)[-1])
                 for a in net.a)
    residual = np.sqrt(np.mean(y ** 2))
    assert kappas[0] == pytest.approx(residual * second / first, rel=1e-5)


def test_kappa_rejects_curved_activations(run):
    X, y, _, _ = run
    with pytest.raises(ValueError):
        dg.laziness_kappa(Network.init(4, 3, activation="erf"), X, y)
