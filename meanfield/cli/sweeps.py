"""Command-line glue for sweeps: ``meanfield sweep``, ``meanfield collect``, and the
options ``meanfield plot`` takes when given a sweep directory.

``meanfield sweep`` exits with 0 when every cell finished, 1 when some cell diverged or
failed (one line each on stderr: cell id, axis values, error, config path) or a file of
the sweep is damaged, 2 on bad input (one line, nothing written: also for an
unreachable ``--scheduler`` or an ``--out`` that is not a sweep directory).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import Command, parse_overrides

SWEEP_HELP = "run a parameter sweep (SWEEP.toml: [base] and [grid]) on Dask"
COLLECT_HELP = ("gather a sweep's cells into results.csv and series.csv (and, with "
                "--distances, the m -> infinity distances into distances.csv)")


def configure_sweep(p) -> None:
    """Arguments of ``meanfield sweep``."""
    p.add_argument("sweep_file", help="SWEEP.toml with [base] (or base = \"config.toml\") "
                                      "and [grid]")
    p.add_argument("--out", help="sweep directory (default ./sweeps/<sweep file name>; "
                                 "printed before the cells start)")
    p.add_argument("--scheduler", help="an existing Dask scheduler, tcp://HOST:PORT "
                                       "(default: start a local cluster on 127.0.0.1)")
    p.add_argument("--workers", type=int, help="local worker processes (default: one "
                                               "per core)")
    p.add_argument("--dashboard", nargs="?", const="127.0.0.1:8787", metavar="HOST:PORT",
                   help="serve the local cluster's Dask dashboard (default address "
                        "127.0.0.1:8787); without it there is none")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar counting finished cells (default: only on a terminal)")
    p.add_argument("--no-batch", dest="batch", action="store_false",
                   help="one cell per task (default: compatible cells run as one ensemble)")
    p.epilog = ("Base config fields can be overridden with dotted keys, e.g. "
                "--t_end 5 --backend numba. Rerunning skips finished cells and resumes "
                "interrupted ones.")


def sweep_handler(args, extra) -> int:
    """Run the sweep; 0 if every cell finished, 1 otherwise."""
    from ..runs.grid import load_sweep
    from ..runs.store import RESULTS
    from ..runs.sweep import sweep

    base, grid = load_sweep(args.sweep_file)
    base = base.override(parse_overrides(extra))
    out = Path(args.out or Path("sweeps") / Path(args.sweep_file).stem)
    print(f"sweep directory: {out.resolve()}", flush=True)
    report = sweep(base, grid, out, scheduler=args.scheduler, workers=args.workers,
                   progress=args.progress, dashboard=args.dashboard, batch=args.batch)
    for line in report.failure_lines():
        print(f"meanfield: {line}", file=sys.stderr)
    finished = len(report.cells) - len(report.failures)
    print(f"{out}: {finished}/{len(report.cells)} cells finished; table {out / RESULTS}")
    return 0 if report.ok else 1


def configure_collect(p) -> None:
    """Arguments of ``meanfield collect``."""
    p.add_argument("sweep_dir", help="a directory written by `meanfield sweep`")
    p.add_argument("--distances", nargs="?", const="student.m", metavar="AXIS",
                   help="also write distances.csv: each finished cell's final particle "
                        "cloud against its group's widest cell along AXIS (default "
                        "student.m), with the same-distribution baseline")
    p.add_argument("--distance", default="w2",
                   help="with --distances: a distance of meanfield.analysis.distances "
                        "(exact w2, the default; sliced; sinkhorn)")


def collect_handler(args, extra) -> int:
    """Write results.csv and series.csv (and distances.csv) and print the cell count by
    status."""
    from ..runs.collect import collect
    from ..runs.limit_distances import check_request, sweep_distances
    from ..runs.store import DISTANCES, RESULTS, SERIES

    if args.distances:  # bad input is reported before anything is written
        check_request(args.sweep_dir, args.distances, args.distance)
    table = collect(args.sweep_dir)
    counts = ", ".join(f"{n} {s}" for s, n in table["status"].value_counts().items())
    print(f"{Path(args.sweep_dir) / RESULTS}: {len(table)} cells ({counts})")
    print(Path(args.sweep_dir) / SERIES)
    if args.distances:
        found = sweep_distances(args.sweep_dir, axis=args.distances, distance=args.distance)
        print(f"{Path(args.sweep_dir) / DISTANCES}: {len(found)} cells against the widest "
              f"of their group along {args.distances}")
    return 0


def add_plot_options(p) -> None:
    """Options of ``meanfield plot`` that apply to sweep directories."""
    p.add_argument("--metric", default="final_risk",
                   help="sweeps: column of results.csv to plot (default final_risk)")
    p.add_argument("--x", help="sweeps: axis to plot against (default: each axis)")
    p.add_argument("--y", help="sweeps: second axis, for a heat map over --x and --y")
    p.add_argument("--success", metavar="CONDITION",
                   help="sweeps: also plot the fraction of seeds meeting CONDITION, a "
                        "column of results.csv, <, <=, > or >= and a number, e.g. "
                        "\"R/R0<1e-4\" (R/R0: relative_risk; R: final_risk)")


def plot_handler(args) -> int:
    """``meanfield plot SWEEP_DIR``: write the sweep's figures and print their paths."""
    from ..plots.sweeps import plot_sweep

    for path in plot_sweep(args.run_dir, args.out, metric=args.metric, x=args.x, y=args.y,
                           success=args.success):
        print(path)
    return 0


COMMANDS = [
    Command("sweep", SWEEP_HELP, configure_sweep, sweep_handler, extra=True, steps=True),
    Command("collect", COLLECT_HELP, configure_collect, collect_handler),
]
