"""BLAS's thread count, pinned for the backends' products and restored after.

OpenBLAS rounds a matrix product differently with different thread counts (it splits the
output between threads, and the edge kernels of each part sum in their own way: up to
2e-14 relative in a 50 x 100 x 1000 product between one and two threads), so the
backends run their products on a fixed number of BLAS threads, the tuning's
``blas_threads`` (:mod:`meanfield.backends.tuning`; default 1), whatever the process
asked BLAS for. BLAS has a single thread count per process, so :func:`pinned` is a
counted scope: the first of concurrent scopes (from any thread) sets the count, the last
one out restores it. Code that runs BLAS in another thread meanwhile gets the pinned
count too (its speed may change, never its results). ``blas_threads=None`` leaves BLAS
alone (products may then change in the last bits with BLAS's threads).
"""
from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

from .tuning import current as _tuning

_LOCK = threading.Lock()
_STATE: dict = {"depth": 0, "restore": [], "controllers": None}


def _controllers() -> list:
    """(get, set) of the thread counts of the BLAS libraries loaded now (threadpoolctl's
    controllers), looked up once. threadpoolctl's OpenBLAS controller ignores a set from
    any thread but the first one that set it; its unconditional setter is taken where it
    has one, since :func:`pinned` keeps the scopes of all threads consistent itself."""
    if _STATE["controllers"] is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # no control: BLAS keeps its own count (docs/guide/backends.md)
            _STATE["controllers"] = []
            return []
        _STATE["controllers"] = [
            (c.get_num_threads, getattr(c, "_real_set_num_threads", c.set_num_threads))
            for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
    return _STATE["controllers"]


@contextmanager
def pinned(threads: int | None = None) -> Iterator[None]:
    """Run the enclosed block with BLAS on ``threads`` threads (default: the tuning's
    ``blas_threads``; None leaves BLAS alone), restoring BLAS's count when the last of
    the concurrent scopes ends. Thread-safe; the cost is a few microseconds per scope.

    Examples:

        >>> import numpy as np
        >>> from meanfield.backends.blas import pinned
        >>> with pinned(1):
        ...     x = np.ones((200, 200)) @ np.ones((200, 200))
        >>> float(x[0, 0])
        200.0
    """
    threads = _tuning().blas_threads if threads is None else threads
    if threads is None:
        yield
        return
    with _LOCK:
        if _STATE["depth"] == 0:
            restore = []
            for get, set_ in _controllers():
                before = get()
                if before != threads:
                    set_(threads)
                    restore.append((set_, before))
            _STATE["restore"] = restore
        _STATE["depth"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["depth"] -= 1
            if _STATE["depth"] == 0:
                for set_, before in _STATE["restore"]:
                    set_(before)
                _STATE["restore"] = []


def pinned_for(work: int):
    """:func:`pinned` when one member's products reach ``work`` multiply-adds, the
    tuning's ``blas_pin_min_work`` (OpenBLAS runs smaller products on one thread anyway:
    its default threshold is 2^18), else a scope that does nothing (NumPy's reductions
    at the smallest sizes cost a few microseconds, as much as pinning).

    Examples:

        >>> from meanfield.backends.blas import pinned_for
        >>> with pinned_for(10):  # too small to pin: BLAS is left alone
        ...     pass
    """
    return pinned() if work >= _tuning().blas_pin_min_work else nullcontext()


def pins(work):
    """Decorator: run the function under :func:`pinned_for` ``work(*args)`` (one member's
    multiply-adds, from the arguments).

    Examples:

        >>> import numpy as np
        >>> from meanfield.backends.blas import pins
        >>> @pins(lambda A, B: A.shape[0] * A.shape[1] * B.shape[1])
        ... def product(A, B):
        ...     return A @ B
        >>> product(np.eye(2), np.ones((2, 2))).tolist()
        [[1.0, 1.0], [1.0, 1.0]]
    """
    def wrap(fn):
        @functools.wraps(fn)
        def call(*args, **kwargs):
            with pinned_for(work(*args)):
                return fn(*args, **kwargs)
        return call
    return wrap
