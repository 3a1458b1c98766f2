"""ODE integrators (scipy's solvers inside simulate): accuracy against Euler, records from
dense output, exact Jacobians, bit-for-bit resume of explicit Runge-Kutta."""
import subprocess
import sys

import numpy as np
import pytest

import meanfield as mf
from meanfield.dynamics import integrators as dynamics
from meanfield.dynamics.ode import METHODS, ode
from meanfield.dynamics.protocols import Field
from meanfield.dynamics.trajectory import Recorder


@pytest.fixture(scope="module")
def problem():
    teacher = mf.Network.init(3, 3, sphere=True, output="sign", alpha=3.0, seed=0)
    pop = mf.GaussianPopulation(teacher, backend="numpy")
    return mf.Network.init(6, 3, activation="relu", tau=0.7, seed=5), pop


def final_w(net, obj, integ, t_end, **kw):
    return mf.simulate(net, obj, integ, t_end, record=mf.LinearSchedule(2), **kw).final.w


@pytest.fixture(scope="module")
def reference(problem):
    """Euler at dt and dt/2, Richardson-extrapolated: the flow at t = 1 to O(dt^2)."""
    net, pop = problem
    w1 = final_w(net, pop, mf.integrators.euler(2e-3), 1.0)
    w2 = final_w(net, pop, mf.integrators.euler(1e-3), 1.0)
    return 2 * w2 - w1, np.abs(w2 - w1).max()


@pytest.mark.parametrize("method", METHODS)
def test_each_method_follows_the_gradient_flow(problem, reference, method):
    net, pop = problem
    ref, euler_error = reference
    w = final_w(net, pop, ode(method, rtol=1e-10, atol=1e-12), 1.0)
    assert euler_error > 1e-4                      # Euler itself is visibly first order
    assert np.abs(w - ref).max() < 1e-6, np.abs(w - ref).max()   # O(dt^2) = 2e-7


def test_records_land_on_the_schedule_from_dense_output(problem):
    net, pop = problem
    schedule = mf.LogSchedule(40, t_min=0.01)
    traj = mf.simulate(net, pop, ode("DOP853", rtol=1e-7), 30.0, record=schedule)
    np.testing.assert_allclose(traj.times, schedule.times(30.0), rtol=1e-15, atol=0)
    assert traj.times[-1] == 30.0 and traj.state.t == 30.0
    for snap, risk in zip(traj.snapshots[::7], traj.risk[::7], strict=False):
        assert risk == pytest.approx(pop.risk(net.with_w(snap)), rel=1e-13)
    # records never shorten the solver's steps: same steps, same end point bit for bit
    few = mf.simulate(net, pop, ode("DOP853", rtol=1e-7), 30.0, record=mf.LinearSchedule(2))
    assert few.steps[-1] == traj.steps[-1] < 40
    assert np.array_equal(few.final.w, traj.final.w)
    assert traj.state.aux["evaluations"] > few.state.aux["evaluations"]   # dense output


@pytest.mark.parametrize("method", ["Radau", "BDF"])
def test_exact_jacobian_agrees_with_finite_differences_and_saves_evaluations(problem,
                                                                            method):
    net, pop = problem
    exact = mf.simulate(net, pop, ode(method, rtol=1e-8, atol=1e-10), 5.0,
                        record=mf.LinearSchedule(2))
    fd = mf.simulate(net, pop, ode(method, rtol=1e-8, atol=1e-10, jacobian=False), 5.0,
                     record=mf.LinearSchedule(2))
    assert np.abs(exact.final.w - fd.final.w).max() < 1e-6
    assert exact.state.aux["jacobians"] >= 1 and fd.state.aux["jacobians"] == 0
    assert exact.state.aux["evaluations"] < fd.state.aux["evaluations"]


def _run_with_states(net, pop, integ, t_end, schedule):
    saved = []

    def keep(state, rec):
        saved.append((state, Recorder(*(list(x) for x in (
            rec.times, rec.steps, rec.dts, rec.risk, rec.test_risk, rec.snapshots)))))
    return mf.simulate(net, pop, integ, t_end, record=schedule, on_step=keep), saved


@pytest.mark.parametrize("method", ["DOP853", "RK45"])
def test_explicit_runge_kutta_resumes_bit_for_bit(problem, method):
    """From a state at a solver step and from one read off the dense output (a record)."""
    net, pop = problem
    schedule = mf.LogSchedule(25)
    full, saved = _run_with_states(net, pop, ode(method, rtol=1e-6), 20.0, schedule)
    at_step = [s for s in saved[3:-2] if s[0].t == float(s[0].aux["ode_t"])]
    interpolated = [s for s in saved[3:-2] if s[0].t < float(s[0].aux["ode_t"])]
    assert at_step and interpolated
    for state, rec in (at_step[len(at_step) // 2], interpolated[len(interpolated) // 2]):
        again = mf.simulate(net, pop, ode(method, rtol=1e-6), 20.0, record=schedule,
                            start=(state, rec))
        assert np.array_equal(again.final.w, full.final.w)
        assert np.array_equal(again.risk, full.risk) and np.array_equal(again.times, full.times)
        assert again.steps[-1] == full.steps[-1]


@pytest.mark.parametrize("method", ["Radau", "BDF", "LSODA"])
def test_implicit_methods_resume_within_tolerance(problem, method):
    net, pop = problem
    schedule = mf.LogSchedule(25)
    full, saved = _run_with_states(net, pop, ode(method, rtol=1e-7, atol=1e-10), 20.0,
                                   schedule)
    state, rec = saved[len(saved) // 2]
    again = mf.simulate(net, pop, ode(method, rtol=1e-7, atol=1e-10), 20.0,
                        record=schedule, start=(state, rec))
    assert np.array_equal(again.times, full.times)
    assert np.abs(again.final.w - full.final.w).max() < 1e-5


def test_empirical_objective_with_exact_jacobian():
    teacher = mf.Network.init(2, 3, activation="erf", sphere=True, output="sign", seed=1)
    X = np.random.default_rng(2).standard_normal((30, 3))
    emp = mf.Empirical(X, teacher(X), backend="numpy")
    net = mf.Network.init(4, 3, activation="erf", tau=0.7, seed=3)
    ref = final_w(net, emp, ode("DOP853", rtol=1e-10, atol=1e-12), 2.0)
    traj = mf.simulate(net, emp, ode("Radau", rtol=1e-8, atol=1e-10), 2.0,
                       record=mf.LinearSchedule(2))
    assert traj.state.aux["jacobians"] >= 1
    assert np.abs(traj.final.w - ref).max() < 1e-6


def test_refuses_stochastic_objectives_and_bad_parameters(problem):
    net, pop = problem
    online = mf.Online(pop.teacher, batch=10)
    with pytest.raises(ValueError, match="deterministic"):
        mf.simulate(net, online, ode(), 1.0)
    with pytest.raises(ValueError, match="method must be one of"):
        ode("Euler")
    with pytest.raises(ValueError, match="rtol"):
        ode(rtol=0.0)


def test_registered_with_annotated_parameters():
    assert dynamics.INTEGRATORS["ode"] is ode
    params = dynamics.parameters("ode")
    assert params["method"] == (str, False) and params["rtol"] == (float, False)
    assert params["jacobian"] == (bool, False) and params["dt_max"] == (float, False)
    integ = dynamics.make("ode", method="Radau", atol=1e-9)
    assert integ.name == "ode" and not integ.fixed_dt and integ.params["method"] == "Radau"


def test_public_integrators_know_ode_without_loading_the_solvers():
    code = ("import sys, meanfield as mf; i = mf.integrators.make('ode', method='BDF'); "
            "print(i.name, i.params['method'], 'scipy.integrate' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["ode", "BDF", "False"]


def _copy(state):
    from dataclasses import replace
    from types import MappingProxyType
    return replace(state, w=state.w.copy(),
                   aux=MappingProxyType({k: np.array(v) for k, v in state.aux.items()}))


@pytest.mark.parametrize("method", ["DOP853", "Radau", "BDF"])
def test_copied_states_and_interleaved_members_keep_their_solvers(problem, method):
    """A caller that copies every state, and steps two members in turn with fields built
    again for the same network and objective (as an ensemble does), continues each
    member's live solver: the same steps and evaluations as one member stepped alone."""
    net, pop = problem
    other = mf.GaussianPopulation(mf.Network.init(2, 3, sphere=True, seed=9), backend="numpy")
    integ = ode(method, rtol=1e-7)
    alone = [mf.simulate(net, obj, ode(method, rtol=1e-7), 5.0, record=mf.LinearSchedule(2))
             for obj in (pop, other)]
    fields = [Field(net, pop), Field(net, other)]
    states = [integ.init(net.w, Field(net, obj), 0) for obj in (pop, other)]
    while any(s.t < 5.0 for s in states):
        for i in (0, 1):
            if states[i].t < 5.0:
                states[i] = _copy(integ.step(_copy(states[i]), fields[i], 5.0 - states[i].t))
    for state, traj in zip(states, alone, strict=False):
        assert state.step == traj.steps[-1]
        assert int(state.aux["evaluations"]) == int(traj.state.aux["evaluations"])
        assert np.array_equal(state.w, traj.final.w)


def test_an_objective_that_refuses_its_hessian_falls_back_to_finite_differences():
    """A tanh student of a sigmoid teacher has no exact Hessian: Radau still integrates,
    with SciPy's finite-difference Jacobian, and ends where the explicit solver does."""
    teacher = mf.Network.init(m=1, d=2, activation="sigmoid", seed=0)
    student = mf.Network.init(m=2, d=2, activation="tanh", seed=1)
    pop = mf.GaussianPopulation(teacher, backend="numpy")
    implicit = mf.simulate(student, pop, ode("Radau", rtol=1e-8, atol=1e-10), 0.5,
                           record=mf.LinearSchedule(2))
    explicit = mf.simulate(student, pop, ode("DOP853", rtol=1e-8, atol=1e-10), 0.5,
                           record=mf.LinearSchedule(2))
    assert implicit.state.aux["jacobians"] == 0
    assert implicit.risk[-1] < implicit.risk[0]
    np.testing.assert_allclose(implicit.final.w, explicit.final.w, rtol=0, atol=1e-6)
