"""Benchmark of the spectral backend (theory §11) against the O(m^2) Numba pair reduction.

One population velocity of a 2-D ReLU student without bias (Gaussian inputs, 5 teacher
neurons), float64:

* spectral at M = 10^6 (the target is <= 0.5 s on 2 cores), median of ``repeat`` runs;
* Numba at M_numba = 2 x 10^4 (median of ``repeat``), extrapolated to M as
  t (M (M + 5)) / (M_numba (M_numba + 5)), the pair count;
* the spectral velocity's largest error relative to the NumPy reference at m = 1000.

Both backends run once untimed first (compilation, FFTW set-up). Group "spectral"
(line 8) of ``meanfield bench``: ``meanfield bench --only spectral [--quick]`` prints the
table (``--quick``: M = 10^5, M_numba = 5000).
"""
from __future__ import annotations

import numpy as np

from meanfield.backends import spectral
from meanfield.kernels.circle import modes_for_tolerance
from .bench import _median_time, _population, population_time, row_adder


def accuracy(m: int = 1000, tol: float = spectral.TOLERANCE) -> float:
    """max |v_spectral - v_numpy| / max |v_numpy| for one population velocity at m (the
    accuracy line of the table; call it with another ``tol`` to see that tolerance's)."""
    pop, net = _population(m, 2, "numpy")
    fast = type(pop)(pop.teacher, backend=spectral.Spectral(tol))
    ref = pop.velocity(net)
    return float(np.max(np.abs(fast.velocity(net) - ref)) / np.max(np.abs(ref)))


def run(M: int = 10**6, M_numba: int = 20_000, repeat: int = 3,
        tol: float = spectral.TOLERANCE, log=print) -> list[dict]:
    """The rows of group "spectral" (module docstring), in the format of
    :func:`benchmarks.bench.run`."""
    rows = []
    add = row_adder(rows, log)
    pop, net = _population(M, 2, "numpy")
    fast = type(pop)(pop.teacher, backend=spectral.Spectral(tol))
    fast.velocity(net)
    t_fast = _median_time(lambda: fast.velocity(net), repeat)
    t_numba = population_time(M_numba, 2, "numba", repeat)
    scale = M * (M + 5) / (M_numba * (M_numba + 5))
    add(bench=f"8. spectral population relu f64 d=2 M={M}, no bias", backend="spectral",
        time=t_fast, reference=f"numba extrapolated {t_numba * scale:.4g} s",
        result=f"{t_numba * scale / t_fast:.3g}x faster (tol {tol:g}, "
               f"L = {modes_for_tolerance(tol)} modes)",
        target="<= 0.5 s at M=10^6")
    add(bench=f"8. spectral: numba at M={M_numba}, extrapolated to M={M}", backend="numba",
        time=t_numba, reference="measured", result=f"x {scale:.4g} (pairs) = "
        f"{t_numba * scale:.4g} s", target="-")
    add(bench="8. spectral accuracy d=2 m=1000", backend="spectral", time=float("nan"),
        reference="numpy velocity",
        result=f"max \\|dv\\| / max \\|v\\| = {accuracy(1000, tol):.2g}",
        target=f"<= 2 tol = {2 * tol:g}")
    return rows
