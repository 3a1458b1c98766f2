"""Index targets in run configs (``[teacher] kind = "index"``, theory §13): the three ways
to write the coefficients, round trips, the directions, a run and its extension against
the Python objects, bad values one line and exit 2."""
import numpy as np
import pytest

import meanfield as mf
from meanfield.runs.run import build

from .small_runs import cli, one_line, small_config

INDEX = {"d": 4, "teacher.kind": '"index"', "teacher.hermite": '{"1,0" = 1.0, "1,1" = 0.5}'}


@pytest.mark.parametrize("hermite", ['{"1,0" = 1.0, "1,1" = 0.5}',
                                     "[[[1, 0], 1.0], [[1, 1], 0.5]]",
                                     "[[1, 0, 1.0], [1, 1, 0.5]]"])
def test_table_pairs_and_rows_are_one_config_and_round_trip(hermite):
    config = small_config(**{**INDEX, "teacher.hermite": hermite})
    assert config.teacher.hermite == ((1.0, 0.0, 1.0), (1.0, 1.0, 0.5))
    assert mf.Config.from_toml(config.to_toml()) == config
    assert mf.Config.from_json(config.to_json()) == config


def test_directions_random_and_canonical():
    random = build(small_config(**INDEX, seed=3))
    again = build(small_config(**INDEX, seed=3))
    U = random.teacher.a.T                       # the stand-in network holds the directions
    assert np.allclose(U.T @ U, np.eye(2), atol=1e-12)
    assert np.array_equal(U, again.teacher.a.T)
    assert not np.array_equal(U, build(small_config(**INDEX, seed=4)).teacher.a.T)
    canonical = build(small_config(**INDEX, **{"teacher.directions": '"canonical"'}))
    assert np.array_equal(canonical.teacher.a.T, np.eye(4)[:, :2])


def test_a_run_is_the_python_objective_and_extends(tmp_path, capsys):
    config = small_config(**INDEX, **{"teacher.noise": "0.2", "student.bias": "true",
                                      "student.activation": '"erf"'})
    path = tmp_path / "config.toml"
    path.write_text(config.to_toml())
    status, _, err = cli(capsys, "run", path, "--out", tmp_path / "run")
    assert status == 0, err
    result = mf.load(tmp_path / "run")
    target = mf.IndexTarget(result.teacher.a.T, {(1, 0): 1.0, (1, 1): 0.5})
    pop = mf.GaussianPopulation(target, noise=0.2, backend="numpy")
    problem = build(config)
    assert result.trajectory.risk[0] == pytest.approx(pop.risk(problem.student), rel=1e-12)
    assert result.trajectory.risk[-1] < result.trajectory.risk[0]
    status, out, err = cli(capsys, "show", tmp_path / "run")
    assert status == 0 and "index teacher 1 He(1, 0) + 0.5 He(1, 1)" in out, err
    longer = mf.resume(tmp_path / "run", t_end=2.0)
    straight = mf.run(config.override({"t_end": "2.0"}), tmp_path / "straight")
    assert np.array_equal(straight.trajectory.final.w, longer.trajectory.final.w)


@pytest.mark.parametrize("kind", ["online", "empirical"])
def test_online_and_empirical_kinds_learn_from_the_target(kind):
    config = small_config(**INDEX, **{"objective.kind": f'"{kind}"', "objective.batch": "50",
                                      "objective.n_train": "40"})
    problem = build(config)
    X, y = (problem.objective.X, problem.objective.y) if kind == "empirical" else \
        problem.objective.population.sample(40, 0)
    U = problem.teacher.a.T
    z = X @ U
    assert np.allclose(y[:, 0], z[:, 0] + 0.5 * z[:, 0] * z[:, 1])


@pytest.mark.parametrize("flags,message", [
    (["--teacher.kind", "lookup"], "teacher.kind: must be one of network, index"),
    (["--teacher.kind", "index"], "teacher.hermite: an index teacher needs its coefficients"),
    (["--teacher.kind", "index", "--teacher.hermite", "[[1, 1.0], [1, 1, 0.5]]"],
     "teacher.hermite: every row needs the same number"),
    (["--teacher.kind", "index", "--teacher.hermite", '{"-1" = 1.0}'], "teacher.hermite:"),
    (["--teacher.kind", "index", "--teacher.hermite", '{"x" = 1.0}'], "teacher.hermite:"),
    (["--teacher.kind", "index", "--teacher.hermite", '{"1,1,1" = 1.0}'],
     "teacher.hermite: r = 3 directions need d >= r, got d = 2"),
    (["--teacher.kind", "index", "--teacher.hermite", '{"2" = 1.0}', "--teacher.directions",
      "diagonal"], "teacher.directions: must be one of random, canonical"),
    (["--teacher.kind", "index", "--teacher.hermite", '{"2" = 1.0}', "--objective.inputs",
      "sphere"], "objective.inputs: an index teacher needs Gaussian inputs"),
    (["--teacher.kind", "index", "--teacher.hermite", '{"2" = "one"}'], "teacher.hermite:"),
    (["--teacher.kind", "index", "--teacher.hermite", "three"],
     "teacher.hermite: must be a list of lists of numbers"),
    # a field only the other kind reads is refused, not silently unused
    (["--teacher.directions", "canonical"], "teacher.directions: only read by an index"),
    (["--teacher.hermite", '{"2" = 1.0}'], "teacher.hermite: only read by an index"),
    (["--teacher.kind", "index", "--teacher.hermite", '{"2" = 1.0}', "--teacher.input",
      "orthonormal"], "teacher.input: not read by an index teacher"),
    (["--teacher.kind", "index", "--teacher.hermite", '{"2" = 1.0}', "--teacher.c", "[1.0]",
      "--teacher.a", "[[1.0, 0.0]]"], "teacher.c: not read by an index teacher")])
def test_bad_index_teachers_are_one_line_and_exit_2(tmp_path, capsys, small, flags, message):
    status, _, err = cli(capsys, "run", small, *flags, "--out", tmp_path / "run")
    assert status == 2, err
    assert message in one_line(err)
    assert not (tmp_path / "run").exists()
