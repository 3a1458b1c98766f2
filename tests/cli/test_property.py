"""Property: every command either finishes (a run to its t_end) or exits 2 (bad input) or
1 (a damaged, diverged or failed run) with exactly one line on stderr, never a traceback;
and a finished run's files are never modified by a command that fails.

Hypothesis draws random configs, valid and invalid, for ``meanfield run``, and random
damage (truncation, flipped bytes, deletion, garbage, a symbolic link to a copy outside
the run, a value of the wrong type or an array of the wrong dtype or shape) to each file
of one finished run for ``show``, ``plot``, ``resume`` (also with ``--t_end``) and ``run
--out`` on it; a link's target is never written. The commands run in-process
(``meanfield.cli.main``) with captured output; runs are tiny (NumPy backend, m <= 8,
d <= 3, a few dozen steps). The default run draws 40 configs, 50 damages and 3 signal
moments; the slow checks draw 110, 140 and 8.
``plot`` reads and checks every file, then its drawing is replaced by a stub (drawing is
tested in tests/cli/test_cli.py). Last, signals at random moments (SIGINT once or twice,
SIGTERM, SIGSTOP then SIGCONT), from start-up to shutdown, to ``meanfield run`` in a
subprocess: at most one line, never a traceback.
"""
import contextlib
import io
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import pytest
import tomli_w
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from meanfield.core.activations import ACTIVATIONS
from meanfield.cli import main
from meanfield.dynamics.integrators import INTEGRATORS
from meanfield.core.losses import LOSSES
from meanfield.runs import store

#: MEANFIELD_PROPERTY_SCALE=N runs N times as many examples, freshly random (to hunt);
#: by default the examples are the same on every run (derandomized), for a stable CI
SCALE = int(os.environ.get("MEANFIELD_PROPERTY_SCALE", "1"))
#: examples per property: (default run, slow check); the default run draws the first few
CONFIG_EXAMPLES = (40 * SCALE, 110 * SCALE)
DAMAGE_EXAMPLES = (50 * SCALE, 140 * SCALE)
SIGNAL_EXAMPLES = (3 * SCALE, 8 * SCALE)
SETTINGS = dict(deadline=None, derandomize=SCALE == 1, database=None,
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.function_scoped_fixture])


def examples(counts):
    """Parametrize a property by its number of examples: (default, slow check)."""
    fast, full = counts
    return pytest.mark.parametrize("examples", [fast, pytest.param(full, marks=pytest.mark.slow)])


def invoke(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in args])
    return status, out.getvalue(), err.getvalue()


def check_failure(status: int, err: str) -> None:
    assert status in (1, 2), (status, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("meanfield: ") and "Traceback" not in err, err
    assert "internal error" not in err, err


def files_of(run_dir: Path) -> dict:
    return {p.relative_to(run_dir): p.read_bytes() for p in sorted(run_dir.rglob("*"))
            if p.is_file() and p.name != store.LOCK}


# -- random configs ---------------------------------------------------------------------------
GOOD = {
    "d": st.integers(1, 3), "t_end": st.floats(0.05, 0.6), "seed": st.integers(0, 3),
    "backend": st.just("numpy"), "dtype": st.sampled_from(["float64", "float32"]),
    "teacher.m": st.integers(1, 4), "teacher.bias": st.booleans(),
    "teacher.noise": st.sampled_from([0.0, 0.1]), "student.m": st.integers(1, 8),
    "student.bias": st.booleans(),
    "student.alpha": st.sampled_from(["mean-field", "ntk", "sum", 2.0]),
    "student.centered": st.booleans(), "student.init.tau": st.sampled_from([0.1, 1.0]),
    "student.init.symmetric": st.booleans(),
    "objective.kind": st.sampled_from(["population", "empirical", "online"]),
    "objective.inputs": st.sampled_from(["gaussian", "sphere"]),
    "objective.n_train": st.integers(1, 12), "objective.n_test": st.integers(0, 4),
    "objective.batch": st.integers(1, 16), "objective.loss": st.sampled_from(LOSSES),
    "integrator.name": st.sampled_from(list(INTEGRATORS)),
    "integrator.dt": st.floats(0.02, 1.0), "record.schedule": st.sampled_from(["log",
                                                                               "linear"]),
    "record.n": st.integers(2, 6), "checkpoint.every_steps": st.integers(0, 3),
    "diagnostics.probe": st.sampled_from([0, 3]), "diagnostics.tangent": st.booleans(),
}
BAD = {
    "d": [0, -1, 1.5, "two", 64], "t_end": [0.0, -1.0, math.inf, "soon"], "seed": [-1],
    "backend": ["cuda"], "dtype": ["float16"], "teacher.m": [0],
    "teacher.activation": ["swish"], "teacher.bias": ["yes"], "teacher.noise": [-1.0],
    "student.m": [0, -3, 2.5, 10**12], "student.activation": ["swish"],
    "student.alpha": ["huge", -1.0], "student.init.tau": [-1.0],
    "objective.kind": ["digits", "batch"], "objective.inputs": ["cube"],
    "objective.n_train": [0], "objective.n_test": [-1], "objective.batch": [0],
    "objective.loss": ["l1"], "integrator.name": ["leapfrog"],
    "integrator.dt": [0.0, -1.0, 1e6], "integrator.batch": [0],
    "record.schedule": ["cubic"], "record.n": [0, 1], "checkpoint.every_steps": [-1],
    "record.t_min": [0.0, 0.5], "colour": ["blue"],
}


def _set(data: dict, name: str, value) -> None:
    node, *keys = data, *name.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value


@st.composite
def configs(draw):
    """(file name, bytes) of a random config: random valid fields, the integrator's
    parameters, activations (the same for student and teacher, or not), then (often) one
    to three invalid fields; in TOML or JSON, or raw garbage."""
    if draw(st.integers(0, 19)) == 0:
        return "garbage.toml", draw(st.binary(max_size=64))
    data: dict = {"backend": "numpy", "t_end": 0.3, "student": {"m": 4},
                  "teacher": {"m": 2}, "integrator": {"dt": 0.1}}
    for name in draw(st.lists(st.sampled_from(sorted(GOOD)), max_size=10, unique=True)):
        _set(data, name, draw(GOOD[name]))
    student = draw(st.sampled_from(sorted(ACTIVATIONS)))
    teacher = student if draw(st.booleans()) else draw(st.sampled_from(sorted(ACTIVATIONS)))
    _set(data, "student.activation", student)
    _set(data, "teacher.activation", teacher)
    name = data["integrator"].get("name", "euler")
    extra = {"momentum": ("tau", 0.1), "langevin": ("temperature", 1e-3),
             "sgd": ("batch", 2)}.get(name)
    if extra and draw(st.integers(0, 5)):
        data["integrator"][extra[0]] = extra[1]
    for name in draw(st.lists(st.sampled_from(sorted(BAD)), max_size=3, unique=True)):
        _set(data, name, draw(st.sampled_from(BAD[name])))
    if draw(st.booleans()):
        return "config.json", json.dumps(data).encode()
    return "config.toml", tomli_w.dumps(data).encode()


@examples(CONFIG_EXAMPLES)
def test_random_configs_finish_at_t_end_or_fail_with_one_line(examples):
    settings(max_examples=examples, **SETTINGS)(given(config=configs())(_random_config))()


def _random_config(config):
    name, text = config
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(text)
        out = Path(tmp) / "run"
        status, stdout, err = invoke("run", path, "--out", out, "--no-progress")
        event(f"exit {status}")
        if status == 0:
            metrics = json.loads((out / store.METRICS).read_text())
            assert metrics["status"] == "done" and metrics["t"] == metrics["t_end"]
            assert metrics["times"][-1] == metrics["t_end"] and metrics["step"] >= 1
            status, stdout, err = invoke("show", out)
            assert status == 0 and f"{metrics['t_end']:g} / {metrics['t_end']:g}" in stdout
            return
        check_failure(status, err)
        if status == 2:  # bad input: nothing written
            assert not out.exists(), err


# -- random damage to a finished run --------------------------------------------------------------
FINISHED = {"d": 2, "t_end": 0.4, "backend": "numpy", "teacher": {"m": 2},
            "student": {"m": 4}, "integrator": {"name": "euler", "dt": 0.1},
            "objective": {"kind": "empirical", "n_train": 8, "n_test": 4},
            "record": {"n": 4}, "checkpoint": {"every_steps": 2},
            "diagnostics": {"probe": 3, "tangent": True}}


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory):
    """One finished run (with previous checkpoints and tangent checkpoints), built once."""
    base = tmp_path_factory.mktemp("finished")
    (base / "config.toml").write_text(tomli_w.dumps(FINISHED))
    status, _, err = invoke("run", base / "config.toml", "--out", base / "run",
                            "--no-progress")
    assert status == 0, err
    names = sorted(p.name for p in (base / "run").iterdir() if p.name != store.LOCK)
    assert {store.TANGENT, store.TANGENT_PREVIOUS, store.CHECKPOINT_PREVIOUS} <= set(names)
    return base


DAMAGE = st.sampled_from(["truncate", "flip", "delete", "garbage", "empty", "symlink",
                          "retype"])
#: values of the wrong type (or range) put in place of a field of a JSON or TOML file
WRONG = ["x", [1, "a"], {"a": 1}, -1, 1e308, None, True, [[1.0]], 0.5]


def _paths(data, prefix=()):
    """Every key path of a nested table (lists of tables too), in a stable order."""
    items = data.items() if isinstance(data, dict) else \
        enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        yield (*prefix, key)
        yield from _paths(value, (*prefix, key))


def retype(path: Path, at: float, pick: int) -> None:
    """Put a value of the wrong type at one field of a JSON or TOML file, or replace one
    member of an .npz by an array of the wrong dtype or shape (a valid file either way)."""
    import tomllib

    if path.suffix == ".npz":
        arrays = dict(np.load(path))
        name = sorted(arrays)[int(at * len(arrays)) % len(arrays)]
        a = arrays[name]
        arrays[name] = [a.astype(np.float32) if a.dtype.kind == "f" else np.zeros(3),
                        a[..., None], a.ravel()[:-1] if a.size else np.ones(2),
                        np.array("x"), np.zeros((0, 3))][pick % 5]
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)
        return
    toml = path.suffix == ".toml"
    data = tomllib.loads(path.read_text()) if toml else json.loads(path.read_text())
    keys = list(_paths(data))
    value = WRONG[pick % len(WRONG)]
    if not keys or (toml and value is None):
        path.write_text(json.dumps(value))
        return
    *parents, last = keys[int(at * len(keys)) % len(keys)]
    node = data
    for key in parents:
        node = node[key]
    node[last] = value
    path.write_text(tomli_w.dumps(data) if toml else json.dumps(data))
COMMANDS = st.sampled_from(["show", "plot", "resume", "resume-extend", "run-out",
                            "run-config"])


@examples(DAMAGE_EXAMPLES)
def test_damaged_files_give_one_line_and_are_never_modified(finished_run, monkeypatch,
                                                            examples):
    import meanfield.plots.runs as plots

    monkeypatch.setattr(plots, "plot_run", lambda result, out=None, gif=False: [])

    @settings(max_examples=examples, **SETTINGS)
    @given(target=st.integers(0, 100), damage=DAMAGE, where=st.floats(0, 1),
           flips=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), min_size=1,
                          max_size=4),
           command=COMMANDS)
    def damaged(target, damage, where, flips, command):
        _damaged(finished_run, target, damage, where, flips, command)

    damaged()


def _damaged(finished_run, target, damage, where, flips, command):
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        shutil.copytree(finished_run / "run", run_dir)
        files = sorted(p for p in run_dir.iterdir() if p.is_file() and p.name != store.LOCK)
        path = files[target % len(files)]
        data = path.read_bytes()
        outside = Path(tmp) / "outside"
        if damage == "symlink":  # an identical copy outside the run, linked in its place
            outside.write_bytes(data)
            path.unlink()
            path.symlink_to(outside)
        elif damage == "retype":
            retype(path, where, flips[0][1])
        elif damage == "truncate":
            path.write_bytes(data[:int(where * len(data))])
        elif damage == "flip":
            raw = bytearray(data)
            for at, mask in flips:
                raw[min(int(at * len(raw)), len(raw) - 1)] ^= mask
            path.write_bytes(bytes(raw))
        elif damage == "delete":
            path.unlink()
        elif damage == "garbage":
            path.write_bytes(bytes(mask for _, mask in flips) * 7)
        else:
            path.write_bytes(b"")
        before = files_of(run_dir)
        args = {"show": ["show", run_dir], "plot": ["plot", run_dir],
                "resume": ["resume", run_dir, "--no-progress"],
                "resume-extend": ["resume", run_dir, "--t_end", "0.6", "--no-progress"],
                "run-out": ["run", finished_run / "config.toml", "--out", run_dir],
                "run-config": ["run", run_dir / store.CONFIG_TOML, "--out",
                               Path(tmp) / "new", "--no-progress"]}[command]
        status, stdout, err = invoke(*args)
        event(f"{command}: exit {status}")
        if damage == "symlink":
            assert outside.read_bytes() == data, (command, path.name)
        if status != 0:
            check_failure(status, err)
            after = files_of(run_dir)
            assert after == before, (command, path.name, damage, err)
            return
        assert command != "run-out", "run wrote into a directory holding a run"
        if command in ("show", "plot", "run-config"):  # read-only for this run
            assert files_of(run_dir) == before, (command, path.name, damage)
        if command.startswith("resume"):
            metrics = json.loads((run_dir / store.METRICS).read_text())
            t_end = 0.6 if command == "resume-extend" else 0.4
            assert metrics["status"] == "done" and metrics["t"] == t_end


# -- signals at random moments ------------------------------------------------------------------
#: `meanfield ARGS` as the console script runs it
MEANFIELD = [sys.executable, "-c", "import sys; from meanfield.cli import main; "
                                   "sys.exit(main())"]
FRAME = re.compile(r'File "([^"]+)", line \d+, in (\S+)')
PACKAGE = str(Path(store.__file__).parents[1])


def python_start_up(err: str) -> bool:
    """True when a traceback on stderr is Python's own start-up (site, .pth files, the
    imports of the script's first line): no frame of a meanfield function, so no
    meanfield code had started running."""
    frames = FRAME.findall(err)
    return bool(frames) and all(not f.startswith(PACKAGE) or name == "<module>"
                                for f, name in frames)


SIGNALS = {"int": [signal.SIGINT], "int-int": [signal.SIGINT, signal.SIGINT],
           "term": [signal.SIGTERM], "stop-cont": [signal.SIGSTOP, signal.SIGCONT]}


@examples(SIGNAL_EXAMPLES)
def test_signals_at_any_moment_give_at_most_one_line(examples):
    """From start-up (imports) through the run to shutdown (a run of ~0.3 s after its
    imports): at most one line on stderr, never a traceback, and an honest exit status."""
    settings(max_examples=examples, **SETTINGS)(given(
        kind=st.sampled_from(sorted(SIGNALS)), delay=st.floats(0.0, 3.0),
        gap=st.floats(0.0, 0.3))(_signalled))()


def _signalled(kind, delay, gap):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        proc = subprocess.Popen([*MEANFIELD, "run", "--out", out, "--backend", "numpy",
                                 "--t_end", "3", "--integrator.dt", "0.01",
                                 "--checkpoint.every_steps", "50", "--no-progress"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(delay)
            for sig in SIGNALS[kind]:
                proc.send_signal(sig)
                time.sleep(gap)
            _, err = proc.communicate(timeout=300)
        finally:
            proc.kill()
        event(f"{kind}: exit {proc.returncode}")
        if "Traceback" in err and python_start_up(err):
            event("a signal during Python's own start-up")
            return
        lines = err.strip().splitlines()
        assert len(lines) <= 1 and "Traceback" not in err, err
        assert proc.returncode in (0, 130, 143, -signal.SIGINT, -signal.SIGTERM), err
        if proc.returncode == 0:
            assert json.loads((out / store.METRICS).read_text())["status"] == "done"
        elif lines and lines[0].startswith("meanfield: interrupted at t="):
            assert json.loads((out / store.METRICS).read_text())["status"] == "interrupted"
