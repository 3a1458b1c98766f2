"""Runs that never lie (one test per case of the issue): they reach t_end or say why,
never write into foreign directories, and every failure is one line on stderr.

Most cases run the command in-process (``meanfield.cli.main`` with captured output);
signals, the lock between two processes and permissions use real subprocesses."""
import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from small_runs import cli, metrics_of, one_line, small_config, snapshot

import meanfield as mf
from meanfield.runs import checkpoint, store
from meanfield.runs import run as run_module


def interrupted_run(run_dir: Path, config: mf.Config, monkeypatch, after: int = 3,
                    name: str = store.CHECKPOINT):
    """A run stopped (KeyboardInterrupt) just after its ``after``-th save of ``name``."""
    original, calls = checkpoint.save_checkpoint, []

    def stop(*args):
        original(*args)
        if (args[4] if len(args) > 4 else store.CHECKPOINT) == name:
            calls.append(1)
            if len(calls) == after:
                raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "save_checkpoint", stop)
    with pytest.raises(KeyboardInterrupt):
        mf.run(config, run_dir, progress=False)
    monkeypatch.setattr(run_module, "save_checkpoint", original)


# -- 1. "done" short of t_end --------------------------------------------------------------
@pytest.mark.parametrize("dt, steps", [(2.0, 1), (0.3, 4), (0.05, 20)])
def test_every_step_size_reaches_t_end(capsys, tmp_path, small, dt, steps):
    status, out, _ = cli(capsys, "run", small, "--integrator.dt", dt, "--out", tmp_path / "A")
    assert status == 0
    metrics = metrics_of(tmp_path / "A")
    assert metrics["status"] == "done" and metrics["t"] == metrics["t_end"] == 1.0
    assert metrics["step"] == steps and metrics["times"][-1] == 1.0


def test_acceptance_dt_03_then_show_reports_t_1(capsys, tmp_path, small):
    assert cli(capsys, "run", small, "--integrator.dt", "0.3", "--out", tmp_path / "A")[0] == 0
    status, out, _ = cli(capsys, "show", tmp_path / "A")
    assert status == 0 and "time        1 / 1 (4 steps)" in out and "status      done" in out


@pytest.mark.parametrize("integrator", [
    {"name": "euler", "dt": 0.3}, {"name": "momentum", "dt": 0.3, "tau": 0.1},
    {"name": "langevin", "dt": 0.3, "temperature": 1e-3},
    {"name": "sgd", "dt": 0.3, "batch": 4}, {"name": "adaptive", "dt": 0.3}])
def test_every_integrator_ends_at_t_end_in_run_and_resume(tmp_path, monkeypatch, integrator):
    data = small_config().to_dict()
    data["integrator"] = integrator
    data["checkpoint"] = {"every_steps": 1}
    if integrator["name"] == "sgd":
        data["objective"] = {"kind": "empirical", "n_train": 10}
    config = mf.Config.from_dict(data)
    reference = mf.run(config, tmp_path / "ref", progress=False).trajectory
    assert reference.times[-1] == 1.0 and reference.state.t == 1.0
    interrupted_run(tmp_path / "cut", config, monkeypatch, after=2)
    assert metrics_of(tmp_path / "cut")["status"] == "interrupted"
    resumed = mf.resume(tmp_path / "cut", progress=False).trajectory
    assert resumed.times[-1] == 1.0 and np.array_equal(resumed.final.w, reference.final.w)


def test_a_sweep_cell_with_dt_above_t_end_is_done_at_t_end(tmp_path):
    from meanfield.runs.sweep import run_cell

    config = small_config(**{"integrator.dt": 5.0})
    outcome = run_cell(str(tmp_path / "cell"), config.to_json())
    assert outcome == {"status": "done", "message": None}
    metrics = metrics_of(tmp_path / "cell")
    assert metrics["t"] == 1.0 and metrics["step"] == 1


@pytest.mark.parametrize("field, value", [("integrator.dt", 2.0), ("student.m", 9),
                                          ("seed", 5), ("t_end", 2.0)])
def test_resume_refuses_a_changed_config_naming_the_field(capsys, tmp_path, monkeypatch,
                                                          field, value):
    interrupted_run(tmp_path / "R", small_config(**{"checkpoint.every_steps": 4}),
                    monkeypatch)
    path = tmp_path / "R" / store.CONFIG
    data = json.loads(path.read_text())
    node, *keys = data, *field.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value
    path.write_text(json.dumps(data))
    before = snapshot(tmp_path / "R")
    status, _, err = cli(capsys, "resume", tmp_path / "R")
    line = one_line(err)
    assert status == 2 and line.startswith(f"meanfield: error: {field}: changed since")
    if field == "t_end":
        assert "meanfield resume RUN --t_end" in line
    assert snapshot(tmp_path / "R") == before


def test_a_finished_run_with_an_edited_config_is_refused_by_show_resume_and_plot(
        capsys, tmp_path, small):
    assert cli(capsys, "run", small, "--out", tmp_path / "R")[0] == 0
    path = tmp_path / "R" / store.CONFIG
    path.write_text(path.read_text().replace('"dt": 0.05', '"dt": 0.5'))
    for command in ("show", "resume", "plot"):
        status, _, err = cli(capsys, command, tmp_path / "R")
        assert status == 2 and "integrator.dt: changed since" in one_line(err), command


def test_extending_a_run_is_explicit_and_equals_a_longer_run(capsys, tmp_path, small):
    assert cli(capsys, "run", small, "--out", tmp_path / "R")[0] == 0
    before = metrics_of(tmp_path / "R")
    status, out, err = cli(capsys, "resume", tmp_path / "R", "--t_end", "2")
    assert status == 0 and "t = 2 after 40 steps" in out
    metrics = metrics_of(tmp_path / "R")
    assert metrics["status"] == "done" and metrics["t"] == 2.0 and metrics["t_ends"] == [1, 2]
    assert mf.Config.load(tmp_path / "R" / store.CONFIG).t_end == 2.0
    assert mf.Config.load(tmp_path / "R" / store.CONFIG_TOML).t_end == 2.0
    longer = mf.run(small_config(t_end=2.0), tmp_path / "L", progress=False).trajectory
    extended = mf.load(tmp_path / "R").trajectory
    assert np.array_equal(extended.final.w, longer.final.w)
    kept = len(before["times"])  # the records up to t = 1 are kept as they were
    assert metrics["times"][:kept] == before["times"] and metrics["risk"][:kept] == \
        before["risk"]
    assert metrics["times"][-1] == 2.0 and all(t > 1.0 for t in metrics["times"][kept:])
    assert len(metrics["segments"]) == 2 and metrics["segments"][1]["mode"] == "resume"
    # shortening, or extending past a shortened last step, is refused with one line
    status, _, err = cli(capsys, "resume", tmp_path / "R", "--t_end", "1.5")
    assert status == 2 and "t_end: must be larger" in one_line(err)
    assert cli(capsys, "run", small, "--integrator.dt", "0.3", "--out", tmp_path / "S")[0] == 0
    status, _, err = cli(capsys, "resume", tmp_path / "S", "--t_end", "2")
    assert status == 2 and "last step was shortened" in one_line(err)


# -- 2. silent overwrite -------------------------------------------------------------------
@pytest.mark.parametrize("name", ["metrics.json", "trajectory.npz", "notes.txt"])
def test_run_never_writes_into_a_foreign_directory(capsys, tmp_path, small, name):
    foreign = tmp_path / "theirs"
    foreign.mkdir()
    (foreign / name).write_bytes(b"someone else's data")
    status, _, err = cli(capsys, "run", small, "--out", foreign)
    assert status == 2 and "not a meanfield run directory" in one_line(err)
    assert sorted(p.name for p in foreign.iterdir()) == [name]
    assert (foreign / name).read_bytes() == b"someone else's data"


# -- 3. one line instead of a traceback ----------------------------------------------------
def test_out_is_an_existing_file(capsys, tmp_path, small):
    (tmp_path / "file").write_text("x")
    status, _, err = cli(capsys, "run", small, "--out", tmp_path / "file")
    assert status == 2 and "exists and is not a directory" in one_line(err)
    assert (tmp_path / "file").read_text() == "x"


def _in_mount(directory: Path, options: str, command: list[str],
              cwd) -> subprocess.CompletedProcess:
    """Run ``command`` with a tmpfs mounted on ``directory`` (mount ``options``) in a
    private mount namespace (the machine's mounts are untouched); skip where that is not
    allowed."""
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=4k "
                            f"tmpfs {directory}"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("no private tmpfs mounts here (needs unshare and mount)")
    script = f'mount -t tmpfs -o {options} tmpfs "$1" && shift && exec "$@"'
    return subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", str(directory),
                           *command], capture_output=True, text=True, timeout=300, cwd=cwd)


MEANFIELD = [sys.executable, "-c", "import sys; from meanfield.cli import main; "
                                   "sys.exit(main())"]


def test_read_only_directory(tmp_path, small):
    (tmp_path / "ro").mkdir()
    for out in ("ro", "ro/run"):
        proc = _in_mount(tmp_path / "ro", "ro", [*MEANFIELD, "run", str(small), "--out",
                                                 str(tmp_path / out)], cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert "Read-only file system" in one_line(proc.stderr)
        assert one_line(proc.stderr).startswith("meanfield: error: out: ")


def test_full_disk_for_real(tmp_path, small):
    (tmp_path / "disk").mkdir()
    out = str(tmp_path / "disk" / "R")
    proc = _in_mount(tmp_path / "disk", "size=4k", [*MEANFIELD, "run", str(small), "--out",
                                                    out], cwd=tmp_path)
    assert proc.returncode == 2 and "No space left on device" in one_line(proc.stderr)
    big = ["--student.m", "600", "--checkpoint.every_steps", "2", "--no-progress"]
    proc = _in_mount(tmp_path / "disk", "size=150k", [*MEANFIELD, "run", str(small), *big,
                                                      "--out", out], cwd=tmp_path)
    line = one_line(proc.stderr)
    assert proc.returncode == 1 and "No space left on device" in line, proc.stderr
    assert f"meanfield resume {out}" in line


def test_full_disk_before_and_during_the_run(capsys, tmp_path, small, monkeypatch):
    original = store.atomic_write

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(store, "atomic_write", full)
    status, _, err = cli(capsys, "run", small, "--out", tmp_path / "A")
    assert status == 2 and "No space left on device" in one_line(err)

    def full_after_start(path, data):  # checkpoints fail once the run is under way
        if str(path).endswith(store.CHECKPOINT) and (Path(path).parent / store.METRICS).exists():
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        original(path, data)

    monkeypatch.setattr(store, "atomic_write", full_after_start)
    status, _, err = cli(capsys, "run", small, "--out", tmp_path / "B",
                         "--checkpoint.every_steps", "5")
    line = one_line(err)
    assert status == 1 and "No space left on device" in line and "resume" in line
    metrics = metrics_of(tmp_path / "B")
    assert metrics["status"] == "failed" and "No space left" in metrics["message"]


def test_binary_garbage_config(capsys, tmp_path):
    (tmp_path / "bin.toml").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "bin.json").write_bytes(b"\x00\xff{garbage")
    for name in ("bin.toml", "bin.json"):
        status, _, err = cli(capsys, "run", tmp_path / name, "--out", tmp_path / "out")
        assert status == 2 and name in one_line(err)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "pickle"])
def test_damaged_checkpoint_on_resume_falls_back_to_the_previous_one(
        capsys, tmp_path, monkeypatch, damage):
    config = small_config(**{"checkpoint.every_steps": 4})
    reference = mf.run(config, tmp_path / "ref", progress=False).trajectory
    interrupted_run(tmp_path / "R", config, monkeypatch)
    path = tmp_path / "R" / store.CHECKPOINT
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])
    elif damage == "garbage":
        path.write_bytes(b"PK\x03\x04" + bytes(100))
    else:  # an .npz holding a pickled object: refused, never unpickled
        with open(path, "wb") as fh:
            np.savez(fh, w=np.array([{"a": 1}], dtype=object))
    status, out, err = cli(capsys, "resume", tmp_path / "R", "--no-progress")
    line = one_line(err)
    assert status == 0 and "checkpoint.npz" in line and "resuming from " \
        "checkpoint.previous.npz at t=0.2" in line
    assert np.array_equal(mf.load(tmp_path / "R").trajectory.final.w, reference.final.w)


def test_damaged_or_missing_checkpoints_stop_resume_with_one_line(capsys, tmp_path,
                                                                  monkeypatch):
    interrupted_run(tmp_path / "R", small_config(**{"checkpoint.every_steps": 4}),
                    monkeypatch)
    for name in (store.CHECKPOINT, store.CHECKPOINT_PREVIOUS):
        path = tmp_path / "R" / name
        path.write_bytes(path.read_bytes()[:300])
    before = snapshot(tmp_path / "R")
    status, _, err = cli(capsys, "resume", tmp_path / "R")
    line = one_line(err)
    assert status == 1 and "checkpoint.npz" in line and "checkpoint.previous.npz" in line
    assert snapshot(tmp_path / "R") == before
    for name in (store.CHECKPOINT, store.CHECKPOINT_PREVIOUS):
        (tmp_path / "R" / name).unlink()
    status, _, err = cli(capsys, "resume", tmp_path / "R")
    assert status == 1 and "checkpoint.npz: missing" in one_line(err)  # not back at t = 0
    assert metrics_of(tmp_path / "R")["status"] == "interrupted"


def test_truncated_metrics_and_trajectory(capsys, tmp_path, small, monkeypatch):
    import meanfield.plots.runs as plots

    assert cli(capsys, "run", small, "--out", tmp_path / "R")[0] == 0
    finished = snapshot(tmp_path / "R")
    metrics = tmp_path / "R" / store.METRICS
    metrics.write_bytes(finished[Path(store.METRICS)][:57])
    for command in ("show", "resume", "plot"):
        status, _, err = cli(capsys, command, tmp_path / "R")
        line = one_line(err)
        assert status == 1 and "metrics.json: not valid JSON" in line, command
    metrics.write_bytes(finished[Path(store.METRICS)])
    trajectory = tmp_path / "R" / store.TRAJECTORY
    trajectory.write_bytes(finished[Path(store.TRAJECTORY)][:1000])
    monkeypatch.setattr(plots, "plot_run", lambda *a, **k: pytest.fail("drew a damaged run"))
    status, _, err = cli(capsys, "plot", tmp_path / "R")
    assert status == 1 and "trajectory.npz: not a valid .npz archive" in one_line(err)
    trajectory.write_bytes(finished[Path(store.TRAJECTORY)])
    assert snapshot(tmp_path / "R") == finished


def test_huge_student_stops_with_the_memory_estimate_before_allocating(capsys, tmp_path, small):
    began = time.monotonic()
    status, _, err = cli(capsys, "run", small, "--student.m", "1000000000",
                         "--out", tmp_path / "A")
    line = one_line(err)
    assert status == 2 and "the run needs about" in line and "is available" in line
    assert "TiB" in line and time.monotonic() - began < 30
    assert not (tmp_path / "A").exists()
    from meanfield.runs.resources import check_memory, estimate

    parts = estimate(small_config(**{"student.m": 1000}))
    assert parts["particles"] == 8 * 1000 * 3 * 8 and parts["records"] == 3 * 101 * 1000 * 3 * 8
    # the field named is the one whose reset shrinks the estimate most
    with pytest.raises(mf.ConfigError, match=r"^student.m: the run needs about"):
        check_memory(small_config(**{"student.m": 100_000}), available=10**6)
    with pytest.raises(mf.ConfigError, match=r"^record.n: the run needs about"):
        check_memory(small_config(**{"record.n": 10**7}), available=10**6)
    with pytest.raises(mf.ConfigError, match=r"^student.init.reference_m: the run needs"):
        check_memory(small_config(**{"student.m": 1000, "student.init.reference_m": 10**6}),
                     available=10**6)


def _pairs_without_kernel() -> list:
    """(student, teacher) activations with no Gaussian pair kernel between them, as
    meanfield.kernels.gaussian decides today (the config check asks it, so these cases follow
    it: the list shrinks as kernels are added)."""
    from meanfield.core.activations import ACTIVATIONS
    from meanfield.kernels.gaussian import pair_kernel

    def has(a, b):
        try:
            pair_kernel(a, b)
            return True
        except ValueError:
            return False

    pairs = [(s, t) for s in sorted(ACTIVATIONS) for t in sorted(ACTIVATIONS)
             if not (has(s, t) and has(t, s))]
    return [({"student.activation": s, "teacher.activation": t},
             "student.activation" if not has(s, t) else "teacher.activation")
            for s, t in pairs[:2]]


@pytest.mark.parametrize("overrides, field", [
    ({"objective.inputs": "sphere", "student.activation": "erf"}, "objective.inputs"),
    ({"objective.inputs": "sphere", "student.bias": "true"}, "objective.inputs"),
    ({"objective.inputs": "sphere", "teacher.activation": "tanh",
      "objective.kind": "empirical"}, "objective.inputs"),
    *_pairs_without_kernel(),
])
def test_impossible_combinations_are_config_errors(capsys, tmp_path, small, overrides, field):
    args = [a for k, v in overrides.items() for a in (f"--{k}", v)]
    status, _, err = cli(capsys, "run", small, *args, "--out", tmp_path / "A")
    assert status == 2 and one_line(err).startswith(f"meanfield: error: {field}: ")
    assert not (tmp_path / "A").exists()
    with pytest.raises(mf.ConfigError, match=f"^{field}: "):
        small_config(**overrides)


def test_possible_mixed_combinations_still_run(tmp_path):
    # an erf student on empirical data from a relu teacher needs no relu x erf kernel;
    # sphere inputs with relu and linear units have exact kernels
    for k, overrides in enumerate([
            {"student.activation": "erf", "objective.kind": "empirical"},
            {"objective.inputs": "sphere", "student.activation": "linear",
             "teacher.activation": "linear"}]):
        result = mf.run(small_config(**overrides), tmp_path / str(k), progress=False)
        assert result.trajectory.times[-1] == 1.0


# -- 4. one writer at a time ---------------------------------------------------------------
def test_a_second_writer_exits_2_naming_the_holder(capsys, tmp_path, small):
    assert cli(capsys, "run", small, "--out", tmp_path / "R", "--t_end", "0.5")[0] == 0
    with store.lock(tmp_path / "R", "run"):
        status, _, err = cli(capsys, "resume", tmp_path / "R", "--t_end", "1")
        line = one_line(err)
        assert status == 2 and f"pid {os.getpid()}" in line and "meanfield run" in line
    assert cli(capsys, "resume", tmp_path / "R", "--t_end", "1")[0] == 0


# -- 5. bookkeeping -------------------------------------------------------------------------
def test_wall_time_is_summed_over_segments(tmp_path, monkeypatch):
    config = small_config(**{"checkpoint.every_steps": 4})
    interrupted_run(tmp_path / "R", config, monkeypatch)
    first = metrics_of(tmp_path / "R")
    assert first["status"] == "interrupted" and first["wall_time"] > 0
    result = mf.resume(tmp_path / "R", progress=False)
    metrics = metrics_of(tmp_path / "R")
    walls = [s["wall_time"] for s in metrics["segments"]]
    assert len(walls) == 2 and [s["mode"] for s in metrics["segments"]] == ["run", "resume"]
    assert metrics["wall_time"] == pytest.approx(sum(walls), rel=1e-6)
    assert result.wall_time == metrics["wall_time"]
    assert metrics["wall_time"] > first["wall_time"]


def test_off_a_terminal_each_checkpoint_logs_a_line_and_updates_metrics(capsys, tmp_path,
                                                                        monkeypatch):
    written = []
    original = store.write_json

    def spy(path, obj):
        if Path(path).name == store.METRICS:
            written.append(obj)
        original(path, obj)

    monkeypatch.setattr(store, "write_json", spy)
    mf.run(small_config(**{"checkpoint.every_steps": 5}), tmp_path / "R")  # progress=None
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 4  # steps 5, 10, 15, 20
    assert all("risk" in line and "steps/s" in line and "t=" in line for line in lines)
    live = [m for m in written if m["status"] == "running" and m["t"] > 0]
    assert len(live) == 4 and all(m["wall_time"] > 0 for m in live)
    assert [m["step"] for m in live] == [5, 10, 15, 20]


def test_show_reports_a_killed_run_and_its_progress(capsys, tmp_path, monkeypatch):
    interrupted_run(tmp_path / "R", small_config(**{"checkpoint.every_steps": 4}),
                    monkeypatch)
    data = metrics_of(tmp_path / "R")
    data["status"] = "running"  # as SIGKILL leaves it
    (tmp_path / "R" / store.METRICS).write_text(json.dumps(data))
    status, out, _ = cli(capsys, "show", tmp_path / "R")
    assert status == 0 and "no process is writing it" in out
    assert "0.4 / 1 (8 steps)" in out


def test_the_tangent_phase_checkpoints_and_resumes(tmp_path, monkeypatch):
    config = mf.Config.from_dict({
        "d": 3, "t_end": 1.0, "backend": "numpy", "student": {"m": 10},
        "objective": {"kind": "empirical", "n_train": 20, "n_test": 10},
        "integrator": {"name": "euler", "dt": 0.05}, "record": {"n": 6},
        "checkpoint": {"every_steps": 4}, "diagnostics": {"probe": 5, "tangent": True}})
    reference = metrics_of(mf.run(config, tmp_path / "ref", progress=False).run_dir)
    interrupted_run(tmp_path / "R", config, monkeypatch, after=2, name=store.TANGENT)
    cut = metrics_of(tmp_path / "R")
    assert cut["status"] == "interrupted" and cut["phase"] == "tangent" and cut["t"] == 1.0
    starts = []
    original = run_module.simulate

    def spy(*args, **kwargs):
        starts.append(kwargs["start"][0].t)
        return original(*args, **kwargs)

    monkeypatch.setattr(run_module, "simulate", spy)
    import meanfield.runs.diagnose as diagnose

    tangent_starts = []
    along = diagnose.simulate

    def tangent_spy(*args, **kwargs):
        tangent_starts.append(None if kwargs["start"] is None else kwargs["start"][0].t)
        return along(*args, **kwargs)

    monkeypatch.setattr(diagnose, "simulate", tangent_spy)
    mf.resume(tmp_path / "R", progress=False)
    assert starts == [1.0] and tangent_starts == [pytest.approx(0.4)]  # nothing redone
    metrics = metrics_of(tmp_path / "R")
    assert metrics["status"] == "done"
    assert metrics["diagnostics"] == reference["diagnostics"]
    assert metrics["wall_time"] > cut["wall_time"] > 0


def test_a_diverged_run_plots_up_to_its_last_good_record_and_does_not_resume(
        capsys, tmp_path, small, monkeypatch):
    import meanfield.plots.runs as plots

    status, _, err = cli(capsys, "run", small, "--integrator.dt", "300", "--t_end", "1e5",
                         "--out", tmp_path / "D")
    assert status == 1 and "diverged at step" in one_line(err)
    drawn = []
    monkeypatch.setattr(plots, "plot_run", lambda result, *a, **k: drawn.append(result) or [])
    status, _, err = cli(capsys, "plot", tmp_path / "D")
    assert status == 0 and drawn[0].status == "diverged" and "diverged" in err
    assert np.all(np.isfinite(drawn[0].trajectory.snapshots))
    before = snapshot(tmp_path / "D")
    status, _, err = cli(capsys, "resume", tmp_path / "D")
    assert status == 1 and "would diverge again" in one_line(err)
    assert snapshot(tmp_path / "D") == before


def test_plotting_a_diverged_run_for_real(tmp_path, small):
    proc = subprocess.run(["meanfield", "run", str(small), "--integrator.dt", "300",
                           "--t_end", "1e5", "--out", "D"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1
    proc = subprocess.run(["meanfield", "plot", "D"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "D" / "figures" / "loss.png").stat().st_size > 1000
