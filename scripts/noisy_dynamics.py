"""Noisy dynamics: the Langevin particle cloud against the Gibbs law of its own potential.

Mean-field Langevin (theory §7) at temperature T = 1/beta with weight decay lam on a
teacher-student population objective (ReLU, d = 2, teacher of 3 neurons); at each
recorded time the cloud mu_t is compared with G[mu_t] ∝ exp(-Psi_lam(.; mu_t)/T), sampled
by independent test particles in the frozen field (meanfield.experiments.noisy_dynamics). --quick:
m = 256,
t_end = 40; default: m = 1024, t_end = 200, larger Gibbs samples. Writes
DIR/noisy_dynamics.{png,pdf} and DIR/summary.json.
"""
import json

from meanfield import Network
from meanfield.experiments import noisy_dynamics as noisy
from meanfield.plots.figures import save
from meanfield.experiments.scripting import experiment_parser, write_results


def main(argv=None):
    parser = experiment_parser(__doc__, "out/noisy_dynamics", "small cloud (about a minute)")
    parser.add_argument("--temperature", type=float, default=0.02, help="T = 1/beta")
    parser.add_argument("--weight-decay", type=float, default=0.5, help="lambda")
    args = parser.parse_args(argv)
    m, t_end, n_gibbs, records = (256, 40.0, 1024, 5) if args.quick else (1024, 200.0, 4096, 9)
    dt, t_mix = 0.05, 20.0
    teacher = Network.init(3, 2, sphere=True, output="sign", alpha=3.0, seed=[args.seed, 0])
    student = Network.init(m, 2, tau=0.5, seed=[args.seed, 1])
    result = noisy.gibbs_check(teacher, student, args.temperature, args.weight_decay, dt,
                               t_end, records=records, n_gibbs=n_gibbs, t_mix=t_mix,
                               seed=args.seed)
    summary = {"m": m, "d": 2, "teacher_m": 3, "temperature": args.temperature,
               "weight_decay": args.weight_decay, "dt": dt, "t_mix": t_mix,
               "n_gibbs": n_gibbs, "seed": args.seed,
               **{k: result[k] for k in ("times", "w2_to_gibbs", "w2_baseline", "risk")}}
    args.out.mkdir(parents=True, exist_ok=True)
    title = (f"Langevin, T = {args.temperature:g}, $\\lambda$ = {args.weight_decay:g}, "
             f"m = {m}, d = 2 (ReLU teacher of 3 neurons), dt = {dt:g}, "
             f"Gibbs by {n_gibbs} test particles over t = {t_mix:g}")
    save(noisy.gibbs_figure(result, student, teacher, title), args.out / "noisy_dynamics")
    write_results(args.out, summary=summary)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
