"""Circle distances (theory §11): hand-computable cases, the dense kernel path, m^-1/2 rates."""
from __future__ import annotations

import numpy as np
import ot
import pytest

import meanfield as mf
from meanfield.kernels import circle as ck
from meanfield.analysis import circle_distances as cm
from meanfield.analysis.distances import coupled_deviation, loglog_slope, w2


# --------------------------------------------------------------------------- circle OT
@pytest.mark.parametrize("p", [1, 2])
def test_dirac_masses(p):
    """W_p between Diracs is their circular distance in turns, across the cut too."""
    for a, b in ((0.3, 1.5), (0.1, 2 * np.pi - 0.2), (-3.0, 3.0)):
        gap = abs(np.angle(np.exp(1j * (a - b))))
        got = cm.circle_wasserstein([a], [2.0], [b], [0.5], p=p)
        assert got["positive"] == pytest.approx(gap / (2 * np.pi), abs=1e-12)
        assert got["mass_positive"] == (2.0, 0.5) and got["mass_difference_positive"] == 1.5
        assert np.isnan(got["negative"]) and got["mass_negative"] == (0.0, 0.0)


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("n", [1, 7, 64])
def test_rotation_of_equispaced_atoms(n, p):
    """n equal atoms 2 pi/n apart rotated by delta < pi/n: every atom moves by delta."""
    theta = 2 * np.pi * np.arange(n) / n + 0.3
    delta = 0.4 * np.pi / n
    got = cm.circle_wasserstein(theta, -np.ones(n), theta - delta, -3 * np.ones(n), p=p)
    assert got["negative"] == pytest.approx(delta / (2 * np.pi), rel=1e-9)
    assert got["mass_negative"] == (n, 3 * n)
    full_turn = cm.circle_wasserstein(theta, np.ones(n), theta + 2 * np.pi / n, np.ones(n), p)
    assert full_turn["positive"] == pytest.approx(0.0, abs=1e-12)


def test_split_mass_and_signed_parts():
    """Half at 0 and half at pi against all at pi/2: every unit of mass moves a quarter
    turn. Positive and negative parts are compared separately, each normalised."""
    theta_a, nu_a = [0.0, np.pi, 1.0], [1.0, 1.0, -4.0]
    theta_b, nu_b = [np.pi / 2, 1.5], [6.0, -1.0]
    for p in (1, 2):
        got = cm.circle_wasserstein(theta_a, nu_a, theta_b, nu_b, p=p)
        assert got["positive"] == pytest.approx(0.25, abs=1e-10)
        assert got["negative"] == pytest.approx(0.5 / (2 * np.pi), abs=1e-10)
        assert got["mass_difference_positive"] == 4.0 and got["mass_difference_negative"] == 3.0


def test_sign_flipped_copies_cancel():
    """A symmetrised network (each neuron with a c-negated copy) has the zero measure."""
    net = mf.Network.init(10, 2, "relu", symmetric=True, seed=0)
    theta, nu = cm.circle_measure(*net.signed_particles())
    (tp, mp), (tn, mn) = cm.jordan(theta, nu)
    assert len(tp) == len(tn) == 0
    assert cm.function_distance(theta, nu, [], []) < 1e-12


def test_rescaling_changes_masses_not_distances():
    rng = np.random.default_rng(0)
    theta, nu = rng.uniform(-np.pi, np.pi, 50), rng.standard_normal(50)
    theta2, nu2 = rng.uniform(-np.pi, np.pi, 80), rng.standard_normal(80)
    one = cm.circle_wasserstein(theta, nu, theta2, nu2)
    three = cm.circle_wasserstein(theta, 3 * nu, theta2, 3 * nu2)
    assert three["positive"] == pytest.approx(one["positive"], rel=1e-12)
    assert three["mass_positive"][0] == pytest.approx(3 * one["mass_positive"][0])


@pytest.mark.parametrize("M,ms", [(50_000, (64, 256, 1024)),
                                  pytest.param(200_000, (64, 256, 1024, 4096),
                                               marks=pytest.mark.slow)])
def test_circle_distance_converges_at_the_sampling_rate(M, ms):
    """Same law: distance and baseline agree and fall like m^-1/2, not m^-1/p."""
    rng = np.random.default_rng(1)
    theta_ref = rng.vonmises(0.5, 1.5, M)
    nu_ref = rng.choice([-1.0, 1.0], M) * rng.exponential(1.0, M) / M
    ms = np.array(ms)
    dist, base = [], []
    for m in ms:
        rows = [cm.circle_wasserstein_with_baseline(
            rng.vonmises(0.5, 1.5, m), rng.choice([-1.0, 1.0], m) * rng.exponential(1.0, m) / m,
            theta_ref, nu_ref, seed=s) for s in range(8)]
        dist.append(np.mean([r["distance"]["positive"] for r in rows]))
        base.append(np.mean([r["baseline"]["positive"] for r in rows]))
    assert abs(loglog_slope(ms, dist) + 0.5) < 0.1
    assert abs(loglog_slope(ms, base) + 0.5) < 0.1
    assert np.all(np.abs(np.log(np.array(dist) / base)) < np.log(1.6))


# --------------------------------------------------------------------------- L2 distance
@pytest.mark.parametrize("inputs,scale", [("gaussian", 1.0), ("sphere", 0.5)])
def test_function_distance_hand_cases(inputs, scale):
    """||relu(e_0 . x)||^2 = s/2, and a rotation by delta gives 2 s (kappa(0) - kappa(delta)),
    within the stated bound (tol/2) s (sum |nu|)^2 on the square."""
    got = cm.function_distance([0.3], [1.0], [], [], inputs)
    assert abs(got**2 - scale / 2) <= 0.5 * cm.TOLERANCE * scale
    for delta in (1e-3, 0.5, np.pi):
        want = 2 * scale * (0.5 - ck.kappa(delta))
        got = cm.function_distance([0.3], [1.0], [0.3 + delta], [1.0], inputs)
        assert abs(got**2 - want) <= 0.5 * cm.TOLERANCE * scale * 4
    coarse = cm.function_distance([0.3], [1.0], [0.8], [1.0], inputs, tol=1e-4)
    assert abs(coarse**2 - 2 * scale * (0.5 - ck.kappa(0.5))) <= 0.5e-4 * scale * 4


@pytest.mark.parametrize("inputs", ["gaussian", "sphere"])
def test_function_distance_equals_the_dense_population_risk(inputs):
    """||f - g||^2 = 2 R(f) for the population objective with g as the teacher."""
    f = mf.Network.init(300, 2, "relu", seed=1, alpha=2.0)
    g = mf.Network.init(500, 2, "relu", seed=2)
    dense = np.sqrt(2 * mf.GaussianPopulation(g, inputs=inputs, backend="numpy").risk(f))
    spectral = np.sqrt(2 * mf.GaussianPopulation(g, inputs=inputs,
                                                 backend="spectral").risk(f))
    got = cm.function_distance(*cm.circle_measure(*f.signed_particles()),
                               *cm.circle_measure(*g.signed_particles()), inputs)
    assert got == pytest.approx(dense, rel=1e-10)
    assert spectral == pytest.approx(dense, rel=1e-9)


def test_function_distance_to_a_large_reference_falls_like_m_to_the_minus_half():
    M = 100_000
    ref = mf.Network.init(M, 2, "relu", seed=3)
    theta_ref, nu_ref = cm.circle_measure(*ref.signed_particles())
    ms = np.array([100, 400, 1600, 6400])
    dist = []
    for m in ms:
        rows = [cm.function_distance_with_baseline(*cm.circle_measure(
            *mf.Network.init(m, 2, "relu", seed=(7, int(m), s)).signed_particles()),
            theta_ref, nu_ref, seed=s) for s in range(6)]
        dist.append(np.mean([r["distance"] for r in rows]))
        assert 0.5 < dist[-1] / np.mean([r["baseline"] for r in rows]) < 2.0
    assert abs(loglog_slope(ms, dist) + 0.5) < 0.1


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="shape"):
        cm.circle_measure(np.zeros((4, 4)), np.ones(4))
    with pytest.raises(ValueError, match="inputs"):
        cm.function_distance([0.0], [1.0], [0.0], [1.0], inputs="cube")
    with pytest.raises(ValueError, match="baseline"):
        cm.circle_wasserstein_with_baseline([0.0, 1.0], [1.0, 1.0], [0.0, 1.0], [1.0, 1.0])


@pytest.mark.parametrize("p", [1, 2])
def test_circle_ot_equals_the_linear_program(p):
    """Against ot.emd2 with the circular ground cost min(|u - v|, 1 - |u - v|)^p."""
    rng = np.random.default_rng(5)
    for n_a, n_b in ((1, 1), (3, 5), (40, 25)):
        theta_a, theta_b = rng.uniform(-np.pi, np.pi, n_a), rng.uniform(-np.pi, np.pi, n_b)
        mass_a, mass_b = rng.uniform(0.1, 1, n_a), rng.uniform(0.1, 1, n_b)
        u, v = np.mod(theta_a, 2 * np.pi) / (2 * np.pi), np.mod(theta_b, 2 * np.pi) / (2 * np.pi)
        gap = np.abs(u[:, None] - v[None, :])
        cost = np.minimum(gap, 1 - gap) ** p
        lp = ot.emd2(mass_a / mass_a.sum(), mass_b / mass_b.sum(), cost) ** (1 / p)
        got = cm.wasserstein_on_circle(theta_a, mass_a, theta_b, mass_b, p=p)
        assert got == pytest.approx(lp, rel=1e-9, abs=1e-12)


# --------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_small_limit_study_end_to_end():
    """A spectral reference of M = 4096 particles equals the O(M^2) Numba run; systems of
    m = 32, 128, 512 particles coupled to random subsets of its initial particles then
    sit at m^-1/2 from it in function space, on the circle and in coupled deviation
    (mean over 4 subsets), as far as two independent samples of the reference, while W2
    in R^3 falls like m^-0.27, near its m^-1/3 floor. (A slow check: the default run has
    the study's pipeline at M = 2048 in tests/experiments/test_mean_field_limit_2d.py.)"""
    M, ms = 4096, np.array([32, 128, 512])
    teacher = mf.Network.init(3, 2, "relu", seed=11, output="sign", sphere=True)
    ref = mf.Network.init(M, 2, "relu", seed=12, tau=0.5)

    def run(net, backend):
        return mf.simulate(net, mf.GaussianPopulation(teacher, backend=backend),
                           mf.integrators.euler(0.05), 2.0,
                           record=mf.LinearSchedule(2)).final.w

    w_ref = run(ref, "spectral")
    w_dense = run(ref, "numba")
    assert np.max(np.abs(w_ref - w_dense)) < 1e-10 * np.max(np.abs(w_dense))
    measure_ref = cm.circle_measure(w_ref, np.full(M, 1 / M))
    rows = {key: np.zeros((4, len(ms))) for key in ("function", "function_baseline", "circle",
                                                    "circle_baseline", "w2", "deviation")}
    for seed in range(4):
        for i, m in enumerate(ms):
            keep = np.random.default_rng([seed, m]).permutation(M)
            w_m = run(mf.Network.from_packed(ref.w[keep[:m]], ref.layout), "numba")
            measure = cm.circle_measure(w_m, np.full(m, 1 / m))
            fd = cm.function_distance_with_baseline(*measure, *measure_ref, seed=seed)
            cw = cm.circle_wasserstein_with_baseline(*measure, *measure_ref, seed=seed)
            rows["function"][seed, i] = fd["distance"]
            rows["function_baseline"][seed, i] = fd["baseline"]
            rows["circle"][seed, i] = cw["distance"]["positive"]
            rows["circle_baseline"][seed, i] = cw["baseline"]["positive"]
            rows["w2"][seed, i] = w2(w_m, w_ref[keep[m:m + 1024]])
            rows["deviation"][seed, i] = coupled_deviation(w_m, w_ref[keep[:m]])
    mean = {key: value.mean(axis=0) for key, value in rows.items()}
    slopes = {key: loglog_slope(ms, value) for key, value in mean.items()}
    for key in ("function", "circle"):  # the coupled systems keep their sampling error
        assert np.all(np.abs(np.log(mean[key] / mean[key + "_baseline"])) < np.log(2)), mean
    for key in ("function", "circle", "deviation"):
        assert -0.8 < slopes[key] < -0.35, (key, slopes)
    assert -0.4 < slopes["w2"] < -0.15 and slopes["w2"] > slopes["function"] + 0.1
