"""Backend registry: one interface (``pair_reduce``, ``forward``, ``data_grad``), several
implementations. "numpy" is the reference; "auto" picks the fastest one that works here.

Every backend module exposes ``name`` and the three functions documented in
:mod:`meanfield.backends.numpy`.
"""
from __future__ import annotations

import importlib

from . import numpy as _numpy_backend

_MODULES = {"numpy": "meanfield.backends.numpy"}
_LOADED = {"numpy": _numpy_backend}
NAMES = ("numpy", "auto")


def register(name: str, module_path: str) -> None:
    """Make a backend module importable by name (imported lazily on first use)."""
    _MODULES[name] = module_path


def available() -> list[str]:
    """Names of the registered backends."""
    return list(_MODULES)


def _auto():
    return _LOADED["numpy"]


def get_backend(name="auto"):
    """The backend module called ``name`` ("numpy", ... or "auto")."""
    if not isinstance(name, str):
        return name
    if name == "auto":
        return _auto()
    if name not in _MODULES:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(NAMES)}")
    if name not in _LOADED:
        _LOADED[name] = importlib.import_module(_MODULES[name])
    return _LOADED[name]
