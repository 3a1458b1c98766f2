"""Say which long checks the default run left out, and how to run them.

README's test command (``python -m pytest -q``) deselects the tests marked ``slow``
(setup.cfg: ``addopts = -m "not slow"``); each keeps a smaller version in the default
run. ``python -m pytest -q -m slow`` runs them, as ``.ci/run`` does after the default run.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if config.getoption("markexpr") != "not slow" or config.getoption("keyword"):
        return  # another selection: pytest's own "deselected" count says it
    left = [item for item in terminalreporter.stats.get("deselected", [])
            if item.get_closest_marker("slow") is not None]
    if left:
        terminalreporter.write_line(
            f"{len(left)} slow check{'s' * (len(left) != 1)} not run "
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
