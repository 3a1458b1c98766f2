"""Configs, run directories, checkpoints and bit-for-bit resume (including after SIGKILL)."""
import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest

import meanfield as mf
from meanfield.runs import checkpoint, store
from meanfield.runs import run as run_module


def small_config(**extra):
    data = {"d": 3, "backend": "numpy", "seed": 3,
            "student": {"m": 10, "init": {"tau": 0.5}},
            "objective": {"kind": "empirical", "n_train": 30, "n_test": 10},
            "integrator": {"name": "langevin", "dt": 0.01, "temperature": 1e-3,
                           "weight_decay": 0.01},
            "t_end": 2.0, "record": {"n": 30}}
    for key, value in extra.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return mf.Config.from_dict(data)


def crashed_run(config, run_dir, monkeypatch, saves: int):
    """Run ``config`` into ``run_dir`` until a KeyboardInterrupt raised just after its
    ``saves``-th checkpoint is written (as a crash there would leave it)."""
    original, calls = checkpoint.save_checkpoint, []

    def crash(*args):
        original(*args)
        calls.append(1)
        if len(calls) == saves:
            raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "save_checkpoint", crash)
    with pytest.raises(KeyboardInterrupt):
        mf.run(config, run_dir)
    monkeypatch.setattr(run_module, "save_checkpoint", original)


def test_config_round_trips_through_toml_and_json():
    config = small_config()
    assert mf.Config.from_toml(config.to_toml()) == config
    assert mf.Config.from_json(config.to_json()) == config
    assert "temperature = 0.001" in config.to_toml()
    changed = config.override({"student.m": "64", "objective.loss": '"square"',
                               "student.init.symmetric": "true"})
    assert (changed.student.m, changed.student.init.symmetric) == (64, True)
    assert changed.objective == config.objective


@pytest.mark.parametrize("data, field", [
    ({"student": {"m": 0}}, "student.m"),
    ({"student": {"m": "ten"}}, "student.m"),
    ({"integrator": {"name": "leapfrog"}}, "integrator.name"),
    ({"integrator": {"name": "euler", "tau": 1.0}}, "integrator.tau"),
    ({"integrator": {"name": "momentum"}}, "integrator.tau"),
    ({"objective": {"kind": "batch"}}, "objective.kind"),
    ({"colour": 1}, "colour"),
])
def test_config_errors_name_the_field(data, field):
    with pytest.raises(mf.ConfigError, match=rf"^{field}: "):
        mf.Config.from_dict(data)


def test_run_writes_an_atomic_pickle_free_run_directory(tmp_path):
    result = mf.run(small_config(), tmp_path / "r")
    names = sorted(p.name for p in (tmp_path / "r").iterdir())
    assert names == ["checkpoint.npz", "checkpoint.previous.npz", "config.json",
                     "config.toml", "meanfield-run.json", "meanfield.lock", "metrics.json",
                     "trajectory.npz"]
    assert set(names) <= set(store.RUN_FILES)
    marker = json.loads((tmp_path / "r" / store.MARKER).read_text())
    assert marker["format"] == store.FORMAT and marker["kind"] == "run"
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["status"] == "done" and len(metrics["risk"]) == len(result.trajectory.times)
    assert metrics["t"] == metrics["t_end"] == 2.0 and metrics["step"] == 200
    assert metrics["wall_time"] > 0 and len(metrics["segments"]) == 1
    arrays = store.read_npz(tmp_path / "r" / "trajectory.npz")  # allow_pickle=False
    assert np.array_equal(arrays["final"], result.trajectory.final.w)
    assert arrays["snapshots"].shape == (len(metrics["times"]), 10, 4)
    assert result.trajectory.test_risk is not None
    loaded = mf.load(tmp_path / "r")
    assert np.array_equal(loaded.trajectory.snapshots, result.trajectory.snapshots)
    with pytest.raises(mf.ConfigError, match="already holds a run"):
        mf.run(small_config(), tmp_path / "r")


def test_resume_after_a_crash_is_bit_for_bit(tmp_path, monkeypatch):
    config = small_config(checkpoint={"every_steps": 40})
    reference = mf.run(config, tmp_path / "ref").trajectory
    crashed_run(config, tmp_path / "crashed", monkeypatch, saves=3)
    state, _ = checkpoint.load_checkpoint(tmp_path / "crashed")
    assert state.step == 80
    resumed = mf.resume(tmp_path / "crashed").trajectory
    assert np.array_equal(resumed.final.w, reference.final.w)
    assert np.array_equal(resumed.snapshots, reference.snapshots)
    assert np.array_equal(resumed.risk, reference.risk)


def test_sigkill_while_checkpointing_leaves_a_resumable_directory(tmp_path):
    config = small_config(t_end=8.0, checkpoint={"every_steps": 1})
    path = tmp_path / "cfg.toml"
    path.write_text(config.to_toml())
    run_dir = tmp_path / "killed"
    proc = subprocess.Popen(["meanfield", "run", str(path), "--out", str(run_dir),
                             "--no-progress"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    step = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if (run_dir / "checkpoint.npz").exists():
            step = checkpoint.load_checkpoint(run_dir)[0].step
            if step >= 60:
                break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "running"
    done = subprocess.run(["meanfield", "resume", str(run_dir), "--no-progress"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    reference = mf.run(small_config(t_end=8.0), tmp_path / "ref").trajectory
    resumed = mf.load(run_dir).trajectory
    assert np.array_equal(resumed.final.w, reference.final.w)
    assert np.array_equal(resumed.snapshots, reference.snapshots)


def test_divergence_keeps_the_last_good_checkpoint(tmp_path):
    config = small_config(integrator={"name": "euler", "dt": 300.0, "temperature": None,
                                      "weight_decay": None}, t_end=1e5)
    with pytest.raises(mf.Divergence, match="dt=300 is too large"):
        mf.run(config, tmp_path / "boom")
    metrics = json.loads((tmp_path / "boom" / "metrics.json").read_text())
    assert metrics["status"] == "diverged" and "step" in metrics["message"]
    state, _ = checkpoint.load_checkpoint(tmp_path / "boom")
    assert np.all(np.isfinite(state.w))
    # the good records are kept, so the run can be plotted up to its last good record
    loaded = mf.load(tmp_path / "boom")
    assert loaded.status == "diverged"
    assert np.all(np.isfinite(loaded.trajectory.snapshots))
    assert loaded.trajectory.times[-1] <= metrics["t"] < 1e5
    assert list(loaded.trajectory.times) == metrics["times"]


def test_every_integrator_and_objective_kind_runs_from_a_config(tmp_path):
    cases = [{"objective": {"kind": "population"}, "integrator": {"name": "adaptive",
                                                                  "dt": 1e-3}},
             {"objective": {"kind": "online", "batch": 32},
              "integrator": {"name": "momentum", "tau": 0.1, "dt": 0.01}},
             {"objective": {"kind": "empirical", "n_train": 20},
              "integrator": {"name": "sgd", "dt": 0.01, "batch": 5}}]
    for k, case in enumerate(cases):
        data = small_config().to_dict()
        data["objective"].update(case["objective"])
        data["integrator"] = case["integrator"]
        result = mf.run(mf.Config.from_dict(data), tmp_path / str(k))
        assert result.trajectory.risk[-1] < result.trajectory.risk[0], case


@pytest.mark.parametrize("method", ["DOP853", pytest.param("Radau", marks=pytest.mark.slow)])
def test_ode_runs_resume_from_their_checkpoints(tmp_path, monkeypatch, method):
    """An ODE run in a config: several records fall inside one solver step (equal step
    counts), the checkpoint is accepted on resume, and DOP853 resumes bit for bit
    (Radau restarts its Jacobian and history: within its tolerances)."""
    config = small_config(integrator={"name": "ode", "method": method, "rtol": 1e-9,
                                      "atol": 1e-11, "dt": 0.01, "temperature": None,
                                      "weight_decay": None},
                          checkpoint={"every_steps": 5}, t_end=6.0)
    reference = mf.run(config, tmp_path / "ref").trajectory
    assert np.any(np.diff(reference.steps) == 0) and reference.times[-1] == 6.0
    crashed_run(config, tmp_path / "crashed", monkeypatch, saves=2)
    resumed = mf.resume(tmp_path / "crashed").trajectory
    assert np.array_equal(resumed.times, reference.times)
    if method == "DOP853":
        assert np.array_equal(resumed.final.w, reference.final.w)
        assert np.array_equal(resumed.risk, reference.risk)
    else:
        np.testing.assert_allclose(resumed.final.w, reference.final.w, rtol=0, atol=1e-5)
