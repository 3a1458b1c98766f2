"""The papers' experiments, the demo and the benchmarks: one module each.

Each module runs an experiment through the library (runs, sweeps, fan-out) and returns
numbers and figures; ``scripts/`` holds one short command-line script per experiment.

Its modules are internal (they may move); the public names are re-exported by ``meanfield``.
"""
