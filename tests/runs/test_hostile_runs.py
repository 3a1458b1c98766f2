"""Runs that never lie, part two: links, wrong content in valid files, any number, any
path, closed pipes, sweeps that agree with themselves, and the Python API's dimension
checks. Each test is one hostile case of a new or unlucky user."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from small_runs import cli, metrics_of, one_line, small_config, small_sweep, snapshot

import meanfield as mf
from meanfield.runs import store

#: `meanfield ARGS` in a fresh interpreter, whatever the console script's location
MEANFIELD = [sys.executable, "-c", "import sys; from meanfield.cli import main; "
                                   "sys.exit(main())"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished run (t_end 0.4, checkpoints every 2 steps, so both checkpoint files
    exist) and the same run extended to 0.6 from an intact copy: the reference."""
    base = tmp_path_factory.mktemp("finished")
    config = small_config(t_end=0.4, **{"integrator.dt": 0.1, "checkpoint.every_steps": 2})
    mf.run(config, base / "run", progress=False)
    shutil.copytree(base / "run", base / "longer")
    mf.resume(base / "longer", progress=False, t_end=0.6)
    return base


@pytest.fixture
def run_dir(finished, tmp_path):
    shutil.copytree(finished / "run", tmp_path / "run")
    return tmp_path / "run"


# -- a refused extension leaves the run untouched ------------------------------------------
@pytest.mark.parametrize("t_end", ["1e308", "1e20", "inf", "0.2"])
def test_a_refused_extension_leaves_the_finished_run_untouched_and_loadable(
        capsys, run_dir, t_end):
    before = snapshot(run_dir)
    status, _, err = cli(capsys, "resume", run_dir, "--t_end", t_end, "--no-progress")
    assert status == 2 and one_line(err).startswith("meanfield: error: t_end: ")
    assert snapshot(run_dir) == before
    assert mf.load(run_dir).trajectory.times[-1] == 0.4
    assert cli(capsys, "resume", run_dir, "--t_end", "0.6", "--no-progress")[0] == 0


# -- links and special files -----------------------------------------------------------------
def test_a_lock_file_linked_out_of_the_run_is_never_written(capsys, run_dir, tmp_path):
    outside = tmp_path / "precious.txt"
    outside.write_text("precious")
    (run_dir / store.LOCK).unlink(missing_ok=True)
    (run_dir / store.LOCK).symlink_to(outside)
    before = snapshot(run_dir)
    status, _, err = cli(capsys, "resume", run_dir, "--t_end", "0.6", "--no-progress")
    assert status == 1 and "meanfield.lock: is a symbolic link" in one_line(err)
    assert outside.read_text() == "precious" and snapshot(run_dir) == before
    for command in ("show", "resume"):  # readers (resume of a finished run) take no lock
        assert cli(capsys, command, run_dir)[0] == 0
    assert outside.read_text() == "precious"


@pytest.mark.parametrize("name", [store.METRICS, store.CONFIG, store.TRAJECTORY])
def test_a_file_linked_out_of_the_run_is_refused_naming_it(capsys, run_dir, tmp_path, name):
    """Even a link to an identical copy: meanfield never follows a link out of a run."""
    copy = tmp_path / f"copy-{name}"
    shutil.copy(run_dir / name, copy)
    (run_dir / name).unlink()
    (run_dir / name).symlink_to(copy)
    status, _, err = cli(capsys, "plot" if name == store.TRAJECTORY else "show", run_dir)
    assert status == 1 and f"{name}: is a symbolic link" in one_line(err)


@pytest.mark.parametrize("inside", [False, True])
def test_plot_never_draws_through_a_link(capsys, monkeypatch, run_dir, tmp_path, inside):
    import meanfield.plots.runs as plots

    monkeypatch.setattr(plots, "plot_run", lambda result, out=None, gif=False: [])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    figures = run_dir / store.FIGURES
    if inside:
        figures.mkdir(exist_ok=True)
        (figures / "risk.png").symlink_to(elsewhere / "risk.png")
    else:
        shutil.rmtree(figures, ignore_errors=True)
        figures.symlink_to(elsewhere)
    status, _, err = cli(capsys, "plot", run_dir)
    assert status == 1 and "is a symbolic link" in one_line(err)
    assert list(elsewhere.iterdir()) == []


def test_a_sweep_cell_linked_out_of_the_sweep_is_failed_and_never_written(capsys, tmp_path):
    out = small_sweep(tmp_path)
    cell = sorted((out / "cells").iterdir())[0]
    moved = tmp_path / "moved"
    cell.rename(moved)
    cell.symlink_to(moved)
    before = snapshot(moved)
    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text('[base]\nbackend = "numpy"\nt_end = 0.2\n[base.student]\nm = 8\n'
                          '[base.teacher]\nm = 3\n[base.integrator]\ndt = 0.05\n'
                          '[grid]\nseeds = 2\n')
    status, _, err = cli(capsys, "sweep", sweep_file, "--out", out)  # no cluster needed
    assert status == 1 and f"{cell.name}: is a symbolic link" in one_line(err)
    assert snapshot(moved) == before


def test_a_path_with_a_line_break_keeps_errors_on_one_line(capsys, tmp_path):
    status, _, err = cli(capsys, "show", tmp_path / "no\nsuch")
    assert status == 2 and "no\\nsuch is not a directory" in one_line(err)


def test_a_fifo_in_place_of_a_file_does_not_hang(capsys, run_dir):
    (run_dir / store.METRICS).unlink()
    os.mkfifo(run_dir / store.METRICS)
    status, _, err = cli(capsys, "show", run_dir)
    assert status == 1 and "metrics.json: is not a regular file" in one_line(err)


# -- wrong content in valid files ------------------------------------------------------------
def _alter(path: Path, what: str) -> None:
    """Rewrite a checkpoint as a valid .npz whose content is wrong in one way."""
    data = dict(np.load(path))
    scalars, meta = json.loads(str(data["state"])), json.loads(str(data["meta"]))
    if what == "one particle fewer":
        data["w"], data["rec_snapshots"] = data["w"][:-1], data["rec_snapshots"][:, :-1]
    elif what == "float32 particles":
        data["w"] = data["w"].astype(np.float32)
    elif what == "no config":
        del meta["config"]
    elif what == "bad horizons":
        meta["t_ends"] = [5.0, 1.0]
    elif what == "a time beyond t_end":
        scalars["t"] = 5.0
    data["state"], data["meta"] = np.array(json.dumps(scalars)), np.array(json.dumps(meta))
    with open(path, "wb") as fh:
        np.savez(fh, **data)


@pytest.mark.parametrize("what", ["one particle fewer", "float32 particles", "no config",
                                  "bad horizons", "a time beyond t_end"])
@pytest.mark.parametrize("extend", [False, True])
def test_an_altered_checkpoint_falls_back_to_the_previous_one_and_says_so(
        capsys, finished, run_dir, what, extend):
    _alter(run_dir / store.CHECKPOINT, what)
    args = ["--t_end", "0.6"] if extend else []
    status, _, err = cli(capsys, "resume", run_dir, *args, "--no-progress")
    assert status == 0, err
    assert "resuming from checkpoint.previous.npz" in one_line(err)
    reference = mf.load(finished / ("longer" if extend else "run")).trajectory
    resumed = mf.load(run_dir).trajectory
    assert np.array_equal(resumed.final.w, reference.final.w)
    assert np.array_equal(resumed.times, reference.times)


@pytest.mark.parametrize("field, value", [
    ("t_ends", ["a", "b"]), ("t_ends", [0.1]), ("segments", 5), ("diagnostics", "x"),
    ("diagnostics", {"kappa": "k"}), ("diagnostics", {"displacement": [1.0]}),
    ("final_risk", "low"), ("phase", 3), ("format", "x"), ("steps", [0, 1.5, 2, 3, 4])])
def test_wrong_types_in_metrics_are_named_by_show_plot_and_resume(capsys, run_dir, field,
                                                                  value):
    metrics = metrics_of(run_dir)
    metrics[field] = value
    (run_dir / store.METRICS).write_text(json.dumps(metrics))
    for command in ("show", "plot", "resume"):
        status, _, err = cli(capsys, command, run_dir)
        assert status == 1 and f"metrics.json: {field}" in one_line(err), (command, err)


# -- sweeps -------------------------------------------------------------------------------------
def test_collect_reports_a_damaged_cell_as_failed_and_collects_the_others(capsys, tmp_path):
    out = small_sweep(tmp_path)
    bad, good = sorted((out / "cells").iterdir())
    metrics = metrics_of(bad)
    metrics["diagnostics"] = "x"
    (bad / store.METRICS).write_text(json.dumps(metrics))
    status, stdout, err = cli(capsys, "collect", out)
    assert status == 0 and "2 cells (" in stdout, err
    assert "1 done" in stdout and "1 failed" in stdout
    table = mf.collect(out, save=False).set_index("cell")
    assert table.loc[bad.name, "status"] == "failed"
    assert "metrics.json: diagnostics is not a table" in table.loc[bad.name, "message"]
    assert table.loc[good.name, "final_risk"] == metrics_of(good)["risk"][-1]


def test_a_sweep_its_table_and_its_attempts_agree_on_a_damaged_cell(capsys, tmp_path):
    """An interrupted cell whose two checkpoints are damaged: the sweep reports it failed
    on stderr, results.csv says failed with the same message, and so does the last
    attempt in its attempts.json."""
    out = small_sweep(tmp_path)
    cell = sorted((out / "cells").iterdir())[0]
    metrics = metrics_of(cell)
    metrics["status"] = "interrupted"
    (cell / store.METRICS).write_text(json.dumps(metrics))
    for name in (store.CHECKPOINT, store.CHECKPOINT_PREVIOUS):
        (cell / name).write_bytes((cell / name).read_bytes()[:100])
    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text('[base]\nbackend = "numpy"\nt_end = 0.2\n[base.student]\nm = 8\n'
                          '[base.teacher]\nm = 3\n[base.integrator]\ndt = 0.05\n'
                          '[grid]\nseeds = 2\n')
    status, _, err = cli(capsys, "sweep", sweep_file, "--out", out, "--workers", "1",
                         "--no-progress")
    line = one_line(err)
    assert status == 1 and line.startswith(f"meanfield: cell {cell.name} ") and \
        " failed: damaged: " in line, err
    row = mf.collect(out, save=False).set_index("cell").loc[cell.name]
    last = json.loads((cell / store.ATTEMPTS).read_text())[-1]
    assert row["status"] == "failed" and last["outcome"] == "failed"
    assert row["message"] == last["message"] and f"failed: {row['message']} (" in line


# -- any number ------------------------------------------------------------------------------
@pytest.mark.parametrize("overrides, field", [
    ({"integrator.dt": "5e-324"}, "integrator.dt"),
    ({"integrator.dt": "1e-300"}, "integrator.dt"),
    ({"t_end": "1e20"}, "t_end"),
    ({"integrator.name": "sgd", "integrator.batch": "99999999999"}, "integrator.batch"),
    ({"objective.kind": "online", "objective.batch": "99999999999"}, "objective.batch"),
    ({"d": "999999999"}, "d"),
    ({"diagnostics.probe": "99999999999"}, "diagnostics.probe"),
    ({"student.m": "99999999999"}, "student.m"),
    ({"student.init.tau": "1e308"}, "student.init.tau"),
    ({"student.init.tau": "1e300", "dtype": "float32"}, "student.init.tau")])
def test_every_derived_number_is_checked_before_anything_is_written(capsys, tmp_path, small,
                                                                    overrides, field):
    args = [x for k, v in overrides.items() for x in (f"--{k}", v)]
    status, _, err = cli(capsys, "run", small, *args, "--out", tmp_path / "R")
    assert status == 2 and one_line(err).startswith(f"meanfield: error: {field}: "), err
    assert not (tmp_path / "R").exists()


# -- any path, closed pipes --------------------------------------------------------------------
def test_a_non_utf8_out_under_a_strict_utf8_stdout(tmp_path, small):
    out = os.fsencode(tmp_path) + b"/run-\xff"
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    done = subprocess.run([*MEANFIELD, "run", small, "--out", out, "--no-progress"],
                          capture_output=True, env=env, timeout=300)
    assert done.returncode == 0 and done.stderr == b"", done.stderr
    assert done.stdout.startswith(out + b": t = 1 after 20 steps")
    assert mf.load(os.fsdecode(out)).trajectory.times[-1] == 1.0


def test_a_closed_pipe_ends_quietly(finished):
    proc = subprocess.Popen([*MEANFIELD, "show", finished / "run"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before anything is printed (`| head -0`)
    err = proc.stderr.read()
    assert proc.wait(timeout=300) in (0, 141) and err == b""


# -- signals ----------------------------------------------------------------------------------
def _run(small, tmp_path):
    return subprocess.Popen([*MEANFIELD, "run", small, "--out", tmp_path / "R", "--t_end",
                             "20000", "--integrator.dt", "0.001", "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_t(run_dir: Path, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if metrics_of(run_dir)["t"] > 0:
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.02)
    pytest.fail("the run did not start in time")


@pytest.mark.slow  # ~30 s; the default run keeps the property test's signal moments
def test_sigint_twice_gives_one_line(tmp_path, small):
    proc = _run(small, tmp_path)
    try:
        _wait_for_t(tmp_path / "R", proc)
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert one_line(err).startswith("meanfield: interrupted")
    assert metrics_of(tmp_path / "R")["status"] == "interrupted"


def test_sigstop_and_sigcont_change_nothing(tmp_path, small):
    proc = subprocess.Popen([*MEANFIELD, "run", small, "--out", tmp_path / "R",
                             "--checkpoint.every_steps", "5", "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    proc.send_signal(signal.SIGSTOP)
    time.sleep(0.5)
    proc.send_signal(signal.SIGCONT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and err == "", err
    reference = mf.run(mf.Config.load(tmp_path / "R" / store.CONFIG), tmp_path / "ref",
                       progress=False).trajectory
    assert np.array_equal(mf.load(tmp_path / "R").trajectory.final.w, reference.final.w)


# -- the Python API checks what the command line checks -------------------------------------
@pytest.mark.parametrize("backend", ["numpy", "numba", "auto"])
@pytest.mark.parametrize("kind", ["empirical", "population", "online"])
@pytest.mark.parametrize("integrator", ["euler", "sgd"])
def test_simulate_refuses_a_student_of_the_wrong_dimension(backend, kind, integrator):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 3)), rng.standard_normal(20)
    teacher = mf.Network.init(2, 3, seed=1)
    objective = {"empirical": lambda: mf.Empirical(X, y, backend=backend),
                 "population": lambda: mf.GaussianPopulation(teacher, backend=backend),
                 "online": lambda: mf.Online(teacher, batch=10, backend=backend)}[kind]()
    step = mf.integrators.euler(0.1) if integrator == "euler" else mf.integrators.sgd(0.1, 5)
    with pytest.raises(ValueError, match="^net: network has d=2, k=1 but the .* has d=3"):
        mf.simulate(mf.Network.init(4, 2, seed=0), objective, step, 0.3)
