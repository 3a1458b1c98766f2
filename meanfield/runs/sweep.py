"""Parameter sweeps on Dask: a base config, a grid, one ordinary run directory per cell.

A grid has *product* axes (every combination), *zip* groups (axes that vary together,
lists of equal length) and *seeds* (innermost). Axes are dotted config keys::

    grid = {"product": {"student.m": [16, 64], "student.alpha": [1.0, 8.0]},
            "zip": {"integrator.dt": [0.01, 0.001], "t_end": [1.0, 10.0]},
            "seeds": [0, 1, 2]}

gives 2 x 2 x 2 x 3 = 24 cells. ``zip`` may also be a list of such tables (several
groups, combined by product) and ``seeds`` an integer n (seeds 0..n-1).

Layout of a sweep directory::

    sweep.json         manifest: base config, grid, axes, cells (id and axis values)
    cells/<id>/        a run directory (meanfield.runs) plus attempts.json
    results.csv        one row per cell (meanfield.collect)
    series.csv         the cells' risk curves, long format

A cell's id is a hash of its config's non-default fields, so a rerun of the same sweep (or of an
extended one) finds its cells again: finished cells are skipped, interrupted ones resume
from their last checkpoint, diverged ones are reported again without rerunning (the run
is deterministic). The output directory must be visible to every worker at the same path.
"""
from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from . import runs, store
from .config import Config, ConfigError
from .simulate import Divergence

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MANIFEST = "sweep.json"
CELLS = "cells"
ATTEMPTS = "attempts.json"
FINAL = ("done", "diverged")


@dataclass(frozen=True)
class Grid:
    """Product axes (name -> values), zip groups (each name -> values, equal lengths)
    and seeds (None: the base config's seed)."""

    product: tuple[tuple[str, tuple], ...]
    zips: tuple[tuple[tuple[str, tuple], ...], ...]
    seeds: tuple[int, ...] | None

    @property
    def axes(self) -> list[str]:
        """Axis names in grid order, "seed" last."""
        return [n for n, _ in self.product] + [n for g in self.zips for n, _ in g] + ["seed"]

    @property
    def groups(self) -> list[list[str]]:
        """Axes that vary together: one group per product axis, one per zip group."""
        return [[n] for n, _ in self.product] + [[n for n, _ in g] for g in self.zips]

    def to_dict(self) -> dict:
        """The grid as plain JSON/TOML data (the format :func:`parse_grid` reads)."""
        data = {"product": {n: list(v) for n, v in self.product},
                "zip": [{n: list(v) for n, v in g} for g in self.zips]}
        if self.seeds is not None:
            data["seeds"] = list(self.seeds)
        return data


@dataclass(frozen=True)
class Cell:
    """One grid point: its id (config hash), axis values (with "seed") and config."""

    id: str
    values: MappingProxyType
    config: Config

    def label(self) -> str:
        """The axis values on one line, e.g. ``student.m=16 seed=0``."""
        return " ".join(f"{k}={v}" for k, v in self.values.items())


def _flatten(table, prefix: str, where: str) -> list[tuple[str, tuple]]:
    """Nested TOML tables (``student.m = [..]`` parses as {"student": {"m": [..]}}) to
    dotted axis names."""
    if not isinstance(table, dict):
        raise ConfigError(where, "must be a table of axis = [values]")
    axes = []
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            axes += _flatten(value, name + ".", where)
        elif isinstance(value, list) and value:
            if any(isinstance(v, (dict, list)) for v in value):
                raise ConfigError(f"{where}.{name}", "values must be numbers, strings or "
                                                     "booleans")
            axes.append((name, tuple(value)))
        else:
            raise ConfigError(f"{where}.{name}", f"must be a non-empty list, got {value!r}")
    return axes


def parse_grid(data) -> Grid:
    """A :class:`Grid` from a dict with keys product, zip, seeds (see the module doc);
    raises ConfigError naming the bad entry."""
    if isinstance(data, Grid):
        return data
    if not isinstance(data, dict):
        raise ConfigError("grid", "must be a table with product, zip and/or seeds")
    for key in data:
        if key not in ("product", "zip", "seeds"):
            raise ConfigError(f"grid.{key}", "unknown key (use product, zip, seeds)")
    product = _flatten(data.get("product", {}), "", "grid.product")
    zip_data = data.get("zip", [])
    zip_tables = zip_data if isinstance(zip_data, list) else [zip_data]
    zips = []
    for k, table in enumerate(zip_tables):
        where = "grid.zip" if isinstance(zip_data, dict) else f"grid.zip[{k}]"
        group = _flatten(table, "", where)
        lengths = {len(values) for _, values in group}
        if len(lengths) > 1:
            raise ConfigError(where, "zipped axes need lists of one length, got "
                              + ", ".join(f"{n}: {len(v)}" for n, v in group))
        if group:
            zips.append(tuple(group))
    seeds = data.get("seeds")
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ConfigError("grid.seeds", f"must be a positive count or a list, got {seeds}")
        seeds = list(range(seeds))
    if seeds is not None:
        if not isinstance(seeds, list) or not seeds or not all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
            raise ConfigError("grid.seeds", f"must be a count or a list of non-negative "
                                            f"integers, got {seeds!r}")
        if len(set(seeds)) != len(seeds):
            raise ConfigError("grid.seeds", f"repeated seeds in {seeds}")
        seeds = tuple(seeds)
    grid = Grid(tuple(product), tuple(zips), seeds)
    names = grid.axes
    for name in names[:-1]:
        if name == "seed":
            raise ConfigError("grid", "seed is not an axis; list seeds in grid.seeds")
        if names.count(name) > 1:
            raise ConfigError("grid", f"axis {name} appears twice")
    return grid


def cell_id(config: Config) -> str:
    """A stable 16-hex-digit hash of the fields that differ from Config() (sorted-key
    JSON), so a field added to Config later, at its default, keeps existing ids."""
    text = json.dumps(_non_default(config.to_dict(), Config().to_dict()), sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _non_default(data: dict, default: dict) -> dict:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(default.get(key), dict):
            value = _non_default(value, default[key])
            if value:
                out[key] = value
        elif key not in default or value != default[key]:
            out[key] = value
    return out


def _set(data: dict, name: str, value) -> None:
    node, parts = data, name.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(name, f"{part} is not a table")
        node = child
    node[parts[-1]] = value


def expand(base: Config, grid) -> list[Cell]:
    """The grid's cells in order (product axes, then zip groups, seeds innermost); raises
    ConfigError naming the field and the cell when a cell's config is invalid."""
    grid = parse_grid(grid)
    seeds = grid.seeds if grid.seeds is not None else (base.seed,)
    choices = [values for _, values in grid.product]
    choices += [range(len(group[0][1])) for group in grid.zips]
    cells, seen = [], {}
    for point in itertools.product(*choices, seeds):
        values = dict(zip([n for n, _ in grid.product], point))
        for group, index in zip(grid.zips, point[len(grid.product):-1]):
            values.update({name: vals[index] for name, vals in group})
        values["seed"] = point[-1]
        data = base.to_dict()
        for name, value in values.items():
            _set(data, name, value)
        label = " ".join(f"{k}={v}" for k, v in values.items())
        try:
            config = Config.from_dict(data)
        except ConfigError as err:
            raise ConfigError(err.field, f"{str(err).split(': ', 1)[1]} (cell {label})") \
                from None
        cid = cell_id(config)
        if cid in seen:
            raise ConfigError("grid", f"cells {seen[cid]} and {label} have the same config")
        seen[cid] = label
        cells.append(Cell(cid, MappingProxyType(values), config))
    return cells


def load_sweep(path) -> tuple[Config, Grid]:
    """Read a SWEEP.toml: ``base`` (a table, or a path to a config file relative to the
    sweep file) and ``grid``; raises ConfigError with one line on bad input."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError("sweep", f"cannot read {path}: {err.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError("sweep", f"invalid TOML in {path}: {err}") from None
    for key in data:
        if key not in ("base", "grid"):
            raise ConfigError(key, f"unknown key in {path.name} (use [base] and [grid])")
    if "grid" not in data:
        raise ConfigError("grid", f"{path.name} has no [grid] table")
    base = data.get("base", {})
    if isinstance(base, str):
        base = Config.load(path.parent / base)
    elif isinstance(base, dict):
        base = Config.from_dict(base)
    else:
        raise ConfigError("base", "must be a table or the path of a config file")
    return base, parse_grid(data["grid"])


def cell_state(cell_dir) -> str:
    """"pending" (no run yet), the run's status ("running", "done", "diverged"), or
    "failed" when the last attempt crashed."""
    cell_dir = Path(cell_dir)
    if not (cell_dir / store.METRICS).exists():
        return "pending"
    status = store.read_json(cell_dir / store.METRICS)["status"]
    if status == "running" and (cell_dir / ATTEMPTS).exists():
        attempts = store.read_json(cell_dir / ATTEMPTS)
        if attempts and attempts[-1].get("outcome") == "failed":
            return "failed"
    return status


def _log_attempt(cell_dir: Path, **entry) -> None:
    path = cell_dir / ATTEMPTS
    attempts = store.read_json(path) if path.exists() else []
    if "outcome" in entry:
        attempts[-1].update(entry)
    else:
        attempts.append(entry)
    store.write_json(path, attempts)


def run_cell(cell_dir: str, config_json: str) -> dict:
    """The task each worker runs: start the cell's run, or resume it from its
    checkpoint, and return {"status", "message"}; never raises for a failed run. Every
    start is logged in the cell's attempts.json (mode, first step, host, pid, outcome)."""
    cell = Path(cell_dir)
    if cell_state(cell) in FINAL:
        metrics = store.read_json(cell / store.METRICS)
        return {"status": metrics["status"], "message": metrics.get("message")}
    cell.mkdir(parents=True, exist_ok=True)
    fresh = not (cell / store.CONFIG).exists()
    step = 0
    if not fresh and (cell / store.CHECKPOINT).exists():
        step = int(store.load_checkpoint(cell)[0].step)
    _log_attempt(cell, mode="run" if fresh else "resume", from_step=step,
                 started=time.time(), host=socket.gethostname(), pid=os.getpid())
    try:
        if fresh:
            runs.run(Config.from_json(config_json), cell, progress=False)
        else:
            runs.resume(cell, progress=False)
    except Divergence as err:
        outcome = {"status": "diverged", "message": str(err)}
    except Exception as err:  # a crashed cell is reported; the others carry on
        first = (str(err).splitlines() or [""])[0]
        outcome = {"status": "failed", "message": f"{type(err).__name__}: {first}"}
    else:
        outcome = {"status": "done", "message": None}
    _log_attempt(cell, outcome=outcome["status"], message=outcome["message"],
                 ended=time.time())
    return outcome


def keops_warmups(configs) -> list[dict]:
    """keops.warmup arguments (d, dtypes, activations, bias) to compile before fanning
    out, one per input dimension, for the configs that will run on KeOps (backend
    "keops", or "auto" with CUDA)."""
    from .backends import cuda_available

    plan: dict[int, tuple[set, set, set]] = {}
    for config in configs:
        if config.backend == "keops" or (config.backend == "auto" and cuda_available()):
            dtypes, acts, bias = plan.setdefault(config.d, (set(), set(), set()))
            dtypes.add(config.dtype)
            acts.update((config.student.activation, config.teacher.activation))
            bias.add(config.student.bias or config.teacher.bias)
    return [{"d": d, "dtypes": tuple(sorted(dt)), "activations": tuple(sorted(a)),
             "bias": True in b} for d, (dt, a, b) in sorted(plan.items())]


@contextlib.contextmanager
def local_client(workers: int | None = None):
    """A dask Client on a new LocalCluster: one single-threaded process per core (or
    ``workers``), Numba/BLAS threads = cores // workers so workers never oversubscribe,
    no dashboard, listening on 127.0.0.1 only."""
    from dask.distributed import Client, LocalCluster

    cores = os.cpu_count() or 1
    n = workers or cores
    threads = str(max(1, cores // n))
    env = {name: threads for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS",
                                      "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, env=env) as cluster, Client(cluster) as client:
        yield client


@contextlib.contextmanager
def _client(scheduler, workers):
    """A dask Client on ``scheduler``, or on a new :func:`local_client`."""
    from dask.distributed import Client

    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as err:
            raise ConfigError("scheduler", f"cannot connect to {scheduler}: "
                                           f"{(str(err).splitlines() or [''])[0]}") from None
        with client:
            yield client
        return
    with local_client(workers) as client:
        yield client


@dataclass(frozen=True)
class SweepReport:
    """What :func:`sweep` did: the sweep directory, its cells, each cell's outcome
    ({"status", "message"}) and the results table (meanfield.collect, also saved as
    results.csv)."""

    out_dir: Path
    cells: tuple[Cell, ...]
    outcomes: MappingProxyType
    table: object

    @property
    def failures(self) -> list[tuple[Cell, dict]]:
        """Cells that did not finish, with their outcome."""
        return [(c, self.outcomes[c.id]) for c in self.cells
                if self.outcomes[c.id]["status"] != "done"]

    @property
    def ok(self) -> bool:
        """True when every cell finished."""
        return not self.failures

    def failure_lines(self) -> list[str]:
        """One line per failed cell: id, axis values, status, message, config path."""
        lines = []
        for c, o in self.failures:
            text = str(o["message"])
            if not text.startswith(o["status"]):
                text = f"{o['status']}: {text}"
            lines.append(f"cell {c.id} [{c.label()}] {text} "
                         f"(config: {self.out_dir / CELLS / c.id / 'config.toml'})")
        return lines


def write_manifest(out_dir: Path, base: Config, grid: Grid, cells) -> None:
    """Write sweep.json atomically: base config, grid, axes, groups and cells."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / CELLS).mkdir(exist_ok=True)
    store.write_json(out_dir / MANIFEST, {
        "format": 1, "base": base.to_dict(), "grid": grid.to_dict(), "axes": grid.axes,
        "groups": grid.groups,
        "cells": [{"id": c.id, "values": dict(c.values)} for c in cells]})


def sweep(base_config, grid, out_dir, scheduler=None, workers=None,
          progress=None) -> SweepReport:
    """Run every cell of ``grid`` over ``base_config`` (a Config or a dict) into
    ``out_dir``/cells/<id> on Dask, then write the results table.

    ``scheduler`` ("tcp://HOST:PORT") uses an existing cluster, otherwise a LocalCluster
    is started (``workers`` processes, default one per core) and closed at the end.
    Finished cells are skipped, interrupted ones resumed; a diverged or crashed cell is
    reported in the returned :class:`SweepReport` while the other cells carry on. All
    cells are validated before anything is written (ConfigError on bad input).
    ``progress`` shows a bar counting finished cells (default: only on a terminal).
    """
    from dask.distributed import as_completed
    from tqdm.auto import tqdm

    from .collect import collect

    base = base_config if isinstance(base_config, Config) else Config.from_dict(base_config)
    grid = parse_grid(grid)
    if workers is not None and workers < 1:
        raise ConfigError("workers", f"must be a positive integer, got {workers}")
    cells = expand(base, grid)
    checked = set()
    for cell in cells:  # the seed does not change validity: one build per other values
        key = cell_id(cell.config.override({"seed": "0"}))
        if key not in checked:
            checked.add(key)
            try:
                runs.build(cell.config)
            except ConfigError as err:
                raise ConfigError(err.field, f"{str(err).split(': ', 1)[1]} "
                                             f"(cell {cell.label()})") from None
    out = Path(out_dir)
    write_manifest(out, base, grid, cells)
    outcomes = {}
    todo = []
    for cell in cells:
        state = cell_state(out / CELLS / cell.id)
        if state in FINAL:
            metrics = store.read_json(out / CELLS / cell.id / store.METRICS)
            outcomes[cell.id] = {"status": state, "message": metrics.get("message")}
        else:
            todo.append(cell)
    if todo:
        for plan in keops_warmups(c.config for c in todo):
            from .backends import keops
            keops.warmup(**plan)
        if progress is None:
            progress = sys.stderr.isatty()
        with _client(scheduler, workers) as client, \
                tqdm(total=len(cells), initial=len(cells) - len(todo), unit="cell",
                     desc="sweep", disable=not progress) as bar:
            futures = {client.submit(run_cell, str(out / CELLS / c.id), c.config.to_json(),
                                     key=f"meanfield-cell-{c.id}"): c for c in todo}
            for future in as_completed(futures):
                cell = futures[future]
                try:
                    outcomes[cell.id] = future.result()
                except Exception as err:  # the worker died (e.g. killed) on this cell
                    first = (str(err).splitlines() or [""])[0]
                    outcomes[cell.id] = {"status": "failed",
                                         "message": f"{type(err).__name__}: {first}"}
                bar.update(1)
                failed = sum(o["status"] != "done" for o in outcomes.values())
                if failed:
                    bar.set_postfix(failed=failed)
    table = collect(out)
    return SweepReport(out, tuple(cells), MappingProxyType(outcomes), table)
