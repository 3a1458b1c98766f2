"""Dynamics: integrators over frozen states, SciPy ODE integrators, the stepping engine and
trajectories (``simulate``, ``simulate_many``).

Its modules are internal (they may move); the public names are re-exported by ``meanfield``;
``integrators`` is the public submodule ``mf.integrators``.
"""
