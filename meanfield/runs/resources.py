"""The memory a run needs, estimated from its config before anything is allocated.

:func:`check_memory` is called by :func:`meanfield.runs.run.build` (so by ``meanfield
run``, ``resume`` and every cell of a sweep before anything is written): a run whose
estimate exceeds the memory available now stops with a one-line ConfigError giving the
estimate, instead of a MemoryError (or the machine swapping) halfway through.

The estimate is deliberately generous, in bytes:

* particles: the student's m x p array about eight times over (particles, velocity,
  integrator arrays, trial states, the centring reference), the teacher's twice;
* records: (record.n + 1) snapshots of the particles, three times over (the recorder,
  the stacked array, the file buffer), twice with the tangent model of the diagnostics;
* data: training, test, online-batch, probe and diagnostics points, and the diagnostics'
  Jacobian on the probe points (probe x m x p);
* tiles: eight arrays of the backend's tile budget (its ``TILE`` pair entries).

The error names the field that drives the estimate (``student.m``, ``d``, ``record.n``,
``objective.batch``, ``integrator.batch``, ``diagnostics.probe``, ...).
:func:`check_steps` bounds the step count t_end / dt the same way, before anything is
written.
"""
from __future__ import annotations

import os

import numpy as np

from .. import backends
from ..objectives.teacher_student import PROBE_POINTS
from .config import Config, ConfigError
from .objective_kinds import OBJECTIVE_KINDS

#: tile entries assumed for a backend that does not say (KeOps tiles on its own)
DEFAULT_TILE = 1 << 22
#: most steps a fixed-step run may take: step counts and t = n dt stay exact in float64
MAX_STEPS = 2 ** 53
#: the config fields that size a run, and a small value of each: the field named in an
#: error is the one whose reset to this value shrinks the estimate the most
SIZES = {"student.m": 100, "student.init.reference_m": 0, "teacher.m": 3, "d": 2,
         "record.n": 100, "objective.n_train": 100, "objective.n_test": 0,
         "objective.batch": 200, "integrator.batch": 0, "diagnostics.probe": 0}


def sizes(config: Config) -> dict[str, int]:
    """The values of the fields of :data:`SIZES` in ``config`` (unset ones 0); the SGD
    batch counts only where it draws fresh points (objectives without fixed data: the
    minibatch of a fixed data set is part of it)."""
    s, o = config.student, config.objective
    kind = OBJECTIVE_KINDS[o.kind]
    sgd = config.integrator.name == "sgd" and not kind.fixed_data
    return {"student.m": s.m, "student.init.reference_m": s.init.reference_m or 0,
            "teacher.m": config.teacher.m, "d": kind.d or config.d,
            "record.n": config.record.n,
            "objective.n_train": o.n_train if kind.fixed_data else 0,
            "objective.n_test": o.n_test if kind.fixed_data else 0,
            "objective.batch": 0 if kind.fixed_data else o.batch,
            "integrator.batch": (config.integrator.batch or 0) if sgd else 0,
            "diagnostics.probe": config.diagnostics.probe}


def estimate(config: Config, n: dict[str, int] | None = None) -> dict[str, int]:
    """Bytes each part of a run needs (module doc): particles, teacher, records, data,
    tiles; ``n`` replaces the sizes read from the config (:func:`sizes`).

    Example: ``sum(estimate(Config()).values())`` is about 67 MiB (mostly tiles)."""
    n = sizes(config) if n is None else n
    item = np.dtype(config.dtype).itemsize
    p_student = 1 + n["d"] + int(config.student.bias)
    p_teacher = 1 + n["d"] + int(config.teacher.bias)
    m = max(n["student.m"], n["student.init.reference_m"])
    points = PROBE_POINTS + n["diagnostics.probe"] + n["objective.n_train"] \
        + n["objective.n_test"] + n["objective.batch"] + n["integrator.batch"]
    copies = 6 if config.diagnostics.tangent else 3
    try:
        tile = int(getattr(backends.get_backend(config.backend), "TILE", DEFAULT_TILE))
    except Exception:  # a backend that cannot load says so itself when it is used
        tile = DEFAULT_TILE
    return {"particles": 8 * m * p_student * item,
            "teacher": 2 * n["teacher.m"] * p_teacher * 8,
            "records": copies * (n["record.n"] + 1) * n["student.m"] * p_student * item,
            "data": 8 * points * (n["d"] + 1)
                    + 8 * n["diagnostics.probe"] * n["student.m"] * p_student,
            "tiles": 8 * 8 * tile}


def _driver(config: Config) -> str:
    """The field whose reset to its small value (:data:`SIZES`) shrinks the estimate most."""
    n = sizes(config)

    def total_without(name):
        return sum(estimate(config, {**n, name: min(n[name], SIZES[name])}).values())

    return min(n, key=total_without)


def available_memory() -> int | None:
    """Bytes of memory available now (psutil, else /proc/meminfo, else sysconf); None if
    the system does not say."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def size(n: float) -> str:
    """Bytes in binary units, e.g. ``2.3 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError


def check_memory(config: Config, available: int | None = None) -> dict[str, int]:
    """The estimate; ConfigError naming the field that drives it (the one whose reset
    shrinks it most), with the estimate and the memory available, when it exceeds what
    is available."""
    parts = estimate(config)
    available = available_memory() if available is None else available
    total = sum(parts.values())
    if available is not None and total > available:
        detail = ", ".join(f"{k} {size(v)}" for k, v in parts.items() if v)
        raise ConfigError(_driver(config), f"the run needs about {size(total)} of memory "
                                           f"({detail}) but {size(available)} is "
                                           f"available")
    return parts


def check_steps(config: Config, fixed_dt: bool) -> None:
    """ConfigError, naming t_end or integrator.dt (whichever is further from its
    default), when a fixed-step run would take more than :data:`MAX_STEPS` steps
    (t_end / dt; infinite for a dt that underflows)."""
    dt = config.integrator.dt
    if not fixed_dt or dt is None:
        return
    steps = config.t_end / dt
    if steps <= MAX_STEPS:
        return
    name = "t_end" if config.t_end * dt >= 0.1 else "integrator.dt"
    raise ConfigError(name, f"t_end / integrator.dt = {config.t_end:g} / {dt:g} = "
                            f"{steps:.3g} steps, more than a run can count ({MAX_STEPS:.3g})")
