"""Thread control shared by the Numba pair and data reductions.

The sizes at which the reductions change strategy live in :mod:`meanfield.backends.tuning`.
Every choice made here depends on the problem's sizes only: the number of threads
changes which thread computes a part, never what a part computes nor the order in which
parts are combined (docs/guide/backends.md, "Same numbers on any load").
"""
from __future__ import annotations

import itertools
import os
import threading
import types
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
from numba import get_num_threads, njit, set_num_threads

from ..blas import pinned
from ..tuning import current as tuning

_FM = {"reassoc", "contract", "arcp"}  # no nnan/ninf: selects must see inf and nan
JIT_OPTIONS = dict(cache=True, error_model="numpy", fastmath=_FM)
#: JIT options of kernels that release the GIL while they run: those :func:`share` runs
#: on several threads at once, and the fused pair loop (other Python threads go on)
NOGIL_OPTIONS = dict(JIT_OPTIONS, nogil=True)


def twin(fn, options=None):
    """(parallel, sequential) compilations of one kernel (with ``options``, default
    JIT_OPTIONS); the sequential copy gets its own name so that Numba's on-disk cache
    keeps the two apart. Every kernel given here must compute each iteration of its
    prange loop alone (no reduction across iterations), so that both copies, on any
    number of threads, give the same bits."""
    options = JIT_OPTIONS if options is None else options
    seq = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_seq",
                             fn.__defaults__, fn.__closure__)
    seq.__qualname__ = fn.__qualname__ + "_seq"
    seq.__doc__ = fn.__doc__
    return njit(parallel=True, **options)(fn), njit(**options)(seq)


def pick(kernels, work: int):
    """The parallel kernel of a :func:`twin` pair when ``work`` reaches the tuning's
    ``parallel_min_work``, else the sequential one: a function of the sizes only (both
    give the same bits on any number of threads: :func:`twin`)."""
    return kernels[0] if work >= tuning().parallel_min_work else kernels[1]


def parts(n: int, per_part_min: int = 1) -> int:
    """Blocks to cut ``n`` independent iterations into for a parallel loop: the tuning's
    ``parts``, at most n / per_part_min, at least 1 (sizes only, never the threads)."""
    return max(1, min(n // max(1, per_part_min), tuning().parts))


def spans(n: int, width: int, limit: int) -> list[slice]:
    """Consecutive spans of nearly equal length (differing by one) covering ``n`` rows of
    ``width`` entries each: spans of at most about ``limit`` entries (a tile's memory),
    and at least the tuning's ``parts`` spans, of at least ``limit / parts`` entries
    each, where the rows allow (so that threads can share them: :func:`share_tiles`).
    A function of the sizes only, never of the threads.

    Examples:

        >>> from meanfield.backends.numba.common import spans
        >>> [(s.start, s.stop) for s in spans(10, 100, 4000)]  # 4 spans of >= 250 entries
        [(0, 2), (2, 5), (5, 8), (8, 10)]
    """
    if n <= 0:
        return []
    parts_ = tuning().parts
    total = n * max(1, width)
    count = min(n, max(1, -(-total // limit), min(parts_, total // max(1, limit // parts_))))
    bounds = np.linspace(0, n, count + 1).round().astype(int)
    return [slice(int(lo), int(hi)) for lo, hi in itertools.pairwise(bounds)]


def shares(work: int, parts: int) -> bool:
    """Whether ``parts`` independent parts of ``work`` inner iterations in total are
    handed to :func:`share` (from the tuning's ``share_min_work``, with two parts or
    more): sizes only; the threads that then take them change no result."""
    return parts > 1 and work >= tuning().share_min_work


_POOL_LOCK = threading.Lock()
_POOL: dict = {}  # pid -> executor (a forked child does not have its parent's threads)
#: helper threads the shared executor may start (lazily, as calls need them)
POOL_WORKERS = 64


def _pool() -> ThreadPoolExecutor:
    """The helper threads of :func:`share`: one executor per process, made once under a
    lock and never replaced, so that a thread submitting to it never meets a shut-down
    executor (Dask runs cells in threads). It starts threads only as they are needed."""
    pid = os.getpid()
    with _POOL_LOCK:
        pool = _POOL.get(pid)
        if pool is None:
            _POOL.clear()
            pool = _POOL[pid] = ThreadPoolExecutor(POOL_WORKERS, "meanfield-share")
        return pool


@contextmanager
def numba_threads(threads: int):
    """Run the enclosed parallel loops on ``threads`` Numba threads (at most Numba's
    count; Numba's setting is thread-local, and restored on exit). Setting the count
    costs ~3 us, so an unchanged count is left alone."""
    n = get_num_threads()
    want = max(1, min(n, threads))
    if want == n:
        yield
        return
    set_num_threads(want)
    try:
        yield
    finally:
        set_num_threads(n)


def share(fn, n: int, threads: int) -> None:
    """Call fn(0), ..., fn(n - 1), each exactly once, on the calling thread and
    ``threads`` - 1 helper threads; returns when every call has returned.

    Work sharing, not a parallel region: every thread (the caller too) takes the next
    index when it is free, and nobody waits for a helper that has not started. On a
    shared machine a helper whose core is busy simply takes fewer parts (a parallel
    region would wait for it), so the worst case is the sequential loop plus one part.
    ``fn`` must release the GIL for most of its time (nogil Numba kernels, BLAS
    products) and write disjoint outputs; the results do not depend on which thread ran
    a part. The first exception raised by a call is raised here, after all calls ended.
    Several threads may call it at once (they share one executor).
    """
    helpers = min(threads, n) - 1
    if helpers <= 0:
        for i in range(n):
            fn(i)
        return
    indices, lock, finished = itertools.count(), threading.Lock(), threading.Event()
    left, errors = [n], []

    def work():
        for i in indices:  # next() of itertools.count is atomic under the GIL
            if i >= n:
                return
            try:
                fn(i)
            except BaseException as exc:  # noqa: BLE001 - re-raised by the caller
                errors.append(exc)
            with lock:
                left[0] -= 1
                if left[0] == 0:
                    finished.set()

    pool = _pool()
    for _ in range(helpers):
        pool.submit(work)
    work()
    finished.wait()
    if errors:
        raise errors[0]


@contextmanager
def tile_threads():
    """Run the enclosed tiled (BLAS) loop with at most the tuning's ``tile_threads``
    Numba threads (thread-local; changes no result) and BLAS pinned to its
    ``blas_threads`` (:func:`meanfield.backends.blas.pinned`)."""
    with numba_threads(tuning().tile_threads), pinned():
        yield


def share_tiles(fn, n: int, shared: bool) -> None:
    """fn(0), ..., fn(n - 1) under :func:`tile_threads`: handed to :func:`share` on as
    many threads as Numba's count in the calling thread when ``shared`` (read before
    the scope lowers it), else called in order on the calling thread. Each part must
    run single-threaded code (sequential passes, BLAS pinned) and write its own
    outputs, so the thread count changes the speed only."""
    threads = min(get_num_threads(), n) if shared else 1
    with tile_threads():
        share(fn, n, threads)


def pad4(x):
    """(..., m, <=4) -> (..., m, 4) float64 with zero columns appended."""
    out = np.zeros(x.shape[:-1] + (4,))
    out[..., :x.shape[-1]] = x
    return out


def pad4t(x):
    """(S, m, <=4) -> (S, 4, m) float64: transposed, zero rows appended."""
    out = np.zeros((x.shape[0], 4, x.shape[1]))
    out[:, :x.shape[2], :] = x.transpose(0, 2, 1)
    return out


@njit(inline="always", **JIT_OPTIONS)
def col4(M, j):
    """Column j of a (4, n) array as a 4-tuple (registers, for the d <= 4 paths)."""
    return M[0, j], M[1, j], M[2, j], M[3, j]


@njit(inline="always", **JIT_OPTIONS)
def dot4(x, y):
    """Dot product of two 4-tuples."""
    return x[0] * y[0] + x[1] * y[1] + x[2] * y[2] + x[3] * y[3]
