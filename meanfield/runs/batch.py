"""Batched sweeps: compatible config cells run as one ensemble inside a worker.

Cells whose configs differ only in what an ensemble member may hold on its own (the
seed, the student's init scale and alpha, the teacher's alpha and noise, dt, temperature,
momentum tau, weight decay, t_end) share network shapes, objective kind, integrator kind
and record schedule: :func:`groups` puts them in one group (split so that every worker
gets work), and :func:`run_group` runs a group with
:func:`meanfield.trajectory.simulate_many`, one (S, m, p) array per step. Every cell keeps
its own run directory (config, checkpoints, metrics, trajectory, attempts log), exactly as
:func:`meanfield.runs.run.run` writes it; members resume from their own checkpoints, a
diverged member is recorded as such while the others go on. Member s computes what the
cell's serial run computes, so results.csv is the same with and without batching (to
rounding: bit for bit on the NumPy and Numba backends).
"""
from __future__ import annotations

import json
import math
import socket
import os
import sys
import time
from pathlib import Path

from ..dynamics import Field
from ..trajectory import Recorder, simulate_many
from . import run as runner
from . import store
from .cells import FINAL, cell_state, log_attempt
from .checkpoint import load_checkpoint, save_checkpoint
from .config import Config

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


def _start(cell: Path, mode: str, **extra) -> None:
    log_attempt(cell, mode=mode, started=time.time(), host=socket.gethostname(),
                pid=os.getpid(), batched=True, **extra)


def _finish(cell: Path, outcome: dict) -> dict:
    log_attempt(cell, outcome=outcome["status"], message=outcome["message"],
                ended=time.time())
    return outcome


def run_group(cell_dirs: list, config_jsons: list) -> dict:
    """The task a worker runs for a group of config cells: start or resume every cell
    of the group as one ensemble; returns {cell directory: {"status", "message"}}. A
    crash of the ensemble falls back to running its cells one by one, each resuming
    from its checkpoint."""
    outcomes, members = {}, []
    for cell_dir, config_json in zip(cell_dirs, config_jsons):
        cell = Path(cell_dir)
        if cell_state(cell) in FINAL:
            metrics = store.read_json(cell / store.METRICS)
            outcomes[cell_dir] = {"status": metrics["status"], "message": metrics.get("message")}
            continue
        members.append((cell, config_json))
    if not members:
        return outcomes
    try:
        outcomes.update(_ensemble(members))
    except Exception as err:  # noqa: BLE001 - fall back to one run per cell
        print(f"meanfield: ensemble of {len(members)} cells failed "
              f"({type(err).__name__}: {err}); running them one by one", file=sys.stderr)
        for cell, config_json in members:
            outcomes[str(cell)] = _single(cell, config_json)
    return outcomes


def run_configs(configs, out_dirs) -> list:
    """Run configs into new run directories as one ensemble (they must be compatible, see
    :func:`group_key`); returns their :class:`meanfield.runs.run.Result` (a diverged one
    raises RuntimeError after the others are written)."""

    members = [(Path(d), c.to_json()) for c, d in zip(configs, out_dirs)]
    for cell, _ in members:
        if (cell / store.CONFIG).exists():
            raise ValueError(f"{cell} already holds a run")
    outcomes = _ensemble(members)
    for (cell, _), outcome in zip(members, outcomes.values()):
        if outcome["status"] != "done":
            raise RuntimeError(f"{cell}: {outcome['message']}")
    return [runner.load(cell) for cell, _ in members]


def _single(cell: Path, config_json: str) -> dict:
    """One cell on its own (as the unbatched sweep runs it)."""
    from ..trajectory import Divergence

    try:
        if (cell / store.CONFIG).exists():
            runner.resume(cell, progress=False)
        else:
            runner.run(Config.from_json(config_json), cell, progress=False)
    except Divergence as err:
        return {"status": "diverged", "message": str(err)}
    except Exception as err:  # noqa: BLE001 - reported, the other cells carry on
        first = (str(err).splitlines() or [""])[0]
        return {"status": "failed", "message": f"{type(err).__name__}: {first}"}
    return {"status": "done", "message": None}


def _ensemble(members) -> dict:
    """Run cells [(directory, config json)] as one ensemble (see the module docstring)."""
    cells, configs, problems, starts = [], [], [], []
    for cell, config_json in members:
        cell.mkdir(parents=True, exist_ok=True)
        fresh = not (cell / store.CONFIG).exists()
        start = None
        if not fresh and (cell / store.CHECKPOINT).exists():
            store.remove_temporaries(cell)
            start = load_checkpoint(cell)
        # the attempt is logged before anything is written, as for a single cell
        _start(cell, "run" if fresh else "resume",
               from_step=0 if start is None else int(start[0].step))
        config = Config.from_json(config_json) if fresh else Config.load(cell / store.CONFIG)
        problem = runner.build(config)
        if fresh:
            store.write_text(cell / store.CONFIG_TOML, config.to_toml())
            store.write_text(cell / store.CONFIG, config.to_json() + "\n")
        if start is None:
            state = problem.integrator.init(problem.student.w,
                                            Field(problem.student, problem.objective),
                                            problem.dynamics_seed)
            start = (state, Recorder())
            save_checkpoint(cell, *start)
        store.write_json(cell / store.METRICS, runner._metrics(config, start[1], "running",
                                                               0.0))
        cells.append(cell)
        configs.append(config)
        problems.append(problem)
        starts.append(start)
    clocks = [time.monotonic()] * len(cells)

    def checkpoint(s, state, recorder):
        every_steps = configs[s].checkpoint.every_steps
        now = time.monotonic()
        if (every_steps and state.step % every_steps == 0) or \
                now - clocks[s] >= configs[s].checkpoint.every_seconds:
            save_checkpoint(cells[s], state, recorder)
            clocks[s] = now

    steps = {c.checkpoint.every_steps for c in configs}
    began = time.monotonic()
    tests = [p.test for p in problems]
    trajectories = simulate_many(
        [p.student for p in problems], [p.objective for p in problems],
        [p.integrator for p in problems], [c.t_end for c in configs],
        record=problems[0].schedule, tests=None if tests[0] is None else tests,
        starts=starts, on_step=checkpoint,
        callback_every=math.gcd(*steps) if all(steps) else None)
    wall = (time.monotonic() - began) / len(cells)
    outcomes = {}
    for cell, config, problem, (_, recorder), traj in zip(cells, configs, problems, starts,
                                                          trajectories):
        if traj.divergence is not None:
            message = str(traj.divergence)
            store.write_json(cell / store.METRICS,
                             runner._metrics(config, recorder, "diverged", wall, message))
            outcomes[str(cell)] = _finish(cell, {"status": "diverged", "message": message})
            continue
        save_checkpoint(cell, traj.state, recorder)
        store.write_npz(cell / store.TRAJECTORY, times=traj.times, steps=traj.steps,
                        dts=traj.dts, risk=traj.risk, test_risk=recorder.arrays()["test_risk"],
                        snapshots=traj.snapshots, final=traj.final.w,
                        teacher=problem.teacher.w)
        metrics = {**runner._metrics(config, recorder, "done", wall),
                   "final_risk": float(traj.risk[-1]), "batched": len(cells)}
        if config.diagnostics.probe:
            from .diagnose import along_run

            metrics["diagnostics"] = along_run(problem, traj.snapshots, config.t_end,
                                               config.diagnostics.probe,
                                               config.diagnostics.tangent,
                                               problem.dynamics_seed)
        store.write_json(cell / store.METRICS, metrics)
        outcomes[str(cell)] = _finish(cell, {"status": "done", "message": None})
    return outcomes


def fan_out(out: Path, cells, scheduler, workers, progress) -> dict:
    """:func:`meanfield.runs.sweep` with batching: the pending cells in :func:`groups`,
    one Dask task per group; returns each cell's outcome, like the unbatched fan-out."""
    from dask.distributed import as_completed
    from tqdm.auto import tqdm

    from .cluster import client as dask_client

    outcomes, todo = {}, []
    for cell in cells:
        state = cell_state(out / store.CELLS / cell.id)
        if state in FINAL:
            metrics_path = out / store.CELLS / cell.id / store.METRICS
            message = store.read_json(metrics_path).get("message") \
                if metrics_path.exists() else None
            outcomes[cell.id] = {"status": state, "message": message}
        else:
            todo.append(cell)
    if not todo:
        return outcomes
    if progress is None:
        progress = sys.stderr.isatty()
    with dask_client(scheduler, workers) as client, \
            tqdm(total=len(cells), initial=len(cells) - len(todo), unit="cell",
                 desc="sweep", disable=not progress) as bar:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})) or 1)
        futures = {}
        for group in groups(todo, n_workers):
            dirs = [str(out / store.CELLS / c.id) for c in group]
            key = f"meanfield-group-{group[0].id}-{len(group)}"
            futures[client.submit(run_group, dirs, [c.config.to_json() for c in group],
                                  key=key)] = group
        for future in as_completed(futures):
            group = futures[future]
            try:
                result = future.result()
                for c in group:
                    outcomes[c.id] = result[str(out / store.CELLS / c.id)]
            except Exception as err:  # the worker died on this group
                first = (str(err).splitlines() or [""])[0]
                for c in group:
                    outcomes[c.id] = {"status": "failed",
                                      "message": f"{type(err).__name__}: {first}"}
            bar.update(len(group))
            failed = sum(o["status"] != "done" for o in outcomes.values())
            if failed:
                bar.set_postfix(failed=failed)
    return outcomes
