"""Reading a run directory: every file checked before it is used.

Each reader raises :class:`~meanfield.runs.store.DamagedRun` (one line naming the file
and what is wrong) for a file that is missing, truncated, altered or inconsistent with
the run's config, and ConfigError for a path that is not a run directory at all. The
identity of a config (``config_hash``, :func:`changed_fields`) lives here too: resume
compares the config of a run with the one its checkpoint was computed for.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from . import store
from .config import Config, ConfigError
from .grid import cell_id
from .store import DamagedRun

#: what metrics.json's ``status`` can be
STATUSES = ("running", "done", "diverged", "failed", "interrupted")
#: what metrics.json's ``phase`` can be (the part of the run writing it)
PHASES = ("run", "diagnostics", "tangent", "done")
#: the lists over the records in metrics.json's ``diagnostics`` (with ``kappa``, a number)
#: the overlap measures of a run with an index-target teacher (meanfield.runs.diagnose)
OVERLAP_KEYS = ("overlap_mean", "overlap_fraction", "overlap_max")
DIAGNOSTICS = ("displacement", "kernel_change", "activation_stability",
               "tangent_distance", "tangent_distance_rel", *OVERLAP_KEYS)


def check_run_dir(run_dir) -> Path:
    """``run_dir`` as a Path if it is a run directory written by meanfield (its marker is
    there and readable); ConfigError if it is not one, DamagedRun if the marker is
    damaged or of a newer format."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError("run_dir", f"{run_dir} is not a directory")
    if not store.has_marker(run_dir):
        what = "holds no run" if not (run_dir / store.CONFIG).exists() else \
            "was not written by this version of meanfield"
        raise ConfigError("run_dir", f"{run_dir} is not a meanfield run directory (no "
                                     f"{store.MARKER}: it {what})")
    store.check_marker(run_dir)
    return run_dir


def read_config(run_dir) -> Config:
    """The run's config.json, checked (DamagedRun if unreadable or not a valid config)."""
    path = Path(run_dir) / store.CONFIG
    data = store.read_json(path)
    try:
        return Config.from_dict(data)
    except ConfigError as err:
        raise DamagedRun(path, f"not a valid config ({err}); altered") from None


# -- the identity of a config ------------------------------------------------------------
def config_hash(config: Config) -> str:
    """16 hex digits over the config's non-default fields (:func:`grid.cell_id`)."""
    return cell_id(config)


def _flatten(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def changed_fields(old: Config, new: Config) -> list[tuple[str, object, object]]:
    """(dotted field, old value, new value) for every field that differs, in config
    order (None for an unset optional field)."""
    a, b = _flatten(old.to_dict()), _flatten(new.to_dict())
    names = list(a) + [k for k in b if k not in a]
    return [(k, a.get(k), b.get(k)) for k in names if a.get(k) != b.get(k)]


def check_same(stored: Config, config: Config, where, ignore: str | None = None) -> None:
    """ConfigError naming the first field in which config.json (``config``) differs from
    the config a file was computed for (``stored``, read from ``where``)."""
    changes = [c for c in changed_fields(stored, config) if c[0] != ignore]
    if not changes:
        return
    name, old, new = changes[0]
    more = f" (and {len(changes) - 1} more field{'s' if len(changes) > 2 else ''})" \
        if len(changes) > 1 else ""
    hint = ("; the horizon changes only with `meanfield resume RUN --t_end T`"
            if name == "t_end" else "; put it back, or start a new run with `meanfield run`")
    raise ConfigError(name, f"changed since {Path(where).name} was written: {old!r} there, "
                            f"{new!r} in {store.CONFIG}{more}{hint}")


def stored_config(meta: dict, path) -> Config:
    """The config a checkpoint was computed for (its ``meta``), checked against its
    hash; DamagedRun naming the checkpoint otherwise."""
    data, digest = meta.get("config"), meta.get("config_hash")
    if not isinstance(data, dict) or not isinstance(digest, str):
        raise DamagedRun(path, "holds no config; written by another version of meanfield "
                               "or altered")
    try:
        config = Config.from_dict(data)
    except ConfigError as err:
        raise DamagedRun(path, f"its config is not valid ({err}); altered") from None
    if config_hash(config) != digest:
        raise DamagedRun(path, "its config does not match its hash; altered")
    return config


# -- metrics.json -------------------------------------------------------------------------
def _is_number(value: Any, integer: bool = False) -> TypeGuard[float]:
    if isinstance(value, bool):
        return False
    if integer:
        return isinstance(value, int)
    return isinstance(value, (int, float))


def read_metrics(run_dir) -> dict:
    """metrics.json, checked field by field: a table with a known format, status and
    phase, finite t <= t_end, a step count, a wall time, record lists of one length
    (numbers; NaN allowed in the test risks), increasing horizons ending at t_end, a list
    of segments, a final risk and diagnostics (lists over the records, kappa a number or
    null) when present. DamagedRun naming the file and the field otherwise."""
    path = Path(run_dir) / store.METRICS
    metrics = store.read_json(path)

    def bad(what):
        return DamagedRun(path, f"{what}; altered or written by another program")

    if not isinstance(metrics, dict):
        raise bad("not a table")
    fmt = metrics.get("format", store.FORMAT)
    if not _is_number(fmt, integer=True) or not 1 <= fmt <= store.FORMAT:
        raise bad(f"format is {fmt!r}")
    if metrics.get("status") not in STATUSES:
        raise bad(f"status is {metrics.get('status')!r}, not one of {', '.join(STATUSES)}")
    if metrics.get("phase", "run") not in PHASES:
        raise bad(f"phase is {metrics.get('phase')!r}, not one of {', '.join(PHASES)}")
    for key in ("t", "t_end", "wall_time"):
        value = metrics.get(key)
        if not _is_number(value) or not math.isfinite(value) or value < 0:
            raise bad(f"{key} is {value!r}")
    if not _is_number(metrics.get("step"), integer=True) or metrics["step"] < 0:
        raise bad(f"step is {metrics.get('step')!r}")
    if metrics["t"] > metrics["t_end"] * (1 + 1e-12):
        raise bad(f"t = {metrics['t']} is beyond t_end = {metrics['t_end']}")
    if not isinstance(metrics.get("message"), (str, type(None))):
        raise bad("message is not text")
    lists = ["times", "steps", "dt", "risk"] + (["test_risk"] if "test_risk" in metrics
                                                 else [])
    lengths = set()
    for key in lists:
        values = metrics.get(key)
        integer = key == "steps"
        if not isinstance(values, list) or not all(_is_number(v, integer) for v in values):
            raise bad(f"{key} is not a list of numbers")
        if key != "test_risk" and not all(math.isfinite(v) for v in values):
            raise bad(f"{key} holds NaN or Inf")
        lengths.add(len(values))
    if len(lengths) != 1:
        raise bad("its record lists have different lengths")
    if metrics["times"] and (metrics["times"][-1] > metrics["t"] * (1 + 1e-12)
                             or metrics["steps"][-1] > metrics["step"]):
        raise bad("its last record is beyond t")
    _check_extras(metrics, len(metrics["times"]), bad)
    return metrics


def _check_extras(metrics: dict, n: int, bad) -> None:
    """The optional fields of metrics.json: t_ends, segments, final_risk, diagnostics."""
    t_ends = metrics.get("t_ends", [metrics["t_end"]])
    if not isinstance(t_ends, list) or not t_ends \
            or not all(_is_number(t) and math.isfinite(t) and t > 0 for t in t_ends) \
            or any(b <= a for a, b in zip(t_ends, t_ends[1:], strict=False)) \
            or t_ends[-1] != metrics["t_end"]:
        raise bad("t_ends is not a list of increasing horizons ending at t_end")
    segments = metrics.get("segments", [])
    if not isinstance(segments, list) or not all(isinstance(x, dict) for x in segments):
        raise bad("segments is not a list of tables")
    if "final_risk" in metrics and not _is_number(metrics["final_risk"]):
        raise bad(f"final_risk is {metrics['final_risk']!r}")
    if "diagnostics" not in metrics:
        return
    diagnostics = metrics["diagnostics"]
    if not isinstance(diagnostics, dict):
        raise bad("diagnostics is not a table")
    for key, values in diagnostics.items():
        if key == "kappa":
            if values is not None and not _is_number(values):
                raise bad(f"diagnostics.kappa is {values!r}")
        elif key not in DIAGNOSTICS or not isinstance(values, list) \
                or len(values) != n or not all(_is_number(v) for v in values):
            raise bad(f"diagnostics.{key} is not a list of {n} numbers (one per record)")


def finished(metrics: dict, config: Config) -> bool:
    """True when the run is done at its config's horizon (status done, t = t_end)."""
    return metrics["status"] == "done" and metrics["t"] == metrics["t_end"] == config.t_end


def check_metrics_config(metrics: dict, config: Config, run_dir) -> None:
    """The run's config.json is the config its metrics.json was computed for; else
    ConfigError naming the changed field (DamagedRun if metrics.json holds none)."""
    check_same(stored_config(metrics, Path(run_dir) / store.METRICS), config,
               store.METRICS)


# -- trajectory.npz ----------------------------------------------------------------------
def read_trajectory(run_dir, student_shape, teacher_shape, metrics: dict) -> dict:
    """trajectory.npz, checked: every array there, of one record count (that of
    metrics.json), snapshots and final particles of the student's shape, the teacher's."""
    path = Path(run_dir) / store.TRAJECTORY
    arrays = store.read_npz(path)
    keys = ("times", "steps", "dts", "risk", "test_risk", "snapshots", "final", "teacher")
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise DamagedRun(path, f"incomplete (missing {', '.join(missing)}); altered")
    n = len(metrics["times"])
    if any(arrays[k].shape != (n,) for k in keys[:5]) \
            or arrays["snapshots"].shape != (n, *student_shape) \
            or arrays["final"].shape != tuple(student_shape) \
            or arrays["teacher"].shape != tuple(teacher_shape):
        raise DamagedRun(path, f"its arrays do not match the config and the {n} records of "
                               f"{store.METRICS}; altered")
    if not np.array_equal(arrays["times"], np.asarray(metrics["times"], dtype=float)):
        raise DamagedRun(path, f"its record times differ from those of {store.METRICS}; "
                               f"altered")
    if not (np.all(np.isfinite(arrays["snapshots"])) and np.all(np.isfinite(arrays["final"]))
            and np.all(np.isfinite(arrays["teacher"]))):
        raise DamagedRun(path, "holds NaN or Inf particles; altered")
    return arrays


# -- the writer ------------------------------------------------------------------------------
def writer(run_dir) -> dict | None:
    """The process holding the run's lock ({"pid", "host", "command"}), or None when no
    process is writing it. Read-only: the lock file is neither created nor changed."""
    import fcntl
    import json
    import os

    path = Path(run_dir) / store.LOCK
    try:
        fd = store.open_file(path, os.O_RDONLY)
    except (OSError, DamagedRun):
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
            except ValueError:
                return {}
            return holder if isinstance(holder, dict) else {}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
