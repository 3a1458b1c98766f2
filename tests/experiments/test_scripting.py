"""The experiment scripts' shared command line and atomic outputs."""
import contextlib
import io
import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from meanfield.experiments.scripting import experiment_parser, write_results

SCRIPTS = sorted(p for p in (Path(__file__).parents[2] / "scripts").glob("*.py"))


def test_parser_defaults_and_workers():
    args = experiment_parser("Doc line.\nmore", "out/x", "small", workers=True).parse_args([])
    assert (args.quick, args.seed, args.out, args.workers) == (False, 0, Path("out/x"), None)
    args = experiment_parser("Doc.", "out/x", "small").parse_args(
        ["--quick", "--seed", "3", "--out", "d"])
    assert (args.quick, args.seed, args.out) == (True, 3, Path("d"))
    assert not hasattr(args, "workers")


def test_write_results_is_atomic_json(tmp_path):
    write_results(tmp_path / "run", summary={"m": [1, 2], "x": float("nan")}, extra={"a": 1})
    files = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert files == ["extra.json", "summary.json"]  # no temporaries left behind
    assert json.loads((tmp_path / "run" / "extra.json").read_text()) == {"a": 1}


def _script(script: Path, flag: str, real: bool) -> tuple[int, str]:
    """(exit status, stdout) of ``python SCRIPT FLAG``: its own process when ``real``,
    else run as __main__ in this process (meanfield already imported: milliseconds)."""
    if real:
        out = subprocess.run([sys.executable, str(script), flag], capture_output=True,
                             text=True, timeout=120)
        return out.returncode, out.stdout
    stdout, status = io.StringIO(), 0
    argv = sys.argv
    try:
        sys.argv = [str(script), flag]
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
            runpy.run_path(str(script), run_name="__main__")
    except SystemExit as done:
        status = done.code or 0
    finally:
        sys.argv = argv
    return status, stdout.getvalue()


@pytest.mark.parametrize("real", [False, pytest.param(True, marks=pytest.mark.slow)],
                         ids=["in-process", "process"])
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_script_has_the_experiment_options(script, real):
    """--help lists the shared options and exits 0, an unknown flag exits 2: in this
    process by default, each in its own process (1-2 s of imports) as a slow check."""
    status, stdout = _script(script, "--help", real)
    assert status == 0
    for flag in ("--quick",) + (() if script.name == "bench.py" else ("--seed", "--out")):
        assert flag in stdout, (script.name, flag)
    assert _script(script, "--no-such-flag", real)[0] == 2
