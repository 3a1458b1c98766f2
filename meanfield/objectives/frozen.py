"""Frozen parameter groups: an objective whose velocity vanishes on fixed columns (theory §1).

Committee machines keep the output weights c fixed, random-feature models the input
weights a, many settings the biases b. Freezing a group G of the packed layout
[c | a | b] (:mod:`meanfield.core.layout`) restricts the gradient flow to the free
parameters: the velocity becomes P v with P the projection onto the free columns, so
every deterministic integrator leaves frozen values bit for bit where they were
(w + h * 0 = w). Its Jacobian on the invariant subspace is -P H P, the Hessian of the
risk restricted to the free parameters (theory §12).

:class:`Frozen` wraps any objective and offers what the integrators use (``velocity``,
``minibatch_velocity``, ``probe_outputs``, ``risk``, ``stochastic``,
``hessian_operator``, ``ensemble``) plus ``free_columns(layout)``, which Langevin reads
to add neither noise nor weight decay on frozen groups.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..core.layout import Layout

#: parameter groups that can be frozen, in layout order
FROZEN_GROUPS = ("c", "a", "b")


def check_frozen(frozen: str | Iterable[str] | None,
                 layout: Layout | None = None) -> tuple[str, ...]:
    """The frozen groups as a tuple in layout order ("c", "a", "b"), duplicates dropped.

    ValueError naming ``frozen`` for an unknown group, for "b" on a network without
    biases, and for freezing every group of ``layout`` (nothing would move).

    >>> check_frozen(["a", "c", "c"])
    ('c', 'a')
    """
    if frozen is None:
        return ()
    if isinstance(frozen, str):
        frozen = (frozen,)
    try:
        named = list(frozen)
    except TypeError:
        raise ValueError(f"frozen must be a list of parameter groups among "
                         f"{', '.join(FROZEN_GROUPS)}, got {frozen!r}") from None
    for group in named:
        if not isinstance(group, str) or group not in FROZEN_GROUPS:
            raise ValueError(f"frozen: unknown parameter group {group!r}; use some of "
                             f"{', '.join(FROZEN_GROUPS)}")
    groups = tuple(g for g in FROZEN_GROUPS if g in named)
    if layout is not None:
        if "b" in groups and not layout.bias:
            raise ValueError("frozen: group 'b' needs a network with biases")
        present = {"c", "a"} | ({"b"} if layout.bias else set())
        if present <= set(groups):
            raise ValueError(f"frozen: every parameter group ({', '.join(groups)}) is "
                             f"frozen; nothing would train")
    return groups


def free_columns(layout: Layout, frozen) -> np.ndarray:
    """Boolean (p,) mask of the free columns of the packed layout [c | a | b].

    >>> free_columns(Layout(k=1, d=2), ("c",)).tolist()
    [False, True, True]
    """
    mask = np.ones(layout.p, dtype=bool)
    for group in check_frozen(frozen, layout):
        mask[getattr(layout, group)] = False
    return mask


def free_indices(layout: Layout, m: int, frozen) -> np.ndarray:
    """Indices of the free parameters in the row-major flattening of the (m, p) array
    (particle i, then its columns [c | a | b]): the rows and columns of the Hessian
    restricted to them.

    >>> free_indices(Layout(k=1, d=1), 2, ("c",)).tolist()
    [1, 3]
    """
    return np.flatnonzero(np.tile(free_columns(layout, frozen), int(m)))


def mask_velocity(v: np.ndarray, free: np.ndarray) -> np.ndarray:
    """P v: the velocity with exact zeros on the frozen columns (last axis), in place
    when the array is writeable."""
    if free.all():
        return v
    if not v.flags.writeable:
        v = v.copy()
    v[..., ~free] = 0
    return v


class Frozen:
    """``objective`` with the parameter groups ``frozen`` (some of "c", "a", "b") fixed.

    Its velocity is P v (zeros on the frozen columns), its risk is the objective's, its
    Hessian operator P H P (theory §12). ``mf.simulate(..., frozen=("c",))`` and the other
    public functions build it; build it directly to hand to integrators or ensembles.
    It offers ``hessian_operator`` and ``ensemble`` (the optional capabilities of
    :mod:`meanfield.objectives.protocol`) exactly when the wrapped objective does.

    >>> import meanfield as mf
    >>> teacher = mf.Network.init(2, 3, seed=1)
    >>> obj = Frozen(mf.GaussianPopulation(teacher, backend="numpy"), ("c",))
    >>> bool((obj.velocity(mf.Network.init(4, 3))[:, 0] == 0).all())
    True
    """

    objective: Any
    frozen: tuple[str, ...]

    def __init__(self, objective: Any, frozen: str | Iterable[str] | None) -> None:
        if isinstance(objective, Frozen):
            frozen = (*objective.frozen, *check_frozen(frozen))
            objective = objective.objective
        self.objective = objective
        self.frozen = check_frozen(frozen)
        self._masks: dict[Layout, np.ndarray] = {}
        # the optional capabilities, as instance attributes: runtime protocol checks
        # (isinstance against OffersHessian, OffersEnsemble) see them only when offered
        if callable(getattr(objective, "hessian_operator", None)):
            self.hessian_operator = self._hessian_operator
        if callable(getattr(objective, "ensemble", None)):
            self.ensemble = self._ensemble

    def free_columns(self, layout: Layout) -> np.ndarray:
        """The (p,) mask of free columns for networks of this layout."""
        if layout not in self._masks:
            self._masks[layout] = free_columns(layout, self.frozen)
        return self._masks[layout]

    @property
    def stochastic(self) -> bool:
        return bool(getattr(self.objective, "stochastic", False))

    def risk(self, net: Any) -> float:
        """The wrapped objective's risk (freezing changes no value)."""
        return self.objective.risk(net)

    def velocity(self, net: Any, rng: np.random.Generator | None = None) -> np.ndarray:
        """P v: the wrapped velocity with zeros on the frozen columns."""
        return mask_velocity(self.objective.velocity(net, rng=rng),
                             self.free_columns(net.layout))

    def minibatch_velocity(self, net: Any, rng: np.random.Generator,
                           batch: int) -> np.ndarray:
        """P v_B: the minibatch velocity with zeros on the frozen columns."""
        return mask_velocity(self.objective.minibatch_velocity(net, rng, batch),
                             self.free_columns(net.layout))

    def probe_outputs(self, net: Any) -> np.ndarray:
        return self.objective.probe_outputs(net)

    def __getattr__(self, name: str) -> Any:
        # data and settings of the wrapped objective (X, y, teacher, backend, ...)
        if name.startswith("_") or name in ("objective", "frozen", "hessian_operator",
                                            "ensemble"):
            raise AttributeError(name)
        return getattr(self.objective, name)

    @property
    def members(self) -> list[Frozen] | None:
        """Per-member objectives (an Empirical with one data set per member), frozen
        alike, or None."""
        members = getattr(self.objective, "members", None)
        return None if members is None else [Frozen(o, self.frozen) for o in members]

    def _hessian_operator(self, net: Any, backend: str | None = None) -> MaskedHessian:
        """P H P (what implicit ODE integrators use as -Jacobian)."""
        return MaskedHessian(self.objective.hessian_operator(net, backend),
                             self.free_columns(net.layout))

    def _ensemble(self, nets: Sequence[Any], objectives: Sequence[Any]) -> FrozenStack | None:
        """The stacked form of the wrapped objectives with the velocities masked, or
        None (members with other frozen groups, or no stacked form)."""
        if not all(isinstance(o, Frozen) and o.frozen == self.frozen for o in objectives):
            return None
        stacked = self.objective.ensemble(nets, [o.objective for o in objectives])
        if stacked is None:
            return None
        return FrozenStack(stacked, self.free_columns(nets[0].layout))


class MaskedHessian:
    """P H P for a Hessian operator H (``dense()`` and ``matvec(v)`` on (m, p) arrays)."""

    def __init__(self, operator, free: np.ndarray):
        self.operator, self.free = operator, free

    def dense(self) -> np.ndarray:
        H = self.operator.dense()
        rows = np.tile(~self.free, H.shape[0] // len(self.free))
        H[rows, :] = 0.0
        H[:, rows] = 0.0
        return H

    def matvec(self, v) -> np.ndarray:
        v = np.array(v, dtype=np.float64, copy=True)
        v[..., ~self.free] = 0.0
        return mask_velocity(self.operator.matvec(v), self.free)


class FrozenStack:
    """A stacked objective (:mod:`meanfield.objectives.stacked`) with masked velocities."""

    def __init__(self, stacked, free: np.ndarray):
        self.stacked, self.free = stacked, free
        self.stochastic = stacked.stochastic

    def subset(self, idx) -> "FrozenStack":
        return FrozenStack(self.stacked.subset(idx), self.free)

    def velocity(self, W, gens=None):
        return mask_velocity(self.stacked.velocity(W, gens), self.free)

    def minibatch_velocity(self, W, gens, batch: int):
        return mask_velocity(self.stacked.minibatch_velocity(W, gens, batch), self.free)

    def probe_outputs(self, W):
        return self.stacked.probe_outputs(W)

    def risk(self, W):
        return self.stacked.risk(W)


def freeze(objective, frozen):
    """``objective`` itself when ``frozen`` names no group, else :class:`Frozen`; a list
    of objectives (ensembles) is wrapped member by member.

    >>> freeze("any objective", None)
    'any objective'
    """
    groups = check_frozen(frozen)
    if not groups:
        return objective
    if isinstance(objective, (list, tuple)):
        return [Frozen(o, groups) for o in objective]
    return Frozen(objective, groups)


def unfreeze(objective, frozen=None) -> tuple:
    """(the objective inside any :class:`Frozen` wrapper, every frozen group: the
    wrapper's and ``frozen``), for functions that restrict to the free parameters.

    >>> unfreeze(Frozen("objective", "c"), ["a"])
    ('objective', ('c', 'a'))
    """
    groups = check_frozen(frozen)
    if isinstance(objective, Frozen):
        return objective.objective, check_frozen((*objective.frozen, *groups))
    return objective, groups
