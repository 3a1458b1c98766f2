"""The backend registry is the one list of backend names: a registered backend is accepted
by objectives, run configs and the command line, and gives the reference's numbers."""
import numpy as np
import pytest

import meanfield as mf
from meanfield import backends, cli


@pytest.fixture
def reference_alias(monkeypatch):
    """The NumPy reference registered again under another name, for this test only."""
    monkeypatch.setitem(backends._MODULES, "reference", "meanfield.backends.numpy")
    monkeypatch.delitem(backends._LOADED, "reference", raising=False)
    yield "reference"
    backends._LOADED.pop("reference", None)


def test_registered_backend_everywhere(reference_alias, tmp_path, capsys):
    assert reference_alias in backends.available() and "auto" in backends.names()
    teacher = mf.Network.init(3, 2, seed=0)
    student = mf.Network.init(5, 2, seed=1)
    v_alias = mf.GaussianPopulation(teacher, backend=reference_alias).velocity(student)
    v_numpy = mf.GaussianPopulation(teacher, backend="numpy").velocity(student)
    assert np.array_equal(v_alias, v_numpy)
    config = mf.Config.from_dict({"d": 2, "t_end": 0.1, "backend": reference_alias,
                                  "student": {"m": 4}, "integrator": {"dt": 0.05}})
    assert config.backend == reference_alias
    status = cli.main(["run", "--d", "2", "--t_end", "0.1", "--student.m", "4",
                       "--backend", reference_alias, "--out", str(tmp_path / "r")])
    assert status == 0, capsys.readouterr().err


def test_unknown_backend_lists_the_registry(capsys):
    with pytest.raises(mf.ConfigError, match="numpy, numba, keops"):
        mf.Config.from_dict({"backend": "gpu"})
    assert cli.main(["run", "--backend", "gpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "backend" in err[0]
    with pytest.raises(ValueError):
        backends.register("auto", "meanfield.backends.numpy")
