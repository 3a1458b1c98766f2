"""Fixtures of the run tests."""
import pytest
from small_runs import SMALL


@pytest.fixture
def small(tmp_path):
    """The tiny config ``SMALL`` as a TOML file."""
    (tmp_path / "small.toml").write_text(SMALL)
    return tmp_path / "small.toml"
