"""Batched sweeps: compatible config cells run as one ensemble inside a worker.

Cells whose configs differ only in what an ensemble member may hold on its own (the
seed, the student's init scale and alpha, the teacher's alpha and noise, dt, temperature,
momentum tau, weight decay, t_end) share network shapes, objective kind, integrator kind
and record schedule: :func:`groups` puts them in one group (split so that every worker
gets work), and :func:`run_group` runs a group with
:func:`meanfield.dynamics.trajectory.simulate_many`, one (S, m, p) array per step. Every cell keeps
its own run directory (marker, lock, config, checkpoints, metrics, trajectory, attempts
log), written by the same code as :func:`meanfield.runs.run.run`; a diverged member is
recorded as such while the others go on. A cell that was interrupted resumes on its own
from its checkpoint (:func:`meanfield.runs.run.resume`). Member s computes what the
cell's serial run computes, so results.csv is the same with and without batching (to
rounding: bit for bit on the NumPy and Numba backends).
"""
from __future__ import annotations

import contextlib
import json
import math
import sys
from pathlib import Path

from ..dynamics.trajectory import Divergence, simulate_many
from . import run as runner
from . import store
from .cell_tasks import crash_outcome, finish_attempt, run_cell, start_attempt
from .cells import cell_state
from .config import Config
from .store import DamagedRun

#: config fields an ensemble member may hold on its own (everything else groups cells)
PER_MEMBER = ("seed", "t_end", "student.init.tau", "student.init.seed", "student.alpha",
              "teacher.alpha", "teacher.noise", "integrator.dt", "integrator.temperature",
              "integrator.tau", "integrator.weight_decay")
#: most members in one ensemble
MAX_MEMBERS = 64


def _flat(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, name + "."))
        else:
            out[name] = value
    return out


def group_key(config: Config) -> str:
    """What cells must share to run as one ensemble: the config without PER_MEMBER."""
    flat = {k: v for k, v in _flat(config.to_dict()).items() if k not in PER_MEMBER}
    if config.integrator.name != "adaptive":
        flat.pop("integrator.dt_max", None)
    return json.dumps(flat, sort_keys=True, default=str)


def _steps(config: Config) -> float:
    dt = config.integrator.dt or 1.0
    return config.t_end / dt


def groups(cells, workers: int = 1, max_members: int = MAX_MEMBERS) -> list[list]:
    """Cells (objects with a ``config``) in ensembles: compatible cells together, ordered
    by their number of steps (members of a group finish close together), each compatible
    set split into at least ``workers`` groups of at most ``max_members``."""
    sets: dict[str, list] = {}
    for cell in cells:
        sets.setdefault(group_key(cell.config), []).append(cell)
    out = []
    for members in sets.values():
        members = sorted(members, key=lambda c: _steps(c.config))
        parts = max(math.ceil(len(members) / max_members), min(workers, len(members)))
        size = math.ceil(len(members) / parts)
        out += [members[i:i + size] for i in range(0, len(members), size)]
    return out


def run_group(cell_dirs: list, config_jsons: list) -> list:
    """The task a worker runs for a group of config cells: the cells never started run
    as one ensemble, the others as single cells (:func:`run_cell`: finished ones are
    reported, interrupted ones resume from their checkpoints); returns each cell's
    outcome {"status", "message"} in order. Every attempt is logged in the cell's
    attempts.json. A crash of the ensemble falls back to running its cells one by one."""
    outcomes, fresh = {}, []
    for cell_dir, config_json in zip(cell_dirs, config_jsons, strict=False):
        cell = Path(cell_dir)
        try:
            new = cell_state(cell) == "pending" and not (cell / store.CONFIG).exists()
        except (DamagedRun, OSError) as err:
            outcomes[cell_dir] = crash_outcome(err)
            continue
        if not new:
            outcomes[cell_dir] = run_cell(cell_dir, config_json)
            continue
        fresh.append((cell_dir, Config.from_json(config_json)))
    started = set()

    def on_start(out: Path) -> None:  # once its config is written, as for a single cell
        start_attempt(out, "run", from_step=0, batched=True)
        started.add(str(out))

    if fresh:
        logged = {}  # outcomes whose attempt run_cell has logged and completed itself
        try:
            results = run_fresh([(Path(d), config) for d, config in fresh], on_start)
        except Exception as err:  # noqa: BLE001 - fall back to one run per cell
            print(f"meanfield: ensemble of {len(fresh)} cells failed "
                  f"({type(err).__name__}: {err}); running them one by one", file=sys.stderr)
            results = []
            for cell_dir, config in fresh:
                if cell_dir in started:
                    results.append(_single(Path(cell_dir), config))
                else:
                    logged[cell_dir] = run_cell(cell_dir, config.to_json())
                    results.append(logged[cell_dir])
        for (cell_dir, _), outcome in zip(fresh, results, strict=False):
            if cell_dir in logged:
                outcomes[cell_dir] = outcome
                continue
            try:
                outcomes[cell_dir] = finish_attempt(Path(cell_dir), outcome)
            except (DamagedRun, OSError):  # attempts.json unusable: the outcome counts
                outcomes[cell_dir] = outcome
    return [outcomes[d] for d in cell_dirs]


def run_configs(configs, out_dirs) -> list:
    """Run configs into new run directories as one ensemble (they must be compatible, see
    :func:`group_key`); returns their :class:`meanfield.runs.run.Result` (a diverged or
    failed one raises RuntimeError after the others are written)."""
    outcomes = run_fresh([(Path(d), c) for c, d in zip(configs, out_dirs, strict=False)])
    for d, outcome in zip(out_dirs, outcomes, strict=False):
        if outcome["status"] != "done":
            raise RuntimeError(f"{d}: {outcome['message']}")
    return [runner.load(d) for d in out_dirs]


def _single(cell: Path, config: Config) -> dict:
    """A new cell on its own, its attempt already logged (the ensemble's fallback)."""
    try:
        if (cell / store.CONFIG).exists():
            runner.resume(cell, progress=False)
        else:
            runner.run(config, cell, progress=False)
    except Divergence as err:
        return {"status": "diverged", "message": str(err)}
    except Exception as err:  # noqa: BLE001 - reported, the other cells carry on
        return crash_outcome(err)
    return {"status": "done", "message": None}


def run_fresh(members, on_start=None) -> list:
    """Run new cells [(directory, config)] as one ensemble: each directory is prepared,
    locked and written exactly as :func:`meanfield.runs.run.run` does it (then
    ``on_start(directory)`` is called); returns each member's outcome {"status",
    "message"} in order."""
    problems = [runner.build(config) for _, config in members]
    with contextlib.ExitStack() as stack:
        books, starts = [], []
        for (out, config), problem in zip(members, problems, strict=False):
            runner.prepare(out)
            stack.enter_context(runner.locked(out, "run"))
            book = runner.start_new(config, out, problem, progress=False)
            if on_start is not None:
                on_start(out)
            books.append(book)
            starts.append(runner.begin(book, problem, None))
        leader = books[0]
        for book in books[1:]:
            book.signals = leader.signals  # one handler, every member checkpoints
        with leader.catching_signals():
            trajectories = _simulate(books, problems, starts)
        return [_close(book, problem, recorder, traj, len(books))
                for book, problem, (_, recorder), traj
                in zip(books, problems, starts, trajectories, strict=False)]


def _simulate(books, problems, starts):
    """simulate_many over the members; on a signal every member checkpoints (status
    interrupted) before the ensemble stops; any other stop is recorded in every member."""
    handlers = [book.on_step("run") for book in books]
    stopped = set()

    def on_step(s, state, recorder):
        if s in stopped:  # every member has checkpointed since the signal
            raise runner.Interrupted(books[s].signals[0], state.t, books[s].out)
        try:
            handlers[s](state, recorder)
        except runner.Interrupted:
            stopped.add(s)

    configs = [book.config for book in books]
    steps = {c.checkpoint.every_steps for c in configs}
    tests = [p.test for p in problems]
    try:
        return simulate_many(
            [p.student for p in problems], [p.objective for p in problems],
            [p.integrator for p in problems], [c.t_end for c in configs],
            record=problems[0].schedule, tests=None if tests[0] is None else tests,
            starts=starts, on_step=on_step,
            callback_every=math.gcd(*steps) if all(steps) else None)
    except BaseException as err:
        for book, problem, (_, recorder) in zip(books, problems, starts, strict=False):
            if not (isinstance(err, runner.Interrupted) and book.signals):
                with contextlib.suppress(BaseException):
                    with runner.stopping(book, problem, recorder, {"phase": "run"}):
                        raise err
        raise


def _close(book, problem, recorder, traj, members: int) -> dict:
    """Write one member's end: done (as a single run writes it, metrics.json saying in
    ``batched`` how many members its ensemble had) or diverged."""
    phase = {"phase": "run"}
    try:
        with runner.stopping(book, problem, recorder, phase):
            if traj.divergence is not None:
                book.main_state = traj.state
                raise traj.divergence
            runner.complete(book, problem, traj, recorder, phase, batched=members)
    except Divergence as err:
        return {"status": "diverged", "message": str(err)}
    except Exception as err:  # noqa: BLE001 - reported, the other members are written
        return crash_outcome(err)
    return {"status": "done", "message": None}
