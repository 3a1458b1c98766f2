"""Optional dependencies: without its extra, a path stops with one line naming it; the
paths that need no extra (the demo, the command line) import without them."""
from __future__ import annotations

import subprocess
import sys

import pytest

from meanfield.core.extras import MissingExtra, require

HIDE = "import sys\nfor name in {names!r}: sys.modules[name] = None\n"
OPTIONAL = ["pandas", "dask", "dask.distributed", "distributed", "finufft", "sklearn"]


def python(code: str, hidden=OPTIONAL) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter where the modules ``hidden`` cannot import."""
    return subprocess.run([sys.executable, "-c", HIDE.format(names=list(hidden)) + code],
                          capture_output=True, text=True, timeout=300)


def test_require_names_the_extra_and_rejects_unknown_extras():
    with pytest.raises(MissingExtra, match=r'pip install "meanfield\[spectral\]"'):
        require("a_module_that_does_not_exist", "spectral")
    with pytest.raises(ValueError, match="extra must be one of"):
        require("math", "everything")


@pytest.mark.parametrize("code, extra", [
    ("from meanfield.runs.cluster import local_client; local_client().__enter__()", "sweeps"),
    ("import meanfield as mf; mf.datasets.digits_parity(10, 10)", "data"),
    ("from meanfield.backends import spectral; spectral.engine()", "spectral"),
])
def test_a_path_without_its_extra_says_which_to_install(code, extra):
    done = python(code + "\nprint('no error')")
    assert done.returncode != 0 and "no error" not in done.stdout
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("meanfield.core.extras.MissingExtra") and f"meanfield[{extra}]" in last


def test_command_line_without_an_extra_prints_one_line(tmp_path):
    spec = tmp_path / "SWEEP.toml"
    spec.write_text('[base]\nt_end = 0.1\n[base.student]\nm = 4\n[grid]\nseeds = 2\n')
    done = python("from meanfield.cli import main\n"
                  f"sys.exit(main(['sweep', {str(spec)!r}, '--out', {str(tmp_path / 'out')!r}]))")
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().count("\n") == 0 and "meanfield[sweeps]" in done.stderr


def test_demo_and_command_line_need_no_extra():
    done = python("import meanfield.experiments.demo, meanfield.cli.main, meanfield.plots.runs\n"
                  "import meanfield as mf\n"
                  "print(mf.get_backend('auto').pair_backend(10**5, 10**5, mf.pair_kernel('relu'),"
                  " mf.Layout(1, 2)).name)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["numba"]  # auto skips the spectral backend without finufft
