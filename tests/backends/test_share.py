"""Reductions that use a second core while one is idle (the pair loops' parallel region,
ensembles' data groups handed out by numba_common.share): the results are those of the
sequential loop bit for bit, whichever thread ran which part, and ``share`` calls every
part exactly once, also when parts raise."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from numba import get_num_threads

from meanfield.core.activations import get_activation
from meanfield.backends import get_backend
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


def test_share_threads_follows_the_threshold_numba_threads_and_idle_cores(monkeypatch):
    monkeypatch.setattr(numba_common, "idle_cores", lambda: 8)
    assert numba_common.share_threads(numba_common.SHARE_MIN_WORK - 1, 10) == 1
    assert numba_common.share_threads(numba_common.SHARE_MIN_WORK, 1) == 1
    assert numba_common.share_threads(numba_common.SHARE_MIN_WORK, 10) == \
        min(get_num_threads(), 10)
    monkeypatch.setattr(numba_common, "idle_cores", lambda: 0)  # every core busy
    assert numba_common.share_threads(numba_common.SHARE_MIN_WORK, 10) == 1
    monkeypatch.undo()
    assert 0 <= numba_common.idle_cores() < (numba_common.os.cpu_count() or 1)


@pytest.mark.skipif(not numba_common.os.path.exists("/proc/self/task"),
                    reason="needs Linux /proc to count runnable threads")
def test_own_running_threads_count_a_spinning_helper():
    """idle_cores takes this process's own runnable threads (Numba's, still spinning after
    a parallel loop) off the machine's count: a helper spinning in nogil code is one."""
    import numba

    @numba.njit(nogil=True)
    def spin(n):
        x = 0.0
        for i in range(n):
            x += np.sqrt(x + i)
        return x

    spin(10)
    stop = threading.Event()

    def helper():
        while not stop.is_set():
            spin(200_000)

    before = numba_common._own_running()
    thread = threading.Thread(target=helper)
    thread.start()
    try:
        counts = [numba_common._own_running() for _ in range(50)]
    finally:
        stop.set()
        thread.join()
    assert before >= 1 and max(counts) >= 2


def _both(monkeypatch, fn):
    """fn() sequentially (threshold out of reach) and shared (threshold 1)."""
    monkeypatch.setattr(numba_common, "SHARE_MIN_WORK", 1 << 62)
    monkeypatch.setattr(numba_common, "PARALLEL_MIN_WORK", 1 << 62)
    seq = fn()
    monkeypatch.setattr(numba_common, "SHARE_MIN_WORK", 1)
    monkeypatch.setattr(numba_common, "idle_cores", lambda: 8)  # share on a busy machine
    return seq, fn()


@pytest.mark.parametrize("d,act,bias", [(6, "relu", False), (6, "erf", True),
                                        (30, "relu", False)])
def test_shared_pair_reductions_equal_the_sequential_loop(monkeypatch, d, act, bias):
    numba = get_backend("numba")
    rng = np.random.default_rng(0)
    layout = Layout(2, d, bias)
    w_t = rng.standard_normal((S, 37, layout.p))
    w_s = np.concatenate([w_t, rng.standard_normal((S, 4, layout.p))], axis=1)
    q = rng.standard_normal((S, 41))
    kernel = pair_kernel(act, bias=bias)
    seq, par = _both(monkeypatch, lambda: numba.pair_reduce_batch(kernel, layout, w_t, w_s,
                                                                   q, True))
    assert np.array_equal(seq[0], par[0]) and np.array_equal(seq[1], par[1])
    for s in range(S):
        g, v = numba.pair_reduce(kernel, layout, w_t[s], w_s[s], q[s], True)
        assert np.array_equal(g, par[0][s]) and np.array_equal(v, par[1][s])


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_shared_data_reductions_equal_the_sequential_loop(monkeypatch, shared, act):
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

    seq, par = _both(monkeypatch, lambda: numba.forward_and_grad_batch(
        activation, layout, w, q, 20, X, residual))
    assert np.array_equal(seq[0], par[0]) and np.array_equal(seq[1], par[1])
    out = _both(monkeypatch, lambda: numba.forward_batch(activation, layout, w, q, X))
    assert np.array_equal(out[0], out[1])
    if not shared:  # per-member data: every member equals its single reduction
        for s in range(S):
            fs, gs = numba.forward_and_grad(activation, layout, w[s], q[s], 20, X[s],
                                            lambda F, N, s=s: F - Y[s, N])
            assert np.array_equal(fs, par[0][s]) and np.array_equal(gs, par[1][s])


@pytest.mark.parametrize("kind", ["population", "empirical", "empirical shared"])
def test_ensembles_sharing_members_between_threads_equal_serial_runs(monkeypatch, kind):
    """simulate_many with the members shared between threads (threshold 1) against
    serial simulate: same records; particles and risks equal (bit for bit, but for the
    stacked products of one shared training set, equal to rounding)."""
    import meanfield as mf

    monkeypatch.setattr(numba_common, "SHARE_MIN_WORK", 1)
    monkeypatch.setattr(numba_common, "idle_cores", lambda: 8)
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
            objs = [mf.Empirical(X, t(X), backend="numba") for X, t in zip(data, teachers)]
    integ = mf.integrators.euler(0.05)
    ens = mf.simulate_many(nets, objs, integ, 1.0, record=mf.LogSchedule(6))
    for s, e in enumerate(ens):
        one = mf.simulate(nets[s], objs[s], integ, 1.0, record=mf.LogSchedule(6))
        assert np.array_equal(e.times, one.times) and np.array_equal(e.steps, one.steps)
        if kind == "empirical shared":
            assert np.allclose(e.snapshots, one.snapshots, rtol=1e-12, atol=1e-14)
            assert np.allclose(e.risk, one.risk, rtol=1e-12, atol=0)
        else:
            assert np.array_equal(e.snapshots, one.snapshots)
            assert np.array_equal(e.risk, one.risk)
