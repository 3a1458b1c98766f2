"""The experiment scripts' shared command line and atomic outputs."""
import json
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


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_script_has_the_experiment_options(script):
    out = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for flag in ("--quick",) + (() if script.name == "bench.py" else ("--seed", "--out")):
        assert flag in out.stdout, (script.name, flag)
    bad = subprocess.run([sys.executable, str(script), "--no-such-flag"], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2
