"""Collecting a sweep into tables: one row per cell, and the cells' risk curves.

``results.csv`` has the columns ``cell`` (id), one per axis (dotted config keys), ``seed``,
``status`` ("done", "diverged", "failed", "running" for an interrupted run, "pending"
for one never started), the scalar metrics ``final_risk``, ``final_test_risk``,
``min_risk``, ``t_final``, ``steps``, ``wall_time``, ``initial_risk`` (R0, the risk
recorded at t = 0) and ``relative_risk`` (R/R0 = final_risk / initial_risk, empty when
R0 is 0 or was not recorded), the end-of-run laziness
diagnostics when the cells recorded them (``kappa``, ``final_displacement``,
``final_kernel_change``, ``final_activation_stability``, ``final_tangent_distance_rel``;
config section ``diagnostics``; with an index-target teacher ``final_overlap_mean``,
``final_overlap_fraction``, ``final_overlap_max``), and ``message`` (why a cell
stopped). ``series.csv`` is long format: ``cell``, the axes, ``seed``, then ``t``,
``step``, ``risk``, ``test_risk``, one row per recorded time. Missing values are empty.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.extras import require
from . import store
from .cells import cell_state, read_attempts
from .cells import read_manifest as _read_manifest
from .config import ConfigError
from .rundir import OVERLAP_KEYS, read_metrics
from .store import CELLS, MANIFEST, RESULTS, SERIES, DamagedRun

if TYPE_CHECKING:
    import pandas as pd
SCALARS = ("final_risk", "final_test_risk", "min_risk", "t_final", "steps", "wall_time",
           "initial_risk", "relative_risk")
DIAGNOSTICS = ("displacement", "kernel_change", "activation_stability", "tangent_distance_rel",
               *OVERLAP_KEYS)


def is_sweep(path) -> bool:
    """True when ``path`` is a sweep directory (holds sweep.json)."""
    return (Path(path) / MANIFEST).is_file()


def read_manifest(sweep_dir) -> dict:
    """The sweep.json of ``sweep_dir``, checked (meanfield.runs.cells.read_manifest);
    ConfigError if it is not a sweep directory, DamagedRun if sweep.json is damaged."""
    return _read_manifest(sweep_dir)


def read_config_manifest(sweep_dir) -> dict:
    """The manifest of a sweep of config cells (the ones with run directories)."""
    manifest = read_manifest(sweep_dir)
    if manifest.get("kind", "configs") != "configs":
        raise ConfigError("sweep_dir", f"{sweep_dir} holds function cells, not runs; their "
                                       f"values are in {CELLS}/<id>/{store.RESULT}")
    return manifest


def _scalars(metrics: dict | None, status: str) -> dict:
    nan = math.nan
    row: dict[str, Any] = dict.fromkeys(SCALARS, nan)
    row["message"] = None
    if metrics is None:
        return row
    risk, test = metrics["risk"], metrics.get("test_risk")
    row.update(message=metrics.get("message"), wall_time=metrics["wall_time"])
    if risk:
        row.update(min_risk=min(risk), t_final=metrics["times"][-1],
                   steps=metrics["steps"][-1])
        if metrics["times"][0] == 0:
            row["initial_risk"] = risk[0]
        if status == "done":
            row["final_risk"] = risk[-1]
            row["final_test_risk"] = test[-1] if test else nan
            if row["initial_risk"] > 0:
                row["relative_risk"] = risk[-1] / row["initial_risk"]
    diagnostics = metrics.get("diagnostics")
    if diagnostics:
        kappa = diagnostics.get("kappa")
        row["kappa"] = nan if kappa is None else kappa
        row.update({f"final_{key}": diagnostics[key][-1] for key in DIAGNOSTICS
                    if key in diagnostics})
    return row


def _read(sweep_dir):
    sweep_dir = Path(sweep_dir)
    manifest = read_config_manifest(sweep_dir)
    for entry in manifest["cells"]:
        cell_dir = sweep_dir / CELLS / entry["id"]
        try:
            status = cell_state(cell_dir)
            metrics = None if status == "pending" else read_metrics(cell_dir)
            if status == "failed":
                attempts = read_attempts(cell_dir)
                if attempts and attempts[-1].get("message"):
                    metrics = {**metrics, "message": attempts[-1]["message"]}
        except DamagedRun as err:  # reported in the table; the other cells are read
            status, metrics = "failed", {"message": f"damaged: {err}", "risk": [],
                                         "times": [], "wall_time": math.nan}
        yield manifest["axes"], entry, status, metrics


def collect(sweep_dir, save: bool = True) -> pd.DataFrame:
    """One row per cell (axis values, seed, status, scalar metrics; see the module doc).
    With ``save``, writes results.csv and series.csv into ``sweep_dir`` atomically.

    Examples:

        >>> import tempfile, pathlib, meanfield as mf
        >>> base = {"student": {"m": 8}, "t_end": 0.5, "backend": "numpy",
        ...         "record": {"schedule": "linear", "n": 2}}
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "sweep"
        >>> grid = {"product": {"student.m": [4, 8]}, "seeds": 2}   # 4 cells
        >>> report = mf.sweep(base, grid, out, workers=2)  # doctest: +SKIP
        >>> table = mf.collect(out)  # doctest: +SKIP
        >>> len(table), sorted(set(table["status"]))  # doctest: +SKIP
        (4, ['done'])
        >>> try:
        ...     mf.collect(out.parent)
        ... except mf.ConfigError as err:
        ...     print(err)
        sweep_dir: ... is not a sweep directory (no sweep.json)
    """
    rows = []
    for axes, entry, status, metrics in _read(sweep_dir):
        row = {"cell": entry["id"], **{a: entry["values"][a] for a in axes},
               "status": status, **_scalars(metrics, status)}
        rows.append(row)
    table = require("pandas", "sweeps").DataFrame(rows)
    if save:
        store.write_text(Path(sweep_dir) / RESULTS, table.to_csv(index=False))
        store.write_text(Path(sweep_dir) / SERIES, collect_series(sweep_dir).to_csv(index=False))
    return table


def collect_series(sweep_dir) -> pd.DataFrame:
    """The cells' recorded risk curves in long format: cell, axes, seed, t, step, risk,
    test_risk (empty without a test set)."""
    columns: dict[str, list] = {}
    for axes, entry, _status, metrics in _read(sweep_dir):
        if not columns:
            columns = {name: [] for name in ["cell", *axes, "t", "step", "risk",
                                             "test_risk"]}
        if metrics is None or not metrics["times"]:
            continue
        n = len(metrics["times"])
        columns["cell"] += [entry["id"]] * n
        for a in axes:
            columns[a] += [entry["values"][a]] * n
        columns["t"] += metrics["times"]
        columns["step"] += metrics["steps"]
        columns["risk"] += metrics["risk"]
        columns["test_risk"] += metrics.get("test_risk") or [math.nan] * n
    return require("pandas", "sweeps").DataFrame(columns)
