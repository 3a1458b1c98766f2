"""The certified global-convergence experiment: certificates of end points, their reduction
per m, and the time-to-tolerance bench of the integrators."""
import numpy as np
import pytest

import meanfield as mf
from meanfield.experiments import global_convergence as gc
from meanfield.experiments.time_to_tolerance import METHODS, Counting, time_to_tolerance
from meanfield.runs.config import Config


@pytest.fixture(scope="module")
def small():
    """A relu teacher of 2 units in d = 3 and a student of 2 units next to it."""
    teacher = mf.Network.init(2, 3, "relu", sphere=True, output="sign", seed=4)
    pop = mf.GaussianPopulation(teacher, backend="numpy")
    w = teacher.w + 0.1 * np.random.default_rng(0).standard_normal(teacher.w.shape)
    zero = teacher.w.copy()
    zero[:, teacher.layout.c] = 0.0
    return teacher.with_w(w), pop, float(pop.risk(teacher.with_w(zero)))


def test_certify_point_finds_the_global_minimum_next_to_the_teacher(small):
    """Its risk is zero up to the rounding of R, a difference of O(R(0)) pair terms
    (0 with OpenBLAS's Haswell kernels, 5e-17 with its Sandybridge ones)."""
    net, pop, r0 = small
    refined, report, result = gc.certify_point(net, pop)
    assert report["success"] and report["method"] == "least-squares"
    assert result["kind"] == "global minimum" and result["risk"] < 1e-13 * r0


@pytest.mark.parametrize("method", METHODS)
def test_time_to_tolerance_reaches_it_and_counts(small, method):
    net, pop, r0 = small
    row = time_to_tolerance(net, pop, method, r0, max_evaluations=50_000)
    assert row["reached"] and row["relative_risk"] < 1e-10
    assert row["velocity_evaluations"] > 0 and row["seconds"] > 0
    assert (row["hessians"] > 0) == (method in ("Radau", "flow+refine"))
    assert (row["refines"] > 0) == (method == "flow+refine")


def test_time_to_tolerance_gives_up_at_the_budget(small):
    net, pop, r0 = small
    row = time_to_tolerance(net, pop, "euler", r0, max_evaluations=50)
    assert not row["reached"] and 50 < row["velocity_evaluations"] <= 60
    with pytest.raises(ValueError, match="method must be one of"):
        time_to_tolerance(net, pop, "newton", r0)


def test_counting_objective_is_transparent(small):
    net, pop, _ = small
    counting = Counting(pop)
    traj = mf.simulate(net, counting, mf.integrators.euler(0.1), 1.0,
                       record=mf.LinearSchedule(2))
    assert counting.velocities == 10 and counting.hessians == 0
    assert traj.risk[-1] == pytest.approx(
        mf.simulate(net, pop, mf.integrators.euler(0.1), 1.0,
                    record=mf.LinearSchedule(2)).risk[-1], rel=0, abs=0)


def _cert(m, seed, kind, relative_risk, degenerate=False, compared=True):
    cert = {"m": m, "seed": seed, "kind": kind, "relative_risk": relative_risk,
            "flow_relative_risk": relative_risk, "n_negative": int(kind == "saddle"),
            "min_eig": -1.0 if kind == "saddle" else 0.0, "degenerate": degenerate}
    if compared:
        cert["time_to_tolerance"] = {
            method: {"reached": kind == "global minimum", "t": 10.0 * (seed + 1),
                     "velocity_evaluations": 100 * (seed + 1), "hessians": 0,
                     "seconds": 0.5 * (seed + 1)} for method in METHODS}
    return cert


def test_reduce_certificates_fractions_and_medians():
    certs = [_cert(3, 0, "local minimum", 0.05, compared=False),
             _cert(3, 1, "local minimum", 0.05 * (1 + 1e-9), compared=False),
             _cert(3, 2, "local minimum", 0.2, compared=False),
             _cert(3, 3, "saddle", 0.3, compared=False),
             _cert(5, 0, "global minimum", 1e-30),
             _cert(5, 1, "local minimum", 0.1, degenerate=True),
             _cert(5, 2, "global minimum", 0.0),
             _cert(5, 3, "not a critical point", 0.01)]
    rows = gc.reduce_certificates(certs, m0=5)
    assert rows["m"] == [3, 5]
    # m < m0: the two minima at the lowest risk found count as global, the third spurious
    assert rows["kinds"][0] == ["global minimum", "global minimum", "spurious local minimum",
                                "saddle"]
    assert [rows[k][1] for k in gc.KINDS] == [0.5, 0.25, 0.0, 0.25]
    assert rows["degenerate"] == [0, 1]
    euler = rows["time_to_tolerance"]["euler"]
    assert euler["compared"] == [0, 4] and euler["reached"] == [None, 0.5]
    assert euler["seconds"] == [None, 1.0] and euler["t"] == [None, 20.0]
    table = gc.certified_markdown({"m0": 5, "relu": {"certified": rows}})
    assert "| spurious local minimum | 0.25 | 0.25 |" in table
    assert "| euler | 2/4: 200 / 1 s |" in table


def test_certify_cell_on_a_run_directory(tmp_path):
    config = Config.from_dict({
        "d": 3, "t_end": 30.0, "backend": "numpy", "seed": 1,
        "teacher": {"m": 2, "activation": "relu"},
        "student": {"m": 3, "activation": "relu", "init": {"tau": 0.5}},
        "integrator": {"name": "adaptive", "dt": 0.01, "dt_max": 5.0}, "record": {"n": 5}})
    mf.run(config, tmp_path / "run", progress=False)
    cert = gc.certify_cell(str(tmp_path / "run"), compare=True, max_evaluations=1000)
    assert cert["m"] == 3 and cert["seed"] == 1 and cert["activation"] == "relu"
    assert cert["kind"] in ("global minimum", "local minimum", "saddle",
                            "not a critical point")
    assert cert["relative_risk"] <= cert["flow_relative_risk"] * 1.5
    assert set(cert["time_to_tolerance"]) == set(METHODS)
    rows = gc.reduce_certificates([cert], m0=2)
    assert sum(rows[k][0] for k in gc.KINDS) == pytest.approx(1.0)


def test_global_convergence_certify_end_to_end(tmp_path):
    summary = gc.global_convergence(tmp_path, d=3, ms=(1, 2), seeds=1, t_end=20.0, m0=2,
                                    activations=("relu",), workers=1, backend="numpy",
                                    certify=True, max_evaluations=500)
    rows = summary["relu"]["certified"]
    assert rows["m"] == [1, 2] and rows["failed_cells"] == 0
    assert summary["certify"]["methods"] == list(METHODS)
    assert rows["time_to_tolerance"]["Radau"]["compared"] == [0, 1]   # only m >= m0
    assert gc.certified_figure(summary) is not None
    again = gc.global_convergence(tmp_path, d=3, ms=(1, 2), seeds=1, t_end=20.0, m0=2,
                                  activations=("relu",), workers=1, backend="numpy",
                                  certify=True, max_evaluations=500)
    assert again["relu"]["certified"]["kinds"] == rows["kinds"]      # resumed, not rerun
