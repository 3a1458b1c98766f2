"""Say which long checks the default run left out, and how to run them.

README's test command (``python -m pytest -q``) deselects the tests marked ``slow``
(setup.cfg: ``addopts = -m "not slow"``); each keeps a smaller version in the default
run. ``python -m pytest -q -m slow`` runs them, as ``.ci/run`` does after the default run.
The tests run on two pytest-xdist workers where it is installed (``-n 0``: in-process); the
count of slow checks left out comes back from the workers, which collect and deselect.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# meanfield hands POT NumPy arrays only; POT's optional array backends (PyTorch, JAX,
# TensorFlow, CuPy) would be imported by every test process and subprocess that computes a
# distance (PyTorch alone: 2-3 s each), so the tests switch them off (POT reads these at
# import; a value set by the caller is kept)
for _backend in ("PYTORCH", "JAX", "TENSORFLOW", "CUPY"):
    os.environ.setdefault(f"POT_BACKEND_DISABLE_{_backend}", "1")


#: pytest-xdist workers of a run that names none (-n): both cores of a small machine
WORKERS = 2


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """Run on :data:`WORKERS` pytest-xdist workers, each test module whole on one worker
    (``-n 2 --dist loadscope``), unless the command line names ``-n`` (``-n 0``: in this
    process), asks for ``--pdb``, or pytest-xdist is not installed (then in this process)."""
    if hasattr(config, "workerinput") or not config.pluginmanager.hasplugin("xdist"):
        return
    if config.option.numprocesses is None and not config.getoption("usepdb", False):
        config.option.numprocesses = WORKERS
        if config.option.dist == "no":
            config.option.dist = "loadscope"


#: test modules that compile the same Numba kernels (the parallel pair loop of the
#: population flows at d = 10; the pair loops of each kernel at d = 6): one pytest-xdist
#: work unit each, so one worker compiles them once, not both at once from a cold cache
SHARED_UNITS = {"tests/backends/test_share.py": "numba threads",
                "tests/backends/test_same_bits.py": "numba threads",
                "tests/backends/test_backends.py": "numba pair loops",
                "tests/backends/test_batched.py": "numba pair loops"}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadscope`` with the modules of :data:`SHARED_UNITS` in one unit."""
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class Scheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            unit = SHARED_UNITS.get(nodeid.split("::", 1)[0])
            return unit or super()._split_scope(nodeid)

    return Scheduling(config, log)


#: how many tests marked slow the "not slow" selection left out (counted where they were
#: collected: in this process, or in each pytest-xdist worker, which reports it back)
SLOW_LEFT = pytest.StashKey[int]()


def pytest_deselected(items):
    if items:
        config = items[0].config
        config.stash[SLOW_LEFT] = config.stash.get(SLOW_LEFT, 0) + sum(
            item.get_closest_marker("slow") is not None for item in items)


def pytest_sessionfinish(session):
    workeroutput = getattr(session.config, "workeroutput", None)  # a pytest-xdist worker
    if workeroutput is not None:
        workeroutput["slow_left"] = session.config.stash.get(SLOW_LEFT, 0)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """pytest-xdist: a worker finished; every worker collects every test, so each reports
    the same count."""
    left = getattr(node, "workeroutput", {}).get("slow_left")
    if left is not None:
        node.config.stash[SLOW_LEFT] = max(node.config.stash.get(SLOW_LEFT, 0), left)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if config.getoption("markexpr") != "not slow" or config.getoption("keyword"):
        return  # another selection: pytest's own "deselected" count says it
    left = config.stash.get(SLOW_LEFT, 0)
    if left:
        terminalreporter.write_line(
            f"{left} slow check{'s' * (left != 1)} not run "
            "(python -m pytest -q -m slow runs them)")


@pytest.fixture
def mypy_errors(tmp_path):
    """``check(source, name) -> (errors, lines)``: mypy's error lines on ``source`` written to
    ``tmp_path/name``, type-checked against this checkout, and the source's lines."""
    pytest.importorskip("mypy")

    def check(source: str, name: str) -> tuple[list[str], list[str]]:
        path = tmp_path / name
        path.write_text(textwrap.dedent(source))
        out = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary",
                              "--follow-imports=silent", str(path)], cwd=ROOT,
                             env={**os.environ, "MYPYPATH": str(ROOT)},
                             capture_output=True, text=True, timeout=600)
        errors = [line for line in out.stdout.splitlines() if ": error:" in line]
        return errors, path.read_text().splitlines()

    return check
