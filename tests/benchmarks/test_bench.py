"""``meanfield bench``: every benchmark group behind one command and one table, each group
smoke-tested at its ``--quick`` size (seconds each)."""
import argparse
import math
import re

import pytest

from benchmarks import groups as bench_groups
from benchmarks.ode import METHODS

COLUMNS = ("bench", "backend", "time", "reference", "result", "target")


def table(capsys, *argv):
    """Run ``meanfield bench *argv`` in this process; (header line, rows as dicts)."""
    assert bench_groups.main(list(argv)) == 0
    out = capsys.readouterr().out.splitlines()
    start = out.index("| benchmark | backend | median time (s) | reference | result | "
                      "target |")
    rows = []
    for line in out[start + 2:]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        assert len(cells) == len(COLUMNS), line      # no unescaped "|" inside a cell
        row = dict(zip(COLUMNS, cells, strict=False))
        row["time"] = math.nan if row["time"] == "-" else float(row["time"])
        rows.append(row)
    return out[0], rows


def number(pattern, text):
    match = re.search(pattern, text)
    assert match, (pattern, text)
    return float(match.group(1))


def test_groups_are_one_list_named_in_help():
    assert list(bench_groups.GROUPS) == ["backends", "small", "mixed", "spectral", "hessian",
                                         "ode"]
    defaults = [n for n, g in bench_groups.GROUPS.items() if g.default]
    assert defaults == list(bench_groups.GROUPS)
    parser = argparse.ArgumentParser()
    bench_groups.configure(parser)
    text = parser.format_help()
    for name, group in bench_groups.GROUPS.items():
        star = r" \*" if group.default else ""
        assert re.search(rf"^  {name}{star} +{group.lines}, ", text, re.MULTILINE), name


@pytest.mark.parametrize("argv", [["--only", "nope"], ["--only", "spectral,nope"],
                                  ["--only", ","], ["--only", "ode", "--repeat", "0"]])
def test_bad_groups_exit_2_with_one_line(capsys, argv):
    assert bench_groups.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1
    assert err.startswith("meanfield: error: ")


def test_quick_mixed(capsys):
    head, rows = table(capsys, "--quick", "--only", "mixed")
    assert "`meanfield bench --only mixed --quick`" in head
    (row,) = rows
    assert row["bench"].startswith("7. mixed pairs") and row["backend"] == "numba"
    assert 0 < row["time"] < 30 and 1 < number(r"ratio ([\d.]+)", row["result"]) < 100


def test_quick_spectral(capsys):
    _, rows = table(capsys, "--quick", "--only", "spectral")
    assert [r["bench"][:3] for r in rows] == ["8. "] * 3
    fast, numba, acc = rows
    assert fast["backend"] == "spectral" and "M=100000" in fast["bench"]
    assert 0 < fast["time"] < 30 and 0 < numba["time"] < 30
    assert number(r"([\d.e+-]+)x faster", fast["result"]) > 10   # ~200x at M = 10^5
    assert math.isnan(acc["time"])
    assert number(r"= ([\d.e+-]+)$", acc["result"]) < 2e-11      # 2 tol


def test_quick_hessian(capsys):
    _, rows = table(capsys, "--quick", "--only", "hessian")
    assert len(rows) == 10 and all(r["bench"].startswith("9. ") for r in rows)
    assert all(r["backend"].endswith(", 1 thread") for r in rows)
    assert not any("m=2000" in r["bench"] for r in rows)         # quick skips m = 2000
    assert all(0 < r["time"] < 60 for r in rows)
    refine, classify = rows[-2:]
    assert number(r"stationarity \S+ -> ([\d.e+-]+)", refine["result"]) < 1e-8
    assert classify["result"].startswith("global minimum, 0 negative")


def test_quick_ode_every_method_reaches_the_tolerance(capsys):
    _, rows = table(capsys, "--quick", "--only", "ode")
    assert [r["bench"].split()[2] for r in rows] == list(METHODS)
    for method, row in zip(METHODS, rows, strict=False):
        assert row["result"].startswith("reached, "), row
        assert number(r"R/R0 = ([\d.e+-]+)", row["result"]) < 1e-10
        hessians = number(r"velocities, (\d+) Hessians", row["reference"])
        assert (hessians > 0) == (method in ("Radau", "flow+refine")), row
        assert 0 < row["time"] < 60 and row["backend"] == "numpy, 1 thread"


def test_the_table_header_names_the_blas_kernels_and_a_forced_core_type(monkeypatch):
    """The header says which BLAS kernels ran the products, and that OPENBLAS_CORETYPE
    forced them (the machines here set it to Haswell on AVX-512 CPUs)."""
    from threadpoolctl import threadpool_info

    from benchmarks.groups import blas_note

    import scipy.linalg  # noqa: F401 - SciPy's own OpenBLAS loaded too: NumPy's is named

    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    blas = [i for i in blas if "numpy" in str(i.get("filepath", ""))] or blas
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    note = blas_note()
    assert note.startswith("BLAS: ")
    openblas = bool(blas) and blas[0].get("internal_api") == "openblas"
    assert ("forced by OPENBLAS_CORETYPE=Haswell" in note) == openblas
    if openblas:
        assert f"({blas[0]['architecture']} kernels" in note
    monkeypatch.delenv("OPENBLAS_CORETYPE")
    assert "forced" not in blas_note()


def test_the_flop_bound_computes_the_two_products_either_way():
    """Line 1's bound: BLAS's own threads and one-thread row blocks (3 threads, uneven
    rows) both compute (A_t A_s^T) A_s, the two products of a population velocity."""
    import numpy as np

    from benchmarks.bench import bound_products

    blas, blocks = bound_products(301, 20, 3)
    rng = np.random.default_rng(0)
    a_t, a_s = rng.standard_normal((301, 20)), rng.standard_normal((306, 20))
    want = np.einsum("ij,kj,kl->il", a_t, a_s, a_s, optimize=False)
    for got in (blas(), blocks()):
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 1e-12 * np.abs(want).max()
