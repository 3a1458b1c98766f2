"""The ``meanfield`` command: run, resume, plot, show, demo, bench, sweep, collect.

Subcommands live in a registry (:func:`register`), so another module adds one with a
single call. Every failure is one line on stderr, never a traceback
(``MEANFIELD_DEBUG=1`` adds it):

* bad input (config, flags, paths, a directory another process is writing, a run whose
  config changed): ``meanfield: error: ...``, status 2, nothing written;
* a damaged run (a file that is missing, truncated or altered, named), a diverged run
  (step, time and likely cause; its last good checkpoint kept) or a failed one: status 1;
* SIGINT or SIGTERM during a run: a checkpoint, then ``interrupted at t=...; continue
  with: meanfield resume DIR``, status 130 or 143; at any other moment (start-up, a
  second SIGINT, shutdown) at most one line and never a traceback;
* a closed output pipe (``meanfield show RUN | head -2``): no message, status 141.

Nothing heavy is imported before :func:`main` runs (the command modules load inside it),
so that a SIGINT during start-up is caught like any other.
"""
from __future__ import annotations

import os
import signal
import sys

#: exit status of a command whose output pipe was closed (128 + SIGPIPE), as a shell's
EXIT_PIPE = 141
#: the subcommands by name (:class:`meanfield.cli.common.Command`)
COMMANDS: dict = {}


def register(name: str, help: str, configure, handler, extra: bool = False,
             steps: bool = False) -> None:
    """Add a subcommand: ``configure(parser)`` adds its arguments, ``handler(args, extra)``
    runs it and returns the exit status; ``steps`` when it runs simulations (the process
    then keeps freed memory, :mod:`meanfield.core.allocator`)."""
    from .common import Command

    COMMANDS[name] = Command(name, help, configure, handler, extra, steps)


def _load_commands() -> None:
    """Register the subcommands of the command modules (imported here, not at start-up)."""
    from . import experiments, runs, sweeps

    for module in (runs, experiments, sweeps):
        for command in module.COMMANDS:
            COMMANDS.setdefault(command.name, command)


def build_parser() -> tuple:
    """The top-level parser (an argparse.ArgumentParser) and the subcommand parsers by
    name."""
    from .common import Parser

    _load_commands()
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


def _line(err: BaseException, whole: bool = False) -> str:
    """The error's message on one line: its first line, or (``whole``: a message meant
    to be one line, whose line breaks can only come from a path) all of it with line
    breaks escaped."""
    text = str(err)
    if whole and text:
        return text.replace("\r", "\\r").replace("\n", "\\n")
    return (text.splitlines() or [type(err).__name__])[0]


def _fail(message: str, status: int) -> int:
    print(f"meanfield: {message}", file=sys.stderr, flush=True)
    if os.environ.get("MEANFIELD_DEBUG"):
        import traceback

        traceback.print_exc()
    return status


def _console_streams() -> None:
    """Let stdout print any path the OS accepts: a name that is not valid UTF-8 (read by
    Python with surrogate escapes) is written back as its original bytes."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                utf8 = (stream.encoding or "").lower().replace("-", "") == "utf8"
                reconfigure(errors="surrogateescape" if utf8 else "backslashreplace")
            except (ValueError, OSError):
                pass


def _quiet_pipe() -> int:
    """The reader of stdout went away: point stdout at /dev/null (so that the flush at
    exit cannot complain) and end with status 141, without a message."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    return EXIT_PIPE


def _shutdown(status: int) -> int:
    """Flush stdout, then ignore SIGINT: the command's outcome is known, and a Ctrl-C
    during the interpreter's shutdown (exit handlers) would only print a traceback.
    SIGTERM still ends the process at once, silently."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        status = _quiet_pipe()
    except (OSError, ValueError):
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    return status


def main(argv=None) -> int:
    """Entry point of the ``meanfield`` console script; returns the exit status. Called
    without ``argv`` (the console script), it also makes stdout accept any path and ends
    quietly on a closed pipe or a signal during shutdown."""
    console = argv is None
    if console:
        _console_streams()
    try:
        status = _main(sys.argv[1:] if argv is None else list(argv))
    except KeyboardInterrupt as err:  # before or after the run's own handlers
        if console:  # a further SIGINT cannot cut the one line short
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        status = _interrupted(err)
    return _shutdown(status) if console else status


def _interrupted(err: KeyboardInterrupt) -> int:
    status = getattr(err, "exit_status", None)
    if status is None:  # SIGINT outside a run (start-up, a second SIGINT, shutdown)
        return _fail("interrupted", 130)
    return _fail(_line(err, whole=True), status)


def _main(argv: list[str]) -> int:
    try:
        return _dispatch(argv)
    except KeyboardInterrupt:
        raise
    except BrokenPipeError:
        return _quiet_pipe()
    except Exception as err:
        return _report(err)


def _dispatch(argv: list[str]) -> int:
    parser, parsers = build_parser()
    extra: list[str] = []
    if argv and argv[0] in COMMANDS and COMMANDS[argv[0]].extra:
        known, extra = split_overrides(argv[1:], parsers[argv[0]])
        argv = [argv[0], *known]
    args = parser.parse_args(argv)
    if COMMANDS[args.command].steps:
        from ..core.allocator import keep_freed_memory

        keep_freed_memory()  # the command owns its process (meanfield.core.allocator)
    return COMMANDS[args.command].handler(args, extra)


def _report(err: Exception) -> int:
    """The one line and exit status of an error (module doc)."""
    from ..dynamics.trajectory import Divergence
    from ..runs.config import ConfigError
    from ..runs.run import RunFailed
    from ..runs.store import Busy, DamagedRun
    from .common import EXIT_DAMAGED, EXIT_DIVERGED, EXIT_USAGE, UsageError

    if isinstance(err, (UsageError, ConfigError, Busy)):
        return _fail(f"error: {_line(err, whole=True)}", EXIT_USAGE)
    if isinstance(err, (DamagedRun, RunFailed)):
        return _fail(f"error: {_line(err, whole=True)}", EXIT_DAMAGED)
    if isinstance(err, Divergence):
        where = getattr(err, "run_dir", None)
        kept = f"; last good checkpoint kept in {where}" if where else ""
        return _fail(f"error: {_line(err)}{kept}", EXIT_DIVERGED)
    if isinstance(err, MemoryError):
        return _fail("error: out of memory (the estimate made before the run was too low: "
                     "try a smaller student.m or record.n)", 1)
    if isinstance(err, ImportError):  # an optional dependency: the message names its extra
        return _fail(f"error: {_line(err)}", 1)
    if isinstance(err, OSError):
        what = f"{err.filename!s}: {err.strerror}".replace("\n", "\\n") \
            if err.filename else _line(err)
        return _fail(f"error: {what}", 1)
    # a bug: one line, the traceback with MEANFIELD_DEBUG=1
    return _fail(f"error: internal error ({type(err).__name__}: {_line(err)}); set "
                 f"MEANFIELD_DEBUG=1 for the traceback", 1)
