"""The examples in the docstrings of the public face run, and say what they print.

Every function and class that ``import meanfield as mf`` exports (``mf.__all__``) has an
``Examples:`` section; each is run here as a doctest (ELLIPSIS and whitespace tolerant;
the examples print no digit that rounding could flip), in a fresh namespace, so the
documentation cannot drift from the code. The
public submodules (``mf.integrators``, ``mf.metrics``, ...) run whatever examples their
functions carry.
"""
from __future__ import annotations

import doctest
import inspect

import pytest

import meanfield as mf

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
#: data, not callables: documented by the page that lists them
DATA = {"ACTIVATIONS", "LOSSES"}
OBJECTS = sorted(set(mf.__all__) - DATA - set(mf._SUBMODULES))


def run_examples(obj, name: str, recurse: bool) -> tuple[int, int, str]:
    """(examples run, failures, report) of the doctests in ``obj``'s docstrings: a public
    object's examples import what they use; a submodule's see the module's names."""
    finder = doctest.DocTestFinder(recurse=recurse, exclude_empty=True)
    tests = finder.find(obj, name, globs=None if recurse else {})
    lines: list[str] = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in tests:
        runner.run(test, out=lines.append)
    results = runner.summarize(verbose=False)
    return results.attempted, results.failed, "".join(lines)


@pytest.mark.parametrize("name", OBJECTS)
def test_public_object_example_runs(name):
    obj = getattr(mf, name)
    assert inspect.isclass(obj) or callable(obj)
    attempted, failed, report = run_examples(obj, f"mf.{name}", recurse=False)
    assert attempted > 0, f"mf.{name} has no example in its docstring"
    assert failed == 0, report


#: public submodule -> the optional module its examples need (an extra, setup.cfg)
NEEDS = {"datasets": "sklearn"}


@pytest.mark.parametrize("name", sorted(mf._SUBMODULES))
def test_public_submodule_examples_run(name):
    if name in NEEDS:
        pytest.importorskip(NEEDS[name])
    attempted, failed, report = run_examples(getattr(mf, name), f"mf.{name}", recurse=True)
    assert failed == 0, report


@pytest.mark.parametrize("name", sorted(mf._SUBMODULES))
def test_public_submodule_functions_have_examples(name):
    """Each function a public submodule exports (its ``__all__``) shows an example."""
    module = getattr(mf, name)
    assert module.__all__, f"mf.{name} lists no public names"
    parser = doctest.DocTestParser()
    bare = [fn for fn in module.__all__ if inspect.isfunction(getattr(module, fn))
            and not parser.get_examples(inspect.getdoc(getattr(module, fn)) or "")]
    assert not bare, f"mf.{name}: no example in {bare}"


def test_a_wrong_example_fails():
    """The runner is not vacuous: an example whose output differs is reported."""

    def wrong():
        """>>> 1 + 1
        3
        """

    attempted, failed, report = run_examples(wrong, "wrong", recurse=False)
    assert (attempted, failed) == (1, 1) and "Got:\n    2" in report
