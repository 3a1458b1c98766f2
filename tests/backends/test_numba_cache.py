"""meanfield.backends.numba.cache: compiled kernels live in a folder keyed by the package
version and a hash of their sources, so an edited source never meets a stale kernel."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba")

from meanfield.backends.numba import cache  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _copy(tmp_path: Path) -> Path:
    package = tmp_path / "meanfield"
    for folder in cache.SOURCES:
        shutil.copytree(cache.PACKAGE / folder, package / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return package


def test_the_key_follows_the_sources_and_the_version(tmp_path):
    """The key of an unchanged copy equals the installed one (content, not place or
    time); editing any source the kernels are built from (a kernel module, a constant
    of meanfield.kernels they freeze) or the version changes it; undoing the edit
    restores it; a file outside those sources does not count."""
    package = _copy(tmp_path)
    key = cache.source_key()
    assert cache.source_key(package) == key
    assert key.startswith(__import__("meanfield").__version__ + "-")
    for name in ("backends/numba/common.py", "kernels/bivariate.py"):
        source = package / name
        text = source.read_text()
        source.write_text(text + "\n# edited\n")
        assert cache.source_key(package) != key, name
        source.write_text(text)
        assert cache.source_key(package) == key
    (package / "model").mkdir()
    (package / "model" / "network.py").write_text("x = 1\n")
    assert cache.source_key(package) == key
    assert cache.source_key(package, version="0.0.0") != key


_SCRIPT = """
import json
import other
from meanfield.backends.numba import cache
from meanfield.backends.numba.kernels import ndtr
assert abs(ndtr(0.0) - 0.5) < 1e-15 and other.twice(2.0) == 4.0
print(json.dumps({"dir": str(cache.cache_dir()), "hits": [
    sum(ndtr.stats.cache_hits.values()), sum(other.twice.stats.cache_hits.values())]}))
"""


def test_kernels_are_cached_in_the_keyed_folder_and_other_numba_code_is_left_alone(
        tmp_path):
    """In a fresh process with MEANFIELD_CACHE_DIR set, a kernel compiles into
    <dir>/numba/<key>/ and a second process loads it from there; a cache=True function
    of another module keeps Numba's usual place (its own __pycache__)."""
    other = tmp_path / "src" / "other.py"
    other.parent.mkdir()
    other.write_text("from numba import njit\n\n@njit(cache=True)\n"
                     "def twice(x):\n    return 2.0 * x\n")
    base = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_CACHE_DIR", "NUMBA_CACHE_LOCATOR_CLASSES")}
    path = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env.update(MEANFIELD_CACHE_DIR=str(base),
               PYTHONPATH=os.pathsep.join([str(ROOT), str(other.parent), *path]))
    runs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", _SCRIPT], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        runs.append(__import__("json").loads(done.stdout.splitlines()[-1]))
    folder = base / "numba" / cache.source_key()
    assert runs[0]["dir"] == str(folder)
    assert sorted(p.name for p in folder.glob("kernels.ndtr-*.nbi"))
    assert runs[0]["hits"] == [0, 0] and runs[1]["hits"] == [1, 1]
    assert not list(base.rglob("other.*"))
    assert list((other.parent / "__pycache__").glob("other.twice-*.nbi"))


def test_ci_starts_from_a_cold_cache():
    """.ci/run points the kernel cache at a fresh temporary folder before each pytest."""
    text = (ROOT / ".ci" / "run").read_text()
    fresh = 'MEANFIELD_CACHE_DIR="$(mktemp -d -p "$SCRATCH")"'
    assert text.count(fresh) == 2
    readme = 'pip install -q -e ".[test]" && python -m pytest -q'  # README's command
    assert text.index(fresh) < text.index(readme)
    assert text.rindex(fresh) < text.index("step numerics-generic-cpu")
