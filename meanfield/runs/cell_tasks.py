"""What a worker does with one sweep cell: run or resume its run directory, logging every
attempt in the cell's attempts.json, and turn any failure into an outcome."""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from ..dynamics.trajectory import Divergence
from . import run as runner
from . import store
from .cells import FINAL, cell_state, log_attempt
from .config import Config
from .store import DamagedRun


def crash_outcome(err: BaseException) -> dict:
    """{"status": "failed", "message": one line naming the error (or the damaged file)}."""
    first = (str(err).splitlines() or [""])[0]
    kind = "damaged" if isinstance(err, DamagedRun) else type(err).__name__
    return {"status": "failed", "message": f"{kind}: {first}"}


def start_attempt(cell: Path, mode: str, **extra) -> None:
    """Log the start of an attempt in the cell's attempts.json (mode, host, pid, time)."""
    log_attempt(cell, mode=mode, started=time.time(), host=socket.gethostname(),
                 pid=os.getpid(), **extra)


def finish_attempt(cell: Path, outcome: dict) -> dict:
    """Complete the cell's last attempt with its outcome; returns the outcome."""
    log_attempt(cell, outcome=outcome["status"], message=outcome["message"],
                 ended=time.time())
    return outcome


def failed_start(cell: Path, mode: str, err: BaseException) -> dict:
    """The outcome of a cell that could not even start (a damaged file, a file system
    error), logged as an attempt in its attempts.json where that file can be written, so
    that the sweep's report, results.csv and the log agree; returns the outcome."""
    outcome = crash_outcome(err)
    if cell.is_symlink():  # nothing is written through a link
        return outcome
    try:
        start_attempt(cell, mode)
        finish_attempt(cell, outcome)
    except (DamagedRun, OSError):  # attempts.json itself unusable: collect names it
        pass
    return outcome


def run_cell(cell_dir: str, config_json: str) -> dict:
    """The task a worker runs for a config cell: start the cell's run, or resume it from
    its checkpoint, and return {"status", "message"}; never raises for a failed run. Every
    start is logged in the cell's attempts.json (mode, first step, host, pid, outcome)."""
    from .checkpoint import open_latest
    from .rundir import read_metrics

    cell = Path(cell_dir)
    try:
        if cell_state(cell) in FINAL:
            metrics = read_metrics(cell)
            return {"status": metrics["status"], "message": metrics.get("message")}
        cell.mkdir(parents=True, exist_ok=True)
        fresh = not (cell / store.CONFIG).exists()
        if fresh and not store.has_marker(cell):  # a run directory before attempts.json
            store.write_marker(cell)
        step = 0
        if not fresh and (cell / store.CHECKPOINT).exists():
            step = int(open_latest(cell).state.step)
        start_attempt(cell, "run" if fresh else "resume", from_step=step)
    except (DamagedRun, OSError) as err:  # reported (and logged) as this cell's failure
        return failed_start(cell, "resume", err)
    try:
        if fresh:
            runner.run(Config.from_json(config_json), cell, progress=False)
        else:
            runner.resume(cell, progress=False)
    except Divergence as err:
        outcome: dict[str, str | None] = {"status": "diverged", "message": str(err)}
    except Exception as err:  # a crashed cell is reported; the others carry on
        outcome = crash_outcome(err)
    else:
        outcome = {"status": "done", "message": None}
    try:
        return finish_attempt(cell, outcome)
    except (DamagedRun, OSError):  # attempts.json unusable: the outcome still counts
        return outcome
