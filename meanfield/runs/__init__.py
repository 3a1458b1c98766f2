"""Runs and sweeps: configs, run directories, checkpoints, fan-out on Dask, tables.

Everything that touches files lives here (names in :mod:`meanfield.runs.store`); the
layers below know no time, files or figures.

Its modules are internal (they may move); the public names are re-exported by ``meanfield``.
"""
