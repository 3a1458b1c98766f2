"""The neuron's pieces, below every other layer: activations, the packed particle layout,
losses, and the opt-in allocator setting. Nothing here imports another layer.

Its modules are internal (they may move); the public names are re-exported by ``meanfield``.
"""
