"""Runs: a Config in, a run directory out (``run``), continued after a crash (``resume``).

A run is a pure function of its config: the teacher, the student's initial particles,
the data and the dynamics' random stream come from independent children of
``SeedSequence(config.seed)``. Checkpoints (:mod:`meanfield.runs.checkpoint`) are taken every
``checkpoint.every_steps`` steps or ``checkpoint.every_seconds`` seconds at step
boundaries, so ``resume`` reproduces an uninterrupted run bit-for-bit on the same backend.

A run never lies about where it is. Every run ends at t_end exactly (fixed-step
integrators shorten their last step); metrics.json says ``done`` only then, and otherwise
``running`` (updated at every checkpoint), ``interrupted`` (SIGINT or SIGTERM: a
checkpoint is taken first), ``diverged`` or ``failed``, with t, t_end, the step count and
the wall time summed over every segment (each start or resume). Only meanfield writes a
run directory (its marker is written first; a directory without it is never written
into), one process at a time (an exclusive lock naming its holder), and resume refuses a
config that differs from the one its checkpoint was computed for, naming the field; the
horizon changes only through ``resume(run_dir, t_end=T)``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import signal
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..dynamics import integrators as dynamics
from ..model.network import Network, coupled_indices
from ..objectives.frozen import freeze
from ..objectives.teacher_student import GaussianPopulation
from ..dynamics.trajectory import SCHEDULES, Divergence, Recorder, Schedule, Trajectory
from ..dynamics.protocols import Field
from ..dynamics.trajectory import simulate
from ..objectives.protocol import Objective
from . import rundir, store, teachers
from .checkpoint import open_latest, read, save_checkpoint
from .config import Config, ConfigError, integrator_params
from .diagnose import along_run, index_overlaps, tangent_model
from .objective_kinds import OBJECTIVE_KINDS
from .resources import check_memory, check_steps
from .segment import (Interrupted, Segment, belongs, consistent, deferred_signals, history,
                      note, prior_wall)
from .store import Busy, DamagedRun

__all__ = ["Interrupted", "Problem", "Result", "RunFailed", "begin", "build", "complete", "load",
           "locked", "prepare", "resume", "run", "start_new", "stopping"]


class RunFailed(RuntimeError):
    """A run stopped by an error that is neither bad input nor divergence (a full disk,
    a file that vanished, a bug); status "failed", the last checkpoint kept."""


@dataclass(frozen=True)
class Problem:
    """Everything a config builds: teacher, student, objective, test objective (or None),
    integrator and record schedule."""

    teacher: Network
    student: Network
    objective: Objective
    test: Objective | None
    integrator: dynamics.Integrator
    schedule: Schedule
    dynamics_seed: np.random.SeedSequence


def build(config: Config) -> Problem:
    """Instantiate the config (theory §1 alpha family; §6 for alpha = "sum") after
    checking that its memory estimate fits and, once the integrator is known, that its
    step count can be counted (:mod:`meanfield.runs.resources`); any inconsistency the
    field checks cannot see is reported as a ConfigError. Writes nothing."""
    check_memory(config)
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # caught below, by field
            problem = _build(config)
    except ConfigError:
        raise
    except (ValueError, TypeError, NotImplementedError, OverflowError) as err:
        raise ConfigError("config", str(err).splitlines()[0]) from None
    check_steps(config, problem.integrator.fixed_dt)
    return problem


def _build(config: Config) -> Problem:
    teacher_seed, student_seed, data_seed, dyn_seed = \
        np.random.SeedSequence(config.seed).spawn(4)
    t, s, o = config.teacher, config.student, config.objective
    dtype = np.dtype(config.dtype)
    teacher, target = teachers.build(config, teacher_seed)
    m_init = s.init.reference_m or s.m
    i = s.init
    try:
        student = teachers.explicit(i, activation=s.activation, alpha=s.alpha, centered=s.centered,
                            dtype=dtype) or Network.init(
            m_init, config.d, activation=s.activation, bias=s.bias,
            tau={block: i.tau if getattr(i, f"tau_{block}") is None
                 else getattr(i, f"tau_{block}") for block in ("c", "a", "b")},
            symmetric=i.symmetric, sphere=i.sphere and i.input is None, output=i.output,
            input=i.input, bias_law=i.bias_law, alpha=s.alpha, centered=s.centered,
            seed=student_seed if i.seed is None else i.seed, dtype=dtype)
    except ValueError as err:  # a scale too large for the dtype: particles overflow
        if "NaN or Inf" not in str(err):
            raise
        taus = {f"student.init.{n}": getattr(i, n) for n in ("tau", "tau_c", "tau_a", "tau_b")
                if getattr(i, n) is not None}
        name = max(taus, key=lambda k: taus[k])
        raise ConfigError(name, f"{taus[name]:g} makes the initial particles overflow "
                                f"{config.dtype}") from None
    if m_init != s.m:  # synchronous coupling with a larger reference (theory §11)
        keep = coupled_indices(m_init, s.m, s.init.symmetric)
        student = Network.from_packed(student.w[keep], student.layout, s.activation,
                                      alpha=s.alpha, centered=s.centered)
    population = GaussianPopulation(target, noise=t.noise, inputs=o.inputs,
                                     backend=config.backend)
    objective, test = OBJECTIVE_KINDS[o.kind].build(config, population, data_seed)
    objective = freeze(objective, s.frozen)  # fixed parameter groups (velocity zero there)
    try:
        integrator = dynamics.make(config.integrator.name, **integrator_params(config))
    except ValueError as err:
        raise ConfigError("integrator", str(err)) from None
    r = config.record
    schedule = SCHEDULES[r.schedule](**{key: value for key, value in
                                         (("n", r.n), ("t_min", r.t_min)) if value is not None})
    return Problem(teacher, student, objective, test, integrator, schedule, dyn_seed)


@dataclass(frozen=True)
class Extended:
    """The record times of a run whose horizon was extended (``t_ends``: every horizon it
    has had, the last its current t_end): the base schedule's times up to the first
    horizon, then, for each later one, the base schedule's times to that horizon that lie
    beyond the one before. The records taken before an extension are kept as they are."""

    base: Schedule
    t_ends: tuple

    def times(self, t_end: float, dt: float | None = None) -> np.ndarray:
        parts, low = [], -math.inf
        for high in self.t_ends:
            times = np.asarray(self.base.times(high, dt))
            parts.append(times[(times > low) & (times <= high)])
            low = high
        return np.concatenate(parts)


def _withhistory(problem: Problem, t_ends) -> Problem:
    if len(t_ends) < 2:
        return problem
    return dataclasses.replace(problem, schedule=Extended(problem.schedule, tuple(t_ends)))


@dataclass(frozen=True)
class Result:
    """A finished (or loaded) run: its directory, config, trajectory and status
    ("done", or "diverged" for a diverged run loaded up to its last good record).

    Examples:

        >>> import tempfile, pathlib, numpy as np, meanfield as mf
        >>> config = mf.Config.from_dict({"student": {"m": 8}, "t_end": 1.0, "backend": "numpy",
        ...                               "record": {"schedule": "linear", "n": 3}})
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
        >>> result = mf.run(config, out, progress=False)
        >>> result.run_dir == out, result.config == config, result.teacher.m
        (True, True, 3)
    """

    run_dir: Path
    config: Config
    trajectory: Trajectory
    teacher: Network
    status: str
    wall_time: float


# -- starting and resuming -------------------------------------------------------------------
def _prepare_out(out: Path) -> None:
    """Refuse, before touching anything, an --out that is a file, a directory that is
    not empty and not a meanfield run directory, or one that already holds a run."""
    if out.exists() and not out.is_dir():
        raise ConfigError("out", f"{out} exists and is not a directory")
    if not out.is_dir() or store.is_empty_dir(out):
        return
    if not store.has_marker(out):
        raise ConfigError("out", f"{out} is not empty and not a meanfield run directory "
                                 f"(no {store.MARKER}); nothing was written: choose a new "
                                 f"or empty directory")
    if any((out / name).exists() for name in store.RUN_FILES[2:]):
        raise ConfigError("out", f"{out} already holds a run; use `meanfield resume {out}`")


def prepare(out: Path) -> None:
    """Check ``out`` for a new run (:func:`_prepare_out`) and create it."""
    _prepare_out(out)
    _make_dir(out)


@contextlib.contextmanager
def locked(directory: Path, command: str):
    """Hold the run directory's lock (a second writer gets a ConfigError naming the
    holder)."""
    try:
        with store.lock(directory, command):
            yield
    except Busy as err:
        raise ConfigError("run_dir", str(err)) from None


def _make_dir(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError("out", f"cannot create {out}: {err.strerror}") from None


def run(config: Config, out_dir, progress: bool | None = None) -> Result:
    """Run ``config`` into a new directory ``out_dir``: writes the marker, config.json and
    config.toml, then checkpoints, metrics.json and trajectory.npz. Raises ConfigError
    before writing anything if the config is invalid, its memory estimate exceeds the
    memory available, or ``out_dir`` is a file, a foreign non-empty directory or already
    holds a run; Divergence (after recording it) if the dynamics blow up, Interrupted
    on SIGINT/SIGTERM (after checkpointing), RunFailed on any other error.

    ``progress``: True shows a progress bar, False nothing, None (default) a bar on a
    terminal and otherwise one line on stderr per checkpoint (t, risk, steps/s).

    Examples:

        >>> import tempfile, pathlib, numpy as np, meanfield as mf
        >>> config = mf.Config.from_dict({"student": {"m": 8}, "t_end": 1.0, "backend": "numpy",
        ...                               "record": {"schedule": "linear", "n": 3}})
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
        >>> result = mf.run(config, out, progress=False)
        >>> result.status, result.trajectory.times
        ('done', array([0. , 0.5, 1. ]))
        >>> sorted(p.name for p in out.glob("*.json"))
        [...'config.json', ...'metrics.json'...]
    """
    if not isinstance(config, Config):
        raise TypeError("run needs a meanfield.Config")
    problem = build(config)
    out = Path(out_dir)
    prepare(out)
    try:
        with locked(out, "run"):
            book = start_new(config, out, problem, progress)
            return _execute(book, problem, None)
    except OSError as err:  # before the run started: a read-only or full file system
        raise ConfigError("out", f"cannot write into {out}: {err.strerror}") from None


def resume(run_dir, progress: bool | None = None, t_end: float | None = None) -> Result:
    """Continue the run in ``run_dir`` from its last checkpoint (or return it if done);
    the final particles equal those of an uninterrupted run.

    Falls back to the previous checkpoint when the newest is damaged (and says so on
    stderr). Refuses, naming the field, a config.json that differs from the config the
    checkpoint was computed for; ``t_end`` (larger than the run's) extends the run's
    horizon, finished or not: config.json/config.toml are updated and the extension is
    recorded (``t_ends`` in metrics.json and the checkpoints). A diverged run is not
    resumed (it would diverge again: runs are deterministic).

    Examples:

        >>> import tempfile, pathlib, numpy as np, meanfield as mf
        >>> config = mf.Config.from_dict({"student": {"m": 8}, "t_end": 1.0, "backend": "numpy",
        ...                               "record": {"schedule": "linear", "n": 3}})
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
        >>> first = mf.run(config, out, progress=False)
        >>> longer = mf.resume(out, t_end=2.0, progress=False)     # continue to a later horizon
        >>> float(longer.trajectory.times[-1]), longer.status
        (2.0, 'done')
    """
    run_dir = rundir.check_run_dir(run_dir)
    done = _finished(run_dir)  # read-only: a finished run is not locked nor written
    if done is not None and t_end is None:
        return done
    with locked(run_dir, "resume"):
        done = _finished(run_dir)
        if done is not None and t_end is None:
            return done
        store.remove_temporaries(run_dir)
        return _resume_locked(run_dir, progress, t_end)


def _finished(run_dir: Path):
    """The loaded run when it is done at its config's t_end, else None; raises for a
    diverged run."""
    config = rundir.read_config(run_dir)
    if not (run_dir / store.METRICS).exists():
        return None
    metrics = rundir.read_metrics(run_dir)
    if metrics["status"] == "diverged":
        raise RunFailed(f"{run_dir} diverged ({metrics.get('message')}); resuming would "
                        f"diverge again (runs are deterministic): start a new run, e.g. "
                        f"with a smaller integrator.dt")
    if rundir.finished(metrics, config):
        rundir.check_metrics_config(metrics, config, run_dir)
        try:
            return load(run_dir)
        except DamagedRun as err:  # resumed from the previous checkpoint, which says so
            if err.path.name != store.CHECKPOINT or not \
                    (run_dir / store.CHECKPOINT_PREVIOUS).exists():
                raise
    return None


def _template(problem: Problem) -> dynamics.State:
    """A fresh initial state of the run: the shapes and dtypes a checkpoint must have."""
    return problem.integrator.init(problem.student.w,
                                   Field(problem.student, problem.objective),
                                   problem.dynamics_seed)


def _resume_locked(run_dir: Path, progress, t_end) -> Result:
    config = rundir.read_config(run_dir)
    problem = build(config)
    try:
        point = open_latest(run_dir, "run", _template(problem),
                            belongs(config, extending=t_end is not None))
    except FileNotFoundError:
        computed = [n for n in (store.METRICS, store.TRAJECTORY) if (run_dir / n).exists()]
        if computed:
            raise DamagedRun(run_dir / store.CHECKPOINT,
                             f"missing (and no {store.CHECKPOINT_PREVIOUS}); the run cannot "
                             f"be resumed: start it again with `meanfield run`") from None
        if t_end is not None:
            config = config.override({"t_end": repr(_horizon(t_end, config.t_end))})
            problem = build(config)
        _write_config(run_dir, config)
        note(f"{run_dir} has no checkpoint and nothing computed: starting at t = 0")
        book = _segment(run_dir, config, "resume", (config.t_end,), 0.0, [], progress)
        return _execute(book, problem, None)
    stored = rundir.stored_config(point.meta, point.path)
    t_ends = history(point.meta, point.path, stored)
    if t_end is not None:
        t_end = _horizon(t_end, stored.t_end)
        config = config.override({"t_end": repr(t_end)})
        t_ends = (*t_ends, t_end)
        problem = build(config)  # the new horizon's step count checked: nothing written yet
        _check_on_grid(point.state, problem.integrator, stored.t_end, t_end)
    if point.fallback:
        note(f"{point.fallback}; resuming from {point.path.name} at t={point.state.t:.6g}")
    wall, segments = prior_wall(point.meta, run_dir)
    book = _segment(run_dir, config, "resume", t_ends, wall, segments, progress)
    if point.fallback:
        book.keep["run"] = False  # the damaged newest file is replaced, the good one kept
    if t_end is not None:  # the extension is in the checkpoint before the config says it
        book.save(point.state, point.recorder, "run")
        _write_config(run_dir, config)
    return _execute(book, _withhistory(problem, t_ends), (point.state, point.recorder))


def _horizon(t_end, current: float) -> float:
    """The new horizon of an extension: a finite number larger than ``current``."""
    try:
        t_end = float(t_end)
    except (TypeError, ValueError):
        raise ConfigError("t_end", f"must be a number, got {t_end!r}") from None
    if not math.isfinite(t_end) or t_end <= current:
        raise ConfigError("t_end", f"must be larger than the run's t_end = {current:g} (a "
                                   f"run is extended, never shortened), got {t_end:g}")
    return t_end


def _check_on_grid(state, integrator, old: float, new: float) -> None:
    """A fixed-step run continues on its step grid only from a state on it: not from a
    last step that was shortened to land on a t_end that is not a multiple of dt."""
    if integrator.fixed_dt and abs(state.t - state.step * state.dt) > 1e-9 * max(1, state.t):
        raise ConfigError("t_end", f"cannot extend this run: its last step was shortened to "
                                   f"land on t_end = {old:g}, which is not a multiple of "
                                   f"integrator.dt = {state.dt:g}; start a new run with "
                                   f"--t_end {new:g}")


def _segment(out: Path, config: Config, mode: str, t_ends, prior_wall: float,
             segments: list, progress) -> Segment:
    """A Segment saving its checkpoints through this module's save_checkpoint."""
    return Segment(out, config, mode, t_ends, prior_wall, segments, progress,
                   lambda *a: save_checkpoint(*a))


def _write_config(run_dir: Path, config: Config) -> None:
    store.write_text(run_dir / store.CONFIG, config.to_json() + "\n")
    store.write_text(run_dir / store.CONFIG_TOML, config.to_toml())


def _trajectory_arrays(recorder: Recorder, final_w, teacher) -> dict:
    arr = recorder.arrays()
    return {"times": arr["times"], "steps": arr["steps"], "dts": arr["dts"],
            "risk": arr["risk"], "test_risk": arr["test_risk"],
            "snapshots": arr["snapshots"], "final": final_w, "teacher": teacher.w}


def _execute(book: Segment, problem: Problem, start) -> Result:
    """Simulate one run from ``start`` (None: t = 0) to t_end under ``book``'s bookkeeping."""
    state, recorder = begin(book, problem, start)
    phase = {"phase": "run"}
    with book.catching_signals(), stopping(book, problem, recorder, phase):
        traj = simulate(problem.student, problem.objective, problem.integrator,
                        book.config.t_end, record=problem.schedule, test=problem.test,
                        progress=book.bar, start=(state, recorder),
                        on_step=book.on_step("run"),
                        callback_every=book.config.checkpoint.every_steps or None)
        return complete(book, problem, traj, recorder, phase)


def begin(book: Segment, problem: Problem, start):
    """The (state, recorder) a run starts from (a fresh one is checkpointed first), with
    metrics.json saying "running"."""
    if start is None:
        start = (_template(problem), Recorder())
        book.save(start[0], start[1], "run")
    state, recorder = start
    book.main_state = state
    book.last_save["step"] = state.step
    book.metrics("running", state, recorder)
    return state, recorder


def complete(book: Segment, problem: Problem, traj: Trajectory, recorder: Recorder,
             phase: dict, **extra) -> Result:
    """Write a run that reached t_end: its last checkpoint, trajectory.npz, the
    diagnostics (``phase["phase"]`` says which part is running) and metrics "done" (with
    the ``extra`` fields)."""
    config, out = book.config, book.out
    state = book.main_state = traj.state
    if state.t != config.t_end:  # simulate lands on t_end; anything else is a bug
        raise RuntimeError(f"the run stopped at t={state.t:.17g}, not at t_end")
    book.save(state, recorder, "run")
    store.write_npz(out / store.TRAJECTORY,
                    **_trajectory_arrays(recorder, traj.final.w, problem.teacher))
    extra = {"final_risk": float(traj.risk[-1]), **extra}
    if config.diagnostics.probe:
        phase["phase"] = "tangent" if config.diagnostics.tangent else "diagnostics"
        book.metrics("running", state, recorder, phase["phase"], **extra)
        extra["diagnostics"] = _diagnostics(book, problem, traj)
    directions = problem.teacher.a.T if config.teacher.kind == "index" else None
    extra.update(index_overlaps(directions, traj.snapshots, problem.student.layout,
                                extra.pop("diagnostics", None)))
    book.metrics("done", state, recorder, "done", **extra)
    return Result(out, config, traj, problem.teacher, "done", book.written_wall)


@contextlib.contextmanager
def stopping(book: Segment, problem: Problem, recorder: Recorder, phase: dict):
    """Turn what stops a run early into its status in metrics.json and one exception:
    Divergence (records so far kept in trajectory.npz, so it can be plotted), Interrupted
    (after a checkpoint), RunFailed (anything else; the last checkpoint kept)."""
    out = book.out
    try:
        yield
    except Divergence as err:
        if phase["phase"] != "run":
            err = Divergence(err.step, err.t, f"the tangent model: {err.what}", err.cause)
        else:  # the records so far are good: a diverged run can be plotted
            last = recorder.snapshots[-1] if recorder.snapshots else problem.student.w
            store.write_npz(out / store.TRAJECTORY,
                            **_trajectory_arrays(recorder, last, problem.teacher))
        book.metrics("diverged", book.main_state, recorder, phase["phase"], message=str(err))
        err.run_dir = out
        raise err from None
    except Interrupted:
        raise
    except KeyboardInterrupt:  # a second signal: the status is written whole first
        with contextlib.suppress(Exception), deferred_signals():
            book.metrics("interrupted", book.main_state, recorder, phase["phase"],
                         message=f"interrupted; resumes from t={book.saved_t:.6g}")
        raise Interrupted(signal.SIGINT, book.saved_t, out) from None
    except Exception as err:
        what = f"cannot write {err.filename}: {err.strerror}" \
            if isinstance(err, OSError) and err.filename else \
            f"{type(err).__name__}: {(str(err).splitlines() or [''])[0]}"
        with contextlib.suppress(Exception):
            book.metrics("failed", book.main_state, recorder, phase["phase"], message=what)
        raise RunFailed(f"{out}: failed at t={book.main_state.t:.6g} ({what}); the last "
                        f"checkpoint (t={book.saved_t:.6g}) is kept: fix the cause and "
                        f"`meanfield resume {out}`") from err


def start_new(config: Config, out: Path, problem: Problem, progress=False) -> Segment:
    """Create the run directory ``out`` of a new run (refused, naming why, when it is a
    file, foreign or holds a run) and its bookkeeping; the caller holds ``out``'s lock
    (:func:`locked`)."""
    _prepare_out(out)  # again, now that no other writer can get in between
    store.write_marker(out)
    _write_config(out, config)
    return _segment(out, config, "run", (config.t_end,), 0.0, [], progress)


def _diagnostics(book: Segment, problem: Problem, traj: Trajectory) -> dict:
    """The diagnostics along the run; the tangent model is trained with its own
    checkpoints (tangent.npz), resumed from them like the run itself."""
    config = book.config
    start = None
    if config.diagnostics.tangent:
        start = _tangent_start(book, problem)
    return along_run(problem, traj.snapshots, config.t_end, config.diagnostics.probe,
                     config.diagnostics.tangent, problem.dynamics_seed,
                     start=start, on_step=book.on_step("tangent", traj_recorder(traj)),
                     progress=book.bar,
                     callback_every=config.checkpoint.every_steps or None)


def traj_recorder(traj: Trajectory) -> Recorder:
    """A Recorder holding a trajectory's records (what metrics.json lists)."""
    return Recorder(list(traj.times), list(traj.steps), list(traj.dts), list(traj.risk),
                    list(np.full(len(traj.times), np.nan) if traj.test_risk is None
                         else traj.test_risk), list(traj.snapshots))


def _tangent_start(book: Segment, problem: Problem):
    """The tangent model's last checkpoint if it belongs to this run (same config but for
    a horizon it was extended from), else None (trained from t = 0, said on stderr)."""
    out = book.out
    lin = tangent_model(problem.objective, problem.student)
    template = problem.integrator.init(problem.student.w, Field(problem.student, lin),
                                       problem.dynamics_seed)
    try:
        point = open_latest(out, "tangent", template, consistent)
        stored = rundir.stored_config(point.meta, point.path)
        t_ends = history(point.meta, point.path, stored)
    except FileNotFoundError:
        return None
    except DamagedRun as err:
        note(f"{err}; training the tangent model from t = 0")
        return None
    same = not [c for c in rundir.changed_fields(stored, book.config) if c[0] != "t_end"]
    if not same or book.t_ends[:len(t_ends)] != t_ends:
        note(f"{point.path} belongs to another config; training the tangent model from "
              f"t = 0")
        return None
    if point.fallback:
        note(f"{point.fallback}; resuming the tangent model from {point.path.name} at "
              f"t={point.state.t:.6g}")
        book.keep["tangent"] = False
    return point.state, point.recorder


# -- reading a finished run ---------------------------------------------------------------------
def load(run_dir) -> Result:
    """A finished run read back from disk (no simulation), every file checked. A diverged
    run loads up to its last good record (status "diverged"); an unfinished one raises
    ConfigError (resume it first).

    Examples:

        >>> import tempfile, pathlib, numpy as np, meanfield as mf
        >>> config = mf.Config.from_dict({"student": {"m": 8}, "t_end": 1.0, "backend": "numpy",
        ...                               "record": {"schedule": "linear", "n": 3}})
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
        >>> result = mf.run(config, out, progress=False)
        >>> again = mf.load(out)                                   # read back, nothing simulated
        >>> bool(np.array_equal(again.trajectory.final.w, result.trajectory.final.w))
        True
    """
    run_dir = rundir.check_run_dir(run_dir)
    config = rundir.read_config(run_dir)
    metrics = rundir.read_metrics(run_dir)
    status = metrics["status"]
    if not (rundir.finished(metrics, config) or status == "diverged"):
        raise ConfigError("run_dir", f"{run_dir} is not finished (status {status} at "
                                     f"t={metrics['t']:.6g} of {config.t_end:g}); resume it "
                                     f"first: meanfield resume {run_dir}")
    problem = build(config)
    if status == "diverged" and not (run_dir / store.TRAJECTORY).exists():
        raise DamagedRun(run_dir / store.TRAJECTORY, "missing: the run diverged before "
                                                     "anything was recorded")
    arr = rundir.read_trajectory(run_dir, problem.student.w.shape, problem.teacher.w.shape,
                                 metrics)
    rundir.check_metrics_config(metrics, config, run_dir)
    point = read(run_dir / store.CHECKPOINT, _template(problem))
    rundir.check_same(consistent(point), config, point.path)
    if status == "done" and point.state.t != config.t_end:
        raise DamagedRun(point.path, "does not hold the run's final state; altered")
    has_test = "test_risk" in metrics
    traj = Trajectory(arr["times"], arr["steps"], arr["dts"], arr["risk"],
                      arr["test_risk"] if has_test else None, arr["snapshots"],
                      problem.student.with_w(arr["final"]), point.state)
    return Result(run_dir, config, traj, problem.teacher.with_w(arr["teacher"]), status,
                  metrics["wall_time"])
