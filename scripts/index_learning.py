"""Index learning: online SGD's samples to weak recovery of He_k* against d, k* = 1..4.

One neuron, correlation-loss regime, learning rate delta d^-max(1, k*/2), seeds as one
ensemble per (k*, d) (meanfield.experiments.index_learning); fitted exponents with
bootstrap intervals beside the law d, d log d, d^(k*-1) of Ben Arous, Gheissari &
Jagannath (JMLR 2021); the exact population flow's escape time against d; staircase
against leap 3 under the population flow (meanfield.experiments.index_learning_figures).
--quick: k* <= 3, two dimensions each, 4 seeds, a small staircase (minutes); default:
k* = 1, 2 at d = 16..256, k* = 3 at d = 16..64, k* = 4 at d = 12..32, 64 seeds. Writes
DIR/{scaling,escape,staircase}.{png,pdf}, DIR/summary.json and DIR/cells.json.
"""
import json
import time

import numpy as np

from meanfield.experiments import index_learning as il
from meanfield.experiments import index_learning_figures as figs
from meanfield.experiments.scripting import experiment_parser, write_results
from meanfield.plots.figures import save

FULL = {1: (16, 32, 64, 128, 256), 2: (16, 32, 64, 128, 256), 3: (16, 24, 32, 48, 64),
        4: (12, 16, 20, 24, 32)}
QUICK = {1: (16, 32), 2: (16, 32), 3: (16, 24)}


def main(argv=None):
    parser = experiment_parser(__doc__, "out/index_learning", "small grids (minutes)")
    parser.add_argument("--seeds", type=int, help="seeds per cell (default 64, 4 quick)")
    args = parser.parse_args(argv)
    began = time.monotonic()
    grid = QUICK if args.quick else FULL
    seeds = list(range(args.seed, args.seed + (args.seeds or (4 if args.quick else 64))))
    cells, fits, escape = {}, {}, {}
    for k, ds in grid.items():
        cells[k] = [il.sgd_cell(k, d, seeds) for d in ds]
        fits[k] = il.fit_exponent(ds, [c["samples"] for c in cells[k]], seed=args.seed)
        ode = [il.predicted_median(k, d) for d in ds]
        fits[k].update(law_exponent=il.law_exponent(k, ds), ds=list(ds),
                       ode_medians=ode,
                       ode_exponent=float(np.polyfit(np.log(ds), np.log(ode), 1)[0]),
                       not_reached=[int(sum(s == float("inf") for s in c["samples"]))
                                    for c in cells[k]])
        escape[k] = [il.population_escape(k, d) for d in ds]
        print(f"k* = {k}: exponent {fits[k]['exponent']:.2f} "
              f"[{fits[k]['low']:.2f}, {fits[k]['high']:.2f}], ODE {fits[k]['ode_exponent']:.2f}"
              f", law {fits[k]['law_exponent']:.2f} ({time.monotonic() - began:.0f} s)",
              flush=True)
    d_stair, m, t_end = (16, 16, 300.0) if args.quick else (32, 32, 600.0)
    stairs = [figs.staircase_run(name, d_stair, m, t_end, seed=args.seed)
              for name in figs.TARGETS]
    args.out.mkdir(parents=True, exist_ok=True)
    save(figs.scaling_figure(cells, fits, f"online SGD, one neuron, {len(seeds)} seeds per "
                             f"d, $\\eta = {il.DELTA:g}\\, d^{{-\\max(1, k^*/2)}}$"),
         args.out / "scaling")
    save(figs.escape_figure(escape, "population gradient flow from overlap $d^{-1/2}$"),
         args.out / "escape")
    save(figs.staircase_figure(stairs, f"population flow, relu with bias, m = {m}, "
                               f"d = {d_stair}"), args.out / "staircase")
    summary = {"seeds": seeds, "delta": il.DELTA, "epsilon": il.EPSILON, "dtau": il.DTAU,
               "students": il.STUDENT, "fits": fits,
               "escape": {k: [{key: r[key] for key in ("d", "escape_time", "predicted")}
                              for r in rows] for k, rows in escape.items()},
               "staircase": [{key: s[key] for key in ("name", "d", "m", "times", "risk",
                                                      "overlap_max", "overlap_mean")}
                             for s in stairs],
               "wall_time_s": round(time.monotonic() - began, 1)}
    cell_table = {k: [{key: c[key] for key in ("d", "eta", "batch", "t_end", "m0", "samples",
                                               "predicted")} for c in row]
                  for k, row in cells.items()}
    write_results(args.out, summary=summary, cells=cell_table)
    print(json.dumps({k: {key: fits[k][key] for key in ("exponent", "low", "high",
                                                        "ode_exponent", "law_exponent")}
                      for k in fits}, indent=1))


if __name__ == "__main__":
    main()
