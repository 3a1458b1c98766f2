"""Figures of runs and of sweeps (matplotlib, object-oriented: no backend is forced)."""
