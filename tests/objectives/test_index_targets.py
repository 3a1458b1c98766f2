"""Index targets as teachers (theory §13): the exact population risk against Monte Carlo,
velocities against finite differences of the risk, Hessians against finite differences of
the velocity, targets equal to a network against the network-teacher path, frozen groups,
online and sampled objectives, ensembles."""
import math

import numpy as np
import pytest

import meanfield as mf

POLYNOMIAL = "hermite[0.1, 1.0, 0.5, -0.3]"   # a polynomial student by Hermite coefficients
ACTIVATIONS = ["relu", "erf", "linear", "tanh", "sigmoid", "softplus", POLYNOMIAL]
HESSIAN_ACTIVATIONS = ["relu", "erf", "linear"]   # closed forms; see test_smooth_student_hessians


#: smooth students whose own pair kernel is a quadrature: finite differences on fewer neurons
QUADRATURE = ("tanh", "sigmoid", "softplus")


def _target(d=5, noise=0.0):
    """Two directions, degrees 0 to 3, mixed terms."""
    return mf.IndexTarget.random(d, {(0, 0): 0.2, (2, 0): 0.7, (1, 1): 1.0, (0, 3): -0.4},
                                 r=2, seed=1, noise=noise)


def _student(act, bias, m=4, d=5, seed=3, **kw):
    return mf.Network.init(m, d, act, bias=bias, seed=seed, **kw)


def _fd_velocity(pop, net, eps=1e-6):
    grad = np.zeros_like(net.w)
    for idx in np.ndindex(*net.w.shape):
        wp, wm = net.w.copy(), net.w.copy()
        wp[idx] += eps
        wm[idx] -= eps
        grad[idx] = (pop.risk(net.with_w(wp)) - pop.risk(net.with_w(wm))) / (2 * eps)
    return -net.m * grad / net.alpha**2


def _rel(x, ref):
    return float(np.abs(x - ref).max() / np.abs(ref).max())


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("bias", [False, True])
def test_risk_matches_monte_carlo(act, bias):
    pop = mf.GaussianPopulation(_target(noise=0.3), backend="numpy")
    net = _student(act, bias, alpha=1.5)
    X, y = pop.sample(400_000, 0)
    loss = 0.5 * (net(X) - y) ** 2
    assert abs(pop.risk(net) - loss.mean()) <= 4 * loss.std() / math.sqrt(len(loss))


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("bias", [False, True])
def test_velocity_is_minus_gradient_of_the_risk(act, bias):
    pop = mf.GaussianPopulation(_target(), backend="numpy")
    net = _student(act, bias, m=2 if act in QUADRATURE else 4, alpha=1.7)
    assert _rel(pop.velocity(net), _fd_velocity(pop, net)) <= 1e-6


@pytest.mark.parametrize("act", ["relu", "erf"])
def test_centred_and_float32(act):
    pop = mf.GaussianPopulation(_target(), backend="numpy")
    start = _student(act, True, alpha=4.0, centered=True)
    moved = start.with_w(start.w + 0.1 * np.random.default_rng(0).standard_normal(start.w.shape))
    assert _rel(pop.velocity(moved), _fd_velocity(pop, moved)) <= 1e-6
    zero = mf.Network(np.zeros(1), np.zeros((1, 5)), np.zeros(1), act)
    assert pop.risk(start) == pytest.approx(pop.risk(zero), rel=1e-12)
    single = moved.with_w(moved.w.astype(np.float32))
    v32 = pop.velocity(single)
    assert v32.dtype == np.float32
    assert _rel(v32, pop.velocity(single.with_w(single.w.astype(np.float64)))) <= 1e-5


@pytest.mark.parametrize("act", ["relu", "erf", POLYNOMIAL])
def test_fast_backends_agree_with_the_reference(act):
    net = _student(act, True, m=20, alpha=2.0)
    reference = mf.GaussianPopulation(_target(), backend="numpy")
    fast = mf.GaussianPopulation(_target(), backend="numba")
    assert fast.risk(net) == pytest.approx(reference.risk(net), rel=1e-10)
    assert _rel(fast.velocity(net), reference.velocity(net)) <= 1e-10
    single = net.with_w(net.w.astype(np.float32))
    assert _rel(fast.velocity(single), reference.velocity(net)) <= 1e-5


def test_velocity_at_the_particles_is_the_velocity():
    pop = mf.GaussianPopulation(_target(), backend="numpy")
    net = _student("erf", True)
    assert np.allclose(pop.velocity_at(net, net.w), pop.velocity(net), rtol=0, atol=1e-14)


@pytest.mark.parametrize("act", HESSIAN_ACTIVATIONS)
@pytest.mark.parametrize("bias", [False, True])
def test_hessian_is_minus_jacobian_of_the_velocity(act, bias):
    pop = mf.GaussianPopulation(_target(), backend="numpy")
    net = _student(act, bias, m=3)
    H = mf.hessian(net, pop)
    eps, fd = 1e-6, np.zeros_like(H)
    for k in range(net.w.size):
        e = np.zeros(net.w.size)
        e[k] = eps
        e = e.reshape(net.w.shape)
        fd[:, k] = -(pop.velocity(net.with_w(net.w + e))
                     - pop.velocity(net.with_w(net.w - e))).ravel() / (2 * eps)
    assert _rel(H, fd) <= 1e-6
    v = np.random.default_rng(1).standard_normal(net.w.shape)
    assert np.allclose(mf.hvp(net, pop, v).ravel(), H @ v.ravel(), rtol=1e-10, atol=1e-12)
    assert np.allclose(mf.hvp(net, pop, v, backend="numba").ravel(), H @ v.ravel(),
                       rtol=1e-10, atol=1e-12)


def test_he1_target_is_the_linear_teacher():
    """y = He_1(u.x) = u.x is the linear network teacher with one neuron c = 1, a = u."""
    target = mf.IndexTarget.random(5, {1: 1.0}, seed=4)
    teacher = mf.Network(np.ones(1), target.U.T, activation="linear")
    by_index = mf.GaussianPopulation(target, backend="numpy")
    by_network = mf.GaussianPopulation(teacher, backend="numpy")
    for act in ("relu", "erf", "tanh"):
        net = _student(act, True)
        tol = 1e-12 if act != "tanh" else 1e-9   # tanh-linear pairs: quadrature to 1e-10
        assert by_index.risk(net) == pytest.approx(by_network.risk(net), rel=tol)
        assert np.allclose(by_index.velocity(net), by_network.velocity(net), rtol=0,
                           atol=tol)
    net = _student("linear", True)   # exact Hessians of a network teacher: same activation
    assert np.allclose(mf.hessian(net, by_index), mf.hessian(net, by_network), atol=1e-12)


def _relu_hermite(n: int) -> float:
    """relu(z) = sum_n c_n He_n(z): c_0 = 1/sqrt(2 pi), c_1 = 1/2, c_n = 0 for odd n >= 3 and
    c_{2k} = (-1)^(k+1) (2k-3)!! / (sqrt(2 pi) (2k)!) for k >= 1 (exact; theory §13.4)."""
    if n == 0:
        return 1 / math.sqrt(2 * math.pi)
    if n == 1:
        return 0.5
    if n % 2:
        return 0.0
    k = n // 2
    double = math.prod(range(2 * k - 3, 0, -2))
    return (-1) ** (k + 1) * double / (math.sqrt(2 * math.pi) * math.factorial(2 * k))


@pytest.mark.parametrize("act", ["relu", "erf"])
def test_truncated_relu_expansion_approaches_the_relu_teacher(act):
    """The relu teacher neuron relu(u.x) against its Hermite expansion to degree 12: the
    risks differ by at most |f - y_12| |e| + |e|^2/2, e the tail (E[e^2] = 1/2 - sum c_n^2 n!)."""
    u = np.linalg.qr(np.random.default_rng(5).standard_normal((4, 1)))[0]
    coefs = {n: _relu_hermite(n) for n in range(13)}
    target = mf.IndexTarget(u, coefs)
    tail = math.sqrt(0.5 - sum(c * c * math.factorial(n) for n, c in coefs.items()))
    assert 0 < tail < 0.05                            # |e| ~ 0.03: the tail decays slowly
    teacher = mf.Network(np.ones(1), u.T, activation="relu")
    net = _student(act, False, d=4)
    truncated = mf.GaussianPopulation(target, backend="numpy").risk(net)
    exact = mf.GaussianPopulation(teacher, backend="numpy").risk(net)
    bound = math.sqrt(2 * truncated) * tail + 0.5 * tail**2
    assert abs(truncated - exact) <= bound
    assert abs(truncated - exact) > 1e-8 * exact      # the test can fail: they differ


def test_frozen_output_weights_with_an_index_target():
    pop = mf.GaussianPopulation(_target(), backend="numpy")
    net = _student("relu", True, m=6)
    traj = mf.simulate(net, pop, mf.integrators.euler(0.05), 1.0, record=mf.LogSchedule(4),
                       frozen=("c",))
    final = traj.final.w
    assert np.array_equal(final[:, 0], net.w[:, 0])
    assert not np.array_equal(final[:, 1:], net.w[:, 1:])
    assert traj.risk[-1] < traj.risk[0]
    H = mf.hessian(net, pop, frozen=("c",))
    full = mf.hessian(net, pop)
    free = [i for i in range(net.w.size) if i % net.w.shape[1] != 0]
    assert np.array_equal(H, full[np.ix_(free, free)])


def test_online_and_sampled_objectives_draw_from_the_target():
    target = _target(noise=0.5)
    net = _student("erf", False)
    online = mf.Online(target, batch=2000, seed=0, backend="numpy")
    assert online.risk(net) == mf.GaussianPopulation(target, backend="numpy").risk(net)
    rng = np.random.default_rng(2)
    draws = np.stack([online.velocity(net, rng) for _ in range(200)])
    mean, err = draws.mean(0), draws.std(0) / math.sqrt(len(draws))
    assert np.all(np.abs(mean - online.population.velocity(net)) <= 4.5 * err + 1e-12)
    X, y = online.population.sample(50, 3)
    assert np.allclose(X, np.random.default_rng(3).standard_normal((50, 5)))
    assert mf.Empirical(X, y, backend="numpy").risk(net) > 0


@pytest.mark.parametrize("kind", ["population", "online"])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_ensembles_are_stacked_and_equal_serial_runs(kind, backend):
    """Members with different targets (and alphas) as one stack, bit for bit their serial
    runs; a member with a network teacher cannot join them (each then runs alone)."""
    targets = [_target(), mf.IndexTarget.random(5, {3: 1.0}, seed=8)]
    make = (lambda t: mf.GaussianPopulation(t, backend=backend)) if kind == "population" \
        else (lambda t: mf.Online(t, batch=32, seed=0, backend=backend))
    objectives = [make(t) for t in targets]
    nets = [_student("erf", True, seed=s, alpha=1.0 + s) for s in (1, 2)]
    assert objectives[0].ensemble(nets, objectives) is not None
    teacher = mf.Network.init(2, 5, "erf", seed=9)
    assert objectives[0].ensemble(nets, [objectives[0], make(teacher)]) is None
    integ = mf.integrators.euler(0.05)
    many = mf.simulate_many(nets, objectives, integ, 0.5, record=mf.LogSchedule(3),
                            seeds=[4, 5])
    for net, seed, target, traj in zip(nets, [4, 5], targets, many, strict=True):
        single = mf.simulate(net, make(target), integ, 0.5, record=mf.LogSchedule(3),
                             seed=seed)
        assert np.array_equal(traj.final.w, single.final.w)
        assert np.array_equal(traj.risk, single.risk)


def test_bad_teachers_and_students():
    with pytest.raises(ValueError, match="inputs"):
        mf.GaussianPopulation(_target(), inputs="sphere")
    with pytest.raises(ValueError, match="teacher"):
        mf.GaussianPopulation(_target(), backend="numpy").risk(_student("relu", False, d=6))
    with pytest.raises(TypeError, match="IndexTarget"):
        mf.GaussianPopulation("He3")


def test_refine_and_classify_find_the_global_minimum_of_an_index_target():
    """Two linear neurons near y = He_1(u.x): refine reaches R = 0 and classify calls it a
    global minimum with exactly the zero modes of its symmetries."""
    target = mf.IndexTarget.random(4, {1: 1.0}, seed=0)
    pop = mf.GaussianPopulation(target, backend="numpy")
    net = mf.Network(np.ones(2), 0.9 * np.vstack([target.U.T] * 2) + 0.01, activation="linear")
    refined, report = mf.refine(net, pop)
    assert report["success"] and report["risk_end"] <= 1e-13 * pop.risk(net.with_w(0 * net.w))
    cert = mf.classify(refined, pop)
    assert cert["kind"] == "global minimum"
    assert cert["n_zero"] == cert["expected_zero_modes"]
