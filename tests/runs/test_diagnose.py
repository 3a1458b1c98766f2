"""Diagnostics recorded along runs (config section ``diagnostics``, meanfield.runs.diagnose)."""
import pytest

from meanfield.analysis import diagnostics as dg


def _diagnosed_run(tmp_path, alpha, tangent=True, activation="relu"):
    from meanfield.runs.config import Config
    from meanfield.runs.run import run

    config = Config.from_dict({
        "d": 5, "t_end": 2.0, "backend": "numpy",
        "teacher": {"m": 3, "activation": activation},
        "student": {"m": 40, "activation": activation, "alpha": alpha, "centered": True},
        "objective": {"kind": "empirical", "n_train": 30, "n_test": 20},
        "integrator": {"name": "euler", "dt": 0.05}, "record": {"n": 6},
        "diagnostics": {"probe": 20, "tangent": tangent}})
    return run(config, tmp_path / f"{activation}{alpha}")


def test_runs_record_diagnostics_in_metrics(tmp_path):
    """diagnostics.probe makes every run write the diagnostics at each record into
    metrics.json; they equal the functions applied to the saved snapshots, kappa is the
    one of the initial network on the training data, and collect() reports them."""
    import json

    from meanfield.runs.run import build

    result = _diagnosed_run(tmp_path, 1.0)
    diag = json.loads((result.run_dir / "metrics.json").read_text())["diagnostics"]
    traj, problem = result.trajectory, build(result.config)
    assert len(diag["kernel_change"]) == len(traj.times) == len(diag["tangent_distance"])
    assert diag["displacement"][0] == 0 and diag["tangent_distance"][0] == 0
    X = problem.test.X[:20]
    assert diag["kernel_change"][-1] == pytest.approx(
        dg.kernel_change(traj.final, problem.student, X), rel=1e-12)
    assert diag["activation_stability"][-1] == dg.activation_stability(
        traj.final, problem.student, X)
    assert diag["kappa"] == pytest.approx(
        dg.laziness_kappa(problem.student, problem.objective.X, problem.objective.y))


def test_large_alpha_runs_stay_near_their_tangent_model(tmp_path):
    """The recorded distance to the tangent model shrinks like 1/alpha (lazy theorem; erf,
    where no activation pattern flips), the kernel change too, and kappa = O(1/alpha)
    exactly for centred relu networks (kappa is None for erf: sigma'' != 0)."""
    small, large = (json_diag(_diagnosed_run(tmp_path, a, activation="erf"))
                    for a in (10.0, 100.0))
    ratio = large["tangent_distance_rel"][-1] / small["tangent_distance_rel"][-1]
    assert 0.07 < ratio < 0.15 and small["kappa"] is None  # measured 0.108
    assert large["kernel_change"][-1] < 0.15 * small["kernel_change"][-1]
    small, large = (json_diag(_diagnosed_run(tmp_path, a, tangent=False))
                    for a in (1.0, 100.0))
    assert large["kappa"] == pytest.approx(small["kappa"] / 100, rel=1e-6)


def json_diag(result):
    import json

    return json.loads((result.run_dir / "metrics.json").read_text())["diagnostics"]


def test_collect_reports_end_of_run_diagnostics(tmp_path):
    """A sweep's results table gets kappa and the end-of-run diagnostics of each cell."""
    import json

    from meanfield.runs.collect import _scalars

    metrics = json.loads((_diagnosed_run(tmp_path, 1.0).run_dir / "metrics.json").read_text())
    row = _scalars(metrics, "done")
    diag = metrics["diagnostics"]
    assert row["kappa"] == diag["kappa"] > 0
    assert row["final_kernel_change"] == diag["kernel_change"][-1] > 0
    assert row["final_tangent_distance_rel"] == diag["tangent_distance_rel"][-1]
