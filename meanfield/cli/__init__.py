"""The ``meanfield`` command line (entry point :func:`main`)."""
from .main import main, register

__all__ = ["main", "register"]
