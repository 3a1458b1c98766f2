"""The linters are clean: ruff (rules in pyproject.toml) on the package, tests, scripts and
benchmarks, and mypy (setup.cfg) on the package. Each fails on one finding: a line over
100 characters, a zip without strict=, an annotation that does not hold."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "MYPYPATH": ROOT})


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or pytest.skip("ruff is not installed (the test extra)")
    out = _run(ruff, "check", "meanfield", "tests", "scripts", "benchmarks")
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_is_clean():  # about 20 s without a cache on 2 cores
    pytest.importorskip("mypy")
    out = _run(sys.executable, "-m", "mypy", "meanfield")
    assert out.returncode == 0, out.stdout + out.stderr
