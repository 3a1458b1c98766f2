"""Analysis on arrays: optimal-transport distances, circle distances, critical points and
certificates, the NTK, laziness diagnostics, two-layer linear networks.

Its modules are internal (they may move); the public names are re-exported by ``meanfield``;
``distances``, ``linear_networks``, ``ntk`` and ``diagnostics`` are the public submodules
``mf.metrics``, ``mf.linear``, ``mf.ntk`` and ``mf.diagnostics``.
"""
