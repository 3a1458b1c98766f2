"""Benchmark of the spectral backend (theory §11) against the O(m^2) Numba pair reduction.

One population velocity of a 2-D ReLU student without bias (Gaussian inputs, 5 teacher
neurons), float64:

* spectral at M = 10^6 (the target is <= 0.5 s on 2 cores), median of ``repeat`` runs;
* Numba at M_numba = 2 x 10^4 (median of ``repeat``), extrapolated to M as
  t (M (M + 5)) / (M_numba (M_numba + 5)), the pair count;
* the spectral velocity's largest error relative to the NumPy reference at m = 1000.

Both backends run once untimed first (compilation, FFTW set-up). ``python -m
meanfield.bench_spectral [--quick]`` prints a Markdown table.
"""
from __future__ import annotations

import argparse
import os

import numpy as np

from ..backends import spectral
from .bench import _median_time, _population, population_time
from ..circle_kernel import modes_for_tolerance


def accuracy(m: int = 1000, tol: float = spectral.TOLERANCE) -> float:
    """max |v_spectral - v_numpy| / max |v_numpy| for one population velocity at m."""
    pop, net = _population(m, 2, "numpy")
    fast = type(pop)(pop.teacher, backend=spectral.Spectral(tol))
    ref = pop.velocity(net)
    return float(np.max(np.abs(fast.velocity(net) - ref)) / np.max(np.abs(ref)))


def run(M: int = 10**6, M_numba: int = 20_000, repeat: int = 3,
        tol: float = spectral.TOLERANCE) -> list[dict]:
    """Rows {"bench", "backend", "time", "note"} of the table (module docstring)."""
    rows = []
    pop, net = _population(M, 2, "numpy")
    fast = type(pop)(pop.teacher, backend=spectral.Spectral(tol))
    fast.velocity(net)
    t_fast = _median_time(lambda: fast.velocity(net), repeat)
    L = modes_for_tolerance(tol)
    rows.append({"bench": f"velocity d=2 M={M}", "backend": "spectral", "time": t_fast,
                 "note": f"tol {tol:g}, L = {L} modes; target <= 0.5 s"})
    t_numba = population_time(M_numba, 2, "numba", repeat)
    scale = M * (M + 5) / (M_numba * (M_numba + 5))
    rows.append({"bench": f"velocity d=2 M={M_numba}", "backend": "numba", "time": t_numba,
                 "note": "measured"})
    rows.append({"bench": f"velocity d=2 M={M}", "backend": "numba", "time": t_numba * scale,
                 "note": f"extrapolated x {scale:.4g} (pairs); spectral is "
                         f"{t_numba * scale / t_fast:.3g} x faster"})
    rows.append({"bench": "accuracy d=2 m=1000", "backend": "spectral", "time": float("nan"),
                 "note": f"max error / max |v| vs numpy = {accuracy(1000, tol):.2g}"})
    return rows


def markdown(rows) -> str:
    """The rows as a Markdown table."""
    lines = ["| benchmark | backend | median time (s) | note |", "|---|---|---|---|"]
    lines += [f"| {r['bench']} | {r['backend']} | {r['time']:.4g} | {r['note']} |"
              for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    """Print the table; ``--quick`` uses M = 10^5 and M_numba = 5000."""
    parser = argparse.ArgumentParser(prog="python -m meanfield.experiments.bench_spectral",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per median")
    parser.add_argument("--tol", type=float, default=spectral.TOLERANCE)
    args = parser.parse_args(argv)
    sizes = {"M": 10**5, "M_numba": 5000} if args.quick else {}
    rows = run(repeat=args.repeat, tol=args.tol, **sizes)
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
