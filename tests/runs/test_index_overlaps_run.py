"""A run with an index teacher records the overlaps of its neurons with span(U) in
metrics.json (diagnostics), equal to the function on its recorded snapshots; a network
teacher records none."""
import meanfield as mf
from meanfield.analysis.overlaps import overlaps_along
from meanfield.plots.runs import index_figure, plot_run
from meanfield.runs import rundir

from .small_runs import small_config

INDEX = {"d": 4, "teacher.kind": '"index"', "teacher.hermite": '{"1,0" = 1.0, "1,1" = 0.5}'}


def test_index_runs_record_the_overlaps_of_their_snapshots(tmp_path):
    result = mf.run(small_config(**INDEX), tmp_path / "run")
    metrics = rundir.read_metrics(tmp_path / "run")        # checked field by field
    U = result.teacher.a.T                                 # the stand-in holds u_1, u_2
    along = overlaps_along(result.trajectory.snapshots, result.trajectory.final.layout, U)
    for key in ("mean", "fraction", "max"):
        assert metrics["diagnostics"][f"overlap_{key}"] == along[key].tolist()
    # the student learns the target: its |c|-weighted overlap with span(U) grows
    assert along["mean"][-1] > along["mean"][0]
    plain = mf.run(small_config(), tmp_path / "plain")
    assert "diagnostics" not in rundir.read_metrics(plain.run_dir)


def test_plotting_an_index_run_draws_each_neurons_overlap_and_the_plane(tmp_path):
    result = mf.run(small_config(**INDEX), tmp_path / "run")
    written = plot_run(result)
    assert {p.name for p in written} >= {"overlaps.png", "overlaps.pdf", "loss.png"}
    traj = result.trajectory
    fig = index_figure(traj.snapshots, traj.times, traj.final.layout, result.teacher.a.T, "r")
    curves, plane = fig.axes[:2]
    along = overlaps_along(traj.snapshots, traj.final.layout, result.teacher.a.T)
    per_neuron = [line.get_ydata() for line in curves.lines[:traj.final.m]]
    for i, values in enumerate(per_neuron):               # grey lines: |P_U a_i| / |a_i|
        assert list(values) == along["span"][:, i].tolist()
    labelled = {line.get_label(): line.get_ydata() for line in curves.lines}
    assert list(labelled["max"]) == along["max"].tolist()
    assert plane.get_xlabel() == "$u_1 \\cdot a_i / |a_i|$"
