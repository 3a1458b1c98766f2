"""The ``meanfield`` command line (entry point :func:`main`).

Its modules are internal (they may move); the public names are re-exported by ``meanfield``.
"""
from .main import main, register

__all__ = ["main", "register"]
