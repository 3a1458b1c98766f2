"""The state of one sweep cell, read from its folder, and its log of attempts; the sweep's
manifest. Every file is checked when read (DamagedRun naming it otherwise)."""
from __future__ import annotations

from pathlib import Path

from . import store
from .config import ConfigError
from .rundir import read_metrics
from .store import DamagedRun

FINAL = ("done", "diverged")
#: what an attempt in attempts.json can end with
OUTCOMES = ("done", "diverged", "failed", "interrupted")
#: sweep.json formats this version reads
MANIFEST_FORMAT = 1


def read_attempts(cell_dir) -> list[dict]:
    """The cell's attempts.json (a list of tables, each with a mode), or [] if absent."""
    path = Path(cell_dir) / store.ATTEMPTS
    if not path.exists():
        return []
    attempts = store.read_json(path)
    if not isinstance(attempts, list) or not all(
            isinstance(a, dict) and isinstance(a.get("mode"), str)
            and a.get("outcome", "done") in OUTCOMES
            and isinstance(a.get("message"), (str, type(None))) for a in attempts):
        raise DamagedRun(path, "not a list of attempts (each a mode, an outcome among "
                               f"{', '.join(OUTCOMES)} and a message or null); altered")
    return attempts


def read_result(cell_dir):
    """The value in a function cell's result.json."""
    path = Path(cell_dir) / store.RESULT
    data = store.read_json(path)
    if not isinstance(data, dict) or "value" not in data:
        raise DamagedRun(path, "holds no value; altered")
    return data["value"]


def cell_state(cell_dir) -> str:
    """"pending" (never started), "done", "diverged", "running" (interrupted), or
    "failed" when the last attempt crashed (or could not start). A function cell is done
    when its result.json exists; a config cell has the status of its run (metrics.json;
    "interrupted" and "failed" too). DamagedRun if one of the files is damaged, or the
    cell's folder is a symbolic link (never followed out of the sweep)."""
    cell_dir = Path(cell_dir)
    if (cell_dir / store.RESULT).exists():
        read_result(cell_dir)
        return "done"
    store.refuse_link(cell_dir)
    attempts = read_attempts(cell_dir)
    failed = bool(attempts) and attempts[-1].get("outcome") == "failed"
    if (cell_dir / store.METRICS).exists():
        status = read_metrics(cell_dir)["status"]
        return "failed" if status not in FINAL and failed else status
    if (cell_dir / store.TASK).exists() and attempts:
        return "failed" if failed else "running"
    return "pending"


def log_attempt(cell_dir: Path, **entry) -> None:
    """Append a start entry to attempts.json, or complete the last one with its outcome."""
    path = cell_dir / store.ATTEMPTS
    attempts = read_attempts(cell_dir)
    if "outcome" in entry and attempts:
        attempts[-1].update(entry)
    else:
        attempts.append(entry)
    store.write_json(path, attempts)


def read_manifest(sweep_dir) -> dict:
    """The sweep.json of ``sweep_dir``, checked (format, kind, cells with id and values,
    and for config sweeps the base, grid and axes); ConfigError if it is not a sweep
    directory, DamagedRun if the file is damaged."""
    path = Path(sweep_dir) / store.MANIFEST
    store.refuse_link(Path(sweep_dir) / store.CELLS)
    if not path.is_file():
        raise ConfigError("sweep_dir", f"{sweep_dir} is not a sweep directory (no "
                                       f"{store.MANIFEST})")
    manifest = store.read_json(path)

    def bad(what):
        return DamagedRun(path, f"{what}; altered or written by another program")

    if not isinstance(manifest, dict):
        raise bad("not a table")
    fmt = manifest.get("format")
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt < 1:
        raise bad(f"format is {fmt!r}")
    if fmt > MANIFEST_FORMAT:
        raise DamagedRun(path, f"format {fmt} is newer than this meanfield reads "
                               f"({MANIFEST_FORMAT}); upgrade meanfield")
    kind = manifest.get("kind", "configs")
    if kind not in ("configs", "calls"):
        raise bad(f"unknown kind {kind!r}")
    cells = manifest.get("cells")
    if not isinstance(cells, list) or not all(
            isinstance(c, dict) and isinstance(c.get("id"), str) and c["id"]
            and "/" not in c["id"] and not c["id"].startswith(".")
            and isinstance(c.get("values"), dict) for c in cells):
        raise bad("its cells are not a list of {id, values}")
    if kind == "configs":
        axes = manifest.get("axes")
        if not isinstance(manifest.get("base"), dict) or not isinstance(axes, list) \
                or not all(isinstance(a, str) and all(a in c["values"] for c in cells)
                           for a in axes):
            raise bad("its base, grid or axes are missing or do not match its cells")
    elif not isinstance(manifest.get("function"), str):
        raise bad("names no function")
    return manifest
