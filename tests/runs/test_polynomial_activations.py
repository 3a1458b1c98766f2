"""Polynomial activations "hermite[h_0, h_1, ...]" in run configs (theory §13.1): accepted
for the student and the teacher, round trips through TOML and JSON, the networks and the
exact population risk they build, a malformed name one line and exit 2."""
import numpy as np
import pytest

import meanfield as mf
from meanfield.runs.run import build

from .small_runs import cli, metrics_of, one_line, small_config

SQUARE = "hermite[0.0, 0.0, 1.0]"   # He_2(z) = z^2 - 1


@pytest.mark.parametrize("who", ["student", "teacher"])
def test_polynomial_names_round_trip_and_build_that_network(who):
    config = small_config(**{f"{who}.activation": f'"{SQUARE}"', "student.bias": "true"})
    assert getattr(config, who).activation == SQUARE
    assert mf.Config.from_toml(config.to_toml()) == config
    assert mf.Config.from_json(config.to_json()) == config
    problem = build(config)
    net = getattr(problem, who)
    assert net.activation.hermite == (0.0, 0.0, 1.0)
    z = np.array([-1.5, 0.5, 2.0])
    assert np.allclose(net.activation(z), z * z - 1.0)


def test_a_polynomial_student_learns_its_teacher(tmp_path, capsys, small):
    """Student and teacher He_2 + 0.5 He_1: the run records the exact population risk of
    the built student, and with an Euler step below 2 / (top Hessian eigenvalue) (the
    stability limit of the flow near w0) that risk decreases."""
    act = "hermite[0.0, 0.5, 1.0]"
    config = small_config(**{"student.activation": f'"{act}"', "teacher.activation": f'"{act}"'})
    problem = build(config)
    top = np.linalg.eigvalsh(mf.hessian(problem.student, problem.objective))[-1]
    dt = 0.5 / top
    status, _, err = cli(capsys, "run", small, "--student.activation", act,
                         "--teacher.activation", act, "--integrator.dt", dt,
                         "--out", tmp_path / "run")
    assert status == 0, err
    risk = metrics_of(tmp_path / "run")["risk"]
    assert np.isclose(risk[0], problem.objective.risk(problem.student), rtol=1e-12)
    assert risk[-1] < 0.9 * risk[0]


@pytest.mark.parametrize("who", ["student", "teacher"])
@pytest.mark.parametrize("value", ["hermite[0, x]", "hermite[]", "hermite[1.0, nan]",
                                   "hermite[1.0", "cube"])
def test_malformed_names_are_one_line_and_exit_2(tmp_path, capsys, small, who, value):
    status, _, err = cli(capsys, "run", small, f"--{who}.activation", value,
                         "--out", tmp_path / "run")
    assert status == 2
    line = one_line(err)
    assert f"{who}.activation: must be one of" in line and "hermite[h_0, h_1, ...]" in line
