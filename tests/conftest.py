"""Say which long checks the default run left out, and how to run them.

README's test command (``python -m pytest -q``) deselects the tests marked ``slow``
(setup.cfg: ``addopts = -m "not slow"``); each keeps a smaller version in the default
run. ``python -m pytest -q -m slow`` runs them, as ``.ci/run`` does after the default run.
"""
from __future__ import annotations


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if config.getoption("markexpr") != "not slow" or config.getoption("keyword"):
        return  # another selection: pytest's own "deselected" count says it
    left = [item for item in terminalreporter.stats.get("deselected", [])
            if item.get_closest_marker("slow") is not None]
    if left:
        terminalreporter.write_line(
            f"{len(left)} slow check{'s' * (len(left) != 1)} not run "
            "(python -m pytest -q -m slow runs them)")
