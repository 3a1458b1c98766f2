"""Tu, Aranguri & Jacot Figure 2 analogue: phase diagram over (gamma_sigma2, gamma_w).

Each cell runs GD (exact d x d Gram path) and the self-consistent equation with the
authors' step 1/(50 ...), at most 750 steps and their early stopping (theory §9), on
resumable function cells in DIR/cells (a rerun keeps finished ones). --quick: d = 40 on a 14 x 16
grid; default: d = 200 on 30 x 30.
Writes DIR/fig2.{png,pdf} and DIR/summary.json (axes and one array per panel).
"""

import numpy as np

from meanfield import linear
from meanfield.experiments import linear_networks as lx
from meanfield.plots.figures import save
from meanfield.experiments.scripting import experiment_parser, write_results


def main(argv=None):
    parser = experiment_parser(__doc__, "out/linear_phase_diagram", "d = 40, 14 x 16 grid",
                               workers=True)
    parser.add_argument("--d", type=int, help="dimension (default 200, 40 with --quick)")
    parser.add_argument("--n", type=int, nargs=2, metavar=("N_SIGMA2", "N_W"),
                        help="grid size (default 30 30, 14 16 with --quick)")
    parser.add_argument("--sigma2-range", type=float, nargs=2, default=(-2.2, -0.8))
    parser.add_argument("--w-range", type=float, nargs=2, default=(0.25, 2.8))
    args = parser.parse_args(argv)
    d = args.d or (40 if args.quick else 200)
    n_s, n_w = args.n or ((14, 16) if args.quick else (30, 30))
    if d < 5 or min(n_s, n_w) < 2:
        parser.error(f"need --d >= k = 5 and at least 2 x 2 cells, got d={d}, {n_s} x {n_w}")
    task = linear.make_task(d, k=5, seed=args.seed)
    gs, gw = np.linspace(*args.sigma2_range, n_s), np.linspace(*args.w_range, n_w)
    diagram = lx.phase_diagram(args.out / "cells", d, gs, gw, k=task.k, steps=750,
                               divisor=50.0, seed=args.seed, workers=args.workers)
    args.out.mkdir(parents=True, exist_ok=True)
    save(lx.figure2(diagram, d, task.k), args.out / "fig2")
    summary = {"d": d, "k": task.k, "seed": args.seed, "max_steps": 750,
               "lines": {"lazy_active": "gamma_sigma2 + gamma_w = 1",
                         "infinite_noise": "gamma_sigma2 + gamma_w / 2 = 0",
                         "w_equals_k": float(np.log(task.k) / np.log(d))},
               **{key: np.asarray(val).tolist() for key, val in diagram.items()}}
    write_results(args.out, summary=summary)
    for key in ("min_test_error", "rank", "steps_to_best", "log_distance"):
        print(key, np.array2string(np.asarray(diagram[key]), precision=3, max_line_width=150))


if __name__ == "__main__":
    main()
