"""Benchmark the backends (issue 4) and print the Markdown table of README "Performance".

Usage: python scripts/bench.py [--backends numba,keops,numpy] [--repeat 5] [--quick]
"""
import sys

from meanfield.experiments.bench import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
