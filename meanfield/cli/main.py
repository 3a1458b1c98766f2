"""The ``meanfield`` command: run, resume, plot, show, demo.

Subcommands live in a registry (:func:`register`), so another module adds one with a
single call. Bad input (config, flags) prints one line ``meanfield: error: ...`` and exits
with status 2 before anything is written; a diverging run prints the step, time and
likely cause and exits with status 1, keeping its last good checkpoint.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import bench as _bench
from . import sweep_cli as _sweep_cli
from .config import Config, ConfigError
from .simulate import Divergence

EXIT_USAGE, EXIT_DIVERGED = 2, 1


class UsageError(Exception):
    """Bad command-line input: reported on one line with exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    handler: Callable[[argparse.Namespace, list], int]
    extra: bool = False  # accepts --key value overrides after the known flags


COMMANDS: dict[str, Command] = {}


def register(name: str, help: str, configure, handler, extra: bool = False) -> None:
    """Add a subcommand: ``configure(parser)`` adds its arguments, ``handler(args, extra)``
    runs it and returns the exit status."""
    COMMANDS[name] = Command(name, help, configure, handler, extra)


def parse_overrides(extra: list[str]) -> dict[str, str]:
    """``--a.b value`` / ``--a.b=value`` pairs to {"a.b": "value"}."""
    pairs, i = {}, 0
    while i < len(extra):
        token = extra[i]
        if not token.startswith("--") or len(token) == 2:
            raise UsageError(f"unexpected argument {token!r} (overrides look like --key value)")
        key, eq, value = token[2:].partition("=")
        if not eq:
            if i + 1 >= len(extra):
                raise UsageError(f"--{key}: missing value")
            value, i = extra[i + 1], i + 1
        pairs[key] = value
        i += 1
    return pairs


# -- run ---------------------------------------------------------------------------------
def _configure_run(p):
    p.add_argument("config", nargs="?", help="TOML (or JSON) config; defaults otherwise")
    p.add_argument("--out", help="run directory (default runs/<date-time>)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (default: only on a terminal)")
    p.epilog = ("Any config field can be overridden with a dotted key, e.g. "
                "--student.m 64 --integrator.dt 0.005 --objective.kind online.")


def _run(args, extra) -> int:
    from .runs import build, run

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
    from .runs import resume

    _summary(resume(args.run_dir, progress=args.progress))
    return 0


def _configure_plot(p):
    _configure_dir(p)
    p.add_argument("--out", help="figure directory (default RUN_DIR/figures)")
    p.add_argument("--gif", action="store_true", help="also write an animated GIF")
    _sweep_cli.add_plot_options(p)


def _plot(args, extra) -> int:
    from .collect import is_sweep
    from .plotting import plot_run
    from .runs import load

    if is_sweep(args.run_dir):
        return _sweep_cli.plot_handler(args)
    for path in plot_run(load(args.run_dir), args.out, gif=args.gif):
        print(path)
    return 0


def _show(args, extra) -> int:
    from . import store

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


# -- demo --------------------------------------------------------------------------------
def _configure_demo(p):
    p.add_argument("--out", default="demo", help="output directory (default ./demo)")
    p.add_argument("--backend", default="numpy", choices=("numpy", "numba", "auto"))
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)


def _demo(args, extra) -> int:
    from .demo import run_demo

    began = time.monotonic()
    for path in run_demo(args.out, backend=args.backend, progress=args.progress):
        print(path)
    print(f"demo finished in {time.monotonic() - began:.1f} s")
    return 0


register("run", "run a simulation from a config (and --key value overrides)",
         _configure_run, _run, extra=True)
register("resume", "continue an interrupted run from its last checkpoint",
         _configure_resume, _resume)
register("plot", "write a run's figures (loss curves, neuron trajectories)",
         _configure_plot, _plot)
register("show", "print a run's summary table", _configure_dir, _show)
register("demo", "the Chizat-Oyallon-Bach 2-D illustration, active vs lazy",
         _configure_demo, _demo)
register("bench", _bench.HELP, _bench.configure, _bench.handler)
register("sweep", _sweep_cli.SWEEP_HELP, _sweep_cli.configure_sweep,
         _sweep_cli.sweep_handler, extra=True)
register("collect", _sweep_cli.COLLECT_HELP, _sweep_cli.configure_collect,
         _sweep_cli.collect_handler)


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    """The top-level parser and the subcommand parsers by name."""
    parser = _Parser(prog="meanfield", description="Two-layer networks as interacting "
                     "particles: mean-field and lazy training simulations.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parsers = {}
    for cmd in COMMANDS.values():
        parsers[cmd.name] = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        cmd.configure(parsers[cmd.name])
    return parser, parsers


def split_overrides(argv: list[str], subparser) -> tuple[list[str], list[str]]:
    """Separate ``--key value`` overrides (flags the subcommand does not define) from the
    arguments argparse should see; returns (known, overrides)."""
    known, extra, i = [], [], 0
    while i < len(argv):
        token = argv[i]
        flag = token.split("=", 1)[0]
        if token.startswith("--") and len(token) > 2 \
                and flag not in subparser._option_string_actions:
            extra.append(token)
            if "=" not in token and i + 1 < len(argv):
                extra.append(argv[i + 1])
                i += 1
        else:
            known.append(token)
        i += 1
    return known, extra


def main(argv=None) -> int:
    """Entry point of the ``meanfield`` console script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        parser, parsers = build_parser()
        extra = []
        if argv and argv[0] in COMMANDS and COMMANDS[argv[0]].extra:
            known, extra = split_overrides(argv[1:], parsers[argv[0]])
            argv = [argv[0], *known]
        args = parser.parse_args(argv)
        return COMMANDS[args.command].handler(args, extra)
    except (UsageError, ConfigError) as err:
        message = (str(err).splitlines() or [type(err).__name__])[0]
        print(f"meanfield: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except Divergence as err:
        print(f"meanfield: {err}", file=sys.stderr)
        if getattr(err, "run_dir", None):
            print(f"meanfield: last good checkpoint kept in {err.run_dir}", file=sys.stderr)
        return EXIT_DIVERGED
    except KeyboardInterrupt:
        print("meanfield: interrupted", file=sys.stderr)
        return 130
