"""Tu, Aranguri & Jacot Figure 1 analogue: GD against the self-consistent dynamics.

gamma_sigma2 = -1.85, gamma_w = 2.25, k = 5, 100 GD steps with eta = 1/(5 ...)
(theory §9). --quick: d = 80 (w = 19140) on the particle path; default: the paper's
d = 500 (w = 1.2e6) on the exact d x d Gram path. Writes DIR/fig1.{png,pdf} and
DIR/summary.json.
"""
import json

from meanfield import linear
from meanfield.experiments import linear_networks as lx
from meanfield.plots.figures import save
from meanfield.experiments.scripting import experiment_parser, write_results


def main(argv=None):
    parser = experiment_parser(__doc__, "out/linear_fig1", "d = 80 (about a minute)")
    parser.add_argument("--d", type=int, help="dimension (default 500, 80 with --quick)")
    parser.add_argument("--method", choices=("auto", "particles", "gram"), default="auto",
                        help="GD path (auto: particles up to width 1e5)")
    parser.add_argument("--order", choices=("simultaneous", "paper"), default="simultaneous",
                        help="paper: the authors' W1-then-W2 update (gram path)")
    args = parser.parse_args(argv)
    d = args.d or (80 if args.quick else 500)
    gs, gw = -1.85, 2.25
    if d < 5:
        parser.error(f"--d must be at least k = 5, got {d}")
    task = linear.make_task(d, k=5, seed=args.seed)
    run = lx.compare(task, gs, gw, steps=100, divisor=5.0, method=args.method,
                     order=args.order, seed=args.seed + 1)
    summary = {"d": d, "k": 5, "gamma_sigma2": gs, "gamma_w": gw, "seed": args.seed,
               "order": args.order, **lx.figure1_summary(run)}
    args.out.mkdir(parents=True, exist_ok=True)
    title = (f"d = {d}, w = {run['w']}, $\\sigma^2 w$ = {run['threshold']:.3g}, "
             f"$\\gamma_{{\\sigma^2}}$ = {gs}, $\\gamma_w$ = {gw}, GD: {run['method']}")
    save(lx.figure1(run, title), args.out / "fig1")
    write_results(args.out, summary=summary)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
