"""The ``meanfield`` command: run, resume, plot, show, demo, bench, sweep, collect.

Subcommands live in a registry (:func:`register`), so another module adds one with a
single call. Bad input (config, flags) prints one line ``meanfield: error: ...`` and exits
with status 2 before anything is written; a diverging run prints the step, time and
likely cause and exits with status 1, keeping its last good checkpoint.
"""
from __future__ import annotations

import argparse
import sys

from ..runs.config import ConfigError
from ..trajectory import Divergence
from . import experiments, runs, sweeps
from .common import EXIT_DIVERGED, EXIT_USAGE, Command, Parser, UsageError

COMMANDS: dict[str, Command] = {}


def register(name: str, help: str, configure, handler, extra: bool = False) -> None:
    """Add a subcommand: ``configure(parser)`` adds its arguments, ``handler(args, extra)``
    runs it and returns the exit status."""
    COMMANDS[name] = Command(name, help, configure, handler, extra)


for _module in (runs, experiments, sweeps):
    for _command in _module.COMMANDS:
        COMMANDS[_command.name] = _command


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    """The top-level parser and the subcommand parsers by name."""
    parser = Parser(prog="meanfield", description="Two-layer networks as interacting "
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
