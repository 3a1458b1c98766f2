"""``meanfield demo`` and ``meanfield bench``: the package's own experiments."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .. import backends
from .common import Command, UsageError

#: the source checkout this package was installed from (benchmarks/ lives beside the package)
CHECKOUT = Path(__file__).resolve().parents[2]


def _configure_demo(p):
    p.add_argument("--out", default="demo", help="output directory (default ./demo; "
                                                 "printed before the runs start)")
    p.add_argument("--backend", default="auto", choices=backends.names(),
                   help="backend of the two runs (default auto: at m = 16, d = 2 the "
                        "Numba lanes kernels, 10^5 Euler steps in a few compiled calls)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)


def _demo(args, extra) -> int:
    from ..experiments.demo import run_demo

    began = time.monotonic()
    print(f"demo directory: {Path(args.out).resolve()}", flush=True)
    for path in run_demo(args.out, backend=args.backend, progress=args.progress):
        print(path)
    print(f"demo finished in {time.monotonic() - began:.1f} s")
    return 0


def _bench_groups():
    """The benchmark groups of the source checkout (``benchmarks/``, outside the wheel), or
    None where the package was installed without one."""
    if not (CHECKOUT / "benchmarks" / "groups.py").is_file():
        return None
    if str(CHECKOUT) not in sys.path:
        sys.path.append(str(CHECKOUT))
    from benchmarks import groups

    return groups


def _configure_bench(p):
    groups = _bench_groups()
    if groups is not None:
        groups.configure(p)


def _bench(args, extra) -> int:
    groups = _bench_groups()
    if groups is None:
        raise UsageError("meanfield bench runs from a source checkout (pip install -e .): "
                         f"no benchmarks/ folder beside {CHECKOUT / 'meanfield'}")
    return groups.handler(args, extra)


COMMANDS = [
    Command("demo", "the Chizat-Oyallon-Bach 2-D illustration, active vs lazy",
            _configure_demo, _demo, steps=True),
    Command("bench", "time every benchmark group (backends, ensembles, kernels, Hessians, "
            "integrators) against limits measured in the same run",
            _configure_bench, _bench, steps=True),
]
