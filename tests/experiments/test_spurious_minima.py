"""The spurious-minima experiment (Safran & Shamir 2018): its setting, its certificates
and its statistics."""
import numpy as np
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
