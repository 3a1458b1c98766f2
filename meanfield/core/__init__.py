"""The neuron's pieces, below every other layer: activations, the packed particle layout,
losses, and the opt-in allocator setting. Nothing here imports another layer."""
