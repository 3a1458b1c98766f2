"""Tuning constants and thread control shared by the Numba pair and data reductions."""
from __future__ import annotations

import itertools
import os
import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
from numba import get_num_threads, njit, set_num_threads

BLAS_MIN_D = 24      # input dimension from which dot products go through BLAS
TILE = 1 << 22       # entries of a BLAS tile (32 MB in float64)
CHUNK = 512          # sources per register chunk of the fused path
SAMPLE_TILE = 1 << 20  # entries of a particles x samples tile in forward_and_grad
#: entries of the tiles (and per-member data) of the members an ensemble's
#: forward_and_grad takes together (its passes over them stay in a 1 MB cache)
MEMBER_TILE = 1 << 17
#: Numba threads for the scalar pass between two BLAS products. OpenBLAS's threads keep
#: spinning for a while after a product, so a parallel pass fights them for the cores:
#: on 2 cores one Numba thread was faster (m = 4096, d = 100 population velocity
#: 0.156 s against 0.208 s; empirical d = 100 0.052 s against 0.079 s).
TILE_THREADS = 1
_FM = {"reassoc", "contract", "arcp"}  # no nnan/ninf: selects must see inf and nan
JIT_OPTIONS = dict(cache=True, error_model="numpy", fastmath=_FM)
#: inner iterations (pairs, or particles x samples) from which a reduction runs its
#: parallel loop. Below it a parallel region costs more than it saves: at the demo size
#: (16 particles x 15 samples) the two-thread loop took 38 us against 18 us for NumPy,
#: and with another process keeping one core busy a region waits for the descheduled
#: thread (5.5x slower than NumPy, 250x under heavier load). Chosen by measurement
#: (docs/performance.md): on 2 cores the parallel loop wins from ~2e5 iterations idle
#: and loses below ~1e6 with a busy core; 1e6 keeps both cases within a few percent.
PARALLEL_MIN_WORK = 1 << 20


#: JIT options of kernels that release the GIL while they run: those :func:`share` runs
#: on several threads at once, and the fused pair loop (other Python threads go on)
NOGIL_OPTIONS = dict(JIT_OPTIONS, nogil=True)
#: inner iterations (pairs, or particles x samples, summed over members) from which a
#: reduction uses a second core while one is idle: the fused pair loop its parallel
#: region (single runs too: 1.25-1.5x from ~15 000 pairs, within noise at 10 500), an
#: ensemble's tiled data reduction its member groups on helper threads (:func:`share`);
#: docs/performance.md ("Many small runs") has the measurements
SHARE_MIN_WORK = 1 << 14


def twin(fn, options=None):
    """(parallel, sequential) compilations of one kernel (with ``options``, default
    JIT_OPTIONS); the sequential copy gets its own name so that Numba's on-disk cache
    keeps the two apart."""
    options = JIT_OPTIONS if options is None else options
    seq = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_seq",
                             fn.__defaults__, fn.__closure__)
    seq.__qualname__ = fn.__qualname__ + "_seq"
    seq.__doc__ = fn.__doc__
    return njit(parallel=True, **options)(fn), njit(**options)(seq)


def pick(kernels, work: int):
    """The parallel kernel of a :func:`twin` pair when ``work`` reaches PARALLEL_MIN_WORK
    and Numba has more than one thread, else the sequential one (same arithmetic)."""
    return kernels[0] if work >= PARALLEL_MIN_WORK and get_num_threads() > 1 else kernels[1]


_POOL: list = [None, None, 0]  # [pid, executor, workers]


def _pool(workers: int) -> ThreadPoolExecutor:
    """The helper threads of :func:`share` (made again after a fork, where the parent's
    threads do not exist)."""
    if _POOL[0] != os.getpid() or _POOL[2] < workers:
        if _POOL[0] == os.getpid():
            _POOL[1].shutdown(wait=False)
        _POOL[:] = [os.getpid(), ThreadPoolExecutor(workers, "meanfield-share"), workers]
    return _POOL[1]


_IDLE = [-1.0, 0]  # [time of the last look, idle cores then]
#: seconds for which :func:`idle_cores` reuses its last look
IDLE_CHECK_SECONDS = 0.1


def _own_running() -> int:
    """Threads of this process that are runnable now (Linux /proc/self/task/*/stat), the
    caller included; 1 when they cannot be read."""
    running = 0
    try:
        for task in os.scandir("/proc/self/task"):
            try:
                with open(f"{task.path}/stat") as f:
                    running += f.read().rsplit(")", 1)[1].split()[0] == "R"
            except (OSError, IndexError):
                continue
    except OSError:
        return 1
    return max(1, running)


def idle_cores() -> int:
    """Cores that no thread of another process is running on right now, less the
    caller's: the cores this process may use minus 1 minus the runnable threads of other
    processes (Linux /proc/loadavg counts every runnable thread of the machine; this
    process's own, such as Numba's threads still spinning after a parallel loop, are
    taken off), looked at most every IDLE_CHECK_SECONDS; every other core when
    /proc/loadavg cannot be read."""
    now = time.monotonic()
    if now - _IDLE[0] > IDLE_CHECK_SECONDS:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else os.cpu_count() or 1
        try:
            with open("/proc/loadavg") as f:
                running = int(f.read().split()[3].split("/")[0])
            others = max(0, running - _own_running())
        except (OSError, ValueError, IndexError):
            others = 0
        _IDLE[:] = [now, max(0, cores - 1 - others)]
    return _IDLE[1]


def share_threads(work: int, parts: int) -> int:
    """Threads for ``parts`` independent parts of ``work`` inner iterations in total (a
    parallel region's, or :func:`share`'s): 1 below SHARE_MIN_WORK, with one Numba
    thread, or when no other core is idle right now (:func:`idle_cores`; with the cores
    taken by other processes a parallel region waits for descheduled threads, and
    sharing only added thread switches: +3% CPU at the COB size, +15-25% for
    10 x 100 x 105 pairs), else one per idle core and the caller, up to Numba's count."""
    if work < SHARE_MIN_WORK or parts < 2:
        return 1
    return max(1, min(get_num_threads(), parts, 1 + idle_cores()))


@contextmanager
def numba_threads(threads: int):
    """Run the enclosed parallel loops on ``threads`` Numba threads (at most Numba's
    count; thread-local, restored on exit). Setting the count costs ~3 us, so an
    unchanged count is left alone."""
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

    pool = _pool(helpers)
    for _ in range(helpers):
        pool.submit(work)
    work()
    finished.wait()
    if errors:
        raise errors[0]


#: multiply-adds of a BLAS product below which the tiled paths run it on one BLAS thread.
#: OpenBLAS's threads on small products lose badly when a core is busy: a COB-size
#: serial step (two 50 x 100 x 1000 products) took 5 ms with two BLAS threads and
#: 0.5-0.6 ms with one while another process kept a core busy (docs/performance.md).
SMALL_PRODUCT = 1 << 27
_BLAS: list | None = None


def _blas_controllers() -> list:
    """threadpoolctl's controllers of the loaded BLAS libraries ([] without threadpoolctl),
    looked up once."""
    global _BLAS
    if _BLAS is None:
        try:
            from threadpoolctl import ThreadpoolController

            _BLAS = [c for c in ThreadpoolController().lib_controllers
                     if c.user_api == "blas"]
        except Exception:  # noqa: BLE001 - no control: BLAS keeps its threads
            _BLAS = []
    return _BLAS


@contextmanager
def tile_threads(product: int | None = None):
    """Run the enclosed tiled (BLAS) loop with at most TILE_THREADS Numba threads, and on
    one BLAS thread when its largest product has fewer than SMALL_PRODUCT multiply-adds
    (``product``; None leaves BLAS alone). Results do not depend on it: BLAS splits a
    product between threads by rows and columns, never along the summed dimension."""
    n = get_num_threads()
    set_num_threads(max(1, min(n, TILE_THREADS)))
    blas = [c for c in (_blas_controllers() if product is not None and
                        product < SMALL_PRODUCT else ()) if c.get_num_threads() > 1]
    before = [c.get_num_threads() for c in blas]
    for c in blas:
        c.set_num_threads(1)
    try:
        yield
    finally:
        for c, k in zip(blas, before):
            c.set_num_threads(k)
        set_num_threads(n)


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
