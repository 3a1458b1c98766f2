"""``meanfield demo`` and ``meanfield bench``: the package's own experiments."""
from __future__ import annotations

import argparse
import time

from .. import backends
from .common import Command


def _configure_demo(p):
    p.add_argument("--out", default="demo", help="output directory (default ./demo)")
    p.add_argument("--backend", default="numpy", choices=backends.names(),
                   help="backend of the two runs (default numpy: fastest at m = 16)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)


def _demo(args, extra) -> int:
    from ..experiments.demo import run_demo

    began = time.monotonic()
    for path in run_demo(args.out, backend=args.backend, progress=args.progress):
        print(path)
    print(f"demo finished in {time.monotonic() - began:.1f} s")
    return 0


def _configure_bench(p):
    from ..experiments import bench_groups

    bench_groups.configure(p)


def _bench(args, extra) -> int:
    from ..experiments import bench_groups

    return bench_groups.handler(args, extra)


COMMANDS = [
    Command("demo", "the Chizat-Oyallon-Bach 2-D illustration, active vs lazy",
            _configure_demo, _demo),
    Command("bench", "time every benchmark group (backends, ensembles, kernels, Hessians, "
            "integrators) against limits measured in the same run",
            _configure_bench, _bench),
]
