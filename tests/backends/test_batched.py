"""Batched reductions (ensembles): every backend's stack of S systems equals the NumPy
reference, and member s equals the backend's own single reduction of member s bit for
bit (so an ensemble member equals its serial run). Numba at its three code paths
(d = 3, 6, 30), "auto" at small and BLAS sizes; KeOps at d = 3 with the slow checks
(its batched formulas compile apart from the single ones, 15-25 s each from a cold
cache; the default run checks KeOps's single reductions in test_backends.py)."""
from __future__ import annotations

import numpy as np
import pytest

from meanfield import backends
from meanfield.core.activations import get_activation
from meanfield.backends import get_backend
from meanfield.backends import numpy as ref
from meanfield.kernels.gaussian import pair_kernel
from meanfield.model.network import Layout

CASES = [("numba", 3), ("numba", 6), ("numba", 30), ("auto", 3), ("auto", 30),
         ("keops", 3)]
S = 3


def rel_err(x, y):
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return np.max(np.abs(x - y)) / max(np.max(np.abs(y)), 1e-300)


def stack(m, k, d, bias, seed=0):
    rng = np.random.default_rng(seed)
    layout = Layout(k, d, bias)
    return layout, rng.standard_normal((S, m, layout.p))


def _keops_slow(*case):
    return pytest.param(*case, marks=[pytest.mark.slow] if case[0] == "keops" else [])


# KeOps: one compile per formula, so the relu pair formula and per-member data only
# (its bias kernels run member by member; shared data is the same formula).
PAIR_CASES = [_keops_slow(name, d, act, bias) for name, d in CASES
              for act, bias in (("relu", False), ("erf", True))
              if not (name == "keops" and bias)]
DATA_CASES = [_keops_slow(name, d, shared) for name, d in CASES for shared in (True, False)
              if not (name == "keops" and shared)]


@pytest.mark.parametrize("name,d,act,bias", PAIR_CASES)
def test_pair_reduce_batch(name, d, act, bias):
    backend = get_backend(name)
    k = 1 if bias else 3  # the k of test_backends.py's case of this kernel (one compile)
    layout, w_t = stack(7, k, d, bias)
    w_s = stack(9, k, d, bias, seed=1)[1]
    q = np.random.default_rng(2).standard_normal((S, 9))
    kernel = pair_kernel(act, bias=bias)
    grad, value = backends.pair_reduce_batch(backend, kernel, layout, w_t, w_s, q, True)
    want, want_v = ref.pair_reduce_batch(kernel, layout, w_t, w_s, q, True)
    assert grad.shape == (S, 7, layout.p) and rel_err(grad, want) < 1e-10
    assert rel_err(value, want_v) < 1e-10
    for s in range(S):
        g, v = backend.pair_reduce(kernel, layout, w_t[s], w_s[s], q[s], True)
        if name != "keops":
            assert np.array_equal(g, grad[s]) and np.array_equal(v, value[s])
        g_ref = ref.pair_reduce(kernel, layout, w_t[s], w_s[s], q[s])[0]
        assert np.array_equal(g_ref, want[s])


@pytest.mark.parametrize("name,d,shared", DATA_CASES)
def test_data_reductions_batch(name, d, shared):
    backend = get_backend(name)
    rng = np.random.default_rng(3)
    layout, w = stack(40, 1, d, True)
    q = rng.standard_normal((S, 40))
    X = rng.standard_normal((120, d) if shared else (S, 120, d))
    Y = rng.standard_normal((S, 120, 1))
    act = get_activation("tanh")

    def residual(F, G, N):
        return F - Y[G, N]

    f, grad = backends.forward_and_grad_batch(backend, act, layout, w, q, 30, X, residual)
    f_ref, g_ref = ref.forward_and_grad_batch(act, layout, w, q, 30, X, residual)
    assert rel_err(f, f_ref) < 1e-10 and rel_err(grad, g_ref) < 1e-10
    out = backends.forward_batch(backend, act, layout, w, q, X)
    assert rel_err(out, f_ref) < 1e-10
    for s in range(S):
        Xs = X if shared else X[s]
        fused = getattr(backend, "forward_and_grad", None)
        if fused is not None and name != "keops":
            fs, gs = fused(act, layout, w[s], q[s], 30, Xs,
                           lambda F, N, s=s: F - Y[s, N])
            assert np.array_equal(fs, f[s]) and np.array_equal(gs, grad[s])
        fr, gr = ref.forward_and_grad(act, layout, w[s], q[s], 30, Xs,
                                      lambda F, N, s=s: F - Y[s, N])
        assert np.array_equal(fr, f_ref[s]) and np.array_equal(gr, g_ref[s])


def test_a_backend_without_batched_functions_gets_loops():
    class Single:  # the single-system interface only
        pair_reduce = staticmethod(ref.pair_reduce)
        forward = staticmethod(ref.forward)
        data_grad = staticmethod(ref.data_grad)

    layout, w = stack(6, 1, 3, False)
    q = np.ones((S, 6))
    kernel = pair_kernel("relu")
    grad = backends.pair_reduce_batch(Single, kernel, layout, w, w, q)[0]
    assert np.allclose(grad, ref.pair_reduce_batch(kernel, layout, w, w, q)[0], rtol=1e-12)
    X = np.random.default_rng(0).standard_normal((10, 3))
    f, g = backends.forward_and_grad_batch(Single, get_activation("relu"), layout, w, q, 6, X,
                                           lambda F, G, N: F)
    f_ref, g_ref = ref.forward_and_grad_batch(get_activation("relu"), layout, w, q, 6, X,
                                              lambda F, G, N: F)
    assert np.allclose(f, f_ref, rtol=1e-12) and np.allclose(g, g_ref, rtol=1e-12)


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_square_loss_residual_formed_in_the_tile_passes(shared, act):
    """A square-loss residual that carries its labels and divisor (as the ensembles and
    the empirical velocity build it) is formed inside Numba's compiled tile passes at
    d >= 24: the same numbers, bit for bit, as the residual called from Python, and the
    NumPy reference's to rounding; centred members (m_grad < M) included."""
    numba = get_backend("numba")
    rng = np.random.default_rng(4)
    layout, w = stack(40, 2, 30, False)
    q = rng.standard_normal((S, 40))
    X = rng.standard_normal((150, 30) if shared else (S, 150, 30))
    Y = rng.standard_normal((1 if shared else S, 150, 2))
    n = 150

    def plain(F, G, N):
        return (F - Y[G if len(Y) > 1 else slice(None), N]) / n

    def square(F, G, N):
        return plain(F, G, N)

    square.labels, square.divisor = Y, n
    activation = get_activation(act)
    for m_grad in (40, 25):
        f, g = numba.forward_and_grad_batch(activation, layout, w, q, m_grad, X, square)
        f2, g2 = numba.forward_and_grad_batch(activation, layout, w, q, m_grad, X, plain)
        assert np.array_equal(f, f2) and np.array_equal(g, g2)
        f_ref, g_ref = ref.forward_and_grad_batch(activation, layout, w, q, m_grad, X, plain)
        assert rel_err(f, f_ref) < 1e-12 and rel_err(g, g_ref) < 1e-12
