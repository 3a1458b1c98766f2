"""The same as ``meanfield bench``: every benchmark group, one Markdown table.

Usage: python scripts/bench.py [--only GROUP[,GROUP...]] [--backends numba,keops,numpy]
       [--repeat 5] [--quick]
"""
import sys

from meanfield.experiments.bench_groups import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
