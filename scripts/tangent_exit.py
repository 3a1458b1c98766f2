"""Leaving the tangent space: the time t1 against sqrt(m) alpha_G (= our alpha).

Centred erf networks and their tangent models on a teacher-student regression task;
t1 is the first time RMS(f_net - f_lin)/RMS(f_lin - f(w0)) on test points exceeds 0.1
(theory §8: Geiger et al.'s t1 ~ sqrt(h) alpha_G). --quick: m in {32, 128, 512},
5 alphas in [0.03, 3] (about a minute); default: m in {32, ..., 2048}, 9 alphas in
[0.01, 10]. Writes DIR/tangent_exit.{png,pdf} and DIR/summary.json (sqrt_m_alpha, t1).
"""
import json

import numpy as np

from meanfield.experiments import lazy_theorem as lt
from meanfield.experiments.lazy_theorem import exit_figure
from meanfield.plots.figures import save
from meanfield.experiments.scripting import experiment_parser, write_results


def main(argv=None):
    parser = experiment_parser(__doc__, "out/tangent_exit", "small sizes (about a minute)")
    parser.add_argument("--threshold", type=float, default=0.1)
    args = parser.parse_args(argv)
    if args.quick:
        m_values, alphas = [32, 128, 512], np.geomspace(0.03, 3, 5)
    else:
        m_values, alphas = [32, 128, 512, 2048], np.geomspace(0.01, 10, 9)
    result = lt.tangent_exit(m_values, alphas, threshold=args.threshold, seed=args.seed)
    t1 = [[None if not np.isfinite(v) else float(v) for v in row] for row in result["t1"]]
    summary = {"sqrt_m_alpha": result["alpha"], "t1": {str(m): row for m, row
                                                      in zip(result["m"], t1, strict=False)}}
    args.out.mkdir(parents=True, exist_ok=True)
    title = (f"erf, d = 5, n = 50, threshold {args.threshold:g}, seed {args.seed}; "
             f"t1 fit: alpha^{result['exponent_alpha']:.2f} m^{result['exponent_m']:.2f}")
    save(exit_figure(result, title), args.out / "tangent_exit")
    write_results(args.out, summary=summary)
    print(json.dumps(summary, indent=2))
    print(f"t1 ~ alpha^{result['exponent_alpha']:.3f} m^{result['exponent_m']:.3f}")


if __name__ == "__main__":
    main()
