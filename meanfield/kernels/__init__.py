"""Closed-form Gaussian pair kernels (docs/theory.md §2): the bivariate normal, every pair
kernel by activation, mixed activation pairs, the 2-D circle kernel and second derivatives.

Its modules are internal (they may move); the public names are re-exported by ``meanfield``.
"""
