"""Runs that never lie, continued: signals (SIGTERM/SIGINT checkpoint, say how to
continue, exit 143/130, resume bit-for-bit; a second writer meanwhile exits 2 naming the
first), sweeps (an unreachable scheduler writes nothing, no dashboard unless asked,
damaged sweep files give one line, foreign --out refused) and the Python API's edges."""
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from small_runs import cli, metrics_of, one_line, small_sweep, snapshot

import meanfield as mf
from meanfield.runs import checkpoint, store


# -- signals (subprocesses) -------------------------------------------------------------------
def _wait_running(run_dir: Path, proc, t_min=0.5, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            metrics = metrics_of(run_dir)
            if metrics["status"] == "running" and metrics["t"] >= t_min:
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    pytest.fail(f"the run did not get to t = {t_min} in time: {proc.poll()}")


@pytest.mark.parametrize("sig, code, t_end", [
    pytest.param(signal.SIGTERM, 143, 400.0, marks=pytest.mark.slow),
    (signal.SIGINT, 130, 100.0)])
def test_signals_checkpoint_and_resume_bit_for_bit(tmp_path, small, sig, code, t_end):
    """Acceptance: SIGTERM (or SIGINT) during a run, then `meanfield resume`, ends on the
    same particles as an uninterrupted run; meanwhile (SIGTERM case, whose run is long
    enough for a second process to start) a second writer exits 2 naming the first one's
    pid. Checkpoints every 1000 steps: the signal takes one of its own."""
    args = ["--t_end", str(t_end), "--integrator.dt", "0.01", "--checkpoint.every_steps",
            "1000"]
    proc = subprocess.Popen(["meanfield", "run", str(small), *args, "--out", "R",
                             "--no-progress"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        _wait_running(tmp_path / "R", proc)
        if sig == signal.SIGTERM:
            second = subprocess.run(["meanfield", "resume", "R"], cwd=tmp_path,
                                    capture_output=True, text=True, timeout=120)
            assert second.returncode == 2 and f"pid {proc.pid}" in one_line(second.stderr)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    line = one_line(err)
    assert line.startswith("meanfield: interrupted at t=") and \
        line.endswith("continue with: meanfield resume R")
    metrics = metrics_of(tmp_path / "R")
    assert metrics["status"] == "interrupted" and 0 < metrics["t"] < t_end
    stopped_at = float(line.split("t=")[1].split(";")[0])
    assert checkpoint.load_checkpoint(tmp_path / "R")[0].t == pytest.approx(stopped_at,
                                                                            rel=1e-5)
    done = subprocess.run(["meanfield", "resume", "R", "--no-progress"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    config = mf.Config.load(tmp_path / "R" / store.CONFIG)
    reference = mf.run(config, tmp_path / "ref", progress=False).trajectory
    resumed = mf.load(tmp_path / "R").trajectory
    assert np.array_equal(resumed.final.w, reference.final.w)
    assert np.array_equal(resumed.snapshots, reference.snapshots)


# -- sweeps ---------------------------------------------------------------------------------
@pytest.mark.slow  # Dask's connect timeout: ~10 s
def test_an_unreachable_scheduler_writes_nothing(capsys, tmp_path):
    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text('[base]\nbackend = "numpy"\n[grid]\nseeds = 2\n')
    status, _, err = cli(capsys, "sweep", sweep_file, "--out", tmp_path / "S",
                         "--scheduler", "tcp://127.0.0.1:1")
    assert status == 2 and "scheduler: cannot connect" in one_line(err)
    assert not (tmp_path / "S").exists()


def test_the_local_cluster_serves_no_dashboard_unless_asked(tmp_path):
    import http.client
    import urllib.error
    import urllib.request

    import psutil

    from meanfield.runs.cluster import local_client

    def listening():
        return {c.laddr.port for c in psutil.net_connections("tcp")
                if c.status == "LISTEN" and c.pid == os.getpid()}

    with local_client(1) as client:
        ports = listening()
        assert 8787 not in ports
        for port in ports:  # no port serves the dashboard's pages
            with pytest.raises((urllib.error.URLError, http.client.HTTPException, OSError)):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5)
    with local_client(1, dashboard="127.0.0.1:0") as client:
        assert client.dashboard_link.startswith("http://127.0.0.1:")
        assert client.cluster.scheduler.http_server is not None


# -- sweep files ------------------------------------------------------------------------------
def test_damaged_sweep_and_attempts_files_give_one_line(capsys, tmp_path):
    out = small_sweep(tmp_path)
    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text('[base]\nbackend = "numpy"\nt_end = 0.2\n[base.student]\nm = 8\n'
                          '[base.teacher]\nm = 3\n[base.integrator]\ndt = 0.05\n'
                          '[grid]\nseeds = 2\n')
    assert cli(capsys, "collect", out)[0] == 0
    manifest = out / store.MANIFEST
    good = manifest.read_bytes()
    for damaged in (good[:40], b"[]", good.replace(b'"cells"', b'"cellz"')):
        manifest.write_bytes(damaged)
        before = snapshot(out)
        for args in (["collect", out], ["plot", out], ["sweep", sweep_file, "--out", out]):
            status, _, err = cli(capsys, *args)
            assert status == 1 and "sweep.json: " in one_line(err), args
            assert snapshot(out) == before
    manifest.write_bytes(good)
    cell = next((out / "cells").iterdir())
    (cell / store.ATTEMPTS).write_text('{"mode": ')
    status, _, _ = cli(capsys, "collect", out)
    assert status == 0  # the table says which cell is damaged, and why
    table = mf.collect(out, save=False)
    row = table[table["cell"] == cell.name].iloc[0]
    assert row["status"] == "failed" and "attempts.json: not valid JSON" in row["message"]
    status, _, err = cli(capsys, "sweep", sweep_file, "--out", out)  # no cluster needed
    assert status == 1 and "attempts.json: not valid JSON" in one_line(err)


def test_sweep_refuses_a_foreign_out_directory(capsys, tmp_path):
    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text('[base]\nbackend = "numpy"\n[grid]\nseeds = 2\n')
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "results.csv").write_text("theirs")
    status, _, err = cli(capsys, "sweep", sweep_file, "--out", tmp_path / "theirs")
    assert status == 2 and "not a sweep directory" in one_line(err)
    assert [p.name for p in (tmp_path / "theirs").iterdir()] == ["results.csv"]


# -- Python API edges -------------------------------------------------------------------------
@pytest.mark.parametrize("call, name", [
    (lambda: mf.Network.init(m=2.5, d=2), "m"), (lambda: mf.Network.init(m=4, d=1.5), "d"),
    (lambda: mf.Network.init(m=True, d=2), "m"), (lambda: mf.LogSchedule(0), "n"),
    (lambda: mf.LinearSchedule(0), "n"), (lambda: mf.LogSchedule(1), "n"),
    (lambda: mf.LogSchedule(10, t_min=0.0), "t_min"), (lambda: mf.LinearSchedule(2.5), "n")])
def test_api_edges_are_value_errors_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=f"^{name} must be"):
        call()
    assert mf.Network.init(m=4.0, d=2).m == 4
