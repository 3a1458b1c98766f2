"""Group "ode" of ``meanfield bench``: the time each integrator needs to bring R/R0 below
1e-10 (:mod:`meanfield.experiments.time_to_tolerance`, theory §10.6).

The bench problem: d = 10, a relu teacher of 5 units (unit input weights, output weights
+-1), a relu student of m = 20 in the mean-field scaling (Gaussian init of scale 0.5),
exact population risk on the NumPy backend. Group "ode" (line 10) of ``meanfield bench``:
``meanfield bench --only ode`` prints one row per method (``--quick``: a student of m = 5,
the teacher's width, whose flow converges exponentially, and at most QUICK_EVALUATIONS
velocity evaluations per method); :func:`run` takes another problem.
"""
from __future__ import annotations

from meanfield.experiments.time_to_tolerance import (MAX_EVALUATIONS, METHODS, TOL,
                                                     time_to_tolerance)
from meanfield.runs.config import Config
from meanfield.runs.run import build

from .bench import row_adder

QUICK_M, QUICK_EVALUATIONS = 5, 20_000


def bench_problem(d: int = 10, m: int = 20, activation: str = "relu", seed: int = 0,
                  m0: int = 5, tau: float = 0.5):
    """(student, objective, R0) of the teacher-student problem of the module docstring
    (the global-convergence setting, theory §5), on the NumPy backend."""
    config = Config.from_dict({
        "d": int(d), "t_end": 1.0, "backend": "numpy", "seed": int(seed),
        "teacher": {"m": int(m0), "activation": activation},
        "student": {"m": int(m), "activation": activation, "init": {"tau": float(tau)}}})
    problem = build(config)
    net, objective = problem.student, problem.objective
    zero = net.w.copy()
    zero[:, net.layout.c] = 0.0
    return net, objective, float(objective.risk(net.with_w(zero)))


def run(d: int = 10, m: int = 20, activation: str = "relu", seed: int = 0,
        methods=METHODS, quick: bool = False, log=print) -> list[dict]:
    """The rows of group "ode": one per method (:func:`time_to_tolerance`) on
    :func:`bench_problem`, in the format of :func:`benchmarks.bench.run`;
    ``quick`` takes m = QUICK_M and at most QUICK_EVALUATIONS velocity evaluations."""
    if quick:
        m = QUICK_M
    net, objective, r0 = bench_problem(d, m, activation, seed)
    rows = []
    add = row_adder(rows, log)
    for method in methods:
        r = time_to_tolerance(net, objective, method, r0, max_evaluations=QUICK_EVALUATIONS
                              if quick else MAX_EVALUATIONS)
        add(bench=f"10. ode: {method} to R/R0 < {TOL:g}, {activation} d={d} m={m}",
            backend="numpy",
            time=r["seconds"], reference=f"t = {r['t']:.3g}, {r['velocity_evaluations']} "
            f"velocities, {r['hessians']} Hessians (one run)",
            result=f"{'reached' if r['reached'] else 'not reached'}, R/R0 = "
                   f"{r['relative_risk']:.2g}", target=f"R/R0 < {TOL:g}")
    return rows
