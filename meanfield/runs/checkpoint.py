"""Checkpoints: an integrator State and the records so far, in one .npz file.

The state's particles, time, step, step size, auxiliary arrays and the bit-generator
state of its random stream (as JSON) are saved with everything recorded, so a run
resumed from a checkpoint continues bit-for-bit (theory §10). Beside them, ``meta``
(JSON) holds what the state was computed for: the config (its non-default fields) and
its hash, the horizons the run has had (``t_ends``: a run extended with ``meanfield
resume RUN --t_end T`` has several), the wall time spent so far and the phase ("run",
or "tangent" for the tangent model of the diagnostics).

Every save keeps the one before it (checkpoint.previous.npz), so a damaged newest
checkpoint can be fallen back from; every load checks the file (see :func:`read`).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Callable

import numpy as np

from ..dynamics.protocols import State
from ..dynamics.trajectory import Recorder
from . import store
from .store import CHECKPOINT, DamagedRun, read_npz, write_npz

RECORDS = ("times", "steps", "dts", "risk", "test_risk", "snapshots")
#: (newest, previous) file names of each kind of checkpoint
FILES = {"run": (store.CHECKPOINT, store.CHECKPOINT_PREVIOUS),
         "tangent": (store.TANGENT, store.TANGENT_PREVIOUS)}


@dataclass(frozen=True)
class Checkpoint:
    """A checked checkpoint: state, records, ``meta`` (see the module doc), the file it
    was read from and, when the newest file was unusable, why (``fallback``)."""

    state: State
    recorder: Recorder
    meta: dict
    path: Path
    fallback: str | None = None


def save_checkpoint(run_dir, state: State, recorder: Recorder, meta=None,
                    name: str = CHECKPOINT, keep_previous: bool = True) -> None:
    """One file holding the state (particles, time, step, dt, aux arrays, RNG state as
    JSON), everything recorded so far and ``meta``; the previous file of that name is
    kept as its ``.previous.npz`` (unless ``keep_previous`` is False: the file being
    replaced is known to be damaged, and the good previous one stays)."""
    arrays = {f"rec_{k}": v for k, v in recorder.arrays().items()}
    arrays.update({f"aux_{k}": v for k, v in state.aux.items()})
    scalars = {"t": state.t, "step": state.step, "dt": state.dt, "rng": dict(state.rng)}
    run_dir = Path(run_dir)
    newest, previous = next((pair for pair in FILES.values() if pair[0] == name),
                            (name, name.replace(".npz", ".previous.npz")))
    if keep_previous:
        store.rotate(run_dir / newest, run_dir / previous)
    write_npz(run_dir / newest, w=state.w, state=np.array(json.dumps(scalars)),
              meta=np.array(json.dumps(meta or {}, allow_nan=False)), **arrays)


def load_checkpoint(run_dir, name: str = CHECKPOINT) -> tuple[State, Recorder]:
    """The (state, recorder) pair saved by :func:`save_checkpoint` (checked, no fallback)."""
    point = read(Path(run_dir) / name)
    return point.state, point.recorder


def _json(data, key, path):
    if key not in data or data[key].shape != () or data[key].dtype.kind != "U":
        raise DamagedRun(path, f"no {key} record; altered or not a meanfield checkpoint")
    try:
        return json.loads(str(data[key]))
    except ValueError:
        raise DamagedRun(path, f"its {key} record is not valid JSON; altered") from None


def _number(value, path, what, integer=False, low=0.0):
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if not ok or isinstance(value, bool) or not math.isfinite(value) or value < low:
        raise DamagedRun(path, f"{what} is {value!r}; altered")
    return value


def read(path, template: State | None = None) -> Checkpoint:
    """Read and check one checkpoint file: its arrays and JSON records are complete and
    consistent (records of one length, snapshots of the particles' shape, times and steps
    increasing up to the state's, finite particles, a usable random state) and, given a
    ``template`` state (a fresh one of the same run), particles and auxiliary arrays of
    its shapes and dtypes. DamagedRun naming the file otherwise."""
    path = Path(path)
    data = read_npz(path)
    scalars, meta = _json(data, "state", path), _json(data, "meta", path)
    if not isinstance(scalars, dict) or not isinstance(meta, dict):
        raise DamagedRun(path, "its state record is not a table; altered")
    missing = [k for k in ("w", *(f"rec_{r}" for r in RECORDS)) if k not in data]
    if missing or not {"t", "step", "dt", "rng"} <= set(scalars):
        raise DamagedRun(path, f"incomplete (missing {', '.join(missing) or 'state'}); "
                               f"altered or not a meanfield checkpoint")
    t = float(_number(scalars["t"], path, "the time t"))
    step = int(_number(scalars["step"], path, "the step count", integer=True))
    dt = float(_number(scalars["dt"], path, "the step size dt"))
    w = data["w"]
    if w.ndim != 2 or w.dtype.kind != "f" or not np.all(np.isfinite(w)):
        raise DamagedRun(path, "its particles are not a finite (m, p) array; altered")
    aux = {k[4:]: v for k, v in data.items() if k.startswith("aux_")}
    if not isinstance(scalars["rng"], dict):
        raise DamagedRun(path, "its random state is not a table; altered")
    state = State(w=w, t=t, step=step, dt=dt, rng=scalars["rng"],
                  aux=MappingProxyType(aux))
    try:
        state.generator()
    except Exception:  # numpy raises TypeError, ValueError or KeyError for a bad state
        raise DamagedRun(path, "its random state is not usable; altered") from None
    records = {r: data[f"rec_{r}"] for r in RECORDS}
    n = len(records["times"])  # 0 in the checkpoint taken at t = 0, before any record
    if any(records[r].shape != (n,) for r in RECORDS[:-1]) \
            or records["snapshots"].shape != ((n, *w.shape) if n else (0,)):
        raise DamagedRun(path, "its records do not match each other or the particles; "
                               "altered")
    times, steps = records["times"], records["steps"]
    if n and not (np.all(np.isfinite(times)) and np.all(np.diff(times) > 0)
                  and times[0] == 0 and times[-1] <= t and steps.dtype.kind == "i"
                  and np.all(np.diff(steps) >= 0) and steps[-1] <= step
                  and np.all(np.isfinite(records["risk"]))
                  and np.all(np.isfinite(records["snapshots"]))):
        raise DamagedRun(path, "its recorded times, steps or risks are inconsistent; "
                               "altered")
    point = Checkpoint(state, Recorder.from_arrays(records), meta, path)
    if template is not None:
        check_against(point, template)
    return point


def check_against(point: Checkpoint, template: State) -> None:
    """DamagedRun unless the checkpoint's particles and auxiliary arrays have the shapes
    and dtypes of ``template`` (a fresh state of the run's config)."""
    w, path = point.state.w, point.path
    if w.shape != template.w.shape or w.dtype != template.w.dtype:
        raise DamagedRun(path, f"particles of shape {w.shape} ({w.dtype}), the config "
                               f"has {template.w.shape} ({template.w.dtype}); altered")
    expected = {k: (np.shape(v), np.asarray(v).dtype) for k, v in template.aux.items()}
    if {k: (v.shape, v.dtype) for k, v in point.state.aux.items()} != expected:
        raise DamagedRun(path, "its integrator arrays do not match the config's "
                               "integrator; altered")


def open_latest(run_dir, kind: str = "run", template: State | None = None,
                check: Callable[[Checkpoint], object] | None = None) -> Checkpoint:
    """The newest usable checkpoint of ``kind`` ("run" or "tangent"): the newest file, or
    the previous one when the newest is missing or damaged (``fallback`` says why);
    DamagedRun naming both files when neither is usable, or FileNotFoundError when there
    is none at all. Damaged means unreadable bytes, or content that :func:`read`, the
    ``template`` state or ``check`` (raising DamagedRun: the config, horizons and time a
    run expects) refuses: an altered but valid file falls back like a truncated one."""
    run_dir = Path(run_dir)
    newest, previous = (run_dir / name for name in FILES[kind])

    def usable(path):
        point = read(path)
        if check is not None:  # first: a changed config.json is named, not fallen back from
            check(point)
        if template is not None:
            check_against(point, template)
        return point

    if not newest.exists() and not previous.exists() \
            and not newest.is_symlink() and not previous.is_symlink():
        raise FileNotFoundError(str(newest))
    try:
        return usable(newest)
    except DamagedRun as err:
        if not (previous.exists() or previous.is_symlink()):
            raise
        why = str(err)
    try:
        point = usable(previous)
    except DamagedRun as err:
        raise DamagedRun(newest, f"{why.split(': ', 1)[1]}; and {previous.name}: "
                                 f"{str(err).split(': ', 1)[1]}") from None
    return Checkpoint(point.state, point.recorder, point.meta, point.path, why)
