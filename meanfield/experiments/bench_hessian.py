"""Timings of the exact Hessians, refinement and certificates (theory §12).

Relu teacher-student in d = 10 (4 teacher neurons, x ~ N(0, I)):

1. dense population Hessian H = m grad^2 J at m = 20 (m p = 220);
2. one Hessian-vector product, NumPy and Numba, at m = 20, 200 and 2000 (O(m^2 p));
3. empirical (n = 1000, square loss) dense Hessian and one product at m = 20;
4. a gradient flow (Euler, dt = 0.05, t = 200) from a small initialisation, then
   ``refine`` of its end point and ``classify`` of the result.

Compiled code is warmed up before timing. ``python -m meanfield.experiments.bench_hessian`` prints a
Markdown table (``--quick`` skips m = 2000).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from ..critical import classify, refine
from ..dynamics import euler
from ..hessian import hessian, hvp
from ..model import Network
from ..objectives import Empirical, GaussianPopulation
from ..trajectory import LinearSchedule, simulate

D = 10


def _median_time(fn, repeat: int = 5, budget: float = 10.0) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        if sum(times) > budget:
            break
    return float(np.median(times))


def _problem(m: int, backend: str = "numba"):
    teacher = Network.init(4, D, "relu", seed=1)
    return GaussianPopulation(teacher, backend=backend), Network.init(m, D, "relu", seed=2)


def run(quick: bool = False, log=print) -> list[dict]:
    """Rows {what, m, seconds, note} of the timings listed in the module docstring."""
    rows = []

    def add(what, m, seconds, note=""):
        rows.append({"what": what, "m": m, "seconds": seconds, "note": note})
        log(f"{what:<34} m={m:<5} {seconds:.3g} s {note}")

    pop, net = _problem(20)
    hvp(net, pop, np.ones(net.w.shape), backend="numba")           # compile
    add("dense population Hessian", 20, _median_time(lambda: hessian(net, pop)),
        f"({net.w.size} x {net.w.size})")
    for m in (20, 200) if quick else (20, 200, 2000):
        pop, net = _problem(m)
        v = np.random.default_rng(0).standard_normal(net.w.shape)
        for backend in ("numpy", "numba"):
            add(f"population HVP ({backend})", m,
                _median_time(lambda: hvp(net, pop, v, backend=backend), repeat=3))
    rng = np.random.default_rng(3)
    teacher = Network.init(4, D, "relu", seed=1)
    X = rng.standard_normal((1000, D))
    emp = Empirical(X, teacher(X), backend="numpy")
    net = Network.init(20, D, "relu", seed=2)
    v = rng.standard_normal(net.w.shape)
    add("empirical dense Hessian (n=1000)", 20, _median_time(lambda: hessian(net, emp)))
    add("empirical HVP (n=1000)", 20, _median_time(lambda: hvp(net, emp, v)))
    pop = GaussianPopulation(teacher, backend="numba")
    start = Network.init(20, D, "relu", seed=2, tau=0.3)
    t0 = time.perf_counter()
    end = simulate(start, pop, euler(0.05), 200.0, record=LinearSchedule(2)).final
    add("gradient flow, 4000 Euler steps", 20, time.perf_counter() - t0)
    t0 = time.perf_counter()
    refined, report = refine(end, pop)
    add("refine (flow end point)", 20, time.perf_counter() - t0,
        f"{report['method']}, {report['iterations']} iterations, stationarity "
        f"{report['stationarity_start']:.1e} -> {report['stationarity_end']:.1e}, "
        f"risk {report['risk_start']:.2e} -> {report['risk_end']:.2e}")
    t0 = time.perf_counter()
    result = classify(refined, pop)
    add("classify (dense eigh)", 20, time.perf_counter() - t0,
        f"{result['kind']}, {result['n_negative']} negative, {result['n_zero']} zero "
        f"({result['expected_zero_modes']} from symmetries)")
    return rows


def markdown(rows) -> str:
    lines = ["| what | m | time | note |", "|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['what']} | {row['m']} | {row['seconds']:.3g} s | {row['note']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip m = 2000")
    args = parser.parse_args(argv)
    rows = run(quick=args.quick, log=lambda *_: None)
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
