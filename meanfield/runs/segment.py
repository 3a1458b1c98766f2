"""The bookkeeping of one segment of a run (its start, or one resume): the wall time
summed over segments, metrics.json at every checkpoint and stop, checkpoints with their
meta (the config and its hash, the horizons, the wall time, the phase), one log line per
checkpoint off a terminal, SIGINT/SIGTERM turned into a checkpoint and
:class:`Interrupted`, and whether a checkpoint belongs to the run (:func:`belongs`: its
config, hash, horizons and time), which decides when resume falls back."""
from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path

from ..dynamics.trajectory import Recorder
from . import rundir, store
from .checkpoint import FILES
from .config import Config
from .objective_kinds import OBJECTIVE_KINDS
from .store import DamagedRun


class Interrupted(KeyboardInterrupt):
    """A run stopped by SIGINT or SIGTERM after checkpointing (status "interrupted");
    ``exit_status`` is 128 + the signal number (130, 143)."""

    def __init__(self, signum: int, t: float, run_dir):
        self.signum, self.t, self.run_dir = signum, t, Path(run_dir)
        self.exit_status = 128 + signum
        super().__init__(f"interrupted at t={t:.6g}; continue with: meanfield resume "
                         f"{run_dir}")


def note(text: str) -> None:
    """One line on stderr: what a run did that the user should know (a fallback, ...)."""
    print(f"meanfield: {text}", file=sys.stderr, flush=True)


def history(meta: dict, path, config: Config) -> tuple[float, ...]:
    """The horizons a checkpoint's run has had (increasing, the last its config's t_end);
    DamagedRun naming the checkpoint otherwise."""
    t_ends = meta.get("t_ends")
    if not isinstance(t_ends, list) or not t_ends or not all(
            isinstance(t, (int, float)) and not isinstance(t, bool) and t > 0
            for t in t_ends) or t_ends[-1] != config.t_end \
            or any(b <= a for a, b in zip(t_ends, t_ends[1:], strict=False)):
        raise DamagedRun(path, "its horizons (t_ends) are inconsistent; altered")
    return tuple(float(t) for t in t_ends)


def belongs(config: Config, extending: bool):
    """The check a checkpoint of this run passes (open_latest falls back when it does
    not): a valid config matching its hash, consistent horizons, a time within its
    t_end; ConfigError (no fallback) when config.json was changed since it was written."""
    def check(point) -> None:
        rundir.check_same(consistent(point), config, point.path,
                          ignore="t_end" if extending else None)
    return check


def consistent(point) -> Config:
    """The config a checkpoint was computed for, after checking that it is valid and
    matches its hash, that its horizons are consistent and its time within its t_end
    (DamagedRun naming the file otherwise)."""
    stored = rundir.stored_config(point.meta, point.path)
    history(point.meta, point.path, stored)
    if point.state.t > stored.t_end:
        raise DamagedRun(point.path, f"its time t = {point.state.t:.6g} is beyond its "
                                     f"t_end = {stored.t_end:g}; altered")
    return stored


def prior_wall(meta: dict, run_dir: Path) -> tuple[float, list]:
    """Wall time and segments so far: metrics.json's (updated at every checkpoint and
    stop) when it is readable, else the checkpoint's."""
    wall = meta.get("wall_time", 0.0)
    wall = float(wall) if isinstance(wall, (int, float)) and math.isfinite(wall) else 0.0
    segments = []
    with contextlib.suppress(DamagedRun):
        metrics = rundir.read_metrics(run_dir)
        wall = max(wall, float(metrics["wall_time"]))
        if isinstance(metrics.get("segments"), list):
            segments = metrics["segments"]
    return wall, segments


@contextlib.contextmanager
def deferred_signals():
    """Hold SIGINT and SIGTERM back while the block runs (a status being written is
    written whole); they are delivered when it ends. Only in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class Segment:
    """What one start or resume of a run writes besides the simulation: wall time summed
    over segments, metrics.json, checkpoints with their meta, log lines, signals."""

    def __init__(self, out: Path, config: Config, mode: str, t_ends, prior_wall: float,
                 segments: list, progress, save_checkpoint):
        self.out, self.config, self.t_ends = out, config, tuple(t_ends)
        self.save_checkpoint = save_checkpoint  # (run_dir, state, recorder, meta, name, keep)
        self.prior, self.began = prior_wall, time.monotonic()
        self.segments = list(segments)
        self.segment = {"mode": mode, "pid": os.getpid(), "started": time.time()}
        terminal = sys.stderr.isatty()
        self.bar = bool(progress) if progress is not None else terminal
        self.log = progress is None and not terminal
        self.signals: list[int] = []
        self.keep = {"run": True, "tangent": True}
        self.saved_t = 0.0
        self.last_save = {"time": time.monotonic(), "step": 0}

    def wall(self) -> float:
        return self.prior + time.monotonic() - self.began

    def meta(self, phase: str) -> dict:
        return {"format": store.FORMAT, "config": self.config.to_dict(),
                "config_hash": rundir.config_hash(self.config), "t_ends": list(self.t_ends),
                "wall_time": self.wall(), "phase": phase}

    def metrics(self, status: str, state, recorder: Recorder, phase: str = "run",
                message=None, **extra) -> None:
        """Write metrics.json (atomically): status, phase, t, t_end, steps, wall time
        (every segment), the segments, the horizons, and the records so far."""
        arr = recorder.arrays()
        config = self.config
        elapsed = time.monotonic() - self.began
        segment = {**self.segment, "t": float(state.t), "step": int(state.step),
                   "wall_time": elapsed, "outcome": status}
        metrics = {"format": store.FORMAT, "status": status, "phase": phase,
                   "t": float(state.t), "t_end": config.t_end, "step": int(state.step),
                   "wall_time": self.prior + elapsed, "message": message,
                   "config": config.to_dict(), "config_hash": rundir.config_hash(config),
                   "t_ends": list(self.t_ends), "segments": [*self.segments, segment],
                   "times": arr["times"].tolist(), "steps": arr["steps"].tolist(),
                   "dt": arr["dts"].tolist(), "risk": arr["risk"].tolist()}
        if config.objective.n_test and OBJECTIVE_KINDS[config.objective.kind].fixed_data:
            metrics["test_risk"] = arr["test_risk"].tolist()
        metrics.update(extra)
        store.write_json(self.out / store.METRICS, metrics)
        self.written_wall = metrics["wall_time"]

    def save(self, state, recorder, phase: str) -> None:
        self.save_checkpoint(self.out, state, recorder, self.meta(phase), FILES[phase][0],
                             self.keep[phase])
        self.keep[phase] = True
        if phase == "run":
            self.saved_t = state.t

    def on_step(self, phase: str, main_recorder=None):
        """The ``on_step`` of simulate: checkpoint when due (then update metrics.json and,
        off a terminal, log one line), or at once on SIGINT/SIGTERM, then stop."""
        config = self.config
        every_steps = config.checkpoint.every_steps
        every_seconds = config.checkpoint.every_seconds

        def on_step(state, recorder):
            now = time.monotonic()
            records = recorder if main_recorder is None else main_recorder
            if phase == "run":
                self.main_state = state
            if self.signals:
                self.save(state, recorder, phase)
                self.metrics("interrupted", self.main_state, records, phase,
                             message=f"interrupted by signal "
                                     f"{self.signals[0]} at t={state.t:.6g}")
                raise Interrupted(self.signals[0], state.t, self.out)
            if (every_steps and state.step % every_steps == 0) \
                    or now - self.last_save["time"] >= every_seconds:
                self.save(state, recorder, phase)
                self.metrics("running", self.main_state, records, phase)
                if self.log:
                    rate = (state.step - self.last_save["step"]) / max(
                        now - self.last_save["time"], 1e-9)
                    where = "" if phase == "run" else " (tangent model)"
                    note(f"{self.out}{where}: t={state.t:.6g}/{config.t_end:g} step "
                          f"{state.step}, risk {recorder.risk[-1]:.4g}, {rate:.3g} steps/s")
                self.last_save.update(time=now, step=state.step)
        return on_step

    @contextlib.contextmanager
    def catching_signals(self):
        """SIGINT and SIGTERM set a flag that the next step boundary acts on (checkpoint,
        status interrupted, Interrupted); a second one stops at once. Only in the main
        thread (Dask workers run cells in threads)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            self.signals.append(signum)
            signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT
                          else signal.SIG_DFL)

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
