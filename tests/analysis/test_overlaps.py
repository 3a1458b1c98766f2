"""Overlaps with an index target's span: a hand-computed cloud, the random-start law
E[q^2] = r/d, and the measure along snapshots and in run diagnostics."""
import numpy as np
import pytest

import meanfield as mf
from meanfield.analysis.overlaps import neuron_overlaps, overlap_measure, overlaps_along
from meanfield.runs.diagnose import index_overlaps


def _rotation(d, seed=0):
    Q, R = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return Q * np.sign(np.diag(R))


def test_overlaps_of_a_known_cloud_in_a_rotated_basis():
    # coordinates in the basis (u1, u2, e3, e4, e5) of a rotated R^5, by hand:
    # n1 = 3 u1 + 4 u2           -> q = (0.6, 0.8), |P_U a|/|a| = 1
    # n2 = 1 u1 + 2 e3 + 2 e4    -> |a| = 3, q = (1/3, 0), span 1/3
    # n3 = -2 u2 + 2 e5          -> |a| = 2 sqrt 2, q = (0, -1/sqrt 2), span 1/sqrt 2
    # n4 = 0                     -> 0 (no direction)
    Q = _rotation(5, seed=3)
    coords = np.array([[3.0, 4, 0, 0, 0], [1, 0, 2, 2, 0], [0, -2, 0, 0, 2], [0, 0, 0, 0, 0]])
    a = coords @ Q.T
    signed, span = neuron_overlaps(a, Q[:, :2])
    expected = np.array([[0.6, 0.8], [1 / 3, 0.0], [0.0, -2 ** -0.5], [0.0, 0.0]])
    np.testing.assert_allclose(signed, expected, atol=1e-14)
    np.testing.assert_allclose(span, [1.0, 1 / 3, 2 ** -0.5, 0.0], atol=1e-14)
    # the measure with |c| = (1, 2, 1, 4): mean (1 + 2/3 + 1/sqrt 2 + 0) / 8
    measure = overlap_measure(np.array([1.0, -2.0, 1.0, 4.0]), a, Q[:, :2])
    assert measure["mean"] == pytest.approx((1 + 2 / 3 + 2 ** -0.5) / 8, abs=1e-14)
    assert measure["fraction"] == 0.5          # n1 (1) and n3 (0.707) are >= 1/2
    assert measure["max"] == pytest.approx(1.0, abs=1e-14)
    # the span overlap ignores rotations inside span(U) and sign flips of the directions
    turn = np.array([[0.6, -0.8], [0.8, 0.6]])
    _, span_turned = neuron_overlaps(a, -Q[:, :2] @ turn)
    np.testing.assert_allclose(span_turned, span, atol=1e-14)
    # all-zero output weights: the plain mean
    assert overlap_measure(np.zeros((4, 1)), a, Q[:, :2])["mean"] == pytest.approx(
        (1 + 1 / 3 + 2 ** -0.5) / 4, abs=1e-14)


@pytest.mark.parametrize("d, r", [(16, 1), (64, 3)])
def test_random_start_has_mean_square_overlap_r_over_d(d, r):
    """For a uniform on the sphere, q^2 = |P_U a|^2 ~ Beta(r/2, (d-r)/2): mean r/d,
    variance 2 r (d - r) / (d^2 (d + 2)); Monte Carlo within 4 standard errors."""
    n = 20_000
    a = mf.Network.init(m=n, d=d, sphere=True, seed=1).a
    U = mf.IndexTarget.random(d, {(1,) * r: 1.0}, r=r, seed=2).U
    _, q = neuron_overlaps(a, U)
    se = np.sqrt(2 * r * (d - r) / (d ** 2 * (d + 2)) / n)
    assert abs(np.mean(q ** 2) - r / d) < 4 * se


def test_overlaps_along_equal_the_functions_on_each_snapshot_and_in_run_diagnostics():
    target = mf.IndexTarget.random(6, {(1, 1): 1.0}, r=2, seed=0)
    net = mf.Network.init(m=5, d=6, bias=True, k=2, seed=1)
    snapshots = np.stack([net.w, 2.0 * net.w - 0.3])
    along = overlaps_along(snapshots, net.layout, target.U, threshold=0.3)
    for k, w in enumerate(snapshots):
        signed, span = neuron_overlaps(w[:, net.layout.a], target.U)
        np.testing.assert_array_equal(along["signed"][k], signed)
        np.testing.assert_array_equal(along["span"][k], span)
        measure = overlap_measure(w[:, net.layout.c], w[:, net.layout.a], target.U, 0.3)
        assert {key: along[key][k] for key in measure} == measure
    recorded = index_overlaps(target.U, snapshots, net.layout, {"kappa": None})["diagnostics"]
    assert recorded["kappa"] is None
    assert recorded["overlap_max"] == overlaps_along(snapshots, net.layout, target.U)[
        "max"].tolist()
    assert index_overlaps(None, snapshots, net.layout) == {}


@pytest.mark.parametrize("call, match", [
    (lambda: neuron_overlaps(np.ones(3), np.eye(3)), "a must have shape"),
    (lambda: neuron_overlaps(np.ones((2, 3)), np.eye(4)[:, :1]), "U must have shape"),
    (lambda: overlap_measure(np.ones(2), np.ones((2, 3)), np.eye(3), 1.5), "threshold"),
    (lambda: overlap_measure(np.ones(3), np.ones((2, 3)), np.eye(3)), "c must have"),
])
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
