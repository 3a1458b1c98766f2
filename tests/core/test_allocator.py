"""meanfield.core.allocator: glibc keeps an ensemble step's large blocks in the heap."""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

import pytest

from meanfield.core import allocator


def _glibc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "gnu_get_libc_version") else None
    except OSError:
        return None


@pytest.mark.skipif(not sys.platform.startswith("linux") or _glibc() is None,
                    reason="mallopt thresholds are glibc's (Linux)")
def test_thresholds_are_set_once_and_blocks_below_them_come_from_the_heap():
    """After keep_freed_memory, blocks of 1 MB and 16 MB (above glibc's default 128 KB
    mmap threshold) come from the heap: their chunk headers lack glibc's IS_MMAPPED bit
    (bit 1 of the size word before the block); a 64 MB block is still mapped."""
    assert allocator.keep_freed_memory() is True
    assert allocator.keep_freed_memory() is True  # once per process, same answer
    libc = _glibc()
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]

    def mapped(size):
        block = libc.malloc(size)
        try:
            return bool(ctypes.c_size_t.from_address(block - ctypes.sizeof(ctypes.c_size_t))
                        .value & 2)
        finally:
            libc.free(block)

    assert not mapped(1 << 20) and not mapped(16 << 20)
    assert mapped(64 << 20)

def test_simulate_sets_the_thresholds(monkeypatch):
    """Every run goes through simulate_many, which applies them."""
    import meanfield as mf
    from meanfield.dynamics import trajectory

    calls = []
    monkeypatch.setattr(trajectory, "keep_freed_memory", lambda: calls.append(1))
    teacher = mf.Network.init(2, 3, "relu", seed=1)
    mf.simulate(mf.Network.init(4, 3, "relu", seed=2), mf.GaussianPopulation(teacher),
                mf.integrators.make("euler", dt=0.1), 0.2)
    assert calls
