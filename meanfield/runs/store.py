"""Run directories on disk: config.json, metrics.json, arrays as .npz (DESIGN.md
"Reliability rules"). Every write goes to a temporary file in the same directory and is
moved into place with os.replace, so a killed process leaves either the old file or the
new one. Nothing is pickled: arrays are read with ``allow_pickle=False``, the RNG state
is stored as a JSON string.

Layout of a run directory::

    config.json / config.toml   the Config
    metrics.json                status, times, risks, summary
    checkpoint.npz              last saved State and records (resume point)
    trajectory.npz              records, snapshots, teacher and final particles
"""
from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from types import MappingProxyType

import numpy as np

from .dynamics import State
from .simulate import Recorder

CHECKPOINT = "checkpoint.npz"
TRAJECTORY = "trajectory.npz"
METRICS = "metrics.json"
CONFIG = "config.json"


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
    atomic_write(path, text.encode("utf-8"))


def write_json(path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, allow_nan=True) + "\n")


def read_json(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def write_npz(path, **arrays) -> None:
    """Save arrays (no object arrays) atomically as an uncompressed .npz."""
    buffer = io.BytesIO()
    np.savez(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
    atomic_write(path, buffer.getvalue())


def read_npz(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def remove_temporaries(run_dir) -> None:
    """Delete temporary files a killed writer left behind (never read by anything)."""
    for path in Path(run_dir).glob(".*.tmp"):
        path.unlink(missing_ok=True)


def save_checkpoint(run_dir, state: State, recorder: Recorder) -> None:
    """One file holding the state (particles, time, step, dt, aux arrays, RNG state as
    JSON) and everything recorded so far."""
    arrays = {f"rec_{k}": v for k, v in recorder.arrays().items()}
    arrays.update({f"aux_{k}": v for k, v in state.aux.items()})
    scalars = {"t": state.t, "step": state.step, "dt": state.dt, "rng": dict(state.rng)}
    write_npz(Path(run_dir) / CHECKPOINT, w=state.w, state=np.array(json.dumps(scalars)),
              **arrays)


def load_checkpoint(run_dir) -> tuple[State, Recorder]:
    """The (state, recorder) pair saved by :func:`save_checkpoint`."""
    data = read_npz(Path(run_dir) / CHECKPOINT)
    scalars = json.loads(str(data["state"]))
    aux = {k[4:]: v for k, v in data.items() if k.startswith("aux_")}
    state = State(w=data["w"], t=scalars["t"], step=scalars["step"], dt=scalars["dt"],
                  rng=scalars["rng"], aux=MappingProxyType(aux))
    records = {k[4:]: v for k, v in data.items() if k.startswith("rec_")}
    return state, Recorder.from_arrays(records)
