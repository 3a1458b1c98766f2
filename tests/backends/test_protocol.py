"""A backend written outside the package, from the contract alone
(meanfield.backends.protocol.Backend: dense, untiled sums), registered by name and used by
GaussianPopulation and Empirical through simulate: it must give the NumPy reference's
velocities and trajectories; the optional capabilities it lacks come from loops over
its single reductions. mypy accepts it, and the reference module, as a Backend."""
from __future__ import annotations

import doctest

import numpy as np
import pytest

import meanfield as mf
from meanfield import backends
from meanfield.backends import protocol


USER_BACKEND = '''
import numpy as np


class Dense:
    """The three reductions as dense sums over all pairs (theory §1-2)."""

    name = "dense"

    def pair_reduce(self, kernel, layout, w_t, w_s, q_s, with_value=False):
        c_t, a_t, b_t = layout.unpack(w_t)
        c_s, a_s, b_s = layout.unpack(w_s)
        K, P, Q, D = kernel((a_t * a_t).sum(1)[:, None], (a_s * a_s).sum(1)[None, :],
                            a_t @ a_s.T, None if b_t is None else b_t[:, None],
                            None if b_s is None else b_s[None, :])
        s_s = np.asarray(q_s)[:, None] * c_s
        e = c_t @ s_s.T
        grad = np.zeros((len(w_t), layout.p))
        grad[:, layout.c] = K @ s_s
        grad[:, layout.a] = (e * P).sum(1)[:, None] * a_t + (e * Q) @ a_s
        if layout.bias:
            grad[:, layout.b.start] = (e * D).sum(1)
        return grad, ((e * K).sum(1) if with_value else None)

    def forward(self, activation, layout, w, q, X):
        c, a, b = layout.unpack(w)
        z = X @ a.T + (0.0 if b is None else b)
        return activation.f(z) @ (np.asarray(q)[:, None] * c)

    def data_grad(self, activation, layout, w, X, R):
        c, a, b = layout.unpack(w)
        z = a @ X.T + (0.0 if b is None else b[:, None])
        grad = np.zeros((len(w), layout.p))
        grad[:, layout.c] = activation.f(z) @ R
        e = activation.df(z) * (c @ R.T)
        grad[:, layout.a] = e @ X
        if layout.bias:
            grad[:, layout.b.start] = e.sum(1)
        return grad
'''

namespace: dict = {}
exec(USER_BACKEND, namespace)
Dense = namespace["Dense"]


@pytest.fixture
def dense():
    """The user backend registered as "dense", for this test only."""
    backends.register("dense", Dense())
    yield "dense"
    backends._MODULES.pop("dense", None)
    backends._LOADED.pop("dense", None)


def test_the_user_backend_is_a_backend_with_no_optional_capability(dense):
    backend = mf.get_backend(dense)
    assert isinstance(backend, protocol.Backend)
    assert dense in backends.available() and dense in backends.names()
    assert protocol.capabilities(backend) == protocol.Capabilities(*[None] * 6)
    numpy_caps = protocol.capabilities(mf.get_backend("numpy"))
    assert numpy_caps.forward_and_grad is not None and numpy_caps.pair_reduce_batch is not None


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_population_velocity_and_trajectory_equal_the_reference(dense, activation, bias):
    teacher = mf.Network.init(3, 4, activation=activation, bias=bias, seed=0)
    net = mf.Network.init(12, 4, activation=activation, bias=bias, seed=1)
    mine = mf.GaussianPopulation(teacher, backend=dense)
    ref = mf.GaussianPopulation(teacher, backend="numpy")
    np.testing.assert_allclose(mine.velocity(net), ref.velocity(net), rtol=1e-10, atol=1e-13)
    assert mine.risk(net) == pytest.approx(ref.risk(net), rel=1e-10)
    integ = mf.integrators.euler(0.05)
    a = mf.simulate(net, mine, integ, 1.0, record=mf.LinearSchedule(3))
    b = mf.simulate(net, ref, integ, 1.0, record=mf.LinearSchedule(3))
    np.testing.assert_allclose(a.final.w, b.final.w, rtol=1e-9, atol=1e-12)
    assert a.risk[-1] < a.risk[0]


def test_empirical_and_ensembles_use_the_loops_over_single_reductions(dense):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((60, 3)), rng.standard_normal((60, 1))
    nets = [mf.Network.init(8, 3, seed=s) for s in (1, 2)]
    integ = mf.integrators.euler(0.1)
    for square in (True, False):  # the square loss's SquareResidual, and the logistic's
        labels = y if square else np.sign(y)
        loss = "square" if square else "logistic"
        mine = mf.Empirical(X, labels, loss=loss, backend=dense)
        ref = mf.Empirical(X, labels, loss=loss, backend="numpy")
        np.testing.assert_allclose(mine.velocity(nets[0]), ref.velocity(nets[0]),
                                   rtol=1e-10, atol=1e-13)
        ens = mf.simulate_many(nets, mine, integ, 0.5, record=mf.LinearSchedule(2))
        for net, traj in zip(nets, ens, strict=True):
            alone = mf.simulate(net, ref, integ, 0.5, record=mf.LinearSchedule(2))
            np.testing.assert_allclose(traj.final.w, alone.final.w, rtol=1e-9, atol=1e-12)


def test_a_backend_missing_a_reduction_is_refused():
    class NoGrad:
        name = "nograd"

        def pair_reduce(self, kernel, layout, w_t, w_s, q_s, with_value=False): ...

        def forward(self, activation, layout, w, q, X): ...

    with pytest.raises(TypeError, match="lacks data_grad"):
        backends.register("nograd", NoGrad())
    assert "nograd" not in backends.available()


def test_square_residual_is_what_the_numba_kernels_read():
    y = np.arange(6.0).reshape(3, 2)
    R = protocol.SquareResidual(lambda f, rows: (f - y[rows]) / 3, y[None], 3)
    assert protocol.square_labels(R)[1] == 3.0 and protocol.square_labels(len) is None
    np.testing.assert_array_equal(R(np.zeros((2, 2)), slice(1, 3)), -y[1:3] / 3)


def test_the_protocol_module_examples_run():
    results = doctest.testmod(protocol, optionflags=doctest.ELLIPSIS)
    assert results.attempted > 0 and results.failed == 0


MYPY_USER = USER_BACKEND + '''

from meanfield.backends import numpy as reference
from meanfield.backends.protocol import Backend, ForwardAndGrad, PairReduceBatch

mine: Backend = Dense()
ref: Backend = reference
fused: ForwardAndGrad = reference
batched: PairReduceBatch = reference


class Broken:
    name = "broken"

    def forward(self, activation, layout, w, q, X):
        return X


wrong: Backend = Broken()
'''


def test_mypy_accepts_the_user_backend_and_the_reference(mypy_errors):
    errors, lines = mypy_errors(MYPY_USER, "user_backend.py")
    # exactly one error: Broken lacks pair_reduce and data_grad
    assert len(errors) == 1, errors
    line = int(errors[0].split(":")[1])
    assert lines[line - 1].startswith("wrong: Backend"), errors
