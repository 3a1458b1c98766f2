"""Run an integrator to a horizon, recording risks and particle snapshots.

``simulate(net, objective, integrator, t_end)`` integrates the mean-field dynamics of
:mod:`meanfield.dynamics.integrators` (time in mean-field units, theory §1) and records, at the
times of a schedule, the objective's risk R (½E(f-y)² for the square loss; exact
population risk for Online objectives), an optional test risk and the particles.
A NaN/Inf in the particles or a risk blow-up stops the run with :class:`Divergence`.

``simulate_many(nets, objectives, integrator, t_end, seeds=...)`` runs an ensemble of
such simulations as one computation (one (S, m, p) array per step, batched backend
reductions; :mod:`meanfield.dynamics.engine`) and returns what ``simulate`` returns for each.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..model.network import Network
from ..objectives.protocol import PerMember
from .engine import Divergence, Ensemble
from .protocols import Field, Integrator, State
from ..objectives.frozen import check_frozen, freeze

__all__ = ["Divergence", "LinearSchedule", "LogSchedule", "Recorder", "Trajectory",
           "record_targets", "simulate", "simulate_many", "step_count"]


def _check_count(n: Any) -> None:
    """A schedule's record count: an integer >= 2 (t = 0 and t_end are always recorded)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an integer >= 2 (t = 0 and t_end are always "
                         f"recorded), got {n!r}")


@dataclass(frozen=True)
class LogSchedule:
    """``n`` record times: t = 0 and n - 1 log-spaced times from ``t_min`` to t_end
    (``t_min`` defaults to the integrator's dt, else t_end/1e4).

    Examples:

        >>> import meanfield as mf
        >>> mf.LogSchedule(4, t_min=0.1).times(t_end=10.0)
        array([ 0. ,  0.1,  1. , 10. ])
    """

    n: int = 200
    t_min: float | None = None

    def __post_init__(self) -> None:
        _check_count(self.n)
        if self.t_min is not None and (isinstance(self.t_min, bool) or not isinstance(
                self.t_min, (int, float, np.integer, np.floating))
                or not math.isfinite(self.t_min) or self.t_min <= 0):
            raise ValueError(f"t_min must be a positive finite number or None, "
                             f"got {self.t_min!r}")

    def times(self, t_end: float, dt: float | None = None) -> np.ndarray:
        t_min = self.t_min or (dt if dt else t_end * 1e-4)
        if self.n < 2 or t_min >= t_end:
            return np.array([0.0, t_end])
        return np.concatenate([[0.0], np.geomspace(t_min, t_end, self.n - 1)])


@dataclass(frozen=True)
class LinearSchedule:
    """``n`` equally spaced record times from 0 to t_end.

    Examples:

        >>> import meanfield as mf
        >>> mf.LinearSchedule(5).times(t_end=2.0)
        array([0. , 0.5, 1. , 1.5, 2. ])
    """

    n: int = 100

    def __post_init__(self) -> None:
        _check_count(self.n)

    def times(self, t_end: float, dt: float | None = None) -> np.ndarray:
        return np.linspace(0.0, t_end, max(2, self.n))


#: record schedules by name (run configs: ``record.schedule``)
SCHEDULES = {"log": LogSchedule, "linear": LinearSchedule}
class Schedule(Protocol):
    """A record schedule: :class:`LogSchedule`, :class:`LinearSchedule`, or any object
    giving the record times up to ``t_end`` (``dt``: the integrator's fixed step, if any)."""

    def times(self, t_end: float, dt: float | None = None) -> np.ndarray: ...


@dataclass
class Recorder:
    """What has been recorded so far (lists grow as the run proceeds)."""

    times: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    dts: list = field(default_factory=list)
    risk: list = field(default_factory=list)
    test_risk: list = field(default_factory=list)
    snapshots: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.times)

    def add(self, state: State, risk: float, test_risk: float | None) -> None:
        self.append(state.t, state.step, state.dt, risk, test_risk, state.w)

    def append(self, t: float, step: int, dt: float, risk: float,
               test_risk: float | None, w: np.ndarray, copy: bool = True) -> None:
        """One record: time, step, step size, risk, test risk (None: NaN), particles
        (copied, unless ``copy`` is False: the caller hands over an array of its own)."""
        self.times.append(t)
        self.steps.append(step)
        self.dts.append(dt)
        self.risk.append(risk)
        self.test_risk.append(np.nan if test_risk is None else test_risk)
        self.snapshots.append(np.array(w, copy=True) if copy else w)

    def arrays(self) -> dict[str, np.ndarray]:
        """The records as arrays (snapshots stacked to (n_records, m, p))."""
        return {"times": np.asarray(self.times, dtype=float),
                "steps": np.asarray(self.steps, dtype=np.int64),
                "dts": np.asarray(self.dts, dtype=float),
                "risk": np.asarray(self.risk, dtype=float),
                "test_risk": np.asarray(self.test_risk, dtype=float),
                "snapshots": np.asarray(self.snapshots)}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, Any]) -> Recorder:
        return cls(*(list(arrays[key]) for key in
                     ("times", "steps", "dts", "risk", "test_risk", "snapshots")))


@dataclass(frozen=True)
class Trajectory:
    """Recorded ``times``, accepted ``steps``, step sizes ``dts``, ``risk``,
    ``test_risk`` (None without a test objective), ``snapshots`` (n_records, m, p), the
    ``final`` Network and the final integrator ``state``. ``divergence`` is None, or the
    :class:`Divergence` that froze an ensemble member (its records end there).

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> teacher = mf.Network.init(m=2, d=2, sphere=True, output="sign", seed=1)
        >>> population = mf.GaussianPopulation(teacher, backend="numpy")
        >>> net = mf.Network.init(m=16, d=2, seed=2)
        >>> traj = mf.simulate(net, population, mf.integrators.euler(dt=0.1), t_end=1.0,
        ...                    record=mf.LinearSchedule(3))
        >>> traj.times, traj.steps
        (array([0. , 0.5, 1. ]), array([ 0,  5, 10]))
        >>> bool(np.allclose(traj.snapshots[-1], traj.final.w)), traj.test_risk is None
        (True, True)
    """

    times: np.ndarray
    steps: np.ndarray
    dts: np.ndarray
    risk: np.ndarray
    test_risk: np.ndarray | None
    snapshots: np.ndarray
    final: Network
    state: State
    divergence: Divergence | None = None

    @classmethod
    def build(cls, recorder: Recorder, net: Network, state: State, has_test: bool,
              divergence: Divergence | None = None) -> Trajectory:
        arr = recorder.arrays()
        return cls(arr["times"], arr["steps"], arr["dts"], arr["risk"],
                   arr["test_risk"] if has_test else None, arr["snapshots"],
                   net.with_w(np.array(state.w, copy=True)), state, divergence)


def step_count(integrator: Integrator, t_end: float) -> int:
    """Steps a fixed-dt integrator takes to t_end: ceil(t_end/dt) (to 1e-9 of a step),
    the last one shortened to land on t_end exactly when t_end is not a multiple of dt."""
    return max(1, math.ceil(t_end / integrator.params["dt"] - 1e-9))


def record_targets(integrator: Integrator, schedule: Schedule, t_end: float) -> np.ndarray:
    """Step indices (fixed-dt integrators: record times snapped to the step grid, the last
    one the final step, which ends at t_end) or record times (adaptive integrators, the
    last one t_end)."""
    dt = integrator.params.get("dt")
    times = schedule.times(t_end, dt)
    if not integrator.fixed_dt:
        return np.unique(np.append(np.clip(times, 0.0, t_end), t_end))
    n_end = step_count(integrator, t_end)
    steps = np.clip(np.rint(np.asarray(times) / dt), 0, n_end).astype(np.int64)
    return np.unique(np.append(steps, n_end))


def _check_t_end(t_end: Any) -> float:
    t_end = float(t_end)
    if not math.isfinite(t_end) or t_end <= 0:
        raise ValueError(f"t_end must be a positive number, got {t_end}")
    return t_end


def simulate(net: Network, objective: Any, integrator: Integrator, t_end: float,
             record: Schedule = LogSchedule(200), seed: Any = 0, test: Any = None,
             progress: bool = False, blowup: float = 1e8,
             start: tuple[State, Recorder] | None = None,
             on_step: Callable[[State, Recorder], None] | None = None,
             callback_every: int | None = None,
             frozen: tuple[str, ...] | None = None) -> Trajectory:
    """Integrate the mean-field dynamics of ``objective`` from ``net`` up to ``t_end``.

    Records at the times of ``record`` (a :class:`LogSchedule` or :class:`LinearSchedule`;
    for fixed-dt integrators snapped to the grid t = n dt) the risk R(f) of the objective,
    ``test.risk`` if a test objective is given, and the particles. ``seed`` seeds the
    state's random stream (minibatches, Langevin noise, online batches). ``start`` is a
    (state, recorder) pair to continue from. ``on_step(state, recorder)`` (checkpoints)
    is called after accepted steps, amortised: fixed-dt integrators run blocks of steps
    between checks (at most ~0.05 s each, ending at every record), and the callback sees
    the end of each block, and every multiple of ``callback_every`` steps when given.
    Raises :class:`Divergence` on a non-finite particle (at the exact step) or a risk above
    ``blowup`` times max(initial risk, 1).

    The run ends at t_end exactly: a fixed-dt integrator takes ceil(t_end/dt) steps, the
    last one shortened when t_end is not a multiple of dt, and is recorded there.

    Fixed points are skipped exactly: when an Euler step on a deterministic objective
    leaves every particle bit-for-bit where it was (the velocity is exactly 0, e.g. a
    hinge loss once every margin is >= 1), all later steps would too, so the remaining
    records are taken at once on the step grid (same particles, steps and times as
    stepping through).

    ``frozen`` (some of "c", "a", "b") keeps those parameter groups fixed: the velocity
    is zero on their columns (:class:`meanfield.objectives.frozen.Frozen`), so they stay
    bit for bit at their initial values under every integrator (Langevin adds neither
    noise nor weight decay to them), e.g. ``frozen=("c",)`` for a committee machine.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> teacher = mf.Network.init(m=2, d=2, sphere=True, output="sign", seed=1)
        >>> population = mf.GaussianPopulation(teacher, backend="numpy")
        >>> net = mf.Network.init(m=16, d=2, seed=2)
        >>> traj = mf.simulate(net, population, mf.integrators.euler(dt=0.05), t_end=2.0,
        ...                    record=mf.LinearSchedule(5))
        >>> traj.times
        array([0. , 0.5, 1. , 1.5, 2. ])
        >>> bool(np.all(np.diff(traj.risk) < 0))     # gradient flow: the risk decreases
        True
        >>> traj.snapshots.shape, traj.final.m
        ((5, 16, 3), 16)
    """
    callback = None if on_step is None else (lambda s, state, rec: on_step(state, rec))
    traj = simulate_many([net], objective, integrator, t_end, record=record, seeds=[seed],
                         tests=test, progress=progress, blowup=blowup,
                         starts=None if start is None else [start], on_step=callback,
                         callback_every=callback_every, frozen=frozen)[0]
    if traj.divergence is not None:
        raise traj.divergence
    return traj


def _per_member(value: Any, S: int, what: str) -> list:
    if isinstance(value, (list, tuple, range, np.ndarray)):
        if len(value) != S:
            raise ValueError(f"{what}: expected one per member ({S}), got {len(value)}")
        return list(value)
    # e.g. Empirical with X of shape (S, n, d)
    members = value.members if isinstance(value, PerMember) else None
    if members is not None:
        return _per_member(list(members), S, what)
    return [value] * S


def simulate_many(nets: Sequence[Network], objectives: Any,
                  integrator: Integrator | Sequence[Integrator],
                  t_end: float | Sequence[float], record: Schedule = LogSchedule(200),
                  seeds: Sequence[Any] | None = None, tests: Any = None,
                  progress: bool = False, blowup: float = 1e8,
                  starts: Sequence[tuple[State, Recorder] | None] | None = None,
                  on_step: Callable[[int, State, Recorder], None] | None = None,
                  callback_every: int | None = None,
                  frozen: tuple[str, ...] | None = None) -> list[Trajectory]:
    """Simulate an ensemble of S runs as one computation; returns one :class:`Trajectory`
    per member, equal to ``simulate(nets[s], objectives[s], integrator[s], t_end[s],
    record, seeds[s], tests[s])`` (same records, steps and times; particles equal to
    rounding, bit for bit on the NumPy and Numba backends except for members sharing one
    data array at d >= 24 on Numba, whose stacked products agree to rounding).

    ``objectives``, ``integrator``, ``t_end`` and ``tests`` are one shared value or a list
    of S (per-member data, teachers, dt, temperature, tau, horizon; an ``Empirical`` built
    from X of shape (S, n, d) holds one data set per member). Members share the network
    shape and the integrator kind. Each step moves one (S, m, p) array, the objectives'
    batched reductions computing every member's velocity at once (objectives without a
    stacked form are called member by member). ``seeds`` (default 0 each) seed the
    members' own random streams, so stochastic members (SGD, Langevin, Online) draw exactly
    what they would draw alone.

    A member that diverges is frozen (its Trajectory ends at its last record and carries
    the :class:`Divergence` in ``divergence``) while the others go on; a member that
    reaches its t_end leaves the stack. ``starts`` (a list of (state, recorder) or None
    per member) continues members from saved states; ``on_step(index, state, recorder)``
    is called as for :func:`simulate`, for each member that moved. ``frozen`` fixes
    the same parameter groups in every member, as for :func:`simulate`.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> teacher = mf.Network.init(m=2, d=2, sphere=True, output="sign", seed=1)
        >>> population = mf.GaussianPopulation(teacher, backend="numpy")
        >>> net = mf.Network.init(m=16, d=2, seed=2)
        >>> nets = [net, mf.Network.init(m=16, d=2, seed=3)]
        >>> euler = mf.integrators.euler(dt=0.05)
        >>> many = mf.simulate_many(nets, population, euler, t_end=1.0, record=mf.LinearSchedule(3))
        >>> one = mf.simulate(nets[1], population, euler, t_end=1.0, record=mf.LinearSchedule(3))
        >>> len(many), bool(np.allclose(many[1].final.w, one.final.w, rtol=1e-12))
        (2, True)
    """
    from tqdm.auto import tqdm

    nets = list(nets)
    S = len(nets)
    if S == 0:
        raise ValueError("simulate_many needs at least one network")
    objectives = _per_member(objectives, S, "objectives")
    if frozen is not None:
        check_frozen(frozen, nets[0].layout)
        objectives = freeze(objectives, frozen)
    integrators = _per_member(integrator, S, "integrator")
    t_ends = [_check_t_end(t) for t in _per_member(t_end, S, "t_end")]
    tests = None if tests is None else _per_member(tests, S, "tests")
    seeds = [0] * S if seeds is None else _per_member(list(seeds), S, "seeds")
    given = [None] * S if starts is None else _per_member(list(starts), S, "starts")
    seeds = [int(s) if isinstance(s, (int, np.integer)) else s for s in seeds]
    if len({i.name for i in integrators}) > 1 or len({i.fixed_dt for i in integrators}) > 1:
        raise ValueError("ensemble members need one integrator kind")
    if len({(n.w.shape, n.w.dtype) for n in nets}) > 1:
        raise ValueError("ensemble members need one particle shape and dtype")
    begun: list[tuple[State, Recorder]] = []
    for s in range(S):
        start = given[s]
        if start is None:
            state = integrators[s].init(nets[s].w, Field(nets[s], objectives[s]), seeds[s])
            start = (state, Recorder())
        begun.append(start)
    targets = [record_targets(i, record, t) for i, t in zip(integrators, t_ends, strict=True)]
    done = sum(state.t for state, _ in begun)
    with np.errstate(over="ignore", invalid="ignore"), \
            tqdm(total=sum(t_ends), disable=not progress, unit="t", leave=False,
                 bar_format="{l_bar}{bar}| t={n:.4g}/{total:.4g} [{elapsed}<{remaining}]"
                 ) as bar:
        bar.update(done)
        ensemble = Ensemble(nets, objectives, integrators, t_ends, targets, begun, tests,
                            blowup, on_step, callback_every, bar)
        states = ensemble.run()
    return [Trajectory.build(ensemble.recorders[s], nets[s], states[s], tests is not None,
                             ensemble.divergence[s]) for s in range(S)]
