"""The m -> infinity limit: coupled finite-m systems against a large reference.

One ReLU teacher-student problem (teacher of 5 neurons), Euler population gradient
flow; the m-systems start from the first m initial particles of the M-particle reference
(meanfield.limit), all run as one sweep. --quick: d = 10, m in {16, 64, 256},
M = 2048, 2 seeds, t_end = 4; default: m = 16 ... 4096, M = 16384, 5 seeds, t_end = 10.
Writes DIR/mean_field_limit.{png,pdf} and DIR/summary.json; the sweep is DIR/sweep.
"""
import argparse
import json
from pathlib import Path

from meanfield import teacher_experiments as tx
from meanfield.plotting import save


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small problem (minutes)")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--workers", type=int, help="Dask worker processes (default: cores)")
    parser.add_argument("--out", type=Path, default=Path("out/mean_field_limit"))
    args = parser.parse_args(argv)
    if args.quick:
        ms, M, n_seeds, t_end, ref_points = (16, 64, 256), 2048, 2, 4.0, 1024
    else:
        ms, M, n_seeds, t_end, ref_points = (16, 64, 256, 1024, 4096), 16384, 5, 10.0, 4096
    seeds = list(range(args.seed, args.seed + n_seeds))
    study = tx.mean_field_limit(args.out / "sweep", ms=ms, M=M, seeds=seeds, d=10,
                                t_end=t_end, ref_points=ref_points, workers=args.workers)
    summary = tx.limit_summary(study)
    args.out.mkdir(parents=True, exist_ok=True)
    save(tx.limit_figure(study), args.out / "mean_field_limit")
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
