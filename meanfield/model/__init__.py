"""The network: m neurons as an empirical measure, its scalings and initialisations.

Its modules are internal (they may move); the public names are re-exported by ``meanfield``.
"""
