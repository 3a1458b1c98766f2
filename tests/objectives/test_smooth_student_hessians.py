"""Exact Hessians of tanh, sigmoid, softplus and polynomial students (theory §12.1, §13.3):
the dense Hessian against central differences of the exact velocity, with a network
teacher of the same activation and with an index target, bias on and off; products
against the dense matrix; classify at a global minimum."""
import numpy as np
import pytest

import meanfield as mf

POLYNOMIAL = "hermite[0.1, 1.0, 0.5, -0.3]"
SMOOTH = ["tanh", "sigmoid", "softplus", POLYNOMIAL]
#: the population's quadrature accuracy: its velocity errors over the step EPS stay near
#: TOL/EPS = 1e-7 at worst, the step's own error is EPS^2 times third derivatives ~ 1e-10
TOL, EPS = 1e-12, 1e-5
#: every (activation, bias): each activation once with a bias and once without in the
#: default run of each test (the two tests alternate), the other half in the slow set
ALTERNATE = [(act, i % 2 == 1) for i, act in enumerate(SMOOTH)]


def _cases(flip):
    fast = [(act, bias != flip) for act, bias in ALTERNATE]
    slow = [pytest.param(act, bias == flip, marks=pytest.mark.slow) for act, bias in ALTERNATE]
    return fast + slow


def _jacobian(pop, net):
    """Minus the central differences of the velocity, column by column."""
    fd = np.zeros((net.w.size, net.w.size))
    for k in range(net.w.size):
        e = np.zeros(net.w.size)
        e[k] = EPS
        e = e.reshape(net.w.shape)
        fd[:, k] = -(pop.velocity(net.with_w(net.w + e))
                     - pop.velocity(net.with_w(net.w - e))).ravel() / (2 * EPS)
    return fd


def _rel(x, ref):
    return float(np.abs(x - ref).max() / np.abs(ref).max())


def _check_products(net, pop, H):
    assert np.abs(H - H.T).max() <= 1e-9 * np.abs(H).max()
    v = np.random.default_rng(5).standard_normal(net.w.shape)
    assert _rel(mf.hvp(net, pop, v).ravel(), H @ v.ravel()) <= 1e-12
    assert _rel(mf.hessian_operator(net, pop) @ v.ravel(), H @ v.ravel()) <= 1e-12


@pytest.mark.parametrize("act,bias", _cases(False))
def test_network_teacher_hessian_is_minus_velocity_jacobian(act, bias):
    teacher = mf.Network.init(2, 3, act, bias=bias, seed=1, tau=0.8)
    student = mf.Network.init(3, 3, act, bias=bias, seed=2, alpha=1.5, tau=0.8)
    pop = mf.GaussianPopulation(teacher, noise=0.1, backend="numpy", tol=TOL)
    H = mf.hessian(student, pop)
    assert _rel(H, _jacobian(pop, student)) <= 1e-6
    _check_products(student, pop, H)


@pytest.mark.parametrize("act,bias", _cases(True))
def test_index_target_hessian_is_minus_velocity_jacobian(act, bias):
    target = mf.IndexTarget.random(3, {(0, 2): 0.7, (1, 1): 1.0, (3, 0): -0.4}, r=2, seed=1)
    student = mf.Network.init(2, 3, act, bias=bias, seed=3, tau=0.8)
    pop = mf.GaussianPopulation(target, backend="numpy", tol=TOL)
    H = mf.hessian(student, pop)
    assert _rel(H, _jacobian(pop, student)) <= 1e-6
    _check_products(student, pop, H)


@pytest.mark.parametrize("act", ["sigmoid", POLYNOMIAL])
def test_centred_student_and_a_teacher_bias_it_lacks(act):
    """Reference particles are constant sources; a teacher with a bias the student lacks
    (the kernel has a bias, the Hessian covers the student's own parameters)."""
    teacher = mf.Network.init(2, 3, act, bias=True, seed=3)
    pop = mf.GaussianPopulation(teacher, backend="numpy", tol=TOL)
    centred = mf.Network.init(3, 3, act, bias=True, seed=4, alpha=4.0, centered=True, tau=0.7)
    moved = centred.with_w(centred.w + 0.1 * np.random.default_rng(0).standard_normal(
        centred.w.shape))
    for net in (moved, mf.Network.init(3, 3, act, seed=5)):
        assert _rel(mf.hessian(net, pop), _jacobian(pop, net)) <= 1e-6


@pytest.mark.parametrize("act", SMOOTH)
def test_student_equal_to_teacher_is_a_global_minimum(act):
    teacher = mf.Network.init(2, 3, act, bias=True, seed=1)
    pop = mf.GaussianPopulation(teacher, backend="numpy")
    cert = mf.classify(teacher, pop)
    assert cert["kind"] == "global minimum" and cert["n_negative"] == 0


def test_polynomial_student_refines_to_an_index_target():
    """Two He_2 neurons near y = He_2(u.x): refine reaches R = 0, classify calls it a
    global minimum without a negative eigenvalue."""
    target = mf.IndexTarget.random(4, {2: 1.0}, seed=0)
    pop = mf.GaussianPopulation(target, backend="numpy")
    net = mf.Network(np.ones(2), 0.9 * np.vstack([target.U.T] * 2) + 0.01,
                     activation="hermite[0.0, 0.0, 1.0]")
    refined, report = mf.refine(net, pop)
    assert report["success"] and report["risk_end"] <= 1e-13 * pop.risk(net)
    cert = mf.classify(refined, pop)
    assert cert["kind"] == "global minimum" and cert["n_negative"] == 0


def test_mixed_smooth_teacher_is_refused():
    teacher = mf.Network.init(2, 3, "sigmoid", seed=1)
    pop = mf.GaussianPopulation(teacher, backend="numpy")
    with pytest.raises(NotImplementedError, match="share their activation"):
        mf.hessian(mf.Network.init(2, 3, "tanh", seed=2), pop)
