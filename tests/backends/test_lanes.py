"""The lanes kernels (small ReLU data reductions, member axis innermost) against the
NumPy reference, member by member (an ensemble member equals its own S = 1 call bit for
bit), sequential against parallel; the auto choice; shared-data stacked products; the
BLAS thread limit of the tiled paths."""
from __future__ import annotations

import numpy as np
import pytest

from meanfield import backends
from meanfield.core.activations import get_activation
from meanfield.backends import auto, get_backend, tuning
from meanfield.backends.numba import lanes as numba_lanes
from meanfield.backends import numpy as ref
from meanfield.backends.protocol import SquareResidual
from meanfield.model.network import Layout

RELU = get_activation("relu")


def rel_err(x, y):
    return np.max(np.abs(x - y)) / max(np.max(np.abs(y)), 1e-300)


def problem(S, m, n, d, k, bias, shared, M=None, seed=0):
    rng = np.random.default_rng(seed)
    layout = Layout(k, d, bias)
    w = rng.standard_normal((S, M or m, layout.p))
    q = rng.standard_normal((S, M or m)) / m
    X = rng.standard_normal((n, d) if shared else (S, n, d))
    Y = rng.standard_normal((1 if shared else S, n, k))
    return layout, w, q, X, Y


def square(Y, n):
    """The square-loss residual as the ensemble builds it (labels formed in the kernel)."""
    def residual(F, G, N):
        return (F - Y[G if len(Y) > 1 else slice(None), N]) / n
    residual.labels, residual.divisor = Y, n
    return residual


#: each (d, k, bias) compiles its own lanes kernels (seconds); two cover k = 1 and k > 1,
#: bias on and off by default (d = 2, k = 1 without bias is the shape the other tests of
#: the lanes compile anyway: the 2-D demo's), the others run with the slow checks
@pytest.mark.parametrize("d,k,bias", [
    (2, 1, False), (2, 3, True), *(pytest.param(*case, marks=pytest.mark.slow)
                                   for case in ((1, 1, False), (3, 2, False), (4, 1, True)))])
@pytest.mark.parametrize("shared", [True, False])
def test_lanes_match_the_reference_and_each_member_its_own_call(d, k, bias, shared):
    S, m, n, M = 5, 7, 11, 14  # M > m: centred networks carry their reference rows
    layout, w, q, X, Y = problem(S, m, n, d, k, bias, shared, M)
    assert numba_lanes.applies(RELU, layout, M, n, np.float64)
    residual = square(Y, n)

    def plain(F, G, N):  # the same residual, computed outside the kernel (two calls)
        return residual(F, G, N)

    f, g = numba_lanes.forward_and_grad_batch(RELU, layout, w, q, m, X, residual)
    f_ref, g_ref = ref.forward_and_grad_batch(RELU, layout, w, q, m, X, residual)
    assert g.shape == (S, m, layout.p) and rel_err(f, f_ref) < 1e-13
    assert rel_err(g, g_ref) < 1e-12
    f2, g2 = numba_lanes.forward_and_grad_batch(RELU, layout, w, q, m, X, plain)
    assert np.array_equal(f, f2) and np.array_equal(g, g2)
    assert np.array_equal(numba_lanes.forward_batch(RELU, layout, w, q, X), f)
    bound = numba_lanes.bind_forward_and_grad(RELU, layout, m, X, residual)
    assert np.array_equal(bound(w, q)[1], g)
    for s in range(S):
        Xs, Ys = (X, Y) if shared else (X[s:s + 1], Y[s:s + 1])
        fs, gs = numba_lanes.forward_and_grad_batch(RELU, layout, w[s:s + 1], q[s:s + 1],
                                                    m, Xs, square(Ys, n))
        assert np.array_equal(fs[0], f[s]) and np.array_equal(gs[0], g[s])


def test_parallel_chunks_give_the_sequential_numbers(monkeypatch):
    layout, w, q, X, Y = problem(70, 6, 9, 2, 1, False, True)  # two sequential chunks
    residual = square(Y, 9)
    seq = numba_lanes.forward_and_grad_batch(RELU, layout, w, q, 6, X, residual)
    with tuning.override(parallel_min_work=1):
        par = numba_lanes.forward_and_grad_batch(RELU, layout, w, q, 6, X, residual)
    assert np.array_equal(seq[0], par[0]) and np.array_equal(seq[1], par[1])


def test_the_numba_backend_and_auto_take_the_lanes_at_small_float64_relu_sizes():
    assert (auto.LANES_MAX_D, auto.LANES_MAX_K, auto.LANES_MAX_WORK) == \
        (numba_lanes.MAX_D, numba_lanes.MAX_K, numba_lanes.MAX_WORK)
    layout = Layout(1, 2)
    if not backends.cuda_available():
        assert auto.data_backend(layout, 16, 15, np.dtype(np.float64)) is get_backend("numba")
        assert auto.data_backend(layout, 16, 15, np.dtype(np.float32)) is get_backend("numpy")
        assert auto.data_backend(layout, 16, 15) is get_backend("numpy")  # data_grad
    assert not numba_lanes.applies(get_activation("tanh"), layout, 16, 15, np.float64)
    assert not numba_lanes.applies(RELU, layout, 64, 64, np.float64)
    layout, w, q, X, Y = problem(3, 16, 15, 2, 1, False, True)
    via = backends.forward_and_grad_batch(get_backend("numba"), RELU, layout, w, q, 16, X,
                                          square(Y, 15))
    direct = numba_lanes.forward_and_grad_batch(RELU, layout, w, q, 16, X, square(Y, 15))
    assert np.array_equal(via[1], direct[1])


def test_shared_data_members_equal_single_members():
    """Tiled path (d >= 24) with one data set for all members: each member has its own
    products, so it equals its own call bit for bit (and the reference to rounding)."""
    layout, w, q, X, Y = problem(6, 20, 300, 30, 1, True, True)
    numba = get_backend("numba")
    residual = square(Y, 300)
    f, g = numba.forward_and_grad_batch(RELU, layout, w, q, 20, X, residual)
    f_ref, g_ref = ref.forward_and_grad_batch(RELU, layout, w, q, 20, X, residual)
    assert rel_err(g, g_ref) < 1e-12
    for s in range(6):
        fs, gs = numba.forward_and_grad_batch(RELU, layout, w[s:s + 1], q[s:s + 1], 20, X,
                                              residual)
        assert np.array_equal(f[s], fs[0]) and np.array_equal(g[s], gs[0])


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("parallel", [False, True])
def test_fused_euler_steps_equal_the_steps_taken_one_by_one(shared, parallel):
    """n Euler steps w <- w + h (grad / neg) in one compiled call do each step's
    arithmetic exactly: particles after n and n - 1 steps equal n calls of the bound
    reduction followed by NumPy's update, bit for bit (and hundreds of members, which
    take the parallel kernel one step per call, likewise)."""
    S, m, n, steps = 3, 7, 11, 40
    layout, w, q, X, Y = problem(S, m, n, 2, 1, False, shared)
    residual = SquareResidual(square(Y, n), Y, n)
    neg, h = -np.array([1.0, 3.0, 0.5]), np.array([0.08, 0.05, 0.02])
    fused = numba_lanes.bind_euler_steps(RELU, layout, m, X, residual)
    bound = numba_lanes.bind_forward_and_grad(RELU, layout, m, X, residual)
    H, N = h[:, None, None], neg[:, None, None]
    with tuning.override(parallel_min_work=1 if parallel else 1 << 20):
        W = w
        for _ in range(steps):
            prev, W = W, W + H * (bound(W, q)[1] / N)
        got, got_prev = fused(w, q, neg, h, steps)
    assert rel_err(W, w) > 1e-3  # the particles moved
    assert np.array_equal(got, W) and np.array_equal(got_prev, prev)
    one, _ = fused(w, q, neg, h, 1)
    assert np.array_equal(fused(one, q, neg, h, steps - 1)[0], W)  # blocks compose


def test_fused_euler_steps_only_for_the_square_loss_on_the_lanes():
    layout, w, q, X, Y = problem(2, 16, 15, 2, 1, False, True)
    numba = get_backend("numba")
    plain = square(Y, 15)
    residual = SquareResidual(plain, Y, 15)
    assert numba.bind_euler_steps(RELU, layout, 16, np.float64, 16, X, plain) is None
    assert numba.bind_euler_steps(RELU, layout, 16, np.float32, 16, X, residual) is None
    assert numba.bind_euler_steps(RELU, layout, 32, np.float64, 16, X, residual) is None
    assert backends.bound_euler_steps(ref, RELU, layout, 16, np.float64, 16, X,
                                      residual) is None
    assert numba.bind_euler_steps(RELU, layout, 16, np.float64, 16, X, residual) is not None
