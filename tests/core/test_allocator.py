"""meanfield.core.allocator: glibc keeps an ensemble step's large blocks in the heap."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


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
    (bit 1 of the size word before the block); a 64 MB block is still mapped. In a fresh
    process, so that no earlier test's heap can serve the 64 MB block."""
    script = (
        "import ctypes, ctypes.util\n"
        "from meanfield.core import allocator\n"
        "assert allocator.keep_freed_memory() is True\n"
        "assert allocator.keep_freed_memory() is True  # once per process, same answer\n"
        "libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')\n"
        "libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]\n"
        "libc.free.argtypes = [ctypes.c_void_p]\n"
        "def mapped(size):\n"
        "    block = libc.malloc(size)\n"
        "    word = ctypes.c_size_t.from_address(block - ctypes.sizeof(ctypes.c_size_t))\n"
        "    flag = bool(word.value & 2)\n"
        "    libc.free(block)\n"
        "    return flag\n"
        "print(mapped(1 << 20), mapped(16 << 20), mapped(64 << 20))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    assert out.split() == ["False", "False", "True"]


def test_simulate_leaves_the_allocator_alone():
    """The library never changes the host process's allocator: a fresh process that runs
    simulate and simulate_many has not called keep_freed_memory (its once-per-process
    record is empty), and no module but meanfield.core.allocator names mallopt."""
    script = (
        "import meanfield as mf\n"
        "from meanfield.core import allocator\n"
        "t = mf.Network.init(2, 3, 'relu', seed=1)\n"
        "obj = mf.GaussianPopulation(t)\n"
        "nets = [mf.Network.init(4, 3, 'relu', seed=s) for s in (2, 3)]\n"
        "mf.simulate(nets[0], obj, mf.integrators.make('euler', dt=0.1), 0.2)\n"
        "mf.simulate_many(nets, obj, mf.integrators.make('euler', dt=0.1), 0.2)\n"
        "assert allocator._DONE == [], allocator._DONE\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    naming = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "meanfield").rglob("*.py")
                    if "mallopt" in path.read_text())
    assert naming == [str(Path("meanfield", "core", "allocator.py"))]


@pytest.mark.parametrize("command, applied", [("run", True), ("resume", True),
                                               ("sweep", True), ("show", False),
                                               ("collect", False)])
def test_the_command_line_opts_in_for_commands_that_step(monkeypatch, tmp_path, command,
                                                         applied):
    """``meanfield run/resume/sweep`` (which own their process) apply the setting before
    their handler runs, even when it then fails on bad input; ``show`` and ``collect``
    (no steps) do not."""
    import importlib

    cli = importlib.import_module("meanfield.cli.main")
    allocator = importlib.import_module("meanfield.core.allocator")
    calls = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append(1))
    cli.main([command, str(tmp_path / "missing")])
    assert bool(calls) is applied
