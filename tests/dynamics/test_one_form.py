"""One form per integrator: a single run is an ensemble of one, bit for bit.

For every built-in integrator (float64 and float32 particles) the records of ``simulate``,
of ``simulate_many`` with one member, of the same member inside an ensemble of three, and
the states of the integrator's own ``step`` called by hand (compared with the states
``simulate`` hands to ``on_step`` after every step) are the same bits."""
import numpy as np
import pytest

import meanfield as mf
from meanfield import integrators
from meanfield.dynamics.protocols import Field

D = 3


def problem(kind: str, dtype: str = "float64", s: int = 0):
    teacher = mf.Network.init(3, D, "relu", sphere=True, output="sign", alpha=3.0, seed=s)
    X = np.random.default_rng(s + 1).standard_normal((16, D))
    obj = {"emp": lambda: mf.Empirical(X, teacher(X), backend="numpy"),
           "pop": lambda: mf.GaussianPopulation(teacher, backend="numpy"),
           "online": lambda: mf.Online(teacher, batch=8, backend="numpy")}[kind]()
    return mf.Network.init(6, D, "relu", seed=10 + s, tau=0.7, dtype=dtype), obj


#: integrator, objective kind, horizon (1.03 and 1.02: a shortened last step)
CASES = {
    "euler": (lambda: integrators.euler(0.05), "emp", 1.03),
    "euler-online": (lambda: integrators.euler(0.05), "online", 1.0),
    "adaptive": (lambda: integrators.adaptive(dt=1e-3, dt_max=0.5), "pop", 2.0),
    "adaptive-floor": (lambda: integrators.adaptive(dt=1e-2, dt_min=1e-3), "emp", 1.0),
    "momentum": (lambda: integrators.momentum(0.3, 0.05), "emp", 1.02),
    "langevin": (lambda: integrators.langevin(0.05, 1e-2, 0.1), "emp", 1.0),
    "langevin-no-decay": (lambda: integrators.langevin(0.05, 1e-2), "pop", 1.0),
    "sgd": (lambda: integrators.sgd(0.05, 4), "emp", 1.0),
    "ode": (lambda: integrators.make("ode", rtol=1e-6), "pop", 1.0),
}
PARAMS = [(name, dtype) for name in CASES for dtype in ("float64", "float32")
          if not (dtype == "float32" and name in ("ode", "adaptive-floor"))]


def records(traj) -> tuple:
    return traj.times, traj.steps, traj.dts, traj.risk, traj.snapshots, traj.final.w


def identical(a, b) -> None:
    for x, y in zip(records(a), records(b), strict=True):
        assert x.dtype == y.dtype and np.array_equal(x, y)
    assert a.state.rng == b.state.rng and a.state.t == b.state.t


@pytest.mark.parametrize("name,dtype", PARAMS)
def test_single_run_is_an_ensemble_of_one_and_a_member_of_many(name, dtype):
    make, kind, t_end = CASES[name]
    net, obj = problem(kind, dtype)
    record = mf.LogSchedule(7)
    alone = mf.simulate(net, obj, make(), t_end, record=record, seed=3)
    one = mf.simulate_many([net], obj, make(), t_end, record=record, seeds=[3])[0]
    trio = [problem(kind, dtype, s) for s in range(3)]
    member = mf.simulate_many([n for n, _ in trio], [o for _, o in trio], make(), t_end,
                              record=record, seeds=[3, 4, 5])[0]
    identical(alone, one)
    identical(alone, member)
    assert alone.final.w.dtype == np.dtype(dtype)


@pytest.mark.parametrize("name,dtype", PARAMS)
def test_step_by_hand_gives_the_states_simulate_steps_through(name, dtype):
    """Bit for bit, except float32 population velocities: ``simulate`` takes them from
    the objective's stacked reduction, equal to the single one to float32 rounding."""
    make, kind, _ = CASES[name]
    same = np.array_equal if dtype == "float64" or kind != "pop" else \
        (lambda a, b: np.allclose(a, b, rtol=1e-5, atol=1e-6))
    net, obj = problem(kind, dtype)
    seen = []
    mf.simulate(net, obj, make(), 50.0, record=mf.LinearSchedule(2), seed=3,
                on_step=lambda state, _: seen.append(state), callback_every=1)
    integ, field = make(), Field(net, obj)
    state = integ.init(net.w, field, 3)
    for expected in seen[:8]:
        state = integ.step(state, field, 50.0 - state.t)
        assert state.step == expected.step
        assert same(np.array([state.t, state.dt]), np.array([expected.t, expected.dt]))
        assert same(state.w, expected.w) and state.w.dtype == np.dtype(dtype)
        assert state.rng == expected.rng
        assert set(state.aux) == set(expected.aux)
        for key in state.aux:
            assert same(state.aux[key], expected.aux[key])
