"""The m -> infinity limit: coupled finite-m systems against a large reference.

One ReLU teacher-student problem (teacher of 5 neurons), Euler population gradient
flow; the m-systems start from the first m initial particles of the M-particle reference
(meanfield.experiments.mean_field_limit), all run as one sweep. --quick: d = 10, m in {16, 64, 256},
M = 2048, 2 seeds, t_end = 4; default: m = 16 ... 4096, M = 16384, 5 seeds, t_end = 10.
Writes DIR/mean_field_limit.{png,pdf} and DIR/summary.json; the sweep is DIR/sweep.
"""
import json

from meanfield.experiments import mean_field_limit as limit
from meanfield.plots.figures import save
from meanfield.experiments.scripting import experiment_parser, write_results


def main(argv=None):
    parser = experiment_parser(__doc__, "out/mean_field_limit", "small problem (minutes)",
                               workers=True)
    args = parser.parse_args(argv)
    if args.quick:
        ms, M, n_seeds, t_end, ref_points = (16, 64, 256), 2048, 2, 4.0, 1024
    else:
        ms, M, n_seeds, t_end, ref_points = (16, 64, 256, 1024, 4096), 16384, 5, 10.0, 4096
    seeds = list(range(args.seed, args.seed + n_seeds))
    study = limit.mean_field_limit(args.out / "sweep", ms=ms, M=M, seeds=seeds, d=10,
                                t_end=t_end, ref_points=ref_points, workers=args.workers)
    summary = limit.limit_summary(study)
    args.out.mkdir(parents=True, exist_ok=True)
    save(limit.limit_figure(study), args.out / "mean_field_limit")
    write_results(args.out, summary=summary)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
