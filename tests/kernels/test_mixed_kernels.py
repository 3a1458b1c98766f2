"""A ReLU paired with a smooth activation (theory §2.5) and quadrature with error control
(theory §2.6): against an independent reference, Monte Carlo, finite differences of the
risk, the kernel's symmetry, the Numba backend, and a training flow."""
import numpy as np
import pytest
from scipy.integrate import quad

import meanfield as mf
from meanfield.kernels import mixed as mk
from meanfield.backends import get_backend
from meanfield.backends import numpy as ref_backend
from meanfield.kernels.gaussian import pair_kernel
from meanfield.model.network import Layout

SMOOTH = ["tanh", "erf", "sigmoid", "softplus"]
CASES = [(g, bias, relu_target) for g in SMOOTH for bias in (False, True)
         for relu_target in (True, False)]
_ETA = np.linspace(-12.0, 12.0, 4001)  # inner rule: trapezoid, error far below 1e-14
_W_ETA = np.exp(-0.5 * _ETA**2) / np.sqrt(2 * np.pi) * (_ETA[1] - _ETA[0])


def _kernel(g, bias, relu_target):
    return pair_kernel("relu", g, bias=bias) if relu_target else pair_kernel(g, "relu", bias=bias)


def _evaluate(kernel, a1, b1, a2, b2):
    K, P, Q, D = kernel(a1 @ a1, a2 @ a2, a1 @ a2, b1, b2)
    return np.array([K, *(P * a1 + Q * a2), D], dtype=float)


def reference(g, relu_target, a1, b1, a2, b2):
    """(K, grad_a K, D) conditioned on the ReLU side instead: with r = s_r xi + b_r,
    z = b_z + s_z (rho xi + q eta), E[W(r) f(z)] = int_{xi > -h} W phi(xi) E_eta[f] dxi
    by scipy's adaptive quad (outer) and a 4001-node trapezoid rule (inner), and
    E[delta(r) f(z)] = phi(h)/s_r E_eta[f(z) | xi = -h]."""
    act = mf.get_activation(g)
    (ar, br), (az, bz) = ((a1, b1), (a2, b2)) if relu_target else ((a2, b2), (a1, b1))
    sr, sz = np.linalg.norm(ar), np.linalg.norm(az)
    rho = ar @ az / (sr * sz)
    q, h = np.sqrt(1 - rho * rho), br / sr

    def phi(x):
        return np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)

    def mean(fn, ramp):
        lo = min(max(-h, -12.0), 12.0)

        def outer(xi):
            return (br + sr * xi if ramp else 1.0) * phi(xi) \
                * (fn(bz + sz * (rho * xi + q * _ETA)) @ _W_ETA)
        return quad(outer, lo, 12.0, epsabs=1e-14, epsrel=1e-13, limit=400,
                    points=[0.0] if lo < 0 else None)[0]

    K = mean(act.f, True)
    if relu_target:
        P = phi(h) / sr * (act.f(bz - sz * rho * h + sz * q * _ETA) @ _W_ETA)
        Q, D = mean(act.df, False), mean(act.f, False)
    else:
        P, Q, D = mean(act.d2f, True), mean(act.df, False), mean(act.df, True)
    return np.array([K, *(P * a1 + Q * a2), D if b1 or b2 else 0.0])


def _pair(seed, kind):
    """(a1, b1, a2, b2) in d = 3: generic, nearly aligned (the split regime) or antipodal-ish."""
    rng = np.random.default_rng(seed)
    a1 = rng.standard_normal(3) * rng.uniform(0.4, 1.6)
    a2 = rng.standard_normal(3) * rng.uniform(0.4, 1.6)
    if kind == "aligned":
        a2 = 1.3 * a1 + 2e-3 * rng.standard_normal(3)
    elif kind == "opposite":
        a2 = -0.8 * a1 + 0.3 * rng.standard_normal(3)
    return a1, rng.standard_normal(), a2, rng.standard_normal()


@pytest.mark.parametrize("g,bias,relu_target", CASES)
def test_kernel_matches_independent_reference(g, bias, relu_target):
    kernel = _kernel(g, bias, relu_target)
    for seed, kind in enumerate(("generic", "aligned", "opposite")):
        a1, b1, a2, b2 = _pair(seed, kind)
        b1, b2 = (b1, b2) if bias else (0.0, 0.0)
        got = _evaluate(kernel, a1, b1, a2, b2)
        want = reference(g, relu_target, a1, b1, a2, b2)
        assert np.all(np.abs(got - want) <= 1e-10 * np.maximum(1.0, np.abs(want))), (kind,
                                                                                     got - want)


@pytest.mark.parametrize("g,bias,relu_target", CASES)
def test_kernel_matches_monte_carlo(g, bias, relu_target):
    """K, grad_a K and D within 4 standard errors of 400 000 Gaussian samples."""
    a1, b1, a2, b2 = _pair(7, "generic")
    b1, b2 = (b1, b2) if bias else (0.0, 0.0)
    got = _evaluate(_kernel(g, bias, relu_target), a1, b1, a2, b2)
    target, source = (("relu", g) if relu_target else (g, "relu"))
    t, s = mf.get_activation(target), mf.get_activation(source)
    X = np.random.default_rng(3).standard_normal((400_000, 3))
    u, v = X @ a1 + b1, X @ a2 + b2
    samples = np.column_stack([t.f(u) * s.f(v), (t.df(u) * s.f(v))[:, None] * X,
                               t.df(u) * s.f(v) * bool(bias)])
    mean, se = samples.mean(axis=0), samples.std(axis=0) / np.sqrt(len(X))
    assert np.all(np.abs(got - mean) <= 4 * se + 1e-12), (got - mean) / np.maximum(se, 1e-300)


@pytest.mark.parametrize("g", SMOOTH)
@pytest.mark.parametrize("bias", [False, True])
def test_kernel_is_symmetric(g, bias):
    """K_{relu,g}(w, w') = K_{g,relu}(w', w), on pairs including the split regime."""
    rng = np.random.default_rng(4)
    A, B = rng.standard_normal((5, 3)), rng.standard_normal((6, 3))
    B[0] = 0.7 * A[0] + 1e-4
    b1, b2 = (rng.standard_normal((5, 1)), rng.standard_normal((1, 6))) if bias else (None, None)
    n1, n2, t = (A * A).sum(1)[:, None], (B * B).sum(1)[None], A @ B.T
    K1 = pair_kernel("relu", g, bias=bias)(n1, n2, t, b1, b2)[0]
    K2 = pair_kernel(g, "relu", bias=bias)(n2.T, n1.T, t.T, None if b2 is None else b2.T,
                                           None if b1 is None else b1.T)[0]
    np.testing.assert_allclose(K1, K2.T, rtol=1e-13, atol=1e-14)


def test_closed_form_erf_equals_semi_analytic_rule():
    """ReLU x erf: the bivariate-normal closed form and the 1-D rule used for tanh agree."""
    rng = np.random.default_rng(5)
    s_r, s_z = rng.uniform(0.3, 2.0, 40), rng.uniform(0.3, 2.0, 40)
    mu_r, mu_z, rho = rng.normal(size=40), rng.normal(size=40), rng.uniform(-1, 1, 40)
    rho[:5] = [1.0, -1.0, 0.999999, 0.0, 0.97]
    S, sT = mk.relu_erf_parts(s_r, mu_r, s_z, mu_z, rho)
    erf = mf.get_activation("erf")
    for relu_target in (True, False):
        out = mk.relu_quadrature_parts(erf, s_r, mu_r, s_z, mu_z, rho, 1e-12, relu_target)
        np.testing.assert_allclose(out["S"][0], S[0], atol=1e-11)
        np.testing.assert_allclose(out["S"][1], S[1], atol=1e-11)
        R0 = mu_r * S[0] + s_r * sT[0] + s_r * s_z * rho * S[1]
        np.testing.assert_allclose(out["R"][0], R0, atol=1e-11)
        if relu_target:
            np.testing.assert_allclose(out["sT0"], sT[0], atol=1e-11)


@pytest.mark.parametrize("g,bias,relu_student", [
    pytest.param(g, bias, relu_student,
                 marks=[pytest.mark.slow] if bias != relu_student else [])
    for g in SMOOTH + ["linear"] for bias in (False, True) for relu_student in (True, False)])
def test_population_velocity_is_minus_gradient(g, bias, relu_student):
    """Velocity against -(m/alpha^2) times central differences (eps = 1e-5) of the risk.
    By default each activation runs as a biased teacher of a ReLU student and as an
    unbiased student of a ReLU teacher; the other two cases are slow checks."""
    acts = ("relu", g) if relu_student else (g, "relu")
    teacher = mf.Network.init(3, 3, acts[1], bias=bias, seed=1, tau=0.8)
    student = mf.Network.init(4, 3, acts[0], bias=bias, seed=2, alpha=1.5, tau=0.8)
    pop = mf.GaussianPopulation(teacher, noise=0.1, backend="numpy")
    v = pop.velocity(student)
    grad = np.zeros_like(student.w)
    for idx in np.ndindex(*student.w.shape):
        wp, wm = student.w.copy(), student.w.copy()
        wp[idx] += 1e-5
        wm[idx] -= 1e-5
        grad[idx] = (pop.risk(student.with_w(wp)) - pop.risk(student.with_w(wm))) / 2e-5
    fd = -student.m * grad / student.alpha**2
    assert np.abs(v - fd).max() <= 1e-6 * np.abs(fd).max()


@pytest.mark.parametrize("g", SMOOTH + ["linear"])
def test_population_risk_matches_monte_carlo(g):
    teacher = mf.Network.init(3, 4, "relu", bias=True, seed=5)
    student = mf.Network.init(5, 4, g, bias=True, seed=6, tau=0.7)
    pop = mf.GaussianPopulation(teacher, noise=0.2, backend="numba")
    X, y = pop.sample(400_000, 1)
    losses = 0.5 * np.sum((student(X) - y) ** 2, axis=1)
    assert abs(pop.risk(student) - losses.mean()) <= 4 * losses.std() / np.sqrt(len(losses))


def _edge_particles(m, k, d, bias, seed):
    rng = np.random.default_rng(seed)
    layout = Layout(k, d, bias)
    w = rng.standard_normal((m, layout.p))
    a = layout.a
    w[1, a], w[2, a], w[3, a] = w[0, a], -w[0, a], 0.0
    w[4, a] = 0.9 * w[0, a] + 1e-3 * rng.standard_normal(d)  # nearly aligned: split regime
    if bias:
        w[5, -1] = 0.0
        w[6, -1], w[6, a] = 0.0, 0.0
        w[7, -1] = 6.0
    return layout, w


@pytest.mark.parametrize("g", SMOOTH + ["linear"])
@pytest.mark.parametrize("bias", [False, True])
def test_numba_equals_numpy_reference(g, bias):
    """Both roles, d = 3 and 12, edge cases (coincident, antipodal, zero weights); 1e-10."""
    numba_backend = get_backend("numba")
    for d, relu_target in ((3, True), (12, False)):
        layout, w = _edge_particles(30, 2, d, bias, seed=d)
        q = np.random.default_rng(1).standard_normal(30)
        kernel = _kernel(g, bias, relu_target)
        want = ref_backend.pair_reduce(kernel, layout, w[:20], w, q, True)
        got = numba_backend.pair_reduce(kernel, layout, w[:20], w, q, True)
        for x, y in zip(got, want, strict=False):
            assert np.all(np.isfinite(x))
            assert np.abs(x - y).max() <= 1e-10 * np.abs(y).max(), (d, relu_target)


def test_keops_defers_mixed_kernels_to_numba(monkeypatch):
    """KeOps has no formula for these kernels: it calls the Numba pair reduction."""
    keops = pytest.importorskip("meanfield.backends.keops.backend")
    from meanfield.backends.numba import backend as numba_backend

    calls = []
    real = numba_backend.pair_reduce
    monkeypatch.setattr(numba_backend, "pair_reduce",
                        lambda *args, **kw: calls.append(1) or real(*args, **kw))
    layout, w = _edge_particles(10, 1, 3, True, seed=2)
    kernel = _kernel("tanh", True, True)
    got = keops.pair_reduce(kernel, layout, w, w, np.ones(10), True)
    want = ref_backend.pair_reduce(kernel, layout, w, w, np.ones(10), True)
    assert calls and np.abs(got[0] - want[0]).max() <= 1e-10 * np.abs(want[0]).max()


@pytest.mark.parametrize("pair", [("tanh", "sigmoid"), ("softplus", "tanh"), ("relu", "tanh"),
                                  ("sigmoid", "relu")])
def test_tol_bounds_the_error(pair):
    """Each requested tol is met against a tol = 1e-13 computation (2-D quadrature for
    smooth pairs, the semi-analytic rule with a ReLU), on pairs up to |a| = 3."""
    rng = np.random.default_rng(8)
    A = rng.standard_normal((8, 3)) * rng.uniform(0.2, 1.8, (8, 1))
    B = rng.standard_normal((8, 3)) * rng.uniform(0.2, 1.8, (8, 1))
    n1, n2, t = (A * A).sum(1)[:, None], (B * B).sum(1)[None], A @ B.T
    b1, b2 = rng.normal(size=(8, 1)), rng.normal(size=(1, 8))
    best = pair_kernel(*pair, bias=True, tol=1e-13)(n1, n2, t, b1, b2)
    for tol in (1e-4, 1e-7, 1e-10):
        got = pair_kernel(*pair, bias=True, tol=tol)(n1, n2, t, b1, b2)
        for x, y in zip(got, best, strict=False):
            assert np.all(np.abs(x - y) <= tol * np.maximum(1.0, np.abs(y))), tol


def test_step_rule_adapts_to_the_weight_norm():
    """Larger |a| (narrower analyticity strip) means a finer grid; the estimate from
    nested grids is exact for an exponentially convergent sequence."""
    d, gamma = mk.strip(mf.get_activation("tanh"), np.array([0.5, 1.0, 3.0]))
    steps, halves = mk.node_plan(d, 1.0 + gamma, mk.log_tol(1e-10))
    assert np.all(np.diff(steps) < 0) and np.all(np.diff(halves) > 0)
    exact, h = 2.0, np.array([1e-8, 1e-4, 1e-2])  # errors e^-c/h at h, 2h, 4h
    assert mk.error_estimate(exact + h[0], exact + h[1], exact + h[2]) == pytest.approx(1e-8,
                                                                                        rel=0.05)


def test_relu_teacher_erf_student_flow_decreases_risk():
    teacher = mf.Network.init(3, 4, "relu", bias=True, seed=0, tau=0.8)
    student = mf.Network.init(16, 4, "erf", bias=True, seed=1, tau=0.5)
    pop = mf.GaussianPopulation(teacher, backend="numba")
    traj = mf.simulate(student, pop, mf.integrators.euler(0.05), 5.0,
                       record=mf.LinearSchedule(20))
    assert np.all(np.diff(traj.risk) <= 1e-12)
    assert traj.risk[-1] < 0.6 * traj.risk[0]
