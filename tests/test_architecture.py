"""The package's shape: layer contracts, a side-effect-free import, a repository that stands
alone, small files (docs/architecture.md)."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
LINT = Path(sys.executable).parent / "lint-imports"
HEAVY = ("pandas", "dask", "matplotlib", "pykeops", "sklearn", "numba", "scipy", "ot")


def lint(cwd) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT)], cwd=cwd, capture_output=True, text=True)


def test_import_contracts_hold():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize("module, line", [
    ("analysis/distances.py", "from ..plots import figures"),         # analysis drawing
    ("runs/run.py", "from ..experiments import demo"),                # runs knowing a paper
    ("dynamics/integrators.py", "from ..objectives.teacher_student import Online"),  # isinstance
    ("model/network.py", "import pandas"),                            # a table library
    ("kernels/gaussian.py", "from ..model import network"),           # a kernel above the model
])
def test_a_forbidden_import_breaks_a_contract(tmp_path, module, line):
    """The contracts can fail: one forbidden import in a copy of the package breaks them."""
    shutil.copytree(ROOT / "meanfield", tmp_path / "meanfield",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path)
    with open(tmp_path / "meanfield" / module, "a") as fh:
        fh.write(f"\n{line}  # forbidden\n")
    result = lint(tmp_path)
    assert result.returncode != 0 and "BROKEN" in result.stdout


def test_import_loads_no_heavy_dependency():
    code = ("import sys, meanfield; "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_public_names_resolve():
    import meanfield as mf

    for name in mf.__all__:
        assert getattr(mf, name) is not None
    assert callable(mf.simulate) and callable(mf.run) and callable(mf.sweep)
    with pytest.raises(AttributeError):
        mf.no_such_name  # noqa: B018


def test_public_names_keep_their_meaning_whatever_was_imported_first():
    """Importing every module of the package (as building objects, classify, the command
    line do) leaves every public name what it was: a function stays a function."""
    code = (
        "import importlib, inspect, pkgutil, types, meanfield as mf\n"
        "for info in pkgutil.walk_packages(mf.__path__, 'meanfield.'):\n"
        "    if '.keops' not in info.name:\n"
        "        importlib.import_module(info.name)\n"
        "bad = [n for n in mf.__all__ if isinstance(getattr(mf, n), types.ModuleType)\n"
        "       and n not in mf._SUBMODULES]\n"
        "print(bad, callable(mf.hessian), callable(mf.classify))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[] True True"


def _tracked_files():
    listing = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if listing.returncode:
        pytest.fail(f"git ls-files failed: {listing.stderr}")
    return [ROOT / p for p in listing.stdout.splitlines()]


def test_the_repository_stands_alone():
    """No tracked file points at notes outside the repository."""
    patterns = ["../" + "shared", "THEORY" + ".md", "DESIGN" + ".md"]
    offenders = []
    for path in _tracked_files():
        if path.suffix in (".png", ".gif", ".pdf", ".npz") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        offenders += [f"{path.relative_to(ROOT)}: {p}" for p in patterns if p in text]
    assert offenders == []


def test_no_python_file_over_600_lines():
    long = [f"{p.relative_to(ROOT)} ({n})" for p in _tracked_files() if p.suffix == ".py"
            for n in [len(p.read_text(encoding="utf-8").splitlines())] if n > 600]
    assert long == []
