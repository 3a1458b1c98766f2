"""The integrator registry as a user meets it, each in a fresh interpreter: every
integrator reachable from the module that defines ``make``; integrators of your own,
their parameters annotated or not, registered from outside the package and used from a
Config, a run and a sweep; bad parameters as one-line ConfigErrors."""
import json
import subprocess
import sys
import textwrap
from dataclasses import replace

import numpy as np
import pytest

import meanfield as mf
from meanfield.dynamics import integrators
from meanfield.dynamics.protocols import Integrator, State, VelocityField, initial_state


def python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_integrator_is_reachable_from_the_module_that_defines_make():
    out = python("""
        import json, sys
        from meanfield.dynamics import integrators
        made = {n: integrators.make(n, **({"tau": 0.1} if n == "momentum" else {})
                                    | ({"temperature": 0.0} if n == "langevin" else {})
                                    | ({"batch": 4} if n == "sgd" else {})
                                    | ({"dt": 0.1} if n in ("euler", "momentum", "langevin",
                                                              "sgd") else {})).name
                for n in integrators.INTEGRATORS}
        print(json.dumps([made, "scipy.integrate" in sys.modules]))
    """)
    made, scipy_loaded = json.loads(out)
    assert made == {n: n for n in ("euler", "adaptive", "momentum", "langevin", "sgd", "ode")}
    assert not scipy_loaded


USER = '''
import meanfield as mf


def damped(dt, gamma=0.5):
    """Gradient flow slowed by 1 + gamma: Euler steps of dt / (1 + gamma)."""
    return mf.integrators.euler(dt / (1 + gamma))


def kick(dt: float, strength: float, rounds=2):
    return mf.integrators.euler(dt * strength * rounds / 2)


mf.integrators.register("damped", damped)
mf.integrators.register("kick", kick)
'''


def test_user_integrators_with_unannotated_parameters_in_configs_runs_and_sweeps(tmp_path):
    (tmp_path / "user_integrators.py").write_text(USER)
    script = """
        import json, sys
        import numpy as np
        import meanfield as mf
        import user_integrators  # registers damped and kick (sweep workers import it too)

        base = {"t_end": 0.5, "record": {"n": 3}, "student": {"m": 4}, "backend": "numpy"}
        if __name__ == "__main__":
            out = {}
            cfg = mf.Config.from_dict({**base, "integrator": {"name": "damped", "dt": 0.05,
                                                              "gamma": 1}})
            out["gamma"] = cfg.integrator.gamma
            for bad in ({"name": "damped", "gama": 0.3}, {"name": "kick"},
                        {"name": "damped", "gamma": "x"}, {"name": "kick", "strength": 1,
                                                           "rounds": 0.5}):
                try:
                    mf.Config.from_dict({**base, "integrator": bad})
                except mf.ConfigError as err:
                    out.setdefault("errors", []).append(str(err))
            halved = mf.run(cfg, sys.argv[1] + "/damped", progress=False)
            plain = mf.run(mf.Config.from_dict({**base, "integrator": {"dt": 0.025}}),
                           sys.argv[1] + "/euler", progress=False)
            out["same"] = bool(np.array_equal(halved.trajectory.final.w,
                                              plain.trajectory.final.w))
            report = mf.sweep(cfg, {"product": {"integrator": {"gamma": [0.0, 1.0]}}},
                              sys.argv[1] + "/sweep", workers=1, progress=False)
            out["sweep"] = sorted(o["status"] for o in report.outcomes.values())
            print(json.dumps(out))
    """
    (tmp_path / "script.py").write_text(textwrap.dedent(script))
    done = subprocess.run([sys.executable, "script.py", str(tmp_path / "out")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["gamma"] == 1.0  # an unannotated parameter is typed by its default (float)
    assert out["errors"] == [
        "integrator.gama: unknown field",
        "integrator.strength: required by the kick integrator",
        "integrator.gamma: must be a number, got 'x'",
        "integrator.rounds: must be an integer, got 0.5"]
    assert out["same"]  # gamma = 1 halves each step: Euler at dt/2, bit for bit
    assert out["sweep"] == ["done", "done"]


def test_register_names_a_parameter_whose_type_clashes():
    def clash(dt, tau=1):  # momentum's tau is a float
        return integrators.euler(dt)

    with pytest.raises(ValueError, match="parameter tau of integrator 'clash' is int"):
        integrators.register("clash", clash)
    assert "clash" not in integrators.INTEGRATORS
    assert integrators.parameters("adaptive")["dt_max"] == (float, False)
    with pytest.raises(ValueError, match="unknown integrator 'nope'"):
        integrators.parameters("nope")


class Heun:
    """Heun's method for dw/dt = v(w), written against the Integrator protocol from
    outside the package (no base class): second order, one step per call, no ensemble
    form."""

    name = "heun"
    fixed_dt, fast_forward, stochastic, deterministic_only, batched = True, False, False, \
        False, None

    def __init__(self, dt: float):
        self.dt = float(dt)
        self.params = {"dt": self.dt}

    def init(self, w: np.ndarray, field: VelocityField, seed: int = 0) -> State:
        return initial_state(w, self.dt, seed)

    def step(self, state: State, field: VelocityField, cap: float | None = None) -> State:
        h = state.dt if cap is None else min(state.dt, cap)
        v = field.velocity(state.w, None)
        w = state.w + 0.5 * h * (v + field.velocity(state.w + h * v, None))
        t = (state.step + 1) * state.dt if h == state.dt else state.t + h
        return replace(state, w=w, t=t, step=state.step + 1)


def test_an_integrator_written_against_the_protocol_runs_and_is_second_order():
    """Heun's method, written outside the package against the Integrator protocol (no
    ensemble form): simulate and simulate_many run it (member by member, equal to the
    serial runs), and halving dt divides its error by 4 (order 2) against DOP853."""
    teacher = mf.Network.init(3, 3, sphere=True, output="sign", alpha=3.0, seed=0)
    pop = mf.GaussianPopulation(teacher, backend="numpy")
    net = mf.Network.init(6, 3, activation="erf", tau=0.7, seed=5)
    heun: Integrator = Heun(0.1)  # a type checker checks the protocol here
    assert isinstance(heun, Integrator)
    reference = mf.simulate(net, pop, integrators.make("ode", rtol=1e-12, atol=1e-14), 1.0,
                            record=mf.LinearSchedule(2)).final.w
    errors = [np.abs(mf.simulate(net, pop, Heun(dt), 1.0, record=mf.LinearSchedule(2))
                     .final.w - reference).max() for dt in (0.1, 0.05)]
    assert 3.2 < errors[0] / errors[1] < 4.8
    nets = [net, mf.Network.init(6, 3, activation="erf", tau=0.7, seed=6)]
    many = mf.simulate_many(nets, pop, Heun(0.1), 0.95, record=mf.LinearSchedule(4))
    for member, alone in zip(many, (mf.simulate(n, pop, Heun(0.1), 0.95,
                                                record=mf.LinearSchedule(4)) for n in nets),
                             strict=True):
        assert np.array_equal(member.times, alone.times) and member.times[-1] == 0.95
        assert np.array_equal(member.snapshots, alone.snapshots)


@pytest.mark.parametrize("name", ["adaptive", "ode"])
def test_configs_refuse_online_objectives_for_deterministic_only_integrators(name):
    assert integrators.make(name).deterministic_only
    with pytest.raises(mf.ConfigError, match=f"^integrator.name: the {name} integrator needs "
                                             f"a deterministic objective"):
        mf.Config.from_dict({"objective": {"kind": "online"}, "integrator": {"name": name}})
