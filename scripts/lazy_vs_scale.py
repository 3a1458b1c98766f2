"""Chizat-Oyallon-Bach: test loss against the initialisation scale tau (theory §6).

GD on a fixed training set (d = 100, n = 1000, m = 50, step min(10, 0.1/tau^2) as
dt = 50 min(10, 0.1/tau^2) in our units) through a resumable sweep in DIR/sweep, and the
population-SGD variant. --quick: 9 taus in 10^[-2.2, 1], 2 seeds, 2000 GD iterations;
population SGD at 7 taus, 2 seeds, 2000 iterations (a few minutes on 2 cores). Default:
the paper's 33 taus, 10 seeds, 10^4 iterations; 17 taus, 10 seeds, 2 x 10^4 SGD
iterations (80 min on 2 cores). Writes DIR/lazy_vs_scale.{png,pdf} and DIR/summary.json
(tau, test_loss_end, test_loss_best, kappa, kernel_change_end, each mean and std over
seeds) and DIR/population_sgd.json (with their code's teacher / 200 and with the teacher
as described).
Rerunning resumes: finished GD cells (DIR/sweep) and population-SGD cells
(DIR/population_sgd/teacher_divisor_*) are kept.
"""
import json

import numpy as np

from meanfield.experiments import lazy_vs_scale as ls
from meanfield.plots.figures import save
from meanfield.experiments.scripting import experiment_parser, write_results


def main(argv=None):
    parser = experiment_parser(__doc__, "out/lazy_vs_scale", "small grid (a few minutes)",
                               workers=True)
    args = parser.parse_args(argv)
    if args.quick:
        taus, seeds, iterations = 10 ** np.arange(-2.2, 1.01, 0.4), 2, 2000
        sgd_taus, sgd_iterations = [0.01, 0.04, 0.1, 0.3, 1.0, 2.0, 8.0], 2000
    else:
        taus, seeds, iterations = 10 ** np.arange(-2.2, 1.01, 0.1), 10, 10_000
        sgd_taus = [0.01, 0.02, 0.04, *10 ** np.arange(-1.0, 0.01, 0.1), 2.0, 4.0, 8.0]
        sgd_iterations = 20_000
    seed_list = list(range(args.seed, args.seed + seeds))
    args.out.mkdir(parents=True, exist_ok=True)
    fixed = ls.test_vs_scale(args.out / "sweep", np.round(taus, 6), seed_list, iterations,
                             workers=args.workers)
    online = [ls.population_sgd(sgd_taus, seed_list,
                                args.out / "population_sgd" / f"teacher_divisor_{divisor:g}",
                                sgd_iterations, workers=args.workers, teacher_divisor=divisor)
              for divisor in (200.0, 1.0)]
    summary = {key: fixed[key] for key in ("tau", "test_loss_end", "test_loss_best", "kappa",
                                           "kernel_change_end")}
    save(ls.figure(fixed, online, "Chizat, Oyallon & Bach: d = 100, m = 50, n = 1000, "
                                  "relu teacher with 3 neurons"), args.out / "lazy_vs_scale")
    write_results(args.out, summary=summary, population_sgd=online)
    print(json.dumps(summary, indent=2))
    print(json.dumps(online))


if __name__ == "__main__":
    main()
