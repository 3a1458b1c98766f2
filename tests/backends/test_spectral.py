"""The spectral backend (theory §11) against the kernel's closed forms and the NumPy reference.

Relative errors are max |x - y| / max |y| as in test_backends. The 1e-10 agreement is
checked at m = 1000 with the edge cases of theory §2.1 (coincident, antipodal, zero and
rescaled input weights) among the particles.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad

import meanfield as mf
from meanfield.kernels import circle as ck
from meanfield.kernels.gaussian import relu_kernel
from meanfield.backends import cuda_available, spectral
from meanfield.backends import numpy as ref
from meanfield.kernels.gaussian import pair_kernel
from meanfield.model.network import Layout


def rel_err(x, y):
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return np.max(np.abs(x - y)) / max(np.max(np.abs(y)), 1e-300)


def particles(m, k, seed=0):
    """Random 2-D relu particles [c (k) | a (2)] with the edge cases in the first rows."""
    rng = np.random.default_rng(seed)
    layout = Layout(k, 2, False)
    w = rng.standard_normal((m, layout.p))
    a = layout.a
    w[1, a] = w[0, a]           # coincident
    w[2, a] = -w[0, a]          # antipodal
    w[3, a] = 0.0               # zero input weight
    w[4, a] = 2.5 * w[0, a]     # same direction, other norm
    w[5, a] = w[0, a] @ np.array([[1.0, 1e-9], [-1e-9, 1.0]])  # rotated by 1e-9 rad
    return layout, w


# --------------------------------------------------------------------------- the kernel
def test_kappa_is_the_relu_kernel_on_the_circle():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((50, 2)), rng.standard_normal((50, 2))
    K = relu_kernel(np.sum(a * a, 1), np.sum(b * b, 1), np.sum(a * b, 1))[0]
    (ta, ra), (tb, rb) = ck.polar(a), ck.polar(b)
    assert np.allclose(K, ra * rb * ck.kappa(ta - tb), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("k", range(9))
def test_kappa_hat_against_quadrature(k):
    integral = quad(lambda p: ck.kappa(p) * np.cos(k * p), 0.0, np.pi, epsabs=1e-14,
                    epsrel=1e-12, limit=200)[0] / np.pi
    assert abs(ck.kappa_hat(k) - integral) < 1e-13
    assert ck.kappa_hat(-k) == ck.kappa_hat(k)


def test_kappa_hat_against_fft_and_its_sum():
    """The DFT of kappa on n points is the aliased series sum_j kappa_hat(k + j n)."""
    for n in (256, 1 << 14):
        numeric = np.fft.fft(ck.kappa(2 * np.pi * np.arange(n) / n)).real / n
        k = np.fft.fftfreq(n, 1.0 / n)
        aliased = sum(ck.kappa_hat(k + j * n) for j in range(-2000, 2001))
        assert np.max(np.abs(numeric - aliased)) < 1e-15
        assert np.max(np.abs(numeric - ck.kappa_hat(k))) < 3 * 32 / (np.pi**2 * n**4)
    assert np.all(ck.kappa_hat(np.arange(3, 200, 2)) == 0.0)  # odd modes >= 3 vanish
    full = ck.kappa_hat(np.arange(-(1 << 20), (1 << 20) + 1))
    assert np.all(full >= 0) and abs(full.sum() - 0.5) < 1e-15


def test_kappa_smoothness_sets_the_tails():
    """kappa is C^2 with a third-derivative jump 2/pi at 0, so |k| kappa_hat_k ~ k^-3."""
    h = 1e-3

    def d3(x):
        return (ck.kappa(x + 2 * h) - 2 * ck.kappa(x + h) + 2 * ck.kappa(x - h)
                - ck.kappa(x - 2 * h)) / (2 * h**3)

    assert abs(d3(0.005) - d3(-0.005) - 2 / np.pi) < 0.01  # jump of kappa''' at 0
    d2 = (ck.kappa(h) - 2 * ck.kappa(0.0) + ck.kappa(-h)) / h**2
    assert abs(d2 + 0.5) < 1e-3  # kappa''(0) = -1/2 from both sides
    x = np.linspace(-3, 3, 101)
    fd = (ck.kappa(x + 1e-6) - ck.kappa(x - 1e-6)) / 2e-6
    assert np.max(np.abs(fd - ck.kappa_prime(x))) < 1e-9
    for L in (1, 255, 256, 1024):
        k = np.arange(L + 1, 1 << 22)
        direct = 2 * np.sum(k * ck.kappa_hat(k))
        assert abs(ck.derivative_tail(L) - direct) < 1e-6 * direct + 1e-15
        assert 2 * np.sum(ck.kappa_hat(k)) <= ck.derivative_tail(L) / (L + 1)


@pytest.mark.parametrize("derivative", [True, False])
@pytest.mark.parametrize("tol", [1e-4, 1e-8, 1e-11])
def test_modes_for_tolerance_is_the_least_sufficient_l(tol, derivative):
    L = ck.modes_for_tolerance(tol, derivative)

    def bound(L):
        return ck.derivative_tail(L) / (1 if derivative else L + 1)

    assert L % 2 == 1 and bound(L) <= tol / 2 < bound(L - 2)


# --------------------------------------------------------------------------- pair reduction
@pytest.mark.parametrize("inputs", ["gaussian", "sphere"])
@pytest.mark.parametrize("k", [1, 2])
def test_pair_reduce_matches_numpy(inputs, k):
    layout, w_t = particles(1000, k)
    _, w_s = particles(700, k, seed=1)
    w_s[:10] = w_t[:10]  # sources coincide with targets, including the edge cases
    q = np.random.default_rng(2).standard_normal(700) / 700
    kernel = pair_kernel("relu", inputs=inputs, d=2)
    g, v = spectral.pair_reduce(kernel, layout, w_t, w_s, q, True)
    g0, v0 = ref.pair_reduce(kernel, layout, w_t, w_s, q, True)
    assert rel_err(g, g0) < 1e-10 and rel_err(v, v0) < 1e-10
    assert np.all(g[3, layout.a] == 0.0)  # relu'(0) = 0 at a zero input weight


@pytest.mark.parametrize("tol", [1e-4, 1e-7, 1e-10])
def test_error_within_tolerance_even_for_clustered_particles(tol):
    """|U - exact|, |W - exact| <= tol s sum|nu|; worst case: pairs ~1/L apart."""
    L = ck.modes_for_tolerance(tol)
    rng = np.random.default_rng(3)
    theta = np.concatenate([rng.uniform(-np.pi, np.pi, 200),
                            0.7 + rng.uniform(-3, 3, 200) / L])
    nu = rng.standard_normal((400, 1))
    U, W = spectral.convolve(theta, nu, theta, scale=0.5, tol=tol)
    diff = theta[:, None] - theta[None, :]
    exact_U = 0.5 * ck.kappa(diff) @ nu
    exact_W = 0.5 * ck.kappa_prime(diff) @ nu
    bound = tol * 0.5 * np.abs(nu).sum()
    assert np.max(np.abs(U - exact_U)) <= bound
    assert np.max(np.abs(W - exact_W)) <= bound
    assert np.max(np.abs(W - exact_W)) > 1e-3 * bound  # the bound is not vacuous here


def teacher_student(inputs, m=1000, centered=False, alpha=1.0, k=1):
    teacher = mf.Network.init(5, 2, "relu", k=k, seed=1)
    net = mf.Network.init(m, 2, "relu", k=k, seed=2, alpha=alpha, centered=centered)
    if centered:
        net = net.with_w(net.w + 0.1 * np.random.default_rng(4).standard_normal(net.w.shape))
    return teacher, net


@pytest.mark.parametrize("inputs", ["gaussian", "sphere"])
@pytest.mark.parametrize("centered,alpha", [(False, 1.0), (True, 1.0), (False, "ntk"),
                                            (True, 3.0)])
def test_population_risk_and_velocity_match_numpy(inputs, centered, alpha):
    teacher, net = teacher_student(inputs, centered=centered, alpha=alpha)
    fast = mf.GaussianPopulation(teacher, inputs=inputs, noise=0.1, backend="spectral")
    slow = mf.GaussianPopulation(teacher, inputs=inputs, noise=0.1, backend="numpy")
    assert rel_err(fast.velocity(net), slow.velocity(net)) < 1e-10
    assert abs(fast.risk(net) - slow.risk(net)) < 1e-10 * slow.risk(net)


def test_float32_particles_keep_their_dtype():
    teacher, net = teacher_student("gaussian", m=64)
    net32 = mf.Network.from_packed(net.w.astype(np.float32), net.layout)
    v = mf.GaussianPopulation(teacher, backend="spectral").velocity(net32)
    assert v.dtype == np.float32
    assert rel_err(v, mf.GaussianPopulation(teacher, backend="numpy").velocity(net32)) < 1e-6


def test_energy_is_twice_the_risk():
    """s sum_k kappa_hat_k |S_k|^2 of the measure of f - y equals E|f - y|^2."""
    teacher, net = teacher_student("sphere", m=300)
    w = np.concatenate([net.w, teacher.w])
    q = np.concatenate([np.full(300, 1 / 300), np.full(5, -1 / 5)])
    theta, r = ck.polar(w[:, 1:])
    e = spectral.energy(theta, q * r * w[:, 0], scale=0.5)
    risk = mf.GaussianPopulation(teacher, inputs="sphere", backend="numpy").risk(net)
    assert abs(e - 2 * risk) < 1e-11


@pytest.mark.parametrize("case,student_act,message", [
    ("d3", "relu", "d = 3"), ("bias", "relu", "biases"), ("erf", "erf", "'erf' kernel"),
    ("mixed", "tanh", "'quadrature' kernel")])
def test_unsupported_problems_raise(case, student_act, message):
    teacher = {"d3": mf.Network.init(3, 3, "relu", seed=1),
               "bias": mf.Network.init(3, 2, "relu", bias=True, seed=1),
               "erf": mf.Network.init(3, 2, "erf", seed=1),
               "mixed": mf.Network.init(3, 2, "relu", seed=1)}[case]
    student = mf.Network.init(8, teacher.layout.d, student_act, seed=2)
    with pytest.raises(ValueError, match=message):
        mf.GaussianPopulation(teacher, backend="spectral").velocity(student)


def test_euler_run_equals_numpy_run():
    """40 Euler steps agree to 1e-12. (Run longer, particles pass within 1e-4 of a = 0,
    where the angle moves fast and every perturbation, rounding included, is amplified:
    by t = 5 Numba and NumPy differ by 4e-11 there, the spectral run by 2e-8.)"""
    teacher = mf.Network.init(3, 2, "relu", seed=1)
    net = mf.Network.init(200, 2, "relu", seed=2, tau=0.5)
    runs = [mf.simulate(net, mf.GaussianPopulation(teacher, backend=b),
                        mf.integrators.euler(0.05), 2.0, record=mf.LinearSchedule(4))
            for b in ("spectral", "numpy")]
    assert runs[0].risk[-1] < 0.7 * runs[0].risk[0]  # the particles did move
    assert rel_err(runs[0].final.w, runs[1].final.w) < 1e-12
    assert np.allclose(runs[0].risk, runs[1].risk, rtol=1e-11, atol=0)


# --------------------------------------------------------------------------- auto
def test_auto_picks_spectral_only_where_it_applies_and_pays(monkeypatch):
    from meanfield.backends import auto

    calls = []

    def record(kernel, layout, w_t, w_s, q, with_value=False):  # which path, not its sums
        calls.append(len(w_t))
        return np.zeros_like(w_t), np.zeros(len(w_t)) if with_value else None

    monkeypatch.setattr(spectral, "pair_reduce", record)
    teacher = mf.Network.init(3, 2, "relu", seed=1)
    small, large = (mf.Network.init(m, 2, "relu", seed=2) for m in (50, 4000))
    mf.GaussianPopulation(teacher, backend="auto").velocity(small)
    assert not calls
    monkeypatch.setitem(auto.SPECTRAL_MIN_PAIRS, "numba", 4000 * 4003)
    mf.GaussianPopulation(teacher, backend="auto").velocity(large)
    assert len(calls) == 1
    mf.GaussianPopulation(mf.Network.init(3, 3, "relu", seed=1),
                          backend="auto").velocity(mf.Network.init(4000, 3, "relu"))
    assert len(calls) == 1


def test_spectral_instance_with_its_own_tolerance():
    teacher, net = teacher_student("gaussian", m=500)
    coarse = mf.GaussianPopulation(teacher, backend=spectral.Spectral(tol=1e-5))
    exact = mf.GaussianPopulation(teacher, backend="numpy")
    err = rel_err(coarse.velocity(net), exact.velocity(net))
    assert 1e-10 < err < 1e-5
    X, y = coarse.sample(16, 0)  # data reductions (Numba's) work on an instance too
    assert np.allclose(y, teacher(X))
    with pytest.raises(ValueError, match="tolerance"):
        spectral.Spectral(tol=0.0)


def test_device_engine_plumbing(monkeypatch):
    """The GPU path's transfers and options, exercised with finufft behind copies."""
    import finufft

    fake = spectral.Engine("cufinufft", finufft, lambda x: np.array(x, copy=True),
                           lambda x: np.array(x, copy=True))
    assert fake.options(10**7) == {}
    monkeypatch.setattr(spectral, "engine", lambda: fake)
    layout, w = particles(300, 2)
    kernel = pair_kernel("relu")
    q = np.full(300, 1 / 300)
    g = spectral.pair_reduce(kernel, layout, w, w, q)[0]
    assert rel_err(g, ref.pair_reduce(kernel, layout, w, w, q)[0]) < 1e-10


@pytest.mark.skipif(not cuda_available(), reason="needs a CUDA device")
def test_gpu_engine_matches_numpy():
    if spectral.engine().name != "cufinufft":
        pytest.skip("cufinufft with CuPy or PyTorch is not installed")
    teacher, net = teacher_student("gaussian")
    fast = mf.GaussianPopulation(teacher, backend="spectral")
    slow = mf.GaussianPopulation(teacher, backend="numpy")
    assert rel_err(fast.velocity(net), slow.velocity(net)) < 1e-10
