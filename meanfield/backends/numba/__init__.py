"""The Numba backend (CPU): pair loops, data reductions, ensembles, Hessians, mixed kernels.

Importing it points the on-disk cache of its compiled kernels at a folder keyed by the
package version and its sources (:mod:`meanfield.backends.numba.cache`)."""
from .cache import install as _install_cache

_install_cache()
