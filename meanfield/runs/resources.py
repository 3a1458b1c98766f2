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
#: the config field that drives each part of the estimate (named in the error)
FIELDS = {"particles": "student.m", "teacher": "teacher.m", "records": "record.n",
          "data": "objective.n_train", "tiles": "backend"}


def estimate(config: Config) -> dict[str, int]:
    """Bytes each part of a run needs (module doc): particles, teacher, records, data,
    tiles."""
    s, t, o = config.student, config.teacher, config.objective
    item = np.dtype(config.dtype).itemsize
    p_student = 1 + config.d + int(s.bias)
    p_teacher = 1 + config.d + int(t.bias)
    m = max(s.m, s.init.reference_m or 0)
    kind = OBJECTIVE_KINDS[o.kind]
    d = kind.d or config.d
    points = PROBE_POINTS + config.diagnostics.probe
    points += (o.n_train + o.n_test) if kind.fixed_data else o.batch
    copies = 6 if config.diagnostics.tangent else 3
    try:
        tile = int(getattr(backends.get_backend(config.backend), "TILE", DEFAULT_TILE))
    except Exception:  # a backend that cannot load says so itself when it is used
        tile = DEFAULT_TILE
    return {"particles": 8 * m * p_student * item,
            "teacher": 2 * t.m * p_teacher * 8,
            "records": copies * (config.record.n + 1) * s.m * p_student * item,
            "data": 8 * points * (d + 1) + 8 * config.diagnostics.probe * s.m * p_student,
            "tiles": 8 * 8 * tile}


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
    """The estimate; ConfigError naming the field of its largest part, with the estimate
    and the memory available, when it exceeds what is available."""
    parts = estimate(config)
    available = available_memory() if available is None else available
    total = sum(parts.values())
    if available is not None and total > available:
        largest = max(parts, key=parts.get)
        detail = ", ".join(f"{k} {size(v)}" for k, v in parts.items() if v)
        raise ConfigError(FIELDS[largest], f"the run needs about {size(total)} of memory "
                                           f"({detail}) but {size(available)} is available")
    return parts
