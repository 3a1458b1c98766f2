"""simulate_many: an ensemble equals calling simulate on each member (same record times
and steps, particles and risks to 1e-12 relative; bit for bit on NumPy)."""
import numpy as np
import pytest

import meanfield as mf
from meanfield import integrators
from meanfield.dynamics.trajectory import Recorder

D = 3


def same(a, b, tol=1e-12):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape
    assert np.max(np.abs(a - b), initial=0.0) <= tol * max(1.0, np.max(np.abs(b), initial=0.0))


def check(ensemble, serial):
    assert len(ensemble) == len(serial)
    for e, s in zip(ensemble, serial, strict=False):
        assert e.divergence is None
        assert np.array_equal(e.times, s.times) and np.array_equal(e.steps, s.steps)
        same(e.snapshots, s.snapshots)
        same(e.risk, s.risk)
        same(e.final.w, s.final.w)
        assert e.state.step == s.state.step and e.state.t == s.state.t
        assert e.state.rng == s.state.rng
        if s.test_risk is not None:
            same(e.test_risk, s.test_risk)


def teacher(seed=0, activation="relu"):
    return mf.Network.init(3, D, activation, sphere=True, output="sign", alpha=3.0, seed=seed)


def students(S, m=6, activation="relu", alphas=None, **kw):
    return [mf.Network.init(m, D, activation, seed=10 + s, tau=0.7,
                            alpha=1.0 if alphas is None else alphas[s], **kw)
            for s in range(S)]


def data(seed, n=12, activation="relu"):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, D))
    return X, teacher(seed, activation)(X)


def serial(nets, objectives, integ, t_end, record, seeds, tests=None):
    S = len(nets)

    def pick(v, s):
        return v[s] if isinstance(v, list) else v

    return [mf.simulate(nets[s], pick(objectives, s), pick(integ, s), pick(t_end, s),
                        record=record, seed=seeds[s],
                        test=None if tests is None else pick(tests, s)) for s in range(S)]


RECORD = mf.LogSchedule(12)


def both(nets, objectives, integ, t_end, record=RECORD, seeds=(1, 2, 3),
         tests=None):
    seeds = list(seeds)[:len(nets)]
    ens = mf.simulate_many(nets, objectives, integ, t_end, record=record, seeds=seeds,
                           tests=tests)
    check(ens, serial(nets, objectives, integ, t_end, record, seeds, tests))
    return ens


def test_euler_shared_data_per_member_alpha_dt_and_horizon():
    X, y = data(0)
    obj = mf.Empirical(X, y, backend="numpy")
    test = mf.Empirical(*data(5), backend="numpy")
    nets = students(3, alphas=[1.0, 2.0, 0.5])
    dts = [integrators.euler(dt) for dt in (0.05, 0.03, 0.07)]
    both(nets, obj, dts, [1.0, 0.95, 1.3], tests=test)


def test_momentum_population_per_member_teachers_and_tau():
    objs = [mf.GaussianPopulation(teacher(s), backend="numpy") for s in range(3)]
    integs = [integrators.momentum(tau, 0.05) for tau in (0.0, 0.1, 0.4)]
    both(students(3), objs, integs, 0.8)


def test_langevin_per_member_data_and_temperature():
    Xs, ys = zip(*(data(s) for s in range(3)), strict=False)
    stacked = mf.Empirical(np.stack(Xs), np.stack(ys), backend="numpy")
    integs = [integrators.langevin(0.02, T, 0.1) for T in (0.0, 1e-3, 1e-2)]
    ens = mf.simulate_many(students(3), stacked, integs, 0.5, record=mf.LogSchedule(8),
                           seeds=[4, 5, 6])
    per = [mf.Empirical(X, y, backend="numpy") for X, y in zip(Xs, ys, strict=False)]
    check(ens, serial(students(3), per, integs, 0.5, mf.LogSchedule(8), [4, 5, 6]))


def test_sgd_list_of_objectives_draws_each_members_minibatches():
    objs = [mf.Empirical(*data(s, n=20), backend="numpy") for s in range(3)]
    both(students(3), objs, integrators.sgd(0.05, 5), 0.7)


def test_online_euler_and_population_sgd_streams():
    objs = [mf.Online(teacher(s), batch=16, backend="numpy") for s in range(2)]
    both(students(2), objs, integrators.euler(0.05), 0.6)
    pops = [mf.GaussianPopulation(teacher(s), backend="numpy") for s in range(2)]
    both(students(2), pops, integrators.sgd(0.05, 8), 0.6)


def test_adaptive_population_members_move_independently():
    objs = [mf.GaussianPopulation(teacher(s, "erf"), backend="numpy") for s in range(3)]
    nets = students(3, activation="erf")
    ens = both(nets, objs, [integrators.adaptive(dt=dt) for dt in (1e-3, 1e-2, 1e-1)], 3.0)
    assert len({len(e.dts) for e in ens}) == 1 and ens[0].steps[-1] != ens[2].steps[-1]


def test_centered_networks_and_bias():
    obj = mf.Empirical(*data(0), backend="numpy")
    nets = students(2, centered=True, bias=True)
    both(nets, obj, integrators.euler(0.05), 0.5)
    pop = mf.GaussianPopulation(teacher(1), backend="numpy")
    both(nets, pop, integrators.euler(0.05), 0.5)


def test_a_diverging_member_is_frozen_and_the_others_finish():
    obj = mf.Empirical(*data(0), backend="numpy")
    nets = students(3)
    integs = [integrators.euler(0.5), integrators.euler(300.0), integrators.euler(1.0)]
    ens = mf.simulate_many(nets, obj, integs, 3000.0, record=mf.LogSchedule(10),
                           seeds=[0, 0, 0])
    assert ens[1].divergence is not None and ens[0].divergence is None
    with pytest.raises(mf.Divergence) as err:
        mf.simulate(nets[1], obj, integs[1], 3000.0, record=mf.LogSchedule(10))
    assert ens[1].divergence.step == err.value.step and str(ens[1].divergence) == str(err.value)
    ok = [mf.simulate(nets[s], obj, integs[s], 3000.0, record=mf.LogSchedule(10))
          for s in (0, 2)]
    check([ens[0], ens[2]], ok)


class Drift:
    """Velocity 1 everywhere until w[0, 0] passes ``wall``, NaN beyond (no stacked form)."""

    stochastic = False

    def __init__(self, wall):
        self.wall = wall

    def velocity(self, net, rng=None):
        return np.full_like(net.w, 1.0 if net.w[0, 0] < self.wall else np.nan)

    def risk(self, net):
        return 0.0


def test_a_nan_inside_a_block_is_reported_at_its_exact_step():
    net = students(1)[0]
    start = net.w[0, 0]
    objs = [Drift(start + 6.5 * 0.1), Drift(np.inf)]
    ens = mf.simulate_many([net, net], objs, integrators.euler(0.1), 5.0,
                           record=mf.LinearSchedule(2))
    with pytest.raises(mf.Divergence) as err:
        mf.simulate(net, objs[0], integrators.euler(0.1), 5.0, record=mf.LinearSchedule(2))
    assert err.value.step == ens[0].divergence.step == 8
    assert ens[1].divergence is None and ens[1].steps[-1] == 50


def test_continuing_an_ensemble_from_saved_states_is_bit_for_bit():
    obj = mf.Empirical(*data(0), backend="numpy")
    integ = integrators.langevin(0.01, 1e-3, 0.1)
    nets = students(2)
    full = mf.simulate_many(nets, obj, integ, 1.0, record=mf.LogSchedule(10), seeds=[4, 5])
    saved = {}

    def grab(s, state, recorder):
        if state.step == 37:
            saved[s] = (state, Recorder.from_arrays(recorder.arrays()))

    mf.simulate_many(nets, obj, integ, 1.0, record=mf.LogSchedule(10), seeds=[4, 5],
                     on_step=grab, callback_every=37)
    resumed = mf.simulate_many(nets, obj, integ, 1.0, record=mf.LogSchedule(10), seeds=[4, 5],
                               starts=[saved[0], saved[1]])
    for a, b in zip(resumed, full, strict=False):
        assert np.array_equal(a.snapshots, b.snapshots) and np.array_equal(a.final.w, b.final.w)


def test_objectives_without_a_stacked_form_run_member_by_member():
    obj = mf.Empirical(*data(0), backend="numpy")

    class Plain:  # only the single-network protocol
        stochastic = False

        def __getattr__(self, key):
            if key == "ensemble":
                raise AttributeError(key)
            return getattr(obj, key)

    both(students(2), Plain(), integrators.euler(0.05), 0.5)


@pytest.mark.parametrize("backend", ["numba"])
def test_ensembles_on_the_numba_backend(backend):
    objs = [mf.Empirical(*data(s), backend=backend) for s in range(2)]
    both(students(2), objs, integrators.euler(0.05), 0.5)
    pops = [mf.GaussianPopulation(teacher(s), backend=backend) for s in range(2)]
    both(students(2), pops, integrators.momentum(0.1, 0.05), 0.5)


@pytest.mark.parametrize("fraction", [0.1, pytest.param(1.0, marks=pytest.mark.slow)])
def test_demo_ensemble_on_the_lanes_kernels_matches_serial_numpy_over_the_whole_run(fraction):
    """The demo's two runs (10^5 Euler steps each; the first tenth by default, the whole
    run with the slow checks) as an ensemble on "auto" (the lanes kernels: another
    summation order than NumPy's) against serial NumPy runs: records, steps and times
    identical, particles and risks within 1e-12 relative."""
    from meanfield.experiments.demo import SCALES, demo_config
    from meanfield.runs.run import build

    configs = [demo_config(tau, backend="auto") for tau in SCALES.values()]
    problems = [build(c) for c in configs]
    reference = [build(demo_config(tau, backend="numpy")) for tau in SCALES.values()]
    p, t_end = problems[0], configs[0].t_end * fraction
    ens = mf.simulate_many([q.student for q in problems], [q.objective for q in problems],
                           p.integrator, t_end, record=p.schedule, seeds=[0, 0])
    check(ens, [mf.simulate(q.student, q.objective, q.integrator, t_end, record=q.schedule)
                for q in reference])


@pytest.mark.parametrize("method", ["DOP853", "Radau"])
def test_ode_members_keep_their_own_solvers(method):
    """ODE members are stepped one after another, each by its own live solver: the
    ensemble equals the serial runs (one integrator shared, and one per member)."""
    objs = [mf.GaussianPopulation(teacher(s), backend="numpy") for s in range(3)]
    shared = integrators.make("ode", method=method, rtol=1e-8, dt=0.01)
    both(students(3), objs, shared, 2.0)
    own = [integrators.make("ode", method=method, rtol=r, dt=0.01) for r in (1e-6, 1e-8, 1e-9)]
    both(students(3), objs, own, 2.0)


class Backwards(Drift):
    """Velocity -1 everywhere: the accept/reject scheme below rejects every step."""

    def velocity(self, net, rng=None):
        return np.full_like(net.w, -1.0)


def _forward_only():
    """An accept/reject scheme: a trial step along the velocity is accepted unless the
    velocity points backwards (then dt halves); NaN velocities pass."""
    from meanfield.dynamics.forms import attempts
    from meanfield.dynamics.protocols import initial_state

    def attempt(W, aux, field, ctrl, caps):
        h = np.minimum(ctrl, caps)
        v = field.velocity(W, None)
        ok = ~(v < 0).reshape(len(W), -1).any(axis=1)
        return ok, W + h[:, None, None] * v, {}, h, np.where(ok, ctrl, ctrl / 2)

    return attempts("forward", {"dt": 0.1},
                    lambda w, field, seed=0: initial_state(w, 0.1, seed), attempt)


def test_accept_reject_members_that_fail_differently_equal_their_serial_runs():
    """Member 0 finishes, member 1 is rejected max_attempts times, member 2 meets a NaN
    at its 8th step: each ensemble member ends as its own run does (the same divergence,
    at the same step and time, with the same message; the same particles)."""
    net = students(1)[0]
    objs = [Drift(np.inf), Backwards(np.inf), Drift(net.w[0, 0] + 0.65)]
    ens = mf.simulate_many([net] * 3, objs, _forward_only(), 2.0,
                           record=mf.LinearSchedule(4))
    assert ens[0].divergence is None and ens[0].times[-1] == 2.0
    assert "rejected 60 times" in str(ens[1].divergence) and ens[1].divergence.step == 0
    assert "NaN" in str(ens[2].divergence) and ens[2].divergence.step == 8
    for s in (1, 2):
        with pytest.raises(mf.Divergence) as err:
            mf.simulate(net, objs[s], _forward_only(), 2.0, record=mf.LinearSchedule(4))
        assert str(err.value) == str(ens[s].divergence)
        assert (err.value.step, err.value.t) == (ens[s].divergence.step, ens[s].divergence.t)
    check([ens[0]], [mf.simulate(net, objs[0], _forward_only(), 2.0,
                                 record=mf.LinearSchedule(4))])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_euler_blocks_equal_the_steps_taken_one_by_one(dtype):
    """Euler on the Numba lanes kernels (the demo's shape: d = 2 relu, m = 16, n = 15)
    advances each block of steps in one compiled call (``euler_steps``) in float64; the
    whole trajectory (every record) equals the integrator's own step called by hand, and
    each ensemble member its serial run, bit for bit. float32 has no fused path and
    equals stepping by hand too."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((15, 2))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    target = mf.Network.init(3, 2, sphere=True, output="sign", alpha="sum", seed=4)
    obj = mf.Empirical(X.astype(dtype), target(X).astype(dtype), backend="numba")
    nets = [mf.Network.init(16, 2, tau=tau, sphere=True, alpha="sum", seed=5, dtype=dtype)
            for tau in (0.1, 2.0)]
    stacked = obj.ensemble(nets, [obj, obj])
    assert (stacked.euler_steps is not None) == (dtype == np.float64)
    # member 1 stops first, on a short last step: the rest runs as a subset of one
    euler, t_ends, record = integrators.euler(0.08), [40.0, 23.02], mf.LogSchedule(8)
    ens = mf.simulate_many(nets, [obj, obj], euler, t_ends, record=record, seeds=[0, 0])
    for net, traj, t_end in zip(nets, ens, t_ends, strict=True):
        one = mf.simulate(net, obj, euler, t_end, record=record)
        assert traj.times[-1] == t_end
        assert np.array_equal(traj.snapshots, one.snapshots)
        assert np.array_equal(traj.risk, one.risk)
        state, field = euler.init(net.w, None), mf.dynamics.protocols.Field(net, obj)
        by_hand = {0: state.w}
        while state.step < traj.steps[-1]:
            left = t_end - state.t  # a short last step as the engine takes it
            state = euler.step(state, field, None if left >= 0.08 * (1 - 1e-9) else left)
            by_hand[state.step] = state.w
        assert np.array_equal(np.stack([by_hand[int(s)] for s in traj.steps]),
                              traj.snapshots)
        assert not np.array_equal(traj.snapshots[0], traj.snapshots[-1])
