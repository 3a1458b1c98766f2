"""Objectives: velocities against finite differences and Monte Carlo (theory §1-2)."""
import numpy as np
import pytest

import meanfield as mf

ACTIVATIONS = ["relu", "erf", "linear", "sigmoid", "tanh", "softplus"]


def finite_difference_velocity(objective, net, eps=1e-5):
    """-m/alpha^2 times the central-difference gradient of the risk."""
    w = net.w
    grad = np.zeros_like(w)
    for idx in np.ndindex(*w.shape):
        wp, wm = w.copy(), w.copy()
        wp[idx] += eps
        wm[idx] -= eps
        grad[idx] = (objective.risk(net.with_w(wp)) - objective.risk(net.with_w(wm))) / (2 * eps)
    return -net.m * grad / net.alpha**2


def _relative_error(v, ref):
    return np.abs(v - ref).max() / np.abs(ref).max()


#: activations without a closed-form pair kernel (quadrature): their finite differences
#: cost seconds, so with k = 3 they run with the slow checks (k = 1 runs by default)
QUADRATURE = ("sigmoid", "tanh", "softplus")


@pytest.mark.parametrize("act,bias,k", [
    pytest.param(act, bias, k, marks=[pytest.mark.slow] if k == 3 and act in QUADRATURE else [])
    for k in (1, 3) for bias in (False, True) for act in ACTIVATIONS])
def test_population_velocity_is_minus_gradient(act, bias, k):
    teacher = mf.Network.init(3, 4, act, k=k, bias=bias, seed=1, tau=0.8)
    student = mf.Network.init(5, 4, act, k=k, bias=bias, seed=2, alpha=1.7, tau=0.8)
    pop = mf.GaussianPopulation(teacher, noise=0.1, backend="numpy")
    v = pop.velocity(student)
    assert v.shape == student.w.shape
    assert _relative_error(v, finite_difference_velocity(pop, student)) <= 1e-6


@pytest.mark.parametrize("act", ["relu", "erf", "tanh"])
def test_centred_population_velocity_is_minus_gradient(act):
    teacher = mf.Network.init(2, 3, act, bias=True, seed=3)
    start = mf.Network.init(4, 3, act, bias=True, seed=4, alpha=5.0, centered=True, tau=0.7)
    moved = start.with_w(start.w + 0.1 * np.random.default_rng(0).standard_normal(start.w.shape))
    pop = mf.GaussianPopulation(teacher, backend="numpy")
    assert pop.risk(start) == pytest.approx(pop.risk(mf.Network(np.zeros(1), np.zeros((1, 3)),
                                                                np.zeros(1), act)))
    v = pop.velocity(moved)
    assert _relative_error(v, finite_difference_velocity(pop, moved)) <= 1e-6


def test_student_and_teacher_may_differ_in_bias_and_activation():
    teacher = mf.Network.init(3, 4, "tanh", bias=True, seed=5)
    student = mf.Network.init(6, 4, "erf", bias=False, seed=6, tau=0.7)
    pop = mf.GaussianPopulation(teacher, backend="numpy")
    v = pop.velocity(student)
    assert v.shape == student.w.shape
    assert _relative_error(v, finite_difference_velocity(pop, student)) <= 1e-6
    X, y = pop.sample(400_000, 1)
    mc = 0.5 * np.mean(np.sum((student(X) - y) ** 2, axis=1))
    assert pop.risk(student) == pytest.approx(mc, rel=5e-3)


def test_risk_keeps_the_teacher_term_only_while_the_teacher_is_unchanged():
    """With two activations the risk reduces the cross term once and keeps the teacher's
    own term; it equals a fresh population's risk after the teacher's weights change in
    place, and the Monte Carlo risk of the changed pair."""
    teacher = mf.Network.init(3, 4, "tanh", bias=True, seed=5)
    student = mf.Network.init(6, 4, "erf", bias=False, seed=6, tau=0.7)
    pop = mf.GaussianPopulation(teacher, backend="numpy")
    before = pop.risk(student)
    teacher.w[:, 1] *= -2.0
    after = pop.risk(student)
    assert after == pytest.approx(mf.GaussianPopulation(teacher, backend="numpy")
                                  .risk(student), rel=1e-12)
    assert abs(after - before) > 0.1 * before
    X, y = pop.sample(200_000, 2)
    losses = 0.5 * np.sum((student(X) - y) ** 2, axis=1)
    assert abs(after - losses.mean()) <= 4 * losses.std() / np.sqrt(len(losses))


@pytest.mark.parametrize("act,bias", [("relu", False), ("relu", True), ("erf", True), ("sigmoid",
                                                                                       True)])
def test_population_matches_large_empirical_sample(act, bias):
    """The exact population velocity equals the empirical one up to Monte Carlo error,
    measured from 50 independent batches (4 standard errors)."""
    teacher = mf.Network.init(3, 5, act, bias=bias, seed=7)
    student = mf.Network.init(8, 5, act, bias=bias, seed=8, alpha=2.0)
    pop = mf.GaussianPopulation(teacher, noise=0.3, backend="numpy")
    rng = np.random.default_rng(9)
    batches = []
    for _ in range(50):
        X, y = pop.sample(20_000, rng)
        batches.append(mf.Empirical(X, y, backend="numpy").velocity(student))
    batches = np.array(batches)
    mean, se = batches.mean(axis=0), batches.std(axis=0, ddof=1) / np.sqrt(len(batches))
    assert np.all(np.abs(pop.velocity(student) - mean) <= 4 * se + 1e-12)
    X, y = pop.sample(1_000_000, rng)
    losses = 0.5 * np.sum((student(X) - y) ** 2, axis=1)
    assert abs(pop.risk(student) - losses.mean()) <= 4 * losses.std() / np.sqrt(len(losses))


@pytest.mark.parametrize("loss", ["square", "logistic", "hinge", "softhinge"])
@pytest.mark.parametrize("bias", [False, True])
def test_empirical_velocity_is_minus_gradient(loss, bias):
    rng = np.random.default_rng(10)
    X = rng.standard_normal((40, 3))
    y = np.sign(rng.standard_normal(40)) if loss != "square" else rng.standard_normal((40, 2))
    k = 1 if loss != "square" else 2
    net = mf.Network.init(6, 3, "tanh" if loss == "hinge" else "relu", k=k, bias=bias,
                          seed=11, alpha=3.0)
    emp = mf.Empirical(X, y, loss=loss, backend="numpy")
    v = emp.velocity(net)
    assert _relative_error(v, finite_difference_velocity(emp, net, eps=1e-6)) <= 1e-6


def test_symmetric_init_gives_zero_function():
    net = mf.Network.init(10, 4, "relu", bias=True, symmetric=True, seed=0, tau=2.0)
    X = np.random.default_rng(0).standard_normal((100, 4))
    assert np.abs(net(X)).max() < 1e-14  # zero up to summation-order rounding
    unsymmetric = mf.Network.init(10, 4, "relu", bias=True, seed=0, tau=2.0)
    assert np.abs(unsymmetric(X)).max() > 0.1
    assert np.all(net.c[:5] == -net.c[5:]) and np.all(net.a[:5] == net.a[5:])
    with pytest.raises(ValueError, match="even"):
        mf.Network.init(5, 2, symmetric=True)


def test_ntk_scaling_reproduces_standard_parametrization():
    """alpha = sqrt(m): f = m^{-1/2} sum c sigma(a.x), and the velocity is -grad R."""
    m, d = 12, 3
    net = mf.Network.init(m, d, "erf", seed=1, alpha="ntk")
    X = np.random.default_rng(2).standard_normal((30, d))
    manual = (1 / np.sqrt(m)) * np.sum(
        net.c[:, 0] * mf.get_activation("erf").f(X @ net.a.T), axis=1)
    np.testing.assert_allclose(net(X)[:, 0], manual, rtol=1e-13)
    teacher = mf.Network.init(2, d, "erf", seed=3)
    pop = mf.GaussianPopulation(teacher, backend="numpy")
    grad = -finite_difference_velocity(pop, net) * net.alpha**2 / net.m  # = grad R
    np.testing.assert_allclose(pop.velocity(net), -grad, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("act", ["relu", "erf", "linear"])
@pytest.mark.parametrize("bias", [False, True])
def test_degenerate_particles_give_finite_values(act, bias):
    rng = np.random.default_rng(12)
    a = rng.standard_normal((6, 3))
    a[1] = a[0]          # coincident
    a[2] = -a[0]         # antipodal
    a[3] = 0.0           # zero-norm input weight
    c = rng.standard_normal(6)
    c[4] = 0.0
    b = rng.standard_normal(6) if bias else None
    if bias:
        b[5] = 0.0
    student = mf.Network(c, a, b, act)
    teacher = mf.Network(rng.standard_normal(2), np.vstack([a[0], np.zeros(3)]),
                         (np.zeros(2) if bias else None), act)
    pop = mf.GaussianPopulation(teacher, backend="numpy")
    assert np.isfinite(pop.risk(student))
    assert np.all(np.isfinite(pop.velocity(student)))
    assert pop.risk(teacher) == pytest.approx(0.0, abs=1e-12)


def test_online_batches_are_seeded_and_unbiased():
    teacher = mf.Network.init(3, 4, "relu", seed=1)
    student = mf.Network.init(6, 4, "relu", seed=2)
    one = mf.Online(teacher, batch=500, seed=5, backend="numpy")
    two = mf.Online(teacher, batch=500, seed=5, backend="numpy")
    np.testing.assert_array_equal(one.velocity(student), two.velocity(student))
    assert not np.array_equal(one.velocity(student), one.velocity(student))
    rng = np.random.default_rng(0)
    draws = np.array([one.velocity(student, rng) for _ in range(200)])
    mean, se = draws.mean(0), draws.std(0, ddof=1) / np.sqrt(len(draws))
    exact = one.population.velocity(student)
    assert np.all(np.abs(exact - mean) <= 4 * se + 1e-12)
    assert one.risk(student) == one.population.risk(student)


def test_linear_population_is_frobenius_distance():
    """With linear units and x ~ N(0, I): R = 1/2 ||W2 W1 - A||_F^2 (theory §9)."""
    rng = np.random.default_rng(4)
    d, k, m = 5, 4, 7
    student = mf.Network(rng.standard_normal((m, k)), rng.standard_normal((m, d)),
                         activation="linear")
    teacher = mf.Network(rng.standard_normal((3, k)), rng.standard_normal((3, d)),
                         activation="linear")
    A_s = student.c.T @ student.a / m
    A_t = teacher.c.T @ teacher.a / 3
    pop = mf.GaussianPopulation(teacher, backend="numpy")
    assert pop.risk(student) == pytest.approx(0.5 * np.sum((A_s - A_t) ** 2), rel=1e-12)


@pytest.mark.parametrize("bad", [
    dict(c=np.ones(3), a=np.ones((4, 2))),
    dict(c=np.ones(2), a=np.ones(2)),
    dict(c=np.ones(2), a=np.ones((2, 2)), b=np.ones(3)),
    dict(c=np.array([1.0, np.nan]), a=np.ones((2, 2))),
    dict(c=np.ones(2), a=np.ones((2, 2)), activation="swish"),
    dict(c=np.ones(2), a=np.ones((2, 2)), alpha=-1.0),
])
def test_bad_network_input_is_rejected(bad):
    with pytest.raises(ValueError):
        mf.Network(**bad)


def test_bad_objective_input_is_rejected():
    teacher = mf.Network.init(2, 3)
    with pytest.raises(ValueError, match="d=4"):
        mf.GaussianPopulation(teacher).risk(mf.Network.init(2, 4))
    with pytest.raises(ValueError, match="labels"):
        mf.Empirical(np.ones((3, 2)), np.array([0.0, 1.0, 2.0]), loss="logistic")
    with pytest.raises(ValueError, match="loss"):
        mf.Empirical(np.ones((3, 2)), np.ones(3), loss="l1")
    with pytest.raises(ValueError, match="noise"):
        mf.GaussianPopulation(teacher, noise=-1)


def test_alpha_names():
    assert mf.resolve_alpha("mean-field", 16) == 1.0
    assert mf.resolve_alpha("ntk", 16) == 4.0
    assert mf.resolve_alpha("sum", 16) == 16.0
    with pytest.raises(ValueError, match="scaling"):
        mf.resolve_alpha("lazy", 16)
