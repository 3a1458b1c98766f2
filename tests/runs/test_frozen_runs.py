"""Frozen parameter groups in run configs and on the command line: round trips, runs and
resumed runs that keep the frozen groups bit for bit, bad values with one line and exit 2."""
import numpy as np
import pytest

import meanfield as mf

from .small_runs import cli, one_line, small_config


@pytest.mark.parametrize("value,groups", [("c", ("c",)), ('["a"]', ("a",)),
                                          ('["b", "c"]', ("c", "b"))])
def test_frozen_round_trips_through_toml_and_json(value, groups):
    config = small_config(**{"student.frozen": value, "student.bias": "true"})
    assert tuple(sorted(config.student.frozen)) == tuple(sorted(groups))
    assert mf.Config.from_toml(config.to_toml()) == config
    assert mf.Config.from_json(config.to_json()) == config
    assert "frozen" not in small_config().to_toml()  # unset: not written


def test_a_frozen_run_and_its_extension_keep_the_frozen_group(tmp_path, capsys):
    """`meanfield run --student.frozen c`: every snapshot keeps c; extending the run
    (resume with a later t_end) continues with c still fixed and the config kept."""
    config = small_config(**{"student.frozen": "c"})
    path = tmp_path / "config.toml"
    path.write_text(config.to_toml())
    status, _, err = cli(capsys, "run", path, "--out", tmp_path / "run")
    assert status == 0, err
    result = mf.load(tmp_path / "run")
    snaps = result.trajectory.snapshots
    assert np.array_equal(snaps[:, :, 0], np.broadcast_to(snaps[0, :, 0], snaps[:, :, 0].shape))
    assert not np.array_equal(snaps[-1, :, 1:], snaps[0, :, 1:])
    longer = mf.resume(tmp_path / "run", t_end=2.0)
    assert longer.config.student.frozen == ("c",)
    assert np.array_equal(longer.trajectory.final.w[:, 0], snaps[0, :, 0])
    straight = mf.run(config.override({"t_end": "2.0"}), tmp_path / "straight")
    assert np.array_equal(straight.trajectory.final.w, longer.trajectory.final.w)


@pytest.mark.parametrize("value,message", [
    ("w", "student.frozen: unknown parameter group 'w'"),
    ("b", "student.frozen: group 'b' needs a network with biases"),
    ('["c", "a"]', "student.frozen: every parameter group"),
    ("3", "student.frozen: must be a list of strings")])
def test_bad_frozen_values_are_one_line_and_exit_2(tmp_path, capsys, small, value, message):
    status, _, err = cli(capsys, "run", small, "--student.frozen", value, "--out",
                         tmp_path / "run")
    assert status == 2
    assert message in one_line(err)


def test_run_diagnostics_train_the_tangent_model_with_the_same_frozen_groups(tmp_path):
    """With diagnostics.tangent the tangent model is trained with c frozen too: the run
    finishes, and its linearised twin (a Frozen Tangent) has zero c-velocity."""
    from meanfield.runs.diagnose import tangent_model
    from meanfield.runs.run import build

    config = small_config(**{"student.frozen": "c", "objective.kind": '"empirical"',
                             "diagnostics.probe": 10, "diagnostics.tangent": "true"})
    problem = build(config)
    lin = tangent_model(problem.objective, problem.student)
    v = lin.velocity(problem.student.with_w(problem.student.w + 0.1))
    assert not v[:, 0].any() and v[:, 1:].any()
    result = mf.run(config, tmp_path / "run")
    assert result.status == "done"
    assert result.trajectory.final.c.tolist() == problem.student.c.tolist()
