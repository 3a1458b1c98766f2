"""``meanfield run``, ``resume``, ``show`` and ``plot``: one run directory each."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..runs import store
from ..runs.config import Config, ConfigError
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
    from ..runs.run import build, run

    config = Config.load(args.config) if args.config else Config()
    config = config.override(parse_overrides(extra))
    build(config)  # validate everything before writing
    out = Path(args.out or Path("runs") / time.strftime("%Y%m%d-%H%M%S"))
    result = run(config, out, progress=args.progress)
    _summary(result)
    return 0


def _summary(result) -> None:
    traj = result.trajectory
    test = "" if traj.test_risk is None else f", test risk {traj.test_risk[-1]:.4g}"
    print(f"{result.run_dir}: t = {traj.times[-1]:.6g} after {traj.steps[-1]} steps, "
          f"risk {traj.risk[-1]:.4g}{test} [{result.wall_time:.1f} s]")


# -- resume / plot / show ----------------------------------------------------------------
def _configure_dir(p):
    p.add_argument("run_dir", help="a run directory written by `meanfield run`")


def _configure_resume(p):
    _configure_dir(p)
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)


def _resume(args, extra) -> int:
    from ..runs.run import resume

    _summary(resume(args.run_dir, progress=args.progress))
    return 0


def _configure_plot(p):
    _configure_dir(p)
    p.add_argument("--out", help="figure directory (default RUN_DIR/figures)")
    p.add_argument("--gif", action="store_true", help="also write an animated GIF")
    sweeps.add_plot_options(p)


def _plot(args, extra) -> int:
    from ..plots.runs import plot_run
    from ..runs.collect import is_sweep
    from ..runs.run import load

    if is_sweep(args.run_dir):
        return sweeps.plot_handler(args)
    for path in plot_run(load(args.run_dir), args.out, gif=args.gif):
        print(path)
    return 0


def _show(args, extra) -> int:
    run_dir = Path(args.run_dir)
    if not (run_dir / store.CONFIG).exists():
        raise ConfigError("run_dir", f"{run_dir} is not a run directory (no config.json)")
    config = Config.load(run_dir / store.CONFIG)
    metrics = store.read_json(run_dir / store.METRICS)
    s, i = config.student, config.integrator
    params = ", ".join(f"{k}={v}" for k, v in config.to_dict()["integrator"].items()
                       if k != "name")
    rows = [("run", str(run_dir)), ("status", metrics["status"]),
            ("task", f"{config.task}, d={config.d}, teacher m={config.teacher.m} "
                     f"{config.teacher.activation}"),
            ("student", f"m={s.m} {s.activation} alpha={s.alpha} tau={s.init.tau}"
                        f"{' symmetric' if s.init.symmetric else ''}"),
            ("objective", f"{config.objective.kind} ({config.objective.loss} loss)"),
            ("integrator", f"{i.name} ({params})"), ("backend", config.backend),
            ("seed", str(config.seed))]
    if metrics["times"]:
        rows += [("time", f"{metrics['times'][-1]:.6g} / {config.t_end:g} "
                          f"({metrics['steps'][-1]} steps)"),
                 ("risk", f"{metrics['risk'][0]:.4g} -> {metrics['risk'][-1]:.4g}")]
        if "test_risk" in metrics:
            rows.append(("test risk", f"{metrics['test_risk'][0]:.4g} -> "
                                      f"{metrics['test_risk'][-1]:.4g}"))
    rows.append(("wall time", f"{metrics['wall_time']:.1f} s"))
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
            _configure_run, _run, extra=True),
    Command("resume", "continue an interrupted run from its last checkpoint",
            _configure_resume, _resume),
    Command("plot", "write a run's (or a sweep's) figures", _configure_plot, _plot),
    Command("show", "print a run's summary table", _configure_dir, _show),
]
