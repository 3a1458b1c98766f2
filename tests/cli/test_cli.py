"""The `meanfield` console script, run for real in subprocesses."""
import contextlib
import io
import subprocess

import numpy as np
import pytest

import meanfield as mf

BAD_TOML = {
    "syntax.toml": "student = {m = ",
    "section.toml": "[studnt]\nm = 3\n",
    "float_m.toml": "[student]\nm = 1.5\n",
    "table.toml": "student = 3\n",
}

MALFORMED = [
    ["run", "--student.m", "-3"], ["run", "--student.m", "ten"],
    ["run", "--student.mm", "3"], ["run", "--nonsense", "1"],
    ["run", "--integrator.name", "leapfrog"], ["run", "--integrator.dt", "0"],
    ["run", "--integrator.dt", "-1"], ["run", "--t_end", "0"],
    ["run", "--objective.kind", "batch"], ["run", "--objective.loss", "hinge"],
    ["run", "--student.activation", "swish"], ["run", "--backend", "cuda"],
    ["run", "--dtype", "float16"], ["run", "--record.schedule", "cubic"],
    ["run", "--record.n", "1"], ["run", "--student.init.symmetric", "true",
                                 "--student.m", "7"],
    ["run", "--integrator.name", "momentum"], ["run", "--integrator.tau", "0.5"],
    ["run", "--student"], ["run", "--seed", "-1"], ["run", "--teacher.noise", "-1"],
    ["run", "--objective.kind", "online", "--integrator.name", "adaptive"],
    ["run", "missing.toml"], ["run", "a.toml", "b.toml"],
    *[["run", name] for name in BAD_TOML],
    ["fly"], [], ["resume", "nowhere"], ["show", "nowhere"], ["plot"],
    ["demo", "--backend", "gpu"], ["show", "nowhere", "--verbose"],
    ["bench", "--only", "nope"], ["bench", "--only", "ode", "--repeat", "0"],
]


def meanfield(*args, cwd, timeout=120):
    return subprocess.run(["meanfield", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def _in_process(args):
    """``meanfield ARGS`` through meanfield.cli.main: (status, stdout, stderr)."""
    from meanfield.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(args)
    return status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("real", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_malformed_configs_and_flags_exit_2_with_one_line_and_write_nothing(tmp_path,
                                                                            monkeypatch, real):
    """Every malformed config or flag: status 2, one line, nothing written. By default
    through meanfield.cli.main in this process; the slow check runs each as its own
    console-script process (about 1 s of imports each)."""
    for name, text in BAD_TOML.items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    procs = []
    for k, args in enumerate(MALFORMED):
        out = ["--out", f"out{k}"] if args[:1] == ["run"] else []
        procs.append((args, subprocess.Popen(["meanfield", *args, *out], cwd=tmp_path,
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                             text=True) if real else _in_process([*args, *out])))
    assert len(procs) >= 20
    for args, proc in procs:
        if real:
            stdout, stderr = proc.communicate(timeout=120)
            status = proc.returncode
        else:
            status, stdout, stderr = proc
        assert status == 2, (args, stderr)
        lines = stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("meanfield: error: "), (args, stderr)
        assert "Traceback" not in stderr and stdout == ""
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name not in BAD_TOML)
    assert leftovers == [], leftovers


def test_error_names_the_field(tmp_path):
    proc = meanfield("run", "--integrator.dt", "-1", cwd=tmp_path)
    assert proc.stderr.startswith("meanfield: error: integrator.dt: ")


def test_help_everywhere(tmp_path):
    for args in ([], ["run"], ["resume"], ["plot"], ["show"], ["demo"], ["bench"]):
        proc = meanfield(*args, "--help", cwd=tmp_path)
        assert proc.returncode == 0 and "usage: meanfield" in proc.stdout, args


def test_run_show_plot_from_a_toml_with_overrides(tmp_path):
    config = mf.Config.from_dict({"d": 3, "backend": "numpy", "t_end": 1.0,
                                  "student": {"m": 8}, "integrator": {"dt": 0.02}})
    (tmp_path / "c.toml").write_text(config.to_toml())
    proc = meanfield("run", "c.toml", "--student.m", "6", "--out", "r",
                     "--objective.kind=empirical", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = mf.load(tmp_path / "r")
    assert result.config.student.m == 6 and result.config.objective.kind == "empirical"
    assert result.trajectory.snapshots.shape[1:] == (6, 4)
    show = meanfield("show", "r", cwd=tmp_path)
    assert show.returncode == 0 and "status      done" in show.stdout
    plot = meanfield("plot", "r", cwd=tmp_path)
    assert plot.returncode == 0, plot.stderr
    for name in ("loss.png", "loss.pdf", "neurons.png", "neurons.pdf"):
        assert (tmp_path / "r" / "figures" / name).stat().st_size > 1000


def test_huge_dt_stops_with_the_divergence_message_and_nonzero_status(tmp_path):
    proc = meanfield("run", "--integrator.dt", "1000", "--t_end", "1e6", "--backend",
                     "numpy", "--out", "boom", cwd=tmp_path)
    assert proc.returncode == 1
    assert "diverged at step" in proc.stderr and "dt=1000 is too large" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (tmp_path / "boom" / "checkpoint.npz").exists()


def test_demo_runs_and_writes_its_files(tmp_path):
    proc = meanfield("demo", "--out", "d", "--no-progress", cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for name in ("active.png", "lazy.png", "loss.png", "demo.gif"):
        assert (tmp_path / "d" / name).stat().st_size > 1000, name
    active, lazy = mf.load(tmp_path / "d" / "active"), mf.load(tmp_path / "d" / "lazy")
    assert active.trajectory.risk[-1] < 1e-3 and lazy.trajectory.risk[-1] < 1e-3
    # lazy particles barely move relative to their size; active ones travel far
    def relative_motion(result):
        traj = result.trajectory
        return np.linalg.norm(traj.snapshots[-1] - traj.snapshots[0]) / \
            np.linalg.norm(traj.snapshots[0])
    assert relative_motion(active) > 5 * relative_motion(lazy)
    assert active.trajectory.test_risk[-1] < lazy.trajectory.test_risk[-1]
