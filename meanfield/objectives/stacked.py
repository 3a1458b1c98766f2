"""Objectives of an ensemble: S networks of one shape as one (S, m, p) stack.

:func:`stack` (what every objective's ``ensemble(nets, objectives)`` hook returns) gives
the ensemble form of the objective protocol of :mod:`meanfield.objectives.teacher_student`:

* ``velocity(W, gens)`` (S, m, p): member s is the velocity of objective s at the
  particles W[s]; a stochastic objective draws from the member's own generator gens[s];
* ``minibatch_velocity(W, gens, batch)``, ``probe_outputs(W)`` (S, P, k), ``risk(W)`` (S,);
* ``subset(idx)``: the same for the members ``idx``; ``stochastic``.

One batched backend reduction serves all members (``pair_reduce_batch``,
``forward_and_grad_batch``; KeOps and Numba take the batch dimension inside one launch).
Members may differ in everything that is data: particles, alpha, the centring
reference, the teacher, the training set, the label noise. Member s of every result
equals what objective s gives for network s alone, bit for bit: batched reductions use
the tiles of the single ones, and the elementwise arithmetic is the same. (One exception:
members sharing one data array at d >= 24 on Numba go through one stacked product, equal
to rounding; :mod:`meanfield.backends.numba.data`.) Velocities on fixed data are bound
once (``bound_forward_and_grad``: data converted, kernel arguments prepared), so a small
ensemble's step costs one backend call, and where the backend offers fused Euler steps
(:class:`meanfield.backends.protocol.BindsEulerSteps`; Numba's lanes kernels on the
square loss) ``euler_steps(W, h, n)`` advances n steps in one call, bit for bit as n
steps of ``velocity``.
"""
from __future__ import annotations

import numpy as np

from ..backends import (bound_euler_steps, bound_forward_and_grad, forward_batch,
                        pair_reduce_batch)
from ..backends.protocol import BatchResidual, SquareResidual
from ..core.layout import Layout
from ..core.losses import loss_derivative, loss_value
from .checks import check_members


class Incompatible(ValueError):
    """The members cannot share one stack (shapes, activations, losses or backends differ);
    the caller falls back to one objective call per member."""


def _same(values, what: str):
    first = values[0]
    for v in values[1:]:
        if v != first:
            raise Incompatible(f"ensemble members differ in {what}: {first!r} vs {v!r}")
    return first


def _stack_or_shared(arrays):
    """One array when every member holds the same object (shared), else a stack (S, ...)."""
    first = arrays[0]
    if all(a is first for a in arrays):
        return first
    if len({np.shape(a) for a in arrays}) > 1:
        raise Incompatible("per-member data of different shapes")
    return np.stack(arrays)


class Members:
    """The networks of an ensemble: common layout, activation, dtype and shape; per-member
    alpha (S,), weights q = alpha/m (S, m) and centring references w0 (S, m, p)."""

    def __init__(self, nets):
        first = nets[0]
        self.layout = _same([n.layout for n in nets], "layout")
        self.activation = first.activation
        _same([n.activation.name for n in nets], "activation")
        self.dtype = _same([n.w.dtype for n in nets], "dtype")
        self.m = _same([n.m for n in nets], "width m")
        self.centered = _same([n.centered for n in nets], "centring")
        self.alpha = np.array([n.alpha for n in nets], dtype=float)
        self.q = np.stack([np.full(self.m, n.alpha / self.m, dtype=self.dtype) for n in nets])
        self.w0 = np.stack([n.w0 for n in nets]) if self.centered else None
        self._neg = (-self.alpha).astype(self.dtype)[:, None, None]

    def __len__(self) -> int:
        return len(self.alpha)

    def subset(self, idx) -> "Members":
        new = object.__new__(Members)
        new.__dict__.update(self.__dict__)
        new.alpha, new.q, new._neg = self.alpha[idx], self.q[idx], self._neg[idx]
        new.w0 = None if self.w0 is None else self.w0[idx]
        return new

    def signed(self, W):
        """(particles (S, M, p), weights (S, M)) whose weighted sum is f, as
        ``Network.signed_particles``: the centring reference enters with -alpha/m."""
        if not self.centered:
            return W, self.q
        return np.concatenate([W, self.w0], axis=1), np.concatenate([self.q, -self.q], axis=1)

    def velocity_from_grad(self, grad):
        """v = -grad / alpha per member (in the particles' dtype, like a single network;
        grad / (-alpha) is the same IEEE number)."""
        return grad / self._neg


def empirical_velocities(members: Members, backend, W, X, Y, loss="square", beta=20.0):
    """Velocities (S, m, p) of the empirical risks of the members on X (n, d) shared or
    (S, n, d) per member, labels Y (n, k) or (S, n, k); member s equals
    :func:`meanfield.objectives.teacher_student.empirical_velocity` of network s on its data."""
    return _velocity_function(members, backend, X, Y, loss, beta)(W)


def _velocity_function(members: Members, backend, X, Y, loss="square", beta=20.0):
    """W -> velocities on fixed data, with everything that does not depend on W bound."""
    X, residual = _residual(members, X, Y, loss, beta)
    rows = 2 * members.m if members.centered else members.m
    bound = bound_forward_and_grad(backend, members.activation, members.layout, rows,
                                   members.dtype, members.m, X, residual)

    def velocity(W):
        Wf, Q = members.signed(W)
        return members.velocity_from_grad(bound(Wf, Q)[1])

    return velocity


def _euler_function(members: Members, backend, X, Y, loss="square", beta=20.0):
    """(W, h (S,), n) -> (W after n Euler steps W <- W + h v(W), W before the last) in
    one backend call with the same bits as n steps of :func:`_velocity_function`'s
    velocity (theory §10.1), or None where the backend offers no fused steps (centred
    members, other losses, sizes or dtypes)."""
    if members.centered:
        return None
    X, residual = _residual(members, X, Y, loss, beta)
    steps = bound_euler_steps(backend, members.activation, members.layout, members.m,
                              members.dtype, members.m, X, residual)
    if steps is None:
        return None
    q, neg = members.q, members._neg[:, 0, 0]

    def euler(W, h, n):
        return steps(W, q, neg, h, n)

    return euler


def _residual(members: Members, X, Y, loss, beta):
    """(X in the members' dtype, the batched residual of ``loss`` on labels Y)."""
    dtype = members.dtype
    X = np.asarray(X, dtype=dtype)
    n = X.shape[-2]
    if loss == "square" and Y.ndim == 2:
        def loss_residual(F: np.ndarray, G: slice, N: slice) -> np.ndarray:
            return (F - Y[N]).astype(dtype, copy=False) / n
    else:
        def loss_residual(F: np.ndarray, G: slice, N: slice) -> np.ndarray:
            y = Y[N] if Y.ndim == 2 else Y[G, N]
            return loss_derivative(loss, F, y, beta).astype(dtype, copy=False) / n
    residual: BatchResidual = loss_residual
    if loss == "square":  # backends may form (F - labels)/divisor inside their kernels
        residual = SquareResidual(loss_residual, np.ascontiguousarray(
            Y[None] if Y.ndim == 2 else Y, dtype=dtype), n)
    return X, residual


def _labels(y, n):
    y = np.asarray(y)
    return y.reshape(n, -1) if y.ndim <= 2 else y


class StackedEmpirical:
    """Empirical objectives (one shared data set, or one per member) over a stack."""

    stochastic = False

    def __init__(self, members: Members, objectives):
        self.members = members
        self.loss = _same([o.loss for o in objectives], "loss")
        self.beta = _same([o.beta for o in objectives], "loss sharpness beta")
        self.backend = _same([o.backend for o in objectives], "backend")
        _same([(o.d, o.k) for o in objectives], "data dimensions")
        self.X = np.asarray(_stack_or_shared([o.X for o in objectives]), dtype=members.dtype)
        self.Y = _stack_or_shared([o.y for o in objectives])
        self._bind()

    def _bind(self):
        self.velocity_of = _velocity_function(self.members, self.backend, self.X, self.Y,
                                              self.loss, self.beta)
        #: fused Euler steps (:func:`_euler_function`), or None
        self.euler_steps = _euler_function(self.members, self.backend, self.X, self.Y,
                                           self.loss, self.beta)

    def subset(self, idx) -> "StackedEmpirical":
        new = object.__new__(StackedEmpirical)
        new.__dict__.update(self.__dict__)
        new.members = self.members.subset(idx)
        if self.X.ndim == 3:
            new.X, new.Y = self.X[idx], self.Y[idx]
        new._bind()
        return new

    def _y(self, s):
        return self.Y if self.Y.ndim == 2 else self.Y[s]

    def _x(self, s):
        return self.X if self.X.ndim == 2 else self.X[s]

    def velocity(self, W, gens=None):
        return self.velocity_of(W)

    def minibatch_velocity(self, W, gens, batch: int):
        n = self.X.shape[-2]
        picks = [g.choice(n, size=min(int(batch), n), replace=False) for g in gens]
        X = np.stack([self._x(s)[i] for s, i in enumerate(picks)])
        Y = np.stack([self._y(s)[i] for s, i in enumerate(picks)])
        return empirical_velocities(self.members, self.backend, W, X, Y, self.loss,
                                    self.beta)

    def probe_outputs(self, W):
        Wf, Q = self.members.signed(W)
        return forward_batch(self.backend, self.members.activation, self.members.layout,
                             Wf, Q, self.X)

    def risk(self, W) -> np.ndarray:
        """Every member's risk from one loss evaluation over the stack; member s's mean
        over its samples is the same reduction as a single network's (one contiguous
        row each)."""
        f = self.probe_outputs(W)
        S, n, k = f.shape
        y = np.broadcast_to(self.Y, f.shape).reshape(S * n, k)
        return np.mean(loss_value(self.loss, f.reshape(S * n, k), y, self.beta)
                       .reshape(S, n), axis=1)


class StackedPopulation:
    """Exact population objectives (theory §2) over a stack; teachers may differ. Index
    targets (theory §13: every member has one, or none does) add each member's cross
    term, computed per member as for a single network."""

    stochastic = False

    def __init__(self, members: Members, objectives):
        self.members, self.objectives = members, list(objectives)
        first = objectives[0]
        self.backend = _same([o.backend for o in objectives], "backend")
        _same([(o.inputs, o.quadrature, o.rule, o.d, o.k) for o in objectives],
              "input law or quadrature")
        self.noise = np.array([o.noise for o in objectives])
        self.k = first.k
        self._kernel = first._kernel
        self._probe = None
        self.index = [o.index for o in objectives]
        if _same([i is not None for i in self.index], "kind of teacher (index target)"):
            self.bias, self.layout = members.layout.bias, members.layout
            self.teacher_activation, self.w_y, self.q_y = None, None, None
            return
        teachers = Members([o.teacher for o in objectives])
        self.teacher_activation = teachers.activation
        self.bias = members.layout.bias or teachers.layout.bias
        self.layout = Layout(first.k, first.d, self.bias)
        w_y, q_y = teachers.signed(np.stack([o.teacher.w for o in objectives]))
        if self.bias:
            w_y = _with_bias(w_y, teachers.layout)
        self.w_y = w_y.astype(members.dtype, copy=False)
        self.q_y = (-q_y).astype(members.dtype, copy=False)

    def subset(self, idx) -> "StackedPopulation":
        new = object.__new__(StackedPopulation)
        new.__dict__.update(self.__dict__)
        new.members = self.members.subset(idx)
        new.objectives = [self.objectives[i] for i in np.atleast_1d(idx)]
        new.noise, new._probe = self.noise[idx], None
        new.index = [self.index[i] for i in np.atleast_1d(idx)]
        if self.w_y is not None and self.q_y is not None:
            new.w_y, new.q_y = self.w_y[idx], self.q_y[idx]
        return new

    def _groups(self, W):
        w_f, q_f = self.members.signed(W)
        if self.bias:
            w_f = _with_bias(w_f, self.members.layout)
        act = self.members.activation
        if self.w_y is None:  # index targets: the cross term is added per member
            return [(act, w_f, q_f)]
        if act.name == self.teacher_activation.name:
            return [(act, np.concatenate([w_f, self.w_y], axis=1),
                     np.concatenate([q_f, self.q_y], axis=1))]
        return [(act, w_f, q_f), (self.teacher_activation, self.w_y, self.q_y)]

    def velocity(self, W, gens=None):
        groups = self._groups(W)
        w_i = _with_bias(W, self.members.layout) if self.bias else W
        grad = None
        for src, w_s, q_s in groups:
            kernel = self._kernel(self.members.activation, src, self.bias)
            g = pair_reduce_batch(self.backend, kernel, self.layout, w_i, w_s, q_s)[0]
            grad = g if grad is None else grad + g
        act, lay = self.members.activation, self.layout
        for s, index in enumerate(self.index):
            if index is not None:
                grad[s] = grad[s] - index.gradient(act, lay, w_i[s]).astype(grad.dtype)
        v = self.members.velocity_from_grad(grad)
        if self.bias and not self.members.layout.bias:
            v = v[..., :-1]
        return np.ascontiguousarray(v, dtype=self.members.dtype)

    def risk(self, W) -> np.ndarray:
        groups = self._groups(W)
        total = np.zeros(len(W))
        for act, w_t, q_t in groups:
            for src, w_s, q_s in groups:
                kernel = self._kernel(act, src, self.bias)
                value = pair_reduce_batch(self.backend, kernel, self.layout, w_t, w_s, q_s,
                                          True)[1]
                for s in range(len(W)):
                    total[s] += 0.5 * float(np.dot(q_t[s], value[s]))
        w_f, q_f = self.members.signed(W)
        for s, index in enumerate(self.index):
            if index is not None:
                total[s] += 0.5 * (index.target.second_moment - index.target.noise**2)
                total[s] -= index.value(self.members.activation, self.layout, w_f[s], q_f[s])
        return np.maximum(total, 0.0) + 0.5 * self.k * self.noise**2

    def samples(self, gens, batch: int):
        """One fresh population sample (X, y) per member, from the member's generator."""
        draws = [o.sample(batch, g) for o, g in zip(self.objectives, gens, strict=False)]
        return np.stack([x for x, _ in draws]), np.stack([y for _, y in draws])

    def minibatch_velocity(self, W, gens, batch: int):
        X, Y = self.samples(gens, batch)
        return empirical_velocities(self.members, self.backend, W, X, Y)

    def probe_outputs(self, W):
        if self._probe is None:
            self._probe = _stack_or_shared([o.probe_inputs() for o in self.objectives])
        Wf, Q = self.members.signed(W)
        return forward_batch(self.backend, self.members.activation, self.members.layout,
                             Wf, Q, self._probe)


class StackedOnline:
    """Online objectives over a stack: each member draws its fresh batch from its own
    generator; the risk is the exact population risk."""

    stochastic = True

    def __init__(self, members: Members, objectives):
        self.population = StackedPopulation(members, [o.population for o in objectives])
        self.batch = _same([o.batch for o in objectives], "batch size")
        self._fallback = [o._rng for o in objectives]

    def subset(self, idx) -> "StackedOnline":
        new = object.__new__(StackedOnline)
        new.population, new.batch = self.population.subset(idx), self.batch
        new._fallback = [self._fallback[i] for i in np.atleast_1d(idx)]
        return new

    def velocity(self, W, gens=None):
        gens = self._fallback if gens is None else [
            f if g is None else g for g, f in zip(gens, self._fallback, strict=False)]
        return self.population.minibatch_velocity(W, gens, self.batch)

    def minibatch_velocity(self, W, gens, batch: int):
        return self.population.minibatch_velocity(W, gens, batch)

    def risk(self, W):
        return self.population.risk(W)

    def probe_outputs(self, W):
        return self.population.probe_outputs(W)


def _with_bias(w, layout):
    if layout.bias:
        return w
    return np.concatenate([w, np.zeros(w.shape[:-1] + (1,), dtype=w.dtype)], axis=-1)


def stack(kind, nets, objectives):
    """The stacked objective of ``kind`` (StackedEmpirical, StackedPopulation or
    StackedOnline) for these members, or None when they cannot share one stack.
    ValueError naming ``net`` when a member's network does not fit its objective's
    inputs and outputs (checked here, before any backend sees the stack)."""
    check_members(nets, objectives)
    try:
        return kind(Members(nets), objectives)
    except Incompatible:
        return None
