"""Critical points: refinement to known minima, classification of constructed minima and
saddles, symmetry zero modes (theory §12)."""
import numpy as np
import pytest

import meanfield as mf
import meanfield.analysis.critical as critical
from meanfield.analysis.critical import classify, expected_zero_modes, refine, stationarity

#: stationarity of an exactly critical point: rounding noise of sums of O(1) pair terms
#: (~1e-16, its last bits depend on the CPU and the BLAS kernels), bounded by ~500 eps
STATIONARY = 1e-13


def _perturbed_teacher(act, bias, k, seed=0):
    teacher = mf.Network.init(4, 5, act, k=k, bias=bias, seed=1)
    rng = np.random.default_rng(seed)
    w = teacher.w[rng.permutation(4)] + 0.05 * rng.standard_normal(teacher.w.shape)
    return teacher, teacher.with_w(w)


def _on_teacher_rays(net, teacher):
    """Every student (a, b) lies on a teacher ray (relu) or at a teacher neuron (erf)."""
    ab = np.asarray(net.w[:, net.layout.k:])
    ref = np.asarray(teacher.w[:, teacher.layout.k:])
    if net.activation.homogeneous_degree == 1:
        ab = ab / np.linalg.norm(ab, axis=1, keepdims=True)
        ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    return np.abs(ab[:, None, :] - ref[None, :, :]).max(axis=2).min(axis=1).max()


@pytest.mark.parametrize("act", ["relu", "erf"])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("k", [1, 3])
def test_refine_reaches_the_teacher(act, bias, k):
    """Student = teacher up to a permutation, perturbed by 0.05: refine (trust-region
    Newton descent, then least squares on the velocity) reaches stationarity <= 1e-12
    at a zero-risk point (up to the rounding of R, a sum of O(1) pair terms) whose
    neurons sit on the teacher's (rays for relu, where c sigma(a.x) = (c/s) sigma(s a.x)
    leaves the scale free)."""
    teacher, start = _perturbed_teacher(act, bias, k)
    pop = mf.GaussianPopulation(teacher, backend="numpy")
    net, report = refine(start, pop, tol=1e-12)
    assert report["success"] and report["method"] == "trust-exact+least-squares"
    assert report["stationarity_end"] <= 1e-12 < report["stationarity_start"]
    assert report["stationarity_end"] == pytest.approx(stationarity(net, pop))
    assert report["risk_end"] <= 1e-14 < report["risk_start"]
    assert report["iterations"] <= 40 and 0 < report["displacement"] < 0.5
    assert net.w.dtype == np.float64 and net.w.shape == start.w.shape
    assert _on_teacher_rays(net, teacher) <= 1e-9


def test_refine_with_hessian_vector_products(monkeypatch):
    """Beyond REFINE_DENSE_MAX the descent is trust-krylov and the least-squares
    subproblems are solved by LSMR, both on Hessian-vector products (Numba here): the
    same 1e-12 is reached."""
    monkeypatch.setattr(critical, "REFINE_DENSE_MAX", 0)
    teacher, start = _perturbed_teacher("relu", False, 1)
    pop = mf.GaussianPopulation(teacher, backend="numba")
    net, report = refine(start, pop)
    assert report["method"] == "trust-krylov+least-squares"
    assert report["success"] and report["stationarity_end"] <= 1e-12
    assert _on_teacher_rays(net, teacher) <= 1e-9


@pytest.mark.parametrize("method", ["trust-exact", "trust-krylov", "newton-cg", "l-bfgs-b"])
def test_minimisation_methods_descend_and_report_honestly(method):
    """The scipy.optimize.minimize methods on m J move downhill; their acceptance tests
    compare values of J, so they stop near sqrt(rounding): success reports whether the
    requested stationarity was reached."""
    teacher, start = _perturbed_teacher("erf", False, 1)
    pop = mf.GaussianPopulation(teacher, backend="numpy")
    net, report = refine(start, pop, tol=1e-12, method=method, max_iter=50)
    assert report["method"] == method
    assert report["risk_end"] < 1e-3 * report["risk_start"]
    assert report["stationarity_end"] < 1e-2 * report["stationarity_start"]
    assert report["success"] == (report["stationarity_end"] <= 1e-12)
    with pytest.raises(ValueError, match="method"):
        refine(start, pop, method="newton")


@pytest.mark.parametrize("act,bias,k,zeros", [
    ("relu", False, 1, 4), ("relu", False, 3, 4), ("relu", True, 1, 4), ("relu", True, 3, 4),
    ("erf", False, 1, 0), ("erf", True, 3, 0),
    # linear: f depends only on M = C^T A (k x e); zero modes = m (k + e) - k r_A - e r_C + r_A r_C
    ("linear", False, 1, 4 * 6 - 1 * 4 - 5 * 1 + 4 * 1),
    ("linear", True, 3, 4 * 9 - 3 * 4 - 6 * 3 + 4 * 3),
])
def test_teacher_is_a_global_minimum_with_its_symmetry_zero_modes(act, bias, k, zeros):
    """The teacher as the student (4 neurons, d = 5, noise 0.2): risk = k noise^2/2,
    H positive semi-definite with exactly the zero modes of the symmetries: one
    rescaling per relu neuron, none for erf (distinct neurons, generic position), the
    fibre of w -> C^T A for the linear network. The gap to the first nonzero
    eigenvalue exceeds eight orders of magnitude."""
    teacher = mf.Network.init(4, 5, act, k=k, bias=bias, seed=1)
    pop = mf.GaussianPopulation(teacher, noise=0.2, backend="numpy")
    result = classify(teacher, pop)
    assert result["kind"] == "global minimum"
    assert result["risk"] == pytest.approx(0.5 * k * 0.2**2, rel=1e-12)
    assert result["n_negative"] == 0
    assert result["n_zero"] == result["expected_zero_modes"] == zeros
    assert result["zero_gap"] > 1e8
    assert not result["degenerate"]


@pytest.mark.parametrize("act", ["relu", "erf"])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("k", [1, 3])
def test_duplicates_and_dead_outputs_at_a_global_minimum(act, bias, k):
    """Student with m = 5 neurons realising a 3-neuron teacher: teacher neuron 0 split
    in two (output weights 0.3 : 0.7, and for relu the second copy rescaled by 2 along
    its ray), neurons 1 and 2 copied, and one neuron with c = 0 at a random (a, b).
    Zero modes (e = d + bias): the split pair spans k + r e - o feature directions
    (r = 1, o = 1 for relu, 0 for erf) out of 2 (k + e); a single neuron gives 1 (relu
    rescaling) or 0; the dead output gives its e input weights (its output weights
    have curvature E[sigma^2] > 0)."""
    teacher = mf.Network.init(3, 4, act, k=k, bias=bias, seed=1)
    pop = mf.GaussianPopulation(teacher, backend="numpy")
    w = teacher.w
    rows = np.array([w[0], w[0], w[1], w[2], np.random.default_rng(0).standard_normal(w.shape[1])])
    rows[:, :k] *= 5 / 3
    rows[0, :k] *= 0.3
    rows[1, :k] *= 0.7
    if act == "relu":
        rows[1, :k] /= 2.0
        rows[1, k:] *= 2.0
    rows[4, :k] = 0.0
    student = mf.Network.from_packed(rows, teacher.layout, activation=act)
    e, relu = 4 + bias, act == "relu"
    pair = 2 * (k + e) - (k + e - relu)
    expected = pair + 2 * relu + e
    result = classify(student, pop)
    # an exact critical point: stationarity is rounding noise (1e-17-3e-16 measured on
    # two OpenBLAS kernel sets), bounded here with room for any CPU
    assert result["kind"] == "global minimum" and result["stationarity"] < STATIONARY
    assert result["n_negative"] == 0
    assert result["n_zero"] == result["expected_zero_modes"] == expected


@pytest.mark.parametrize("d", [2, 3, 5])
def test_splitting_a_neuron_between_two_teachers_is_a_saddle(d):
    """Teacher y = (relu(x1) + relu(x2))/2. One student neuron c relu(u.x) with
    u = (e1 + e2)/sqrt2 is critical when c = beta* = 2 K(u, e1) (by the e1 <-> e2 and
    x_j -> -x_j symmetries the gradient is along u, where it is dR/dbeta), and classify
    finds a local minimum (one rescaling zero mode).

    Duplicating it (m = 2, both copies at (beta*, u)) stays critical (Fukumizu-Amari).
    H commutes with the exchange of the copies; on antisymmetric directions
    (dw, -dw) it is the residual block E[(f - y) grad^2 phi] = [[0, 0], [0, c S]] with
    S = E[(f - y) delta(u.x) x x^T], because the gradient E[(f - y) relu'(u.x) x]
    vanishes. On the hyperplane u.x = 0, f = 0 and y = |x1|/2 with x1 = w/sqrt2, so S
    is negative on u^perp: c S = -beta*/(pi sqrt2) along e1 - e2 and -beta*/(2 pi sqrt2)
    along each of the d - 2 other directions. Symmetric directions give the one-neuron
    Hessian. Hence exactly d - 1 negative eigenvalues with these values, and 3 zero
    modes (two rescalings, one transfer of output weight)."""
    eye = np.eye(d)
    teacher = mf.Network(np.ones(2), eye[:2], activation="relu")
    pop = mf.GaussianPopulation(teacher, backend="numpy")
    u = (eye[0] + eye[1]) / np.sqrt(2)
    beta = np.sqrt(2) / 2 * (1 + 3 * np.pi / 4) / np.pi
    one = classify(mf.Network(np.array([beta]), u[None], activation="relu"), pop)
    assert one["kind"] == "local minimum" and one["stationarity"] < STATIONARY
    assert one["n_zero"] == one["expected_zero_modes"] == 1 and one["n_negative"] == 0
    two = classify(mf.Network(np.array([beta, beta]), np.array([u, u]), activation="relu"), pop)
    assert two["kind"] == "saddle" and two["stationarity"] < STATIONARY
    assert two["n_negative"] == d - 1
    assert two["n_zero"] == two["expected_zero_modes"] == 3
    expected = [-beta / (np.pi * np.sqrt(2))] + [-beta / (2 * np.pi * np.sqrt(2))] * (d - 2)
    np.testing.assert_allclose(two["eigenvalues"][:d - 1], expected, rtol=1e-10)
    np.testing.assert_allclose(two["eigenvalues"][d + 2:], one["eigenvalues"][1:], rtol=1e-10)


@pytest.mark.parametrize("eps", [1e-4, 1e-2])
def test_least_squares_certifies_the_saddle_auto_descends(eps):
    """Near the split saddle above (d = 3, perturbed by eps), least squares on the
    velocity returns to the saddle's critical set (two negative eigenvalues, three
    symmetry zero modes, same risk) within O(eps); the default descent leaves it and
    reaches the global minimum, each student on one teacher ray (two rescalings)."""
    eye = np.eye(3)
    pop = mf.GaussianPopulation(mf.Network(np.ones(2), eye[:2], activation="relu"),
                                backend="numpy")
    u = (eye[0] + eye[1]) / np.sqrt(2)
    beta = np.sqrt(2) / 2 * (1 + 3 * np.pi / 4) / np.pi
    saddle = mf.Network(np.array([beta, beta]), np.array([u, u]), activation="relu")
    start = saddle.with_w(saddle.w + eps * np.random.default_rng(0).standard_normal((2, 4)))
    net, report = refine(start, pop, method="least-squares")
    assert report["success"] and report["displacement"] < 3 * eps
    result = classify(net, pop)
    assert (result["kind"], result["n_negative"], result["n_zero"]) == ("saddle", 2, 3)
    assert result["risk"] == pytest.approx(pop.risk(saddle), rel=1e-12)
    net, report = refine(start, pop)
    result = classify(net, pop)
    assert report["success"] and result["kind"] == "global minimum"
    assert result["n_zero"] == result["expected_zero_modes"] == 2


def test_erf_neurons_at_the_origin_form_a_degenerate_saddle():
    """erf(0) = 0: with every student neuron at w = 0, f = 0 and the gradient vanishes
    (dR/dc = E[(f - y) erf(0)] = 0, dR/da is proportional to c = 0). The only second
    derivative left is d2J/dc da = -E[y erf'(0) x]/alpha per neuron, so H is block
    diagonal with blocks [[0, B^T], [B, 0]], B = -(1/alpha) sum_j q*_j c*_j
    (4/pi) a*_j / sqrt(1 + 2|a*_j|^2): eigenvalues +-|B| once per neuron and d - 1
    zeros per neuron that no symmetry explains (a degenerate saddle)."""
    m, d, alpha = 3, 4, 2.0
    teacher = mf.Network.init(2, d, "erf", seed=1)
    pop = mf.GaussianPopulation(teacher, backend="numpy")
    student = mf.Network(np.zeros(m), np.zeros((m, d)), activation="erf", alpha=alpha)
    a, c = teacher.a, teacher.c[:, 0]
    B = -(1 / alpha) * (4 / np.pi) * np.sum(
        (teacher.alpha / teacher.m) * c[:, None] * a
        / np.sqrt(1 + 2 * np.sum(a * a, 1))[:, None], 0)
    result = classify(student, pop)
    assert result["kind"] == "saddle" and result["stationarity"] == 0.0
    assert result["n_negative"] == m and result["n_zero"] == m * (d - 1)
    assert result["expected_zero_modes"] == 0 and result["degenerate"]
    eigs = result["eigenvalues"]
    np.testing.assert_allclose(eigs[:m], -np.linalg.norm(B), rtol=1e-12)
    np.testing.assert_allclose(eigs[-m:], np.linalg.norm(B), rtol=1e-12)


def test_flow_end_point_refined_and_classified(monkeypatch):
    """Gradient flow (Euler, t = 100) of 6 relu students on a 3-neuron teacher stops
    near a zero-risk configuration; refined, it is a global minimum whose zero modes
    are those of its symmetries: two students share a teacher ray (splitting and
    transfer directions), two have output weights near 0 (their input weights are
    flat), the others one rescaling each. Lanczos on Hessian-vector products gives the
    same counts as the dense spectrum."""
    teacher = mf.Network.init(3, 4, "relu", seed=100)
    pop = mf.GaussianPopulation(teacher, backend="numpy")
    start = mf.Network.init(6, 4, "relu", seed=0, tau=0.5)
    end = mf.simulate(start, pop, mf.integrators.euler(0.05), 100.0,
                      record=mf.LinearSchedule(2)).final
    net, report = refine(end, pop)
    assert report["success"] and report["risk_end"] < 1e-14 < report["risk_start"]
    result = classify(net, pop)
    assert result["kind"] == "global minimum" and result["n_negative"] == 0
    dead = np.abs(net.c[:, 0]) < 1e-6
    assert dead.sum() == 2
    assert result["n_zero"] == result["expected_zero_modes"] == 16 == 2 * 4 + 6 + 1 + 1
    monkeypatch.setattr(critical, "EIGH_MAX", 0)
    monkeypatch.setattr(critical, "DENSE_MAX", 0)
    lanczos = classify(net, pop)
    assert lanczos["eig_method"] == "lanczos" and lanczos["spectrum_complete"]
    assert (lanczos["kind"], lanczos["n_zero"], lanczos["n_negative"]) == ("global minimum", 16, 0)
    np.testing.assert_allclose(lanczos["eigenvalues"][16:20], result["eigenvalues"][16:20],
                               rtol=1e-8)


def test_under_parametrised_flow_ends_at_a_local_minimum():
    """One erf neuron cannot represent two: the flow's refined end point has risk
    far above the infimum, no negative and no zero eigenvalue (erf has no continuous
    symmetry), and J increases along every direction (second-order check)."""
    teacher = mf.Network.init(2, 3, "erf", seed=2)
    pop = mf.GaussianPopulation(teacher, backend="numpy")
    start = mf.Network.init(1, 3, "erf", seed=3)
    end = mf.simulate(start, pop, mf.integrators.euler(0.1), 50.0,
                      record=mf.LinearSchedule(2)).final
    net, report = refine(end, pop)
    assert report["success"]
    result = classify(net, pop)
    assert result["kind"] == "local minimum" and result["global_known"]
    assert result["excess_risk"] > 1e-3 and result["n_negative"] == result["n_zero"] == 0
    rng = np.random.default_rng(0)
    J0 = pop.risk(net)
    for _ in range(5):
        step = 1e-3 * rng.standard_normal(net.w.shape)
        assert pop.risk(net.with_w(net.w + step)) > J0


def test_not_a_critical_point_and_empirical_infimum():
    """A random initialisation is not critical. Empirical square loss: interpolation
    (risk 0) is a global minimum; the logistic loss never attains its infimum."""
    teacher = mf.Network.init(2, 3, "erf", seed=2)
    pop = mf.GaussianPopulation(teacher, backend="numpy")
    assert classify(mf.Network.init(4, 3, "erf", seed=5), pop)["kind"] == "not a critical point"
    rng = np.random.default_rng(4)
    X = rng.standard_normal((4, 2))
    y = rng.standard_normal(4)
    emp = mf.Empirical(X, y, backend="numpy")
    net, report = refine(mf.Network.init(8, 2, "erf", seed=6), emp, max_iter=400)
    assert report["success"]
    result = classify(net, emp)
    assert result["kind"] == "global minimum" and result["risk"] < 1e-20
    labels = np.sign(y)
    logistic = classify(net, mf.Empirical(X, labels, loss="logistic", backend="numpy"))
    assert not logistic["global_known"] and logistic["excess_risk"] is None


def test_expected_zero_modes_counts():
    """Symmetry counts on hand-built networks (k = 1, d = 2, no bias)."""
    pop = mf.GaussianPopulation(mf.Network.init(1, 2, "relu", seed=0), backend="numpy")
    a = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    relu = mf.Network(np.array([1.0, 0.5, 0.0, 1.0]), a, activation="relu")
    # rays {0, 1} (transfer 1 + rescalings 2), {2} (c = 0: rescaling 1), neuron 3 dead (3)
    assert expected_zero_modes(relu, pop) == 1 + 2 + 1 + 3
    # at a global minimum: {0, 1}: 2 * 3 - (1 + 2 - 1) = 4, {2}: 3 - 1 = 2, dead: 3
    assert expected_zero_modes(relu, pop, at_global_minimum=True) == 4 + 2 + 3


def test_a_failing_least_squares_solver_stops_refine_without_losing_the_point(monkeypatch):
    """A LinAlgError inside the polishing solver (an SVD that did not converge, as seen on
    one spurious-minimum cell) ends refine with its best point and a message, not a crash."""
    teacher = mf.Network.init(m=2, d=3, seed=0)
    pop = mf.GaussianPopulation(teacher, backend="numpy")
    student = mf.Network.init(m=2, d=3, seed=1)

    def broken(*args, **kwargs):
        raise np.linalg.LinAlgError("SVD did not converge")
    monkeypatch.setattr(critical.scipy.optimize, "least_squares", broken)
    net, report = refine(student, pop, method="least-squares")
    assert "least-squares: stopped: SVD did not converge" in report["message"]
    assert not report["success"]
    np.testing.assert_array_equal(net.w, student.w)   # never a worse point than the start
