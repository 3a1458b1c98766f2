"""Helpers shared by the run tests: a tiny config (``SMALL``, written to a file by the
``small`` fixture of conftest.py; :func:`small_config`), the ``meanfield`` command run
in-process (:func:`cli`), its one-line stderr (:func:`one_line`), a run directory's
bytes (:func:`snapshot`) and its live metrics (:func:`metrics_of`)."""
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
