"""Timings of the exact Hessians, refinement and certificates (theory §12).

Relu teacher-student in d = 10 (4 teacher neurons, x ~ N(0, I)):

1. dense population Hessian H = m grad^2 J at m = 20 (m p = 220);
2. one Hessian-vector product, NumPy and Numba, at m = 20, 200 and 2000 (O(m^2 p));
3. empirical (n = 1000, square loss) dense Hessian and one product at m = 20;
4. a gradient flow (Euler, dt = 0.05, t = 200) from a small initialisation, then
   ``refine`` of its end point and ``classify`` of the result.

Compiled code is warmed up before timing; lines 1-3 are medians of ``repeat`` runs,
line 4 one run each. Group "hessian" (line 9) of ``meanfield bench``: ``meanfield bench
--only hessian [--quick]`` prints the table (``--quick`` skips m = 2000).
"""
from __future__ import annotations

import time

import numpy as np

from meanfield.analysis.critical import classify, refine
from meanfield.dynamics.integrators import euler
from meanfield.objectives.hessian import hessian, hvp
from meanfield.model.network import Network
from meanfield.objectives.teacher_student import Empirical, GaussianPopulation
from meanfield.dynamics.trajectory import LinearSchedule, simulate
from .bench import _median_time, row_adder

D = 10


def _problem(m: int, backend: str = "numba"):
    teacher = Network.init(4, D, "relu", seed=1)
    return GaussianPopulation(teacher, backend=backend), Network.init(m, D, "relu", seed=2)


def run(repeat: int = 5, quick: bool = False, log=print) -> list[dict]:
    """The rows of group "hessian" (module docstring), in the format of
    :func:`benchmarks.bench.run`."""
    rows = []
    add_row = row_adder(rows, log)

    def add(what, m, backend, seconds, result="-", reference="-", target="-"):
        add_row(bench=f"9. {what} d={D} m={m}", backend=backend, time=seconds,
                reference=reference, result=result, target=target)

    def timed(fn, k=repeat):
        return _median_time(fn, k, budget=10.0)

    pop, net = _problem(20)
    hvp(net, pop, np.ones(net.w.shape), backend="numba")           # compile
    add("dense population Hessian", 20, "numba", timed(lambda: hessian(net, pop)),
        f"{net.w.size} x {net.w.size}")
    for m in (20, 200) if quick else (20, 200, 2000):
        pop, net = _problem(m)
        v = np.random.default_rng(0).standard_normal(net.w.shape)
        for backend in ("numpy", "numba"):
            add("population Hessian-vector product", m, backend,
                timed(lambda net=net, pop=pop, v=v, backend=backend: hvp(net, pop, v,
                                                                          backend=backend),
                      min(repeat, 3)))
    rng = np.random.default_rng(3)
    teacher = Network.init(4, D, "relu", seed=1)
    X = rng.standard_normal((1000, D))
    emp = Empirical(X, teacher(X), backend="numpy")
    net = Network.init(20, D, "relu", seed=2)
    v = rng.standard_normal(net.w.shape)
    add("empirical dense Hessian (n=1000)", 20, "numpy", timed(lambda: hessian(net, emp)),
        f"{net.w.size} x {net.w.size}")
    add("empirical Hessian-vector product (n=1000)", 20, "numpy",
        timed(lambda: hvp(net, emp, v)))
    pop = GaussianPopulation(teacher, backend="numba")
    start = Network.init(20, D, "relu", seed=2, tau=0.3)
    t0 = time.perf_counter()
    end = simulate(start, pop, euler(0.05), 200.0, record=LinearSchedule(2)).final
    add("gradient flow, 4000 Euler steps (one run)", 20, "numba", time.perf_counter() - t0)
    t0 = time.perf_counter()
    refined, report = refine(end, pop)
    add("refine the flow's end point (one run)", 20, "numba", time.perf_counter() - t0,
        f"stationarity {report['stationarity_start']:.1e} -> "
        f"{report['stationarity_end']:.1e}, risk {report['risk_start']:.2e} -> "
        f"{report['risk_end']:.2e}",
        f"{report['method']}, {report['iterations']} iterations")
    t0 = time.perf_counter()
    result = classify(refined, pop)
    add("classify the refined point, dense eigh (one run)", 20, "numba",
        time.perf_counter() - t0,
        f"{result['kind']}, {result['n_negative']} negative, {result['n_zero']} zero",
        f"{result['expected_zero_modes']} zero modes from symmetries", "global minimum")
    return rows
