"""The linters are clean: ruff (rules in pyproject.toml) on the package, tests, scripts and
benchmarks, and mypy (setup.cfg) on the package (a slow check: 30-70 s from a cold
cache; the default run type-checks the backend and objective protocols on small files,
tests/*/test_protocol.py). Each fails on one finding: a line over 100 characters, a zip
without strict=, an annotation that does not hold."""
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


@pytest.mark.slow  # 30-70 s from a cold mypy cache on 2 cores; .ci/run also runs mypy itself
def test_mypy_is_clean():
    pytest.importorskip("mypy")
    out = _run(sys.executable, "-m", "mypy", "meanfield")
    assert out.returncode == 0, out.stdout + out.stderr
