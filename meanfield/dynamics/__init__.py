"""Dynamics: integrators over frozen states, SciPy ODE integrators, the stepping engine and
trajectories (``simulate``, ``simulate_many``)."""
