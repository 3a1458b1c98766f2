"""The one form of every integrator: its ensemble form, of which a single run is a batch
of one (jax-md style: an ``init`` and a step over frozen states, theory §10).

An integrator is written once, for S members stacked as W (S, m, p):

* :class:`Lockstep` (fixed-dt integrators): ``run(W, aux, field, gens, P, h, n)``
  advances every member by ``n`` steps of sizes ``h`` (S,);
* :class:`Attempts` (accept/reject integrators): ``attempt(W, aux, field, dt_ctrl,
  caps)`` tries one step of every member and judges each alone.

Each form derives the integrator's single ``step(state, field, cap)`` by running the
state as a batch of one, so ``simulate`` (an ensemble of one), a member of an ensemble
and a hand-called ``step`` compute the same operations on the same numbers: the same
bits. :func:`lockstep` and :func:`attempts` build a :class:`Scheme` (an
:class:`meanfield.dynamics.protocols.Integrator`) from such a form.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

import numpy as np

from .protocols import State, VelocityField

__all__ = ["Attempt", "Attempts", "Aux", "Gens", "Params", "Run", "Lockstep", "Scheme",
           "advance", "attempts", "column", "lockstep", "positive"]

#: stacked auxiliary arrays by name, each member's generator, per-member parameters
Aux = Mapping[str, np.ndarray]
Gens = Sequence[np.random.Generator]
Params = Mapping[str, np.ndarray]
#: ``run(W, aux, field, gens, P, h, n) -> (W, aux, W before the last step)``
Run = Callable[..., tuple]
#: ``attempt(W, aux, field, dt_ctrl, caps) -> (accepted, W', aux', h, dt_ctrl')``
Attempt = Callable[..., tuple]


def positive(name: str, value: float, allow_zero: bool = False) -> float:
    """``value`` as a float, checked finite and > 0 (>= 0 with ``allow_zero``); else a
    ValueError naming ``name``.

    >>> positive("dt", 0.5)
    0.5
    """
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a {'non-negative' if allow_zero else 'positive'}"
                         f" finite number, got {value}")
    return value


def column(values: Any, dtype: Any) -> np.ndarray:
    """Per-member scalars as an (S, 1, 1) array in the particles' dtype: multiplying by it
    is the same IEEE operation, member by member, as multiplying by a Python float.

    >>> column([0.5, 2.0], np.float32).shape, column([0.5], np.float32).dtype
    ((2, 1, 1), dtype('float32'))
    """
    return np.asarray(values, dtype=float).astype(dtype)[:, None, None]


def advance(state: State, w: np.ndarray, dt: float, rng: np.random.Generator | None = None,
            grid: bool = False, **aux: np.ndarray) -> State:
    """The next state after a step of size ``dt``; ``grid`` (a full step of a fixed-dt
    integrator) sets t = (step + 1) dt exactly, so times do not accumulate rounding.

    >>> from meanfield.dynamics.protocols import initial_state
    >>> s = advance(initial_state(np.zeros(1), 0.1), np.ones(1), 0.1, grid=True)
    >>> s.t, s.step, s.w
    (0.1, 1, array([1.]))
    """
    new_aux = MappingProxyType({**state.aux, **aux}) if aux else state.aux
    t = (state.step + 1) * state.dt if grid else state.t + dt
    return replace(state, w=w, t=t, step=state.step + 1, aux=new_aux,
                   rng=state.rng if rng is None else rng.bit_generator.state)


class _One:
    """A single :class:`VelocityField` seen as an ensemble field of one member
    (:class:`meanfield.dynamics.protocols.EnsembleField`)."""

    def __init__(self, field: VelocityField):
        self.field = field

    @property
    def stochastic(self) -> bool:
        return self.field.stochastic

    @property
    def nets(self) -> list[Any]:
        """The one network, as an ensemble field lists its members' (a :class:`Field`'s)."""
        return [self.field.net]  # type: ignore[attr-defined]

    @property
    def objectives(self) -> list[Any]:
        """The one objective, as an ensemble field lists its members' objectives."""
        return [self.field.objective]  # type: ignore[attr-defined]

    def velocity(self, W: np.ndarray, gens: Sequence[np.random.Generator] | None
                 ) -> np.ndarray:
        return self.field.velocity(W[0], None if gens is None else gens[0])[None]

    def minibatch(self, W: np.ndarray, gens: Sequence[np.random.Generator],
                  batch: int) -> np.ndarray:
        return self.field.minibatch(W[0], gens[0], batch)[None]

    def outputs(self, W: np.ndarray) -> np.ndarray:
        return self.field.outputs(W[0])[None]


def _stack(state: State, keys: Sequence[str]) -> dict[str, np.ndarray]:
    return {k: np.asarray(state.aux[k])[None] for k in keys if k in state.aux}


class Lockstep:
    """The form of a fixed-dt integrator: S members, particles stacked as W (S, m, p),
    advanced together by ``run(W, aux, field, gens, P, h, n)``: ``n`` steps of sizes
    ``h`` (S,) with per-member parameters ``P`` ({name: (S,)}), stacked auxiliary arrays
    ``aux`` (named by ``aux``), each member's live generator in ``gens`` and an
    :class:`EnsembleField`. Returns (W, aux, W before the last step). Member s draws
    from its own generator only, in the order it would alone."""

    def __init__(self, run: Run, aux: Sequence[str] = ()):
        self.run, self.aux = run, tuple(aux)

    def single(self, params: Mapping[str, Any]) -> Callable[..., State]:
        """``step(state, field, cap)``: one step of size min(dt, cap) as a batch of one
        (a full step lands on the grid t = (step + 1) dt)."""
        P = {k: np.array([v]) for k, v in params.items()}

        def step(state: State, field: VelocityField, cap: float | None = None) -> State:
            rng = state.generator()
            h = state.dt if cap is None else min(state.dt, cap)
            W, aux, _ = self.run(state.w[None], _stack(state, self.aux), _One(field), [rng],
                                 P, np.array([h]), 1)
            return advance(state, W[0], h, rng, grid=h == state.dt,
                           **{k: aux[k][0] for k in self.aux})
        return step


class Attempts:
    """The form of an accept/reject integrator: ``attempt(W, aux, field, dt_ctrl, caps)``
    tries one step of size h = min(dt_ctrl, cap) for every member and judges each alone;
    it returns (accepted (S,) bool, W', the auxiliary arrays to replace, h, dt_ctrl after
    the judgement). Members move on independently: a rejected one retries with its
    smaller dt while the accepted ones go on. Members share the integrator's parameters
    except dt; ``aux`` names the auxiliary arrays the states carry."""

    max_attempts = 60

    def __init__(self, attempt: Attempt, aux: Sequence[str] = ()):
        self.attempt, self.aux = attempt, tuple(aux)

    def single(self, params: Mapping[str, Any]) -> Callable[..., State]:
        """``step(state, field, cap)``: attempts as a batch of one until one is accepted
        (FloatingPointError after :attr:`max_attempts` rejections)."""

        def step(state: State, field: VelocityField, cap: float | None = None) -> State:
            aux, one = _stack(state, self.aux), _One(field)
            ctrl, caps = np.array([state.dt]), np.array([math.inf if cap is None else cap])
            for _ in range(self.max_attempts):
                ok, W, new_aux, h, ctrl = self.attempt(state.w[None], aux, one, ctrl, caps)
                if ok[0]:
                    new = advance(state, W[0], float(h[0]),
                                  **{k: v[0] for k, v in new_aux.items()})
                    return replace(new, dt=float(ctrl[0]))
            raise FloatingPointError(f"step rejected {self.max_attempts} times at "
                                     f"t={state.t:g} (dt fell to {ctrl[0]:.3g})")
        return step


@dataclass(frozen=True)
class Scheme:
    """An :class:`meanfield.dynamics.protocols.Integrator` as a frozen record: its name,
    parameters, ``init``, ``step`` and capabilities (see the protocol)."""

    name: str
    params: Mapping[str, Any]
    init: Callable[..., State]
    step: Callable[..., State]
    fixed_dt: bool = True
    fast_forward: bool = False
    stochastic: bool = False
    deterministic_only: bool = False
    batched: Lockstep | Attempts | None = None


def lockstep(name: str, params: Mapping[str, Any], init: Callable[..., State], run: Run,
             aux: Sequence[str] = (), **capabilities: bool) -> Scheme:
    """The fixed-dt integrator whose one form is ``run`` (see :class:`Lockstep`).

    >>> from meanfield.dynamics.protocols import initial_state
    >>> shift = lockstep("shift", {"dt": 0.5}, lambda w, field, seed=0:
    ...                  initial_state(w, 0.5, seed),
    ...                  lambda W, aux, field, gens, P, h, n: (W + n * h[:, None, None],
    ...                                                         aux, W))
    >>> shift.step(shift.init(np.zeros((1, 1)), None), None).w
    array([[0.5]])
    """
    form = Lockstep(run, aux)
    return Scheme(name, MappingProxyType(dict(params)), init, form.single(params),
                  batched=form, **capabilities)


def attempts(name: str, params: Mapping[str, Any], init: Callable[..., State],
             attempt: Attempt, aux: Sequence[str] = (), **capabilities: bool) -> Scheme:
    """The accept/reject integrator whose one form is ``attempt`` (see
    :class:`Attempts`); it controls its step (``fixed_dt`` False).

    >>> from meanfield.dynamics.protocols import initial_state
    >>> halve = attempts("halve", {"dt": 1.0}, lambda w, field, seed=0:
    ...                  initial_state(w, 1.0, seed),
    ...                  lambda W, aux, field, ctrl, caps: (ctrl <= 0.25, W + ctrl[:, None],
    ...                                                     {}, ctrl, ctrl / 2))
    >>> s = halve.step(halve.init(np.zeros((1, 1)), None), None)
    >>> s.w, s.dt   # rejected at dt = 1 and 0.5, accepted at 0.25
    (array([[0.25]]), 0.125)
    """
    form = Attempts(attempt, aux)
    return Scheme(name, MappingProxyType(dict(params)), init, form.single(params),
                  fixed_dt=False, batched=form, **capabilities)

