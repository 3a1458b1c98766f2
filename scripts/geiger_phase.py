"""Geiger et al. lazy/feature phase diagram: kernel change over alpha x m (theory §8).

Two binary tasks (teacher-student sign labels, d = 10; scikit-learn digits by parity,
d = 64), hinge loss, centred relu networks; each task is a resumable sweep in
DIR/<task>. Our alpha = sqrt(m) alpha_G. --quick: m in {16, 64, 256}, alpha in
{0.3, 1, 3, 10, 30, 100}, 4 initialisation seeds, n = 500 + 500, t_end = 300 (a few
minutes on 2 cores); default: m in {16, ..., 1024}, 11 alphas in 10^[-1, 2], 8 seeds, t_end = 1000.
Writes
DIR/geiger_phase.{png,pdf}, DIR/summary.json (m, alpha_star, exponent per task;
alpha_star in Geiger's units alpha_G*) and DIR/details.json (all measured arrays).
"""
import json

import numpy as np

from meanfield.experiments import geiger_phase as geiger
from meanfield.plots.figures import save
from meanfield.experiments.scripting import experiment_parser, write_results


def _plain(value):
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def main(argv=None):
    parser = experiment_parser(__doc__, "out/geiger_phase", "small grid (a few minutes)",
                               workers=True)
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="kernel change defining the crossover alpha*")
    args = parser.parse_args(argv)
    if args.quick:
        m_values, alphas, seeds, t_end = [16, 64, 256], [0.3, 1, 3, 10, 30, 100], 4, 300.0
    else:
        m_values = [16, 32, 64, 128, 256, 512, 1024]
        alphas, seeds, t_end = np.round(np.logspace(-1, 2, 11), 4).tolist(), 8, 1000.0
    seed_list = list(range(args.seed, args.seed + seeds))
    args.out.mkdir(parents=True, exist_ok=True)
    results = [geiger.phase_diagram(args.out / task, task, alphas, m_values, seed_list,
                                    t_end=t_end, threshold=args.threshold,
                                    data_seed=args.seed, workers=args.workers)
               for task in geiger.TASKS]
    summary = {"m": m_values,
               "alpha_star": {r["task"]: _plain(r["alpha_star_geiger"]) for r in results},
               "exponent": {r["task"]: _plain(r["exponent"]) for r in results}}
    details = [{k: _plain(v) for k, v in r.items()} for r in results]
    save(geiger.figure(results, f"hinge loss, centred relu nets, n = 500, t_end = {t_end:g},"
                                f" crossover at kernel change {args.threshold:g}"),
         args.out / "geiger_phase")
    write_results(args.out, summary=summary, details=details)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
