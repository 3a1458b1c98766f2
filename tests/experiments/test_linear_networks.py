"""Tu, Aranguri & Jacot's experiments on linear networks (meanfield.experiments.linear_networks)."""
import numpy as np
import pytest

from meanfield import linear
from meanfield.experiments import linear_networks as lx


@pytest.mark.parametrize("gammas, bound", [((-1.85, 2.25), 0.05),
                                           pytest.param((-0.9, 2.25), 0.05,
                                                        marks=pytest.mark.slow)])
def test_gd_close_to_self_consistent_d80(gammas, bound):
    """Theory §9 sanity check: at d = 80 GD and the discretised SC equation stay
    within 5% relative Frobenius distance over 100 steps in these two regimes (the
    second, ~10 s, with the slow checks)."""
    task = linear.make_task(80, seed=0)
    run = lx.compare(task, *gammas, steps=100, method="gram", seed=1)
    summary = lx.figure1_summary(run)
    assert summary["rel_distance_gd_selfconsistent"] < bound
    assert summary["min_test_error_gd"] < 0.6 * run["test_gd"][0]


def test_phase_diagram_cells_resume_and_match_direct_calls(tmp_path):
    """The phase diagram is one function cell per (gamma_sigma2, gamma_w): each cell equals
    a direct phase_cell on the same task and seed, and a rerun keeps the cells."""
    from meanfield.runs import store

    task = linear.make_task(12, k=2, seed=3)
    gs, gw = [-1.5, -1.0], [1.0]
    first = lx.phase_diagram(tmp_path / "pd", 12, gs, gw, k=2, steps=20, seed=3, workers=1)
    direct = lx.phase_cell(task, gs[1], gw[0], steps=20, divisor=50.0, seed=(3, 1, 0))
    assert first["min_test_error"][1, 0] == direct["min_test_error"]
    assert first["rank"][1, 0] == direct["rank"]
    cells = sorted((tmp_path / "pd" / store.CELLS).glob(f"*/{store.RESULT}"))
    assert len(cells) == 2
    stamps = [c.stat().st_mtime_ns for c in cells]
    again = lx.phase_diagram(tmp_path / "pd", 12, gs, gw, k=2, steps=20, seed=3, workers=1)
    assert [c.stat().st_mtime_ns for c in cells] == stamps
    assert np.array_equal(again["min_test_error"], first["min_test_error"])
