"""Objectives: population, empirical and online risks of a teacher-student problem, their
stacked (ensemble) forms, exact Hessians, the tangent model and shipped data sets.

Its modules are internal (they may move); the public names are re-exported by ``meanfield``;
``datasets`` is the public submodule ``mf.datasets``.
"""
