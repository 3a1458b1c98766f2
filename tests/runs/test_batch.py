"""Batched sweeps: compatible cells run as one ensemble, with the same run directories and
results as unbatched runs; an interrupted ensemble resumes bit for bit."""
import json

import numpy as np
import pandas as pd
import pytest

import meanfield as mf
from meanfield.runs import batch, checkpoint, store
from meanfield.runs import run as run_module
from meanfield.runs.grid import expand

BASE = {"d": 3, "backend": "numpy", "t_end": 0.6,
        "student": {"m": 8}, "integrator": {"name": "momentum", "dt": 0.02, "tau": 0.1},
        "objective": {"kind": "empirical", "n_train": 30, "n_test": 10},
        "record": {"n": 12, "schedule": "log"}, "checkpoint": {"every_steps": 10}}
GRID = {"product": {"student.m": [8, 12], "integrator.dt": [0.02, 0.03]},
        "zip": {"student.init.tau": [0.5]}, "seeds": [0, 1]}


def test_groups_keep_incompatible_cells_apart_and_feed_every_worker():
    cells = expand(mf.Config.from_dict(BASE), GRID)
    groups = batch.groups(cells, workers=2)
    assert sum(len(g) for g in groups) == 8 and len(groups) == 4
    for g in groups:
        assert len({c.config.student.m for c in g}) == 1
    assert len(batch.groups(cells, workers=1)) == 2
    assert len(batch.groups(cells, workers=1, max_members=3)) == 4


def test_batched_sweep_equals_unbatched(tmp_path):
    base = mf.Config.from_dict(BASE)
    on = mf.sweep(base, GRID, tmp_path / "on", workers=1, progress=False)
    off = mf.sweep(base, GRID, tmp_path / "off", workers=1, progress=False, batch=False)
    assert on.ok and off.ok
    drop = ["wall_time"]
    pd.testing.assert_frame_equal(on.table.drop(columns=drop), off.table.drop(columns=drop),
                                  check_exact=True)
    cell = on.table["cell"][0]
    metrics = json.loads((tmp_path / "on" / "cells" / cell / store.METRICS).read_text())
    assert metrics["batched"] == 4
    a = store.read_npz(tmp_path / "on" / "cells" / cell / store.TRAJECTORY)
    b = store.read_npz(tmp_path / "off" / "cells" / cell / store.TRAJECTORY)
    assert np.array_equal(a["snapshots"], b["snapshots"])


def _group(tmp_path, name, config):
    cells = expand(config, {"product": {"student.init.tau": [0.5, 1.0]}, "seeds": [0, 1]})
    dirs = [str(tmp_path / name / c.id) for c in cells]
    return cells, dirs, [c.config.to_json() for c in cells]


def test_an_interrupted_ensemble_resumes_bit_for_bit(tmp_path, monkeypatch):
    config = mf.Config.from_dict({**BASE, "objective": {"kind": "population"},
                                  "integrator": {"name": "adaptive", "dt": 0.01}})
    cells, ref_dirs, jsons = _group(tmp_path, "ref", config)
    assert all(o["status"] == "done" for o in batch.run_group(ref_dirs, jsons))
    _, dirs, _ = _group(tmp_path, "cut", config)
    original, calls = checkpoint.save_checkpoint, []

    def crash(*args):
        original(*args)
        calls.append(1)
        if len(calls) == 12:
            raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "save_checkpoint", crash)
    with pytest.raises(KeyboardInterrupt):
        batch.run_group(dirs, jsons)
    monkeypatch.setattr(run_module, "save_checkpoint", original)
    steps = [checkpoint.load_checkpoint(d)[0].step for d in dirs]
    assert max(steps) > 0
    outcomes = batch.run_group(dirs, jsons)
    assert all(o["status"] == "done" for o in outcomes)
    for d, r in zip(dirs, ref_dirs, strict=False):
        got, want = (store.read_npz(f"{x}/{store.TRAJECTORY}") for x in (d, r))
        for key in ("snapshots", "final", "risk", "times", "steps"):
            assert np.array_equal(got[key], want[key]), key
        attempts = json.loads(open(f"{d}/{store.ATTEMPTS}").read())
        assert [a["mode"] for a in attempts] == ["run", "resume"]
    single = mf.run(cells[3].config, tmp_path / "single").trajectory
    assert np.array_equal(single.final.w, store.read_npz(f"{ref_dirs[3]}/trajectory.npz")["final"])


def test_a_diverging_member_is_recorded_and_the_others_finish(tmp_path):
    config = mf.Config.from_dict({**BASE, "t_end": 2.0,
                                  "integrator": {"name": "euler", "dt": 0.5}})
    cells, dirs, jsons = _group(tmp_path, "div", config)
    jsons = [c.config.override({"student.init.tau": "10.0"}).to_json() if i == 1 else j
             for i, (c, j) in enumerate(zip(cells, jsons, strict=False))]
    outcomes = batch.run_group(dirs, jsons)
    statuses = [o["status"] for o in outcomes]
    assert statuses.count("diverged") == 1 and statuses[1] == "diverged"
    with pytest.raises(mf.Divergence) as err:
        mf.run(mf.Config.from_json(jsons[1]), tmp_path / "alone")
    assert outcomes[1]["message"] == str(err.value)
