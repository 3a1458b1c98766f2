"""ODE integrators: scipy's error-controlled solvers stepped inside ``simulate`` (theory §10.6).

:func:`ode` follows the mean-field gradient flow dw/dt = v(w) (the particles flattened
to one vector of m p numbers) with one of the solvers that ``scipy.integrate.solve_ivp``
runs: the explicit Runge-Kutta pairs "DOP853" (order 8) and "RK45" (order 5), the
implicit "Radau" (order 5) and "BDF" (orders 1-5), and "LSODA", which switches between
Adams and BDF as the problem turns stiff. The solver is a ``scipy.integrate.OdeSolver``
advanced one of its own steps per ``step`` call, so ``simulate``'s records, ``on_step``
callbacks and checkpoints work as for every integrator:

* ``step(state, field, cap)`` takes one solver step unless the solver is already past
  t + cap, and returns the state at min(solver time, t + cap): record times (and t_end)
  are read from the solver's dense output, never by shortening its steps;
* the live solver is kept in the integrator's closure (one per network and objective
  stepped, so ensemble members stepped in turn keep theirs) and reused while the
  incoming state is the one it returned last (the same particle array, or an equal copy
  at the same time, as a caller that copies states hands back); otherwise it is rebuilt
  from the state. Explicit Runge-Kutta continues bit-for-bit: the state's
  auxiliary arrays hold the solver's time, the start of its last step and its next step
  size, so the rebuilt solver takes the same steps (a state read from the dense output
  is restored by re-taking the step it lies in; float32 states hold rounded copies of
  the solver's float64 vector, so bit for bit needs float64 particles). Radau, BDF and
  LSODA restart from (t, w) with the state's dt as first step: their Jacobian, history
  and order are rebuilt, and a continued run agrees with an uninterrupted one within
  the tolerances;
* implicit methods get the exact Jacobian of the velocity, -H with H the Hessian of
  :mod:`meanfield.objectives.hessian`, from ``objective.hessian_operator(net).dense()`` when the
  objective offers it and m p <= DENSE_MAX; otherwise scipy estimates it by finite
  differences, m p velocity evaluations each time it is needed.

``state.dt`` is the solver's next step size; ``state.aux["evaluations"]`` counts the
velocity evaluations (finite-difference Jacobians and dense output included) and
``state.aux["jacobians"]`` the exact Jacobians, both cumulative over a resumed run.
Deterministic objectives only.
"""
from __future__ import annotations

import math
from dataclasses import replace
from types import MappingProxyType
from typing import Any

import numpy as np

from .forms import Scheme, positive
from ..objectives.protocol import OffersHessian
from .protocols import Integrator, State, VelocityField, initial_state

#: explicit Runge-Kutta pairs (restored bit-for-bit from a state)
EXPLICIT = ("DOP853", "RK45")
#: implicit and multistep solvers (given the exact Jacobian)
IMPLICIT = ("Radau", "BDF", "LSODA")
METHODS = EXPLICIT + IMPLICIT


#: live solvers kept per integrator (one per network and objective pair stepped)
LIVE_MAX = 64


def _key(field: Any) -> tuple[int, int]:
    """What a live solver integrates: the field's network and objective (a Field built
    again for the same pair continues the same flow)."""
    return (id(getattr(field, "net", field)), id(getattr(field, "objective", field)))


class _Live:
    """A running solver: the field it integrates, the state it returned last (time and
    particles), its counters and the dense output of its current step (computed once)."""

    def __init__(self, solver: Any, field: Any, shape: tuple[int, ...], dtype: Any,
                 counts: dict[str, int]) -> None:
        self.solver, self.field, self.shape, self.dtype = solver, field, shape, dtype
        self.counts = counts
        self.t: float | None = None
        self.w: np.ndarray | None = None
        self.interpolant: Any = None

    def continues(self, state: State, field: Any) -> bool:
        """Whether ``state`` is the one this solver returned last, for the same network
        and objective: the same array, or an equal copy at the same time."""
        if getattr(self.field, "net", self.field) is not getattr(field, "net", field) or \
                getattr(self.field, "objective", self.field) is not \
                getattr(field, "objective", field):
            return False
        self.field = field
        last = self.w
        return state.w is last or (last is not None and state.t == self.t
                                   and state.w.shape == last.shape
                                   and state.w.dtype == last.dtype
                                   and np.array_equal(state.w, last))


def ode(method: str = "DOP853", rtol: float = 1e-8, atol: float = 1e-10,
        dt: float | None = None, dt_max: float | None = None,
        jacobian: bool = True) -> Integrator:
    """The gradient flow dw/dt = v(w) solved by scipy's ``method`` (theory §10.6).

    ``method``: "DOP853", "RK45", "Radau", "BDF" or "LSODA" (:data:`METHODS`).
    ``rtol``, ``atol``: the solver's relative and absolute tolerances on the particles
    (per coordinate: error <= atol + rtol |w|). ``dt``: the first step (None: scipy's
    choice). ``dt_max``: a cap on the step (None: none). ``jacobian``: give the implicit
    methods the exact Jacobian -H (False: scipy's finite differences, m p velocity
    evaluations per Jacobian). See the module docstring for stepping, records and resume.

    Examples:

        >>> import meanfield as mf
        >>> mf.integrators.ode(method="Radau").params["method"], mf.integrators.ode().fixed_dt
        ('Radau', False)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    params: dict[str, Any] = {"method": method, "rtol": positive("rtol", rtol),
                              "atol": positive("atol", atol), "jacobian": bool(jacobian)}
    if dt is not None:
        params["dt"] = positive("dt", dt)
    if dt_max is not None:
        params["dt_max"] = positive("dt_max", dt_max)
    lives: dict[tuple, _Live] = {}

    def build(field: Any, t: float, w: np.ndarray, first_step: float | None,
              counts: dict[str, int], dtype: Any) -> _Live:
        from scipy import integrate

        shape = w.shape

        def velocity(_: float, y: np.ndarray) -> np.ndarray:
            counts["evaluations"] += 1
            v = field.velocity(y.reshape(shape).astype(dtype, copy=False), None)
            return np.asarray(v, dtype=np.float64).ravel()

        options = {"rtol": params["rtol"], "atol": params["atol"],
                   "max_step": params.get("dt_max", np.inf), "first_step": first_step}
        if method in IMPLICIT and params["jacobian"] and _exact_jacobian(field, w, dtype):
            def jac(_: float, y: np.ndarray) -> np.ndarray:
                counts["jacobians"] += 1
                net = field.network(y.reshape(shape).astype(dtype, copy=False))
                return np.negative(field.objective.hessian_operator(net).dense())
            options["jac"] = jac
        y0 = np.array(w, dtype=np.float64).ravel()
        solver = getattr(integrate, method)(velocity, float(t), y0, np.inf, **options)
        live = _Live(solver, field, shape, dtype, counts)
        lives.pop(_key(field), None)
        while len(lives) >= LIVE_MAX:
            lives.pop(next(iter(lives)))
        lives[_key(field)] = live
        return live

    def emit(state: State, live: _Live, t: float, y: np.ndarray, steps: int) -> State:
        solver = live.solver
        w = np.array(y.reshape(live.shape), dtype=live.dtype)
        aux = {"evaluations": np.array(live.counts["evaluations"], dtype=np.int64),
               "jacobians": np.array(live.counts["jacobians"], dtype=np.int64),
               "ode_t": np.array(float(solver.t))}
        if method in EXPLICIT:
            started = solver.t_old is not None
            aux["ode_t_old"] = np.array(float(solver.t_old if started else solver.t))
            aux["ode_w_old"] = np.array((solver.y_old if started else solver.y)
                                        .reshape(live.shape))
            aux["ode_h_abs"] = np.array(float(solver.h_abs))
        live.t, live.w = float(t), w
        return replace(state, w=w, t=float(t), step=int(steps), dt=_next_step(solver, state.dt),
                       aux=MappingProxyType(aux))

    def init(w: np.ndarray, field: VelocityField, seed: Any = 0) -> State:
        if field.stochastic:
            raise ValueError("the ode integrators need a deterministic objective, not a "
                             "stochastic one such as Online")
        w = np.asarray(w)
        state = initial_state(w, params.get("dt", 0.0), seed)
        live = build(field, 0.0, state.w, params.get("dt"),
                     {"evaluations": 0, "jacobians": 0}, state.w.dtype)
        return emit(state, live, 0.0, live.solver.y, 0)

    def restore(state: State, field: Any) -> _Live:
        """A solver continuing from ``state`` (see the module docstring)."""
        aux = state.aux
        counts = {"evaluations": int(aux.get("evaluations", 0)),
                  "jacobians": int(aux.get("jacobians", 0))}
        w = np.asarray(state.w)
        if method in EXPLICIT and "ode_h_abs" in aux:
            t_solver, t_old = float(aux["ode_t"]), float(aux["ode_t_old"])
            h_abs = float(aux["ode_h_abs"])
            if state.t == t_solver:
                return build(field, state.t, w, h_abs, counts, w.dtype)
            if t_old < state.t < t_solver:   # inside a step: take that step again
                live = build(field, t_old, np.asarray(aux["ode_w_old"]), t_solver - t_old,
                             counts, w.dtype)
                live.solver.step()
                live.solver.h_abs = h_abs
                return live
        return build(field, state.t, w, state.dt if state.dt > 0 else None, counts, w.dtype)

    def step(state: State, field: VelocityField, cap: float | None = None) -> State:
        live = lives.get(_key(field))
        if live is None or not live.continues(state, field):
            if field.stochastic:
                raise ValueError("the ode integrators need a deterministic objective")
            live = restore(state, field)
        if cap is not None and cap <= 0:
            return state
        solver = live.solver
        target = math.inf if cap is None else state.t + cap
        steps = state.step
        if solver.t < target:
            message = solver.step()
            steps += 1
            live.interpolant = None
            if solver.status == "failed" or not np.all(np.isfinite(solver.y)):
                raise FloatingPointError(f"{method} failed at t={solver.t:g}: "
                                         f"{message or 'non-finite particles'}")
        if solver.t <= target:
            return emit(state, live, solver.t, solver.y, steps)
        if live.interpolant is None:
            live.interpolant = solver.dense_output()
        return emit(state, live, target, live.interpolant(target), steps)

    return Scheme("ode", MappingProxyType(params), init, step, fixed_dt=False,
                  deterministic_only=True)


def _exact_jacobian(field: Any, w: np.ndarray, dtype: Any) -> bool:
    """Whether the objective offers its Hessian at this network (it may refuse one, e.g.
    for a student and a teacher of different activations: SciPy's finite differences then
    stand in) and m p is small enough to form it."""
    from ..objectives.hessian import DENSE_MAX

    if not isinstance(field.objective, OffersHessian) or w.size > DENSE_MAX:
        return False
    try:
        field.objective.hessian_operator(field.network(w.astype(dtype, copy=False)))
    except NotImplementedError:
        return False
    return True


def _next_step(solver: Any, fallback: float) -> float:
    """The step the solver will try next (LSODA: the last one it took)."""
    h = getattr(solver, "h_abs", None)
    if h is None:
        h = solver.step_size
    return float(fallback if h is None else h)

