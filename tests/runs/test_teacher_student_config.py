"""Config fields of explicit teachers and students and of the initialisation laws: round
trips through TOML and JSON, the networks they build, bad values one line and exit 2."""
import numpy as np
import pytest

import meanfield as mf
from meanfield.runs.run import build

from .small_runs import cli, one_line, small_config

NEW_FIELDS = {"teacher.input": '"orthonormal"', "teacher.output": '"ones"',
              "teacher.scale": "2.0", "student.init.input": '"xavier"',
              "student.init.output": '"zeros"', "student.init.tau_c": "0.5",
              "student.init.tau_a": "0.25", "student.init.tau_b": "0.0",
              "student.init.bias_law": '"zeros"', "student.bias": "true"}


@pytest.mark.parametrize("key", sorted(NEW_FIELDS))
def test_every_new_field_round_trips(key):
    config = small_config(**{key: NEW_FIELDS[key], "student.bias": "true", "d": 3})
    assert mf.Config.from_toml(config.to_toml()) == config
    assert mf.Config.from_json(config.to_json()) == config


def test_the_safran_shamir_setting_from_a_config():
    """Orthonormal teacher with unit output weights (sum scaling), Xavier student with
    unit output weights: the networks are exactly that."""
    config = small_config(**{"d": 4, "teacher.m": 3, "teacher.input": '"orthonormal"',
                             "teacher.output": '"ones"', "student.m": 3,
                             "student.alpha": '"sum"', "student.init.input": '"xavier"',
                             "student.init.output": '"ones"', "student.frozen": "c"})
    problem = build(config)
    teacher, student = problem.teacher, problem.student
    assert np.allclose(teacher.a @ teacher.a.T, np.eye(3), atol=1e-12)
    assert np.array_equal(teacher.c, np.ones((3, 1))) and teacher.alpha == 3.0
    assert np.array_equal(student.c, np.ones((3, 1))) and student.alpha == 3.0


def test_inline_and_npz_weights_build_those_networks(tmp_path):
    a = [[1.0, 0.0], [0.0, 1.0]]
    inline = small_config(**{"teacher.m": 2, "teacher.c": "[1.0, -1.0]",
                             "teacher.a": str(a)})
    assert mf.Config.from_toml(inline.to_toml()) == inline
    assert np.array_equal(build(inline).teacher.w, [[1.0, 1.0, 0.0], [-1.0, 0.0, 1.0]])
    np.savez(tmp_path / "s.npz", c=np.ones(8), a=np.ones((8, 2)))
    from_file = small_config(**{"student.init.weights": f'"{tmp_path / "s.npz"}"'})
    assert np.array_equal(build(from_file).student.w, np.ones((8, 3)))


@pytest.mark.parametrize("key,value,message", [
    ("teacher.input", "cube", "teacher.input: must be one of"),
    ("teacher.input", "orthonormal", "teacher.input: orthonormal directions need"),
    ("teacher.scale", "-1", "teacher.scale: must be a non-negative"),
    ("teacher.a", "[[1.0, 2.0]]", "teacher.a: inline weights need both"),
    ("teacher.weights", "/no/such.npz", "teacher.weights: cannot read weights"),
    ("student.init.input", "cube", "student.init.input: must be one of"),
    ("student.init.tau_a", "-2", "student.init.tau_a: must be a non-negative"),
    ("student.init.bias_law", "one", "student.init.bias_law: must be one of"),
    ("student.init.output", "twos", "student.init.output: must be one of")])
def test_bad_values_are_one_line_and_exit_2(tmp_path, capsys, small, key, value, message):
    status, _, err = cli(capsys, "run", small, f"--{key}", value, "--teacher.m", "5",
                         "--out", tmp_path / "run")
    assert status == 2
    assert message in one_line(err)


@pytest.mark.parametrize("flags,message", [
    (["--teacher.scale", "2"], "teacher.scale: not read: teacher has explicit weights"),
    (["--teacher.input", "gaussian"], "teacher.input: not read: teacher has explicit"),
    (["--student.init.tau", "3"], "student.init.tau: not read: student.init has explicit"),
    (["--student.init.tau_a", "0.5"], "student.init.tau_a: not read:"),
    (["--student.init.input", "xavier"], "student.init.input: not read:"),
    (["--student.init.symmetric", "true"], "student.init.symmetric: not read:"),
    (["--student.init.reference_m", "4"], "student.init.reference_m: not read:")])
def test_a_law_beside_explicit_weights_is_refused(tmp_path, capsys, small, flags, message):
    """A law or scale that explicit weights make unread is one line and exit 2, not a
    silently ignored setting."""
    which = "teacher" if flags[0].startswith("--teacher") else "student.init"
    weights = [f"--{which}.c", "[1.0, -1.0]", f"--{which}.a", "[[1.0, 0.0], [0.0, 1.0]]",
               f"--{'teacher' if which == 'teacher' else 'student'}.m", "2"]
    status, _, err = cli(capsys, "run", small, *weights, *flags, "--out", tmp_path / "run")
    assert status == 2, err
    assert message in one_line(err)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("flags,message", [
    (["--teacher.sphere", "false", "--teacher.input", "sphere"], "teacher.sphere: the older"),
    (["--student.init.sphere", "true", "--student.init.input", "xavier"],
     "student.init.sphere: the older shorthand for student.init.input")])
def test_sphere_beside_an_input_law_is_refused(tmp_path, capsys, small, flags, message):
    """``sphere`` and ``input`` both name the input weights' law: one of them, not both."""
    status, _, err = cli(capsys, "run", small, *flags, "--out", tmp_path / "run")
    assert status == 2, err
    assert message in one_line(err)
