"""Frozen parameter groups: velocities against finite differences of the risk in the free
parameters, the restricted Hessian against the full Hessian's block, every integrator
(and ensembles, and resume) leaving frozen values bit for bit unchanged."""
import numpy as np
import pytest

import meanfield as mf
from meanfield.dynamics.trajectory import Recorder
from meanfield.objectives.frozen import Frozen, check_frozen, free_columns, free_indices


def _population(act="relu", bias=False, d=4):
    teacher = mf.Network.init(3, d, activation=act, bias=bias, seed=11)
    return mf.GaussianPopulation(teacher, backend="numpy")


def _student(act="relu", bias=False, d=4, m=5, seed=3):
    return mf.Network.init(m, d, activation=act, bias=bias, seed=seed)


def _empirical(bias=False, d=4):
    pop = _population("relu", bias, d)
    X, y = pop.sample(60, 5)
    return mf.Empirical(X, y, backend="numpy")


CASES = [("relu", False, ("c",)), ("relu", True, ("c", "b")), ("erf", True, ("a",)),
         ("erf", False, ("c",)), ("relu", True, ("b",))]


@pytest.mark.parametrize("act,bias,frozen", CASES)
def test_velocity_is_minus_m_gradient_of_J_on_free_parameters_and_zero_on_frozen(act, bias,
                                                                                 frozen):
    """v = -m grad (R/alpha^2) by central differences of the exact population risk, in
    each free coordinate; exact zeros on the frozen columns."""
    pop, net = _population(act, bias), _student(act, bias)
    obj = Frozen(pop, frozen)
    v = obj.velocity(net)
    free = free_columns(net.layout, frozen)
    assert np.all(v[:, ~free] == 0)
    w, eps = net.w.ravel(), 1e-5
    fd = np.zeros(w.size)
    for j in free_indices(net.layout, net.m, frozen):
        wp, wm = w.copy(), w.copy()
        wp[j] += eps
        wm[j] -= eps
        fd[j] = -(net.m / net.alpha**2) * (pop.risk(net.with_w(wp.reshape(net.w.shape)))
                                           - pop.risk(net.with_w(wm.reshape(net.w.shape)))
                                           ) / (2 * eps)
    assert np.abs(v.ravel() - fd).max() <= 1e-6 * np.abs(fd).max()


@pytest.mark.parametrize("objective", ["population", "empirical"])
@pytest.mark.parametrize("frozen", [("c",), ("a",), ("c", "b"), ("b",)])
def test_restricted_hessian_is_the_block_of_the_full_hessian(objective, frozen):
    """hessian(frozen) = H[free, free]; hvp and hessian_operator agree with it; the
    Frozen objective's operator is P H P."""
    obj = _population(bias=True) if objective == "population" else _empirical(bias=True)
    net = _student(bias=True)
    H = mf.hessian(net, obj)
    idx = free_indices(net.layout, net.m, frozen)
    block = mf.hessian(net, obj, frozen=frozen)
    assert np.array_equal(block, H[np.ix_(idx, idx)])
    assert np.array_equal(mf.hessian(net, Frozen(obj, frozen)), block)
    x = np.random.default_rng(0).standard_normal(len(idx))
    ref = block @ x
    assert np.abs(mf.hvp(net, obj, x, frozen=frozen) - ref).max() <= 1e-12 * np.abs(ref).max()
    op = mf.hessian_operator(net, obj, frozen=frozen)
    assert op.shape == (len(idx), len(idx))
    assert np.abs(op.matvec(x) - ref).max() <= 1e-12 * np.abs(ref).max()
    full = np.zeros(net.w.size)
    full[idx] = x
    masked = mf.hvp(net, obj, full.reshape(net.w.shape), frozen=frozen).ravel()
    assert np.all(np.delete(masked, idx) == 0)
    assert np.abs(masked[idx] - ref).max() <= 1e-12 * np.abs(ref).max()
    dense = Frozen(obj, frozen).hessian_operator(net).dense()
    assert np.array_equal(dense[np.ix_(idx, idx)], block)
    assert not np.delete(dense, idx, axis=0).any()


def _integrators():
    return [mf.integrators.euler(0.05), mf.integrators.adaptive(dt=0.01),
            mf.integrators.momentum(0.3, 0.05),
            mf.integrators.langevin(0.05, temperature=0.01, weight_decay=0.5),
            mf.integrators.sgd(0.05, 16), mf.integrators.make("ode", method="RK45"),
            mf.integrators.make("ode", method="Radau")]


@pytest.mark.parametrize("integrator", _integrators(), ids=lambda i: i.name + str(
    i.params.get("method", "")))
def test_every_integrator_leaves_frozen_groups_bit_for_bit(integrator):
    """Single runs and a 3-member ensemble: every recorded snapshot has the frozen
    columns equal to the initial ones bit for bit, while the free ones move; ensemble
    members equal their single runs."""
    pop = _population(bias=True)
    nets = [_student(bias=True, seed=s) for s in range(3)]
    frozen = ("c", "b")
    free = free_columns(nets[0].layout, frozen)
    trajs = mf.simulate_many(nets, pop, integrator, 1.0, record=mf.LogSchedule(4),
                             seeds=[1, 2, 3], frozen=frozen)
    for net, traj in zip(nets, trajs, strict=True):
        assert np.array_equal(traj.snapshots[:, :, ~free],
                              np.broadcast_to(net.w[:, ~free], traj.snapshots[:, :, ~free].shape))
        assert not np.array_equal(traj.final.w[:, free], net.w[:, free])
    single = mf.simulate(nets[1], pop, integrator, 1.0, record=mf.LogSchedule(4), seed=2,
                         frozen=frozen)
    assert np.allclose(single.final.w, trajs[1].final.w, rtol=0, atol=1e-12)
    assert np.array_equal(single.final.w[:, ~free], nets[1].w[:, ~free])


def test_resume_keeps_frozen_groups_and_continues_bit_for_bit():
    """A Langevin run stopped at t = 0.5 and continued from its state equals the run
    straight to t = 1, frozen columns untouched."""
    pop, net = _population(), _student()
    integ = mf.integrators.langevin(0.05, temperature=0.02, weight_decay=0.3)
    straight = mf.simulate(net, pop, integ, 1.0, record=mf.LinearSchedule(3), seed=4,
                           frozen=("c",))
    half = mf.simulate(net, pop, integ, 0.5, record=mf.LinearSchedule(2), seed=4,
                       frozen=("c",))
    rec = Recorder.from_arrays({"times": half.times, "steps": half.steps, "dts": half.dts,
                                "risk": half.risk, "test_risk": half.risk * np.nan,
                                "snapshots": half.snapshots})
    rest = mf.simulate(net, pop, integ, 1.0, record=mf.LinearSchedule(3), seed=4,
                       frozen=("c",), start=(half.state, rec))
    assert np.array_equal(rest.final.w, straight.final.w)
    assert np.array_equal(rest.final.w[:, 0], net.w[:, 0])


def test_refine_and_classify_on_the_free_parameters():
    """A committee machine (c = 1 frozen, sum scaling) with two students on one teacher
    ray and one on the other is a global minimum of the restricted risk; refine keeps
    c; at the exact point classify finds d zero modes (norm moved between the
    duplicates along the ray, and perpendicular moves that cancel to first order), as
    the restricted count predicts."""
    d = 4
    teacher = mf.Network(np.ones(2), np.eye(2, d), alpha="sum")
    pop = mf.GaussianPopulation(teacher, backend="numpy")
    a = np.array([0.3 * np.eye(d)[0], 0.7 * np.eye(d)[0], np.eye(d)[1]])
    net = mf.Network(np.ones(3), a + 1e-3, alpha="sum")
    ref, report = mf.refine(net, pop, frozen=("c",))
    assert report["success"] and np.array_equal(ref.c, net.c)
    out = mf.classify(ref, pop, frozen=("c",))
    assert out["kind"] == "global minimum" and len(out["eigenvalues"]) == 3 * d
    exact = mf.Network(np.ones(3), a, alpha="sum")
    out = mf.classify(exact, pop, frozen=("c",))
    assert out["n_zero"] == out["expected_zero_modes"] == d
    # with c free (the count of the unrestricted Hessian): more, and as predicted
    free = mf.classify(exact, pop)
    assert free["n_zero"] == free["expected_zero_modes"] > d


def test_zero_modes_away_from_a_global_minimum():
    """A symmetric saddle-like critical point with c frozen: two neurons on one ray
    contribute one exact symmetry (norm moved along the ray), counted as observed."""
    d = 3
    teacher = mf.Network(np.ones(2), np.eye(2, d), alpha="sum")
    pop = mf.GaussianPopulation(teacher, backend="numpy")
    start = mf.Network(np.ones(2), np.array([[0.5, 0.5, 0.0], [0.6, 0.6, 0.0]]), alpha="sum")
    ref, report = mf.refine(start, pop, frozen=("c",), method="least-squares")
    assert report["success"]
    out = mf.classify(ref, pop, frozen=("c",))
    assert out["kind"] != "global minimum"
    assert out["expected_zero_modes"] == 1
    assert out["n_zero"] == 1


@pytest.mark.parametrize("bad,message", [(("w",), "unknown parameter group"),
                                         (3, "frozen must be a list"),
                                         (("b",), "needs a network with biases"),
                                         (("c", "a"), "every parameter group")])
def test_bad_frozen_groups_are_a_value_error_naming_the_argument(bad, message):
    from meanfield.core.layout import Layout
    with pytest.raises(ValueError, match=message):
        check_frozen(bad, Layout(1, 3))
    with pytest.raises(ValueError, match="frozen"):
        mf.simulate(_student(), _population(), mf.integrators.euler(0.1), 0.2, frozen=bad)
