"""Run an integrator to a horizon, recording risks and particle snapshots.

``simulate(net, objective, integrator, t_end)`` integrates the mean-field dynamics of
:mod:`meanfield.dynamics` (time in mean-field units, theory §1) and records, at the
times of a schedule, the objective's risk R (½E(f-y)² for the square loss; exact
population risk for Online objectives), an optional test risk and the particles.
A NaN/Inf in the particles or a risk blow-up stops the run with :class:`Divergence`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from .dynamics import Field, Integrator, State
from .model import Network


class Divergence(RuntimeError):
    """The dynamics blew up: ``step``, ``t`` and a likely ``cause`` are attributes."""

    def __init__(self, step: int, t: float, what: str, cause: str):
        self.step, self.t, self.what, self.cause = step, t, what, cause
        super().__init__(f"diverged at step {step} (t={t:.6g}): {what}; likely cause: {cause}")


def _check_count(n) -> None:
    """A schedule's record count: an integer >= 2 (t = 0 and t_end are always recorded)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an integer >= 2 (t = 0 and t_end are always "
                         f"recorded), got {n!r}")


@dataclass(frozen=True)
class LogSchedule:
    """``n`` record times: t = 0 and n - 1 log-spaced times from ``t_min`` to t_end
    (``t_min`` defaults to the integrator's dt, else t_end/1e4)."""

    n: int = 200
    t_min: float | None = None

    def __post_init__(self):
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
    """``n`` equally spaced record times from 0 to t_end."""

    n: int = 100

    def __post_init__(self):
        _check_count(self.n)

    def times(self, t_end: float, dt: float | None = None) -> np.ndarray:
        return np.linspace(0.0, t_end, max(2, self.n))


#: record schedules by name (run configs: ``record.schedule``)
SCHEDULES = {"log": LogSchedule, "linear": LinearSchedule}


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
        self.times.append(state.t)
        self.steps.append(state.step)
        self.dts.append(state.dt)
        self.risk.append(risk)
        self.test_risk.append(np.nan if test_risk is None else test_risk)
        self.snapshots.append(np.array(state.w, copy=True))

    def arrays(self) -> dict[str, np.ndarray]:
        """The records as arrays (snapshots stacked to (n_records, m, p))."""
        return {"times": np.asarray(self.times, dtype=float),
                "steps": np.asarray(self.steps, dtype=np.int64),
                "dts": np.asarray(self.dts, dtype=float),
                "risk": np.asarray(self.risk, dtype=float),
                "test_risk": np.asarray(self.test_risk, dtype=float),
                "snapshots": np.asarray(self.snapshots)}

    @classmethod
    def from_arrays(cls, arrays) -> "Recorder":
        return cls(*(list(arrays[key]) for key in
                     ("times", "steps", "dts", "risk", "test_risk", "snapshots")))


@dataclass(frozen=True)
class Trajectory:
    """Recorded ``times``, accepted ``steps``, step sizes ``dts``, ``risk``,
    ``test_risk`` (None without a test objective), ``snapshots`` (n_records, m, p), the
    ``final`` Network and the final integrator ``state``."""

    times: np.ndarray
    steps: np.ndarray
    dts: np.ndarray
    risk: np.ndarray
    test_risk: np.ndarray | None
    snapshots: np.ndarray
    final: Network
    state: State

    @classmethod
    def build(cls, recorder: Recorder, net: Network, state: State, has_test: bool):
        arr = recorder.arrays()
        return cls(arr["times"], arr["steps"], arr["dts"], arr["risk"],
                   arr["test_risk"] if has_test else None, arr["snapshots"],
                   net.with_w(np.array(state.w, copy=True)), state)


def step_count(integrator: Integrator, t_end: float) -> int:
    """Steps a fixed-dt integrator takes to t_end: ceil(t_end/dt) (to 1e-9 of a step),
    the last one shortened to land on t_end exactly when t_end is not a multiple of dt."""
    return max(1, math.ceil(t_end / integrator.params["dt"] - 1e-9))


def record_targets(integrator: Integrator, schedule, t_end: float) -> np.ndarray:
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


def _likely_cause(integrator: Integrator, state: State) -> str:
    if integrator.name == "adaptive":
        return "the step size collapsed; the objective may be ill-conditioned or non-smooth"
    return f"dt={state.dt:g} is too large (try a smaller dt or the adaptive integrator)"


def simulate(net: Network, objective, integrator: Integrator, t_end: float,
             record=LogSchedule(200), seed=0, test=None, progress: bool = False,
             blowup: float = 1e8, start: tuple[State, Recorder] | None = None,
             on_step=None) -> Trajectory:
    """Integrate the mean-field dynamics of ``objective`` from ``net`` up to ``t_end``.

    Records at the times of ``record`` (a :class:`LogSchedule` or :class:`LinearSchedule`;
    for fixed-dt integrators snapped to the grid t = n dt) the risk R(f) of the objective,
    ``test.risk`` if a test objective is given, and the particles. ``seed`` seeds the
    state's random stream (minibatches, Langevin noise, online batches). ``start`` is a
    (state, recorder) pair to continue from; ``on_step(state, recorder)`` is called after
    every accepted step (checkpoints). Raises :class:`Divergence` on a non-finite particle
    or a risk above ``blowup`` times max(initial risk, 1).

    The run ends at t_end exactly: a fixed-dt integrator takes ceil(t_end/dt) steps, the
    last one shortened when t_end is not a multiple of dt, and is recorded there.

    Fixed points are skipped exactly: when an Euler step on a deterministic objective
    leaves every particle bit-for-bit where it was (the velocity is exactly 0, e.g. a
    hinge loss once every margin is >= 1), all later steps would too, so the remaining
    records are taken at once on the step grid (same particles, steps and times as
    stepping through).
    """
    t_end = float(t_end)
    if not math.isfinite(t_end) or t_end <= 0:
        raise ValueError(f"t_end must be a positive number, got {t_end}")
    fld = Field(net, objective)
    if start is None:
        state, recorder = integrator.init(net.w, fld, seed), Recorder()
    else:
        state, recorder = start
    targets = record_targets(integrator, record, t_end)
    n_end = step_count(integrator, t_end) if integrator.fixed_dt else None

    def grid_time(step: int) -> float:
        return t_end if step == n_end else step * state.dt

    def cap(target) -> float | None:
        """The largest next step: fixed-dt integrators take dt except on the last step,
        which lands on t_end; the others stop at the next record time."""
        if not integrator.fixed_dt:
            return target - state.t
        left = t_end - state.t
        return left if state.step + 1 == n_end and left < state.dt * (1 - 1e-9) else None

    def take(state):
        current = fld.network(state.w)
        risk = float(objective.risk(current))
        test_risk = None if test is None else float(test.risk(current))
        if not math.isfinite(risk) or (recorder.risk and
                                       risk > blowup * max(recorder.risk[0], 1.0)):
            raise Divergence(state.step, state.t, f"the risk blew up to {risk:.3g}",
                             _likely_cause(integrator, state))
        recorder.add(state, risk, test_risk)

    from tqdm.auto import tqdm

    with np.errstate(over="ignore", invalid="ignore"), \
            tqdm(total=t_end, disable=not progress, unit="t", leave=False,
                 bar_format="{l_bar}{bar}| t={n:.4g}/{total:.4g} [{elapsed}<{remaining}]"
                 ) as bar:
        bar.update(state.t)
        if len(recorder) == 0:
            take(state)
        while len(recorder) < len(targets):
            target = targets[len(recorder)]
            t_before, w_before = state.t, state.w
            try:
                state = integrator.step(state, fld, cap(target))
            except FloatingPointError as err:
                raise Divergence(state.step, state.t, str(err),
                                 _likely_cause(integrator, state)) from None
            if not np.all(np.isfinite(state.w)):
                raise Divergence(state.step, state.t, "particles became NaN or Inf",
                                 _likely_cause(integrator, state))
            if integrator.fixed_dt:
                reached = state.step >= target
                if state.step == n_end:
                    state = replace(state, t=t_end)
            else:
                reached = state.t >= target - 1e-12 * max(1.0, target)
                if reached and target == t_end:
                    state = replace(state, t=t_end)
            if reached:
                take(state)
            if (integrator.name == "euler" and not fld.stochastic
                    and len(recorder) < len(targets) and np.array_equal(state.w, w_before)):
                for target in targets[len(recorder):]:
                    state = replace(state, step=int(target), t=grid_time(int(target)))
                    take(state)
            bar.update(state.t - t_before)
            if on_step is not None:
                on_step(state, recorder)
    return Trajectory.build(recorder, net, state, test is not None)
