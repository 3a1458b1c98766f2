"""The state of one sweep cell, read from its folder, and its log of attempts."""
from __future__ import annotations

from pathlib import Path

from . import store

FINAL = ("done", "diverged")


def cell_state(cell_dir) -> str:
    """"pending" (never started), "done", "diverged", "running" (interrupted), or
    "failed" when the last attempt crashed. A function cell is done when its result.json
    exists; a config cell has the status of its run (metrics.json)."""
    cell_dir = Path(cell_dir)
    if (cell_dir / store.RESULT).exists():
        return "done"
    attempts = (store.read_json(cell_dir / store.ATTEMPTS)
                if (cell_dir / store.ATTEMPTS).exists() else [])
    failed = bool(attempts) and attempts[-1].get("outcome") == "failed"
    if (cell_dir / store.METRICS).exists():
        status = store.read_json(cell_dir / store.METRICS)["status"]
        return "failed" if status == "running" and failed else status
    if (cell_dir / store.TASK).exists() and attempts:
        return "failed" if failed else "running"
    return "pending"


def log_attempt(cell_dir: Path, **entry) -> None:
    """Append a start entry to attempts.json, or complete the last one with its outcome."""
    path = cell_dir / store.ATTEMPTS
    attempts = store.read_json(path) if path.exists() else []
    if "outcome" in entry:
        attempts[-1].update(entry)
    else:
        attempts.append(entry)
    store.write_json(path, attempts)
