"""The lazy theorem: alpha-scaled training against its tangent model, across alpha.

Centred and symmetrised erf networks on a teacher-student regression task (theory §1,
§3); distance to the tangent model (expected O(1/alpha) centred, O(1/alpha^2)
symmetrised) and to the NTK kernel predictor. --quick: m = 200, d = 5, n = 50, alpha in
10^[0, 3] (7 values), t_end = 10 (about half a minute); default: m = 1000, d = 10,
n = 200, 13 alphas in 10^[0, 4], t_end = 20. Writes DIR/lazy_theorem.{png,pdf} and
DIR/summary.json (alpha, distance_to_tangent, slope).
"""
import json

import numpy as np

from meanfield.experiments import lazy_theorem as lt
from meanfield.experiments.lazy_theorem import theorem_figure
from meanfield.plots.figures import save
from meanfield.experiments.scripting import experiment_parser, write_results


def main(argv=None):
    parser = experiment_parser(__doc__, "out/lazy_theorem", "small sizes (about 30 s)")
    args = parser.parse_args(argv)
    if args.quick:
        sizes = dict(m=200, d=5, n_train=50, t_end=10.0, dt=0.02)
        alphas = np.logspace(0, 3, 7)
    else:
        sizes = dict(m=1000, d=10, n_train=200, t_end=20.0, dt=0.02)
        alphas = np.logspace(0, 4, 13)
    result = lt.lazy_theorem(alphas, n_test=200, seed=args.seed, **sizes)
    summary = {"alpha": result["alpha"],
               "distance_to_tangent": {k: result[k]["distance_to_tangent"]
                                       for k in ("centred", "symmetrised")},
               "slope": {k: result[k]["slope"] for k in ("centred", "symmetrised")}}
    args.out.mkdir(parents=True, exist_ok=True)
    title = (f"erf, m = {sizes['m']}, d = {sizes['d']}, n = {sizes['n_train']}, "
             f"Euler dt = {sizes['dt']}, t_end = {sizes['t_end']:g}, seed {args.seed}")
    save(theorem_figure(result, title), args.out / "lazy_theorem")
    write_results(args.out, summary=summary)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
