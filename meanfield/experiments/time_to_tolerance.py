"""Time to a tolerance: what each integrator needs to bring R/R0 below 1e-10 (theory §10.6).

From the same initial particles, each method runs until the relative population risk
R/R0 (R0 = the risk of the zero predictor) falls below ``tol``, and reports the velocity
evaluations, the exact Hessians (dense Jacobians or refine's Hessians), the mean-field
time t reached and the wall time. The risk is checked after every step (every
EULER_CHECK steps for Euler); the time spent checking is not counted.

* "euler": explicit Euler with dt = EULER_DT[activation], about 1.5 / the largest
  Hessian eigenvalue met along these flows (relu: 3, erf: 13), so stable;
* "adaptive": the adaptive Euler step of the global-convergence runs (dt = 0.01 at
  first, dt_max = 5);
* "DOP853", "Radau": :func:`meanfield.dynamics.ode.ode` with rtol = RTOL, atol = ATOL (Radau with
  the exact Jacobian -H);
* "flow+refine": DOP853 until R/R0 <= SWITCH, then ``refine(tol=1e-12)``; should the
  refined point miss ``tol`` (the flow was still in the basin of a saddle or of a
  spurious minimum), the flow continues to the next decade of R/R0 and refine is tried
  again, until T_MAX.

A method that reaches neither ``tol`` by T_MAX nor within MAX_EVALUATIONS velocity
evaluations reports ``reached = False`` and the risk where it stopped.


The global-convergence experiment compares the methods with it; group "ode" of
``meanfield bench`` (benchmarks/ode.py) times them.
"""
from __future__ import annotations

import inspect
import time

import numpy as np

from ..analysis.critical import refine
from ..dynamics.integrators import adaptive, euler
from ..dynamics.ode import ode
from ..dynamics.trajectory import Divergence, LinearSchedule, simulate

METHODS = ("euler", "adaptive", "DOP853", "Radau", "flow+refine")
TOL = 1e-10
EULER_DT = {"relu": 0.5, "erf": 0.1}
EULER_CHECK = 10
RTOL, ATOL = 1e-8, 1e-10
SWITCH = 1e-2
T_MAX = 1e6
MAX_EVALUATIONS = 500_000


class Counting:
    """An objective that counts the velocity evaluations and Hessians asked of it and
    otherwise is the objective it wraps (integrators and refine use what it offers)."""

    def __init__(self, objective):
        self.objective = objective
        self.velocities = 0
        self.hessians = 0

    def velocity(self, net, rng=None):
        self.velocities += 1
        return self.objective.velocity(net, rng=rng)

    def hessian_operator(self, net, backend=None):
        self.hessians += 1
        return self.objective.hessian_operator(net, backend)

    def __getattr__(self, name):
        if name == "ensemble":   # no stacked form: every velocity goes through velocity()
            raise AttributeError(name)
        return getattr(self.objective, name)


class _Reached(Exception):
    pass


class _OutOfBudget(Exception):
    pass


def _flow(net, objective, integrator, r0, tol, t_max, counting, budget, every=1):
    """Run ``integrator`` until R/R0 < tol; returns (network, t, seconds spent checking,
    reached)."""
    checking = [0.0]
    hit = {}
    options = {}
    if "callback_every" in inspect.signature(simulate).parameters:
        options["callback_every"] = every   # a simulate that calls back once per block

    def check(state, recorder):
        if every > 1 and state.step % every:
            return
        start = time.perf_counter()
        relative = objective.risk(net.with_w(state.w)) / r0
        checking[0] += time.perf_counter() - start
        if relative < tol:
            hit.update(w=np.array(state.w), t=state.t)
            raise _Reached
        if counting.velocities > budget:
            hit.update(w=np.array(state.w), t=state.t)
            raise _OutOfBudget
    try:
        traj = simulate(net, counting, integrator, t_max, record=LinearSchedule(2),
                        on_step=check, **options)
        return traj.final, float(traj.state.t), checking[0], False
    except Divergence as err:
        return net, err.t, checking[0], False
    except _Reached:
        return net.with_w(hit["w"]), hit["t"], checking[0], True
    except _OutOfBudget:
        return net.with_w(hit["w"]), hit["t"], checking[0], False


def time_to_tolerance(net, objective, method: str, r0: float, tol: float = TOL,
                      t_max: float = T_MAX, max_evaluations: int = MAX_EVALUATIONS) -> dict:
    """Velocity evaluations, Hessians, mean-field time and wall time ``method`` (one of
    :data:`METHODS`) needs from ``net`` to R/R0 < ``tol`` on ``objective``, giving up at
    ``t_max`` or after ``max_evaluations`` velocity evaluations."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    counting = Counting(objective)
    start = time.perf_counter()
    refines = 0
    if method == "flow+refine":
        end, t, checking, reached = net, 0.0, 0.0, False
        switch = SWITCH
        while t < t_max and counting.velocities <= max_evaluations:
            end, t_flow, spent, below = _flow(
                end, objective, ode("DOP853", rtol=RTOL, atol=ATOL), r0, max(switch, tol),
                t_max - t, counting, max_evaluations)
            t, checking = t + t_flow, checking + spent
            if not below:                            # t_max or the budget
                break
            if objective.risk(end) / r0 < tol:
                reached = True
                break
            refined, _ = refine(end, counting, tol=1e-12)   # polish to a critical point
            refines += 1
            if objective.risk(refined) / r0 < tol:
                end, reached = refined, True
                break
            switch /= 10
    else:
        integrator = {"euler": lambda: euler(EULER_DT[net.activation.name]),
                      "adaptive": lambda: adaptive(dt=0.01, dt_max=5.0),
                      "DOP853": lambda: ode("DOP853", rtol=RTOL, atol=ATOL),
                      "Radau": lambda: ode("Radau", rtol=RTOL, atol=ATOL)}[method]()
        end, t, checking, reached = _flow(net, objective, integrator, r0, tol, t_max,
                                          counting, max_evaluations,
                                          EULER_CHECK if method == "euler" else 1)
    wall = time.perf_counter() - start - checking
    return {"method": method, "reached": bool(reached), "t": float(t),
            "velocity_evaluations": counting.velocities, "hessians": counting.hessians,
            "refines": refines, "seconds": wall,
            "relative_risk": float(objective.risk(end) / r0)}


