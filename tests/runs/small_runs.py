"""Helpers shared by the run tests: a tiny config (``SMALL``, written to a file by the
``small`` fixture of conftest.py; :func:`small_config`), the ``meanfield`` command run
in-process (:func:`cli`), its one-line stderr (:func:`one_line`), a run directory's
bytes (:func:`snapshot`), its live metrics (:func:`metrics_of`) and a finished sweep of
two cells (:func:`small_sweep`)."""
import json
from pathlib import Path

import meanfield as mf
from meanfield.cli import main
from meanfield.runs import store

SMALL = """d = 2
t_end = 1.0
backend = "numpy"
[teacher]
m = 3
[student]
m = 8
[integrator]
name = "euler"
dt = 0.05
"""


def cli(capsys, *args):
    """Exit status, stdout and stderr of `meanfield ARGS` run in-process."""
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def snapshot(directory: Path) -> dict:
    """The bytes of every file under ``directory`` but the lock."""
    return {p.relative_to(directory): p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.is_file() and p.name != store.LOCK}


def metrics_of(run_dir) -> dict:
    return json.loads((Path(run_dir) / store.METRICS).read_text())


def small_config(**extra) -> mf.Config:
    return mf.Config.from_toml(SMALL).override({k: str(v) for k, v in extra.items()})


def small_sweep(tmp_path) -> Path:
    """A finished sweep of two config cells, run without Dask (the workers' task)."""
    from meanfield.runs.grid import expand, parse_grid
    from meanfield.runs.sweep import run_cell, write_manifest

    base, grid = small_config(t_end=0.2), {"seeds": 2}
    cells = expand(base, grid)
    out = tmp_path / "S"
    write_manifest(out, base, parse_grid(grid), cells)
    for cell in cells:
        assert run_cell(str(out / "cells" / cell.id), cell.config.to_json())["status"] == "done"
    return out
