"""The tuning constants of the compiled backends, in one object a user can override.

Every size from which a reduction changes strategy (BLAS tiles instead of fused loops, a
parallel loop instead of a sequential one, members shared between threads) is a field of
:class:`Tuning`. The rule the fields obey (docs/guide/backends.md, "Same numbers on any
load"): they are compared with the problem's sizes only (particles, samples, input
dimension, members, dtype, kernel), never with the machine's load or its number of
threads, so the thread count and the load change speed, never bits. The thresholds
(``*_min_work``, ``hvp_parallel_min_pairs``), ``member_tile``, ``chunk``,
``tile_threads`` and an integer ``blas_threads`` change no result; ``blas_min_d``,
``tile``, ``sample_tile`` and ``parts`` choose a path or cut the work into parts whose
partial sums are added in a fixed order, so changing them may change the last bits, as
a change of the problem's size would. The defaults are
safe on 1 to 64 cores.

:func:`current` gives the settings in force, :func:`override` changes them for the
enclosed block of the calling thread (and its asyncio task), :func:`set_defaults` for the
whole process. This module loads neither threadpoolctl nor Numba.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar


@dataclasses.dataclass(frozen=True)
class Tuning:
    """Sizes at which the Numba backend changes strategy, and its thread counts.

    Attributes
    ----------
    blas_min_d : input dimension from which dot products go through BLAS tiles (below
        it the pair and data reductions are fused loops; the automatic backend reads it too).
    tile : entries of a BLAS tile of the pair and data reductions (``1 << 22``: 32 MB in
        float64); run directories budget their memory with it.
    chunk : samples per register chunk of the tiled forward pass.
    sample_tile : entries of a particles x samples tile of ``forward_and_grad``.
    member_tile : entries of the tiles (and per-member data) of the members an
        ensemble's ``forward_and_grad`` takes together (so that its passes stay in cache).
    parallel_min_work : inner iterations (pairs, or particles x samples) from which a
        reduction runs its parallel loop. Below it a parallel region costs more than it
        saves, and on a busy machine it waits for a descheduled thread.
    share_min_work : inner iterations, summed over members, from which a tiled
        reduction hands its parts (BLAS tiles, sample blocks, an ensemble's member
        groups) to Numba's threads (work sharing: a thread whose core is busy takes
        fewer parts, nobody waits for it).
    hvp_parallel_min_pairs : pairs from which the exact population Hessian-vector
        product runs its parallel loop (each pair costs far more than a velocity's).
    parts : blocks a parallel loop is cut into (a few per thread for balance), and the
        least number of BLAS tiles (of at least tile / parts entries) and of sample
        blocks that a large tiled reduction is cut into, so that threads can share them;
        a function of the sizes only, so that the partition never follows the thread count.
    tile_threads : Numba threads of the scalar pass between two BLAS products (BLAS's own
        threads keep spinning for a while after a product and would fight a parallel pass).
    blas_threads : BLAS threads of the backends' matrix products, pinned for the
        duration of each reduction (:mod:`meanfield.backends.blas`: OpenBLAS rounds a
        product differently on different thread counts, so a fixed count keeps the bits);
        None leaves BLAS alone, and results may then change in the last bits with
        BLAS's thread count.
    blas_pin_min_work : multiply-adds of one member's products from which the NumPy
        reference pins BLAS too (smaller products run on one BLAS thread in OpenBLAS,
        whose threshold is 2^18; pinning costs a few microseconds).

    Examples:

        >>> from meanfield.backends import tuning
        >>> with tuning.override(parallel_min_work=1 << 16):
        ...     tuning.current().parallel_min_work
        65536
    """

    blas_min_d: int = 24
    tile: int = 1 << 22
    chunk: int = 512
    sample_tile: int = 1 << 20
    member_tile: int = 1 << 17
    parallel_min_work: int = 1 << 20
    share_min_work: int = 1 << 14
    hvp_parallel_min_pairs: int = 1 << 14
    parts: int = 16
    tile_threads: int = 1
    blas_threads: int | None = 1
    blas_pin_min_work: int = 1 << 16

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "blas_threads" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"tuning {field.name} must be a positive integer, "
                                 f"got {value!r}")


_DEFAULTS = [Tuning()]
_LOCAL: ContextVar[Tuning | None] = ContextVar("meanfield_tuning", default=None)


def current() -> Tuning:
    """The settings in force in the calling thread: those of the innermost
    :func:`override`, else the process's defaults (:func:`set_defaults`).

    Examples:

        >>> from meanfield.backends import tuning
        >>> tuning.current().blas_min_d
        24
    """
    local = _LOCAL.get()
    return _DEFAULTS[0] if local is None else local


@contextmanager
def override(**changes) -> Iterator[Tuning]:
    """Change some settings for the enclosed block, in the calling thread only (a context
    variable: other threads, a Dask worker's cells for instance, keep theirs). Unknown
    names or non-positive sizes raise ValueError naming them.

    Examples:

        >>> from meanfield.backends import tuning
        >>> with tuning.override(tile=1 << 20) as t:
        ...     t.tile
        1048576
    """
    new = _replace(current(), changes)
    token = _LOCAL.set(new)
    try:
        yield new
    finally:
        _LOCAL.reset(token)


def set_defaults(**changes) -> Tuning:
    """Change some settings for the whole process (every thread without an
    :func:`override`); ``set_defaults()`` with no argument restores the built-in ones.
    Returns the new defaults.

    Examples:

        >>> from meanfield.backends import tuning
        >>> tuning.set_defaults(blas_threads=None).blas_threads is None
        True
        >>> tuning.set_defaults().blas_threads
        1
    """
    _DEFAULTS[0] = _replace(_DEFAULTS[0], changes) if changes else Tuning()
    return _DEFAULTS[0]


def _replace(base: Tuning, changes: dict) -> Tuning:
    names = {f.name for f in dataclasses.fields(Tuning)}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise ValueError(f"unknown tuning setting(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(names))}")
    return dataclasses.replace(base, **changes)
