"""The Numba backend (CPU): pair loops, data reductions, ensembles, Hessians, mixed kernels."""
