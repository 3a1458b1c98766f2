"""Sweeps on Dask: grid format, parallel = serial, SIGKILL and rerun, failed cells,
bad input, tables and figures. Every test leaves no Dask process behind."""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

import meanfield as mf
from meanfield import cli
from meanfield.runs import store
from meanfield.runs.checkpoint import load_checkpoint
from meanfield.runs.cluster import client as _client
from meanfield.runs.collect import collect_series
from meanfield.runs.grid import expand, load_sweep, parse_grid
from meanfield.runs.store import ATTEMPTS
from meanfield.runs.sweep import keops_warmups, write_manifest

BASE = {"d": 3, "backend": "numpy", "t_end": 0.5,
        "student": {"m": 8}, "integrator": {"name": "euler", "dt": 0.02},
        "objective": {"kind": "empirical", "n_train": 30, "n_test": 10},
        "record": {"n": 12, "schedule": "linear"}, "checkpoint": {"every_steps": 10}}
GRID = {"product": {"student.m": [8, 12], "integrator.dt": [0.02, 0.05]}, "seeds": [0, 1]}

SLOW_SWEEP = """\
[base]
d = 3
backend = "numpy"
t_end = 1.0
integrator = { name = "euler", dt = 0.0004 }
objective = { kind = "empirical", n_train = 30, n_test = 10 }
record = { n = 20, schedule = "linear" }
checkpoint = { every_steps = 50 }

[grid]
seeds = [0, 1]

[grid.product]
student.m = [8, 12]
student.init.tau = [0.5, 1.0]
"""


@pytest.fixture(autouse=True)
def no_leftover_processes():
    """Fail a test that leaves child processes (Dask workers) running; kill them."""
    yield
    children = [p for p in psutil.Process().children(recursive=True)
                if "resource_tracker" not in " ".join(_cmdline(p))]
    _, alive = psutil.wait_procs(children, timeout=15)
    alive = [p for p in alive if _status(p) != psutil.STATUS_ZOMBIE]  # exited
    for proc in alive:
        proc.kill()
    assert not alive, f"processes left running: {[p.pid for p in alive]}"


def _cmdline(proc):
    try:
        return proc.cmdline()
    except psutil.Error:
        return []


def _status(proc):
    try:
        return proc.status()
    except psutil.Error:
        return psutil.STATUS_ZOMBIE


def without_wall_time(table):
    return table.drop(columns=["wall_time"])


# -- grid format ---------------------------------------------------------------------------
def test_grid_expands_product_zip_and_seeds_in_order():
    base = mf.Config.from_dict(BASE)
    grid = {"product": {"student": {"m": [8, 16]}},
            "zip": [{"integrator.dt": [0.01, 0.02], "t_end": [1.0, 2.0]},
                    {"student.init.tau": [0.5, 1.0]}], "seeds": 2}
    cells = expand(base, grid)
    assert len(cells) == 2 * 2 * 2 * 2
    assert parse_grid(grid).axes == ["student.m", "integrator.dt", "t_end",
                                     "student.init.tau", "seed"]
    first, second, last = cells[0], cells[1], cells[-1]
    assert dict(first.values) == {"student.m": 8, "integrator.dt": 0.01, "t_end": 1.0,
                                  "student.init.tau": 0.5, "seed": 0}
    assert second.values["seed"] == 1 and second.values["student.init.tau"] == 0.5
    assert (last.config.student.m, last.config.integrator.dt, last.config.t_end,
            last.config.student.init.tau, last.config.seed) == (16, 0.02, 2.0, 1.0, 1)
    ids = [c.id for c in cells]
    assert len(set(ids)) == len(ids) and all(len(i) == 16 for i in ids)
    assert [c.id for c in expand(base, grid)] == ids  # stable
    assert parse_grid(parse_grid(grid).to_dict()) == parse_grid(grid)


def test_example_sweep_file_loads():
    base, grid = load_sweep(Path(__file__).parents[2] / "examples" / "SWEEP.toml")
    assert len(expand(base, grid)) == 3 * 2 * 2 * 3
    assert grid.groups == [["student.m"], ["student.alpha"],
                           ["student.init.tau", "integrator.dt"]]


def test_keops_warmup_plan_covers_keops_cells_only():
    # empirical objectives: an erf or tanh student beside a relu teacher needs no pair
    # kernel between them (the population risk would, and has none for relu targets)
    configs = [mf.Config.from_dict({"d": d, "backend": b, "dtype": t,
                                    "objective": {"kind": "empirical"},
                                    "student": {"activation": a, "bias": bias}})
               for d, b, t, a, bias in [(3, "keops", "float64", "relu", False),
                                        (3, "keops", "float32", "erf", False),
                                        (5, "numpy", "float64", "tanh", False),
                                        (4, "keops", "float64", "relu", True)]]
    plan = keops_warmups(configs)
    assert plan == [{"d": 3, "dtypes": ("float32", "float64"), "activations": ("erf", "relu"),
                     "bias": False},
                    {"d": 4, "dtypes": ("float64",), "activations": ("relu",), "bias": True}]
    # tests/backends/test_backends.py runs keops.warmup on such a plan (where the KeOps
    # formulas it compiles are compiled anyway) and checks that it covers what runs later


# -- running -------------------------------------------------------------------------------
def test_local_cluster_is_private_and_does_not_oversubscribe():
    with _client(None, 2) as client:
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        assert client.dashboard_link is None or "127.0.0.1" in client.dashboard_link

        def probe():
            import numba
            return os.environ["NUMBA_NUM_THREADS"], numba.get_num_threads()

        info = client.run(probe)
        assert len(info) == 2
        expected = max(1, (os.cpu_count() or 1) // 2)
        assert all(v == (str(expected), expected) for v in info.values())
        nthreads = client.nthreads()
        assert all(n == 1 for n in nthreads.values())
        assert all(a.startswith("tcp://127.0.0.1:") for a in nthreads)


def test_parallel_sweep_on_a_scheduler_equals_serial_runs(tmp_path):
    from dask.distributed import LocalCluster

    base = mf.Config.from_dict(BASE)
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        report = mf.sweep(base, GRID, tmp_path / "par", scheduler=cluster.scheduler_address,
                          progress=False)
    assert report.ok and len(report.table) == 8
    cells = expand(base, GRID)
    write_manifest(tmp_path / "ser", base, parse_grid(GRID), cells)
    for cell in cells:
        mf.run(cell.config, tmp_path / "ser" / "cells" / cell.id, progress=False)
    serial = mf.collect(tmp_path / "ser")
    assert (serial["status"] == "done").all()
    pd.testing.assert_frame_equal(without_wall_time(report.table), without_wall_time(serial),
                                  check_exact=True)
    pd.testing.assert_frame_equal(collect_series(tmp_path / "par"),
                                  collect_series(tmp_path / "ser"), check_exact=True)
    assert set(report.table["student.m"]) == {8, 12} and set(report.table["seed"]) == {0, 1}
    saved = pd.read_csv(tmp_path / "par" / "results.csv")
    assert list(saved.columns) == list(report.table.columns)
    assert (saved["final_risk"].to_numpy() == report.table["final_risk"].to_numpy()).all()
    series = pd.read_csv(tmp_path / "par" / "series.csv")
    assert {"t", "risk", "test_risk", "student.m", "seed"} <= set(series)
    assert series.groupby("cell").size().min() >= 5 and series["cell"].nunique() == 8
    assert (series["risk"].to_numpy() == collect_series(tmp_path / "par")["risk"]).all()


def _checkpoint_step(cell_dir):
    try:
        return load_checkpoint(cell_dir)[0].step
    except (OSError, ValueError, KeyError):
        return 0


def _statuses(cells_dir):
    out = {}
    for cell in cells_dir.iterdir() if cells_dir.exists() else ():
        metrics = cell / store.METRICS
        if metrics.exists():
            out[cell.name] = store.read_json(metrics)["status"]
    return out


@pytest.mark.slow  # a two-worker sweep killed and rerun: tens of seconds
def test_sigkill_midway_then_rerun_completes_without_restarting_cells(tmp_path):
    (tmp_path / "SWEEP.toml").write_text(SLOW_SWEEP)
    command = ["meanfield", "sweep", "SWEEP.toml", "--workers", "2", "--out", "killed"]
    cells_dir = tmp_path / "killed" / "cells"
    proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    try:
        while True:
            assert proc.poll() is None, "the sweep finished before it could be killed"
            assert time.monotonic() < deadline, "no cell finished in time"
            statuses = _statuses(cells_dir)
            done = [c for c, s in statuses.items() if s == "done"]
            partial = {c: _checkpoint_step(cells_dir / c) for c, s in statuses.items()
                       if s == "running"}
            # a cell well inside its run (2500 steps): members of an ensemble finish
            # together, so one near its last step may be done before the kill lands (on a
            # loaded machine the kill can land a few hundred steps after this check)
            if len(done) >= 2 and any(0 < step <= 1500 for step in partial.values()):
                break
            time.sleep(0.02)
        workers = psutil.Process(proc.pid).children(recursive=True)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _, alive = psutil.wait_procs(workers, timeout=15)
    assert not alive, "Dask workers outlived the killed client"
    at_kill = {c: _checkpoint_step(cells_dir / c) for c in _statuses(cells_dir)}
    finished_before = {c for c, s in _statuses(cells_dir).items() if s == "done"}
    assert 2 <= len(finished_before) < 8

    rerun = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    base, grid = load_sweep(tmp_path / "SWEEP.toml")
    reference = mf.sweep(base, grid, tmp_path / "reference", workers=2, progress=False)
    table = mf.collect(tmp_path / "killed")
    assert len(table) == 8 and (table["status"] == "done").all()
    pd.testing.assert_frame_equal(without_wall_time(table),
                                  without_wall_time(reference.table), check_exact=True)
    pd.testing.assert_frame_equal(collect_series(tmp_path / "killed"),
                                  collect_series(tmp_path / "reference"), check_exact=True)

    resumed_from = []
    for cell in table["cell"]:
        attempts = json.loads((cells_dir / cell / ATTEMPTS).read_text())
        assert [a["mode"] for a in attempts].count("run") == 1, f"{cell} started twice"
        if cell in finished_before:
            assert len(attempts) == 1, f"finished cell {cell} was run again"
        elif cell in at_kill:
            assert attempts[-1]["mode"] == "resume"
            assert attempts[-1]["from_step"] >= at_kill[cell]
            resumed_from.append(attempts[-1]["from_step"])
    assert any(step > 0 for step in resumed_from)


def test_diverging_cell_is_reported_while_the_others_finish(tmp_path, capsys):
    sweep_file = tmp_path / "div.toml"
    sweep_file.write_text(
        '[base]\nd = 3\nbackend = "numpy"\nt_end = 2.0\n'
        'integrator = { name = "euler", dt = 0.5 }\n'
        'objective = { kind = "empirical", n_train = 30 }\nrecord = { n = 10 }\n'
        '[grid.product]\nstudent.m = [8, 16]\nstudent.init.tau = [1.0, 10.0]\n')
    out = tmp_path / "div"
    status = cli.main(["sweep", str(sweep_file), "--out", str(out), "--workers", "2"])
    captured = capsys.readouterr()
    assert status == 1
    lines = captured.err.strip().splitlines()
    assert len(lines) == 2, captured.err
    for line in lines:
        assert "student.init.tau=10.0" in line and "diverged at step" in line
        assert "config.toml" in line
    assert "2/4 cells finished" in captured.out
    table = mf.collect(out)
    assert sorted(table["status"]) == ["diverged", "diverged", "done", "done"]
    assert (table[table["student.init.tau"] == 1.0]["status"] == "done").all()
    assert table[table["status"] == "diverged"]["message"].str.contains("dt=0.5").all()

    # a rerun does not recompute the deterministic divergences, and says the same
    assert cli.main(["sweep", str(sweep_file), "--out", str(out)]) == 1
    assert capsys.readouterr().err.strip().splitlines() == lines
    for cell in table["cell"]:
        assert len(json.loads((out / "cells" / cell / ATTEMPTS).read_text())) == 1

    # collect and plot from the command line
    assert cli.main(["collect", str(out)]) == 0
    assert "4 cells (2 done, 2 diverged)" in capsys.readouterr().out
    assert cli.main(["plot", str(out), "--out", str(tmp_path / "fig")]) == 0
    names = sorted(p.name for p in (tmp_path / "fig").iterdir())
    assert names == ["final_risk_heatmap_student-m_student-init-tau.pdf",
                     "final_risk_heatmap_student-m_student-init-tau.png",
                     "final_risk_vs_student-init-tau.pdf", "final_risk_vs_student-init-tau.png",
                     "final_risk_vs_student-m.pdf", "final_risk_vs_student-m.png"]
    assert cli.main(["plot", str(out), "--metric", "nonsense"]) == 2


MALFORMED = {
    "syntax": "[grid\n",
    "no_grid": "[base]\nd = 3\n",
    "unknown_table": "[grid]\nseeds = [0]\n[extra]\na = 1\n",
    "unknown_grid_key": "[grid]\nseed = [1]\n",
    "zip_lengths": "[grid.zip]\nt_end = [1.0, 2.0]\nd = [2]\n",
    "unknown_field": "[grid.product]\nstudent.mm = [1, 2]\n",
    "bad_value": "[grid.product]\nstudent.m = [8, 0]\n",
    "empty_axis": "[grid.product]\nstudent.m = []\n",
    "not_a_list": "[grid.product]\nstudent.m = 8\n",
    "seed_axis": "[grid.product]\nseed = [1, 2]\n",
    "bad_seeds": "[grid]\nseeds = [-1]\n",
    "duplicate_cells": "[grid.zip]\nt_end = [1.0, 1.0]\n",
    "twice": "[grid.product]\nt_end = [1.0]\n[grid.zip]\nt_end = [2.0]\n",
    "missing_base": 'base = "nope.toml"\n[grid]\nseeds = 2\n',
    "bad_base": "[base]\nstudent = { m = -3 }\n[grid]\nseeds = 2\n",
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_sweep_files_exit_2_with_one_line(tmp_path, capsys, name):
    path = tmp_path / f"{name}.toml"
    path.write_text(MALFORMED[name])
    out = tmp_path / "out"
    assert cli.main(["sweep", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("meanfield: error: ")
    assert not out.exists()


@pytest.mark.parametrize("flags", [["--workers", "0"], ["--workers", "two"]])
def test_bad_sweep_flags_exit_2(tmp_path, capsys, flags):
    path = tmp_path / "ok.toml"
    path.write_text("[grid]\nseeds = 2\n")
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "out"), *flags]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
