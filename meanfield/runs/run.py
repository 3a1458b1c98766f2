"""Runs: a Config in, a run directory out (``run``), continued after a crash (``resume``).

A run is a pure function of its config: the teacher, the student's initial particles,
the data and the dynamics' random stream come from independent children of
``SeedSequence(config.seed)``. Checkpoints (:mod:`meanfield.runs.checkpoint`) are taken every
``checkpoint.every_steps`` steps or ``checkpoint.every_seconds`` seconds at step
boundaries, so ``resume`` reproduces an uninterrupted run bit-for-bit on the same backend.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import dynamics
from ..model import Network, coupled_indices
from ..objectives import GaussianPopulation
from ..trajectory import SCHEDULES, Divergence, Recorder, Trajectory, simulate
from . import store
from .checkpoint import load_checkpoint, save_checkpoint
from .config import Config, ConfigError, integrator_params
from .diagnose import along_run
from .objective_kinds import OBJECTIVE_KINDS


@dataclass(frozen=True)
class Problem:
    """Everything a config builds: teacher, student, objective, test objective (or None),
    integrator and record schedule."""

    teacher: Network
    student: Network
    objective: object
    test: object
    integrator: dynamics.Integrator
    schedule: object
    dynamics_seed: np.random.SeedSequence


def build(config: Config) -> Problem:
    """Instantiate the config (theory §1 alpha family; §6 for alpha = "sum"); any
    inconsistency the field checks cannot see is reported as a ConfigError."""
    try:
        return _build(config)
    except ConfigError:
        raise
    except (ValueError, TypeError, NotImplementedError) as err:
        raise ConfigError("config", str(err).splitlines()[0]) from None


def _build(config: Config) -> Problem:
    teacher_seed, student_seed, data_seed, dyn_seed = \
        np.random.SeedSequence(config.seed).spawn(4)
    t, s, o = config.teacher, config.student, config.objective
    dtype = np.dtype(config.dtype)
    teacher = Network.init(t.m, config.d, activation=t.activation, bias=t.bias,
                           sphere=t.sphere, output=t.output, alpha=t.alpha,
                           seed=teacher_seed)
    m_init = s.init.reference_m or s.m
    student = Network.init(m_init, config.d, activation=s.activation, bias=s.bias,
                           tau=s.init.tau, symmetric=s.init.symmetric,
                           sphere=s.init.sphere, output=s.init.output,
                           alpha=s.alpha, centered=s.centered,
                           seed=student_seed if s.init.seed is None else s.init.seed,
                           dtype=dtype)
    if m_init != s.m:  # synchronous coupling with a larger reference (theory §11)
        keep = coupled_indices(m_init, s.m, s.init.symmetric)
        student = Network.from_packed(student.w[keep], student.layout, s.activation,
                                      alpha=s.alpha, centered=s.centered)
    population = GaussianPopulation(teacher, noise=t.noise, inputs=o.inputs,
                                     backend=config.backend)
    objective, test = OBJECTIVE_KINDS[o.kind].build(config, population, data_seed)
    try:
        integrator = dynamics.make(config.integrator.name, **integrator_params(config))
    except ValueError as err:
        raise ConfigError("integrator", str(err)) from None
    r = config.record
    schedule = SCHEDULES[r.schedule](**{key: value for key, value in
                                         (("n", r.n), ("t_min", r.t_min)) if value is not None})
    return Problem(teacher, student, objective, test, integrator, schedule, dyn_seed)


@dataclass(frozen=True)
class Result:
    """A finished (or loaded) run: its directory, config, trajectory and status."""

    run_dir: Path
    config: Config
    trajectory: Trajectory
    teacher: Network
    status: str
    wall_time: float


def _metrics(config, recorder, status, wall, message=None) -> dict:
    arr = recorder.arrays()
    metrics = {"status": status, "wall_time": wall, "message": message,
               "t_end": config.t_end, "times": arr["times"].tolist(),
               "steps": arr["steps"].tolist(), "dt": arr["dts"].tolist(),
               "risk": arr["risk"].tolist()}
    if config.objective.n_test and OBJECTIVE_KINDS[config.objective.kind].fixed_data:
        metrics["test_risk"] = arr["test_risk"].tolist()
    return metrics


def run(config: Config, out_dir, progress: bool | None = None) -> Result:
    """Run ``config`` into a new directory ``out_dir``: writes config.json/config.toml,
    then checkpoints, metrics.json and trajectory.npz. Raises ConfigError before
    writing anything if the config is invalid or ``out_dir`` already holds a run, and
    Divergence (after recording it in metrics.json) if the dynamics blow up."""
    if not isinstance(config, Config):
        raise TypeError("run needs a meanfield.Config")
    problem = build(config)
    out = Path(out_dir)
    if (out / store.CONFIG).exists():
        raise ConfigError("out", f"{out} already holds a run; use `meanfield resume {out}`")
    out.mkdir(parents=True, exist_ok=True)
    store.write_text(out / store.CONFIG_TOML, config.to_toml())
    store.write_text(out / store.CONFIG, config.to_json() + "\n")
    return _execute(out, config, problem, None, progress)


def resume(run_dir, progress: bool | None = None) -> Result:
    """Continue the run in ``run_dir`` from its last checkpoint (or return it if done);
    the final particles equal those of an uninterrupted run."""
    run_dir = Path(run_dir)
    if not (run_dir / store.CONFIG).exists():
        raise ConfigError("run_dir", f"{run_dir} is not a run directory (no config.json)")
    config = Config.load(run_dir / store.CONFIG)
    metrics = run_dir / store.METRICS
    if metrics.exists() and store.read_json(metrics)["status"] == "done":
        return load(run_dir)
    problem = build(config)
    store.remove_temporaries(run_dir)
    start = load_checkpoint(run_dir) if (run_dir / store.CHECKPOINT).exists() else None
    return _execute(run_dir, config, problem, start, progress)


def _execute(out: Path, config, problem: Problem, start, progress) -> Result:
    if progress is None:
        progress = sys.stderr.isatty()
    every_steps, every_seconds = config.checkpoint.every_steps, config.checkpoint.every_seconds
    clock = {"last": time.monotonic()}
    began = time.monotonic()

    def checkpoint(state, recorder):
        now = time.monotonic()
        if (every_steps and state.step % every_steps == 0) or now - clock["last"] >= every_seconds:
            save_checkpoint(out, state, recorder)
            clock["last"] = now

    if start is None:
        state0 = problem.integrator.init(problem.student.w,
                                         dynamics.Field(problem.student, problem.objective),
                                         problem.dynamics_seed)
        start = (state0, Recorder())
        save_checkpoint(out, *start)
    recorder = start[1]
    store.write_json(out / store.METRICS, _metrics(config, recorder, "running", 0.0))
    try:
        traj = simulate(problem.student, problem.objective, problem.integrator, config.t_end,
                        record=problem.schedule, test=problem.test, progress=progress,
                        start=start, on_step=checkpoint, callback_every=every_steps or None)
    except Divergence as err:
        store.write_json(out / store.METRICS, _metrics(config, recorder, "diverged",
                                                       time.monotonic() - began, str(err)))
        err.run_dir = out
        raise
    wall = time.monotonic() - began
    save_checkpoint(out, traj.state, recorder)
    store.write_npz(out / store.TRAJECTORY, times=traj.times, steps=traj.steps,
                    dts=traj.dts, risk=traj.risk, test_risk=recorder.arrays()["test_risk"],
                    snapshots=traj.snapshots, final=traj.final.w, teacher=problem.teacher.w)
    metrics = {**_metrics(config, recorder, "done", wall), "final_risk": float(traj.risk[-1])}
    if config.diagnostics.probe:
        metrics["diagnostics"] = along_run(problem, traj.snapshots, config.t_end,
                                           config.diagnostics.probe, config.diagnostics.tangent,
                                           problem.dynamics_seed)
    store.write_json(out / store.METRICS, metrics)
    return Result(out, config, traj, problem.teacher, "done", wall)


def load(run_dir) -> Result:
    """A finished run read back from disk (no simulation)."""
    run_dir = Path(run_dir)
    config = Config.load(run_dir / store.CONFIG)
    metrics = store.read_json(run_dir / store.METRICS)
    if metrics["status"] != "done":
        raise ConfigError("run_dir", f"{run_dir} is not finished (status "
                                     f"{metrics['status']}); resume it first")
    problem = build(config)
    arr = store.read_npz(run_dir / store.TRAJECTORY)
    state, _ = load_checkpoint(run_dir)
    has_test = "test_risk" in metrics
    traj = Trajectory(arr["times"], arr["steps"], arr["dts"], arr["risk"],
                      arr["test_risk"] if has_test else None, arr["snapshots"],
                      problem.student.with_w(arr["final"]), state)
    return Result(run_dir, config, traj, problem.teacher.with_w(arr["teacher"]), "done",
                  metrics["wall_time"])
