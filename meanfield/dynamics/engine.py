"""The stepping loop behind :func:`meanfield.simulate` and :func:`meanfield.simulate_many`.

An ensemble of S members (S = 1 for ``simulate``) is held as one (S, m, p) particle
array with per-member times, step counts, step sizes, auxiliary arrays and live random
generators (each member keeps its own bit-generator state, so its stream is the one it
would draw alone). Fixed-dt integrators advance all running members together
(:class:`meanfield.dynamics.forms.Lockstep`) in *blocks* of steps between events (a record, a
member's last step, a callback step), so the per-step cost is the velocity and the
update only: the finite check, the fixed-point check and the callbacks run once per
block. A block that produces a NaN or Inf is replayed one step at a time from its start
(generators rewound), so a divergence is reported at the exact step where it happened.
Accept/reject integrators (:class:`meanfield.dynamics.forms.Attempts`) try one step of every
running member per round; integrators without an ensemble form step each member alone.
The loop asks an integrator only for its capabilities
(:class:`meanfield.dynamics.protocols.Integrator`: fixed step, fast-forward, stochastic,
ensemble form), never for its name.

A member that diverges is frozen with its :class:`Divergence` while the others go on; a
member that reaches its t_end drops out of the stack.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..model.network import Network
from ..objectives.protocol import OffersEnsemble, is_stochastic
from .forms import Attempts, Lockstep
from .protocols import Field, Integrator, OffersEulerSteps, State

#: each member's live generator (None: a deterministic call)
Gens = Sequence[np.random.Generator] | None

#: longest block of fixed-dt steps between two checks, and the wall time a block aims at
MAX_BLOCK, BLOCK_SECONDS = 4096, 0.05


class Divergence(RuntimeError):
    """The dynamics blew up: ``step``, ``t`` and a likely ``cause`` are attributes.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> teacher = mf.Network.init(m=2, d=2, sphere=True, output="sign", seed=1)
        >>> population = mf.GaussianPopulation(teacher, backend="numpy")
        >>> net = mf.Network.init(m=16, d=2, seed=2)
        >>> try:                                     # far too large a step for alpha = 1000
        ...     mf.simulate(net.with_w(1e3 * net.w), population, mf.integrators.euler(dt=1e3),
        ...                 t_end=1e4)
        ... except mf.Divergence as err:
        ...     print(type(err).__name__, err.step > 0)
        Divergence True
    """

    #: the run directory whose records were kept (set by meanfield.runs), else None
    run_dir: object = None

    def __init__(self, step: int, t: float, what: str, cause: str) -> None:
        self.step, self.t, self.what, self.cause = step, t, what, cause
        super().__init__(f"diverged at step {step} (t={t:.6g}): {what}; likely cause: {cause}")


def likely_cause(integrator: Integrator, dt: float) -> str:
    """What most likely made a run of ``integrator`` at step ``dt`` diverge."""
    if not integrator.fixed_dt:
        return "the step size collapsed; the objective may be ill-conditioned or non-smooth"
    return f"dt={dt:g} is too large (try a smaller dt or the adaptive integrator)"


class LoopStack:
    """The ensemble protocol for objectives without a stacked form: one call per member."""

    def __init__(self, nets: Sequence[Network], objectives: Sequence[Any]) -> None:
        self.nets, self.objectives = list(nets), list(objectives)

    def subset(self, idx: Sequence[int]) -> LoopStack:
        return LoopStack([self.nets[i] for i in idx], [self.objectives[i] for i in idx])

    def velocity(self, W: np.ndarray, gens: Gens = None) -> np.ndarray:
        return np.stack([o.velocity(n.with_w(W[s]), rng=None if gens is None else gens[s])
                         for s, (n, o) in enumerate(zip(self.nets, self.objectives, strict=True))])

    def minibatch_velocity(self, W: np.ndarray, gens: Sequence[np.random.Generator],
                           batch: int) -> np.ndarray:
        return np.stack([o.minibatch_velocity(n.with_w(W[s]), gens[s], batch)
                         for s, (n, o) in enumerate(zip(self.nets, self.objectives, strict=True))])

    def probe_outputs(self, W: np.ndarray) -> np.ndarray:
        return np.stack([o.probe_outputs(n.with_w(W[s]))
                         for s, (n, o) in enumerate(zip(self.nets, self.objectives, strict=True))])

    def risk(self, W: np.ndarray) -> np.ndarray:
        return np.array([float(o.risk(n.with_w(W[s])))
                         for s, (n, o) in enumerate(zip(self.nets, self.objectives, strict=True))])


class StackField:
    """The velocity field of an ensemble: the objectives' stacked form when they offer one
    (``ensemble`` hook, :mod:`meanfield.objectives.stacked`), else one call per member."""

    def __init__(self, nets: Sequence[Network], objectives: Sequence[Any],
                 stacked: Any = None) -> None:
        self.nets, self.objectives = list(nets), list(objectives)
        if stacked is None:
            first = objectives[0]
            stacked = first.ensemble(nets, objectives) \
                if isinstance(first, OffersEnsemble) else None
            stacked = LoopStack(nets, objectives) if stacked is None else stacked
        self.stacked = stacked
        self.velocity = stacked.velocity  # type: ignore[method-assign]  # hot path
        #: fused Euler steps of the stacked form (:class:`OffersEulerSteps`), or None
        self.euler_steps = stacked.euler_steps \
            if isinstance(stacked, OffersEulerSteps) else None
        self.stochastic = any(is_stochastic(o) for o in objectives)

    def subset(self, idx: Sequence[int]) -> StackField:
        idx = [int(i) for i in idx]
        return StackField([self.nets[i] for i in idx], [self.objectives[i] for i in idx],
                          self.stacked.subset(np.asarray(idx)))

    def velocity(self, W: np.ndarray, gens: Gens) -> np.ndarray:
        return self.stacked.velocity(W, gens)

    def minibatch(self, W: np.ndarray, gens: Sequence[np.random.Generator],
                  batch: int) -> np.ndarray:
        return self.stacked.minibatch_velocity(W, gens, batch)

    def outputs(self, W: np.ndarray) -> np.ndarray:
        return self.stacked.probe_outputs(W)

    def risk(self, W: np.ndarray) -> np.ndarray:
        return self.stacked.risk(W)


class Ensemble:
    """Members' working arrays and records; :meth:`run` steps them to their horizons."""

    def __init__(self, nets: Sequence[Network], objectives: Sequence[Any],
                 integrators: Sequence[Integrator], t_ends: Sequence[float],
                 targets: Sequence[np.ndarray], starts: Sequence[tuple[State, Any]],
                 tests: Sequence[Any] | None = None, blowup: float = 1e8,
                 on_step: Callable[[int, State, Any], None] | None = None,
                 callback_every: int | None = None, bar: Any = None) -> None:
        self.S = len(nets)
        self.nets, self.integrators = list(nets), list(integrators)
        self.field = StackField(nets, objectives)
        self.tests = None if tests is None else StackField(nets, tests)
        self.t_end = np.asarray(t_ends, dtype=float)
        self.targets = targets
        self.blowup, self.on_step, self.every, self.bar = blowup, on_step, callback_every, bar
        states = [s for s, _ in starts]
        self.recorders = [r for _, r in starts]
        self.W = np.stack([np.asarray(s.w) for s in states])
        self.t = np.array([s.t for s in states], dtype=float)
        self.step = np.array([s.step for s in states], dtype=np.int64)
        self.dt = np.array([s.dt for s in states], dtype=float)
        self.gens = [s.generator() for s in states]
        self.aux_keys = tuple(states[0].aux)
        self.aux = {k: np.stack([np.asarray(s.aux[k]) for s in states]) for k in self.aux_keys}
        self.divergence = [None] * self.S
        self.done = np.zeros(self.S, dtype=bool)
        first = self.integrators[0]
        self.fixed = first.fixed_dt
        self.n_end = np.array([max(1, math.ceil(T / d - 1e-9)) for T, d in
                               zip(self.t_end, self.dt, strict=True)],
                              dtype=np.int64) if self.fixed else None
        self.params = {k: np.array([i.params[k] for i in self.integrators]) for k in first.params}
        self._subsets: dict[tuple[int, ...], tuple] = {}
        #: records taken and record targets per member; the targets padded (never reached)
        self.n_rec = np.array([len(r) for r in self.recorders], dtype=np.int64)
        self.n_targets = np.array([len(t) for t in targets], dtype=np.int64)
        pad = np.iinfo(np.int64).max if self.fixed else np.inf
        self._targets = np.full((self.S, int(self.n_targets.max()) + 1), pad,
                                dtype=np.int64 if self.fixed else float)
        for s, t in enumerate(targets):
            self._targets[s, :len(t)] = t

    # -- members ----------------------------------------------------------------------
    def state(self, s: int) -> State:
        """Member s as a frozen State (particles copied)."""
        from types import MappingProxyType

        return State(w=np.array(self.W[s], copy=True), t=float(self.t[s]),
                     step=int(self.step[s]), dt=float(self.dt[s]),
                     rng=self.gens[s].bit_generator.state,
                     aux=MappingProxyType({k: np.array(v[s], copy=True)
                                           for k, v in self.aux.items()}))

    def _fields(self, A):
        """(field, test field) of the members A; the last few subsets are kept."""
        if len(A) == self.S:
            return self.field, self.tests
        key = tuple(int(i) for i in A)
        if key not in self._subsets:
            if len(self._subsets) >= 8:
                self._subsets.clear()
            self._subsets[key] = (self.field.subset(key),
                                  None if self.tests is None else self.tests.subset(key))
        return self._subsets[key]

    def _diverge(self, s, step, t, what):
        self.divergence[s] = Divergence(int(step), float(t), what,
                                        likely_cause(self.integrators[s], self.dt[s]))
        self.done[s] = True

    def _grid_time(self, s, step):
        return float(self.t_end[s]) if step == self.n_end[s] else step * float(self.dt[s])

    def _record(self, members, W):
        """Record members (indices) at particles W (len(members), m, p); a non-finite risk
        or one above blowup x max(first risk, 1) is a divergence."""
        members = [int(i) for i in members]
        fields = self._fields(members)
        risk = fields[0].risk(W)
        test = None if fields[1] is None else fields[1].risk(W)
        snaps = np.array(W, copy=True)  # one copy for all members, each keeps a view
        for j, s in enumerate(members):
            rec = self.recorders[s]
            r = float(risk[j])
            if not math.isfinite(r) or (rec.risk and r > self.blowup * max(rec.risk[0], 1.0)):
                self._diverge(s, self.step[s], self.t[s], f"the risk blew up to {r:.3g}")
                continue
            rec.append(float(self.t[s]), int(self.step[s]), float(self.dt[s]), r,
                       None if test is None else float(test[j]), snaps[j], copy=False)
            self.n_rec[s] += 1

    def _callbacks(self, members):
        if self.on_step is not None:
            for s in members:
                if self.divergence[s] is None:
                    self.on_step(int(s), self.state(s), self.recorders[s])

    def _next_target(self, s):
        return self.targets[s][len(self.recorders[s])]

    def run(self) -> list[State]:
        first = [s for s in range(self.S) if len(self.recorders[s]) == 0]
        if first:
            self._record(first, self.W[first])
        self.done |= self.n_rec >= self.n_targets
        batched = self.integrators[0].batched
        same = all(i.name == self.integrators[0].name for i in self.integrators)
        if same and isinstance(batched, Lockstep) and self.fixed:
            self._lockstep(batched)
        elif same and isinstance(batched, Attempts) and all(
                {k: v for k, v in i.params.items() if k != "dt"} ==
                {k: v for k, v in self.integrators[0].params.items() if k != "dt"}
                for i in self.integrators):
            self._attempts(batched)
        else:
            self._one_by_one()
        return [self.state(s) for s in range(self.S)]

    # -- fixed-dt integrators in lockstep ---------------------------------------------
    def _lockstep(self, stepper):
        block, careful = 1, 0
        first = self.integrators[0]
        skip = first.fast_forward and not self.field.stochastic
        rewind = first.stochastic or self.field.stochastic  # else nothing draws
        short = np.array([T - (n - 1) * d < d * (1 - 1e-9)
                          for T, n, d in zip(self.t_end, self.n_end, self.dt, strict=True)])
        while not self.done.all():
            A = np.flatnonzero(~self.done)
            step, n_end = self.step[A], self.n_end[A]
            last = short[A] & (step == n_end - 1)
            if last.any():
                n, h = 1, np.where(last, self.t_end[A] - self.t[A], self.dt[A])
            else:
                limit = self._targets[A, self.n_rec[A]]
                limit = np.where(short[A], np.minimum(limit, n_end - 1), limit)
                n = max(1, int(min((limit - step).min(), block, 1 if careful else MAX_BLOCK)))
                if self.every:
                    n = min(n, int((self.every - step % self.every).min()))
                h = self.dt[A]
            full = len(A) == self.S
            W = self.W if full else self.W[A]
            aux = self.aux if full else {k: v[A] for k, v in self.aux.items()}
            gens = self.gens if full else [self.gens[s] for s in A]
            saved = [g.bit_generator.state for g in gens] if rewind else None
            field = self._fields(A)[0]
            P = {k: v[A] for k, v in self.params.items()}
            began = time.perf_counter()
            W_new, aux_new, prev = stepper.run(W, aux, field, gens, P, h, n)
            elapsed = time.perf_counter() - began
            bad = ~np.isfinite(W_new).reshape(len(A), -1).all(axis=1)
            if bad.any() and n > 1:  # replay the block one step at a time
                for g, st in zip(gens, saved, strict=True) if saved is not None else ():
                    g.bit_generator.state = st
                careful = n
                continue
            careful = max(0, careful - n)
            block = min(MAX_BLOCK, block * 2) if elapsed < BLOCK_SECONDS else max(1, block // 2)
            good = ~bad
            self.step[A] += n
            for j in np.flatnonzero(bad):
                s = A[j]
                t_bad = self.t[s] + h[j] if last[j] else self.step[s] * self.dt[s]
                self._diverge(s, self.step[s], t_bad, "particles became NaN or Inf")
                self.step[s] -= n
            Ag = A[good]
            at = self.step[Ag]
            self.t[Ag] = np.where(at == self.n_end[Ag], self.t_end[Ag], at * self.dt[Ag])
            if full and good.all():
                self.W, self.aux = W_new, dict(aux_new)
            else:
                self.W[Ag] = W_new[good]
                for k in self.aux:
                    self.aux[k][Ag] = aux_new[k][good]
            if self.bar is not None:
                self.bar.update(float(np.sum(n * h[good])))
            reach = np.flatnonzero(good & (self.step[A] >= self._targets[A, self.n_rec[A]]))
            if len(reach):
                self._record(A[reach], W_new[reach])
            if skip:
                still = good & (W_new == prev).reshape(len(A), -1).all(axis=1)
                for j in np.flatnonzero(still):
                    s = A[j]
                    if not self.done[s] and self.n_rec[s] < self.n_targets[s]:
                        self._fast_forward(s, W_new[j:j + 1])
            self.done[A] |= self.n_rec[A] >= self.n_targets[A]
            self._callbacks(Ag)

    def _fast_forward(self, s, W):
        """Member s sits on an exact fixed point of Euler on a deterministic objective:
        every later step would leave it there, so the remaining records are taken at once
        on the step grid (same particles, steps and times as stepping through)."""
        for target in self.targets[s][len(self.recorders[s]):]:
            self.step[s] = int(target)
            self.t[s] = self._grid_time(s, int(target))
            self._record([s], W)
            if self.divergence[s] is not None:
                return

    # -- accept/reject integrators ----------------------------------------------------
    def _attempts(self, stepper):
        ctrl, tries = self.dt.copy(), np.zeros(self.S, dtype=int)
        while not self.done.all():
            A = np.flatnonzero(~self.done)
            caps = self._targets[A, self.n_rec[A]] - self.t[A]
            full = len(A) == self.S
            W = self.W if full else self.W[A]
            aux = self.aux if full else {k: v[A] for k, v in self.aux.items()}
            ok, W_new, aux_new, h, new_dt = stepper.attempt(W, aux, self._fields(A)[0],
                                                            ctrl[A], caps)
            ctrl[A] = new_dt
            tries[A[ok]] = 0
            tries[A[~ok]] += 1
            for s in A[~ok & (tries[A] >= stepper.max_attempts)]:
                self._diverge(s, self.step[s], self.t[s],
                              f"step rejected {stepper.max_attempts} times at "
                              f"t={self.t[s]:g} (dt fell to {ctrl[s]:.3g})")
            finite = np.isfinite(W_new.reshape(len(A), -1)).all(axis=1)
            for j in np.flatnonzero(ok & ~finite):
                s = A[j]
                self._diverge(s, self.step[s] + 1, self.t[s] + h[j],
                              "particles became NaN or Inf")
            j = np.flatnonzero(ok & finite)
            moved = A[j]
            self.W[moved] = W_new[j]
            for k, v in aux_new.items():
                self.aux[k][moved] = v[j]
            self.step[moved] += 1
            self.dt[moved] = new_dt[j]
            if self.bar is not None:
                self.bar.update(float(np.sum(h[j])))
            self.t[moved] = self.t[moved] + h[j]
            target = self._targets[moved, self.n_rec[moved]]
            reach = self.t[moved] >= target - 1e-12 * np.maximum(1.0, target)
            for s, tg in zip(moved[reach], target[reach], strict=True):
                if tg == self.t_end[s]:
                    self.t[s] = self.t_end[s]
                self._record([s], self.W[s:s + 1])
            self.done[moved] |= self.n_rec[moved] >= self.n_targets[moved]
            self._callbacks(moved)

    # -- any other integrator: its own step, member by member ---------------------------
    def _one_by_one(self):
        fields = [Field(n, o) for n, o in zip(self.nets, self.field.objectives, strict=True)]
        states = [self.state(s) for s in range(self.S)]
        skip = [i.fast_forward and not f.stochastic
                for i, f in zip(self.integrators, fields, strict=True)]
        while not self.done.all():
            moved = []
            for s in np.flatnonzero(~self.done):
                integ, state = self.integrators[s], states[s]
                target = self._next_target(s)
                cap = target - state.t if not self.fixed else (
                    self.t_end[s] - state.t if state.step + 1 == self.n_end[s] and
                    self.t_end[s] - state.t < state.dt * (1 - 1e-9) else None)
                before = state
                try:
                    state = integ.step(state, fields[s], cap)
                except FloatingPointError as err:
                    self._diverge(s, state.step, state.t, str(err))
                    continue
                if not np.all(np.isfinite(state.w)):
                    self._diverge(s, state.step, state.t, "particles became NaN or Inf")
                    continue
                states[s] = state
                self._load(s, state)
                if self.bar is not None:
                    self.bar.update(state.t - before.t)
                if self.fixed:
                    reached = state.step >= target
                    if state.step == self.n_end[s]:
                        self.t[s] = self.t_end[s]
                else:
                    reached = state.t >= target - 1e-12 * max(1.0, target)
                    if reached and target == self.t_end[s]:
                        self.t[s] = self.t_end[s]
                if reached:
                    self._record([s], self.W[s:s + 1])
                left = len(self.targets[s]) - len(self.recorders[s])
                if skip[s] and left and self.divergence[s] is None and \
                        np.array_equal(state.w, before.w):
                    self._fast_forward(s, self.W[s:s + 1])
                self.done[s] |= len(self.recorders[s]) >= len(self.targets[s])
                states[s] = self.state(s)
                moved.append(s)
            self._callbacks(moved)

    def _load(self, s, state):
        self.W[s], self.t[s], self.step[s], self.dt[s] = state.w, state.t, state.step, state.dt
        self.gens[s] = state.generator()
        for k in self.aux:
            self.aux[k][s] = state.aux[k]
