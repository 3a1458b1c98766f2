"""Files on disk: every name meanfield writes, and atomic reads and writes.

Every write goes to a temporary file in the same directory and is moved into place with
os.replace, so a killed process leaves either the old file or the new one. Nothing is
pickled: arrays are read with ``allow_pickle=False``.

Layout of a run directory::

    config.json / config.toml   the Config
    metrics.json                status, times, risks, summary
    checkpoint.npz              last saved State and records (resume point)
    trajectory.npz              records, snapshots, teacher and final particles
    figures/                    what ``meanfield plot`` draws

Layout of a sweep directory::

    sweep.json                  manifest: what the cells are
    cells/<id>/                 a run directory, or task.json + result.json for a
                                function cell; attempts.json logs every start
    results.csv, series.csv     the tables (config sweeps)
"""
from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np

# run directories
CONFIG = "config.json"
CONFIG_TOML = "config.toml"
METRICS = "metrics.json"
CHECKPOINT = "checkpoint.npz"
TRAJECTORY = "trajectory.npz"
FIGURES = "figures"
# sweep directories
MANIFEST = "sweep.json"
CELLS = "cells"
ATTEMPTS = "attempts.json"
TASK = "task.json"
RESULT = "result.json"
RESULTS = "results.csv"
SERIES = "series.csv"


def atomic_write(path, data: bytes) -> None:
    """Write bytes to ``path`` through a temporary file, fsync and os.replace."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text(path, text: str) -> None:
    """Write ``text`` (UTF-8) atomically."""
    atomic_write(path, text.encode("utf-8"))


def write_json(path, obj) -> None:
    """Write ``obj`` as indented JSON atomically."""
    write_text(path, json.dumps(obj, indent=2, allow_nan=True) + "\n")


def read_json(path):
    """The JSON document in ``path``."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def write_npz(path, **arrays) -> None:
    """Save arrays (no object arrays) atomically as an uncompressed .npz."""
    buffer = io.BytesIO()
    np.savez(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
    atomic_write(path, buffer.getvalue())


def read_npz(path) -> dict[str, np.ndarray]:
    """Every array of an .npz file (no pickled objects)."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def remove_temporaries(run_dir) -> None:
    """Delete temporary files a killed writer left behind (never read by anything)."""
    for path in Path(run_dir).glob(".*.tmp"):
        path.unlink(missing_ok=True)
