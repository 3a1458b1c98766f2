"""Checkpoints: an integrator State and the records so far, in one .npz file.

The state's particles, time, step, step size, auxiliary arrays and the bit-generator
state of its random stream (as JSON) are saved with everything recorded, so a run
resumed from a checkpoint continues bit-for-bit (theory §10).
"""
from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType

import numpy as np

from ..dynamics import State
from ..trajectory import Recorder
from .store import CHECKPOINT, read_npz, write_npz


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
