"""The spurious-minima experiment (Safran & Shamir 2018): its setting, its certificates
and its statistics."""
import runpy
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import beta

from meanfield.experiments import spurious_minima as sm


def test_the_setting_is_safran_and_shamirs():
    """Teacher sum_i relu(e_i . x) (orthonormal, unit output weights, plain sum), Xavier
    students with unit output weights; the risk of the teacher itself is 0."""
    pop = sm.problem(4)
    assert np.array_equal(pop.teacher.a, np.eye(4)) and pop.teacher.alpha == 4.0
    nets = sm.students(4, 5, 200, seed=0)
    assert all(np.array_equal(n.c, np.ones((5, 1))) and n.alpha == 5.0 for n in nets)
    a = np.concatenate([n.a for n in nets])
    assert abs(np.mean(a**2) - 1 / 4) < 5 * np.std(a**2) / np.sqrt(a.size)
    student = sm.students(4, 4, 1, 0)[0].with_w(np.concatenate([np.ones((4, 1)), np.eye(4)], 1))
    assert pop.risk(student) == 0.0


def test_small_teachers_have_no_spurious_minimum_reached():
    """k = n = 3 (below the k >= 6 of the paper): every initialisation, frozen or trained
    output weights, ends certified at a global minimum; c stays at 1 when frozen."""
    for trained in (False, True):
        out = sm.cell(3, 3, inits=4, t_end=100.0, trained_c=trained)
        assert out["counts"]["global minimum"] == 4, out


def test_clopper_pearson_interval_and_distinct_risks():
    """The interval is the exact binomial one (beta quantiles); risks equal to 1e-6
    relative are one minimum, with the range of their smallest eigenvalues."""
    points = ([{"kind": "local minimum", "risk": 0.1 * (1 + 1e-9 * i),
                "min_nonzero_eig": 0.01 * i} for i in range(1, 4)]
              + [{"kind": "local minimum", "risk": 0.2, "min_nonzero_eig": 0.5}]
              + [{"kind": "global minimum", "risk": 0.0, "min_nonzero_eig": 0.0}] * 16)
    s = sm.summarise(points)
    assert s["spurious_fraction"] == 4 / 20
    low, high = beta.ppf(0.025, 4, 17), beta.ppf(0.975, 5, 16)
    assert np.allclose(s["spurious_ci"], [low, high], rtol=1e-8)
    assert [(g["count"], g["min_eig_low"], g["min_eig_high"]) for g in s["spurious_risks"]] \
        == [(3, 0.01, 0.03), (1, 0.5, 0.5)]


def test_cells_run_column_by_column_and_a_resumed_run_keeps_its_finished_cells():
    """All k of n = k, then all k of n = k + 1; the summary is handed over after every
    cell; a rerun with the finished cells keeps them as they are and runs the rest,
    which come out as in the first run (each cell a pure function of its seed)."""
    seen: list[int] = []
    out = sm.spurious_minima([2, 3], [0, 1], inits=2, t_end=5.0, trained=(False,),
                             log=None, on_cell=lambda s: seen.append(len(s["cells"])))
    assert [(c["k"], c["n"]) for c in out["cells"]] == [(2, 2), (3, 3), (2, 3), (3, 4)]
    assert seen == [1, 2, 3, 4, 4]
    assert [c["extra"] for c in out["columns"]] == [0, 1]
    kept = [dict(c, kept=True) for c in out["cells"][:3]]
    again = sm.spurious_minima([2, 3], [0, 1], inits=2, t_end=5.0, trained=(False,),
                               log=None, done=kept)
    assert [c.get("kept", False) for c in again["cells"]] == [True, True, True, False]
    assert again["cells"][3]["counts"] == out["cells"][3]["counts"]
    # a column's seconds are its cells', the kept ones' included
    assert again["columns"][0]["seconds"] == out["cells"][0]["seconds"] + \
        out["cells"][1]["seconds"]
    other = sm.spurious_minima([2], [0], inits=3, t_end=5.0, trained=(False,), log=None,
                               done=kept)
    assert "kept" not in other["cells"][0]  # another number of inits: rerun


def test_reference_comparison_is_fishers_exact_test():
    """The p-value is the two-sided Fisher test of the 2 x 2 table (ours, the authors'
    runs at n = k): the total hypergeometric probability of tables no likelier than the
    observed one; no comparison for n != k or trained output weights."""
    from scipy.stats import hypergeom

    cell = {"k": 10, "n": 10, "trained_c": False, "inits": 100,
            "counts": {"local minimum": 41}}
    percent, p = sm.against_reference(cell)
    theirs, runs = sm.REFERENCE[10]
    assert percent == 100 * theirs / runs
    law = hypergeom(100 + runs, 41 + theirs, 100)
    pmf = law.pmf(np.arange(0, 101))
    assert np.isclose(p, pmf[pmf <= law.pmf(41) * (1 + 1e-7)].sum(), rtol=1e-9)
    assert sm.against_reference(dict(cell, counts={"local minimum": 90}))[1] < 1e-20
    assert sm.against_reference(dict(cell, n=11)) is None
    assert sm.against_reference(dict(cell, trained_c=True)) is None


def test_bad_script_values_exit_2_naming_the_option(capsys):
    """--inits 0, --k 0, --extra -1: exit status 2 and an error line naming the option."""
    main = runpy.run_path(str(Path(__file__).parents[2] / "scripts" / "spurious_minima.py"))[
        "main"]
    for argv in (["--inits", "0"], ["--k", "0"], ["--extra", "-1"]):
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == 2
        assert argv[0] in capsys.readouterr().err.strip().splitlines()[-1]
