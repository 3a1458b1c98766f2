"""The m -> infinity limit in 2-D: finite clouds against a million-particle spectral reference.

Teacher of the 2-D illustration (3 ReLU neurons, outputs +-1), Gaussian inputs, balanced
mean-field students (tau = 0.5), Euler population gradient flow (dt = 0.05); systems of m
particles coupled to the reference's initial particles and independent draws, compared
with the reference by circle W1, ||f_m - f_M||, W2 in R^3 and the coupled deviation
(meanfield.experiments.mean_field_limit_2d). --quick: M = 65 536, m = 16 ... 1024,
2 seeds, t <= 8; default: M = 10^6, m = 16 ... 65 536, 5 seeds, t <= 64.
Writes DIR/kymograph.png, DIR/slopes.png, DIR/slopes_independent.png and
DIR/summary.json; the study's files (reference snapshots, one result per cell) are in
DIR/study (function cells of the sweep machinery), and a rerun with the same
arguments resumes from them.
"""
import json

from meanfield.experiments import mean_field_limit_2d as limit
from meanfield.experiments import mean_field_limit_2d_figures as figures
from meanfield.experiments.scripting import experiment_parser, write_results

DPI = 100  # PNG only, small files
QUICK = dict(M=65536, ms=(16, 64, 256, 1024), n_seeds=2,
             times=(0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0), ref_points=1024, w2_max_m=1024,
             kymograph_records=48)
FULL = dict(M=10**6, ms=(16, 64, 256, 1024, 4096, 16384, 65536), n_seeds=5,
            times=limit.TIMES, ref_points=4096, w2_max_m=4096, kymograph_records=96)


def main(argv=None):
    parser = experiment_parser(__doc__, "out/mean_field_limit_2d",
                               "M = 65 536, m <= 1024, 2 seeds, t <= 8 (minutes)")
    parser.add_argument("--n-seeds", type=int,
                        help="number of seeds (default 2 quick, 5 full); seeds can be "
                             "added to a finished study")
    args = parser.parse_args(argv)
    size = dict(QUICK if args.quick else FULL)
    n_seeds = size.pop("n_seeds") if args.n_seeds is None else args.n_seeds
    size.pop("n_seeds", None)
    setting = limit.Setting(seeds=tuple(range(args.seed, args.seed + n_seeds)), **size)
    study = limit.run_study(args.out / "study", setting)
    summary = limit.summary(study)
    for name, fig in (("kymograph", figures.kymograph_figure(study)),
                      ("slopes", figures.slopes_figure(study)),
                      ("slopes_independent", figures.slopes_figure(study, "independent"))):
        fig.savefig(args.out / f"{name}.png", dpi=DPI, bbox_inches="tight")
    write_results(args.out, summary=summary)
    print(json.dumps({k: summary[k] for k in ("m", "M", "times", "slope_circle_w",
                                              "slope_function_distance", "slope_w2",
                                              "slope_coupled_deviation")}, indent=1))


if __name__ == "__main__":
    main()
