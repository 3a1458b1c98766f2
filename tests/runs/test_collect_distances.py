"""results.csv's relative risk and ``meanfield collect --distances``, read back against the
runs themselves and meanfield.analysis.distances."""
import pandas as pd
import pytest
from small_runs import cli, one_line, small_config

import meanfield as mf
from meanfield.analysis import distances as metrics
from meanfield.runs import store


@pytest.fixture(scope="module")
def width_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("width") / "sweep"
    report = mf.sweep(small_config(), {"product": {"student.m": [4, 16]}, "seeds": [0, 1]},
                      out, workers=1, progress=False)
    assert report.ok
    return out


def test_relative_risk_is_the_final_risk_over_the_risk_at_t0(width_sweep):
    table = mf.collect(width_sweep)
    for _, row in table.iterrows():
        traj = mf.load(width_sweep / store.CELLS / row["cell"]).trajectory
        assert traj.times[0] == 0
        assert row["initial_risk"] == pytest.approx(traj.risk[0], rel=1e-12)
        assert row["relative_risk"] == pytest.approx(traj.risk[-1] / traj.risk[0], rel=1e-12)
        assert row["relative_risk"] < 1  # gradient flow lowers the risk


def test_collect_distances_compares_each_width_with_its_seeds_widest_cell(
        width_sweep, capsys):
    status, out, _ = cli(capsys, "collect", width_sweep, "--distances")
    assert status == 0 and store.DISTANCES in out
    found = pd.read_csv(width_sweep / store.DISTANCES)
    assert sorted(found["seed"]) == [0, 1] and (found["student.m"] == 4).all()
    assert (found["reference_width"] == 16).all()
    for _, row in found.iterrows():
        small = mf.load(width_sweep / store.CELLS / row["cell"]).trajectory.final.w
        wide = mf.load(width_sweep / store.CELLS / row["reference_cell"])
        assert wide.config.seed == row["seed"] and wide.config.student.m == 16
        assert row["distance"] == pytest.approx(metrics.w2(small, wide.trajectory.final.w),
                                                rel=1e-9)
        assert row["baseline"] > 0 and row["ratio"] == pytest.approx(
            row["distance"] / row["baseline"])


def test_collect_distances_refuses_a_bad_axis_before_writing(width_sweep, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in width_sweep.iterdir()}
    for args in (["--distances", "student.x"], ["--distances", "--distance", "l1"]):
        status, _, err = cli(capsys, "collect", width_sweep, *args)
        assert status == 2 and ("student.x" in one_line(err) or "l1" in one_line(err))
    assert {p.name: p.stat().st_mtime_ns for p in width_sweep.iterdir()} == before


def test_plot_success_fractions_from_the_command_line(width_sweep, capsys, tmp_path):
    status, _, err = cli(capsys, "plot", width_sweep, "--success", "R/R0<", "--out",
                         tmp_path / "bad")
    assert status == 2 and "success" in one_line(err) and not (tmp_path / "bad").exists()
    status, out, _ = cli(capsys, "plot", width_sweep, "--success", "R/R0<1e-4", "--out",
                         tmp_path / "fig")
    assert status == 0
    names = {p.name for p in (tmp_path / "fig").iterdir()}
    assert {"success_vs_student-m.png", "final_risk_vs_student-m.png"} <= names
