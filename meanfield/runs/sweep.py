"""Fan-out on Dask: many cells, each computed once into its own folder, resumably.

Two kinds of cells share one mechanism (workers, progress bar, attempts log, failure
lines, resumption):

* **config cells** (:func:`sweep`): a base config and a grid (:mod:`meanfield.runs.grid`);
  each cell is an ordinary run directory, started or resumed from its last checkpoint;
* **function cells** (:func:`map_cells`): a named function ("package.module:function")
  called with JSON-serialisable keyword arguments; its return value (JSON-serialisable)
  is written atomically to the cell's result.json.

Layout of a sweep directory (names in :mod:`meanfield.runs.store`)::

    sweep.json         manifest: kind, cells (id and values), base config and grid or
                       the function
    cells/<id>/        a run directory, or task.json + result.json; attempts.json
    results.csv        one row per config cell (meanfield.runs.collect)
    series.csv         the config cells' risk curves, long format

A rerun finds its cells by id: finished cells are skipped, interrupted ones resume (or
are called again), diverged ones are reported without rerunning (runs are
deterministic). The directory must be visible to every worker at the same path.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from ..trajectory import Divergence
from . import run as runner
from . import store
from .cells import FINAL, cell_state, log_attempt
from .cluster import client as dask_client
from .config import Config, ConfigError
from .grid import Cell, Grid, cell_id, expand, parse_grid

@dataclass(frozen=True)
class Call:
    """A function cell: its id (a hash of function and arguments) and keyword arguments."""

    id: str
    values: MappingProxyType

    def label(self) -> str:
        """The arguments on one line, e.g. ``tau=0.1 seed=0``."""
        return " ".join(f"{k}={v}" for k, v in self.values.items())


def _crash(err: BaseException) -> dict:
    first = (str(err).splitlines() or [""])[0]
    return {"status": "failed", "message": f"{type(err).__name__}: {first}"}


def _start(cell: Path, mode: str, **extra) -> None:
    log_attempt(cell, mode=mode, started=time.time(), host=socket.gethostname(),
                 pid=os.getpid(), **extra)


def _finish(cell: Path, outcome: dict) -> dict:
    log_attempt(cell, outcome=outcome["status"], message=outcome["message"],
                 ended=time.time())
    return outcome


def run_cell(cell_dir: str, config_json: str) -> dict:
    """The task a worker runs for a config cell: start the cell's run, or resume it from
    its checkpoint, and return {"status", "message"}; never raises for a failed run. Every
    start is logged in the cell's attempts.json (mode, first step, host, pid, outcome)."""
    from .checkpoint import load_checkpoint

    cell = Path(cell_dir)
    if cell_state(cell) in FINAL:
        metrics = store.read_json(cell / store.METRICS)
        return {"status": metrics["status"], "message": metrics.get("message")}
    cell.mkdir(parents=True, exist_ok=True)
    fresh = not (cell / store.CONFIG).exists()
    step = 0
    if not fresh and (cell / store.CHECKPOINT).exists():
        step = int(load_checkpoint(cell)[0].step)
    _start(cell, "run" if fresh else "resume", from_step=step)
    try:
        if fresh:
            runner.run(Config.from_json(config_json), cell, progress=False)
        else:
            runner.resume(cell, progress=False)
    except Divergence as err:
        outcome = {"status": "diverged", "message": str(err)}
    except Exception as err:  # a crashed cell is reported; the others carry on
        outcome = _crash(err)
    else:
        outcome = {"status": "done", "message": None}
    return _finish(cell, outcome)


def function_name(function) -> str:
    """"module:qualname" of a module-level function (or the string itself)."""
    if isinstance(function, str):
        return function
    module, name = function.__module__, function.__qualname__
    if module == "__main__" or "<" in name:
        raise ValueError(f"{name} must be a module-level function of an importable module "
                         f"(workers import it by name)")
    return f"{module}:{name}"


def resolve(name: str):
    """The function called ``name`` ("package.module:function")."""
    module, _, qualname = name.partition(":")
    target = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def _plain(value):
    """NumPy scalars and arrays as JSON values."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def run_call(cell_dir: str, function: str, kwargs_json: str) -> dict:
    """The task a worker runs for a function cell: call ``function(**kwargs)`` and write
    {"value": result} to result.json atomically; returns {"status", "message"}."""
    cell = Path(cell_dir)
    if cell_state(cell) == "done":
        return {"status": "done", "message": None}
    cell.mkdir(parents=True, exist_ok=True)
    kwargs = json.loads(kwargs_json)
    if not (cell / store.TASK).exists():
        store.write_json(cell / store.TASK, {"function": function, "kwargs": kwargs})
    _start(cell, "call")
    try:
        value = resolve(function)(**kwargs)
        store.write_text(cell / store.RESULT,
                         json.dumps({"value": value}, default=_plain, indent=1) + "\n")
    except Exception as err:  # reported; the other cells carry on
        return _finish(cell, _crash(err))
    return _finish(cell, {"status": "done", "message": None})


def keops_warmups(configs) -> list[dict]:
    """keops.warmup arguments (d, dtypes, activations, bias) to compile before fanning
    out, one per input dimension, for the configs that will run on KeOps (backend
    "keops", or "auto" with CUDA)."""
    from ..backends import cuda_available

    plan: dict[int, tuple[set, set, set]] = {}
    for config in configs:
        if config.backend == "keops" or (config.backend == "auto" and cuda_available()):
            dtypes, acts, bias = plan.setdefault(config.d, (set(), set(), set()))
            dtypes.add(config.dtype)
            acts.update((config.student.activation, config.teacher.activation))
            bias.add(config.student.bias or config.teacher.bias)
    return [{"d": d, "dtypes": tuple(sorted(dt)), "activations": tuple(sorted(a)),
             "bias": True in b} for d, (dt, a, b) in sorted(plan.items())]


@dataclass(frozen=True)
class SweepReport:
    """What a fan-out did: the sweep directory, its cells (config :class:`Cell` or
    function :class:`Call`), each cell's outcome ({"status", "message"}), the results
    table of a config sweep (meanfield.runs.collect, also results.csv; None for function
    cells) and the return values of function cells in order (None where a cell failed)."""

    out_dir: Path
    cells: tuple
    outcomes: MappingProxyType
    table: object = None
    results: tuple = ()

    @property
    def failures(self) -> list[tuple[object, dict]]:
        """Cells that did not finish, with their outcome."""
        return [(c, self.outcomes[c.id]) for c in self.cells
                if self.outcomes[c.id]["status"] != "done"]

    @property
    def ok(self) -> bool:
        """True when every cell finished."""
        return not self.failures

    def failure_lines(self) -> list[str]:
        """One line per failed cell: id, values, status, message, and the file that
        describes the cell (its config.toml or task.json)."""
        lines = []
        for c, o in self.failures:
            text = str(o["message"])
            if not text.startswith(o["status"]):
                text = f"{o['status']}: {text}"
            what = ("config", store.CONFIG_TOML) if isinstance(c, Cell) else ("task",
                                                                               store.TASK)
            lines.append(f"cell {c.id} [{c.label()}] {text} "
                         f"({what[0]}: {self.out_dir / store.CELLS / c.id / what[1]})")
        return lines


def _write_manifest(out: Path, kind: str, cells, **fields) -> None:
    """sweep.json, atomically; refuses a directory holding a sweep of the other kind."""
    path = out / store.MANIFEST
    if path.exists():
        previous = store.read_json(path).get("kind", "configs")
        if previous != kind:
            raise ConfigError("out", f"{out} holds a sweep of {previous}, not of {kind}")
    out.mkdir(parents=True, exist_ok=True)
    (out / store.CELLS).mkdir(exist_ok=True)
    store.write_json(path, {"format": 1, "kind": kind, **fields,
                            "cells": [{"id": c.id, "values": dict(c.values)} for c in cells]})


def write_manifest(out_dir: Path, base: Config, grid: Grid, cells) -> None:
    """Write the sweep.json of a config sweep: base config, grid, axes, groups, cells."""
    _write_manifest(Path(out_dir), "configs", cells, base=base.to_dict(),
                    grid=grid.to_dict(), axes=grid.axes, groups=grid.groups)


def _fan_out(out: Path, cells, task, scheduler, workers, progress) -> dict:
    """Run ``task(cell) -> (function, *args)`` on Dask for every cell not final yet;
    returns each cell's outcome. One progress bar counts finished cells."""
    from dask.distributed import as_completed
    from tqdm.auto import tqdm

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
        futures = {client.submit(*task(c), key=f"meanfield-cell-{c.id}"): c for c in todo}
        for future in as_completed(futures):
            cell = futures[future]
            try:
                outcomes[cell.id] = future.result()
            except Exception as err:  # the worker died (e.g. killed) on this cell
                outcomes[cell.id] = _crash(err)
            bar.update(1)
            failed = sum(o["status"] != "done" for o in outcomes.values())
            if failed:
                bar.set_postfix(failed=failed)
    return outcomes


def _check_workers(workers) -> None:
    if workers is not None and workers < 1:
        raise ConfigError("workers", f"must be a positive integer, got {workers}")


def sweep(base_config, grid, out_dir, scheduler=None, workers=None,
          progress=None, batch: bool = True) -> SweepReport:
    """Run every cell of ``grid`` over ``base_config`` (a Config or a dict) into
    ``out_dir``/cells/<id> on Dask, then write the results table.

    ``scheduler`` ("tcp://HOST:PORT") uses an existing cluster, otherwise a LocalCluster
    is started (``workers`` processes, default one per core) and closed at the end.
    Finished cells are skipped, interrupted ones resumed; a diverged or crashed cell is
    reported in the returned :class:`SweepReport` while the other cells carry on. All
    cells are validated before anything is written (ConfigError on bad input).
    ``progress`` shows a bar counting finished cells (default: only on a terminal).
    ``batch`` (default) runs compatible cells as one ensemble per worker task
    (:mod:`meanfield.runs.batch`; same run directories and results); ``batch=False`` runs
    one cell per task.
    """
    from .collect import collect

    base = base_config if isinstance(base_config, Config) else Config.from_dict(base_config)
    grid = parse_grid(grid)
    _check_workers(workers)
    cells = expand(base, grid)
    checked = set()
    for cell in cells:  # the seed does not change validity: one build per other values
        key = cell_id(cell.config.override({"seed": "0"}))
        if key not in checked:
            checked.add(key)
            try:
                runner.build(cell.config)
            except ConfigError as err:
                raise ConfigError(err.field, f"{str(err).split(': ', 1)[1]} "
                                             f"(cell {cell.label()})") from None
    out = Path(out_dir)
    write_manifest(out, base, grid, cells)
    pending = [c for c in cells if cell_state(out / store.CELLS / c.id) not in FINAL]
    for plan in keops_warmups(c.config for c in pending):
        from ..backends import keops
        keops.warmup(**plan)
    if batch:
        from .batch import fan_out
        outcomes = fan_out(out, cells, scheduler, workers, progress)
    else:
        outcomes = _fan_out(out, cells, lambda c: (run_cell, str(out / store.CELLS / c.id),
                                                   c.config.to_json()),
                            scheduler, workers, progress)
    return SweepReport(out, tuple(cells), MappingProxyType(outcomes), collect(out))


def call_id(function: str, kwargs: dict) -> str:
    """A stable 16-hex-digit hash of the function name and its (sorted) arguments."""
    text = json.dumps({"function": function, "kwargs": kwargs}, sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def map_cells(function, kwargs_list, out_dir, scheduler=None, workers=None,
              progress=None) -> SweepReport:
    """Call ``function`` (a module-level function, or its "module:name") once per
    keyword-argument dict of ``kwargs_list`` on Dask, each call a cell of ``out_dir``
    whose JSON-serialisable return value is written atomically to cells/<id>/result.json.

    The same machinery as :func:`sweep`: a rerun skips finished calls and repeats
    interrupted or failed ones; one progress bar; failures reported per cell. Returns a
    :class:`SweepReport` whose ``results`` are the return values in the order of
    ``kwargs_list`` (None for a cell that failed).
    """
    name = function_name(function)
    _check_workers(workers)
    calls, seen = [], set()
    for kwargs in kwargs_list:
        try:
            text = json.dumps(kwargs, sort_keys=True)
        except TypeError as err:
            raise ConfigError("kwargs", f"arguments must be JSON-serialisable: {err}") from None
        call = Call(call_id(name, json.loads(text)), MappingProxyType(json.loads(text)))
        if call.id in seen:
            raise ConfigError("kwargs", f"the call {call.label()} appears twice")
        seen.add(call.id)
        calls.append(call)
    out = Path(out_dir)
    _write_manifest(out, "calls", calls, function=name)
    outcomes = _fan_out(out, calls, lambda c: (run_call, str(out / store.CELLS / c.id), name,
                                               json.dumps(dict(c.values))),
                        scheduler, workers, progress)
    results = tuple(store.read_json(out / store.CELLS / c.id / store.RESULT)["value"]
                    if outcomes[c.id]["status"] == "done" else None for c in calls)
    return SweepReport(out, tuple(calls), MappingProxyType(outcomes), None, results)
