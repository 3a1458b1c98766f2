"""The tuning object: overrides are local to the calling thread, defaults apply to every
thread, bad settings raise ValueError naming them."""
from __future__ import annotations

import threading

import pytest

from meanfield.backends import tuning


def test_override_is_local_to_the_calling_thread():
    seen = []
    with tuning.override(parallel_min_work=7) as t:
        assert t.parallel_min_work == tuning.current().parallel_min_work == 7
        thread = threading.Thread(target=lambda: seen.append(tuning.current()))
        thread.start()
        thread.join()
    assert seen == [tuning.Tuning()]  # another thread keeps the defaults
    assert tuning.current() == tuning.Tuning()


def test_set_defaults_reaches_every_thread_and_resets():
    seen = []
    try:
        tuning.set_defaults(share_min_work=5)
        thread = threading.Thread(target=lambda: seen.append(tuning.current().share_min_work))
        thread.start()
        thread.join()
        assert seen == [5]
    finally:
        tuning.set_defaults()
    assert tuning.current() == tuning.Tuning()


@pytest.mark.parametrize("changes,name", [({"tile": 0}, "tile"), ({"parts": 2.5}, "parts"),
                                          ({"blas_threads": -1}, "blas_threads"),
                                          ({"bogus": 1}, "bogus")])
def test_bad_settings_raise_naming_them(changes, name):
    with pytest.raises(ValueError, match=name):
        with tuning.override(**changes):
            pass
    assert tuning.current() == tuning.Tuning()
