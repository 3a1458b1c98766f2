"""``meanfield run``, ``resume``, ``show`` and ``plot``: one run directory each."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..runs import store
from ..runs.config import Config
from . import sweeps
from .common import Command, parse_overrides


def _configure_run(p):
    p.add_argument("config", nargs="?", help="TOML (or JSON) config; defaults otherwise")
    p.add_argument("--out", help="run directory (default runs/<date-time>)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (default: only on a terminal)")
    p.epilog = ("Any config field can be overridden with a dotted key, e.g. "
                "--student.m 64 --integrator.dt 0.005 --objective.kind online.")


def _run(args, extra) -> int:
    from ..runs.run import run

    config = Config.load(args.config) if args.config else Config()
    config = config.override(parse_overrides(extra))
    out = Path(args.out or Path("runs") / time.strftime("%Y%m%d-%H%M%S"))
    result = run(config, out, progress=args.progress)  # validates before writing
    _summary(result)
    return 0


def _summary(result, already: bool = False) -> None:
    traj = result.trajectory
    test = "" if traj.test_risk is None else f", test risk {traj.test_risk[-1]:.4g}"
    lead = "already finished: " if already else ""
    print(f"{result.run_dir}: {lead}t = {traj.times[-1]:.6g} after {traj.steps[-1]} steps, "
          f"risk {traj.risk[-1]:.4g}{test} [{result.wall_time:.1f} s]")


# -- resume / plot / show ----------------------------------------------------------------
def _configure_dir(p):
    p.add_argument("run_dir", help="a run directory written by `meanfield run`")


def _configure_resume(p):
    _configure_dir(p)
    p.add_argument("--t_end", type=_number, metavar="T",
                   help="extend the run's horizon to T (larger than its t_end; the only way "
                        "to change the t_end of an existing run)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (default: on a terminal; elsewhere one line per "
                        "checkpoint)")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _resume(args, extra) -> int:
    from ..runs.run import resume

    run_dir = Path(args.run_dir)
    status = _status(run_dir)
    result = resume(run_dir, progress=args.progress, t_end=args.t_end)
    _summary(result, already=status == "done" and args.t_end is None)
    return 0


def _status(run_dir: Path):
    """The status in metrics.json, or None (resume checks the file properly)."""
    try:
        return store.read_json(run_dir / store.METRICS).get("status")
    except Exception:
        return None


def _configure_plot(p):
    _configure_dir(p)
    p.add_argument("--out", help="figure directory (default RUN_DIR/figures)")
    p.add_argument("--gif", action="store_true", help="also write an animated GIF")
    p.add_argument("--paths", choices=["sign", "time", "none"], default="sign",
                   help="runs: colour the neurons' paths by the sign of c (default) or by "
                        "time (a log-t colour bar), or draw none")
    sweeps.add_plot_options(p)


def _plot(args, extra) -> int:
    from ..plots.runs import plot_run
    from ..runs.collect import is_sweep
    from ..runs.run import load

    if is_sweep(args.run_dir):
        return sweeps.plot_handler(args)
    result = load(args.run_dir)  # every file checked before anything is drawn
    if args.out is None:  # figures are written into the run: never through a link
        figures = Path(args.run_dir) / store.FIGURES
        store.refuse_link(figures)
        for path in figures.iterdir() if figures.is_dir() else ():
            store.refuse_link(path)
    if result.status == "diverged":
        print(f"meanfield: {args.run_dir} diverged: plotting its records up to "
              f"t = {result.trajectory.times[-1]:.6g}", file=sys.stderr)
    style = {} if args.paths == "sign" else {"paths": None if args.paths == "none"
                                             else args.paths}
    for path in plot_run(result, args.out, gif=args.gif, **style):
        print(path)
    return 0


def _show(args, extra) -> int:
    from ..runs import rundir

    run_dir = rundir.check_run_dir(args.run_dir)
    config = rundir.read_config(run_dir)
    metrics = rundir.read_metrics(run_dir)
    rundir.check_metrics_config(metrics, config, run_dir)
    s, i = config.student, config.integrator
    params = ", ".join(f"{k}={v}" for k, v in config.to_dict()["integrator"].items()
                       if k != "name")
    status = metrics["status"]
    writer = rundir.writer(run_dir)
    if status == "running":
        status += (f" (pid {writer.get('pid', '?')} on {writer.get('host', '?')})"
                   if writer is not None else
                   " (no process is writing it: it was killed; continue with "
                   f"`meanfield resume {run_dir}`)")
    elif status in ("interrupted", "failed"):
        status += f" (continue with `meanfield resume {run_dir}`)"
    if metrics.get("phase") in ("diagnostics", "tangent") and metrics["status"] != "done":
        status += f"; phase: {metrics['phase']}"
    t = config.teacher
    teacher = (f"teacher m={t.m} {t.activation}" if t.kind == "network" else
               "index teacher " + " + ".join(f"{row[-1]:g} He{tuple(int(k) for k in row[:-1])}"
                                             for row in t.hermite or ()))
    rows = [("run", str(run_dir)), ("status", status),
            ("task", f"{config.task}, d={config.d}, {teacher}"),
            ("student", f"m={s.m} {s.activation} alpha={s.alpha} tau={s.init.tau}"
                        f"{' symmetric' if s.init.symmetric else ''}"),
            ("objective", f"{config.objective.kind} ({config.objective.loss} loss)"),
            ("integrator", f"{i.name} ({params})"), ("backend", config.backend),
            ("seed", str(config.seed)),
            ("time", f"{metrics['t']:.6g} / {config.t_end:g} ({metrics['step']} steps)")]
    extended = metrics.get("t_ends")
    if isinstance(extended, list) and len(extended) > 1:
        rows.append(("horizons", " -> ".join(f"{t:g}" for t in extended)))
    if metrics["times"]:
        rows.append(("risk", f"{metrics['risk'][0]:.4g} -> {metrics['risk'][-1]:.4g} "
                             f"(at t = {metrics['times'][-1]:.6g})"))
        if "test_risk" in metrics:
            rows.append(("test risk", f"{metrics['test_risk'][0]:.4g} -> "
                                      f"{metrics['test_risk'][-1]:.4g}"))
    wall = metrics["wall_time"]
    segments = metrics.get("segments")
    count = len(segments) if isinstance(segments, list) else 1
    rate = f", {metrics['step'] / wall:.4g} steps/s" if wall > 0 and metrics["step"] else ""
    rows.append(("wall time", f"{wall:.1f} s over {count} segment{'s' * (count != 1)}"
                              f"{rate}"))
    if metrics.get("message"):
        rows.append(("message", metrics["message"]))
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
    times, risk = metrics["times"], metrics["risk"]
    if times:
        print(f"\n{'t':>12}  {'risk':>12}" + (f"  {'test risk':>12}" if "test_risk" in metrics
                                               else ""))
        for k in sorted(set(round(x) for x in
                            [j * (len(times) - 1) / 9 for j in range(10)])):
            line = f"{times[k]:>12.5g}  {risk[k]:>12.4e}"
            if "test_risk" in metrics:
                line += f"  {metrics['test_risk'][k]:>12.4e}"
            print(line)
    return 0


COMMANDS = [
    Command("run", "run a simulation from a config (and --key value overrides)",
            _configure_run, _run, extra=True, steps=True),
    Command("resume", "continue an interrupted run from its last checkpoint (or extend a "
                      "run with --t_end)",
            _configure_resume, _resume, steps=True),
    Command("plot", "write a run's (or a sweep's) figures", _configure_plot, _plot),
    Command("show", "print a run's summary table", _configure_dir, _show),
]
