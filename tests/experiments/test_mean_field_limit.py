"""The m -> infinity study, global convergence and the noisy dynamics experiments."""
import json

import numpy as np
import pytest

from meanfield import Config, Network
from meanfield.experiments import global_convergence as gc
from meanfield.experiments import mean_field_limit as limit
from meanfield.experiments import noisy_dynamics as noisy
from meanfield.model.network import coupled_indices
from meanfield.runs import store
from meanfield.runs.run import build
from meanfield.runs.store import CELLS


def test_coupled_indices_plain_and_symmetric():
    assert np.array_equal(coupled_indices(10, 4), [0, 1, 2, 3])
    assert np.array_equal(coupled_indices(10, 4, symmetric=True), [0, 1, 5, 6])
    with pytest.raises(ValueError):
        coupled_indices(10, 3, symmetric=True)


@pytest.mark.parametrize("symmetric", [False, True])
def test_config_coupling_takes_the_reference_particles(symmetric):
    base = Config.from_dict({"d": 3, "student": {"m": 64, "init": {"symmetric": symmetric}}})
    ref = build(base).student.w
    small = build(limit.study_config(base, 64).override({"student.m": "8"})).student
    assert np.array_equal(small.w, ref[coupled_indices(64, 8, symmetric)])
    if symmetric:  # the small system is itself symmetrised: f(w0) = 0
        X = np.random.default_rng(0).standard_normal((5, 3))
        assert np.allclose(small(X), 0.0)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("limit")
    result = limit.mean_field_limit(out, ms=(8, 128), M=512, seeds=[0, 1], d=3, t_end=1.0,
                                 ref_points=128, workers=1)
    return out, result


def test_deviation_decreases_with_m(study):
    _, result = study
    dev = result["agg"]["deviation_mean"]
    assert np.all(dev[:, 0] == 0)  # coupled start
    assert dev[0, -1] > 2 * dev[1, -1] > 0
    assert result["agg"]["w2_baseline_mean"].min() > 0


def test_relu_invariant_preserved_in_limit_runs(study):
    out, _ = study
    for cell in (out / CELLS).iterdir():
        snaps = store.read_npz(cell / store.TRAJECTORY)["snapshots"]
        inv = snaps[..., 0] ** 2 - np.sum(snaps[..., 1:] ** 2, axis=-1)
        assert np.max(np.abs(inv[-1] - inv[0])) < 0.05 * (1 + np.max(np.abs(inv[0])))


def test_limit_summary_fields(study):
    summary = limit.limit_summary(study[1])
    for key in ("m", "coupled_deviation", "w2", "w2_baseline", "risk_gap",
                "slope_coupled_deviation", "slope_risk_gap"):
        assert key in summary
    json.dumps(summary)
    assert summary["slope_coupled_deviation"] < 0


def test_global_convergence_summary_fields(tmp_path):
    summary = gc.global_convergence(tmp_path, d=3, ms=(2, 6), seeds=1, t_end=5.0,
                                    activations=("relu",), workers=1)
    rows = summary["relu"]
    assert rows["m"] == [2, 6]
    assert len(rows["excess_risk_median"]) == 2 and len(rows["success_fraction"]) == 2
    assert all(0 <= f <= 1 for f in rows["success_fraction"])


def test_gibbs_check_reports_w2_against_time():
    teacher = Network.init(2, 2, sphere=True, output="sign", alpha=2.0, seed=1)
    student = Network.init(32, 2, tau=0.5, seed=2)
    res = noisy.gibbs_check(teacher, student, 0.05, 0.5, 0.05, 1.0, records=2,
                            n_gibbs=64, t_mix=2.0)
    assert len(res["times"]) == len(res["w2_to_gibbs"]) == len(res["w2_baseline"]) == 2
    assert all(v > 0 for v in res["w2_baseline"])
