"""Global convergence of wide students (Chizat-Bach, theory §5): excess risk vs m.

Teacher of m0 = 5 neurons, ReLU and erf, population gradient flow (exact risk) to t_end,
one sweep per activation. --quick: d = 10, m in {2, 5, 10, 20, 50}, 3 seeds,
t_end = 2000 (a few minutes on 2 cores); default: d = 100, m in {2, ..., 1000},
10 seeds, t_end = 2000 (past t ~ 300 the risk of a converging student decays as a
slow power law at a step bounded by stiffness, dt ~ 1, so t_end = 1e4 would cost 5x more
steps without changing which seeds pass the 1e-4 threshold). Writes DIR/global_convergence.{png,pdf} and DIR/summary.json;
the sweeps live in DIR/sweeps/<activation> (rerunning resumes them).
"""
import json

from meanfield.experiments import global_convergence as tx
from meanfield.plots.figures import save
from meanfield.experiments.scripting import experiment_parser, write_results

FULL_M = (2, 5, 10, 20, 50, 100, 200, 500, 1000)
QUICK_M = (2, 5, 10, 20, 50)


def main(argv=None):
    parser = experiment_parser(__doc__, "out/global_convergence", "small problem (minutes)", workers=True)
    parser.add_argument("--d", type=int, help="input dimension (default 100, 10 with --quick)")
    parser.add_argument("--seeds", type=int, help="number of seeds (default 10, 3 quick)")
    parser.add_argument("--t-end", type=float, help="horizon (default 2000)")
    args = parser.parse_args(argv)
    d = args.d or (10 if args.quick else 100)
    n_seeds = args.seeds or (3 if args.quick else 10)
    t_end = args.t_end or 2000.0
    ms = QUICK_M if args.quick else FULL_M
    seeds = list(range(args.seed, args.seed + n_seeds))
    summary = tx.global_convergence(args.out / "sweeps", d=d, ms=ms, seeds=seeds,
                                    t_end=t_end, workers=args.workers)
    for act in ("relu", "erf"):
        summary[act]["drop_at_m"] = tx.drop_location(summary[act]["m"],
                                                     summary[act]["success_fraction"])
    args.out.mkdir(parents=True, exist_ok=True)
    save(tx.convergence_figure(summary), args.out / "global_convergence")
    write_results(args.out, summary=summary)
    print(json.dumps({k: {f: v[f] for f in ("m", "excess_risk_median", "success_fraction",
                                            "drop_at_m")} if isinstance(v, dict) else v
                      for k, v in summary.items()}, indent=1))


if __name__ == "__main__":
    main()
