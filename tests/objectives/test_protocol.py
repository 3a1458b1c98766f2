"""An objective written outside the package, from the contract alone
(meanfield.objectives.protocol.Objective), run by simulate and simulate_many under
several integrators: a quadratic well J = |w - w*|^2 / 2 per particle, whose gradient flow
w(t) = w* + (w0 - w*) e^{-t} and Euler steps w_n = w* + (w0 - w*)(1 - dt)^n are known.
mypy accepts it as an Objective, and the package's objectives too."""
from __future__ import annotations

import doctest

import numpy as np

import meanfield as mf
from meanfield.objectives import protocol


USER_OBJECTIVE = '''
from __future__ import annotations

import numpy as np

from meanfield import Network


class Well:
    """J = sum_i |w_i - w*|^2 / (2 m): velocity v_i = -m grad_i J = w* - w_i."""

    stochastic = False

    def __init__(self, target: np.ndarray) -> None:
        self.target = target

    def risk(self, net: Network) -> float:
        return float(0.5 * np.mean(np.sum((net.w - self.target) ** 2, axis=1)))

    def velocity(self, net: Network, rng: np.random.Generator | None = None) -> np.ndarray:
        return self.target - net.w

    def minibatch_velocity(self, net: Network, rng: np.random.Generator,
                           batch: int) -> np.ndarray:
        return self.velocity(net)

    def probe_outputs(self, net: Network) -> np.ndarray:
        return net.w.copy()
'''

namespace: dict = {}
exec(USER_OBJECTIVE, namespace)
Well = namespace["Well"]


def problem():
    net = mf.Network.init(6, 3, seed=1)
    target = np.random.default_rng(0).standard_normal(net.w.shape[1])
    return net, Well(target), target


def test_the_user_objective_satisfies_the_protocol_and_offers_nothing_optional():
    _, well, _ = problem()
    assert isinstance(well, protocol.Objective) and not protocol.is_stochastic(well)
    assert not isinstance(well, (protocol.OffersHessian, protocol.OffersEnsemble))


def test_euler_steps_and_the_ode_flow_match_the_closed_forms():
    net, well, target = problem()
    dt, t_end = 0.1, 2.0
    euler = mf.simulate(net, well, mf.integrators.euler(dt), t_end, record=mf.LinearSchedule(3))
    n = round(t_end / dt)
    np.testing.assert_allclose(euler.final.w, target + (net.w - target) * (1 - dt) ** n,
                               rtol=1e-12, atol=1e-12)
    flow = target + (net.w - target) * np.exp(-t_end)
    for integ, tol in ((mf.integrators.adaptive(0.1), 1e-2),
                       (mf.integrators.make("ode", method="RK45", rtol=1e-10, atol=1e-12), 1e-7)):
        traj = mf.simulate(net, well, integ, t_end, record=mf.LinearSchedule(3))
        assert np.max(np.abs(traj.final.w - flow)) < tol, integ.name
    assert euler.risk[-1] < euler.risk[0]


def test_an_ensemble_of_user_objectives_equals_its_serial_runs():
    net, well, target = problem()
    other = Well(-target)
    integ = mf.integrators.euler(0.05)
    ens = mf.simulate_many([net, net], [well, other], integ, 1.0, record=mf.LinearSchedule(2))
    for objective, traj in zip((well, other), ens, strict=True):
        alone = mf.simulate(net, objective, integ, 1.0, record=mf.LinearSchedule(2))
        np.testing.assert_array_equal(traj.final.w, alone.final.w)


def test_the_protocol_module_examples_run():
    results = doctest.testmod(protocol, optionflags=doctest.ELLIPSIS)
    assert results.attempted > 0 and results.failed == 0


MYPY_USER = USER_OBJECTIVE + '''

import meanfield as mf
from meanfield.objectives.protocol import Objective, OffersEnsemble, OffersHessian

teacher = mf.Network.init(2, 3)
mine: Objective = Well(np.zeros(4))
population: Objective = mf.GaussianPopulation(teacher)
empirical: Objective = mf.Empirical(np.zeros((2, 3)), np.zeros(2))
hessian: OffersHessian = mf.GaussianPopulation(teacher)
stacked: OffersEnsemble = mf.Online(teacher)


class NoVelocity:
    stochastic = False

    def risk(self, net: Network) -> float:
        return 0.0


wrong: Objective = NoVelocity()
'''


def test_mypy_accepts_the_user_objective_and_the_package_objectives(mypy_errors):
    errors, lines = mypy_errors(MYPY_USER, "user_objective.py")
    # exactly one error: NoVelocity lacks velocity, minibatch_velocity and probe_outputs
    assert len(errors) == 1, errors
    line = int(errors[0].split(":")[1])
    assert lines[line - 1].startswith("wrong: Objective"), errors
