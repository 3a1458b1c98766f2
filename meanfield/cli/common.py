"""What every subcommand shares: its description, bad-input errors, --key value overrides.

Bad input (config, flags, paths) is reported on one line ``meanfield: error: ...`` with
exit status 2 before anything is written; a damaged, diverged or failed run with exit
status 1; an interrupted one with 128 + the signal number.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable

EXIT_USAGE, EXIT_DIVERGED, EXIT_DAMAGED = 2, 1, 1


class UsageError(Exception):
    """Bad command-line input: reported on one line with exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    handler: Callable[[argparse.Namespace, list], int]
    extra: bool = False  # accepts --key value overrides after the known flags
    #: runs simulations: the process keeps freed memory for the steps' large arrays
    #: (:func:`meanfield.core.allocator.keep_freed_memory`, applied before the handler)
    steps: bool = False


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
