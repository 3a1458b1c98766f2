"""Figures of runs and of sweeps (matplotlib, object-oriented: no backend is forced).

Its modules are internal (they may move); the public names are re-exported by ``meanfield``.
"""
