"""Every fast backend equals the NumPy reference (docs/guide/backends.md).

float64: 1e-10 relative (max abs difference over max abs reference value), float32:
1e-5. Particles include the edge cases of theory §2.1-2.3: coincident and antipodal
input weights, a zero input weight, a scaled copy, zero biases. KeOps runs on its CPU
path with its cache in build/cache/keops; it is tested at d = 3 only (each input
dimension is a new compile), Numba at d = 3, 6 and 30 (its three code paths).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import meanfield as mf
from meanfield.core.activations import ACTIVATIONS, get_activation
from meanfield.backends import cuda_available, get_backend, tuning
from meanfield.backends import numpy as ref
from meanfield.kernels.gaussian import pair_kernel
from meanfield.model.network import Layout

BACKENDS = ("numba", "keops")
DIMS = {"numba": (3, 6, 30), "keops": (3,)}
TOL = {np.float64: 1e-10, np.float32: 1e-5}
KERNELS = [("relu", False), ("relu", True), ("erf", False), ("erf", True),
           ("linear", False), ("linear", True)]


@pytest.fixture(scope="module")
def backend(request):
    return get_backend(request.param)


def on_backends(argnames: str = "", cases=((),), keops=((),)):
    """Parametrize a test over BACKENDS x ``cases`` (tuples for ``argnames``). KeOps
    compiles a formula per kernel, activation and dtype on first use (10-25 s each from a
    cold cache), so only its ``keops`` cases run by default, the others with the slow
    checks; Numba runs every case."""
    names = ["backend", *filter(None, argnames.split(","))]
    params = [pytest.param(name, *case, marks=[pytest.mark.slow]
                           if name == "keops" and tuple(case) not in keops else [])
              for name in BACKENDS for case in cases]
    return pytest.mark.parametrize(names, params, indirect=["backend"])


def rel_err(x, y):
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return np.max(np.abs(x - y)) / max(np.max(np.abs(y)), 1e-300)


def particles(m, k, d, bias, seed=0, dtype=np.float64):
    """Random packed particles with the edge cases in the first rows."""
    rng = np.random.default_rng(seed)
    layout = Layout(k, d, bias)
    w = rng.standard_normal((m, layout.p))
    a = layout.a
    w[1, a] = w[0, a]           # coincident
    w[2, a] = -w[0, a]          # antipodal
    w[3, a] = 0.0               # zero input weight
    w[4, a] = 2.5 * w[0, a]     # same direction, other norm
    if bias:
        w[5, -1] = 0.0          # zero bias
        w[6, -1] = 0.0
        w[6, a] = 0.0           # zero input weight and zero bias
        w[7, -1] = w[0, -1]
        w[7, a] = w[0, a]       # fully coincident neuron
    return layout, w.astype(dtype)


#: Numba compiles its fused pair loop once per (kernel, d, k) (seconds each from a cold
#: cache), so each kernel runs with one k, k = 1 and k = 3 alternating
KERNELS_K = [(act, bias, 3 if n % 2 == 0 else 1)
             for n, (act, bias) in enumerate(KERNELS)]


@on_backends("act,bias,k", KERNELS_K, keops=[("relu", False, 3)])
def test_pair_reduce_float64(backend, act, bias, k):
    for d in DIMS[backend.name]:
        layout, w = particles(40, k, d, bias, seed=d + k)
        q = np.random.default_rng(1).standard_normal(40)
        kernel = pair_kernel(act, bias=bias)
        want_g, want_v = ref.pair_reduce(kernel, layout, w[:25], w, q, True)
        got_g, got_v = backend.pair_reduce(kernel, layout, w[:25], w, q, True)
        assert got_g.dtype == np.float64 and got_g.shape == want_g.shape
        assert rel_err(got_g, want_g) < 1e-10, (d, rel_err(got_g, want_g))
        assert rel_err(got_v, want_v) < 1e-10, (d, rel_err(got_v, want_v))
        got_g2, got_v2 = backend.pair_reduce(kernel, layout, w[:25], w, q, False)
        assert got_v2 is None and rel_err(got_g2, want_g) < 1e-10


@on_backends(keops=())
def test_pair_reduce_sphere_scale(backend):
    layout, w = particles(20, 1, 3, False)
    kernel = pair_kernel("relu", inputs="sphere", d=3)
    q = np.full(20, 0.05)
    want = ref.pair_reduce(kernel, layout, w, w, q, True)
    got = backend.pair_reduce(kernel, layout, w, w, q, True)
    assert rel_err(got[0], want[0]) < 1e-10 and rel_err(got[1], want[1]) < 1e-10


@on_backends("act", [("relu",), ("erf",)], keops=())
def test_pair_reduce_float32(backend, act):
    layout, w = particles(40, 1, 3, False, dtype=np.float32)
    q = np.full(40, 1 / 40, dtype=np.float32)
    kernel = pair_kernel(act)
    want_g, want_v = ref.pair_reduce(kernel, layout, w, w, q, True)
    got_g, got_v = backend.pair_reduce(kernel, layout, w, w, q, True)
    assert got_g.dtype == np.float32 and got_v.dtype == np.float32
    assert rel_err(got_g, want_g) < 1e-5 and rel_err(got_v, want_v) < 1e-5


def _near_particles(dtype):
    """Bias particles (d = 3) whose correlations with particle 0 are 1 - 1e-6, 0.99, 0.93,
    -(1 - 1e-6), 0.925 (Genz's switch), plus large biases and a tiny input weight, on top
    of the edge cases of :func:`particles` (rho = +-1, a = 0, b = 0)."""
    layout, w = particles(40, 2, 3, True, seed=3)
    a, rng = layout.a, np.random.default_rng(5)
    u = w[0, a] / np.linalg.norm(w[0, a])
    for row, rho in zip(range(8, 13), (1 - 1e-6, 0.99, 0.93, -1 + 1e-6, 0.925), strict=False):
        v = rng.standard_normal(3)
        v -= (v @ u) * u
        w[row, a] = 1.7 * (rho * u + np.sqrt(1 - rho * rho) * v / np.linalg.norm(v))
    w[13, -1], w[14, -1], w[15, -1] = 8.0, -7.0, 30.0
    w[16, a], w[16, -1] = w[13, a], -8.0
    w[17, a] = 1e-3 * w[0, a]
    return layout, w.astype(dtype), rng.standard_normal(40).astype(dtype)


#: the bias formulas are KeOps's largest (relu_bias: 18 s of compiling from a cold
#: cache): all run with the slow checks
@pytest.mark.slow
@pytest.mark.parametrize("act,dtype", [("relu", np.float64), ("relu", np.float32),
                                       ("erf", np.float64), ("erf", np.float32)])
def test_keops_bias_kernels_run_in_keops(act, dtype, monkeypatch):
    """relu_bias / erf_bias are KeOps formulas (no fallback: the Numba and NumPy pair
    reductions are disabled during the call) and equal the reference near rho = +-1."""
    from meanfield.backends.numba import backend as numba_backend

    keops = get_backend("keops")
    layout, w, q = _near_particles(dtype)
    kernel = pair_kernel(act, bias=True)
    want_g, want_v = ref.pair_reduce(kernel, layout, w[:30], w, q, True)

    def refuse(*args, **kwargs):
        raise AssertionError("fell back to another backend")

    monkeypatch.setattr(numba_backend, "pair_reduce", refuse)
    monkeypatch.setattr(ref, "pair_reduce", refuse)
    got_g, got_v = keops.pair_reduce(kernel, layout, w[:30], w, q, True)
    assert got_g.dtype == dtype and got_v.dtype == dtype
    tol = TOL[dtype]
    assert rel_err(got_g, want_g) < tol and rel_err(got_v, want_v) < tol, \
        (rel_err(got_g, want_g), rel_err(got_v, want_v))


def _data(n, d, k, seed=2, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = 1.5 * rng.standard_normal((n, d))
    X[0] = 0.0  # a zero pre-activation for bias-free neurons: relu'(0) = 0
    return X.astype(dtype), rng.standard_normal((n, k)).astype(dtype)


@on_backends("act,bias", [(act, bias) for act in sorted(ACTIVATIONS) for bias in (False, True)],
             keops=[("relu", False)])
def test_data_reductions_float64(backend, act, bias):
    activation = get_activation(act)
    for d in DIMS[backend.name]:
        for k in (1, 3):
            layout, w = particles(30, k, d, bias, seed=d)
            q = np.random.default_rng(3).standard_normal(30)
            X, R = _data(50, d, k)
            want_f = ref.forward(activation, layout, w, q, X)
            got_f = backend.forward(activation, layout, w, q, X)
            assert got_f.shape == want_f.shape and rel_err(got_f, want_f) < 1e-10
            want_g = ref.data_grad(activation, layout, w, X, R)
            got_g = backend.data_grad(activation, layout, w, X, R)
            assert got_g.shape == want_g.shape and rel_err(got_g, want_g) < 1e-10, (d, k)


@pytest.mark.parametrize("act", ["relu", "tanh"])
@pytest.mark.parametrize("bias", [False, True])
def test_forward_and_grad_matches_two_passes(act, bias, monkeypatch):
    """The one-pass empirical reduction (per block of samples: f, then R = residual(f),
    then the gradient) equals forward followed by data_grad, on every backend that has
    it, in both the small-d and the BLAS-tiled regimes, with a block-local residual."""
    activation = get_activation(act)
    monkeypatch.setattr(ref, "TILE", 40 * 64)  # blocks of 64 samples: several per call
    with tuning.override(sample_tile=40 * 64):  # Numba's likewise
        for name in ("numpy", "numba"):
            fused = get_backend(name).forward_and_grad
            for d, k in [(d, k) for d in DIMS["numba"] for k in (1, 3)]:
                layout, w = particles(40, k, d, bias, seed=d)
                q = np.random.default_rng(3).standard_normal(40)
                X, y = _data(300, d, k)

                def residual(f, rows, y=y):
                    return np.tanh(f - y[rows])

                f, grad = fused(activation, layout, w, q, 25, X, residual)
                want_f = ref.forward(activation, layout, w, q, X)
                want_g = ref.data_grad(activation, layout, w[:25], X, residual(want_f, slice(None)))
                assert rel_err(f, want_f) < 1e-10 and rel_err(grad, want_g) < 1e-10, (name, d, k)


@on_backends("act", [("relu",), ("erf",), ("linear",)], keops=())
def test_data_reductions_float32(backend, act):
    """float32 in, float32 out, within 1e-5 of the float64 reference: in the register
    path (d = 3) and the BLAS-tiled path (d = 30, arithmetic kept in float32), for the
    separate reductions and the one-pass forward_and_grad (k = 1, the relu fast path)."""
    activation = get_activation(act)
    for d in (3, 30):
        layout, w = particles(30, 1, d, True, dtype=np.float32)
        q = np.full(30, 1 / 30, dtype=np.float32)
        X, R = _data(200, d, 1, dtype=np.float32)
        got_f = backend.forward(activation, layout, w, q, X)
        got_g = backend.data_grad(activation, layout, w, X, R)
        assert got_f.dtype == np.float32 and got_g.dtype == np.float32
        w64, X64 = w.astype(np.float64), X.astype(np.float64)
        want_f = ref.forward(activation, layout, w64, q.astype(np.float64), X64)
        want_g = ref.data_grad(activation, layout, w64, X64, R.astype(np.float64))
        assert rel_err(got_f, want_f) < 1e-5 and rel_err(got_g, want_g) < 1e-5, d
        fused = getattr(backend, "forward_and_grad", None)
        if fused is not None:
            f, g = fused(activation, layout, w, q, 30, X, lambda f, rows, R=R: R[rows])
            assert f.dtype == np.float32 and g.dtype == np.float32
            assert rel_err(f, want_f) < 1e-5 and rel_err(g, want_g) < 1e-5, d


@on_backends("bias", [(False,), (True,)], keops=[(False,)])
def test_population_objective(backend, bias):
    teacher = mf.Network.init(5, 3, "relu", bias=bias, seed=1)
    net = mf.Network.init(30, 3, "relu", bias=bias, seed=2, centered=True)
    net = net.with_w(net.w + 0.1)  # centred: the reference particles differ from w
    want = mf.GaussianPopulation(teacher, backend="numpy")
    got = mf.GaussianPopulation(teacher, backend=backend.name)
    assert rel_err(got.velocity(net), want.velocity(net)) < 1e-10
    assert abs(got.risk(net) - want.risk(net)) < 1e-10 * max(1.0, want.risk(net))


@on_backends()
def test_empirical_objective(backend):
    teacher = mf.Network.init(4, 3, "relu", seed=1)
    X = np.random.default_rng(4).standard_normal((100, 3))
    y = teacher(X)
    net = mf.Network.init(20, 3, "relu", seed=5)
    want = mf.Empirical(X, y, backend="numpy")
    got = mf.Empirical(X, y, backend=backend.name)
    assert rel_err(got.velocity(net), want.velocity(net)) < 1e-10
    assert abs(got.risk(net) - want.risk(net)) < 1e-12 * max(1.0, want.risk(net))


def test_keops_warmup_compiles_every_formula_a_warmed_cell_uses():
    """keops.warmup on a sweep's plan (sweep.keops_warmups) compiles what the cell's pair
    and data reductions then use: afterwards they add nothing to the build folder."""
    from meanfield.backends.keops import backend as keops

    backend = get_backend("keops")

    keops.warmup(d=3, dtypes=("float64",), activations=("relu",), bias=False)
    built = sorted(Path(keops.cache_folder()).iterdir())
    layout, w = particles(30, 1, 3, False)
    q = np.random.default_rng(1).standard_normal(30)
    got = backend.pair_reduce(pair_kernel("relu"), layout, w, w, q, True)
    want = ref.pair_reduce(pair_kernel("relu"), layout, w, w, q, True)
    assert rel_err(got[0], want[0]) < 1e-10 and rel_err(got[1], want[1]) < 1e-10
    teacher, net = mf.Network.init(4, 3, "relu", seed=1), mf.Network.init(20, 3, "relu", seed=5)
    X = np.random.default_rng(4).standard_normal((50, 3))
    emp = mf.Empirical(X, teacher(X), backend="keops")
    emp.velocity(net), emp.risk(net)
    assert sorted(Path(keops.cache_folder()).iterdir()) == built


@on_backends(keops=())
def test_dtype_is_kept(backend):
    teacher = mf.Network.init(5, 3, "relu", seed=1, dtype=np.float32)
    net = mf.Network.init(16, 3, "relu", seed=2, dtype=np.float32)
    v = mf.GaussianPopulation(teacher, backend=backend.name).velocity(net)
    assert v.dtype == np.float32
    v64 = mf.GaussianPopulation(teacher, backend="numpy").velocity(net)
    assert rel_err(v, v64) < 1e-5
    X = np.random.default_rng(0).standard_normal((64, 3)).astype(np.float32)
    emp = mf.Empirical(X, teacher(X), backend=backend.name)
    assert emp.velocity(net).dtype == np.float32 and emp.outputs(net).dtype == np.float32


def test_auto_backend():
    from meanfield.backends import auto
    from meanfield.core.layout import Layout

    compiled = get_backend("keops" if cuda_available() else "numba")
    assert get_backend("auto") is auto
    assert auto.pair_backend(16, 19) is compiled
    if not cuda_available():  # tiny data reductions and 4 < d < 24 stay on NumPy
        assert auto.data_backend(Layout(1, 2), 16, 15) is get_backend("numpy")
        assert auto.data_backend(Layout(1, 2), 1000, 10_000) is compiled
        assert auto.data_backend(Layout(1, 10), 1000, 10_000) is get_backend("numpy")
        assert auto.data_backend(Layout(1, 100), 50, 1000) is compiled
    with pytest.raises(ValueError):
        get_backend("no-such-backend")


def test_keops_data_reductions_of_a_polynomial_activation_are_the_reference():
    """KeOps has no formula for a polynomial "hermite[...]" activation: its data reductions
    are the NumPy reference's (never another activation's formula, which gave zeros)."""
    keops = get_backend("keops")
    reference = get_backend("numpy")
    act = mf.hermite_activation([0.5, 0.0, 1.0, 0.3])
    layout = Layout(1, 3, True)
    rng = np.random.default_rng(0)
    w, q = rng.standard_normal((2, 4, layout.p)), np.full((2, 4), 0.25)
    X, R = rng.standard_normal((7, 3)), rng.standard_normal((7, 1))
    np.testing.assert_array_equal(keops.forward(act, layout, w[0], q[0], X),
                                  reference.forward(act, layout, w[0], q[0], X))
    np.testing.assert_array_equal(keops.data_grad(act, layout, w[0], X, R),
                                  reference.data_grad(act, layout, w[0], X, R))
    np.testing.assert_array_equal(keops.forward_batch(act, layout, w, q, X),
                                  reference.forward_batch(act, layout, w, q, X))
    assert np.abs(keops.forward(act, layout, w[0], q[0], X)).max() > 0.1


@on_backends("objective", [("population",), ("empirical",)], keops=())
def test_frozen_groups_stay_bit_for_bit_and_free_ones_follow_the_reference(backend, objective):
    """Frozen output weights under every backend, single runs and a two-member ensemble:
    the frozen column is the initial one bit for bit and the free ones follow the NumPy
    reference's trajectory."""
    teacher = mf.Network.init(4, 3, "relu", seed=1)
    X = np.random.default_rng(4).standard_normal((100, 3))

    def make(name):
        return (mf.GaussianPopulation(teacher, backend=name) if objective == "population"
                else mf.Empirical(X, teacher(X), backend=name))

    nets = [mf.Network.init(20, 3, "relu", seed=s) for s in (5, 6)]
    euler = mf.integrators.euler(0.05)
    want = mf.simulate(nets[0], make("numpy"), euler, 1.0, frozen=("c",)).final.w
    single = mf.simulate(nets[0], make(backend.name), euler, 1.0, frozen=("c",)).final.w
    both = mf.simulate_many(nets, make(backend.name), euler, 1.0, frozen=("c",))
    for got in (single, both[0].final.w):
        assert np.array_equal(got[:, 0], nets[0].w[:, 0])
        assert rel_err(got[:, 1:] - nets[0].w[:, 1:], want[:, 1:] - nets[0].w[:, 1:]) < 1e-9
    assert np.array_equal(both[1].final.w[:, 0], nets[1].w[:, 0])
