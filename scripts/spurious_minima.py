"""Spurious local minima of two-layer ReLU networks (Safran & Shamir, ICML 2018).

Student sum_i relu(w_i . x), output weights frozen at 1; teacher sum_{i<=k} relu(v_i . x)
with orthonormal v_i; x ~ N(0, I_k); exact square loss; Xavier initialisation;
population gradient flow, then refine and classify every end point. Cells k = n and
n = k + 1, k + 2, with the output weights frozen and trained. Default: k = 6..20, 500
initialisations per cell (hours on 2 cores); --quick: k in {6, 8, 10}, 30 initialisations
(minutes). Writes DIR/summary.json and DIR/table.md after every cell (--resume keeps
the finished cells of an interrupted run).
"""
import json

from meanfield.experiments import spurious_minima as sm
from meanfield.experiments.scripting import experiment_parser, write_results


def main(argv=None):
    parser = experiment_parser(__doc__, "out/spurious_minima", "k in {6, 8, 10}, 30 inits")
    parser.add_argument("--inits", type=int, help="initialisations per cell (default 500, "
                                                  "30 with --quick)")
    parser.add_argument("--k", type=int, nargs="+", help="teacher sizes (default 6..20)")
    parser.add_argument("--extra", type=int, nargs="+", default=[0, 1, 2],
                        help="students of n = k + extra neurons (default 0 1 2)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the cells already in DIR/summary.json (same inits)")
    parser.add_argument("--frozen-only", action="store_true",
                        help="only the cells with output weights frozen")
    args = parser.parse_args(argv)
    for name, values, low in (("--inits", [] if args.inits is None else [args.inits], 1),
                              ("--k", args.k or [], 1), ("--extra", args.extra, 0)):
        if values and min(values) < low:
            parser.error(f"{name} must be >= {low}, got {min(values)}")
    ks = args.k or ((6, 8, 10) if args.quick else tuple(range(6, 21)))
    inits = args.inits or (30 if args.quick else 500)
    done = None
    if args.resume and (args.out / "summary.json").exists():
        done = json.loads((args.out / "summary.json").read_text())["cells"]

    def save(summary):
        write_results(args.out, summary=summary)
        (args.out / "table.md").write_text(sm.markdown(summary) + "\n")

    summary = sm.spurious_minima(ks, args.extra, inits=inits, seed=args.seed,
                                 trained=(False,) if args.frozen_only else (False, True),
                                 on_cell=save, done=done)
    print(sm.markdown(summary))
    print(f"wall time {summary['wall_seconds']:.0f} s")


if __name__ == "__main__":
    main()
