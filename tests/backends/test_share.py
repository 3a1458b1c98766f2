"""Reductions that use several threads (the pair loops' parallel region, ensembles'
data groups handed out by numba_common.share): the results are those of the sequential
loop bit for bit, whichever thread ran which part; ``share`` calls every part exactly
once, also when parts raise and when several threads call it at once; the choice to
share follows the sizes only."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from meanfield.core.activations import get_activation
from meanfield.backends import get_backend, tuning
from meanfield.backends.numba import common as numba_common
from meanfield.kernels.gaussian import pair_kernel
from meanfield.model.network import Layout

S = 5


def test_share_calls_each_part_once_and_reraises():
    seen, lock = [], threading.Lock()

    def part(i):
        with lock:
            seen.append(i)

    numba_common.share(part, 37, 4)
    assert sorted(seen) == list(range(37))

    def bad(i):
        if i == 3:
            raise ValueError("part 3")

    with pytest.raises(ValueError, match="part 3"):
        numba_common.share(bad, 8, 2)
    numba_common.share(part, 0, 2)  # nothing to do


def test_share_runs_parts_at_the_same_time_on_two_threads():
    """Two parts that can only finish together (a barrier of 2): share must run them on
    two threads at once."""
    barrier, threads = threading.Barrier(2, timeout=30), set()

    def part(i):
        threads.add(threading.get_ident())
        barrier.wait()

    numba_common.share(part, 2, 2)
    assert len(threads) == 2


def test_sharing_follows_the_sizes_and_the_tuning_only():
    share_min = tuning.current().share_min_work
    assert not numba_common.shares(share_min - 1, 10)
    assert not numba_common.shares(share_min, 1)  # one part: nothing to share
    assert numba_common.shares(share_min, 2)
    with tuning.override(share_min_work=1 << 62):
        assert not numba_common.shares(share_min, 10)
    assert not hasattr(numba_common, "idle_cores")  # no look at the machine's load


def test_share_from_many_threads_at_once_keeps_one_executor():
    """Eight threads (as a Dask worker's cells) sharing parts at once: every part runs
    once and the executor is never replaced under them."""
    pool = numba_common._pool()
    seen, lock, errors = [], threading.Lock(), []

    def caller(t):
        def part(i):
            with lock:
                seen.append((t, i))
        try:
            numba_common.share(part, 20, 4)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=caller, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and sorted(seen) == [(t, i) for t in range(8) for i in range(20)]
    assert numba_common._pool() is pool


def _both(fn):
    """fn() sequentially (thresholds out of reach) and shared (thresholds 1)."""
    with tuning.override(share_min_work=1 << 62, parallel_min_work=1 << 62):
        seq = fn()
    with tuning.override(share_min_work=1, parallel_min_work=1):
        return seq, fn()


@pytest.mark.parametrize("d,k,act,bias", [
    (10, 1, "relu", False), (30, 2, "relu", False),
    pytest.param(6, 2, "erf", True, marks=pytest.mark.slow)])
def test_shared_pair_reductions_equal_the_sequential_loop(d, k, act, bias):
    """The fused pair loop (d = 10, k = 1, relu: the one the population flows of
    test_same_bits.py run, compiled once for both modules on one worker: conftest.py)
    and the row tiles (d = 30); the loop with another kernel (its parallel and
    sequential forms compile for 12 s from a cold cache) with the slow checks."""
    numba = get_backend("numba")
    rng = np.random.default_rng(0)
    layout = Layout(k, d, bias)
    w_t = rng.standard_normal((S, 37, layout.p))
    w_s = np.concatenate([w_t, rng.standard_normal((S, 4, layout.p))], axis=1)
    q = rng.standard_normal((S, 41))
    kernel = pair_kernel(act, bias=bias)
    seq, par = _both(lambda: numba.pair_reduce_batch(kernel, layout, w_t, w_s,
                                                                   q, True))
    assert np.array_equal(seq[0], par[0]) and np.array_equal(seq[1], par[1])
    for s in range(S):
        g, v = numba.pair_reduce(kernel, layout, w_t[s], w_s[s], q[s], True)
        assert np.array_equal(g, par[0][s]) and np.array_equal(v, par[1][s])


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_shared_data_reductions_equal_the_sequential_loop(shared, act):
    numba = get_backend("numba")
    rng = np.random.default_rng(1)
    layout = Layout(1, 30, act == "tanh")
    w = rng.standard_normal((S, 20, layout.p))
    q = rng.standard_normal((S, 20))
    X = rng.standard_normal((200, 30) if shared else (S, 200, 30))
    Y = rng.standard_normal((S, 200, 1))
    activation = get_activation(act)

    def residual(F, G, N):
        return F - Y[G, N]

    seq, par = _both(lambda: numba.forward_and_grad_batch(
        activation, layout, w, q, 20, X, residual))
    assert np.array_equal(seq[0], par[0]) and np.array_equal(seq[1], par[1])
    out = _both(lambda: numba.forward_batch(activation, layout, w, q, X))
    assert np.array_equal(out[0], out[1])
    for s in range(S):  # every member equals its single reduction
        fs, gs = numba.forward_and_grad(activation, layout, w[s], q[s], 20,
                                        X if shared else X[s], lambda F, N, s=s: F - Y[s, N])
        assert np.array_equal(fs, par[0][s]) and np.array_equal(gs, par[1][s])


@pytest.mark.parametrize("kind", ["population", "empirical", "empirical shared"])
def test_ensembles_sharing_members_between_threads_equal_serial_runs(kind):
    """simulate_many with the members shared between threads (threshold 1) against
    serial simulate: same records, particles and risks bit for bit (also for members
    that share one training set)."""
    import meanfield as mf

    d = 10 if kind == "population" else 30
    nets = [mf.Network.init(12, d, "relu", seed=10 + s, tau=0.7) for s in range(3)]
    teachers = [mf.Network.init(3, d, "relu", seed=s) for s in range(3)]
    if kind == "population":
        objs = [mf.GaussianPopulation(t, backend="numba") for t in teachers]
    else:
        rng = np.random.default_rng(0)
        data = [rng.standard_normal((60, d)) for _ in teachers]
        if kind == "empirical shared":
            objs = [mf.Empirical(data[0], teachers[0](data[0]), backend="numba")] * 3
        else:
            objs = [mf.Empirical(X, t(X), backend="numba") for X, t in zip(data, teachers,
                                                                           strict=False)]
    integ = mf.integrators.euler(0.05)
    with tuning.override(share_min_work=1):
        ens = mf.simulate_many(nets, objs, integ, 1.0, record=mf.LogSchedule(6))
    for s, e in enumerate(ens):
        one = mf.simulate(nets[s], objs[s], integ, 1.0, record=mf.LogSchedule(6))
        assert np.array_equal(e.times, one.times) and np.array_equal(e.steps, one.steps)
        assert np.array_equal(e.snapshots, one.snapshots)
        assert np.array_equal(e.risk, one.risk)


def test_tiles_shared_between_threads_equal_the_sequential_loop():
    """Small tiles (tile = 8 rows): the tiled pair reduction, forward pass and data
    gradient hand their tiles to helper threads; every tile's rows are its own, so the
    results equal the sequential loop bit for bit."""
    numba = get_backend("numba")
    rng = np.random.default_rng(2)
    layout = Layout(2, 30, True)
    w_t = rng.standard_normal((2, 37, layout.p))
    q = rng.standard_normal((2, 37))
    X, R = rng.standard_normal((45, 30)), rng.standard_normal((45, 2))
    kernel, activation = pair_kernel("erf", bias=True), get_activation("tanh")
    with tuning.override(tile=8 * 45):
        seq, par = _both(lambda: (
            *numba.pair_reduce_batch(kernel, layout, w_t, w_t, q, True),
            numba.forward_batch(activation, layout, w_t, q, X),
            numba.data_grad(activation, layout, w_t[0], X, R)))
    assert all(np.array_equal(x, y) for x, y in zip(seq, par, strict=False))


def test_parallel_hessian_vector_product_equals_the_sequential_one():
    """The exact population Hessian-vector product's parallel loop (threshold 1) gives
    the bits of its sequential loop (threshold out of reach)."""
    import meanfield as mf
    from meanfield.objectives.hessian import hvp

    teacher = mf.Network.init(4, 6, "erf", seed=1)
    student = mf.Network.init(12, 6, "erf", seed=2)
    pop = mf.GaussianPopulation(teacher, backend="numba")
    v = np.random.default_rng(0).standard_normal(student.w.shape)
    with tuning.override(hvp_parallel_min_pairs=1 << 62):
        seq = hvp(student, pop, v, backend="numba")
    with tuning.override(hvp_parallel_min_pairs=1):
        par = hvp(student, pop, v, backend="numba")
    assert np.array_equal(seq, par)
