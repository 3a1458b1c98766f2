"""The ``meanfield`` command: run, resume, plot, show, demo, bench, sweep, collect.

Subcommands live in a registry (:func:`register`), so another module adds one with a
single call. Every failure is one line on stderr, never a traceback
(``MEANFIELD_DEBUG=1`` adds it):

* bad input (config, flags, paths, a directory another process is writing, a run whose
  config changed): ``meanfield: error: ...``, status 2, nothing written;
* a damaged run (a file that is missing, truncated or altered, named), a diverged run
  (step, time and likely cause; its last good checkpoint kept) or a failed one: status 1;
* SIGINT or SIGTERM during a run: a checkpoint, then ``interrupted at t=...; continue
  with: meanfield resume DIR``, status 130 or 143.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback

from ..core.allocator import keep_freed_memory
from ..runs.config import ConfigError
from ..runs.store import Busy, DamagedRun
from ..dynamics.trajectory import Divergence
from . import experiments, runs, sweeps
from .common import EXIT_DAMAGED, EXIT_DIVERGED, EXIT_USAGE, Command, Parser, UsageError

COMMANDS: dict[str, Command] = {}


def register(name: str, help: str, configure, handler, extra: bool = False,
             steps: bool = False) -> None:
    """Add a subcommand: ``configure(parser)`` adds its arguments, ``handler(args, extra)``
    runs it and returns the exit status; ``steps`` when it runs simulations (the process
    then keeps freed memory, :mod:`meanfield.core.allocator`)."""
    COMMANDS[name] = Command(name, help, configure, handler, extra, steps)


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


def _line(err: BaseException) -> str:
    return (str(err).splitlines() or [type(err).__name__])[0]


def _fail(message: str, status: int) -> int:
    print(f"meanfield: {message}", file=sys.stderr, flush=True)
    if os.environ.get("MEANFIELD_DEBUG"):
        traceback.print_exc()
    return status


def main(argv=None) -> int:
    """Entry point of the ``meanfield`` console script; returns the exit status."""
    from ..runs.run import Interrupted, RunFailed

    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        parser, parsers = build_parser()
        extra: list[str] = []
        if argv and argv[0] in COMMANDS and COMMANDS[argv[0]].extra:
            known, extra = split_overrides(argv[1:], parsers[argv[0]])
            argv = [argv[0], *known]
        args = parser.parse_args(argv)
        if COMMANDS[args.command].steps:
            keep_freed_memory()  # the command owns its process (meanfield.core.allocator)
        return COMMANDS[args.command].handler(args, extra)
    except (UsageError, ConfigError, Busy) as err:
        return _fail(f"error: {_line(err)}", EXIT_USAGE)
    except DamagedRun as err:
        return _fail(f"error: {_line(err)}", EXIT_DAMAGED)
    except Divergence as err:
        where = getattr(err, "run_dir", None)
        kept = f"; last good checkpoint kept in {where}" if where else ""
        return _fail(f"error: {_line(err)}{kept}", EXIT_DIVERGED)
    except RunFailed as err:
        return _fail(f"error: {_line(err)}", EXIT_DAMAGED)
    except Interrupted as err:
        return _fail(_line(err), err.exit_status)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except MemoryError:
        return _fail("error: out of memory (the estimate made before the run was too low: "
                     "try a smaller student.m or record.n)", 1)
    except ImportError as err:  # an optional dependency: the message names its extra
        return _fail(f"error: {_line(err)}", 1)
    except OSError as err:
        what = f"{err.filename}: {err.strerror}" if err.filename else _line(err)
        return _fail(f"error: {what}", 1)
    except Exception as err:  # a bug: one line, the traceback with MEANFIELD_DEBUG=1
        return _fail(f"error: internal error ({type(err).__name__}: {_line(err)}); set "
                     f"MEANFIELD_DEBUG=1 for the traceback", 1)
