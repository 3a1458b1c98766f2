"""``meanfield bench``: every benchmark group behind one command and one table.

:data:`GROUPS` is the one list of the groups (name -> :class:`Group`); ``meanfield bench``
runs the default ones in this order, ``--only NAME[,NAME...]`` the named ones. Each group is
a function of its own module returning rows {bench, backend, time, reference, result,
target}, printed by :func:`benchmarks.bench.markdown` under the machine label.
``--quick`` is a smoke test of every group (small sizes, seconds each).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Group:
    """A benchmark group: what it times, its line numbers, its rough wall time at full
    size on 2 cores, whether the default run includes it, and ``run(backends, repeat,
    quick, log) -> rows``."""

    description: str
    lines: str
    duration: str
    default: bool
    run: Callable


def _backends(backends, repeat, quick, log):
    from . import bench

    return bench.run(backends, repeat=repeat, quick=quick, log=log)


def _small(backends, repeat, quick, log):
    from . import bench

    return bench.run_small(repeat=repeat, quick=quick, log=log)


def _mixed(backends, repeat, quick, log):
    from . import bench

    return bench.run_mixed(repeat=repeat, quick=quick, log=log)


def _spectral(backends, repeat, quick, log):
    from . import spectral as bench_spectral

    sizes = {"M": 10**5, "M_numba": 5000} if quick else {}
    return bench_spectral.run(repeat=min(repeat, 3), log=log, **sizes)


@contextlib.contextmanager
def one_thread():
    """One Numba thread and one BLAS thread (through threadpoolctl, when it is installed)
    inside the block. Small dense linear algebra (220 x 220 SVDs and solves in refine,
    Radau's Jacobians) is many times slower with two BLAS threads on a loaded machine
    (a refine took 13 s instead of 0.5 s at load average 5 on 2 cores)."""
    from numba import get_num_threads, set_num_threads

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        blas = contextlib.nullcontext()
    else:
        blas = threadpool_limits(limits=1)
    n = get_num_threads()
    set_num_threads(1)
    try:
        with blas:
            yield
    finally:
        set_num_threads(n)


def _single_threaded(rows):
    for row in rows:
        row["backend"] += ", 1 thread"
    return rows


def _hessian(backends, repeat, quick, log):
    from . import hessian as bench_hessian

    with one_thread():
        return _single_threaded(bench_hessian.run(repeat=repeat, quick=quick, log=log))


def _ode(backends, repeat, quick, log):
    from . import ode as bench_ode

    with one_thread():
        return _single_threaded(bench_ode.run(quick=quick, log=log))


GROUPS: dict[str, Group] = {
    "backends": Group("population and empirical velocities of each --backends against BLAS "
                      "and PyTorch, peak memory, time against m", "lines 1-5",
                      "~1 min on numba,numpy (KeOps on a CPU adds ~8 min)", True,
                      _backends),
    "small": Group("many small runs: per-step overhead, ensembles against serial runs, tiny "
                   "velocities", "lines 6a-6e", "a few min", True, _small),
    "mixed": Group("ReLU student x tanh teacher pair velocity against the closed form",
                   "line 7", "~30 s", True, _mixed),
    "spectral": Group("2-D spectral velocity at M = 10^6 against Numba, and its accuracy",
                      "line 8", "~15 s", True, _spectral),
    "hessian": Group("exact Hessians and Hessian-vector products, refine, classify, on one "
                     "thread", "line 9", "~30 s", True, _hessian),
    "ode": Group("time to R/R0 < 1e-10 per integrator (d = 10, m = 20), one run per method, "
                 "on one thread", "line 10", "~20 s", True, _ode),
}

HELP = "time the backends, ensembles, kernels, Hessians and integrators; print a Markdown table"


def _epilog() -> str:
    lines = ["groups (* = run by default; rough wall time at full size on 2 idle cores, "
             + "from docs/performance.md):"]
    for name, g in GROUPS.items():
        lines += textwrap.wrap(f"{name + (' *' if g.default else ''):<10} {g.lines}, "
                               f"{g.duration}: {g.description}", 88,
                               initial_indent="  ", subsequent_indent=" " * 13)
    lines.append("--quick runs any group in seconds (a smoke test).")
    return "\n".join(lines)


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``bench`` arguments to ``parser`` (used by ``meanfield bench``)."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _epilog()
    parser.add_argument("--backends", default="numba,keops,numpy",
                        help="comma-separated backends of group backends (default: "
                             "%(default)s)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="runs per median (default 5; groups mixed and spectral take at "
                             "most 3, ode one run per method)")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes: a smoke test of seconds per group")
    parser.add_argument("--machine", default=None,
                        help="machine label above the table (default: cores, GPU, load)")
    parser.add_argument("--only", default=None, metavar="GROUP[,GROUP...]",
                        help=f"run only these groups, of {', '.join(GROUPS)} (default: the "
                             f"groups marked * below)")


def blas_note() -> str:
    """The BLAS library and kernels NumPy uses (threadpoolctl), and OPENBLAS_CORETYPE when
    the environment forces OpenBLAS's kernels: the machines here set it to Haswell (AVX2),
    where OpenBLAS's own choice on their AVX-512 CPUs (SkylakeX kernels) ran the COB-size
    products 1.6x faster (docs/performance.md)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "BLAS: unknown"
    libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if not libs:
        return "BLAS: unknown"
    # NumPy's own (SciPy may bring a second OpenBLAS, listed first when loaded first)
    lib = next((i for i in libs if "numpy" in str(i.get("filepath", ""))), libs[0])
    note = (f"BLAS: {lib.get('internal_api')} {lib.get('version')} "
            f"({lib.get('architecture') or '?'} kernels")
    forced = os.environ.get("OPENBLAS_CORETYPE")
    if forced and lib.get("internal_api") == "openblas":
        note += f", forced by OPENBLAS_CORETYPE={forced}"
    return note + ")"


def _error(message: str) -> int:
    print(f"meanfield: error: {message}", file=sys.stderr)
    return 2


def handler(args: argparse.Namespace, extra=()) -> int:
    """Run the groups for parsed ``args``; one-line error and status 2 on bad input."""
    from meanfield.backends import cuda_available, get_backend
    from .bench import markdown

    if args.only is None:
        names = [name for name, g in GROUPS.items() if g.default]
    else:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in GROUPS]
        if unknown or not names:
            given = ", ".join(map(repr, unknown or [args.only]))
            return _error(f"--only: unknown group {given}; choose from {', '.join(GROUPS)}")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if "backends" in names:
        for b in backends:
            try:
                get_backend(b)
            except (ValueError, ImportError) as exc:
                return _error(f"backend {b!r} unavailable: {exc}")
    if args.repeat < 1 or not backends:
        return _error("need --repeat >= 1 and at least one backend")
    gpu = "GPU" if cuda_available() else "no GPU"
    load = os.getloadavg()[0]
    def log(line):
        print(line, file=sys.stderr, flush=True)

    rows = []
    for name in names:
        rows += GROUPS[name].run(backends, args.repeat, args.quick, log)
    machine = args.machine or (f"{os.cpu_count()} cores, {gpu} (load average {load:.1f} at "
                               f"start, {os.getloadavg()[0]:.1f} at end); {blas_note()}")
    command = " ".join(["meanfield bench"] + (["--only", args.only] if args.only else [])
                       + (["--backends", args.backends] if "backends" in names else [])
                       + (["--quick"] if args.quick else []))
    print(markdown(rows, machine, command))
    return 0


def main(argv=None) -> int:
    """``python -m benchmarks [args]`` (from the checkout): the same as ``meanfield bench
    [args]``."""
    parser = argparse.ArgumentParser(prog="meanfield bench", description=HELP)
    configure(parser)
    return handler(parser.parse_args(argv))
