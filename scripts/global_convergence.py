"""Global convergence of wide students (Chizat-Bach, theory §5): excess risk vs m.

Teacher of m0 = 5 neurons, ReLU and erf, population gradient flow (exact risk) to t_end,
one sweep per activation. --quick: d = 10, m in {2, 5, 10, 20, 50}, 3 seeds,
t_end = 2000 (a few minutes on 2 cores); default: d = 100, m in {2, ..., 1000},
10 seeds, t_end = 2000 (past t ~ 300 the risk of a converging student decays as a
slow power law at a step bounded by stiffness, dt ~ 1, so t_end = 1e4 would cost 5x more
steps without changing which seeds pass the 1e-4 threshold). Writes
DIR/global_convergence.{png,pdf} and DIR/summary.json;
the sweeps live in DIR/sweeps/<activation> (rerunning resumes them).

--certify (theory §12): m = 2, 3, ..., 10 around m0 at d = 10 (unless --d), 10 seeds (3
with --quick), NumPy backend; every end point refined and classified (global minimum,
spurious local minimum, saddle, not converged), and for m >= m0 every seed run again by
Euler, adaptive, DOP853, Radau and flow + refine until R/R0 < 1e-10 (at most
--max-evaluations velocity evaluations each; 20000 with --quick). Also writes
DIR/certified.{png,pdf}; the certificates live in DIR/sweeps/certify/<activation>.
"""
import json

from meanfield.experiments import global_convergence as tx
from meanfield.plots.figures import save
from meanfield.experiments.scripting import experiment_parser, write_results

FULL_M = (2, 5, 10, 20, 50, 100, 200, 500, 1000)
QUICK_M = (2, 5, 10, 20, 50)
CERTIFY_M = tuple(range(2, 11))


def main(argv=None):
    parser = experiment_parser(__doc__, "out/global_convergence", "small problem (minutes)",
                               workers=True)
    parser.add_argument("--d", type=int, help="input dimension (default 100, 10 with --quick "
                                              "or --certify)")
    parser.add_argument("--seeds", type=int, help="number of seeds (default 10, 3 quick)")
    parser.add_argument("--t-end", type=float, help="horizon (default 2000)")
    parser.add_argument("--certify", action="store_true",
                        help="m = 2..10: refine and classify every end point, time the "
                             "methods to R/R0 < 1e-10")
    parser.add_argument("--max-evaluations", type=int,
                        help="with --certify: velocity evaluations each method may spend "
                             "(default 100000, 20000 with --quick)")
    args = parser.parse_args(argv)
    d = args.d or (10 if args.quick or args.certify else 100)
    n_seeds = args.seeds or (3 if args.quick else 10)
    t_end = args.t_end or 2000.0
    ms = CERTIFY_M if args.certify else QUICK_M if args.quick else FULL_M
    seeds = list(range(args.seed, args.seed + n_seeds))
    extra = {}
    if args.certify:
        extra = {"certify": True, "backend": "numpy", "certify_max_m": max(CERTIFY_M),
                 "max_evaluations": args.max_evaluations or (20_000 if args.quick
                                                             else 100_000)}
    summary = tx.global_convergence(args.out / "sweeps", d=d, ms=ms, seeds=seeds,
                                    t_end=t_end, workers=args.workers, **extra)
    for act in ("relu", "erf"):
        summary[act]["drop_at_m"] = tx.drop_location(summary[act]["m"],
                                                     summary[act]["success_fraction"])
    args.out.mkdir(parents=True, exist_ok=True)
    save(tx.convergence_figure(summary), args.out / "global_convergence")
    if args.certify:
        save(tx.certified_figure(summary), args.out / "certified")
    write_results(args.out, summary=summary)
    print(json.dumps({k: {f: v[f] for f in ("m", "excess_risk_median", "success_fraction",
                                            "drop_at_m")} if isinstance(v, dict) and "m" in v
                      else v for k, v in summary.items()}, indent=1))
    if args.certify:
        print(tx.certified_markdown(summary))


if __name__ == "__main__":
    main()
