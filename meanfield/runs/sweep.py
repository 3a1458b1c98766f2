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

import contextlib
import hashlib
import importlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from ..core.extras import require
from . import run as runner
from . import store
from .cell_tasks import crash_outcome, failed_start, finish_attempt, run_cell, start_attempt
from .cells import FINAL, cell_state, read_manifest, read_result
from .cluster import client as dask_client
from .cluster import connect
from .config import Config, ConfigError
from .store import Busy, DamagedRun
from .grid import Cell, Grid, cell_id, expand, parse_grid

@dataclass(frozen=True)
class Call:
    """A function cell: its id (a hash of function and arguments) and keyword arguments."""

    id: str
    values: MappingProxyType

    def label(self) -> str:
        """The arguments on one line, e.g. ``tau=0.1 seed=0``."""
        return " ".join(f"{k}={v}" for k, v in self.values.items())


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
    try:
        if cell_state(cell) == "done":
            return {"status": "done", "message": None}
        cell.mkdir(parents=True, exist_ok=True)
        kwargs = json.loads(kwargs_json)
        if not (cell / store.TASK).exists():
            store.write_json(cell / store.TASK, {"function": function, "kwargs": kwargs})
        start_attempt(cell, "call")
    except (DamagedRun, OSError) as err:  # reported (and logged) as this cell's failure
        return failed_start(cell, "call", err)
    try:
        value = resolve(function)(**kwargs)
        store.write_text(cell / store.RESULT,
                         json.dumps({"value": value}, default=_plain, indent=1) + "\n")
    except Exception as err:  # reported; the other cells carry on
        return finish_attempt(cell, crash_outcome(err))
    return finish_attempt(cell, {"status": "done", "message": None})


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
    def failures(self) -> list[tuple[Cell | Call, dict]]:
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
            text = str(o["message"] or "no message")
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
        previous = read_manifest(out).get("kind", "configs")
        if previous != kind:
            raise ConfigError("out", f"{out} holds a sweep of {previous}, not of {kind}")
    (out / store.CELLS).mkdir(parents=True, exist_ok=True)
    store.write_json(path, {"format": 1, "kind": kind, **fields,
                            "cells": [{"id": c.id, "values": dict(c.values)} for c in cells]})


def _check_out(out: Path) -> None:
    """Refuse, before writing anything, an --out that is a file or a non-empty directory
    that is not a sweep directory (no sweep.json)."""
    if out.exists() and not out.is_dir():
        raise ConfigError("out", f"{out} exists and is not a directory")
    if out.is_dir() and not (out / store.MANIFEST).exists() and not store.is_empty_dir(out):
        raise ConfigError("out", f"{out} is not empty and not a sweep directory (no "
                                 f"{store.MANIFEST}); nothing was written: choose a new or "
                                 f"empty directory")


@contextlib.contextmanager
def _writing(out: Path, scheduler):
    """Check ``out``, connect to ``scheduler`` (if any: an unreachable one fails here,
    before anything is written), then create ``out`` and hold its lock; yields the
    connected client or None (a local cluster is started later, only if needed)."""
    _check_out(out)
    with (connect(scheduler) if scheduler else contextlib.nullcontext()) as remote:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigError("out", f"cannot create {out}: {err.strerror}") from None
        try:
            with store.lock(out, "sweep"):
                yield remote
        except Busy as err:
            raise ConfigError("out", str(err)) from None


def write_manifest(out_dir: Path, base: Config, grid: Grid, cells) -> None:
    """Write the sweep.json of a config sweep: base config, grid, axes, groups, cells."""
    _write_manifest(Path(out_dir), "configs", cells, base=base.to_dict(),
                    grid=grid.to_dict(), axes=grid.axes, groups=grid.groups)


def _fan_out(out: Path, cells, task, remote, workers, progress, dashboard=None,
             units=None) -> dict:
    """Run the cells not final yet on Dask (the ``remote`` client, or a local cluster
    started here); returns each cell's outcome. ``units(todo, n_workers)`` splits the
    pending cells into units of work, one Dask task each (default: one cell per task);
    ``task(unit) -> (function, *args)`` is the task of a unit, whose result is one
    outcome per cell of the unit (a bare outcome for a single cell). One progress bar
    counts finished cells. A cell whose files are damaged is reported as failed, naming
    the file, and not run."""
    as_completed = require("dask.distributed", "sweeps").as_completed
    from tqdm.auto import tqdm

    from .rundir import read_metrics

    outcomes, todo = {}, []
    for cell in cells:
        try:
            state = cell_state(out / store.CELLS / cell.id)
            if state in FINAL:
                metrics_path = out / store.CELLS / cell.id / store.METRICS
                message = read_metrics(metrics_path.parent).get("message") \
                    if metrics_path.exists() else None
                outcomes[cell.id] = {"status": state, "message": message}
            else:
                todo.append(cell)
        except DamagedRun as err:
            outcomes[cell.id] = crash_outcome(err)
    todo = [c for c in todo if c.id not in outcomes]
    if not todo:
        return outcomes
    if progress is None:
        progress = sys.stderr.isatty()
    with (contextlib.nullcontext(remote) if remote else
          dask_client(None, workers, dashboard=dashboard)) as client, \
            tqdm(total=len(cells), initial=len(cells) - len(todo), unit="cell",
                 desc="sweep", disable=not progress) as bar:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        plan = units(todo, n_workers) if units else [[c] for c in todo]
        futures = {client.submit(*task(unit), key=f"meanfield-cell-{unit[0].id}-{len(unit)}"):
                   unit for unit in plan}
        for future in as_completed(futures):
            unit = futures[future]
            try:
                result = future.result()
                results = [result] if isinstance(result, dict) else list(result)
            except Exception as err:  # the worker died (e.g. killed) on this unit
                results = [_lost(out / store.CELLS / cell.id, err) for cell in unit]
            for cell, outcome in zip(unit, results, strict=False):
                outcomes[cell.id] = outcome
            bar.update(len(unit))
            failed = sum(o["status"] != "done" for o in outcomes.values())
            if failed:
                bar.set_postfix(failed=failed)
    return outcomes


def _lost(cell: Path, err: BaseException) -> dict:
    """The outcome of a cell whose worker died, completing its last attempt in
    attempts.json (as the worker would have) so that the table says the same."""
    outcome = crash_outcome(err)
    with contextlib.suppress(DamagedRun, OSError):
        finish_attempt(cell, outcome)
    return outcome


def _check_workers(workers) -> None:
    if workers is not None and workers < 1:
        raise ConfigError("workers", f"must be a positive integer, got {workers}")


def sweep(base_config, grid, out_dir, scheduler=None, workers=None,
          progress=None, dashboard=None, batch: bool = True) -> SweepReport:
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

    Examples:

        >>> import tempfile, pathlib, meanfield as mf
        >>> base = {"student": {"m": 8}, "t_end": 0.5, "backend": "numpy",
        ...         "record": {"schedule": "linear", "n": 2}}
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "sweep"
        >>> grid = {"product": {"student.m": [4, 8]}, "seeds": 2}   # 4 cells
        >>> report = mf.sweep(base, grid, out, workers=2)  # doctest: +SKIP
        >>> sorted({o["status"] for o in report.outcomes.values()})  # doctest: +SKIP
        ['done']
        >>> len(report.table)  # one row per cell                      # doctest: +SKIP
        4
        >>> try:                   # every cell is checked before anything runs or is written
        ...     mf.sweep(base, {"product": {"student.m": [4, 0]}}, out)
        ... except mf.ConfigError as err:
        ...     print(err)
        student.m: ...
        >>> out.exists()
        False
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
    with _writing(out, scheduler) as remote:
        write_manifest(out, base, grid, cells)
        pending = [c for c in cells if _pending(out / store.CELLS / c.id)]
        for plan in keops_warmups(c.config for c in pending):
            from ..backends.keops import backend as keops
            keops.warmup(**plan)
        if batch:
            from .batch import groups, run_group

            outcomes = _fan_out(out, cells, lambda unit: (
                run_group, [str(out / store.CELLS / c.id) for c in unit],
                [c.config.to_json() for c in unit]), remote, workers, progress, dashboard,
                units=groups)
        else:
            outcomes = _fan_out(out, cells, lambda unit: (
                run_cell, str(out / store.CELLS / unit[0].id), unit[0].config.to_json()),
                remote, workers, progress, dashboard)
        table = collect(out)
        return SweepReport(out, tuple(cells), MappingProxyType(_as_collected(outcomes, table)),
                           table)


def _as_collected(outcomes: dict, table) -> dict:
    """Each cell's outcome as results.csv has it (status and message, read back from the
    cells' files), so that the report on stderr and the table always agree."""
    for row in table.itertuples(index=False):
        message = row.message if isinstance(row.message, str) else None
        outcomes[row.cell] = {"status": row.status, "message": message}
    return outcomes


def _pending(cell_dir: Path) -> bool:
    try:
        return cell_state(cell_dir) not in FINAL
    except DamagedRun:
        return False


def call_id(function: str, kwargs: dict) -> str:
    """A stable 16-hex-digit hash of the function name and its (sorted) arguments."""
    text = json.dumps({"function": function, "kwargs": kwargs}, sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def map_cells(function, kwargs_list, out_dir, scheduler=None, workers=None,
              progress=None, dashboard=None) -> SweepReport:
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
    with _writing(out, scheduler) as remote:
        _write_manifest(out, "calls", calls, function=name)
        outcomes = _fan_out(out, calls, lambda unit: (
            run_call, str(out / store.CELLS / unit[0].id), name,
            json.dumps(dict(unit[0].values))), remote, workers, progress, dashboard)
    results = tuple(read_result(out / store.CELLS / c.id)
                    if outcomes[c.id]["status"] == "done" else None for c in calls)
    return SweepReport(out, tuple(calls), MappingProxyType(outcomes), None, results)
