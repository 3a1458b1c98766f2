"""Keep freed memory in the process between steps (glibc's allocator on Linux).

A step of a batched run allocates and frees the same large arrays again and again (an
ensemble's (S, m, n) tiles: 800 KB for 10 members of 50 neurons on 200 samples). glibc
serves blocks above its mmap threshold (128 KB to start with) with fresh pages from the
kernel and gives them back on free, and trims the top of its heap above its trim
threshold, so every step paid the page faults again: a NumPy ensemble step of population
SGD at that size took 0.36-0.42 ms per member against 0.11-0.15 ms with the thresholds
below, and ran slower than the members' serial runs (docs/performance.md). Raising the
mmap threshold to 32 MB (the most glibc's own adjustment reaches) and the trim threshold
to 64 MB keeps such blocks in the heap; the process keeps up to 64 MB of freed memory
for reuse. The setting is the host process's, so the library never applies it on its
own: the ``meanfield`` command does, for the subcommands that run simulations (``run``,
``resume``, ``sweep`` and its local worker processes, ``demo``, ``bench``), and a script
that owns its process may call :func:`keep_freed_memory` once before its runs
(docs/performance.md, "Freed memory and page faults"). Nothing happens on other C
libraries.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

MMAP_THRESHOLD = 32 << 20  #: bytes from which glibc maps blocks instead of reusing heap
TRIM_THRESHOLD = 64 << 20  #: free bytes at the heap's top that glibc keeps
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
_DONE: list = []


def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds (``mallopt``) once per process; True when
    they are set (Linux with glibc), False elsewhere.

    Opt-in: it changes the allocator of the whole process, for good (blocks below
    :data:`MMAP_THRESHOLD` come from the heap, up to :data:`TRIM_THRESHOLD` free bytes stay
    there), so call it only in a process you own.

    >>> from meanfield.core.allocator import keep_freed_memory
    >>> keep_freed_memory()  # doctest: +SKIP
    True
    """
    if _DONE:
        return _DONE[0]
    ok = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
            mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
            ok = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and \
                bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
        except (OSError, AttributeError):
            ok = False
    _DONE.append(ok)
    return ok
