"""Same command, same numbers: flows through ``mf.simulate`` and ``mf.simulate_many`` give
bit-identical particles and risks whatever the machine's load (a core kept busy by
another process), the number of Numba threads, the number of BLAS threads, the tuning's
thresholds (which decide when a loop runs in parallel and when ensemble members are
shared between threads), and whether a member runs alone or in an ensemble.

Sizes cross every threshold of the Numba backend at its defaults: the population flow
(d = 10, m = 2000) runs the fused pair loop in parallel (4e6 pairs per velocity); the
empirical flow (m = 50, d = 100, n = 1000) takes the BLAS tiles; the ensemble of six
such members shares its member groups between threads; the tiled population flow (d = 30,
m = 1500) cuts its pairs into row tiles shared between threads; the float32 empirical
flow (m = 200, d = 30, n = 2000) cuts each member's samples into blocks shared between
threads, summed in block order, alone and in an ensemble. Lowering every threshold to 1
forces the parallel kernels and the sharing at every size.
"""
from __future__ import annotations

import subprocess
import sys

import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import meanfield as mf
from meanfield.backends import tuning

TWO = min(2, numba.config.NUMBA_NUM_THREADS)  # two Numba threads where the machine has them
LOW = dict(parallel_min_work=1, share_min_work=1)  # every loop parallel, every group shared
STEPS, DT = 2, 0.05


@pytest.fixture(scope="module")
def busy():
    """A function that runs a callable while another process keeps a core busy."""
    def run(fn):
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            return fn()
        finally:
            spinner.kill()
            spinner.wait()
    return run


def under(fn, numba_threads: int, blas_threads: int, low: bool = False):
    """fn() with ``numba_threads`` Numba threads, ``blas_threads`` BLAS threads and,
    with ``low``, every tuning threshold at 1."""
    before = numba.get_num_threads()
    numba.set_num_threads(numba_threads)
    try:
        with threadpool_limits(limits=blas_threads, user_api="blas"):
            if low:
                with tuning.override(**LOW):
                    return fn()
            return fn()
    finally:
        numba.set_num_threads(before)


def record(trajectories):
    """Every recorded array of a list of trajectories, in one list."""
    return [a for t in trajectories for a in (t.snapshots, t.risk, t.times)]


def same(x, y):
    return len(x) == len(y) and all(np.array_equal(a, b) for a, b in zip(x, y, strict=False))


def population(backend: str):
    teacher = mf.Network.init(5, 10, "relu", seed=1)
    net = mf.Network.init(2000, 10, "relu", seed=2)
    obj = mf.GaussianPopulation(teacher, backend=backend)
    return lambda: record([mf.simulate(net, obj, mf.integrators.euler(DT), STEPS * DT,
                                       record=mf.LogSchedule(3))])


def _empirical(backend: str):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((1000, 100))
    teacher = mf.Network.init(4, 100, "relu", seed=4)
    return mf.Empirical(X, teacher(X), backend=backend)


def empirical(backend: str):
    obj = _empirical(backend)
    net = mf.Network.init(50, 100, "relu", seed=5)
    return lambda: record([mf.simulate(net, obj, mf.integrators.euler(DT), STEPS * DT,
                                       record=mf.LogSchedule(3))])


def ensemble(backend: str):
    obj = _empirical(backend)
    nets = [mf.Network.init(50, 100, "relu", seed=10 + s) for s in range(6)]
    return lambda: record(mf.simulate_many(nets, [obj] * 6, mf.integrators.euler(DT),
                                           STEPS * DT, record=mf.LogSchedule(3)))


def alone(backend: str):
    """The ensemble's members, each through its own ``simulate``."""
    obj = _empirical(backend)
    nets = [mf.Network.init(50, 100, "relu", seed=10 + s) for s in range(6)]
    return lambda: record([mf.simulate(net, obj, mf.integrators.euler(DT), STEPS * DT,
                                       record=mf.LogSchedule(3)) for net in nets])


def tiled_population(backend: str):
    teacher = mf.Network.init(5, 30, "relu", seed=1)
    net = mf.Network.init(1500, 30, "relu", seed=2)
    obj = mf.GaussianPopulation(teacher, backend=backend)
    return lambda: record([mf.simulate(net, obj, mf.integrators.euler(DT), STEPS * DT,
                                       record=mf.LogSchedule(3))])


def _blocks_problem(backend: str, members: int):
    """float32, m = 200, d = 30, n = 2000: six sample tiles per member, in six blocks."""
    rng = np.random.default_rng(6)
    X = rng.standard_normal((2000, 30)).astype(np.float32)
    teacher = mf.Network.init(4, 30, "relu", seed=7, dtype=np.float32)
    obj = mf.Empirical(X, teacher(X), backend=backend)
    nets = [mf.Network.init(200, 30, "relu", seed=20 + s, dtype=np.float32)
            for s in range(members)]
    return obj, nets


def sample_blocks(backend: str):
    obj, (net,) = _blocks_problem(backend, 1)
    return lambda: record([mf.simulate(net, obj, mf.integrators.euler(DT), STEPS * DT,
                                       record=mf.LogSchedule(3))])


def blocks_ensemble(backend: str):
    obj, nets = _blocks_problem(backend, 3)
    return lambda: record(mf.simulate_many(nets, [obj] * 3, mf.integrators.euler(DT),
                                           STEPS * DT, record=mf.LogSchedule(3)))


def blocks_alone(backend: str):
    obj, nets = _blocks_problem(backend, 3)
    return lambda: record([mf.simulate(net, obj, mf.integrators.euler(DT), STEPS * DT,
                                       record=mf.LogSchedule(3)) for net in nets])


FLOWS = {"population": population, "empirical": empirical, "ensemble": ensemble,
         "tiled population": tiled_population, "sample blocks": sample_blocks,
         "blocks ensemble": blocks_ensemble}


@pytest.mark.parametrize("flow", list(FLOWS))
@pytest.mark.parametrize("backend", ["numba", "auto"])
def test_bits_do_not_depend_on_threads_load_or_thresholds(flow, backend, busy):
    run = FLOWS[flow](backend)
    reference = under(run, 1, 1)
    assert np.all(np.isfinite(reference[0])) and reference[1][-1] < reference[1][0]
    variants = {"2 Numba, 2 BLAS threads": lambda: under(run, TWO, 2),
                "2 Numba, 1 BLAS thread, busy core": lambda: busy(lambda: under(run, TWO, 1)),
                "1 Numba, 2 BLAS threads, busy core": lambda: busy(lambda: under(run, 1, 2)),
                "thresholds 1, 2 Numba threads": lambda: under(run, TWO, 2, low=True)}
    if backend == "numba":
        variants["thresholds 1, 1 Numba thread, busy core"] = \
            lambda: busy(lambda: under(run, 1, 1, low=True))
    for name, variant in variants.items():
        assert same(variant(), reference), name


@pytest.mark.parametrize("members", ["one tile", "sample blocks"])
@pytest.mark.parametrize("backend", ["numba", "auto"])
def test_ensemble_members_equal_their_runs_alone(backend, members):
    together_, alone_ = ((ensemble, alone) if members == "one tile"
                         else (blocks_ensemble, blocks_alone))
    together = under(together_(backend), TWO, 2)
    assert same(under(alone_(backend), 1, 1), together)
    assert same(under(alone_(backend), TWO, 2, low=True), together)


@pytest.mark.parametrize("flow", ["tiled population", "sample blocks"])
def test_tiles_are_shared_between_numba_threads(flow, monkeypatch):
    """The partitioned flows above hand their tiles to as many threads as Numba has (the
    count in force outside the tiles' one-thread scope), so that one velocity uses every
    core; with one Numba thread, every part runs on the calling thread."""
    if TWO < 2:
        pytest.skip("one Numba thread on this machine")
    from meanfield.backends.numba import common

    calls = []
    real = common.share

    def spy(fn, n, threads):
        calls.append((n, threads))
        return real(fn, n, threads)

    monkeypatch.setattr(common, "share", spy)
    run = FLOWS[flow]("numba")
    under(run, TWO, 1)
    parted = [(n, threads) for n, threads in calls if n > 1]
    assert parted and all(n >= 6 and threads == 2 for n, threads in parted), calls
    calls.clear()
    under(run, 1, 1)
    assert calls and all(threads == 1 for _, threads in calls), calls


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_sample_blocks_match_the_reference(dtype, tol):
    """One empirical reduction whose samples are cut into blocks summed in block order
    (m = 200, d = 30, n = 2000, on two threads) against the NumPy reference: the forward
    pass and the gradient of every particle, a relu network with a bias."""
    from meanfield.core.activations import get_activation
    from meanfield.backends import get_backend

    rng = np.random.default_rng(8)
    net = mf.Network.init(200, 30, "relu", bias=True, seed=9)
    X, y = rng.standard_normal((2000, 30)), rng.standard_normal((2000, 1))

    def residual(f, rows):
        return (f - y[rows]) / len(y)

    def reduce(name, dt):
        return get_backend(name).forward_and_grad(
            get_activation("relu"), net.layout, net.w.astype(dt), np.full(200, 1 / 200, dt),
            150, X.astype(dt), residual)

    want_f, want_g = reduce("numpy", np.float64)
    got_f, got_g = under(lambda: reduce("numba", dtype), TWO, 2)
    assert got_g.dtype == dtype
    for got, want in ((got_f, want_f), (got_g, want_g)):
        assert np.abs(got - want).max() <= tol * np.abs(want).max()


def test_pinned_blas_scope_is_counted_across_threads_and_restores_it():
    """blas.pinned: the first of overlapping scopes (from two threads) sets the count,
    which holds until the last one leaves; then BLAS's own count is back. A scope
    entered from a second thread pins too (threadpoolctl alone would ignore it)."""
    import threading

    from threadpoolctl import threadpool_info

    from meanfield.backends import blas

    def counts():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = counts()
    if not before:
        pytest.skip("no BLAS that threadpoolctl can see")
    inside, leave = threading.Event(), threading.Event()

    def other():
        with blas.pinned(1):
            inside.set()
            leave.wait(30)

    thread = threading.Thread(target=other)
    thread.start()
    inside.wait(30)
    assert set(counts()) == {1}
    with blas.pinned(1):
        assert set(counts()) == {1}
    assert set(counts()) == {1}  # the other thread's scope is still open
    leave.set()
    thread.join()
    assert counts() == before
    with tuning.override(blas_threads=None), blas.pinned():  # None: BLAS left alone
        assert counts() == before


def test_spectral_pair_reduction_does_not_depend_on_the_nufft_threads(monkeypatch):
    """The spectral backend gives finufft one thread per POINTS_PER_THREAD points (at most
    Numba's count): one or two threads give the same bits."""
    pytest.importorskip("finufft")
    from meanfield.backends import spectral
    from meanfield.kernels.gaussian import pair_kernel
    from meanfield.model.network import Layout

    monkeypatch.setattr(spectral, "POINTS_PER_THREAD", 1000)
    rng = np.random.default_rng(0)
    layout = Layout(1, 2)
    w_t, w_s = rng.standard_normal((3000, 3)), rng.standard_normal((2500, 3))
    q = rng.standard_normal(2500) / 2500
    kernel = pair_kernel("relu", d=2)
    one = under(lambda: spectral.pair_reduce(kernel, layout, w_t, w_s, q, True), 1, 1)
    two = under(lambda: spectral.pair_reduce(kernel, layout, w_t, w_s, q, True), TWO, 2)
    assert same(one, two)


@pytest.mark.parametrize("act,bias", [("relu", False), ("erf", True)])
def test_row_tiles_match_the_reference(act, bias):
    """The tiled pair reduction cut into row tiles shared between two threads (m = 1000
    targets against 1000 sources, d = 30: three tiles) against the NumPy reference, with
    the edge cases of theory §2.1-2.3 (coincident, antipodal, zero input weights)."""
    from meanfield.backends import get_backend
    from meanfield.backends.numba.common import spans
    from meanfield.kernels.gaussian import pair_kernel
    from meanfield.model.network import Layout

    rng = np.random.default_rng(10)
    layout = Layout(1, 30, bias)
    w = rng.standard_normal((1000, layout.p))
    w[1, layout.a], w[2, layout.a], w[3, layout.a] = w[0, layout.a], -w[0, layout.a], 0.0
    q = rng.standard_normal(1000) / 1000
    assert len(spans(1000, 1000, tuning.current().tile)) >= 3
    kernel = pair_kernel(act, bias=bias)
    want = get_backend("numpy").pair_reduce(kernel, layout, w, w, q, True)
    got = under(lambda: get_backend("numba").pair_reduce(kernel, layout, w, w, q, True),
                TWO, 2)
    for g, r in zip(got, want, strict=True):
        assert np.abs(g - r).max() <= 1e-10 * np.abs(r).max()
