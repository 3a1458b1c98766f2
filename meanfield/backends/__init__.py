"""Backend registry: one interface (``pair_reduce``, ``forward``, ``data_grad``), several
implementations. "numpy" is the reference, "numba" the CPU backend, "keops" the GPU
(or CPU) one, "spectral" the NUFFT pair reduction of 2-D ReLU networks without bias
(theory §11); "auto" picks KeOps when a CUDA device works and Numba otherwise, and the
spectral method for the pair reductions it applies to once they are large enough.

Every backend module exposes ``name`` and the three functions documented in
:mod:`meanfield.backends.numpy`.
"""
from __future__ import annotations

import ctypes
import functools
import importlib

from . import numpy as _numpy_backend

_MODULES = {"numpy": "meanfield.backends.numpy", "numba": "meanfield.backends.numba",
            "keops": "meanfield.backends.keops", "spectral": "meanfield.backends.spectral"}
_LOADED = {"numpy": _numpy_backend}


def register(name: str, module_path: str) -> None:
    """Make a backend module importable by name (imported lazily on first use); the name
    is then accepted everywhere a backend is (objectives, run configs, the command line).
    """
    if name == "auto":
        raise ValueError("'auto' is not a backend name but the automatic choice")
    _MODULES[name] = module_path
    _LOADED.pop(name, None)


def available() -> list[str]:
    """Names of the registered backends (the one list: configs and commands read it)."""
    return list(_MODULES)


def names() -> list[str]:
    """Every accepted backend name: the registered ones and "auto"."""
    return [*_MODULES, "auto"]


@functools.lru_cache(maxsize=1)
def cuda_available() -> bool:
    """True when a CUDA device works (checked once per process, through the driver library).

    A driver that loads but reports no device, or no driver at all, gives False; nothing
    is compiled and KeOps is not imported.
    """
    for lib in ("libcuda.so.1", "libcuda.so", "nvcuda.dll"):
        try:
            cuda = ctypes.CDLL(lib)
        except OSError:
            continue
        count = ctypes.c_int(0)
        return cuda.cuInit(0) == 0 and cuda.cuDeviceGetCount(ctypes.byref(count)) == 0 \
            and count.value > 0
    return False


def _auto():
    """KeOps when a CUDA device works, Numba otherwise, with the spectral pair reduction
    where it applies and is faster (:class:`spectral.Auto`); one object per process."""
    if "auto" not in _LOADED:
        base = get_backend("keops" if cuda_available() else "numba")
        _LOADED["auto"] = get_backend("spectral").Auto(base)
    return _LOADED["auto"]


def get_backend(name="auto"):
    """The backend module called ``name`` ("numpy", ... or "auto")."""
    if not isinstance(name, str):
        return name
    if name == "auto":
        return _auto()
    if name not in _MODULES:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(names())}")
    if name not in _LOADED:
        _LOADED[name] = importlib.import_module(_MODULES[name])
    return _LOADED[name]
