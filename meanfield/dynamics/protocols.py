"""What an integrator is and what it works on: the frozen :class:`State`, the velocity
fields (:class:`VelocityField` for one network, :class:`EnsembleField` for S stacked
ones) and the :class:`Integrator` protocol with its capabilities (theory §10).

Units are mean-field time (theory §1.2): the velocity of particle i is
v(w_i) = -m grad_{w_i} J with J = R/alpha^2, so a gradient-flow step of size dt moves
every particle by dt v(w_i) whatever m is. A state carries the numpy bit-generator state
of its random stream, so a run restarted from a saved state continues bit for bit.

An integrator of your own needs no base class: any object with the members of
:class:`Integrator` works in ``simulate``, ``simulate_many``, configs and sweeps.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..model.network import Network
from ..objectives.protocol import Objective, is_stochastic

__all__ = ["EnsembleField", "EulerSteps", "Field", "Integrator", "OffersEulerSteps", "State",
           "VelocityField", "initial_state"]


@dataclass(frozen=True)
class State:
    """A simulation state: particles ``w`` (m, p), time ``t``, number of accepted steps,
    the current step size ``dt``, auxiliary arrays ``aux`` (momentum ``v``, cached
    velocity ``g``, ...) and the bit-generator state ``rng`` of the run's random stream.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> s = mf.integrators.initial_state(np.zeros((2, 3)), dt=0.1, seed=1)
        >>> s.t, s.step, s.dt
        (0.0, 0, 0.1)
        >>> same = mf.integrators.initial_state(np.zeros((2, 3)), 0.1, 1)
        >>> bool(s.generator().standard_normal() == same.generator().standard_normal())
        True
    """

    w: np.ndarray
    t: float
    step: int
    dt: float
    rng: Mapping[str, Any]
    aux: Mapping[str, np.ndarray] = field(default_factory=lambda: MappingProxyType({}))

    def generator(self) -> np.random.Generator:
        """A fresh Generator positioned at this state's random stream."""
        bit_generator = getattr(np.random, self.rng["bit_generator"])()
        bit_generator.state = dict(self.rng)
        return np.random.Generator(bit_generator)


def initial_state(w: np.ndarray, dt: float, seed: int | np.random.SeedSequence = 0,
                  aux: Mapping[str, np.ndarray] | None = None) -> State:
    """The state at t = 0: particles ``w`` (copied), step size ``dt`` and a PCG64 stream
    seeded by ``seed`` (an int or a SeedSequence).

    >>> initial_state(np.ones((1, 2)), 0.5).rng["bit_generator"]
    'PCG64'
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    return State(w=np.array(w, copy=True), t=0.0, step=0, dt=float(dt),
                 rng=rng.bit_generator.state, aux=MappingProxyType(dict(aux or {})))


@runtime_checkable
class VelocityField(Protocol):
    """The velocity field of one network: ``velocity(w, rng)`` is the mean-field
    velocity v(w_i) = -m grad_{w_i}(R/alpha^2) (theory §1.2; a stochastic objective draws
    its batch from ``rng``), ``minibatch(w, rng, batch)`` that of a random minibatch,
    ``outputs(w)`` the outputs on probe inputs, ``network(w)`` the network at ``w``."""

    @property
    def stochastic(self) -> bool: ...

    def network(self, w: np.ndarray) -> Network: ...

    def velocity(self, w: np.ndarray, rng: np.random.Generator | None) -> np.ndarray: ...

    def minibatch(self, w: np.ndarray, rng: np.random.Generator,
                  batch: int) -> np.ndarray: ...

    def outputs(self, w: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class EnsembleField(Protocol):
    """The velocity field of S networks stacked as W (S, m, p), each member drawing from
    its own generator in ``gens``: member s of every result is what the single field of
    member s returns for W[s]."""

    @property
    def stochastic(self) -> bool: ...

    def velocity(self, W: np.ndarray,
                 gens: Sequence[np.random.Generator] | None) -> np.ndarray: ...

    def minibatch(self, W: np.ndarray, gens: Sequence[np.random.Generator],
                  batch: int) -> np.ndarray: ...

    def outputs(self, W: np.ndarray) -> np.ndarray: ...


#: (W (S, m, p), h (S,), n) -> (W after n Euler steps, W after n - 1)
EulerSteps = Callable[[np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]]


@runtime_checkable
class OffersEulerSteps(Protocol):
    """Optional capability of a deterministic ensemble field: ``euler_steps`` (None where
    not offered) advances every member by n explicit Euler steps w <- w + h_s v(w)
    (theory §10.1) in one call, with the same bits as n steps through ``velocity``;
    the Euler integrator uses it for its blocks of steps."""

    euler_steps: EulerSteps | None


class Field:
    """The :class:`VelocityField` of an objective at a network's particles, from what
    the objective offers (``velocity``, ``minibatch_velocity``, ``probe_outputs``,
    ``stochastic``: :class:`meanfield.objectives.protocol.Objective`).

    >>> import meanfield as mf
    >>> teacher = mf.Network.init(2, 3, seed=0)
    >>> net = mf.Network.init(4, 3, seed=1)
    >>> Field(net, mf.GaussianPopulation(teacher, backend="numpy")).velocity(net.w, None).shape
    (4, 4)
    """

    def __init__(self, net: Network, objective: Objective):
        self.net, self.objective = net, objective
        self._stochastic = is_stochastic(objective)

    @property
    def stochastic(self) -> bool:
        """True when the objective's velocity draws random data itself."""
        return self._stochastic

    def network(self, w: np.ndarray) -> Network:
        return self.net.with_w(w)

    def velocity(self, w: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        return self.objective.velocity(self.net.with_w(w), rng=rng)

    def minibatch(self, w: np.ndarray, rng: np.random.Generator, batch: int) -> np.ndarray:
        return self.objective.minibatch_velocity(self.net.with_w(w), rng, batch)

    def outputs(self, w: np.ndarray) -> np.ndarray:
        return self.objective.probe_outputs(self.net.with_w(w))


@runtime_checkable
class Integrator(Protocol):
    """An integrator (theory §10): ``init(w, field, seed) -> State`` and
    ``step(state, field, cap) -> State``, one accepted step of size at most ``cap``
    (None: no cap), over a :class:`VelocityField`. ``name`` and ``params`` (its
    parameters by name, per member of an ensemble) describe it; what it offers the
    stepping loop are typed capabilities, never its name:

    * ``fixed_dt``: steps of the fixed size ``params["dt"]`` on the grid t = n dt (records
      snapped to the grid, only the last step shortened to land on t_end); False: the
      integrator controls its step and is capped to land on every record time;
    * ``fast_forward``: a step that leaves every particle bit for bit where it was, on a
      deterministic field, would do so forever (an exact fixed point of the flow), so the
      remaining records may be taken at once;
    * ``stochastic``: the integrator draws random numbers itself (noise, minibatches);
    * ``deterministic_only``: it refuses stochastic objectives (e.g. ``Online``);
    * ``batched``: its ensemble form (:class:`meanfield.dynamics.forms.Lockstep` or
      :class:`meanfield.dynamics.forms.Attempts`), stepping S members as one (S, m, p)
      array; None: ensembles call ``step`` member by member.

    The stepping loop only reads these members: plain attributes, class attributes or
    frozen dataclass fields all satisfy the protocol (no base class needed).

    >>> from meanfield.dynamics.integrators import euler
    >>> isinstance(euler(0.1), Integrator), euler(0.1).fast_forward
    (True, True)
    """

    @property
    def name(self) -> str: ...

    @property
    def params(self) -> Mapping[str, Any]: ...

    @property
    def fixed_dt(self) -> bool: ...

    @property
    def fast_forward(self) -> bool: ...

    @property
    def stochastic(self) -> bool: ...

    @property
    def deterministic_only(self) -> bool: ...

    @property
    def batched(self) -> Any: ...

    def init(self, w: np.ndarray, field: VelocityField, seed: Any = 0) -> State: ...

    def step(self, state: State, field: VelocityField,
             cap: float | None = None) -> State: ...
