"""What an objective is: the required :class:`Objective` protocol (what every integrator
uses) and the optional capabilities an objective may offer, each a ``runtime_checkable``
protocol: an exact Hessian (:class:`OffersHessian`, theory §12), a stacked form for
ensembles (:class:`OffersEnsemble`, theory §10) and one objective per member
(:class:`PerMember`).

For the alpha family (theory §1) the objective is J = R(f)/alpha^2 and the particle
velocity is v_i = -m grad_{w_i} J = -(1/alpha) E[l'(f(x), y) . grad_w phi(w_i, x)].
An objective of your own needs no base class: any object with the members of
:class:`Objective` runs under every integrator (the integrators never ask which class it
is; :class:`meanfield.dynamics.protocols.Field` turns it into the integrators'
:class:`meanfield.dynamics.protocols.VelocityField`). At run time an integrator calls only
what it needs (``risk`` and ``velocity`` always, ``minibatch_velocity`` for SGD,
``probe_outputs`` for step control), and an absent ``stochastic`` reads as False
(:func:`is_stochastic`). A wrapper that forwards members through ``__getattr__`` should
define the optional capabilities on its class: from Python 3.12, ``isinstance`` against a
protocol does not see forwarded attributes.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..model.network import Network

__all__ = ["HessianOperator", "Objective", "OffersEnsemble", "OffersHessian", "PerMember",
           "Stacked", "is_stochastic"]


@runtime_checkable
class Objective(Protocol):
    """An objective of one network (theory §1):

    * ``risk(net)``: R, e.g. 1/2 E[(f - y)^2] for the square loss;
    * ``velocity(net, rng=None)``: v_i = -m grad_{w_i}(R/alpha^2), shape (m, p) (a
      stochastic objective draws its data from ``rng``);
    * ``minibatch_velocity(net, rng, batch)``: the velocity of a random minibatch (SGD);
    * ``probe_outputs(net)``: outputs on fixed probe inputs (what step control watches);
    * ``stochastic``: True when ``velocity`` itself draws random data, so that neither
      deterministic step control nor fixed-point detection applies.

    >>> import meanfield as mf
    >>> teacher = mf.Network.init(2, 3, seed=0)
    >>> isinstance(mf.GaussianPopulation(teacher, backend="numpy"), Objective)
    True
    """

    @property
    def stochastic(self) -> bool: ...

    def risk(self, net: Network) -> float: ...

    def velocity(self, net: Network, rng: np.random.Generator | None = None) -> np.ndarray: ...

    def minibatch_velocity(self, net: Network, rng: np.random.Generator,
                           batch: int) -> np.ndarray: ...

    def probe_outputs(self, net: Network) -> np.ndarray: ...


def is_stochastic(objective: object) -> bool:
    """Whether ``objective``'s velocity draws random data itself (``stochastic``; an
    objective without that attribute is deterministic). Read as a plain attribute: an
    ``isinstance`` check of a data member costs tens of microseconds and, from Python
    3.12, misses attributes forwarded by ``__getattr__``.

    >>> import meanfield as mf
    >>> teacher = mf.Network.init(2, 3, seed=0)
    >>> is_stochastic(mf.Online(teacher, backend="numpy")), is_stochastic(object())
    (True, False)
    """
    return bool(getattr(objective, "stochastic", False))


class HessianOperator(Protocol):
    """The exact Hessian H = m grad^2 (R/alpha^2) at a network (theory §12): ``dense()``
    the (m p, m p) matrix, ``matvec(v)`` the product with v (m, p)."""

    def dense(self) -> np.ndarray: ...

    def matvec(self, v: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class OffersHessian(Protocol):
    """Optional: the exact Hessian of the objective at ``net``, whose negative is the
    velocity's Jacobian (implicit ODE integrators and critical points use it)."""

    def hessian_operator(self, net: Network, backend: str | None = None
                         ) -> HessianOperator: ...


class Stacked(Protocol):
    """An objective of S networks stacked as W (S, m, p) (theory §10): member s of every
    result is what the single objective of member s gives at W[s]; a stochastic one draws
    member s's data from ``gens[s]``."""

    @property
    def stochastic(self) -> bool: ...

    def velocity(self, W: np.ndarray,
                 gens: Sequence[np.random.Generator] | None = None) -> np.ndarray: ...

    def minibatch_velocity(self, W: np.ndarray, gens: Sequence[np.random.Generator],
                           batch: int) -> np.ndarray: ...

    def probe_outputs(self, W: np.ndarray) -> np.ndarray: ...

    def risk(self, W: np.ndarray) -> np.ndarray: ...

    def subset(self, idx: Any) -> Stacked: ...


@runtime_checkable
class OffersEnsemble(Protocol):
    """Optional: the stacked form of the objectives of an ensemble (one (S, m, p) array
    per step), or None when the members cannot share a stack (then each member is
    evaluated on its own)."""

    def ensemble(self, nets: Sequence[Network],
                 objectives: Sequence[Any]) -> Stacked | None: ...


@runtime_checkable
class PerMember(Protocol):
    """Optional: one objective per member of an ensemble (e.g. ``Empirical`` on X of
    shape (S, n, d)); ``members`` is None when the object is a single objective."""

    @property
    def members(self) -> Sequence[Objective] | None: ...
